"""Preprocessing inside a model: ``rescaling`` (Z = X * scale + offset) and ``normalization``
(Z = (X - mean) / max(sqrt(variance), 1e-7) by stored per-channel statistics).

Keras has layers for both (``Rescaling``, ``Normalization``), which EfficientNet (V1 and V2)
and MobileNetV3 put first. torch.nn has neither: torch code writes ``x * scale + offset`` in
``forward`` and standardises with torchvision's ``Normalize(mean, std)``. The generated torch
models and the torch ports use the small modules of ``framework.pytorch.preprocessing`` (the same
code as modules: one node each, the constants visible in ``print(model)``, the statistics in the
state_dict). The torch importer reads those modules, and also the functional forms: ``x + o`` /
``x - o`` with a number ``o`` is a rescaling with scale 1 (``x * s``, a number, stays the
``scale`` kind of parity.layers.tensor_ops, so ``x * s + o`` reads as scale then rescaling: the
same map in two nodes). torch has no functional call for the standardisation (``F.normalize`` is
an L2 normalisation, another map), so ``normalization`` is read from its module only.

Per-channel values apply along the channels: the last axis canonically, dim 1 of an NCHW torch
map (the modules take ``dim``; the layout follows the input's, nothing is permuted).
"""

from __future__ import annotations

import math

import numpy as np

from parity.convert.base import enabled
from parity.convert.preprocessing import NormalizationConverter
from parity.layers.base import CHANNELS_FIRST, Config, KerasSide, LayerKind, Source, TorchSide, code

_MODULES = "framework.pytorch.preprocessing"
EPSILON = 1e-7  # Keras' backend.epsilon(), Normalization's floor of the std (scratch.preprocessing.EPSILON)


def _dim(layout) -> int:
    return 1 if layout == CHANNELS_FIRST else -1  # the channels of (B, C, H, W), or the last axis


def _value(value):
    """A number or per-channel list from a framework (a NumPy array, a list, a float) as config."""
    if isinstance(value, (list, tuple, np.ndarray)):
        items = [float(v) for v in np.asarray(value, dtype=np.float64).ravel()]
        return items[0] if len(items) == 1 else items
    return float(value)


def _finite(value) -> bool:
    items = value if isinstance(value, list) else [value]
    return bool(items) and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in items
    )


# rescaling -------------------------------------------------------------------------------------


def _rescaling_scratch(config: Config, name: str):
    from scratch.preprocessing import Rescaling

    return Rescaling(config["scale"], config["offset"], name=name)


def _rescaling_torch(config: Config, shapes, layout):
    from framework.pytorch.preprocessing import Rescaling

    return Rescaling(config["scale"], config["offset"], dim=_dim(layout))


def _rescaling_torch_source(config: Config, shapes, layout) -> Source:
    kwargs = {"dim": _dim(layout)} if isinstance(config["scale"], list) or isinstance(config["offset"], list) else {}
    comments = ("dim=1: per channel on an NCHW map, Keras' last axis",) if kwargs.get("dim") == 1 else ()
    return Source(
        code("Rescaling", config["scale"], config["offset"], **kwargs),
        comments,
        (f"from {_MODULES} import Rescaling",),
    )


def _rescaling_torch_read(module, shape) -> Config:
    scale = module.scale if module.scale is not None else module.scale_.tolist()
    offset = module.offset if module.offset is not None else module.offset_.tolist()
    return {"scale": _value(scale), "offset": _value(offset)}


def _rescaling_torch_op(args, kwargs, shapes, layout) -> Config | None:
    """``x + o`` / ``x - o`` with a number ``o`` (torch.export: ``aten.add.Tensor(x, o)``): scale 1."""
    if len(args) < 2 or not isinstance(args[1], (int, float)) or isinstance(args[1], bool):
        return None
    if float(kwargs.get("alpha", 1)) != 1.0:
        return None
    offset = float(args[1])
    return {"scale": 1.0, "offset": -offset if kwargs.get("_op", "").startswith("aten.sub") else offset}


def _rescaling_keras(config: Config, name: str):
    """Rule ``tf_float64_constants``: Rescaling's ``call`` casts its constants with
    ``backend.cast(self.scale, dtype)`` (keras/src/layers/preprocessing/rescaling.py); on TensorFlow
    that is ``tf.cast`` (keras/src/backend/tensorflow/core.py), which first makes a Python float a
    float32 tensor, so in float64 the scale 1/127.5 becomes 0.007843137718737125. Passed as NumPy
    float64 values the constants keep their precision (cast down in a float32 model, as before)."""
    import keras

    scale, offset = config["scale"], config["offset"]
    if enabled("tf_float64_constants"):
        scale, offset = np.asarray(scale, dtype=np.float64), np.asarray(offset, dtype=np.float64)
    return keras.layers.Rescaling(scale, offset, name=name)


def _rescaling_keras_op(args, op: str) -> Config | None:
    """``x + c``, ``c + x`` (``Add``) or ``x - c`` (``Subtract``) on a symbolic tensor, c a number
    (MobileNetV3's hard_sigmoid: ``x + 3.0``)."""
    numbers = [a for a in args if a is not None]
    if len(args) != 2 or len(numbers) != 1 or not isinstance(numbers[0], (int, float)) or isinstance(numbers[0], bool):
        return None
    offset = float(numbers[0])
    if op == "Subtract":
        # x - c is x + (-c); c - x is a negation, not a rescaling of x
        return {"scale": 1.0, "offset": -offset} if args[0] is None else None
    return {"scale": 1.0, "offset": offset}


def _rescaling_keras_read(layer) -> Config:
    return {"scale": _value(layer.scale), "offset": _value(layer.offset)}


def _rescaling_validate(config: Config, shapes) -> None:
    channels = shapes[0][-1]
    for key in ("scale", "offset"):
        value = config[key]
        if not _finite(value):
            raise ValueError(f"{key} must be a finite number or a list of them, received {value!r}")
        if isinstance(value, list) and len(value) not in (1, channels):
            raise ValueError(f"{key} has {len(value)} values for inputs {tuple(shapes[0])} (one, or one per channel)")


RESCALING = LayerKind(
    name="rescaling",
    family="preprocessing",
    summary="Z = X * scale + offset, constants (pixels 0..255 -> 0..1 or -1..1)",
    scratch=_rescaling_scratch,
    torch=TorchSide(
        build=_rescaling_torch,
        modules=(f"{_MODULES}.Rescaling",),
        read_module=_rescaling_torch_read,
        ops=("aten.add.Tensor", "aten.sub.Tensor"),
        read_op=_rescaling_torch_op,
        source=_rescaling_torch_source,
    ),
    keras=KerasSide(
        build=_rescaling_keras,
        classes=("Rescaling",),
        read=_rescaling_keras_read,
        ops=("Add", "Subtract"),
        read_op=_rescaling_keras_op,
        source=lambda config, name, shapes=None, layout=None: Source(
            code("layers.Rescaling", config["scale"], config["offset"], name=name)
        ),
    ),
    defaults={"scale": 1.0, "offset": 0.0},
    validate=_rescaling_validate,
)


# normalization ---------------------------------------------------------------------------------


def _normalization_scratch(config: Config, name: str):
    from scratch.preprocessing import Normalization

    return Normalization(config["invert"], name=name, mean=config["mean"], variance=config["variance"])


def _std(config: Config) -> list[float] | None:
    """The torch std of constant statistics (rule variance_to_std of NormalizationConverter)."""
    if config["variance"] is None:
        return None
    return NormalizationConverter.std(np.asarray(config["variance"], dtype=np.float64), EPSILON).tolist()


def _normalization_torch(config: Config, shapes, layout):
    from framework.pytorch.preprocessing import Normalization

    return Normalization(shapes[0][-1], dim=_dim(layout), invert=config["invert"], mean=config["mean"], std=_std(config))


def _normalization_torch_read(module, shape) -> Config:
    config: Config = {"invert": bool(module.invert)}
    if module.constant:  # statistics given as numbers: the configuration holds them
        std = module.std.detach().double().numpy()
        config.update(mean=module.mean.detach().double().tolist(), variance=(std * std).tolist())
    return config


def _normalization_torch_source(config: Config, shapes, layout) -> Source:
    kwargs = {"dim": _dim(layout), **({"invert": True} if config["invert"] else {})}
    if config["mean"] is not None:
        kwargs.update(mean=config["mean"], std=_std(config))
    comments = ["std = max(sqrt(variance), 1e-7): Keras stores the variance, torchvision's Normalize the std"]
    if kwargs["dim"] == 1:
        comments.append("dim=1: per channel on an NCHW map, Keras' last axis")
    return Source(
        code("Normalization", shapes[0][-1], **kwargs), tuple(comments), (f"from {_MODULES} import Normalization",)
    )


def _normalization_keras(config: Config, name: str):
    import keras

    constants = {} if config["mean"] is None else {"mean": config["mean"], "variance": config["variance"]}
    if constants and enabled("tf_float64_constants"):  # as Rescaling's (_rescaling_keras): NumPy float64, not lists
        constants = {k: np.asarray(v, dtype=np.float64) for k, v in constants.items()}
    return keras.layers.Normalization(axis=-1, invert=config["invert"], name=name, **constants)


def _normalization_keras_source(config: Config, name: str, shapes=None, layout=None) -> Source:
    kwargs = {"invert": True} if config["invert"] else {}
    if config["mean"] is not None:
        kwargs.update(mean=config["mean"], variance=config["variance"])
    return Source(code("layers.Normalization", axis=-1, **kwargs, name=name))


def _normalization_keras_read(layer) -> Config:
    axis = tuple(layer.axis) if isinstance(layer.axis, (list, tuple)) else (layer.axis,)
    rank = len(getattr(layer, "_build_input_shape", None) or ())
    if axis not in ((-1,), (rank - 1,)) or rank < 2:
        raise ValueError(f"axis={layer.axis} (only the last axis, the channels, is supported)")
    config: Config = {"invert": bool(layer.invert)}
    if layer.input_mean is not None:  # constants (EfficientNetV2's ImageNet statistics), not weights
        channels = int(layer._build_input_shape[-1])
        mean = np.broadcast_to(np.asarray(layer.input_mean, dtype=np.float64), (channels,))
        variance = np.broadcast_to(np.asarray(layer.input_variance, dtype=np.float64), (channels,))
        config.update(mean=mean.tolist(), variance=variance.tolist())
    return config


def _normalization_validate(config: Config, shapes) -> None:
    if not isinstance(config["invert"], bool):
        raise ValueError(f"invert must be true or false, received {config['invert']!r}")


NORMALIZATION = LayerKind(
    name="normalization",
    family="preprocessing",
    summary="Z = (X - mean) / max(sqrt(variance), 1e-7) per channel, statistics stored, not trained",
    scratch=_normalization_scratch,
    torch=TorchSide(
        build=_normalization_torch,
        modules=(f"{_MODULES}.Normalization",),
        read_module=_normalization_torch_read,
        source=_normalization_torch_source,
    ),
    keras=KerasSide(
        build=_normalization_keras,
        classes=("Normalization",),
        read=_normalization_keras_read,
        source=_normalization_keras_source,
    ),
    converter=NormalizationConverter(),
    defaults={"invert": False, "mean": None, "variance": None},
    validate=_normalization_validate,
)

KINDS = (RESCALING, NORMALIZATION)
