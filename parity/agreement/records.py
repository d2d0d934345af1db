"""Comparison of two runs: one record per quantity, the same record everywhere (DESIGN.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from parity.runners.base import RunResult
from parity.tolerance import EPS, errors, relative_error, tolerance


@dataclass
class Record:
    model: str
    impl_a: str
    impl_b: str
    dtype: str
    quantity: str
    max_abs_err: float | None
    max_rel_err: float | None
    err_in_eps: float | None
    tolerance: float | None
    passed: bool | None
    status: str = "compared"  # or "not installed", "crashed"
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


def compare_arrays(model: str, impl_a: str, impl_b: str, dtype: str, quantity: str, a, b, tol: float | None = None) -> Record:
    """Compare ``b`` against the reference ``a``."""
    tol = tolerance(dtype) if tol is None else tol
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return Record(model, impl_a, impl_b, dtype, quantity, None, None, None, tol, False, detail=f"shape {a.shape} vs {b.shape}")
    abs_err, rel = errors(a, b)  # -inf == -inf: no error; a NaN: inf
    return Record(model, impl_a, impl_b, dtype, quantity, abs_err, rel, rel / EPS[dtype], tol, bool(rel <= tol))


def compare_runs(model: str, dtype: str, a: RunResult, b: RunResult, tol: float | None = None) -> list[Record]:
    """Every quantity the two runs share: output, loss, gradients, loss gradients, weights."""

    def rec(quantity, x, y):
        return compare_arrays(model, a.impl, b.impl, dtype, quantity, x, y, tol)

    records = [rec("output", a.output, b.output), rec("loss", a.loss, b.loss)]
    for prefix, da, db in (("grad", a.grads, b.grads), ("loss_grad", a.loss_grads, b.loss_grads), ("weight", a.weights, b.weights)):
        for name in da:
            if name not in db:
                records.append(Record(model, a.impl, b.impl, dtype, f"{prefix}:{name}", None, None, None, tol, False, detail=f"{b.impl} has no {name}"))
            else:
                records.append(rec(f"{prefix}:{name}", da[name], db[name]))
    if b.computed_dtype != dtype:
        for r in records:
            r.detail = (r.detail + "; " if r.detail else "") + f"{b.impl} computed in {b.computed_dtype}, not {dtype}"
    return records


def first_divergence(a: RunResult, b: RunResult, dtype: str, tol: float | None = None) -> str | None:
    """The first layer (in forward order) whose output differs beyond tolerance; None if none does."""
    tol = tolerance(dtype) if tol is None else tol
    for ta, tb in zip(a.trace, b.trace):
        if relative_error(ta.output, tb.output) > tol:
            return ta.name
    return None
