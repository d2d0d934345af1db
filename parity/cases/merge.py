"""Cases of the merge family: ``multiply``, as the squeeze-and-excitation gate uses it.

Images are channels-last [H, W, C]. The gate is the per-channel mean of the map, (1, 1, C) (Keras'
GlobalAveragePooling2D(keepdims=True), MobileNetV3; or the (C,) mean reshaped to (1, 1, C),
EfficientNet), through a sigmoid, times the map: the product broadcasts over H and W. In torch the
gate is (C, 1, 1) against (C, H, W): channels-first both (parity.layers.merge).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import INPUT, ModelSpec, Node

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

GATES = ("keepdims", "reshape")


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _multiply_validate(config: Config) -> None:
    shape = config["input_shape"]
    require("multiply", len(shape) == 3, f"input_shape must be [H, W, C] (channels last), received {shape}")
    require("multiply", config["gate"] in GATES, f"gate must be one of {', '.join(GATES)}, received {config['gate']!r}")


def _multiply_spec(c: Config) -> ModelSpec:
    channels = c["input_shape"][-1]
    keepdims = c["gate"] == "keepdims"
    nodes = [Node("global_avg_pool2d_0", "global_avg_pool2d", {"keepdims": keepdims}, (INPUT,))]
    if not keepdims:  # (C,) -> (1, 1, C), EfficientNet's se_reshape
        nodes.append(Node("reshape_0", "reshape", {"target_shape": [1, 1, channels]}, ("global_avg_pool2d_0",)))
    nodes.append(Node("sigmoid_0", "sigmoid", {}, (nodes[-1].name,)))
    nodes.append(Node("multiply_0", "multiply", {}, (INPUT, "sigmoid_0")))  # (H, W, C) * (1, 1, C)
    return ModelSpec("multiply", tuple(c["input_shape"]), tuple(nodes))


CASES.append(
    Case(
        name="multiply",
        family="merge",
        description="One Multiply of a map by its squeeze-and-excitation gate: X * sigmoid(mean of X per channel), "
        "(H, W, C) * (1, 1, C) broadcast",
        defaults={"gate": "reshape", "input_shape": [4, 5, 3], "batch": 2},
        spec=_multiply_spec,
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_multiply_validate,
    )
)
