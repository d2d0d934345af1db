"""What ``parity report`` collects before it writes anything: per case, per divergence, per trajectory."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from parity.agreement.layerwise import LayerRow
from parity.agreement.noise import NoiseRow
from parity.agreement.records import Record
from parity.case import Case


@dataclass
class CaseRun:
    """One case: its records against scratch, per-layer errors and noise floors."""

    case: Case
    config: dict = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)
    layers: dict[tuple[str, str], list[LayerRow]] = field(default_factory=dict)  # (impl, dtype) -> rows
    noise: list[NoiseRow] = field(default_factory=list)
    error: str = ""  # the case itself could not be set up


@dataclass
class ReportData:
    impls: list[str]
    cases: list[CaseRun]
    divergences: list = field(default_factory=list)  # DivergenceOutcome
    all_divergences: bool = False  # every registered divergence ran (the guide may be written)
    trajectories: pd.DataFrame | None = None
    trajectories_note: str = ""
    environment: dict[str, str] = field(default_factory=dict)
    elapsed: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)  # wall-clock seconds per phase (they overlap)
    generated: str = ""
    # PNGs drawn while the workers were still computing ("noise", "divergences", "trajectories",
    # "case:NAME"); ``parity.report.html.html_page`` draws whatever is missing.
    plots: dict[str, str | None] = field(default_factory=dict)

    @property
    def records(self) -> list[Record]:
        return [r for c in self.cases for r in c.records]

    @property
    def noise(self) -> list[NoiseRow]:
        return [n for c in self.cases for n in c.noise]

    @property
    def passed(self) -> bool:
        return (
            all(r.passed is not False for r in self.records)
            and all(n.passed is not False for n in self.noise)
            and all(o.ok for o in self.divergences)
        )
