"""Raw tensor operations: what a model written by hand does in ``forward`` besides calling modules.

Large model libraries write attention out of tensor operations, not ``nn.MultiheadAttention``:
``x + self.pos`` (``add_table``), ``x * d**-0.5`` or ``x / math.sqrt(d)`` (``scale``), ``q @ k.T``
(``matmul``), ``x.view(B, T, H, D)`` (``reshape``), ``x.transpose(1, 2)`` (``permute``),
``x.chunk(3, dim=-1)`` / ``x[..., i:j]`` (``slice``) and ``s.masked_fill(~mask, -inf)``
(``masked_fill``). Each is a kind: the importer reads the ATen operator ``torch.export`` captures
(``torch.ops`` / ``torch.read_op``), the generated torch model applies a small module of
``framework.pytorch.tensor_ops``, the torch port writes the operator itself in ``forward``, and
the Keras port uses ``layers.Reshape`` / ``layers.Permute`` or a small serialisable layer of
``framework.keras3.tensor_ops``.

All of them read the canonical layout (``torch.reads = CANONICAL``): axes are counted on the
tensor as torch holds it, which for sequences (B, T, F) is the canonical one. Operators reading a
buffer or parameter (a mask, a position table) declare ``torch.constants``: the importer then hands
their ``read_op`` each such argument as a ``Constant`` (its name, its value, whether it trains).
"""

from __future__ import annotations

import math

import numpy as np

from parity.convert.base import enabled
from parity.convert.tensor_ops import AddTableConverter
from parity.layers.base import (
    CANONICAL,
    CHANNELS_FIRST,
    Config,
    Constant,
    KerasSide,
    LayerKind,
    Source,
    TorchSide,
    code,
)

_KERAS_OPS = "framework.keras3.tensor_ops"


def _scalar(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _dim(dim: int, shape) -> int:
    """A torch dim (batch included) as an axis of the batch-free shape; the batch itself is refused."""
    rank = len(shape) + 1
    dim = int(dim) % rank
    if dim == 0:
        raise ValueError("an operation over the batch axis (the batch must stay the first axis, untouched)")
    return dim - 1


def _canonical_only(layout: str, what: str) -> None:
    if layout != CANONICAL:
        raise ValueError(f"{what} on a {layout} tensor (only tensors in torch's own (B, T, F) order)")


def _keras_custom(cls: str, *args, name: str, comments=(), call=None, **kwargs) -> Source:
    return Source(code(cls, *args, **kwargs, name=name), tuple(comments), (f"from {_KERAS_OPS} import {cls}",), call)


def _torch_module(cls: str):
    def build(*args):
        from framework.pytorch import tensor_ops

        return getattr(tensor_ops, cls)(*args)

    return build


def _twins(cls: str, *keys: str):
    """The builders (config, name) -> layer of scratch.tensor_ops.<cls> and framework.keras3.tensor_ops.<cls>:
    the same class name and arguments, ``config[key]`` for each of ``keys``."""

    def scratch(config: Config, name: str):
        from scratch import tensor_ops

        return getattr(tensor_ops, cls)(*(config[key] for key in keys), name=name)

    def keras(config: Config, name: str):
        from framework.keras3 import tensor_ops

        return getattr(tensor_ops, cls)(*(config[key] for key in keys), name=name)

    return scratch, keras


# scale ---------------------------------------------------------------------------------------


def _scale_op(args, kwargs, shapes, layout) -> Config | None:
    x, other = args[0], args[1] if len(args) > 1 else kwargs.get("other")
    if not _scalar(other) or _scalar(x):
        return None  # x * y of two tensors is no scale
    if float(other) == 0 and "div" in str(kwargs.get("_op", "")):
        raise ValueError("a division by 0")
    return {"factor": float(other)}


def _mul_op(args, kwargs, shapes, layout) -> Config | None:
    config = _scale_op(args, kwargs, shapes, layout)
    return None if config is None else {**config, "divide": False}


def _div_op(args, kwargs, shapes, layout) -> Config | None:
    if kwargs.get("rounding_mode") is not None:
        return None
    config = _scale_op(args, kwargs, shapes, layout)
    if config is not None and config["factor"] == 0:
        raise ValueError("a division by 0")
    return None if config is None else {**config, "divide": True}


def _scale_torch_source(config: Config, shapes, layout) -> Source:
    operator = "/" if config["divide"] else "*"
    return Source(None, call=f"{{y}} = {{x0}} {operator} {config['factor']!r}")


def _scale_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    why = "a tiny layer: x / c rounds unlike layers.Rescaling's x * (1 / c)" if config["divide"] else ()
    return _keras_custom("Scale", config["factor"], divide=config["divide"], name=name, comments=(why,) if why else ())


def _scale_keras_op(args, op: str) -> Config | None:
    """``x * c`` (``Multiply``) or ``x / c`` (``TrueDivide``) on a symbolic tensor in a functional
    Keras model, c a number (MobileNetV3's ``* (1.0 / 6.0)``); ``c / x`` is no scaling of x."""
    numbers = [a for a in args if a is not None]
    if len(args) != 2 or len(numbers) != 1 or not _scalar(numbers[0]):
        return None
    if op == "TrueDivide":
        return {"factor": float(numbers[0]), "divide": True} if args[0] is None else None
    return {"factor": float(numbers[0]), "divide": False}


def _scale_validate(config: Config, shapes) -> None:
    factor = config["factor"]
    if not _scalar(factor) or not math.isfinite(factor):
        raise ValueError(f"factor must be a finite number, received {factor!r}")
    if config["divide"] and factor == 0:
        raise ValueError("divide=True with factor 0")


_scale_scratch, _scale_keras = _twins("Scale", "factor", "divide")


SCALE = LayerKind(
    name="scale",
    family="tensor_ops",
    summary="Z = X * c or X / c, c a constant (x * d**-0.5, x / math.sqrt(d))",
    scratch=_scale_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("Scale")(config["factor"], config["divide"]),
        modules=("framework.pytorch.tensor_ops.Scale",),
        read_module=lambda m, s: {"factor": m.factor, "divide": m.divide},
        ops=("aten.mul.Tensor", "aten.mul.Scalar", "aten.div.Tensor", "aten.div.Scalar"),
        read_op=lambda args, kwargs, shapes, layout: (
            _div_op(args, kwargs, shapes, layout)
            if kwargs.pop("_op", "").startswith("aten.div")
            else _mul_op(args, kwargs, shapes, layout)
        ),
        source=_scale_torch_source,
    ),
    keras=KerasSide(
        build=_scale_keras,
        classes=("Scale",),
        read=lambda layer: {"factor": layer.factor, "divide": layer.divide},
        source=_scale_keras_source,
        ops=("Multiply", "TrueDivide"),
        read_op=_scale_keras_op,
    ),
    defaults={"factor": 1.0, "divide": False},
    validate=_scale_validate,
)


# matmul --------------------------------------------------------------------------------------


def _matmul_op(args, kwargs, shapes, layout) -> Config | None:
    _canonical_only(layout, "a matmul")
    a, b = shapes
    if len(a) < 2 or len(a) != len(b) or a[:-2] != b[:-2]:
        raise ValueError(f"a matmul of {tuple(a)} by {tuple(b)} (only equal leading axes, no broadcasting)")
    return {}


_matmul_scratch, _matmul_keras = _twins("MatMul")


MATMUL = LayerKind(
    name="matmul",
    family="tensor_ops",
    summary="Z = A @ B over the last two axes, batched over the others (q @ k.transpose(-2, -1))",
    scratch=_matmul_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("MatMul")(),
        modules=("framework.pytorch.tensor_ops.MatMul",),
        read_module=lambda m, s: {},
        ops=("aten.matmul.default", "aten.bmm.default"),
        read_op=_matmul_op,
        source=lambda config, shapes, layout: Source(None, call="{y} = {x0} @ {x1}"),
        reads=CANONICAL,
        layout=CANONICAL,
    ),
    keras=KerasSide(
        build=_matmul_keras,
        classes=("MatMul",),
        read=lambda layer: {},
        source=lambda config, name, shapes=None, layout=None: _keras_custom(
            "MatMul", name=name, call="{y} = {m}({x0}, {x1})"
        ),
        call=lambda config, inputs: ((inputs[0], inputs[1]), {}),
    ),
    arity=2,
)


# reshape ------------------------------------------------------------------------------------


def _reshape_op(args, kwargs, shapes, layout) -> Config | None:
    target = list(args[1] if len(args) > 1 else kwargs["size" if "size" in kwargs else "shape"])
    _canonical_only(layout, "a view/reshape")
    size = int(np.prod(shapes[0]))
    rest = [int(d) for d in target[1:]]
    if rest.count(-1) > 1 or len(target) < 2:
        return None
    if -1 in rest:
        known = int(np.prod([d for d in rest if d != -1]))
        if known == 0 or size % known:
            return None
        rest[rest.index(-1)] = size // known
    if int(np.prod(rest)) != size:
        return None  # the batch axis is merged or split: not a per-sample reshape
    return {"target_shape": _canonical_target(shapes[0], rest)}


def _canonical_target(shape, target) -> list[int]:
    """The canonical target of a torch reshape: ``s.view(B, C, 1, 1)`` of a (C,) vector is the channels-first
    (1, 1, C) gate; any other target is canonical as written."""
    target = [int(d) for d in target]
    if len(target) == 3 and _gate(shape, [target[1], target[2], target[0]]):
        return [1, 1, target[0]]
    return target


def _gate(shape, target) -> bool:
    """A (C,) vector to the canonical (1, 1, C) map, squeeze-and-excitation's gate (C > 1: for C == 1
    every order is the same)."""
    return len(shape) == 1 and shape[0] > 1 and list(target) == [1, 1, shape[0]]


def _reshape_layout(config: Config, layout: str, shape) -> str:
    """torch.layout of a reshape: canonical, except a (C,) vector made the (1, 1, C) gate of a
    squeeze-and-excitation block (Keras ``Reshape((1, 1, C))``): torch writes ``s.view(B, C, 1, 1)``,
    the same numbers in the same order, and that (C, 1, 1) map is channels-first, as the nn.Conv2d
    that reads it and the (B, C, H, W) map it multiplies are. No permute either side."""
    return CHANNELS_FIRST if _gate(shape, config["target_shape"]) else CANONICAL


def _reshape_torch(config: Config, shapes, layout):
    """Rule ``se_gate_channels_first``: Keras' ``Reshape((1, 1, C))`` of the (C,) gate is, in torch,
    ``s.view(B, C, 1, 1)`` (keras/src/applications/efficientnet.py ``se_reshape``; torch broadcasts
    from the last axis, torch/functional.py ``broadcast_shapes``). Copied literally, ``s.view(B, 1, 1, C)``
    against a (B, C, H, W) map scales along W: silently, whenever W equals C (divergence case
    ``se_gate_layout``), a broadcast error otherwise."""
    target = config["target_shape"]
    if _gate(shapes[0], target) and enabled("se_gate_channels_first"):
        target = [target[-1], 1, 1]  # (B, C) -> (B, C, 1, 1): channels-first
    return _torch_module("Reshape")(target)


def _reshape_validate(config: Config, shapes) -> None:
    if int(np.prod(config["target_shape"])) != int(np.prod(shapes[0])):
        raise ValueError(f"cannot reshape {tuple(shapes[0])} into {tuple(config['target_shape'])}")


def _reshape_scratch(config: Config, name: str):
    from scratch.tensor_ops import Reshape

    return Reshape(config["target_shape"], name=name)


def _reshape_keras(config: Config, name: str):
    import keras

    return keras.layers.Reshape(tuple(config["target_shape"]), name=name)


def _reshape_torch_source(config: Config, shapes, layout) -> Source:
    if _gate(shapes[0], config["target_shape"]):
        why = "(B, C, 1, 1): Keras' (1, 1, C) gate, channels-first"
        return Source(None, (why,), call=f"{{y}} = {{x0}}.view({{x0}}.size(0), {shapes[0][0]}, 1, 1)")
    sizes = ", ".join(str(d) for d in config["target_shape"])
    return Source(None, call=f"{{y}} = {{x0}}.reshape({{x0}}.size(0), {sizes})")


RESHAPE = LayerKind(
    name="reshape",
    family="tensor_ops",
    summary="Z = X.reshape(B, *target_shape): the batch axis kept (x.view(B, T, H, D))",
    scratch=_reshape_scratch,
    torch=TorchSide(
        build=_reshape_torch,
        modules=("framework.pytorch.tensor_ops.Reshape",),
        read_module=lambda m, s: {"target_shape": _canonical_target(s, m.shape)},
        ops=("aten.view.default", "aten.reshape.default", "aten._unsafe_view.default"),
        read_op=_reshape_op,
        source=_reshape_torch_source,
        reads=CANONICAL,
        layout=_reshape_layout,
    ),
    keras=KerasSide(
        build=_reshape_keras,
        classes=("Reshape",),
        read=lambda layer: {"target_shape": [int(d) for d in layer.target_shape]},
        source=lambda config, name, shapes=None, layout=None: Source(
            code("layers.Reshape", tuple(config["target_shape"]), name=name)
        ),
    ),
    defaults={"target_shape": [1]},
    validate=_reshape_validate,
)


# permute ------------------------------------------------------------------------------------


def _permute_op(args, kwargs, shapes, layout) -> Config | None:
    _canonical_only(layout, "a permute/transpose")
    rank = len(shapes[0]) + 1
    if len(args) == 3:  # aten.transpose.int(x, a, b)
        dims = list(range(rank))
        a, b = (int(d) % rank for d in args[1:3])
        dims[a], dims[b] = dims[b], dims[a]
    else:
        dims = [int(d) % rank for d in args[1]]
    if dims[0] != 0:
        raise ValueError(f"a permute with dims {dims} moves the batch axis (it must stay first)")
    return {"dims": dims[1:]}


def _permute_scratch(config: Config, name: str):
    from scratch.tensor_ops import Permute

    return Permute(config["dims"], name=name)


def _permute_keras(config: Config, name: str):
    import keras

    return keras.layers.Permute(tuple(config["dims"]), name=name)


def _permute_validate(config: Config, shapes) -> None:
    dims = list(config["dims"])
    if sorted(dims) != list(range(1, len(shapes[0]) + 1)):
        raise ValueError(f"dims {dims} is not a permutation of 1..{len(shapes[0])} for inputs {tuple(shapes[0])}")


def _permute_torch_source(config: Config, shapes, layout) -> Source:
    dims = list(config["dims"])
    moved = [i + 1 for i, d in enumerate(dims) if d != i + 1]
    if len(moved) == 2:
        return Source(None, call=f"{{y}} = {{x0}}.transpose({moved[0]}, {moved[1]})")
    return Source(None, call=f"{{y}} = {{x0}}.permute(0, {', '.join(str(d) for d in dims)})")


PERMUTE = LayerKind(
    name="permute",
    family="tensor_ops",
    summary="Z = X.permute(0, *dims): axes of a sample reordered (x.transpose(1, 2) on (B, T, H, D))",
    scratch=_permute_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("Permute")(config["dims"]),
        modules=("framework.pytorch.tensor_ops.Permute",),
        read_module=lambda m, s: {"dims": list(m.dims)},
        ops=("aten.permute.default", "aten.transpose.int"),
        read_op=_permute_op,
        source=_permute_torch_source,
        reads=CANONICAL,
        layout=CANONICAL,
    ),
    keras=KerasSide(
        build=_permute_keras,
        classes=("Permute",),
        read=lambda layer: {"dims": [int(d) for d in layer.dims]},
        source=lambda config, name, shapes=None, layout=None: Source(
            code("layers.Permute", tuple(config["dims"]), name=name)
        ),
    ),
    defaults={"dims": [1]},
    validate=_permute_validate,
)


# slice ----------------------------------------------------------------------------------------


def _pieces(sizes: list[int], item: int) -> tuple[int, int]:
    start = sum(sizes[:item])
    return start, start + sizes[item]


def _slice_op(args, kwargs, shapes, layout) -> Config | None:
    """x[..., a:b] (aten.slice.Tensor); piece ``item`` of x.chunk(n, -1) / x.split(s, -1)."""
    op = kwargs.pop("_op", "")
    _canonical_only(layout, "a slice")
    shape = shapes[0]
    D = shape[-1]
    args = [*args, None, None, None, None][:5]
    if op == "aten.slice.Tensor":
        dim, start, end, step = args[1] if args[1] is not None else 0, args[2], args[3], args[4]
        if _dim(dim, shape) != len(shape) - 1 or step not in (None, 1):
            raise ValueError("a slice other than a contiguous block of the last axis (x[..., a:b])")
        start, end = start or 0, D if end is None else min(int(end), D)
        start = start + D if start < 0 else start
        end = end + D if end < 0 else end
        return {"start": int(start), "stop": int(end)}
    item = kwargs.get("_item")
    dim = args[2] if args[2] is not None else kwargs.get("dim", 0)
    if item is None or _dim(dim, shape) != len(shape) - 1:
        raise ValueError(f"{op} other than over the last axis (x.chunk(n, dim=-1))")
    if op == "aten.chunk.default":
        size = -(-D // int(args[1]))
        sizes = [min(size, D - i) for i in range(0, D, size)]
    elif op == "aten.split.Tensor":
        size = int(args[1])
        sizes = [min(size, D - i) for i in range(0, D, size)]
    else:  # aten.split_with_sizes.default
        sizes = [int(s) for s in args[1]]
    start, stop = _pieces(sizes, int(item))
    return {"start": start, "stop": stop}


def _slice_validate(config: Config, shapes) -> None:
    start, stop = config["start"], config["stop"]
    if not 0 <= start < stop <= shapes[0][-1]:
        raise ValueError(f"start={start}, stop={stop} on a last axis of {shapes[0][-1]} (need 0 <= start < stop <= it)")


_slice_scratch, _slice_keras = _twins("Slice", "start", "stop")


SLICE = LayerKind(
    name="slice",
    family="tensor_ops",
    summary="Z = X[..., start:stop]: a block of the last axis (one piece of x.chunk(3, dim=-1))",
    scratch=_slice_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("Slice")(config["start"], config["stop"]),
        modules=("framework.pytorch.tensor_ops.Slice",),
        read_module=lambda m, s: {"start": m.start, "stop": m.stop},
        ops=("aten.slice.Tensor", "aten.chunk.default", "aten.split.Tensor", "aten.split_with_sizes.default"),
        read_op=_slice_op,
        source=lambda config, shapes, layout: Source(
            None, call=f"{{y}} = {{x0}}[..., {config['start']}:{config['stop']}]"
        ),
        reads=CANONICAL,
        layout=CANONICAL,
    ),
    keras=KerasSide(
        build=_slice_keras,
        classes=("Slice",),
        read=lambda layer: {"start": layer.start, "stop": layer.stop},
        source=lambda config, name, shapes=None, layout=None: _keras_custom(
            "Slice", config["start"], config["stop"], name=name
        ),
    ),
    defaults={"start": 0, "stop": 1},
    validate=_slice_validate,
)


# masked_fill ---------------------------------------------------------------------------------


def _mask_of(value: Constant, shape) -> list:
    if value.parameter:
        raise ValueError(f"a mask read from parameter {value.name!r} (only a buffer or constant: it must not train)")
    M = np.asarray(value.value).astype(bool)
    while M.ndim > len(shape) and M.shape[0] == 1:
        M = M[0]  # a leading (1, 1, T, T) broadcast over batch and heads
    if M.ndim > len(shape) or tuple(shape[len(shape) - M.ndim :]) != M.shape:
        raise ValueError(f"a mask of shape {M.shape} over inputs {tuple(shape)} (only the trailing axes)")
    return M.tolist()


def _masked_fill_op(args, kwargs, shapes, layout) -> Config | None:
    """x.masked_fill(M, v) (aten.masked_fill.Scalar); torch.where(M, x, v) fills where M is False."""
    op = kwargs.pop("_op", "")
    _canonical_only(layout, "a masked_fill")
    if op == "aten.masked_fill.Scalar":
        x, mask, value = args[0], args[1], args[2]
        if not isinstance(mask, Constant) or isinstance(x, Constant) or not _scalar(value):
            return None
        return {"mask": _mask_of(mask, shapes[0]), "value": float(value)}
    condition, x, value = args[0], args[1], args[2]  # aten.where.ScalarOther(condition, x, value)
    if not isinstance(condition, Constant) or isinstance(x, Constant) or not _scalar(value):
        return None
    inverse = Constant(condition.name, ~np.asarray(condition.value).astype(bool), condition.parameter)
    return {"mask": _mask_of(inverse, shapes[0]), "value": float(value)}


def _causal(mask) -> int | None:
    """k when ``mask`` is torch.ones(T, T).triu(k) as booleans (the causal mask is triu(1)), else None."""
    M = np.asarray(mask, dtype=bool)
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        return None
    for k in (1, 0):
        if np.array_equal(M, np.triu(np.ones(M.shape, dtype=bool), k)):
            return k
    return None


def _masked_fill_torch_source(config: Config, shapes, layout) -> Source:
    mask, value = config["mask"], config["value"]
    written = repr(value) if math.isfinite(value) else f'float("{value}")'
    k = _causal(mask)
    if k is not None:
        n = len(mask)
        M = f"torch.ones({n}, {n}, dtype=torch.bool, device={{x0}}.device).triu({k})"
    else:
        M = f"torch.tensor({np.asarray(mask, dtype=bool).tolist()!r}, device={{x0}}.device)"
    return Source(None, call=f"{{y}} = {{x0}}.masked_fill({M}, {written})")


def _masked_fill_torch_call(module, config: Config, x):
    """Rule ``masked_fill_polarity``: torch's ``masked_fill(M, v)`` fills where M is True
    (torch/_tensor_docs.py, masked_fill_), so M is the canonical mask itself; Keras' masks mark with
    True what is KEPT (keras/src/layers/activations/softmax.py adds a large negative where the mask is
    False; MultiHeadAttention's attention_mask likewise). Switched off, the Keras-style keep-mask is
    handed to masked_fill as it is: every kept score becomes the fill value instead."""
    mask = module.mask if enabled("masked_fill_polarity") else ~module.mask
    return x.masked_fill(mask, module.value)


def _masked_fill_validate(config: Config, shapes) -> None:
    M = np.asarray(config["mask"])
    shape = shapes[0]
    if M.dtype != bool or M.ndim == 0 or M.ndim > len(shape) or tuple(shape[len(shape) - M.ndim :]) != M.shape:
        raise ValueError(
            f"mask must be booleans of the trailing axes of inputs {tuple(shape)}, received shape {M.shape}"
        )
    if M.all(axis=-1).any() and config["value"] == float("-inf"):
        raise ValueError("a row of the mask fills every entry with -inf (a softmax over it is NaN)")


_masked_fill_scratch, _masked_fill_keras = _twins("MaskedFill", "mask", "value")


def _masked_fill_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    mask, value = config["mask"], config["value"]
    k = _causal(mask)
    if k is not None:
        n = len(mask)
        M = f"np.triu(np.ones(({n}, {n}), dtype=bool), {k})"
    else:
        M = repr(np.asarray(mask, dtype=bool).tolist())
    written = repr(value) if math.isfinite(value) else f'float("{value}")'
    return Source(
        f"MaskedFill({M}, {written}, name={name!r})".replace("'", '"'),
        (),
        ("import numpy as np", f"from {_KERAS_OPS} import MaskedFill"),
    )


MASKED_FILL = LayerKind(
    name="masked_fill",
    family="tensor_ops",
    summary="Z = where(M, v, X), M a constant boolean mask (s.masked_fill(~causal, -inf))",
    scratch=_masked_fill_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("MaskedFill")(config["mask"], config["value"]),
        call=_masked_fill_torch_call,
        modules=("framework.pytorch.tensor_ops.MaskedFill",),
        read_module=lambda m, s: {"mask": m.mask.numpy().tolist(), "value": m.value},
        ops=("aten.masked_fill.Scalar", "aten.where.ScalarOther"),
        read_op=_masked_fill_op,
        source=_masked_fill_torch_source,
        reads=CANONICAL,
        layout=CANONICAL,
        constants=True,
    ),
    keras=KerasSide(
        build=_masked_fill_keras,
        classes=("MaskedFill",),
        read=lambda layer: {"mask": layer.mask.tolist(), "value": layer.value},
        source=_masked_fill_keras_source,
    ),
    defaults={"mask": [[False]], "value": float("-inf")},
    validate=_masked_fill_validate,
)


# add_table ---------------------------------------------------------------------------------


def _add_table_op(args, kwargs, shapes, layout) -> Config | None:
    """x + self.pos, a parameter of one sample's shape, or (1, *sample)."""
    if kwargs.get("alpha", 1) != 1:
        return None
    tables = [a for a in args[:2] if isinstance(a, Constant)]
    if len(tables) != 1 or not tables[0].parameter:
        return None
    _canonical_only(layout, "a table added")
    shape = tuple(shapes[0])
    table = tuple(np.shape(tables[0].value))
    if table not in (shape, (1, *shape)):
        raise ValueError(
            f"parameter {tables[0].name!r} of shape {table} added to inputs (B, {', '.join(map(str, shape))}) "
            "(only a table of one sample's shape, or (1, *sample))"
        )
    return {"shape": list(shape), "batch_axis": len(table) == len(shape) + 1}


def _add_table_scratch(config: Config, name: str):
    from scratch.tensor_ops import AddTable

    layer = AddTable(config["shape"], name=name)
    layer.torch_batch_axis = bool(config["batch_axis"])  # how torch stores it (parity.convert.tensor_ops)
    return layer


def _add_table_keras(config: Config, name: str):
    from framework.keras3.tensor_ops import AddTable

    return AddTable(name=name)


def _add_table_torch_source(config: Config, shapes, layout) -> Source:
    shape = ((1,) if config["batch_axis"] else ()) + tuple(config["shape"])
    return Source(f"nn.Parameter({code('torch.zeros', *shape)})", call="{y} = {x0} + {m}")


def _add_table_validate(config: Config, shapes) -> None:
    if tuple(config["shape"]) != tuple(shapes[0]):
        raise ValueError(f"a table of shape {tuple(config['shape'])} added to inputs {tuple(shapes[0])}")


ADD_TABLE = LayerKind(
    name="add_table",
    family="tensor_ops",
    summary="Z = X + W, W a learned table of one sample's shape (x + self.pos, a position table)",
    scratch=_add_table_scratch,
    torch=TorchSide(
        build=lambda config, shapes, layout: _torch_module("AddTable")(config["shape"], config["batch_axis"]),
        modules=("framework.pytorch.tensor_ops.AddTable",),
        read_module=lambda m, s: {"shape": list(s), "batch_axis": m.weight.dim() == len(s) + 1},
        ops=("aten.add.Tensor",),
        read_op=_add_table_op,
        source=_add_table_torch_source,
        reads=CANONICAL,
        layout=CANONICAL,
        constants=True,
    ),
    keras=KerasSide(
        build=_add_table_keras,
        classes=("AddTable",),
        read=lambda layer: {"shape": [int(d) for d in layer.table.shape], "batch_axis": True},
        source=lambda config, name, shapes=None, layout=None: _keras_custom(
            "AddTable",
            name=name,
            comments=("table = the torch parameter, without its leading batch axis of 1",)
            if config["batch_axis"]
            else (),
        ),
    ),
    converter=AddTableConverter(),
    defaults={"shape": [1], "batch_axis": True},
    validate=_add_table_validate,
)

KINDS = (SCALE, MATMUL, RESHAPE, PERMUTE, SLICE, MASKED_FILL, ADD_TABLE)
