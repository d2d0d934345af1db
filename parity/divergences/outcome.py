"""A divergence case, run: naive caught and converted passing, and where its naive port parts.

``evaluate`` runs both variants and then locates the naive difference layer by layer
(``parity.divergences.inspection``), which must be the case's own ``layer``. Used by
``parity divergences``, the report and the migration guide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from parity.divergences.base import Divergence, DivergenceResult, run_divergence
from parity.divergences.inspection import inspect_divergence
from parity.inspect import Inspection
from parity.output import records_json


@dataclass
class DivergenceOutcome:
    """One divergence case, run: its result, where inspect locates it, or why it crashed."""

    divergence: Divergence
    result: DivergenceResult | None
    located: str | None = None  # inspect's first divergence of the naive port
    error: str = ""  # a crash of the case itself (the result is then None)
    locate_error: str = ""
    repeat_error: float | None = None  # the naive port's worst error in inspect's second, traced run
    inspection: Inspection | None = None  # inspect's layer-by-layer rows of the naive port, when it ran

    @property
    def reproducible(self) -> bool | None:
        """Whether the naive port measured the same twice (False: it draws random numbers,
        dropout masks say); None when it ran once."""
        if self.result is None or self.repeat_error is None:
            return None
        first, second = self.result.naive_error, self.repeat_error
        return first == second or math.isclose(first, second, rel_tol=1e-6)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok

    @property
    def located_ok(self) -> bool:
        return self.located == self.divergence.layer

    def as_dict(self) -> dict:
        d, r = self.divergence, self.result
        return {
            "name": d.name,
            "area": d.area,
            "case": d.case,
            "dtype": d.dtype,
            "differs": d.differs,
            "rule": d.rule,
            "converter": d.converter,
            "layer": d.layer,
            "located_layer": self.located,
            "naive_sides": [d.naive.a.impl, d.naive.b.impl],
            "converted_sides": [d.converted.a.impl, d.converted.b.impl],
            "naive_error": _clean(r.naive_error) if r else None,
            "converted_error": _clean(r.converted_error) if r else None,
            "naive_caught": r.naive_caught if r else None,
            "converted_passes": r.converted_passes if r else None,
            "ok": self.ok,
            "error": self.error,
            "locate_error": self.locate_error,
            "reproducible": self.reproducible,
            "naive": records_json(r.naive) if r else [],
            "converted": records_json(r.converted) if r else [],
        }


def _clean(value: float) -> float | None:
    return value if math.isfinite(value) else None


def evaluate(d: Divergence, seed: int = 0, locate: bool = True) -> DivergenceOutcome:
    """Run both variants; a crash is recorded, never raised (one broken case must not hide the others)."""
    try:
        outcome = DivergenceOutcome(d, run_divergence(d, seed))
    except Exception as error:  # noqa: BLE001
        return DivergenceOutcome(d, None, error=f"{type(error).__name__}: {error}")
    if locate:
        try:
            outcome.inspection = inspection = inspect_divergence(d, seed)
            outcome.located = inspection.first_divergence
            if inspection.records:
                outcome.repeat_error = DivergenceResult._worst(inspection.records)
        except Exception as error:  # noqa: BLE001
            outcome.locate_error = f"{type(error).__name__}: {error}"
    return outcome


def evaluate_all(divergences: list[Divergence], seed: int = 0, locate: bool = True) -> list[DivergenceOutcome]:
    return [evaluate(d, seed, locate) for d in divergences]
