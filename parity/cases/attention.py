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


# Key padding: integer ids, id 0 padding at the end of each sequence --------------------------------


def padded_ids(rng: np.random.Generator, config: Config) -> np.ndarray:
    """Token ids in [1, input_dim) then 0s: each sequence keeps between min_tokens and T tokens, never none."""
    B, (T,) = config["batch"], config["input_shape"]
    ids = rng.integers(1, config["input_dim"], size=(B, T))  # (B, T)
    lengths = rng.integers(config["min_tokens"], T + 1, size=B)  # tokens per sequence
    lengths[0] = config["min_tokens"]  # at least one sequence padded (when min_tokens < T)
    ids[np.arange(T)[None, :] >= lengths[:, None]] = 0  # padding at the end
    return ids


def _padded_attention_validate(config: Config) -> None:
    m = "padded_attention"
    shape = config["input_shape"]
    require(m, len(shape) == 1, f"input_shape must be [steps] (integer ids), received {shape}")
    for key in ("input_dim", "num_heads", "key_dim", "num_classes", "min_tokens"):
        value = config[key]
        require(
            m, isinstance(value, int) and not isinstance(value, bool) and value > 0, f"{key} must be a positive integer, received {value!r}"
        )
    require(m, config["input_dim"] >= 2, f"input_dim must be at least 2 (id 0 is padding), received {config['input_dim']}")
    require(
        m,
        config["min_tokens"] <= shape[0],
        f"min_tokens={config['min_tokens']} exceeds the steps {shape[0]} (a sequence all padding is refused: torch gives NaN)",
    )
    for key in ("use_bias", "causal", "pooled"):
        require(m, isinstance(config[key], bool), f"{key} must be true or false, received {config[key]!r}")


def padded_attention_spec(c: Config) -> ModelSpec:
    """ids -> Embedding(mask_zero) -> key-padded self-attention -> mean over the tokens -> Dense.

    The attention and the pooling read the ids as a second edge from the model's input.

    Only the tokens' outputs are comparable (divergence ``key_padding_query_mask``): torch's
    ``key_padding_mask`` masks keys only (torch/nn/functional.py, multi_head_attention_forward), so a
    padded query attends the tokens; the mask Keras' Embedding(mask_zero=True) propagates masks the
    queries too (keras/src/layers/attention/multi_head_attention.py, ``_compute_attention_mask``:
    query_mask [B, T, 1] & value_mask [B, 1, S]), and a padded query's row, every score filled with
    about -1e9 (keras/src/layers/activations/softmax.py), averages every value. The mean over the tokens
    (``global_avg_pool1d`` with ``masked``: Keras' GlobalAveragePooling1D with the propagated mask,
    keras/src/layers/pooling/global_average_pooling1d.py) reads no padded position. With ``pooled=False``
    the model ends at the attention, every query's output, padded ones included: the naive comparison.
    """
    E = c["num_heads"] * c["key_dim"]
    mha = {"num_heads": c["num_heads"], "key_dim": c["key_dim"], "use_bias": c["use_bias"], "causal": c["causal"], "key_padding": True}
    nodes = [
        Node("embedding_0", "embedding", {"input_dim": c["input_dim"], "output_dim": E, "mask_zero": True}, (INPUT,)),  # (B, T, E)
        Node("multi_head_attention_0", "multi_head_attention", mha, ("embedding_0", INPUT)),  # (B, T, E)
    ]
    if c["pooled"]:
        nodes += [
            Node("global_avg_pool1d_0", "global_avg_pool1d", {"masked": True}, ("multi_head_attention_0", INPUT)),  # (B, E)
            Node("dense_0", "dense", {"units": c["num_classes"]}, ("global_avg_pool1d_0",)),  # (B, K)
        ]
    return ModelSpec("padded_attention", tuple(c["input_shape"]), tuple(nodes), input_dtype="int")


CASES.append(
    Case(
        name="padded_attention",
        family="attention",
        description="Padded token ids: Embedding(mask_zero) -> self-attention masking padded keys -> mean over the tokens -> Dense",
        defaults={
            "input_dim": 12,
            "num_heads": 2,
            "key_dim": 4,
            "use_bias": True,
            "causal": False,
            "num_classes": 3,
            "min_tokens": 2,  # the fewest tokens a sequence keeps (the rest of it is padding)
            "pooled": True,  # the mean over the tokens and a Dense; False: every query's attention output
            "input_shape": [6],
            "batch": 4,
        },
        spec=padded_attention_spec,
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=_padded_attention_validate,
        inputs=padded_ids,
    )
)
