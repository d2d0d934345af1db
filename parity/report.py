"""`parity report`: every case on every implementation, in both dtypes, plus the divergence cases.

Writes into ``--out`` (``reports/`` by default)::

    index.html    self-contained page: summary matrix, noise floors, divergences, plots, per-case sections
    parity.md     the same data as Markdown tables
    results.csv   one row per comparison (cases, layers, divergence cases, trajectories)
    MIGRATION.md  the migration guide (only when every case and divergence ran; see parity.migration)

Each implementation runs in its own thread (one lane per implementation, each Keras
lane talking to its own worker process), so the Keras workers overlap with each other
and with torch. Everything is computed before anything is written, and every file is
replaced atomically: an interrupted run leaves the previous report whole. A missing
implementation is reported as "not installed", a crashing one (or case) as "crashed",
and the rest of the report is still written.
"""

from __future__ import annotations

import math
import platform
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from parity import DTYPES
from parity.case import Case, all_cases
from parity.check import make_request
from parity.compare import Record, compare_runs
from parity.inspect import LayerRow, compare_layers
from parity.noise import NoiseRow, noise_rows
from parity.output import console, records_json, summary_table, write_atomic
from parity.runners.base import RunRequest, RunResult, run
from parity.runners.pool import ImplementationUnavailable, WorkerCrashed
from parity.tolerance import EPS, tolerance_for

REFERENCE = "scratch"


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
    generated: str = ""

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


# running ---------------------------------------------------------------------


class Lanes:
    """One thread per implementation, each running every request in order.

    A Keras worker is a single pipe, so only its own lane talks to it. A failure is
    kept as the result (never raised in the thread); ``stop`` ends the lanes after
    their current run (a Ctrl-C in the main thread).
    """

    def __init__(self, impls: list[str], requests: list[tuple[str, str, RunRequest]], step=None) -> None:
        self.results: dict[tuple[str, str, str], RunResult | BaseException] = {}
        self.stop = threading.Event()
        self.step = step
        self.threads = [threading.Thread(target=self._lane, args=(impl, requests), daemon=True, name=f"lane-{impl}") for impl in impls]

    def _lane(self, impl: str, requests) -> None:
        for model, dtype, request in requests:
            if self.stop.is_set():
                return
            try:
                self.results[(model, dtype, impl)] = run(impl, request)
            except Exception as error:  # noqa: BLE001  reported per (case, dtype, implementation)
                self.results[(model, dtype, impl)] = error
            if self.step is not None:
                self.step()

    def run(self) -> dict:
        for t in self.threads:
            t.start()
        try:
            for t in self.threads:
                while t.is_alive():
                    t.join(timeout=0.2)  # short joins keep Ctrl-C responsive
        except BaseException:
            self.stop.set()
            raise
        return self.results


def _failure_record(model: str, impl: str, dtype: str, error: BaseException) -> Record:
    if isinstance(error, ImplementationUnavailable):
        return Record(model, REFERENCE, impl, dtype, "all", None, None, None, None, None, "not installed", str(error))
    text = str(error) if isinstance(error, WorkerCrashed) else f"{type(error).__name__}: {error}"
    return Record(model, REFERENCE, impl, dtype, "all", None, None, None, None, False, "crashed", text)


def collect_cases(impls: list[str], seed: int, models: list[str] | None, progress: Progress) -> list[CaseRun]:
    """Run every case on every implementation in both dtypes, with traces, and compare with scratch."""
    cases = [c for c in all_cases().values() if models is None or c.name in models]
    others = [i for i in impls if i != REFERENCE]
    runs: list[CaseRun] = []
    requests: list[tuple[str, str, RunRequest]] = []
    for case in cases:
        case_run = CaseRun(case)
        runs.append(case_run)
        try:
            case_run.config = case.configure(None)
            for dtype in DTYPES:
                requests.append((case.name, dtype, make_request(case, case_run.config, dtype, seed, trace=True)))
        except Exception as error:  # noqa: BLE001  one broken case must not lose the others
            case_run.error = f"{type(error).__name__}: {error}"
            case_run.records.append(Record(case.name, REFERENCE, "all", "-", "all", None, None, None, None, False, "crashed", case_run.error))
    requests = [r for r in requests if not next(c for c in runs if c.case.name == r[0]).error]

    task = progress.add_task("running cases", total=len(requests) * (len(others) + 1))
    results = Lanes([REFERENCE, *others], requests, step=lambda: progress.advance(task)).run()

    for case_run in runs:
        if case_run.error:
            continue
        name = case_run.case.name
        by_impl: dict[str, dict[str, RunResult]] = {}
        for dtype in DTYPES:
            reference = results.get((name, dtype, REFERENCE))
            if not isinstance(reference, RunResult):
                error = reference if reference is not None else RuntimeError("not run")
                # Without the reference nothing is compared: every implementation's cell says why.
                for impl in others or [REFERENCE]:
                    record = _failure_record(name, impl, dtype, error)
                    record.status, record.passed, record.detail = "crashed", False, f"the scratch reference failed: {record.detail}"
                    case_run.records.append(record)
                continue
            by_impl.setdefault(REFERENCE, {})[dtype] = reference
            for impl in others:
                result = results.get((name, dtype, impl))
                if not isinstance(result, RunResult):
                    case_run.records.append(_failure_record(name, impl, dtype, result if result is not None else RuntimeError("not run")))
                    continue
                by_impl.setdefault(impl, {})[dtype] = result
                tol, reason = tolerance_for(name, case_run.config, impl, dtype)
                compared = compare_runs(name, dtype, reference, result, tol)
                for record in compared:
                    record.detail = "; ".join(filter(None, [record.detail, reason]))
                case_run.records.extend(compared)
                try:
                    case_run.layers[(impl, dtype)] = compare_layers(reference, result, dtype, tol)[0]
                except Exception:  # noqa: BLE001  a trace that cannot be compared loses the plot, not the case
                    case_run.layers[(impl, dtype)] = []
        case_run.noise = noise_rows(name, by_impl, case_run.records)
    return runs


def collect_divergences(models: list[str] | None, seed: int, progress: Progress) -> tuple[list, bool]:
    from parity.divergences.command import evaluate, select

    selected = [d for d in select() if models is None or d.case in models]
    task = progress.add_task("divergence cases", total=len(selected))
    outcomes = []
    for d in selected:
        progress.update(task, description=f"divergence {d.name}")
        outcomes.append(evaluate(d, seed))
        progress.advance(task)
    return outcomes, models is None


def collect_trajectories(models: list[str] | None) -> tuple[pd.DataFrame | None, str]:
    """``parity.train.report_trajectories()`` if that exists; nothing (quietly) if it does not yet."""
    try:
        import parity.train as train
    except ModuleNotFoundError as error:
        if error.name == "parity.train":
            return None, ""
        return None, f"parity.train could not be imported: {error}"
    except Exception as error:  # noqa: BLE001
        return None, f"parity.train could not be imported: {type(error).__name__}: {error}"
    function = getattr(train, "report_trajectories", None)
    if function is None:
        return None, ""
    try:
        df = function()
    except Exception as error:  # noqa: BLE001  the trajectories are one section, not the report
        return None, f"training trajectories crashed: {type(error).__name__}: {error}"
    if df is None or len(df) == 0:
        return None, ""
    if models is not None and "model" in df:
        df = df[df["model"].isin(models)]
    return df.reset_index(drop=True), ""


def collect(impls: list[str], seed: int, models: list[str] | None, divergences: bool, progress: Progress) -> ReportData:
    start = time.perf_counter()
    cases = collect_cases(impls, seed, models, progress)
    data = ReportData(impls=list(impls), cases=cases)
    if divergences:
        data.divergences, data.all_divergences = collect_divergences(models, seed, progress)
    task = progress.add_task("training trajectories", total=1)
    data.trajectories, data.trajectories_note = collect_trajectories(models)
    progress.advance(task)
    data.environment = environment()
    data.elapsed = time.perf_counter() - start
    data.generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return data


# environment -----------------------------------------------------------------


def environment() -> dict[str, str]:
    """Versions, BLAS and CPU: what the numbers depend on."""
    import importlib.metadata as md
    import os

    env = {"python": f"{platform.python_version()} ({platform.python_implementation()})", "platform": platform.platform()}
    for label, dists in (
        ("numpy", ["numpy"]),
        ("torch", ["torch"]),
        ("keras", ["keras"]),
        ("jax", ["jax"]),
        ("jaxlib", ["jaxlib"]),
        ("tensorflow", ["tensorflow-cpu", "tensorflow"]),
        ("pandas", ["pandas"]),
        ("matplotlib", ["matplotlib"]),
    ):
        env[label] = "not installed"
        for dist in dists:
            try:
                env[label] = f"{md.version(dist)}" + ("" if dist == label else f" ({dist})")
                break
            except md.PackageNotFoundError:
                continue
    env["keras backends"] = "torch, jax, tensorflow: one worker process each, float64 kept (parity.runners.worker)"
    env["numpy BLAS"] = _numpy_blas()
    env["threadpools"] = _threadpools()
    env["torch BLAS"] = _torch_blas()
    env["cpu"] = _cpu()
    env["cpu count"] = str(os.cpu_count())
    return env


def _numpy_blas() -> str:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return " ".join(filter(None, [blas.get("name"), blas.get("version")])) or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def _threadpools() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = [f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('num_threads')} threads)".replace("  ", " ") for p in threadpool_info()]
    return "; ".join(sorted(set(pools))) or "none loaded"


def _torch_blas() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line:
            parts = [p.strip() for p in line.split(",") if "BLAS_INFO" in p or "LAPACK_INFO" in p]
            return ", ".join(parts)
    return "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# tables ----------------------------------------------------------------------


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

    @property
    def text(self) -> str:
        if self.worst_eps is None:
            return self.status
        text = f"{self.status} {_num(self.worst_eps)} eps"
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
                detail = "; ".join(f"{r.quantity}: {r.max_rel_err:.3g} > {r.tolerance:.3g}" for r in group if not r.passed and r.max_rel_err is not None)
            elif not ok:
                detail = "float32 agreement beyond the noise floor bound"
            out[(name, impl, dtype)] = Cell(
                "pass" if ok else "FAIL",
                worst.err_in_eps,
                worst.quantity,
                None if worst.max_rel_err is None else worst.max_rel_err / worst.tolerance,
                noise_ratio,
                detail,
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
    from parity.noise import worst

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
                            "model": case_run.case.name, "impl_a": REFERENCE, "impl_b": impl, "dtype": dtype,
                            "quantity": f"{kind}:{lr.layer}", "max_rel_err": _finite(err), "err_in_eps": _finite(err / EPS[dtype]),
                            "tolerance": lr.tolerance, "passed": err <= lr.tolerance, "status": "compared", "detail": lr.note,
                            "source": "layer", "divergence": "",
                        }
                    )
    for o in data.divergences:
        if o.result is None:
            rows.append({"model": o.divergence.case, "quantity": "all", "status": "crashed", "passed": False, "detail": o.error, "source": "divergence", "divergence": o.divergence.name})
            continue
        for variant, records in (("naive", o.result.naive), ("converted", o.result.converted)):
            for rec in records_json(records):
                rows.append({**rec, "source": f"divergence:{variant}", "divergence": o.divergence.name})
    if data.trajectories is not None:
        for t in data.trajectories.to_dict("records"):
            rows.append(
                {
                    "model": t.get("model"), "impl_a": REFERENCE, "impl_b": t.get("impl"), "dtype": t.get("dtype"),
                    "quantity": f"trajectory:{t.get('optimizer')}:step={t.get('step')}", "max_rel_err": _finite(t.get("max_rel_err")),
                    "status": "measured", "detail": f"loss={t.get('loss')}", "source": "trajectory", "divergence": "",
                }
            )
    columns = list(Record.__dataclass_fields__) + ["step", "noise_floor_a", "noise_floor_b", "noise_bound", "noise_passed", "source", "divergence"]
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
        lines.append(data.trajectories_note or "Not available (parity.train provides no report_trajectories yet).")
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
            rows.append({"impl": impl, "dtype": dtype, "worst quantity": "-", "max_rel_err": None, "err (eps)": None, "tolerance": None, "x floor": None, "result": group[0].status})
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


# writing ---------------------------------------------------------------------


def write_report(out: str, impls: list[str], seed: int, models: list[str] | None = None, divergences: bool = True) -> int:
    """Compute everything, then write every file atomically; exit status 1 on any disagreement."""
    from parity.report_html import html_page

    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        data = collect(impls, seed, models, divergences, progress)
        task = progress.add_task("plots", total=len(data.cases) + 3)
        page = html_page(data, step=lambda: progress.advance(task))
    files: dict[str, str | bytes] = {
        "results.csv": results_frame(data).to_csv(index=False),
        "parity.md": markdown(data),
        "index.html": page,
    }
    if data.all_divergences and data.divergences:
        from parity.migration import generate

        try:
            files["MIGRATION.md"] = generate(data.divergences)
        except Exception as error:  # noqa: BLE001  the guide is one file; the report is still written
            console.print(f"[red]MIGRATION.md not regenerated[/]: {type(error).__name__}: {error}")
    # Only now is anything written, each file replaced atomically: an interrupted run
    # leaves the previous report whole.
    out_dir = Path(out)
    for name, content in files.items():
        write_atomic(out_dir / name, content)
    console.print(summary_table(data.records, "parity report"))
    bad = [o.divergence.name for o in data.divergences if not o.ok]
    if data.divergences:
        console.print(
            f"divergence cases: {len(data.divergences) - len(bad)} of {len(data.divergences)} naive caught and converted passing"
            + (f"; not: {', '.join(bad)}" if bad else "")
        )
    console.print(f"wrote {', '.join(str(out_dir / n) for n in files)} in {time.perf_counter() - start:.0f} s")
    return 0 if data.passed else 1
