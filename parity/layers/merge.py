"""Graph joins: the residual ``add`` and ``concatenate``.

``concatenate`` joins along the channels (the canonical last axis); on a channels-first
torch tensor that is dim 1, so the torch module is built for the layout it receives.
"""

from __future__ import annotations

from parity.layers.base import CANONICAL, Config, KerasSide, LayerKind, Source, TorchSide, code


def _add_torch(config: Config, shapes, layout):
    from framework.pytorch.merge import Add

    return Add()


def _add_keras(config: Config, name: str):
    import keras

    return keras.layers.Add(name=name)


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
        classes=("Add",),
        read=lambda layer: {},
        source=lambda config, name, shapes=None, layout=None: Source(code("layers.Add", name=name)),
    ),
    arity=0,
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

KINDS = (ADD, CONCATENATE)
