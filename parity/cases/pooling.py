"""Cases of the global pooling family: images [H, W, C] and batch-first sequences [T, F].

Each pools every position, per channel; ``keepdims`` keeps the pooled axes as size 1 (Keras'
argument; nn.AdaptiveAvgPool2d(1) alone is keepdims, followed by nn.Flatten() it is not).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _validate(model: str, rank: int, what: str):
    def validate(config: Config) -> None:
        shape = config["input_shape"]
        require(model, len(shape) == rank, f"input_shape must be {what}, received {shape}")
        require(model, isinstance(config["keepdims"], bool), f"keepdims must be true or false, received {config['keepdims']!r}")

    return validate


for _name, _kind, _shape, _what, _description in (
    ("global_avg_pool2d", "global_avg_pool2d", [4, 5, 3], "[H, W, C]", "One GlobalAveragePooling2D: the mean of every pixel, per channel"),
    ("global_max_pool2d", "global_max_pool2d", [4, 5, 3], "[H, W, C]", "One GlobalMaxPooling2D: the largest pixel, per channel"),
    ("global_avg_pool1d", "global_avg_pool1d", [6, 4], "[steps, features]", "One GlobalAveragePooling1D: the mean over the steps"),
    ("global_max_pool1d", "global_max_pool1d", [6, 4], "[steps, features]", "One GlobalMaxPooling1D: the largest step, per feature"),
):
    CASES.append(
        Case(
            name=_name,
            family="pooling",
            description=_description,
            defaults={"keepdims": False, "input_shape": _shape, "batch": 3},
            spec=lambda c, kind=_kind, name=_name: stack(name, c["input_shape"], [(kind, {"keepdims": c["keepdims"]})]),
            loss="mean_squared_error",
            targets=_normal_targets,
            validate=_validate(_name, len(_shape), _what),
        )
    )
