"""The report's tables, built from collected data: the summary matrix, noise floors,
divergence cases, per-case summaries, results.csv and parity.md.

``parity.report.writer`` collects; this module only arranges what was collected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from parity.agreement.noise import NoiseRow
from parity.agreement.records import Record
from parity.implementations import DTYPES
from parity.output import records_json
from parity.tolerance import EPS

if TYPE_CHECKING:
    from parity.report.data import CaseRun, ReportData

REFERENCE = "scratch"  # every implementation is compared with it


def frame(records: list[Record]) -> pd.DataFrame:
    return pd.DataFrame(records_json(records))


@dataclass
class Cell:
    """One cell of the summary matrix: a (case, implementation, dtype)."""

    status: str  # "pass", "FAIL", "not installed", "crashed", "-"
    worst_eps: float | None = None
    worst_quantity: str = ""
    ratio: float | None = None  # worst error / tolerance
    noise_ratio: float | None = None  # float32: agreement / larger floor (<= NOISE_FLOOR_MULTIPLE passes)
    detail: str = ""
    allowance: bool = False  # judged against a widened tolerance (parity.tolerance.ALLOWANCES)

    @property
    def text(self) -> str:
        if self.worst_eps is None:
            return self.status
        text = f"{self.status} {_num(self.worst_eps)} eps"
        if self.allowance:
            text += " \u2020"  # a dagger: judged against an allowance (a widened tolerance)
        if self.noise_ratio is not None:
            text += f" ({_num(self.noise_ratio)}x floor)"
        return text


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.2g}" if value < 100 else f"{value:.3g}"


def cells(data: ReportData) -> dict[tuple[str, str, str], Cell]:
    """(case, implementation, dtype) -> Cell, judged on both the fixed tolerance and the noise floor."""
    out: dict[tuple[str, str, str], Cell] = {}
    for case_run in data.cases:
        name = case_run.case.name
        groups: dict[tuple[str, str], list[Record]] = {}
        for r in case_run.records:
            groups.setdefault((r.impl_b, r.dtype), []).append(r)
        for (impl, dtype), group in groups.items():
            if impl == "all":  # the case itself crashed: every cell says so, below
                continue
            if group[0].status != "compared":
                out[(name, impl, dtype)] = Cell(group[0].status, detail=group[0].detail)
                continue
            worst = max(group, key=lambda r: math.inf if r.max_rel_err is None else r.max_rel_err / r.tolerance)
            noise = [n for n in case_run.noise if n.impl_b == impl and dtype == "float32"]
            noise_ratio = max((n.ratio for n in noise if n.ratio is not None), default=None)
            ok = all(r.passed for r in group) and all(n.passed is not False for n in noise)
            detail = ""
            if not all(r.passed for r in group):
                detail = "; ".join(
                    f"{r.quantity}: {r.max_rel_err:.3g} > {r.tolerance:.3g}"
                    for r in group
                    if not r.passed and r.max_rel_err is not None
                )
            elif not ok:
                detail = "float32 agreement beyond the noise floor bound"
            out[(name, impl, dtype)] = Cell(
                "pass" if ok else "FAIL",
                worst.err_in_eps,
                worst.quantity,
                None if worst.max_rel_err is None else worst.max_rel_err / worst.tolerance,
                noise_ratio,
                detail or next((r.detail for r in group if "allowance" in r.detail), ""),
                any("allowance" in r.detail for r in group),
            )
        if case_run.error:
            for impl in data.impls:
                if impl != REFERENCE:
                    for dtype in DTYPES:
                        out[(name, impl, dtype)] = Cell("crashed", detail=case_run.error)
    return out


def matrix_frame(data: ReportData) -> pd.DataFrame:
    """case x (implementation, dtype) -> cell text."""
    table = cells(data)
    columns = [(impl, dtype) for impl in data.impls if impl != REFERENCE for dtype in DTYPES]
    rows = [c.case.name for c in data.cases]
    frame_ = pd.DataFrame(
        [[table[(r, *col)].text if (r, *col) in table else "-" for col in columns] for r in rows],
        index=rows,
        columns=[f"{REFERENCE} vs {impl} {dtype}" for impl, dtype in columns],
    )
    frame_.index.name = "case"
    return frame_


def noise_frame(data: ReportData) -> pd.DataFrame:
    """Per (case, implementation): the float32 quantity closest to its noise bound."""
    from parity.agreement.noise import worst

    rows = []
    for case_run in data.cases:
        by_impl: dict[str, list[NoiseRow]] = {}
        for n in case_run.noise:
            by_impl.setdefault(n.impl_b, []).append(n)
        for impl, group in by_impl.items():
            w = worst(group)
            if w is None:
                continue
            eps = EPS["float32"]
            rows.append(
                {
                    "case": case_run.case.name,
                    "impl": impl,
                    "quantity": w.quantity,
                    f"floor {w.impl_a} (eps)": None if w.floor_a is None else w.floor_a / eps,
                    "floor impl (eps)": None if w.floor_b is None else w.floor_b / eps,
                    "agreement (eps)": None if w.agreement is None else w.agreement / eps,
                    "bound (eps)": None if w.bound is None else w.bound / eps,
                    "x floor": w.ratio,
                    "verdict": "-" if w.passed is None else ("pass" if w.passed else "FAIL"),
                }
            )
    return pd.DataFrame(rows)


def divergence_frame(data: ReportData) -> pd.DataFrame:
    rows = []
    for o in data.divergences:
        d, r = o.divergence, o.result
        rows.append(
            {
                "name": d.name,
                "area": d.area,
                "naive port": f"{d.naive.a.impl} vs {d.naive.b.impl} on {d.case} ({d.dtype})",
                "naive error": None if r is None else r.naive_error,
                "converted error": None if r is None else r.converted_error,
                "naive caught": None if r is None else r.naive_caught,
                "converted passes": None if r is None else r.converted_passes,
                "expected layer": d.layer,
                "inspect points at": o.located if not o.locate_error else "crashed",
                "status": "ok" if o.ok else ("crashed" if o.error else "FAIL"),
            }
        )
    return pd.DataFrame(rows)


def results_frame(data: ReportData) -> pd.DataFrame:
    """results.csv: one row per comparison, whatever produced it (``source`` says what)."""
    rows = []
    noise = {(n.model, n.impl_b, n.quantity): n for n in data.noise}
    for r in data.records:
        row = {**records_json([r])[0], "source": "check", "divergence": ""}
        n = noise.get((r.model, r.impl_b, r.quantity)) if r.dtype == "float32" else None
        row.update(
            noise_floor_a=None if n is None else n.floor_a,
            noise_floor_b=None if n is None else n.floor_b,
            noise_bound=None if n is None else n.bound,
            noise_passed=None if n is None else n.passed,
        )
        rows.append(row)
    for case_run in data.cases:
        for (impl, dtype), layer_rows in case_run.layers.items():
            for lr in layer_rows:
                for kind, err in (("activation", lr.act_err), ("output_grad", lr.grad_err)):
                    if err is None:
                        continue
                    rows.append(
                        {
                            "model": case_run.case.name,
                            "impl_a": REFERENCE,
                            "impl_b": impl,
                            "dtype": dtype,
                            "quantity": f"{kind}:{lr.layer}",
                            "max_rel_err": _finite(err),
                            "err_in_eps": _finite(err / EPS[dtype]),
                            "tolerance": lr.tolerance,
                            "passed": err <= lr.tolerance,
                            "status": "compared",
                            "detail": lr.note,
                            "source": "layer",
                            "divergence": "",
                        }
                    )
    for o in data.divergences:
        if o.result is None:
            rows.append(
                {
                    "model": o.divergence.case,
                    "quantity": "all",
                    "status": "crashed",
                    "passed": False,
                    "detail": o.error,
                    "source": "divergence",
                    "divergence": o.divergence.name,
                }
            )
            continue
        for variant, records in (("naive", o.result.naive), ("converted", o.result.converted)):
            for rec in records_json(records):
                rows.append({**rec, "source": f"divergence:{variant}", "divergence": o.divergence.name})
    if data.trajectories is not None:
        for t in data.trajectories.to_dict("records"):
            rows.append(
                {
                    "model": t.get("model"),
                    "impl_a": REFERENCE,
                    "impl_b": t.get("impl"),
                    "dtype": t.get("dtype"),
                    "quantity": f"trajectory:{t.get('optimizer')}:step={t.get('step')}",
                    "max_rel_err": _finite(t.get("max_rel_err")),
                    "status": "measured",
                    "detail": f"loss={t.get('loss')}",
                    "source": "trajectory",
                    "divergence": "",
                }
            )
    columns = list(Record.__dataclass_fields__) + [
        "step",
        "noise_floor_a",
        "noise_floor_b",
        "noise_bound",
        "noise_passed",
        "source",
        "divergence",
    ]
    df = pd.DataFrame(rows)
    for column in columns:
        if column not in df:
            df[column] = None
    return df[columns]


def _finite(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


# markdown --------------------------------------------------------------------


def markdown(data: ReportData) -> str:
    from parity.tolerance import NOISE_FLOOR_MULTIPLE

    lines = ["# Parity report", ""]
    lines += [
        "Every case on every implementation, compared with `scratch`, in float32 and float64. Cells give the",
        "verdict and the worst error in units of the dtype's machine epsilon; float32 cells also give the",
        f"agreement as a multiple of the larger noise floor (passes up to {NOISE_FLOOR_MULTIPLE:g}x).",
        "",
        f"Generated {data.generated} in {data.elapsed:.0f} s. Overall: {'all agree' if data.passed else 'DISAGREEMENTS (see below)'}.",
        "",
        "## Summary matrix",
        "",
    ]
    lines.append(matrix_frame(data).to_markdown() if data.cases else "(no cases)")
    failures = [r for r in data.records if r.passed is False]
    lines += ["", f"## Failures ({len(failures)})", ""]
    if failures:
        cols = ["model", "impl_b", "dtype", "quantity", "max_rel_err", "tolerance", "status", "detail"]
        lines.append(frame(failures)[cols].to_markdown(index=False))
    else:
        lines.append("None.")
    lines += ["", "## Noise floor (float32)", ""]
    lines += [
        "Each implementation's own rounding noise is its float32 result against its own float64 result. Per case",
        "and implementation, the quantity whose agreement is closest to its bound "
        f"({NOISE_FLOOR_MULTIPLE:g} x the larger floor, parity.tolerance).",
        "",
    ]
    nf = noise_frame(data)
    lines.append(nf.to_markdown(index=False, floatfmt=".3g") if not nf.empty else "(no float32 comparisons)")
    lines += ["", "## Divergence cases", ""]
    df = divergence_frame(data)
    lines.append(df.to_markdown(index=False, floatfmt=".3g") if not df.empty else "(none run)")
    for o in data.divergences:
        lines += ["", f"- **{o.divergence.name}** ({o.divergence.area}): {o.divergence.differs}"]
        if o.error:
            lines.append(f"  crashed: {o.error}")
    lines += ["", "## Cases", ""]
    for case_run in data.cases:
        lines += [f"### {case_run.case.name}", "", case_run.case.description, ""]
        if case_run.error:
            lines += [f"Crashed: {case_run.error}", ""]
            continue
        lines += [f"Configuration: `{case_run.config}`", ""]
        summary = case_summary(case_run)
        if not summary.empty:
            lines += [summary.to_markdown(index=False, floatfmt=".3g"), ""]
    lines += ["## Training trajectories", ""]
    if data.trajectories is not None:
        last = data.trajectories.sort_values("step").groupby(["model", "optimizer", "impl", "dtype"]).tail(1)
        lines.append(last.to_markdown(index=False, floatfmt=".3g"))
    else:
        lines.append(data.trajectories_note or "No training trajectories.")
    lines += ["", "## Environment", ""]
    lines += [f"- {k}: {v}" for k, v in data.environment.items()]
    return "\n".join(lines) + "\n"


def case_summary(case_run: CaseRun) -> pd.DataFrame:
    """One row per (implementation, dtype): worst quantity, error, tolerance, verdict, noise."""
    rows = []
    groups: dict[tuple[str, str], list[Record]] = {}
    for r in case_run.records:
        groups.setdefault((r.impl_b, r.dtype), []).append(r)
    for (impl, dtype), group in groups.items():
        if group[0].status != "compared":
            rows.append(
                {
                    "impl": impl,
                    "dtype": dtype,
                    "worst quantity": "-",
                    "max_rel_err": None,
                    "err (eps)": None,
                    "tolerance": None,
                    "x floor": None,
                    "result": group[0].status,
                }
            )
            continue
        worst = max(group, key=lambda r: math.inf if r.max_rel_err is None else r.max_rel_err / r.tolerance)
        noise = [n.ratio for n in case_run.noise if n.impl_b == impl and dtype == "float32" and n.ratio is not None]
        rows.append(
            {
                "impl": impl,
                "dtype": dtype,
                "worst quantity": worst.quantity,
                "max_rel_err": worst.max_rel_err,
                "err (eps)": worst.err_in_eps,
                "tolerance": worst.tolerance,
                "x floor": max(noise) if noise else None,
                "result": "pass" if all(r.passed for r in group) else "FAIL",
            }
        )
    return pd.DataFrame(rows)
