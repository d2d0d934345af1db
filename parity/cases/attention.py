"""Cases of the attention family: multi-head self-attention alone, and cross-attention.

Inputs are batch-first, ``input_shape = [T, E]`` (steps, embedding). torch's
nn.MultiheadAttention needs ``num_heads * key_dim == E``; the validation says so in one line.
The naive torch ports of the divergence cases are this spec with a rule switched off
(``mha_batch_first``, ``mha_mask_polarity``, ``mha_packed_in_proj``; parity/layers/attention.py).
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import INPUT, ModelSpec, Node, stack

# This family's cases, in the order `parity list` shows them (collected by parity.cases).
CASES: list[Case] = []


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _attention_validate(config: Config, model: str = "multi_head_attention") -> None:
    shape = config["input_shape"]
    require(model, len(shape) == 2, f"input_shape must be [steps, embedding] (two entries), received {shape}")
    for key in ("num_heads", "key_dim"):
        value = config[key]
        require(
            model,
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"{key} must be a positive integer, received {value!r}",
        )
    for key in ("use_bias", "causal", "return_scores", "average_heads"):
        if key in config:
            require(model, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")
    require(
        model,
        config.get("return_scores", False) or not config.get("average_heads", False),
        "average_heads=True averages the returned attention weights: it needs return_scores=True",
    )
    h, d, E = config["num_heads"], config["key_dim"], shape[-1]
    require(
        model,
        h * d == E,
        f"num_heads * key_dim must equal the embedding size (nn.MultiheadAttention's head_dim = E // num_heads): "
        f"{h} * {d} != {E}",
    )


def _layer_config(c: Config) -> Config:
    keys = ("num_heads", "key_dim", "use_bias", "causal", "return_scores", "average_heads")
    return {k: c[k] for k in keys if k in c}


CASES.append(
    Case(
        name="multi_head_attention",
        family="attention",
        description="One multi-head self-attention layer: softmax(Q K^T / sqrt(d)) V per head, then the output projection",
        defaults={
            "num_heads": 2,
            "key_dim": 4,
            "use_bias": True,
            "causal": False,
            "return_scores": False,  # the model's output is the attention weights (B, h, T, S)
            "average_heads": False,  # ... averaged over the heads (B, T, S): torch's default
            "input_shape": [5, 8],
            "batch": 3,
        },
        spec=lambda c: stack("multi_head_attention", c["input_shape"], [("multi_head_attention", _layer_config(c))]),
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_attention_validate,
    )
)


def _cross_attention_validate(config: Config) -> None:
    _attention_validate(config, "cross_attention")
    value = config["context_dim"]
    require(
        "cross_attention",
        isinstance(value, int) and not isinstance(value, bool) and value > 0,
        f"context_dim must be a positive integer, received {value!r}",
    )


def _cross_attention_spec(c: Config) -> ModelSpec:
    """x -> dense (the context C, E_c features); mha(query=x, value=C): both branches get gradients."""
    mha = {k: c[k] for k in ("num_heads", "key_dim", "use_bias", "causal")}
    return ModelSpec(
        "cross_attention",
        tuple(c["input_shape"]),
        (
            Node("dense_0", "dense", {"units": c["context_dim"]}, (INPUT,)),
            Node("multi_head_attention_0", "multi_head_attention", mha, (INPUT, "dense_0")),
        ),
    )


CASES.append(
    Case(
        name="cross_attention",
        family="attention",
        description="Cross-attention: queries from the input, keys and values from a dense branch of it (E_c features)",
        defaults={
            "num_heads": 2,
            "key_dim": 4,
            "use_bias": True,
            "causal": False,
            "context_dim": 6,
            "input_shape": [5, 8],
            "batch": 3,
        },
        spec=_cross_attention_spec,
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_cross_attention_validate,
    )
)
