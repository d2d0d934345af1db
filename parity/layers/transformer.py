"""The transformer family: the encoder block, self-attention then a feed-forward network.

torch has the block as one module, ``nn.TransformerEncoderLayer(d_model, nhead,
dim_feedforward=2048, dropout=0.1, activation=relu, layer_norm_eps=1e-5, batch_first=False,
norm_first=False, bias=True)`` (torch/nn/modules/transformer.py). Keras has none; the Keras
side is ``framework.keras3.transformer.TransformerEncoder``, a Layer subclass made of
MultiHeadAttention, Dropout, Add, LayerNormalization and two Dense layers, which the Keras
importer reads by its class name as one block (a functional sub-model would be read as its
parts).

torch's eval-mode fast path (``torch._transformer_encoder_layer_fwd``, taken in inference when
no tensor argument requires a gradient, the heads are even, bias is on...) computes the same
block fused; the harness always asks for gradients, so it runs the Python path
(``_sa_block``, ``_ff_block``). The fast path is checked against it in tests/test_transformer.py.

Config: ``num_heads``; ``dim_feedforward``; ``activation`` "relu" or "gelu" (exact in both);
``norm_first``; ``use_bias`` (torch's ``bias``: every projection and both norms' beta);
``dropout`` and ``layer_norm_eps``, where None means each framework's own default (torch:
0.1 and 1e-5; the Keras block: 0.0 and LayerNormalization's 1e-3). Dropout masks are drawn
inside the block, where no other implementation can read them: a comparison in training
needs ``dropout=0`` (scratch refuses anything else), in inference dropout is the identity.

Rules applied where the torch module is built:

``encoder_batch_first``
    nn.TransformerEncoderLayer reads (T, B, E) unless ``batch_first=True`` (its default is
    False, torch/nn/modules/transformer.py, passed on to its nn.MultiheadAttention); the data
    here is (B, T, E). The naive port keeps the default and attends across the batch.

Rules applied where the Keras block is built: the attention family's ``mha_jax_float32_softmax``
and ``mha_tf_float32_scale`` (parity/layers/attention.py), on the block's MultiHeadAttention,
once the block has built it.
"""

from __future__ import annotations

from parity.convert.base import enabled
from parity.convert.transformer import TransformerEncoderConverter
from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, Source, TorchSide, code

KERAS_IMPORT = "from framework.keras3.transformer import TransformerEncoder"


def _scratch(config: Config, name: str):
    from scratch.transformer_encoder import TransformerEncoder

    eps = 1e-5 if config["layer_norm_eps"] is None else config["layer_norm_eps"]  # scratch follows torch's block
    return TransformerEncoder(
        config["num_heads"],
        config["dim_feedforward"],
        activation=config["activation"],
        layer_norm_eps=eps,
        norm_first=config["norm_first"],
        use_bias=config["use_bias"],
        dropout=0.1 if config["dropout"] is None else config["dropout"],
        name=name,
    )


def _validate(config: Config, shapes) -> None:
    E = shapes[0][-1]
    if E % config["num_heads"]:
        raise ValueError(
            f"the embedding size {E} must be divisible by num_heads={config['num_heads']} (head size E / num_heads)"
        )


def _torch_kwargs(config: Config) -> Config:
    """The keyword arguments that differ from nn.TransformerEncoderLayer's defaults (None keeps torch's)."""
    kwargs: Config = {}
    if config["dropout"] is not None:
        kwargs["dropout"] = config["dropout"]
    if config["activation"] != "relu":
        kwargs["activation"] = config["activation"]
    if config["layer_norm_eps"] is not None:
        kwargs["layer_norm_eps"] = config["layer_norm_eps"]
    return kwargs


def _torch(config: Config, shapes, layout):
    from torch import nn

    E = shapes[0][-1]
    _validate(config, shapes)
    return nn.TransformerEncoderLayer(
        E,
        config["num_heads"],
        config["dim_feedforward"],
        **_torch_kwargs(config),
        batch_first=enabled("encoder_batch_first"),
        norm_first=config["norm_first"],
        bias=config["use_bias"],
    )


def _torch_source(config: Config, shapes, layout) -> Source:
    E = shapes[0][-1]
    _validate(config, shapes)
    kwargs = _torch_kwargs(config)
    if config["norm_first"]:
        kwargs["norm_first"] = True
    if not config["use_bias"]:
        kwargs["bias"] = False
    comments = ["batch_first=True: torch's default reads (T, B, E)"]
    if config["layer_norm_eps"] is None:
        comments.append("layer_norm_eps: torch's default 1e-5 (Keras' LayerNormalization: 1e-3)")
    return Source(
        code(
            "nn.TransformerEncoderLayer", E, config["num_heads"], config["dim_feedforward"], batch_first=True, **kwargs
        ),
        tuple(comments),
    )


def _torch_read(module, shape) -> Config:
    import torch
    from torch.nn import functional as F

    attention = module.self_attn
    if not attention.batch_first:
        raise ValueError("batch_first=False (the model's input must be (B, T, E): build it with batch_first=True)")
    activation = module.activation
    if activation is F.relu or isinstance(activation, torch.nn.ReLU):
        name = "relu"
    elif (activation is F.gelu) or (isinstance(activation, torch.nn.GELU) and activation.approximate == "none"):
        name = "gelu"
    else:
        raise ValueError(f"activation {activation!r} (only relu and the exact gelu are supported)")
    rates = {module.dropout.p, module.dropout1.p, module.dropout2.p, attention.dropout}
    if len(rates) != 1:
        raise ValueError(f"different dropout rates {sorted(rates)} inside the block (only one rate is supported)")
    if module.norm1.eps != module.norm2.eps:
        raise ValueError(f"norm1.eps={module.norm1.eps} differs from norm2.eps={module.norm2.eps} (not supported)")
    return {
        "num_heads": attention.num_heads,
        "dim_feedforward": module.linear1.out_features,
        "dropout": float(rates.pop()),
        "activation": name,
        "layer_norm_eps": float(module.norm1.eps),
        "norm_first": bool(module.norm_first),
        "use_bias": module.linear1.bias is not None,
    }


def _keras_kwargs(config: Config) -> Config:
    """The block's keyword arguments; None keeps the Keras block's own default."""
    kwargs: Config = {}
    if config["dropout"] is not None:
        kwargs["dropout"] = config["dropout"]
    kwargs["activation"] = config["activation"]
    if config["layer_norm_eps"] is not None:
        kwargs["layer_norm_eps"] = config["layer_norm_eps"]
    if config["norm_first"]:
        kwargs["norm_first"] = True
    if not config["use_bias"]:
        kwargs["use_bias"] = False
    return kwargs


def _keras(config: Config, name: str):
    from framework.keras3.transformer import TransformerEncoder

    block = TransformerEncoder(config["num_heads"], config["dim_feedforward"], **_keras_kwargs(config), name=name)
    build = block.build  # Keras' wrapped build: the MultiHeadAttention exists once it has run

    def build_exactly(input_shape):
        build(input_shape)
        _exact_attention(block.attention)

    block.build = build_exactly
    return block


def _exact_attention(attention) -> None:
    """The attention family's float64 rules, on a built MultiHeadAttention (parity/layers/attention.py)."""
    import keras
    import numpy as np

    backend = keras.backend.backend()
    if backend == "tensorflow" and enabled("mha_tf_float32_scale"):
        attention._inverse_sqrt_key_dim = np.float64(attention._inverse_sqrt_key_dim)  # a float64 tensor, not float32
    if backend == "jax" and enabled("mha_jax_float32_softmax"):
        call = attention.call

        def explicit(*args, **kwargs):
            return call(*args, **kwargs, return_attention_scores=True)[0]  # the einsum path, in the model's dtype

        attention.call = explicit


def _keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    comments = ["Keras has no encoder layer: framework/keras3/transformer.py builds it from Keras layers"]
    if config["layer_norm_eps"] is None:
        comments.append("layer_norm_eps: LayerNormalization's default 1e-3 (torch's block: 1e-5)")
    return Source(
        code("TransformerEncoder", config["num_heads"], config["dim_feedforward"], **_keras_kwargs(config), name=name),
        tuple(comments),
        imports=(KERAS_IMPORT,),
    )


def _keras_read(layer) -> Config:
    return {
        "num_heads": layer.num_heads,
        "dim_feedforward": layer.dim_feedforward,
        "dropout": float(layer.dropout),
        "activation": layer.activation,
        "layer_norm_eps": float(layer.layer_norm_eps),
        "norm_first": bool(layer.norm_first),
        "use_bias": bool(layer.use_bias),
    }


TRANSFORMER_ENCODER = LayerKind(
    name="transformer_encoder",
    family="transformer",
    summary="post-norm: Y = LN1(X + MHA(X)), Z = LN2(Y + FF(Y)); norm_first: Y = X + MHA(LN1(X)), Z = Y + FF(LN2(Y))",
    scratch=_scratch,
    torch=TorchSide(
        build=_torch,
        modules=("torch.nn.TransformerEncoderLayer",),
        read_module=_torch_read,
        layout=CANONICAL,
        source=_torch_source,
        reads=CANONICAL,
    ),
    keras=KerasSide(
        build=_keras,
        classes=("TransformerEncoder",),
        read=_keras_read,
        source=_keras_source,
    ),
    converter=TransformerEncoderConverter(),
    defaults={
        "num_heads": 2,
        "dim_feedforward": 16,
        "dropout": 0.0,
        "activation": "relu",
        "layer_norm_eps": 1e-5,
        "norm_first": False,
        "use_bias": True,
    },
    validate=_validate,
)


KINDS = (TRANSFORMER_ENCODER,)
