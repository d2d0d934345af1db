"""Cases of the transformer family: one encoder block alone, post-norm and pre-norm.

Inputs are batch-first, ``input_shape = [T, E]`` (steps, embedding), with E divisible by
``num_heads``. ``dropout`` and ``layer_norm_eps`` may be None, each framework's own default
(torch's block: 0.1 and 1e-5; the Keras block: 0.0 and 1e-3; parity/layers/transformer.py):
the naive ports of the divergence cases. A comparison in training mode needs ``dropout=0``:
the masks are drawn inside the block, where no other implementation can read them.
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []

BLOCK_KEYS = ("num_heads", "dim_feedforward", "dropout", "activation", "layer_norm_eps", "norm_first", "use_bias")


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _validate(model: str):
    def validate(config: Config) -> None:
        shape = config["input_shape"]
        require(model, len(shape) == 2, f"input_shape must be [steps, embedding] (two entries), received {shape}")
        for key in ("num_heads", "dim_feedforward"):
            value = config[key]
            require(
                model,
                isinstance(value, int) and not isinstance(value, bool) and value > 0,
                f"{key} must be a positive integer, received {value!r}",
            )
        require(
            model,
            shape[-1] % config["num_heads"] == 0,
            f"the embedding size {shape[-1]} must be divisible by num_heads={config['num_heads']}",
        )
        rate = config["dropout"]
        require(
            model,
            rate is None or (_number(rate) and 0 <= rate < 1),
            f"dropout must be a rate in [0, 1) or null (the framework's default), received {rate!r}",
        )
        eps = config["layer_norm_eps"]
        require(
            model,
            eps is None or (_number(eps) and eps > 0),
            f"layer_norm_eps must be a positive number or null (the framework's default), received {eps!r}",
        )
        require(
            model,
            config["activation"] in ("relu", "gelu"),
            f"activation must be 'relu' or 'gelu', received {config['activation']!r}",
        )
        for key in ("norm_first", "use_bias", "training"):
            require(model, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")

    return validate


def _spec(model: str):
    return lambda c: stack(model, c["input_shape"], [("transformer_encoder", {k: c[k] for k in BLOCK_KEYS})])


def _case(name: str, description: str, **defaults) -> Case:
    return Case(
        name=name,
        family="transformer",
        description=description,
        defaults={
            "num_heads": 2,
            "dim_feedforward": 16,
            "dropout": 0.0,
            "activation": "relu",
            "layer_norm_eps": 1e-5,
            "norm_first": False,
            "use_bias": True,
            "training": False,
            "input_shape": [5, 8],
            "batch": 3,
            **defaults,
        },
        spec=_spec(name),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_validate(name),
    )


CASES.append(
    _case(
        "transformer_encoder",
        "One post-norm encoder block (ReLU): Y = LN1(X + MHA(X)), Z = LN2(Y + FF(Y)), nn.TransformerEncoderLayer's default",
    )
)
CASES.append(
    _case(
        "transformer_encoder_norm_first",
        "One pre-norm encoder block (GELU): Y = X + MHA(LN1(X)), Z = Y + FF(LN2(Y))",
        activation="gelu",
        norm_first=True,
    )
)
