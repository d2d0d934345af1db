"""Cases of the tensor_ops family: one raw tensor operation each, on (T, F) sequences.

``matmul`` reads two tensors, so its case is a small graph: the input and its own transpose
(X @ X^T over the last two axes). ``masked_fill`` fills with -inf the entries above the diagonal
and a softmax follows, as in causal attention: the case shows the gradients stay exact.
"""

from __future__ import annotations

import numpy as np

from parity.case import Case, Config, require
from parity.spec.model import INPUT, ModelSpec, Node, stack

CASES: list[Case] = []


def _normal_targets(rng: np.random.Generator, config: Config, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _sizes(model: str, config: Config) -> tuple[int, ...]:
    shape = config["input_shape"]
    ok = isinstance(shape, list) and len(shape) >= 2 and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    require(model, ok, f"input_shape must be [T, F] (or more axes) of positive integers, received {shape!r}")
    return tuple(shape)


def _case(name: str, description: str, defaults: Config, spec, validate) -> Case:
    return Case(
        name=name,
        family="tensor_ops",
        description=description,
        defaults={**defaults, "batch": 2},
        spec=spec,
        loss="mean_squared_error",
        targets=_normal_targets,
        validate=validate,
    )


# scale ---------------------------------------------------------------------------------------------


def _scale_validate(config: Config) -> None:
    _sizes("scale", config)
    factor = config["factor"]
    number = isinstance(factor, (int, float)) and not isinstance(factor, bool) and np.isfinite(factor)
    require("scale", number, f"factor must be a finite number, received {factor!r}")
    require("scale", isinstance(config["divide"], bool), f"divide must be true or false, received {config['divide']!r}")
    require("scale", not (config["divide"] and factor == 0), "divide=true with factor 0")


CASES.append(
    _case(
        "scale",
        "One scale: Z = X / c (x / math.sqrt(d)), or X * c",
        {"factor": 2.0, "divide": True, "input_shape": [4, 6]},
        lambda c: stack("scale", c["input_shape"], [("scale", {"factor": float(c["factor"]), "divide": c["divide"]})]),
        _scale_validate,
    )
)


# matmul ----------------------------------------------------------------------------------------------


def _matmul_spec(config: Config) -> ModelSpec:
    rank = len(config["input_shape"])
    dims = [*range(1, rank - 1), rank, rank - 1]  # the last two axes swapped
    return ModelSpec(
        "matmul",
        tuple(config["input_shape"]),
        (
            Node("permute_0", "permute", {"dims": dims}, (INPUT,)),
            Node("matmul_0", "matmul", {}, (INPUT, "permute_0")),
        ),
    )


CASES.append(
    _case(
        "matmul",
        "One matmul: Z = X @ X^T over the last two axes (batched over the others), as q @ k.transpose(-2, -1)",
        {"input_shape": [2, 4, 3]},
        _matmul_spec,
        lambda c: _sizes("matmul", c),
    )
)


# reshape and permute ----------------------------------------------------------------------------------


def _reshape_validate(config: Config) -> None:
    shape = _sizes("reshape", config)
    target = config["target_shape"]
    ok = isinstance(target, list) and target and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in target)
    require("reshape", ok, f"target_shape must be a list of positive integers, received {target!r}")
    require(
        "reshape",
        int(np.prod(target)) == int(np.prod(shape)),
        f"target_shape {target} holds {int(np.prod(target))} numbers, input_shape {list(shape)} holds {int(np.prod(shape))}",
    )


CASES.append(
    _case(
        "reshape",
        "One reshape: Z = X.reshape(B, *target_shape), as x.view(B, T, H, D)",
        {"input_shape": [4, 6], "target_shape": [4, 2, 3]},
        lambda c: stack("reshape", c["input_shape"], [("reshape", {"target_shape": list(c["target_shape"])})]),
        _reshape_validate,
    )
)


def _permute_validate(config: Config) -> None:
    shape = _sizes("permute", config)
    dims = config["dims"]
    ok = isinstance(dims, list) and sorted(dims) == list(range(1, len(shape) + 1))
    require("permute", ok, f"dims must be a permutation of 1..{len(shape)} (the batch is axis 0), received {dims!r}")


CASES.append(
    _case(
        "permute",
        "One permute: Z = X.permute(0, *dims), as x.transpose(1, 2) on (B, T, H, D)",
        {"input_shape": [4, 2, 3], "dims": [2, 1, 3]},
        lambda c: stack("permute", c["input_shape"], [("permute", {"dims": list(c["dims"])})]),
        _permute_validate,
    )
)


# slice -------------------------------------------------------------------------------------------


def _slice_validate(config: Config) -> None:
    shape = _sizes("slice", config)
    start, stop = config["start"], config["stop"]
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop))
    require("slice", ints and 0 <= start < stop <= shape[-1], f"need 0 <= start < stop <= {shape[-1]}, received start={start!r}, stop={stop!r}")


CASES.append(
    _case(
        "slice",
        "One slice: Z = X[..., start:stop], a piece of x.chunk(3, dim=-1)",
        {"input_shape": [4, 9], "start": 3, "stop": 6},
        lambda c: stack("slice", c["input_shape"], [("slice", {"start": c["start"], "stop": c["stop"]})]),
        _slice_validate,
    )
)


# masked_fill --------------------------------------------------------------------------------------


def causal_mask(T: int, k: int = 1) -> list[list[bool]]:
    """torch.ones(T, T).triu(k) as booleans: True above the diagonal (a step may not see the future)."""
    return np.triu(np.ones((T, T), dtype=bool), k).tolist()


def _masked_fill_validate(config: Config) -> None:
    shape = _sizes("masked_fill", config)
    require("masked_fill", shape[-1] == shape[-2], f"input_shape must end (T, T) scores, received {list(shape)}")
    require("masked_fill", isinstance(config["diagonal"], int) and config["diagonal"] >= 1, f"diagonal must be an integer >= 1 (row 0 keeps an entry), received {config['diagonal']!r}")


def _masked_fill_spec(config: Config) -> ModelSpec:
    T = config["input_shape"][-1]
    layers = [("masked_fill", {"mask": causal_mask(T, config["diagonal"]), "value": float("-inf")}), ("softmax", {})]
    return stack("masked_fill", config["input_shape"], layers)


CASES.append(
    _case(
        "masked_fill",
        "One causal masked_fill with -inf, then a softmax: scores.masked_fill(triu(ones, 1), -inf).softmax(-1)",
        {"input_shape": [2, 4, 4], "diagonal": 1},
        _masked_fill_spec,
        _masked_fill_validate,
    )
)


# add_table ---------------------------------------------------------------------------------------


CASES.append(
    _case(
        "add_table",
        "One learned table added to every sample: Z = X + W (x + self.pos, a position table)",
        {"input_shape": [4, 6], "batch_axis": True},
        lambda c: stack("add_table", c["input_shape"], [("add_table", {"shape": list(c["input_shape"]), "batch_axis": c["batch_axis"]})]),
        lambda c: (_sizes("add_table", c), require("add_table", isinstance(c["batch_axis"], bool), f"batch_axis must be true or false, received {c['batch_axis']!r}")),
    )
)
