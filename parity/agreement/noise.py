"""Noise floor: judge float32 agreement against each implementation's own rounding noise.

An implementation's floor for a quantity is its float32 result measured against its
own float64 result (the same code, the same weights and inputs)::

    floor_X(q)  = max_rel_err(X64(q), X32(q))          # X's own float32 rounding noise
    agree(q)    = max_rel_err(A32(q), B32(q))          # what the float32 check measures
    bound(q)    = NOISE_FLOOR_MULTIPLE * max(floor_A(q), floor_B(q), 1 eps)
    passed(q)   = agree(q) <= bound(q)

A fixed tolerance in eps says "close enough for float32 in general"; the floor says
"as close as these two implementations can be, given how much each rounds on this
very computation". The reason for the multiple is beside it in ``parity.tolerance``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from parity.agreement.records import Record, compare_runs
from parity.runners.base import RunResult
from parity.tolerance import EPS, NOISE_FLOOR_MULTIPLE, noise_bound, relative_error

EPS32 = EPS["float32"]


@dataclass
class NoiseRow:
    """One quantity of one float32 comparison, beside the floors of its two implementations."""

    model: str
    impl_a: str
    impl_b: str
    quantity: str
    floor_a: float | None  # max_rel_err of impl_a's float32 result against its float64 result
    floor_b: float | None
    agreement: float | None  # max_rel_err of impl_b's float32 result against impl_a's
    bound: float | None  # NOISE_FLOOR_MULTIPLE * the larger floor
    passed: bool | None

    @property
    def ratio(self) -> float | None:
        """Agreement as a multiple of the larger floor (<= NOISE_FLOOR_MULTIPLE passes)."""
        if self.agreement is None or self.bound is None:
            return None
        return self.agreement / (self.bound / NOISE_FLOOR_MULTIPLE)

    def as_dict(self) -> dict:
        out = asdict(self)
        for key in ("floor_a", "floor_b", "agreement", "bound"):
            out[f"{key}_in_eps"] = None if out[key] is None else out[key] / EPS32
        out["ratio"] = self.ratio
        return out


def floors(model: str, r64: RunResult, r32: RunResult) -> dict[str, float | None]:
    """Per quantity: the implementation's float32 result against its own float64 result."""
    return {r.quantity: r.max_rel_err for r in compare_runs(model, "float32", r64, r32)}


def noise_rows(model: str, runs: dict[str, dict[str, RunResult]], agreement: list[Record]) -> list[NoiseRow]:
    """Floor and agreement side by side for every float32 record of ``agreement``.

    ``runs[impl][dtype]`` holds each implementation's result in "float32" and "float64";
    a record whose implementations lack either dtype gets no floor (and no verdict).
    """
    floor_of: dict[str, dict[str, float | None]] = {}
    for impl, by_dtype in runs.items():
        if "float32" in by_dtype and "float64" in by_dtype:
            floor_of[impl] = floors(model, by_dtype["float64"], by_dtype["float32"])
    rows = []
    for record in agreement:
        if record.dtype != "float32" or record.status != "compared":
            continue
        fa = floor_of.get(record.impl_a, {}).get(record.quantity)
        fb = floor_of.get(record.impl_b, {}).get(record.quantity)
        if fa is None or fb is None or record.max_rel_err is None:
            rows.append(
                NoiseRow(model, record.impl_a, record.impl_b, record.quantity, fa, fb, record.max_rel_err, None, None)
            )
            continue
        bound = noise_bound(fa, fb)
        rows.append(
            NoiseRow(
                model,
                record.impl_a,
                record.impl_b,
                record.quantity,
                fa,
                fb,
                record.max_rel_err,
                bound,
                record.max_rel_err <= bound,
            )
        )
    return rows


def layer_floors(r64: RunResult, r32: RunResult) -> dict[str, tuple[float, float | None]]:
    """Per traced layer: (activation floor, gradient floor) of one implementation; and for
    "loss": (loss value floor, worst floor of the loss's parameter gradients)."""
    by_name = {t.name: t for t in r64.trace}
    out: dict[str, tuple[float, float | None]] = {}
    for t32 in r32.trace:
        t64 = by_name.get(t32.name)
        if t64 is not None:
            out[t32.name] = (relative_error(t64.output, t32.output), relative_error(t64.grad, t32.grad))
    shared = [k for k in r64.loss_grads if k in r32.loss_grads]
    loss_grad = max((relative_error(r64.loss_grads[k], r32.loss_grads[k]) for k in shared), default=None)
    out["loss"] = (relative_error(r64.loss, r32.loss), loss_grad)
    return out


def worst(rows: list[NoiseRow]) -> NoiseRow | None:
    """The row closest to (or furthest beyond) its bound; rows without a verdict come last."""
    judged = [r for r in rows if r.ratio is not None]
    if not judged:
        return rows[0] if rows else None
    return max(judged, key=lambda r: r.ratio)
