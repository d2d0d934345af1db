"""Canonical weights: drawn per case and seed, or loaded from a file, always checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from parity.case import Case, CaseError, Config
from parity.convert.base import ConversionError


def canonical_weights(case: Case, config: Config, seed: int) -> dict[str, np.ndarray]:
    """The scratch model's default initialisation, with its constant parts made random.

    A zero bias or a unit scale would hide a dropped or misplaced parameter, so every
    array that the initialiser fills with constants (at most two distinct values: a
    zero bias, BatchNorm's ones, an LSTM bias with ones in its forget block) is
    perturbed entry by entry: additively where it is 0, multiplicatively (keeping the
    sign, so a variance stays positive) elsewhere.
    """
    rng = case.rng(seed, "weights")
    model = case.build("scratch", config)
    model.init(rng, np.float64)
    return vary_constants(model.weights(), rng)


def vary_constants(weights: dict[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Each array holding at most two distinct values perturbed entry by entry: additively where it
    is 0, multiplicatively (keeping the sign, so a variance stays positive) elsewhere."""
    varied = {}
    for name, W in weights.items():
        W = np.array(W, dtype=np.float64)
        if W.size and at_most_two_values(W):
            noise = rng.standard_normal(W.shape)
            W = np.where(W == 0, 0.5 * noise, W * np.exp(0.2 * noise))
        varied[name] = W
    return varied


def at_most_two_values(W: np.ndarray, prefix: int = 64) -> bool:
    """``len(np.unique(W)) <= 2``, without sorting a drawn array: one with three values among its first
    ``prefix`` entries has three in all. (ConvNeXtXLarge's 348M weights: sorting each array took 51 s of
    the zoo's 676 s for it, sampled with a profiler.)"""
    flat = W.ravel()
    return len(np.unique(flat[:prefix])) <= 2 and len(np.unique(flat)) <= 2


def check_weights(model_name: str, scratch_model, weights: dict[str, np.ndarray]) -> None:
    """Names and shapes must match the model exactly; the error names layer, parameter and shapes."""
    scratch_model.init(np.random.default_rng(0), np.float64)  # only the names and shapes are used
    expected = scratch_model.weights()
    missing = sorted(set(expected) - set(weights))
    unknown = sorted(set(weights) - set(expected))
    if missing or unknown:
        raise CaseError(
            f"model {model_name!r}: weights missing {missing or 'none'}, unexpected {unknown or 'none'}; expected {sorted(expected)}"
        )
    for name, value in weights.items():
        layer, param = name.split(".", 1)
        if np.shape(value) != expected[name].shape:
            raise ConversionError(layer, param, expected[name].shape, np.shape(value), model=model_name)
        if not np.all(np.isfinite(value)):
            raise CaseError(f"model {model_name!r}, layer {layer!r}, parameter {param!r}: contains NaN or infinity")


def load_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Canonical weights saved with ``np.savez(path, **{"dense_0.W": ..., ...})``."""
    try:
        with np.load(path) as data:
            return {k: np.asarray(data[k], dtype=np.float64) for k in data.files}
    except (OSError, ValueError) as error:
        raise CaseError(f"cannot read weights from {path}: {error}") from None
