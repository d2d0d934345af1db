"""Cases of the normalisation family: layernorm and rmsnorm, one layer each.

Inputs are features ``[F]`` or batch-first sequences ``[T, F]``; ``axis`` is -1 or the
consecutive trailing axes normalised together ([-2, -1]), as Keras writes it. ``epsilon``
null means each framework's own default (the divergence cases only).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _validate_common(model: str, config: Config) -> None:
    shape = config["input_shape"]
    require(model, len(shape) in (1, 2), f"input_shape must be [features] or [steps, features], received {shape}")
    axis = config["axis"]
    if isinstance(axis, int) and not isinstance(axis, bool):
        config["axis"] = axis = [axis]
    ok = (
        isinstance(axis, list)
        and 0 < len(axis) <= len(shape)
        and all(isinstance(a, int) and not isinstance(a, bool) for a in axis)
        and sorted(axis) == list(range(-len(axis), 0))
    )
    require(model, ok, f"axis must be -1 or consecutive trailing axes of the input like [-2, -1], received {axis!r}")
    config["axis"] = sorted(axis)
    eps = config["epsilon"]
    number = isinstance(eps, (int, float)) and not isinstance(eps, bool) and np.isfinite(eps) and eps > 0
    require(model, eps is None or number, f"epsilon must be a positive number or null, received {eps!r}")


def _layernorm_validate(config: Config) -> None:
    _validate_common("layernorm", config)
    for key in ("scale", "center"):
        require("layernorm", isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")
    require(
        "layernorm",
        config["scale"] or not config["center"],
        "center=true with scale=false has no torch form (nn.LayerNorm has no bias without a weight)",
    )
    shape = config["input_shape"]
    n = int(np.prod(shape[len(shape) - len(config["axis"]):]))
    require(
        "layernorm",
        n >= 2,
        f"axis {config['axis']} normalises {n} value per sample: X - mean is 0, and gamma's gradient, 0 in exact "
        "arithmetic, is rounding noise (normalise at least 2 values)",
    )


CASES.append(
    Case(
        name="layernorm",
        family="norm",
        description="One LayerNormalization over the trailing axes of each sample (features or sequences)",
        defaults={"axis": -1, "epsilon": 1e-3, "scale": True, "center": True, "input_shape": [5, 6], "batch": 3},
        spec=lambda c: stack(
            "layernorm",
            c["input_shape"],
            [("layer_norm", {k: c[k] for k in ("axis", "epsilon", "scale", "center")})],
        ),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_layernorm_validate,
        notes="epsilon null means the framework's own default (divergence layernorm_epsilon).",
    )
)


def _rmsnorm_validate(config: Config) -> None:
    _validate_common("rmsnorm", config)


CASES.append(
    Case(
        name="rmsnorm",
        family="norm",
        description="One RMSNormalization: each sample divided by its root mean square over the trailing axes, scaled",
        defaults={"axis": -1, "epsilon": 1e-6, "input_shape": [5, 6], "batch": 3},
        spec=lambda c: stack("rmsnorm", c["input_shape"], [("rms_norm", {k: c[k] for k in ("axis", "epsilon")})]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_rmsnorm_validate,
        notes="epsilon null means the framework's own default (divergence rmsnorm_epsilon).",
    )
)


# layer_scale ------------------------------------------------------------------------------------


def _layer_scale_validate(config: Config) -> None:
    m = "layer_scale"
    shape = config["input_shape"]
    require(m, len(shape) in (1, 2, 3), f"input_shape must be [C], [T, C] or [H, W, C] (channels last), received {shape}")
    value = config["init_values"]
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    require(m, number, f"init_values must be a finite number, received {value!r}")


CASES.append(
    Case(
        name="layer_scale",
        family="norm",
        description="One LayerScale (ConvNeXt): each channel of a channels-last map times its own learned factor",
        defaults={"init_values": 0.5, "input_shape": [4, 3, 6], "batch": 2},
        spec=lambda c: stack(
            "layer_scale",
            c["input_shape"],
            [("layer_scale", {"init_values": c["init_values"], "projection_dim": c["input_shape"][-1]})],
        ),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_layer_scale_validate,
        notes="On an image map torch reads it channels-last: the generated model takes NHWC input.",
    )
)
