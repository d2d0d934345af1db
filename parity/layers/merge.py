"""Graph joins: the residual ``add``, ``multiply``, the ``scaled_add`` of a residual branch, and ``concatenate``.

``scaled_add`` is InceptionResNetV2's ``CustomScaleLayer`` (keras/src/applications/
inception_resnet_v2.py: ``inputs[0] + inputs[1] * scale``, ``scale`` in its config), read by its
class name; any other custom layer is refused by the Keras importer, by name, in one line. In torch
it is ``torch.add(x, branch, alpha=scale)`` (aten.add.Tensor with ``alpha``; torch/_refs/__init__.py
``add`` multiplies the second operand by alpha). ``x + scale * branch`` written out is two calls,
and imports as ``scale`` and ``add``: the same function, two nodes.

``concatenate`` joins along the channels (the canonical last axis); on a channels-first
torch tensor that is dim 1, so the torch module is built for the layout it receives.

``multiply`` broadcasts, as Keras' ``Multiply`` and torch's ``*`` both do: the squeeze-and-
excitation gate of EfficientNet and MobileNetV3, canonical (1, 1, C) against the (H, W, C) map, is
(C, 1, 1) against (C, H, W) in torch. Both are channels-first there (the gate comes out of a 1x1
nn.Conv2d, or of ``s.view(B, C, 1, 1)``, parity.layers.tensor_ops), so the size-1 axes line up
with H and W in both layouts and nothing is permuted; the generator refuses a join of two layouts.
"""

from __future__ import annotations

import math

from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, NotThisKind, Source, TorchSide, code, literal


def _add_torch(config: Config, shapes, layout):
    from framework.pytorch.merge import Add

    return Add()


def _add_keras(config: Config, name: str):
    import keras

    return keras.layers.Add(name=name)


def _multiply_torch(config: Config, shapes, layout):
    from framework.pytorch.merge import Multiply

    return Multiply()


def _multiply_keras(config: Config, name: str):
    import keras

    return keras.layers.Multiply(name=name)


def _multiply_torch_source(config: Config, shapes, layout) -> Source:
    """``x * s`` in forward, as people write a gate (two inputs: a * b * c is two products)."""
    if len(shapes) != 2:
        raise ValueError(f"a product of {len(shapes)} inputs (only two are written as x * y)")
    return Source(None, call="{y} = {x0} * {x1}")


def _multiply_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """``x * y`` of two computed tensors (``x * 0.5`` is the kind scale)."""
    return {} if len(shapes) == 2 else None


def _multiply_validate(config: Config, shapes) -> None:
    import numpy as np

    try:
        np.broadcast_shapes(*(tuple(s) for s in shapes))
    except ValueError:
        raise ValueError(f"inputs {', '.join(str(tuple(s)) for s in shapes)} do not broadcast together") from None


def _multiply_scratch(config: Config, name: str):
    from scratch.merge import Multiply

    return Multiply(name=name)


def _cat_torch(config: Config, shapes, layout):
    from framework.pytorch.merge import Concatenate

    return Concatenate(dim=-1 if layout == CANONICAL else 1)


def _add_torch_source(config: Config, shapes, layout) -> Source:
    """``x + y`` in forward, as people write a residual connection (two inputs: a + b + c is two adds)."""
    if len(shapes) != 2:
        raise ValueError(f"an add of {len(shapes)} inputs (only two are written as x + y)")
    return Source(None, call="{y} = {x0} + {x1}")


def _cat_torch_source(config: Config, shapes, layout) -> Source:
    if layout == CANONICAL:
        return Source(None, call="{y} = torch.cat([{x}], dim=-1)")
    why = "dim=1: the channels of an NCHW map, Keras' last axis"
    return Source(None, (why,), call="{y} = torch.cat([{x}], dim=1)")


def _cat_torch_op(args, kwargs, shapes, layout) -> Config | None:
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    rank = len(shapes[0]) + 1
    dim = dim % rank
    last = rank - 1 if layout == CANONICAL else 1
    return {"axis": -1} if dim == last else None


def _cat_keras(config: Config, name: str):
    import keras

    return keras.layers.Concatenate(axis=config["axis"], name=name)


def _cat_keras_read(layer) -> Config:
    """``axis=-1``, or the same axis counted from the front (DenseNet writes ``axis=3`` on 4-D maps)."""
    if layer.axis == -1 or layer.axis == _rank(layer) - 1:
        return {"axis": -1}
    raise ValueError(f"axis={layer.axis} (only the last axis, the channels, is supported)")


def _rank(layer) -> int:
    """The rank (batch included) of what a Keras layer was called on; 0 where it was not called once."""
    try:
        inputs = layer.input
    except (AttributeError, ValueError):  # never called, or called more than once
        return 0
    first = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
    return len(getattr(first, "shape", ()))


def _add_scratch(config: Config, name: str):
    from scratch.merge import Add

    return Add(name=name)


def _cat_scratch(config: Config, name: str):
    from scratch.merge import Concatenate

    return Concatenate(axis=config["axis"], name=name)


def _add_keras_read(layer) -> Config:
    """keras.layers.Add, or a CustomScaleLayer with scale 1 (what scaled_add leaves to it)."""
    if type(layer).__name__ != "Add" and getattr(layer, "scale", None) != 1.0:
        raise NotThisKind(f"scale={getattr(layer, 'scale', None)!r} is a scaled_add")
    return {}


ADD = LayerKind(
    name="add",
    family="merge",
    summary="Z = X_1 + X_2 + ... (a residual connection)",
    scratch=_add_scratch,
    torch=TorchSide(
        build=_add_torch,
        modules=("framework.pytorch.merge.Add",),
        read_module=lambda m, s: {},
        ops=("aten.add.Tensor", "aten.add_.Tensor"),
        read_op=lambda args, kwargs, shapes, layout: {} if len(shapes) == 2 and kwargs.get("alpha", 1) == 1 else None,
        source=_add_torch_source,
    ),
    keras=KerasSide(
        build=_add_keras,
        classes=("Add", "CustomScaleLayer"),
        read=_add_keras_read,
        # ``inputs + x`` of two symbolic tensors (ConvNeXt's residual, keras/src/applications/convnext.py)
        ops=("Add",),
        read_op=lambda args, op: {} if len(args) == 2 and all(a is None for a in args) else None,
        source=lambda config, name, shapes=None, layout=None: Source(code("layers.Add", name=name)),
    ),
    arity=0,
)

MULTIPLY = LayerKind(
    name="multiply",
    family="merge",
    summary="Z = X_1 * X_2 * ... elementwise, broadcast (a squeeze-and-excitation gate)",
    scratch=_multiply_scratch,
    torch=TorchSide(
        build=_multiply_torch,
        modules=("framework.pytorch.merge.Multiply",),
        read_module=lambda m, s: {},
        ops=("aten.mul.Tensor", "aten.mul_.Tensor"),
        read_op=_multiply_torch_op,
        source=_multiply_torch_source,
    ),
    keras=KerasSide(
        build=_multiply_keras,
        classes=("Multiply",),
        read=lambda layer: {},
        source=lambda config, name, shapes=None, layout=None: Source(code("layers.Multiply", name=name)),
    ),
    arity=0,
    validate=_multiply_validate,
)

CONCATENATE = LayerKind(
    name="concatenate",
    family="merge",
    summary="Z = [X_1, X_2, ...] along the channels",
    scratch=_cat_scratch,
    torch=TorchSide(
        build=_cat_torch,
        modules=("framework.pytorch.merge.Concatenate",),
        read_module=lambda m, s: {"axis": -1},
        ops=("aten.cat.default",),
        read_op=_cat_torch_op,
        source=_cat_torch_source,
    ),
    keras=KerasSide(
        build=_cat_keras,
        classes=("Concatenate",),
        read=_cat_keras_read,
        source=lambda config, name, shapes=None, layout=None: Source(code("layers.Concatenate", name=name)),
    ),
    arity=0,
    defaults={"axis": -1},
)

# scaled_add --------------------------------------------------------------------------------


def _scaled_add_scratch(config: Config, name: str):
    from scratch.merge import ScaledAdd

    return ScaledAdd(config["scale"], name=name)


def _scaled_add_torch(config: Config, shapes, layout):
    from framework.pytorch.merge import ScaledAdd

    return ScaledAdd(config["scale"])


def _scaled_add_torch_source(config: Config, shapes, layout) -> Source:
    why = "Keras' CustomScaleLayer(scale): inputs[0] + inputs[1] * scale, one call with alpha"
    return Source(None, (why,), call="{y} = torch.add({x0}, {x1}, alpha=" + literal(float(config["scale"])) + ")")


def _scaled_add_op(args, kwargs, shapes, layout) -> Config | None:
    """``torch.add(x, branch, alpha=scale)``: two tensors and an alpha other than 1 (alpha 1 is ``add``)."""
    alpha = kwargs.get("alpha", 1)
    if len(shapes) != 2 or alpha == 1 or isinstance(alpha, bool):
        return None
    return {"scale": float(alpha)}


def _scaled_add_keras(config: Config, name: str):
    from framework.keras3.merge import ScaledAdd

    return ScaledAdd(config["scale"], name=name)


def _scaled_add_keras_read(layer) -> Config:
    """The layer's ``scale``; scale 1 (InceptionResNetV2's last block) is a plain ``add``, as torch's
    ``torch.add(x, y, alpha=1)`` is: the registry then asks the add kind."""
    scale = getattr(layer, "scale", None)
    if isinstance(scale, bool) or not isinstance(scale, (int, float)):
        raise ValueError(f"scale={scale!r} (a number is supported)")
    if float(scale) == 1.0:
        raise NotThisKind("scale=1 is a plain add")
    return {"scale": float(scale)}


def _scaled_add_validate(config: Config, shapes) -> None:
    scale = config["scale"]
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale):
        raise ValueError(f"scale must be a finite number, received {scale!r}")
    if len(shapes) != 2 or tuple(shapes[0]) != tuple(shapes[1]):
        raise ValueError(f"two inputs of equal shape, received {[tuple(s) for s in shapes]}")


SCALED_ADD = LayerKind(
    name="scaled_add",
    family="merge",
    summary="Z = X_0 + scale * X_1, scale a constant (InceptionResNetV2's CustomScaleLayer)",
    scratch=_scaled_add_scratch,
    torch=TorchSide(
        build=_scaled_add_torch,
        modules=("framework.pytorch.merge.ScaledAdd",),
        read_module=lambda m, s: {"scale": float(m.scale)},
        ops=("aten.add.Tensor",),
        read_op=_scaled_add_op,
        source=_scaled_add_torch_source,
    ),
    keras=KerasSide(
        build=_scaled_add_keras,
        classes=("CustomScaleLayer", "ScaledAdd"),
        read=_scaled_add_keras_read,
        call=lambda config, inputs: ((list(inputs),), {}),
        source=lambda config, name, shapes=None, layout=None: Source(
            code("ScaledAdd", float(config["scale"]), name=name),
            ("Keras' CustomScaleLayer (InceptionResNetV2): [x, branch] -> x + branch * scale",),
            ("from framework.keras3.merge import ScaledAdd",),
            "{y} = {m}([{x0}, {x1}])",
        ),
    ),
    arity=2,
    defaults={"scale": 1.0},
    validate=_scaled_add_validate,
)

KINDS = (SCALED_ADD, ADD, MULTIPLY, CONCATENATE)  # scaled_add first: it reads CustomScaleLayer, leaving scale 1 to add
