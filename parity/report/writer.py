"""`parity report`: every case on every implementation, in both dtypes, plus the divergence cases.

Writes into ``--out`` (``reports/`` by default)::

    index.html    self-contained page: summary matrix, noise floors, divergences, plots, per-case sections
    parity.md     the same data as Markdown tables
    results.csv   one row per comparison (cases, layers, divergence cases, trajectories)
    MIGRATION.md  the migration guide (only when every case and divergence ran; see parity.report.migration)

Each implementation runs in its own thread (one lane per implementation, each Keras
lane talking to its own worker process), so the Keras workers overlap with each other
and with torch. Everything is computed before anything is written, and every file is
replaced atomically: an interrupted run leaves the previous report whole. A missing
implementation is reported as "not installed", a crashing one (or case) as "crashed",
and the rest of the report is still written.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd
from rich.progress import Progress

from parity.agreement.layerwise import compare_layers
from parity.agreement.noise import noise_rows
from parity.agreement.records import Record, compare_runs
from parity.cases import all_cases
from parity.check import make_request
from parity.implementations import DTYPES
from parity.output import console, summary_table, write_atomic
from parity.report.data import CaseRun, ReportData
from parity.report.environment import environment
from parity.report.tables import REFERENCE, markdown, results_frame
from parity.runners import run
from parity.runners.base import RunRequest, RunResult
from parity.runners.pool import ImplementationUnavailable, WorkerCrashed
from parity.tolerance import tolerance_for

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
        self.threads = [
            threading.Thread(target=self._lane, args=(impl, requests), daemon=True, name=f"lane-{impl}")
            for impl in impls
        ]

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
            case_run.records.append(
                Record(
                    case.name, REFERENCE, "all", "-", "all", None, None, None, None, False, "crashed", case_run.error
                )
            )
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
                    record.status, record.passed, record.detail = (
                        "crashed",
                        False,
                        f"the scratch reference failed: {record.detail}",
                    )
                    case_run.records.append(record)
                continue
            by_impl.setdefault(REFERENCE, {})[dtype] = reference
            for impl in others:
                result = results.get((name, dtype, impl))
                if not isinstance(result, RunResult):
                    case_run.records.append(
                        _failure_record(name, impl, dtype, result if result is not None else RuntimeError("not run"))
                    )
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
    from parity.divergences import select
    from parity.divergences.outcome import evaluate

    selected = [d for d in select() if models is None or d.case in models]
    task = progress.add_task("divergence cases", total=len(selected))
    outcomes = []
    for d in selected:
        progress.update(task, description=f"divergence {d.name}")
        outcomes.append(evaluate(d, seed))
        progress.advance(task)
    return outcomes, models is None


def collect_trajectories(models: list[str] | None) -> tuple[pd.DataFrame | None, str]:
    """Short training trajectories (``parity.report.trajectories``); a crash is noted, not fatal."""
    from parity.report.trajectories import report_trajectories

    try:
        df = report_trajectories(models)
    except Exception as error:  # noqa: BLE001  the trajectories are one section, not the report
        return None, f"training trajectories crashed: {type(error).__name__}: {error}"
    if df.empty:
        return None, "No training trajectories for the models in this report."
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


# writing ---------------------------------------------------------------------


def write_report(
    out: str, impls: list[str], seed: int, models: list[str] | None = None, divergences: bool = True
) -> int:
    """Compute everything, then write every file atomically; exit status 1 on any disagreement."""
    from parity.report.html import html_page

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
        from parity.report.migration import generate

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
