"""The normalisation family: LayerNorm and RMSNorm over trailing (feature) axes.

Both normalise each sample over its last k axes, k = len(axis), with ``axis`` as Keras
writes it (-1, or consecutive trailing axes [-2, -1]); torch's ``normalized_shape`` is the
shape of those axes. They run on features (F,) and on batch-first sequences (T, F), whose
torch layout is the canonical one. On an image, torch's trailing axis is W, not the channels
(NCHW): layer_norm declares ``torch.reads = CANONICAL``, so the generated torch model permutes
the NCHW map to NHWC before nn.LayerNorm(C) (``x.permute(0, 2, 3, 1)``, what ConvNeXt's own
torch code writes), and the torch importer reads that permute as the move to the canonical
layout. RMSNorm still refuses images.

``epsilon`` None means the framework's own default (the divergence cases
``layernorm_epsilon`` and ``rmsnorm_epsilon``); scratch then takes Keras'.
"""

from __future__ import annotations

import math

import numpy as np

from parity.convert.norm import LayerNormConverter, LayerScaleConverter, RMSNormConverter
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


def _normalized_shape(config: Config, shapes, layout) -> tuple[int, ...]:
    if layout == CHANNELS_FIRST:
        raise ValueError(
            "normalising an image: torch's trailing axis of an NCHW map is W, not the channels (features or sequences only)"
        )
    shape = tuple(shapes[0])
    k = len(config["axis"])
    if k > len(shape):
        raise ValueError(f"axis {config['axis']} normalises {k} axes of inputs of shape {shape}")
    return shape[len(shape) - k:]


def _axis_of(normalized_shape, shape, images: bool = False) -> list[int]:
    """Keras' ``axis`` of a torch ``normalized_shape``: the trailing axes it covers. ``shape`` is
    canonical; with ``images``, a map the importer has seen permuted to NHWC (an NCHW map
    reaching the module unpermuted is refused by the importer's layout check)."""
    k = len(tuple(normalized_shape))
    if len(shape) == 3 and not images:
        raise ValueError("normalising an NCHW image map over its trailing axes (W, not the channels) is not supported")
    if tuple(shape[len(shape) - k:]) != tuple(int(d) for d in normalized_shape):
        raise ValueError(f"normalized_shape {tuple(normalized_shape)} is not the trailing shape of inputs {tuple(shape)}")
    return list(range(-k, 0))


def _keras_axis(layer, images: bool = False) -> list[int]:
    axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    rank = len(layer.input.shape)
    axes = sorted(a - rank if a >= 0 else a for a in axes)
    if axes != list(range(-len(axes), 0)):
        raise ValueError(f"axis={layer.axis} (only consecutive trailing axes, like -1 or [-2, -1], are supported)")
    if rank == 4 and not images:
        raise ValueError("normalising images is not supported (features or sequences only)")
    return axes


def _config_axis(config: Config):
    return config["axis"][0] if len(config["axis"]) == 1 else list(config["axis"])


def _shape_code(config: Config, shapes, layout):
    """normalized_shape as people write it: ``8`` for one axis, ``(5, 8)`` for two."""
    shape = _normalized_shape(config, shapes, layout)
    return shape[0] if len(shape) == 1 else shape


def _keras_kwargs(config: Config, default: float) -> tuple[Config, list[str]]:
    """axis when it is not -1, epsilon when it is not Keras' default (with the comment saying so)."""
    kwargs: Config = {} if config["axis"] in ([-1], (-1,)) else {"axis": _config_axis(config)}
    comments = []
    if config["epsilon"] is not None and not math.isclose(config["epsilon"], default):
        kwargs["epsilon"] = config["epsilon"]
        comments.append(f"epsilon carried over: Keras' default is {default:g}")
    return kwargs, comments


# LayerNorm ----------------------------------------------------------------------------------


def _ln_scratch(config: Config, name: str):
    from scratch.layernorm import LayerNorm

    kwargs = {} if config["epsilon"] is None else {"epsilon": config["epsilon"]}
    return LayerNorm(list(config["axis"]), scale=config["scale"], center=config["center"], name=name, **kwargs)


def _ln_torch(config: Config, shapes, layout):
    """nn.LayerNorm(normalized_shape, eps, elementwise_affine=scale or center, bias=center); a shift
    without a scale (center without scale) does not exist in torch (torch/nn/modules/normalization.py)."""
    from torch import nn

    if config["center"] and not config["scale"]:
        raise ValueError("center=True with scale=False: nn.LayerNorm has no bias without a weight")
    kwargs = {} if config["epsilon"] is None else {"eps": config["epsilon"]}
    affine = config["scale"] or config["center"]
    return nn.LayerNorm(_normalized_shape(config, shapes, layout), elementwise_affine=affine, bias=config["center"], **kwargs)


def _ln_torch_source(config: Config, shapes, layout) -> Source:
    if config["center"] and not config["scale"]:
        raise ValueError("center=True with scale=False: nn.LayerNorm has no bias without a weight")
    kwargs: Config = {}
    comments = []
    if config["epsilon"] is not None and not math.isclose(config["epsilon"], 1e-5):
        kwargs["eps"] = config["epsilon"]
        comments.append("eps carried over: torch's default is 1e-5")
    if not (config["scale"] or config["center"]):
        kwargs["elementwise_affine"] = False
    elif not config["center"]:
        kwargs["bias"] = False
    return Source(code("nn.LayerNorm", _shape_code(config, shapes, layout), **kwargs), tuple(comments))


def _ln_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs, comments = _keras_kwargs(config, 1e-3)
    for key in ("center", "scale"):
        if not config[key]:
            kwargs[key] = False
    return Source(code("layers.LayerNormalization", **kwargs, name=name), tuple(comments))


def _ln_torch_read(module, shape) -> Config:
    affine = module.elementwise_affine
    return {
        "axis": _axis_of(module.normalized_shape, shape, images=True),
        "epsilon": float(module.eps),
        "scale": bool(affine),
        "center": bool(affine and module.bias is not None),
    }


def _ln_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """F.layer_norm(x, normalized_shape, eps=...) with no weight or bias (a parameter outside a module
    is refused by the importer before this is asked)."""
    if layout == CHANNELS_FIRST:
        return None
    normalized = args[1] if len(args) > 1 else kwargs["normalized_shape"]
    eps = args[4] if len(args) > 4 else kwargs.get("eps", 1e-5)
    return {"axis": _axis_of(normalized, shapes[0], images=True), "epsilon": float(eps), "scale": False, "center": False}


def _ln_keras(config: Config, name: str):
    import keras

    kwargs = {} if config["epsilon"] is None else {"epsilon": config["epsilon"]}
    return keras.layers.LayerNormalization(
        axis=_config_axis(config), center=config["center"], scale=config["scale"], name=name, **kwargs
    )


def _ln_keras_read(layer) -> Config:
    if getattr(layer, "rms_scaling", False):
        raise ValueError("rms_scaling=True (deprecated; keras.layers.RMSNormalization is the rms_norm kind)")
    axis = _keras_axis(layer, images=True)
    return {"axis": axis, "epsilon": float(layer.epsilon), "scale": bool(layer.scale), "center": bool(layer.center)}


LAYER_NORM = LayerKind(
    name="layer_norm",
    family="norm",
    summary="Z = gamma * (X - mean) / sqrt(var + epsilon) + beta, statistics per sample over the trailing axes",
    scratch=_ln_scratch,
    torch=TorchSide(
        build=_ln_torch,
        modules=("torch.nn.LayerNorm",),
        read_module=_ln_torch_read,
        ops=("aten.layer_norm.default",),
        read_op=_ln_torch_op,
        source=_ln_torch_source,
        reads=CANONICAL,  # an NCHW image map is permuted to NHWC first: the channels last, as normalised
    ),
    keras=KerasSide(build=_ln_keras, classes=("LayerNormalization",), read=_ln_keras_read, source=_ln_keras_source),
    converter=LayerNormConverter(),
    defaults={"axis": [-1], "epsilon": 1e-3, "scale": True, "center": True},
)


# RMSNorm ------------------------------------------------------------------------------------


def _rms_scratch(config: Config, name: str):
    from scratch.rmsnorm import RMSNorm

    kwargs = {} if config["epsilon"] is None else {"epsilon": config["epsilon"]}
    return RMSNorm(list(config["axis"]), name=name, **kwargs)


def _rms_torch(config: Config, shapes, layout):
    """nn.RMSNorm(normalized_shape, eps): eps=None (torch's default) is the dtype's machine epsilon."""
    from torch import nn

    return nn.RMSNorm(_normalized_shape(config, shapes, layout), eps=config["epsilon"])


def _rms_torch_source(config: Config, shapes, layout) -> Source:
    if config["epsilon"] is None:  # as build: torch's own default, the dtype's machine epsilon
        return Source(code("nn.RMSNorm", _shape_code(config, shapes, layout)))
    return Source(
        code("nn.RMSNorm", _shape_code(config, shapes, layout), eps=config["epsilon"]),
        ("eps carried over: torch's default is the dtype's machine epsilon",),
    )


def _rms_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs, comments = _keras_kwargs(config, 1e-6)
    return Source(code("layers.RMSNormalization", **kwargs, name=name), tuple(comments))


def _rms_torch_read(module, shape) -> Config:
    if not module.elementwise_affine:
        raise ValueError("elementwise_affine=False (keras.layers.RMSNormalization always has a scale)")
    if module.eps is None:
        raise ValueError("eps=None, the machine epsilon of the dtype (pass a number; Keras' default is 1e-6)")
    return {"axis": _axis_of(module.normalized_shape, shape), "epsilon": float(module.eps)}


def _rms_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """F.rms_norm(x, normalized_shape, eps=...) with no weight (RMSNormalization always scales: refused)."""
    raise ValueError("F.rms_norm has no scale outside a module; use nn.RMSNorm (Keras' RMSNormalization always has one)")


def _rms_keras(config: Config, name: str):
    import keras

    kwargs = {} if config["epsilon"] is None else {"epsilon": config["epsilon"]}
    return keras.layers.RMSNormalization(axis=_config_axis(config), name=name, **kwargs)


def _rms_keras_read(layer) -> Config:
    return {"axis": _keras_axis(layer), "epsilon": float(layer.epsilon)}


RMS_NORM = LayerKind(
    name="rms_norm",
    family="norm",
    summary="Z = scale * X / sqrt(mean(X**2) + epsilon), per sample over the trailing axes",
    scratch=_rms_scratch,
    torch=TorchSide(
        build=_rms_torch,
        modules=("torch.nn.RMSNorm",),
        read_module=_rms_torch_read,
        ops=("aten.rms_norm.default",),
        read_op=_rms_torch_op,
        source=_rms_torch_source,
    ),
    keras=KerasSide(build=_rms_keras, classes=("RMSNormalization",), read=_rms_keras_read, source=_rms_keras_source),
    converter=RMSNormConverter(),
    defaults={"axis": [-1], "epsilon": 1e-6},
)


# LayerScale ---------------------------------------------------------------------------------
#
# keras.applications' ConvNeXt defines its LayerScale inside keras/src/applications/convnext.py;
# framework.keras3.layer_scale.LayerScale is the same layer, serialisable. The importer finds
# both by the class name, then reads them by their config (init_values, projection_dim) and
# their one weight, and refuses a "LayerScale" that is something else.


def _ls_scratch(config: Config, name: str):
    from scratch.layer_scale import LayerScale

    return LayerScale(config["init_values"], config["projection_dim"], name=name)


def _ls_torch(config: Config, shapes, layout):
    from framework.pytorch.layer_scale import LayerScale

    return LayerScale(config["projection_dim"], config["init_values"])


def _ls_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """``self.gamma * x`` (or ``x * self.gamma``), gamma a parameter of shape (C,) on a channels-last
    map, as ConvNeXt's torch code writes it. ``init_values`` only initialises the vector: the
    common value when all entries are equal, else 1.0 (the weights themselves are read separately)."""
    gammas = [a for a in args[:2] if isinstance(a, Constant)]
    if len(gammas) != 1 or not gammas[0].parameter:
        return None
    value = np.asarray(gammas[0].value)
    C = shapes[0][-1]
    if value.shape != (C,):
        raise ValueError(
            f"parameter {gammas[0].name!r} of shape {value.shape} multiplied with inputs (B, {', '.join(map(str, shapes[0]))}) "
            f"(a layer scale is one factor per channel of the last axis: ({C},))"
        )
    if layout == CHANNELS_FIRST:
        raise ValueError(
            f"parameter {gammas[0].name!r} multiplied with an NCHW map's last axis (W); permute to NHWC first"
        )
    init = float(value[0]) if np.all(value == value[0]) else 1.0
    return {"init_values": init, "projection_dim": int(C)}


def _ls_keras(config: Config, name: str):
    from framework.keras3.layer_scale import LayerScale

    return LayerScale(config["init_values"], config["projection_dim"], name=name)


def _ls_keras_read(layer) -> Config:
    """Read by the config, not the class name alone: init_values and projection_dim, one weight (C,)."""
    config = layer.get_config()
    missing = [key for key in ("init_values", "projection_dim") if key not in config]
    if missing:
        raise ValueError(
            f"a custom LayerScale without {', '.join(missing)} in its config (only keras.applications' "
            "LayerScale(init_values, projection_dim) is read)"
        )
    C = int(config["projection_dim"])
    shapes = [tuple(w.shape) for w in layer.weights]
    if shapes != [(C,)]:
        raise ValueError(f"a LayerScale with weights of shapes {shapes} (expected one gamma of shape ({C},))")
    return {"init_values": float(config["init_values"]), "projection_dim": C}


def _ls_validate(config: Config, shapes) -> None:
    if shapes[0][-1] != config["projection_dim"]:
        raise ValueError(f"projection_dim={config['projection_dim']} with inputs {tuple(shapes[0])}")


LAYER_SCALE = LayerKind(
    name="layer_scale",
    family="norm",
    summary="Z = X * gamma, gamma (C,) one learned factor per channel of the last axis (ConvNeXt's LayerScale)",
    scratch=_ls_scratch,
    torch=TorchSide(
        build=_ls_torch,
        modules=("framework.pytorch.layer_scale.LayerScale",),
        read_module=lambda m, s: {"init_values": float(m.init_values), "projection_dim": int(m.projection_dim)},
        ops=("aten.mul.Tensor",),
        read_op=_ls_torch_op,
        source=lambda config, shapes, layout: Source(
            code("LayerScale", config["projection_dim"], config["init_values"]),
            ("weight = gamma: the same (C,) vector, on the channels-last map",),
            ("from framework.pytorch.layer_scale import LayerScale",),
        ),
        reads=CANONICAL,  # one factor per channel of the last axis: an NCHW map is permuted to NHWC first
        constants=True,
    ),
    keras=KerasSide(
        build=_ls_keras,
        classes=("LayerScale",),
        read=_ls_keras_read,
        source=lambda config, name, shapes=None, layout=None: Source(
            code("LayerScale", config["init_values"], config["projection_dim"], name=name),
            (),
            ("from framework.keras3.layer_scale import LayerScale",),
        ),
    ),
    converter=LayerScaleConverter(),
    defaults={"init_values": 1e-6, "projection_dim": 1},
    validate=_ls_validate,
)


KINDS = (LAYER_NORM, RMS_NORM, LAYER_SCALE)
