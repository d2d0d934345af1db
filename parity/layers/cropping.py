"""Cropping of images (the conv family): Keras' Cropping2D, which NASNet uses to shift a path by a pixel.

Keras' ``Cropping2D(((top, bottom), (left, right)))`` returns ``inputs[:, top:H - bottom,
left:W - right, :]`` (keras/src/layers/reshaping/cropping2d.py, ``call``). torch has no cropping
module; people slice in ``forward``, ``x[:, :, top:H - bottom, left:W - right]``, or pad with
negative sizes, ``F.pad(x, (-left, -right, -top, -bottom))`` (torch/nn/functional.py ``pad``: "negative
padding removes entries"). The importer reads both: ``F.pad`` with every size <= 0 is one
``cropping2d`` node (the last axis first, as F.pad reads its sizes: (left, right, top, bottom)); a
slice of H or of W of an NCHW map (aten.slice.Tensor on dim 2 or 3) is one node each, so
``x[:, :, 1:-1, 2:-3]`` imports as two crops, rows then columns: the same function in two nodes.
A model generated from a spec uses ``framework.pytorch.conv.Cropping2d``, one module per node.
"""

from __future__ import annotations

from parity.layers.base import CHANNELS_FIRST, Config, KerasSide, LayerKind, Source, TorchSide, code
from parity.layers.conv import _channels_last


def _scratch(config: Config, name: str):
    from scratch.cropping import Cropping2D

    return Cropping2D(tuple(tuple(c) for c in config["cropping"]), name=name)


def _torch(config: Config, shapes, layout):
    from framework.pytorch.conv import Cropping2d

    return Cropping2d(tuple(tuple(c) for c in config["cropping"]))


def _torch_source(config: Config, shapes, layout) -> Source:
    (top, bottom), (left, right) = config["cropping"]
    why = "x[:, :, top:H - bottom, left:W - right]; ((top, bottom), (left, right)) as Keras writes it"
    return Source(
        code("Cropping2d", ((top, bottom), (left, right))), (why,), ("from framework.pytorch.conv import Cropping2d",)
    )


def _keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    (top, bottom), (left, right) = config["cropping"]
    return Source(code("layers.Cropping2D", ((top, bottom), (left, right)), name=name))


def _slice_op(args, kwargs, shapes, layout) -> Config | None:
    """x[:, :, a:b] or x[..., a:b] of an NCHW map: rows (dim 2) or columns (dim 3), step 1."""
    if layout != CHANNELS_FIRST or len(shapes[0]) != 3:
        return None
    H, W, _ = shapes[0]
    args = [*args, None, None, None, None][:5]
    dim, start, end, step = args[1] if args[1] is not None else 0, args[2], args[3], args[4]
    dim = dim % 4
    if dim not in (2, 3) or step not in (None, 1):
        return None
    n = H if dim == 2 else W
    start = 0 if start is None else int(start)
    end = n if end is None else min(int(end), n)
    start = max(start + n, 0) if start < 0 else min(start, n)
    end = max(end + n, 0) if end < 0 else end
    if not start < end:
        raise ValueError(f"a slice {start}:{end} of a side of {n} keeps nothing")
    crop = [start, n - end]
    return {"cropping": [crop, [0, 0]] if dim == 2 else [[0, 0], crop]}


def _pad_op(args, kwargs, shapes, layout) -> Config | None:
    """F.pad(x, (-left, -right, -top, -bottom)) on an NCHW map: every size <= 0, some < 0, constant mode."""
    pads = list(args[1]) if len(args) > 1 else list(kwargs.get("pad", ()))
    mode = args[2] if len(args) > 2 else kwargs.get("mode", "constant")
    if len(pads) != 4 or mode != "constant" or layout != CHANNELS_FIRST:
        return None
    left, right, top, bottom = (int(p) for p in pads)
    if max(left, right, top, bottom) > 0 or min(left, right, top, bottom) == 0:
        return None  # padding (zero_padding2d), or a crop of no side at all
    return {"cropping": [[-top, -bottom], [-left, -right]]}


def _read_op(args, kwargs, shapes, layout) -> Config | None:
    if kwargs.get("_op") == "aten.slice.Tensor":
        return _slice_op(args, kwargs, shapes, layout)
    return _pad_op(args, kwargs, shapes, layout)


def _keras(config: Config, name: str):
    import keras

    return keras.layers.Cropping2D(tuple(tuple(c) for c in config["cropping"]), name=name)


def _keras_read(layer) -> Config:
    _channels_last(layer)
    (top, bottom), (left, right) = layer.cropping
    return {"cropping": [[int(top), int(bottom)], [int(left), int(right)]]}


def _validate(config: Config, shapes) -> None:
    cropping = config["cropping"]
    sides = [c for pair in cropping for c in pair] if len(cropping) == 2 else []
    if len(sides) != 4 or any(isinstance(c, bool) or not isinstance(c, int) or c < 0 for c in sides):
        raise ValueError(f"cropping must be [[top, bottom], [left, right]] of integers >= 0, received {cropping!r}")
    if len(shapes[0]) != 3:
        raise ValueError(f"Cropping2D crops (H, W, C) images, received inputs of shape {tuple(shapes[0])}")
    (top, bottom), (left, right) = cropping
    H, W, _ = shapes[0]
    if top + bottom >= H or left + right >= W:
        raise ValueError(f"cropping {cropping} leaves nothing of a {H}x{W} input")


CROPPING2D = LayerKind(
    name="cropping2d",
    family="conv",
    summary="Z = X[:, top:H - bottom, left:W - right, :] (Cropping2D; x[:, :, a:-b, c:-d] or F.pad with negative sizes)",
    scratch=_scratch,
    torch=TorchSide(
        build=_torch,
        modules=("framework.pytorch.conv.Cropping2d",),
        read_module=lambda module, shape: {"cropping": [list(module.cropping[0]), list(module.cropping[1])]},
        ops=("aten.slice.Tensor", "aten.constant_pad_nd.default", "aten.pad.default"),
        read_op=_read_op,
        source=_torch_source,
    ),
    keras=KerasSide(build=_keras, classes=("Cropping2D",), read=_keras_read, source=_keras_source),
    defaults={"cropping": [[0, 0], [0, 0]]},
    validate=_validate,
)

KINDS = (CROPPING2D,)
