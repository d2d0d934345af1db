"""Cases of the preprocessing family: rescaling and normalization, on images [H, W, C].

Both are constant maps of the pixels (nothing trains); per-channel values apply along the
channels (Keras' last axis; dim 1 of the NCHW torch map).
"""

from __future__ import annotations

import math

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _pixels(rng: np.random.Generator, config: Config) -> np.ndarray:
    """Pixel values 0..255, what a model that rescales inside expects."""
    return rng.uniform(0.0, 255.0, size=(config["batch"], *config["input_shape"]))


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _image(model: str, config: Config) -> int:
    shape = config["input_shape"]
    require(model, len(shape) == 3, f"input_shape must be [H, W, C] (channels last), received {shape}")
    return shape[-1]


def _rescaling_validate(config: Config) -> None:
    channels = _image("rescaling", config)
    for key in ("scale", "offset"):
        value = config[key]
        ok = _finite(value) or (
            isinstance(value, list) and len(value) in (1, channels) and all(_finite(v) for v in value)
        )
        require("rescaling", ok, f"{key} must be a finite number or {channels} of them (one per channel), received {value!r}")


CASES.append(
    Case(
        name="rescaling",
        family="preprocessing",
        description="One Rescaling: pixels 0..255 to -1..1, Z = X * scale + offset (MobileNetV3's first layer)",
        defaults={"scale": 1 / 127.5, "offset": -1.0, "input_shape": [4, 5, 3], "batch": 2},
        spec=lambda c: stack("rescaling", c["input_shape"], [("rescaling", {"scale": c["scale"], "offset": c["offset"]})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        inputs=_pixels,
        validate=_rescaling_validate,
    )
)


def _normalization_validate(config: Config) -> None:
    channels = _image("normalization", config)
    require("normalization", isinstance(config["invert"], bool), f"invert must be true or false, received {config['invert']!r}")
    mean, variance = config["mean"], config["variance"]
    require("normalization", (mean is None) == (variance is None), "give both mean and variance (constants), or neither (weights)")
    for key, low in (("mean", -math.inf), ("variance", 0.0)):
        value = config[key]
        ok = value is None or (
            isinstance(value, list) and len(value) == channels and all(_finite(v) and v >= low for v in value)
        )
        require("normalization", ok, f"{key} must be null or {channels} finite numbers{' >= 0' if low == 0 else ''}, received {value!r}")


CASES.append(
    Case(
        name="normalization",
        family="preprocessing",
        description="One Normalization: Z = (X - mean) / max(sqrt(variance), 1e-7) per channel, stored statistics (EfficientNet's second layer)",
        defaults={"invert": False, "mean": None, "variance": None, "input_shape": [4, 5, 3], "batch": 2},
        spec=lambda c: stack(
            "normalization",
            c["input_shape"],
            [("normalization", {"invert": c["invert"], "mean": c["mean"], "variance": c["variance"]})],
        ),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_normalization_validate,
    )
)
