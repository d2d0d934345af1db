"""The attention family: multi-head self- and cross-attention on batch-first (B, T, E) sequences.

torch's ``nn.MultiheadAttention(E, num_heads)`` is called ``attn(q, k, v)`` and returns
``(output, weights)`` (torch/nn/modules/activation.py, MultiheadAttention.forward); Keras'
``MultiHeadAttention(num_heads, key_dim)`` is called ``attn(query, value)`` and returns the
output (keras/src/layers/attention/multi_head_attention.py). Self-attention passes the one
sequence as query, key and value; a generated torch model keeps the output and asks for no
weights (``need_weights=False``). A model that returns the attention weights instead
(``return_scores``) calls torch with ``need_weights=True, average_attn_weights=average_heads``
and Keras with ``return_attention_scores=True``, keeping the scores (B, h, T, S), averaged over
the heads with ``keras.ops.mean`` where ``average_heads`` asks for torch's default (divergence
``mha_average_attn_weights``). Neither importer reads such a model yet: each refuses it in one line.

Cross-attention reads two nodes (arity 1, one optional input): the queries (B, T, E) and the
context (B, S, E_c) keys and values come from. torch calls ``attn(q, kv, kv, need_weights=False)``
on ``nn.MultiheadAttention(E, h, batch_first=True, kdim=E_c, vdim=E_c)`` (kdim/vdim written only
where E_c != E); Keras calls ``layer(query, value)`` (key defaults to value,
keras/src/layers/attention/multi_head_attention.py, ``call``: "if key is None: key = value").

Key-padding masks (``key_padding: true``): self-attention whose second input edge is the model's
input, the integer ids (B, T) an embedding read, id 0 being padding. Scratch masks the keys whose
id is 0 (scratch.attention.key_padding_mask); torch calls ``attn(x, x, x,
key_padding_mask=(ids == 0), need_weights=False)`` (True = ignored,
torch/nn/functional.py, multi_head_attention_forward); Keras calls ``layer(x, x)`` on the output of
``Embedding(mask_zero=True)``, whose propagated mask MultiHeadAttention reads for the keys AND the
queries (keras/src/layers/attention/multi_head_attention.py, ``_compute_attention_mask``), so a
padded query's output differs between the two (divergence ``key_padding_query_mask``): a model
compares only the tokens' outputs, e.g. through a masked ``global_avg_pool1d``. The torch importer
reads ``key_padding_mask=(ids == 0)`` computed in forward from the integer input
(parity.spec.torch_import: the attention's second edge is the input); another mask is refused in
one line. The Keras importer reads the mask ``Embedding(mask_zero=True)`` propagates into
MultiHeadAttention as the same edge (parity.spec.keras_import, ``read_mask``); a masked tensor read
by a kind that takes no mask is refused in one line.

Rules applied where the torch module is built or called:

``mha_batch_first``
    nn.MultiheadAttention reads (T, B, E) unless ``batch_first=True`` (its default is False,
    torch/nn/modules/activation.py); the data here is (B, T, E). The naive port keeps the default.
``mha_mask_polarity``
    torch's boolean ``attn_mask`` marks with True the pairs that may NOT attend
    (torch/nn/functional.py, multi_head_attention_forward: "True ... not allowed to attend");
    Keras' ``attention_mask`` (and the causal mask ``use_causal_mask`` builds,
    ``_compute_causal_mask``: a lower triangle) marks with True the pairs that DO attend. The
    causal mask in torch is the strict upper triangle; the naive port passes Keras' lower one.
    The importer reads an ``attn_mask`` the module call reads (a buffer such as
    ``self.mask = torch.ones(T, T, dtype=torch.bool).triu(1)``, or its float ``-inf`` form) as
    ``causal=True`` (``_torch_read_constants``); any other mask is refused in one line.

Rules applied where the Keras layer is built or called. Without them a float64 model agrees
only to float32 precision:

``mha_jax_float32_softmax``
    On JAX the fused ``ops.dot_product_attention`` path (keras/src/layers/attention/
    multi_head_attention.py, ``_compute_attention``) computes the softmax in float32 whatever the
    input dtype (keras/src/backend/jax/nn.py, ``_dot_product_attention_core``: "always carried
    out in fp32"). Asking for the scores (``return_attention_scores=True``) and keeping the
    output takes the explicit einsum, Softmax, einsum path, in the model's dtype.
``mha_tf_float32_scale``
    On TensorFlow the scores are multiplied by ``tf.cast(scale, dtype)`` with ``scale`` the
    Python float ``layer._inverse_sqrt_key_dim`` (keras/src/backend/tensorflow/nn.py,
    ``_dot_product_attention_xla``; the explicit path's ``ops.cast`` does the same): the float
    becomes a float32 tensor first, so 1/sqrt(key_dim) is rounded to float32 (exact only when
    key_dim is a power of 4). Storing that attribute as a NumPy float64 (a private attribute:
    no public argument sets the scale) keeps it exact.
"""

from __future__ import annotations

from parity.convert.attention import MultiHeadAttentionConverter
from parity.convert.base import enabled
from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, Source, TorchSide, code


def _scratch(config: Config, name: str):
    from scratch.attention import MultiHeadAttention

    return MultiHeadAttention(
        config["num_heads"],
        config["key_dim"],
        use_bias=config["use_bias"],
        causal=config["causal"],
        return_scores=config["return_scores"],
        average_heads=config["average_heads"],
        key_padding=config["key_padding"],
        name=name,
    )


def _validate_sizes(config: Config, E: int) -> None:
    h, d = config["num_heads"], config["key_dim"]
    if h * d != E:
        raise ValueError(
            f"nn.MultiheadAttention needs num_heads * key_dim == embed_dim (head_dim = embed_dim // num_heads): "
            f"{h} * {d} != {E}"
        )


def _torch(config: Config, shapes, layout):
    from torch import nn

    E = shapes[0][-1]
    _validate_sizes(config, E)
    kwargs: Config = {}
    if len(shapes) == 2 and not config["key_padding"] and shapes[1][-1] != E:
        kwargs = {"kdim": shapes[1][-1], "vdim": shapes[1][-1]}  # keys and values read E_c features
    return nn.MultiheadAttention(
        E, config["num_heads"], bias=config["use_bias"], batch_first=enabled("mha_batch_first"), **kwargs
    )


def _torch_call(module, config: Config, x, context=None):
    import torch

    padding = None
    if config["key_padding"]:
        padding = context == 0  # (B, S) ids -> True = a padded key, ignored (torch's polarity)
        context = x
    context = x if context is None else context  # self-attention: query = key = value
    mask = None
    if config["causal"]:
        T, S = (x.shape[0], context.shape[0]) if not module.batch_first else (x.shape[1], context.shape[1])
        allowed = torch.ones(T, S, dtype=torch.bool, device=x.device).tril()  # (T, S), True = may attend
        mask = ~allowed if enabled("mha_mask_polarity") else allowed  # torch: True = masked out
    if config["return_scores"]:  # the weights: (B, h, T, S) per head, or (B, T, S) averaged (torch's default)
        _, weights = module(
            x, context, context, key_padding_mask=padding, attn_mask=mask, need_weights=True,
            average_attn_weights=config["average_heads"],
        )
        return weights
    output, _ = module(x, context, context, key_padding_mask=padding, attn_mask=mask, need_weights=False)  # (B, T, E) when batch_first
    return output


def _torch_source(config: Config, shapes, layout) -> Source:
    """As build writes it, called as _torch_call calls it: keeping the output only.

    A causal layer is called with a boolean ``attn_mask`` made in ``forward``, True strictly above
    the diagonal (rule mha_mask_polarity), which torch.export folds into a constant the importer
    reads back as causal=True. No ``is_causal=True`` beside it: that flag is only a hint that the
    mask given is the causal one (torch/nn/modules/activation.py, MultiheadAttention.forward: "is_causal
    provides a hint that attn_mask is the causal mask"; a wrong hint is wrong results), and the mask is
    what torch.export keeps for the importer.
    """
    if config["key_padding"]:
        raise ValueError("key_padding=True: a port of a key-padded attention is not written yet")
    if config["return_scores"]:
        raise ValueError("return_scores=True: a port returning the attention weights is not written yet")
    E = shapes[0][-1]
    _validate_sizes(config, E)
    kwargs: Config = {} if config["use_bias"] else {"bias": False}
    comments = ["batch_first=True: torch's default reads (T, B, E)"]
    if len(shapes) == 2 and shapes[1][-1] != E:
        kwargs.update(kdim=shapes[1][-1], vdim=shapes[1][-1])
        comments.append("kdim, vdim: keys and values read the context's features")
    mask = ""
    if config["causal"]:
        T, S = shapes[0][0], shapes[-1][0]
        mask = "attn_mask={y}_mask, "
        comments.append("attn_mask: True strictly above the diagonal, where Keras' causal mask is False")
    if len(shapes) == 2:
        call = "{y} = {m}({x0}, {x1}, {x1}, " + mask + "need_weights=False)[0]  # cross-attention: key = value = {x1}"
    else:
        call = "{y} = {m}({x0}, {x0}, {x0}, " + mask + "need_weights=False)[0]  # self-attention: query = key = value"
    if config["causal"]:
        made = f"{{y}}_mask = torch.ones({T}, {S}, dtype=torch.bool, device={{x0}}.device).triu(1)"
        call = f"{made}  # ({T}, {S}): True = may not attend\n{call}"
    return Source(
        code("nn.MultiheadAttention", E, config["num_heads"], **kwargs, batch_first=True), tuple(comments), call=call
    )


def _keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    if config["key_padding"]:
        raise ValueError("key_padding=True: a port of a key-padded attention is not written yet")
    if config["return_scores"]:
        raise ValueError("return_scores=True: a port returning the attention weights is not written yet")
    kwargs: Config = {} if config["use_bias"] else {"use_bias": False}
    causal = ", use_causal_mask=True" if config["causal"] else ""
    cross = shapes is not None and len(shapes) == 2
    comments = ["value = key: keys and values from the second input" if cross else "query = value (= key)"]
    if config["causal"]:
        comments.append("Keras' causal mask is True where a step may attend")
    return Source(
        code("layers.MultiHeadAttention", config["num_heads"], config["key_dim"], **kwargs, name=name),
        tuple(comments),
        call="{y} = {m}({x0}, " + ("{x1}" if cross else "{x0}") + causal + ")",
    )


def _torch_read(module, shape) -> Config:
    if not module.batch_first:
        raise ValueError("batch_first=False (the model's input must be (B, T, E): build it with batch_first=True)")
    if module.kdim != module.vdim:
        raise ValueError(f"kdim={module.kdim} differs from vdim={module.vdim} (keys and values must read one context)")
    if module.bias_k is not None or module.add_zero_attn:
        raise ValueError("add_bias_kv or add_zero_attn (not supported)")
    if module.dropout:
        raise ValueError(f"dropout={module.dropout} (only 0 is supported)")
    use_bias = module.in_proj_bias is not None
    if use_bias != (module.out_proj.bias is not None):
        raise ValueError("bias on only some projections (not supported)")
    return {"num_heads": module.num_heads, "key_dim": module.head_dim, "use_bias": use_bias, "causal": False}


def _torch_read_constants(config: Config, constants) -> Config:
    """An ``attn_mask`` the module call reads (a buffer, or a constant made in forward): the causal one
    is True (boolean) or -inf (float) strictly above the diagonal (rule mha_mask_polarity); one that
    masks nothing out is no mask."""
    import numpy as np

    masks = [c.value for c in constants if not c.parameter and np.ndim(c.value) == 2]
    if not masks:
        return config
    if len(masks) > 1:
        raise ValueError(f"reads {len(masks)} masks (only one attn_mask is supported)")
    mask = np.asarray(masks[0])
    T = mask.shape[0]
    above = np.triu(np.ones((T, T), dtype=bool), 1)
    blocked = mask if mask.dtype == bool else np.isneginf(mask)
    exact = mask.dtype == bool or np.all(mask[~blocked] == 0)
    if exact and not blocked.any():
        return config  # nothing masked out
    if mask.shape != (T, T) or not exact or not np.array_equal(blocked, above):
        raise ValueError(
            f"an attn_mask of shape {mask.shape} other than the causal one (True strictly above the diagonal); "
            "only the causal mask is supported"
        )
    return {**config, "causal": True}


def _keras(config: Config, name: str):
    import keras
    import numpy as np

    layer = keras.layers.MultiHeadAttention(config["num_heads"], config["key_dim"], use_bias=config["use_bias"], name=name)
    if keras.backend.backend() == "tensorflow" and enabled("mha_tf_float32_scale"):
        layer._inverse_sqrt_key_dim = np.float64(layer._inverse_sqrt_key_dim)  # a float64 tensor, not float32
    return layer


def _keras_call(config: Config, inputs: list) -> tuple[tuple, dict]:
    import keras

    x, context = inputs[0], inputs[-1]  # self-attention: query = value (= key)
    kwargs = {"use_causal_mask": config["causal"]}
    if config["key_padding"]:
        # What the mask Embedding(mask_zero=True) propagates makes of it (_compute_attention_mask):
        # query_mask[:, :, None] & value_mask[:, None, :]. Written out because the harness applies
        # the layers one by one (stateless_call propagates no mask); in a functional model the
        # propagated masks give the same (B, T, S) mask, combined with this one by &.
        tokens = keras.ops.not_equal(context, 0)  # (B, T) ids -> True = a token
        kwargs["attention_mask"] = keras.ops.logical_and(tokens[:, :, None], tokens[:, None, :])  # (B, T, S)
        context = x  # self-attention
    if config["return_scores"]:
        kwargs["return_attention_scores"] = True  # (output, scores (B, h, T, S)): _keras_keep takes the scores
    if keras.backend.backend() == "jax" and enabled("mha_jax_float32_softmax"):
        kwargs["return_attention_scores"] = True  # the explicit path, in the model's dtype
    return (x, context), kwargs


def _keras_keep(value, config: Config):
    """(output, scores) -> the output, or the scores (B, h, T, S) with return_scores; averaged over the
    heads (axis 1) with average_heads, which Keras does not offer: torch's average_attn_weights=True."""
    import keras

    if not config["return_scores"]:
        return value[0] if isinstance(value, (tuple, list)) else value
    scores = value[1]  # (B, h, T, S)
    return keras.ops.mean(scores, axis=1) if config["average_heads"] else scores


def _keras_read(layer) -> Config:
    for attribute, expected in (("_dropout", 0.0), ("_output_shape", None), ("_use_gate", False)):
        if getattr(layer, attribute, expected) not in (expected,):
            raise ValueError(f"{attribute.lstrip('_')}={getattr(layer, attribute)!r} (only {expected!r} is supported)")
    if layer._value_dim != layer._key_dim:
        raise ValueError(f"value_dim={layer._value_dim} differs from key_dim={layer._key_dim} (not supported)")
    if layer._attention_axes not in (None, (1,)):
        raise ValueError(f"attention_axes={layer._attention_axes} (only the sequence axis is supported)")
    return {"num_heads": layer.num_heads, "key_dim": layer.key_dim, "use_bias": layer._use_bias, "causal": False}


def _keras_read_call(kwargs: dict) -> Config:
    for key in ("attention_mask", "query_mask", "value_mask", "key_mask"):
        if kwargs.get(key) is not None:
            raise ValueError(f"{key} (masks other than use_causal_mask need a second model input; not supported)")
    if kwargs.get("key") is not None:
        raise ValueError("a separate key tensor (keys and values must come from one sequence)")
    if kwargs.get("return_attention_scores"):
        raise ValueError("return_attention_scores=True (a model reading the attention scores is not imported)")
    return {"causal": bool(kwargs.get("use_causal_mask", False))}


MULTI_HEAD_ATTENTION = LayerKind(
    name="multi_head_attention",
    family="attention",
    summary="Z = softmax(Q K^T / sqrt(d)) V Wo + bo per head, Q, K, V = X Wq + bq, C Wk + bk, C Wv + bv (C = X: self-attention)",
    scratch=_scratch,
    torch=TorchSide(
        build=_torch,
        call=_torch_call,
        modules=("torch.nn.MultiheadAttention",),
        read_module=_torch_read,
        read_constants=_torch_read_constants,
        layout=CANONICAL,
        source=_torch_source,
    ),
    keras=KerasSide(
        build=_keras,
        classes=("MultiHeadAttention",),
        read=_keras_read,
        call=_keras_call,
        read_call=_keras_read_call,
        keep=_keras_keep,
        source=_keras_source,
    ),
    converter=MultiHeadAttentionConverter(),
    optional_inputs=1,  # cross-attention: the sequence keys and values come from
    defaults={
        "num_heads": 2,
        "key_dim": 4,
        "use_bias": True,
        "causal": False,
        "return_scores": False,
        "average_heads": False,
        "key_padding": False,
    },
)


KINDS = (MULTI_HEAD_ATTENTION,)
