"""The embedding family: integer ids -> rows of a trained table.

``embedding`` reads integer ids (B, T) and gives (B, T, output_dim): ``nn.Embedding(input_dim,
output_dim)`` in torch, ``keras.layers.Embedding(input_dim, output_dim)`` in Keras; the table
has the same layout in both (parity.convert.embedding). Its input is integer: a model that
starts with it has ``input_dtype == "int"`` (``TorchSide.integer_input``), so the runners hand
it ids and report no input gradient.

``padding_idx`` is torch's option (None by default): that row gets no gradient, so it never
trains. Keras has no such option (its ``mask_zero=True`` masks the downstream layers instead,
and the row of id 0 still trains). Rule ``embedding_padding_idx``: the port that agrees with
Keras builds ``nn.Embedding`` without ``padding_idx``; switched off, torch keeps it and the
row stops training in torch only (divergence ``embedding_padding_idx``).

``mask_zero`` (Keras' argument, False by default): id 0 is padding, for the layers downstream.
Keras' Embedding propagates the mask ``ids != 0`` (keras/src/layers/core/embedding.py,
``compute_mask``) to the layers that read its output; torch's nn.Embedding has no mask: a torch
model passes the ids where they matter (``key_padding_mask=(ids == 0)``), and a spec gives those
layers the model's input as a second edge (multi_head_attention's ``key_padding``, a masked
global_avg_pool1d). The table is unchanged either way.
"""

from __future__ import annotations

from parity.convert.base import enabled
from parity.convert.embedding import EmbeddingConverter
from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, Source, TorchSide, code


def _scratch(config: Config, name: str):
    from scratch.embedding import Embedding

    return Embedding(config["input_dim"], config["output_dim"], name=name)


def _torch_padding_idx(config: Config):
    """torch's padding_idx: the config's where the rule is off (the naive port), else none."""
    return None if enabled("embedding_padding_idx") else config["padding_idx"]


def _torch(config: Config, shapes, layout):
    from torch import nn

    return nn.Embedding(config["input_dim"], config["output_dim"], padding_idx=_torch_padding_idx(config))


def _torch_read(module, shape) -> Config:
    for attribute, default in (("max_norm", None), ("scale_grad_by_freq", False), ("sparse", False)):
        if getattr(module, attribute) != default:
            raise ValueError(f"nn.Embedding {attribute}={getattr(module, attribute)!r} (only {default!r} is supported)")
    return {"input_dim": module.num_embeddings, "output_dim": module.embedding_dim, "padding_idx": module.padding_idx}


def _torch_source(config: Config, shapes, layout) -> Source:
    if config["mask_zero"]:
        raise ValueError("mask_zero=True: a port of a masked embedding is not written yet")
    comments = ["weight = embeddings: both store (input_dim, output_dim)"]
    padding_idx = _torch_padding_idx(config)
    if config["padding_idx"] is not None and padding_idx is None:
        comments.append(f"no padding_idx={config['padding_idx']}: Keras trains that row too")
    kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}
    return Source(code("nn.Embedding", config["input_dim"], config["output_dim"], **kwargs), tuple(comments))


def _keras(config: Config, name: str):
    import keras

    return keras.layers.Embedding(config["input_dim"], config["output_dim"], mask_zero=config["mask_zero"], name=name)


def _keras_read(layer) -> Config:
    for attribute in ("embeddings_regularizer", "activity_regularizer", "embeddings_constraint"):
        if getattr(layer, attribute, None) is not None:
            raise ValueError(f"{attribute} is not supported")
    return {"input_dim": layer.input_dim, "output_dim": layer.output_dim, "padding_idx": None, "mask_zero": bool(layer.mask_zero)}


def _keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    if config["mask_zero"]:
        raise ValueError("mask_zero=True: a port of a masked embedding is not written yet")
    return Source(
        code("layers.Embedding", config["input_dim"], config["output_dim"], name=name),
        ("embeddings = weight: both store (input_dim, output_dim)",),
    )


EMBEDDING = LayerKind(
    name="embedding",
    family="embedding",
    summary="Z = W[X]: a row of W per integer id (nn.Embedding, keras.layers.Embedding)",
    scratch=_scratch,
    torch=TorchSide(
        build=_torch,
        modules=("torch.nn.Embedding",),
        read_module=_torch_read,
        layout=CANONICAL,
        source=_torch_source,
        integer_input=True,
    ),
    keras=KerasSide(build=_keras, classes=("Embedding",), read=_keras_read, source=_keras_source),
    converter=EmbeddingConverter(),
    defaults={"input_dim": 10, "output_dim": 4, "padding_idx": None, "mask_zero": False},
)

KINDS = (EMBEDDING,)
