"""The global pooling family: the mean or the max over every position, per channel.

``global_avg_pool2d`` / ``global_max_pool2d`` pool images: canonical (H, W, C) -> (C,), torch
(C, H, W) -> (C,) through ``x.mean(dim=(2, 3))`` (framework.pytorch.pooling), or with
``keepdims`` (1, 1, C) through ``nn.AdaptiveAvgPool2d(1)`` / ``nn.AdaptiveMaxPool2d(1)``, whose
(C, 1, 1) output a following ``nn.Flatten()`` makes (C,). The importer reads that pair as it
is written: a pooling with ``keepdims=True`` (a (1, 1, C) map, channels-first in torch) and a
flatten. A flattened (1, 1, C) map has the same order channels-first and channels-last, so the
rule ``flatten_order`` of a following Dense (parity.convert.dense) permutes nothing. Also read:
``x.mean(dim=(2, 3))``, ``x.amax(dim=(2, 3))``, ``F.adaptive_avg_pool2d(x, 1)``.

``global_avg_pool1d`` / ``global_max_pool1d`` pool batch-first sequences (T, F) -> (F,) over the
steps: ``x.mean(dim=1)`` / ``x.amax(dim=1)`` (framework.pytorch.pooling); torch's
``nn.AdaptiveAvgPool1d`` would read (B, F, T). After a Conv1d the map is channels-first
(B, C, L) and is pooled where it is, ``x.mean(dim=2)``: the pooled (B, C) is the canonical
array either way (with keepdims, (B, C, 1) is the channels-first (B, 1, C)), so the output's
layout follows the input's and nothing is permuted.

``global_avg_pool1d`` with ``masked: true`` reads a second input edge, the model's integer ids
(B, T), and averages only the steps whose id is not 0: Keras' GlobalAveragePooling1D does so
with the mask Embedding(mask_zero=True) propagates (keras/src/layers/pooling/
global_average_pooling1d.py, ``call(inputs, mask)``: masked steps are zeroed and left out of the
count); torch writes it out in forward, ``(x * keep).sum(1) / keep.sum(1)`` with ``keep = (ids !=
0)`` (framework.pytorch.pooling.MaskedGlobalAvgPool1d; scratch.global_pooling.MaskedGlobalAvgPool).
Both importers read it: that module called with the ids, and GlobalAveragePooling1D reading a
tensor masked by Embedding(mask_zero=True).
"""

from __future__ import annotations

from dataclasses import replace

from parity.layers.base import CHANNELS_FIRST, Config, KerasSide, LayerKind, Source, TorchSide, code


def _dims(dims, rank: int) -> list[int]:
    dims = [dims] if isinstance(dims, int) else list(dims or [])
    return sorted(d % rank for d in dims)


def _reduce_op(spatial: int):
    """read_op for aten.mean.dim / aten.amax.default over every position of a canonical input."""

    def read(args, kwargs, shapes, layout) -> Config | None:
        shape = shapes[0]
        rank = len(shape) + 1
        dims = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = bool(args[2] if len(args) > 2 else kwargs.get("keepdim", False))
        if kwargs.get("dtype") is not None or len(shape) != spatial + 1:
            return None
        if spatial == 2 and layout != CHANNELS_FIRST:
            return None
        # the steps of (B, T, F) are dim 1; of a Conv1d's channels-first (B, C, L), dim 2
        expected = [2, 3] if spatial == 2 else [2] if layout == CHANNELS_FIRST else [1]
        return {"keepdims": keepdim} if _dims(dims, rank) == expected else None

    return read


def _adaptive_op(args, kwargs, shapes, layout) -> Config | None:
    size = args[1] if len(args) > 1 else kwargs.get("output_size")
    size = [size] * 2 if isinstance(size, int) else list(size)
    return {"keepdims": True} if layout == CHANNELS_FIRST and size == [1, 1] else None


def _adaptive_read(module, shape) -> Config:
    size = module.output_size
    size = [size] * 2 if isinstance(size, int) or size is None else list(size)
    if size != [1, 1] or len(shape) != 3:
        raise ValueError(f"output_size={module.output_size} on inputs {tuple(shape)} (only 1 on images: a global pooling)")
    if getattr(module, "return_indices", False):
        raise ValueError("return_indices=True (not supported)")
    return {"keepdims": True}


def _read_module_2d(module, shape) -> Config:
    if hasattr(module, "keepdims"):  # framework.pytorch.pooling's x.mean(dim=(2, 3))
        return {"keepdims": bool(module.keepdims)}
    return _adaptive_read(module, shape)


def _kind(name: str, summary: str, scratch_class: str, keras_class: str, spatial: int, adaptive: str, op: str):
    def build_scratch(config: Config, layer_name: str):
        import scratch.global_pooling as pooling

        if config.get("masked"):
            if config["keepdims"]:
                raise ValueError("masked=True with keepdims=True is not supported")
            return pooling.MaskedGlobalAvgPool(layer_name)
        return getattr(pooling, scratch_class)(config["keepdims"], name=layer_name)

    def build_torch(config: Config, shapes, layout):
        from torch import nn

        if spatial == 1:
            from framework.pytorch import pooling

            if config.get("masked"):
                return pooling.MaskedGlobalAvgPool1d()  # reads (x, ids)
            dim = 2 if layout == CHANNELS_FIRST else 1  # a Conv1d's (B, C, L), or batch-first (B, T, F)
            return getattr(pooling, adaptive.replace("Adaptive", "Global"))(config["keepdims"], dim=dim)
        if layout != CHANNELS_FIRST:
            raise ValueError(f"a 2-D global pooling of inputs {shapes[0]} (images (H, W, C) only)")
        from framework.pytorch import pooling

        if config["keepdims"]:
            return getattr(nn, adaptive)(1)  # (B, C, 1, 1)
        return getattr(pooling, adaptive.replace("Adaptive", "Global"))()  # x.mean(dim=(2, 3)): (B, C)

    def build_keras(config: Config, layer_name: str):
        import keras

        return getattr(keras.layers, keras_class)(keepdims=config["keepdims"], name=layer_name)

    reduce = "mean" if "Avg" in adaptive else "amax"

    def source_torch(config: Config, shapes, layout) -> Source:
        """As build writes it: a reduction in forward (``x.mean(dim=(2, 3))``, ``x.mean(dim=1)``), or
        nn.AdaptiveAvgPool2d(1) for an image pooled with keepdims."""
        if config.get("masked"):
            raise ValueError("masked=True: a port of a masked pooling is not written yet")
        keepdim = ", keepdim=True" if config["keepdims"] else ""
        if spatial == 1:
            if layout == CHANNELS_FIRST:
                return Source(None, call=f"{{y}} = {{x0}}.{reduce}(dim=2{keepdim})")  # over the steps of (B, C, L)
            return Source(None, call=f"{{y}} = {{x0}}.{reduce}(dim=1{keepdim})")  # over the steps of (B, T, F)
        if layout != CHANNELS_FIRST:
            raise ValueError(f"a 2-D global pooling of inputs {shapes[0]} (images (H, W, C) only)")
        if config["keepdims"]:
            return Source(code(f"nn.{adaptive}", 1))  # (B, C, 1, 1)
        return Source(None, call=f"{{y}} = {{x0}}.{reduce}(dim=(2, 3))")  # over the pixels of (B, C, H, W)

    def source_keras(config: Config, layer_name: str, shapes=None, layout=None) -> Source:
        if config.get("masked"):
            raise ValueError("masked=True: a port of a masked pooling is not written yet")
        kwargs = {"keepdims": True} if config["keepdims"] else {}
        return Source(code(f"layers.{keras_class}", **kwargs, name=layer_name))

    def read_keras(layer) -> Config:
        if layer.data_format != "channels_last":
            raise ValueError(f"data_format={layer.data_format!r} (only channels_last is supported)")
        return {"keepdims": bool(layer.keepdims)}

    if spatial == 2:
        torch = TorchSide(
            build=build_torch,
            modules=(f"torch.nn.{adaptive}", f"framework.pytorch.pooling.{adaptive.replace('Adaptive', 'Global')}"),
            read_module=_read_module_2d,
            ops=(op, *(("aten.adaptive_avg_pool2d.default", "aten._adaptive_avg_pool2d.default") if "Avg" in adaptive else ())),
            read_op=_read_2d,
            layout=CHANNELS_FIRST,
            source=source_torch,
        )
    else:
        module = adaptive.replace("Adaptive", "Global")
        torch = TorchSide(
            build=build_torch,
            modules=(f"framework.pytorch.pooling.{module}",),
            read_module=lambda m, shape: {"keepdims": bool(m.keepdims)},
            ops=(op,),
            read_op=_reduce_op(1),
            source=source_torch,
        )
    maskable = spatial == 1 and "Avg" in adaptive  # global_avg_pool1d: masked by the ids
    if maskable:
        torch = replace(
            torch,
            call=_masked_mean_call,
            modules=(*torch.modules, "framework.pytorch.pooling.MaskedGlobalAvgPool1d"),
            read_module=_read_maybe_masked,
        )
    return LayerKind(
        name=name,
        family="pooling",
        summary=summary,
        scratch=build_scratch,
        torch=torch,
        keras=KerasSide(
            build=build_keras,
            classes=(keras_class,),
            read=read_keras,
            source=source_keras,
            call=_keras_masked_call if maskable else None,
        ),
        optional_inputs=1 if maskable else 0,
        defaults={"keepdims": False, "masked": False} if maskable else {"keepdims": False},
    )


def _keras_masked_call(config: Config, inputs: list) -> tuple[tuple, dict]:
    """``layer(x)``, or with ``masked`` ``layer(x, mask=ids != 0)``: the mask Embedding(mask_zero=True)
    propagates, written out (the harness applies the layers one by one, which propagates no mask)."""
    import keras

    if not config["masked"]:
        return (inputs[0],), {}
    return (inputs[0],), {"mask": keras.ops.not_equal(inputs[1], 0)}  # (B, T): True = a token


def _read_maybe_masked(module, shape) -> Config:
    if type(module).__name__ == "MaskedGlobalAvgPool1d":
        return {"keepdims": False, "masked": True}  # reads (x, ids): the mean over the tokens
    return {"keepdims": bool(module.keepdims)}


def _masked_mean_call(module, config: Config, x, ids=None):
    """The module (``x.mean(dim=1)``), or with ``masked`` MaskedGlobalAvgPool1d(x, ids): ids (B, T), 0 = padding."""
    return module(x, ids) if config["masked"] else module(x)


def _read_2d(args, kwargs, shapes, layout) -> Config | None:
    """``x.mean(dim=(2, 3))`` / ``x.amax(dim=(2, 3))``, or ``F.adaptive_avg_pool2d(x, 1)``: the second
    argument is a list of dims or an output size; [1, 1] can only be a size (dims repeat no axis)."""
    second = args[1] if len(args) > 1 else kwargs.get("dim", kwargs.get("output_size"))
    if second in (1, [1, 1], (1, 1)):
        return _adaptive_op(args, kwargs, shapes, layout)
    return _reduce_op(2)(args, kwargs, shapes, layout)


GLOBAL_AVG_POOL2D = _kind(
    "global_avg_pool2d", "Z[c] = mean of X[h, w, c] over every pixel", "GlobalAvgPool", "GlobalAveragePooling2D", 2,
    "AdaptiveAvgPool2d", "aten.mean.dim",
)
GLOBAL_MAX_POOL2D = _kind(
    "global_max_pool2d", "Z[c] = max of X[h, w, c] over every pixel", "GlobalMaxPool", "GlobalMaxPooling2D", 2,
    "AdaptiveMaxPool2d", "aten.amax.default",
)
GLOBAL_AVG_POOL1D = _kind(
    "global_avg_pool1d", "Z[f] = mean of X[t, f] over the steps", "GlobalAvgPool", "GlobalAveragePooling1D", 1,
    "AdaptiveAvgPool1d", "aten.mean.dim",
)
GLOBAL_MAX_POOL1D = _kind(
    "global_max_pool1d", "Z[f] = max of X[t, f] over the steps", "GlobalMaxPool", "GlobalMaxPooling1D", 1,
    "AdaptiveMaxPool1d", "aten.amax.default",
)

KINDS = (GLOBAL_AVG_POOL2D, GLOBAL_MAX_POOL2D, GLOBAL_AVG_POOL1D, GLOBAL_MAX_POOL1D)
