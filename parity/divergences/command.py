"""`parity divergences`: every registered divergence case, naive caught and converted passing.

For each case: its area, what differs, the worst error of the naive port and of the
converted port, whether the naive port is caught and the converted one passes, and
where ``parity inspect --divergence`` locates the naive difference (which must be the
case's own ``layer``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from parity.divergences.base import Divergence, DivergenceResult, run_divergence
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
    from parity.inspect import inspect_divergence

    try:
        outcome = DivergenceOutcome(d, run_divergence(d, seed))
    except Exception as error:  # noqa: BLE001
        return DivergenceOutcome(d, None, error=f"{type(error).__name__}: {error}")
    if locate:
        try:
            inspection = inspect_divergence(d, seed)
            outcome.located = inspection.first_divergence
            if inspection.records:
                outcome.repeat_error = DivergenceResult._worst(inspection.records)
        except Exception as error:  # noqa: BLE001
            outcome.locate_error = f"{type(error).__name__}: {error}"
    return outcome


def evaluate_all(divergences: list[Divergence], seed: int = 0, locate: bool = True) -> list[DivergenceOutcome]:
    return [evaluate(d, seed, locate) for d in divergences]


def table(outcomes: list[DivergenceOutcome]):
    """One row per case; what differs is printed below it (``differences``), too long for a cell."""
    from rich.table import Table

    t = Table(title="divergence cases")
    for column in (
        "name",
        "area",
        "naive port",
        "naive error",
        "converted error",
        "naive caught",
        "converted passes",
        "inspect points at",
    ):
        t.add_column(column, justify="right" if "error" in column else "left", no_wrap=column == "name")
    for o in outcomes:
        d, r = o.divergence, o.result
        sides = f"{d.naive.a.impl} vs {d.naive.b.impl}, {d.case} {d.dtype}"
        if r is None:
            t.add_row(d.name, d.area, sides, "-", "-", "[red]crashed[/]", "[red]crashed[/]", "-")
            continue
        if o.locate_error:
            where = "[red]crashed[/]"
        else:
            where = f"{o.located}" + (" [green](expected)[/]" if o.located_ok else f" [red](expected {d.layer})[/]")
        t.add_row(
            d.name,
            d.area,
            sides,
            f"{r.naive_error:.3g}",
            f"{r.converted_error:.3g}",
            "[green]yes[/]" if r.naive_caught else "[red]no[/]",
            "[green]yes[/]" if r.converted_passes else "[red]no[/]",
            where,
        )
    return t


def differences(outcomes: list[DivergenceOutcome]) -> list[str]:
    """What differs, one paragraph per case (and why a case crashed)."""
    lines = []
    for o in outcomes:
        lines.append(f"[bold]{o.divergence.name}[/] ({o.divergence.area}): {o.divergence.differs}")
        for error in (o.error, o.locate_error):
            if error:
                lines.append(f"  [red]crashed[/]: {error}")
    return lines


def cmd_divergences(args) -> int:
    from rich.progress import Progress

    from parity.divergences import select
    from parity.output import console, write_atomic

    divergences = select(args.names)
    outcomes = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("divergences", total=len(divergences))
        for d in divergences:
            progress.update(task, description=f"running {d.name}")
            outcomes.append(evaluate(d, getattr(args, "seed", 0)))
            progress.advance(task)
    console.print(table(outcomes))
    for line in differences(outcomes):
        console.print(line, highlight=False)
    bad = [o for o in outcomes if not o.ok]
    console.print(f"{len(outcomes) - len(bad)} of {len(outcomes)} divergence cases: naive caught and converted passing")
    if args.json:
        write_atomic(args.json, json.dumps([o.as_dict() for o in outcomes], indent=1) + "\n")
    return 1 if bad else 0
