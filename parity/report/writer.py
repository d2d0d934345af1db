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
from parity.report.environment import environment, peak_memory
from parity.report.html import draw_case_plot, draw_case_plots
from parity.report.plots import plot_divergences, plot_trajectories
from parity.report.tables import REFERENCE, markdown, results_frame
from parity.runners import run
from parity.runners.base import KERAS_BACKENDS, RunRequest, RunResult, needs_x64
from parity.runners.pool import ImplementationUnavailable, WorkerCrashed
from parity.runners.reference import reference_request
from parity.tolerance import tolerance_for

# running ---------------------------------------------------------------------


def lanes_of(impl: str, requests: list[tuple[str, str, RunRequest]]) -> dict[str, list]:
    """The lanes of one implementation: one per worker process it runs in, each with its requests in order.

    keras-jax runs float64 with x64 on and float32 with it off, in two workers (``needs_x64``): one lane
    for both would make them take turns; two let them compute side by side. Each worker still receives
    the same requests in the same order, so the results are the same.
    """
    if impl not in KERAS_BACKENDS:
        return {impl: requests}
    lanes: dict[str, list] = {}
    for request in requests:
        key = impl if needs_x64(impl, request[1]) else f"{impl}-x32"
        lanes.setdefault(key, []).append(request)
    return lanes


class Lanes:
    """One thread per implementation and worker process (``lanes_of``), each running its requests in order.

    A Keras worker is a single pipe, so only its own lane talks to it. A failure is
    kept as the result (never raised in the thread); ``stop`` ends the lanes after
    their current run (a Ctrl-C in the main thread).
    """

    def __init__(self, impls: list[str], requests: list[tuple[str, str, RunRequest]], step=None) -> None:
        self.results: dict[tuple[str, str, str], RunResult | BaseException] = {}
        self.stop = threading.Event()
        self.step = step
        self.threads = [
            threading.Thread(target=self._lane, args=(impl, part), daemon=True, name=f"lane-{name}")
            for impl in impls
            for name, part in lanes_of(impl, requests).items()
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

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def running(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def join(self) -> dict:
        try:
            for t in self.threads:
                while t.is_alive():
                    t.join(timeout=0.2)  # short joins keep Ctrl-C responsive
        except BaseException:
            self.stop.set()
            raise
        return self.results

    def run(self) -> dict:
        self.start()
        return self.join()


def _failure_record(model: str, impl: str, dtype: str, error: BaseException) -> Record:
    if isinstance(error, ImplementationUnavailable):
        return Record(model, REFERENCE, impl, dtype, "all", None, None, None, None, None, "not installed", str(error))
    text = str(error) if isinstance(error, WorkerCrashed) else f"{type(error).__name__}: {error}"
    return Record(model, REFERENCE, impl, dtype, "all", None, None, None, None, False, "crashed", text)


def collect_cases(
    impls: list[str], seed: int, models: list[str] | None, progress: Progress, stop=None, compared=None
) -> list[CaseRun]:
    """Run every case on every implementation in both dtypes, with traces, and compare with scratch.

    Each case is compared (and handed to ``compared``, the report's plot of it) as soon as every lane
    has run it, while the lanes go on with the next cases: drawn after the last run, the plots were
    a tail of single-threaded work with the workers idle. Cases are compared in order, each from the
    same results as before, so the records are the same.
    """
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
    lanes = Lanes([REFERENCE, *others], requests, step=lambda: progress.advance(task))
    if stop is not None:
        lanes.stop = stop
    results = lanes.results
    request_of = {(name, dtype): request for name, dtype, request in requests}
    lanes.start()
    try:
        for case_run in runs:
            if case_run.error:
                continue
            keys = [(case_run.case.name, dtype, impl) for dtype in DTYPES for impl in [REFERENCE, *others]]
            while lanes.running() and not all(key in results for key in keys):
                time.sleep(0.05)
            _compare_case(case_run, others, results, request_of)
            if compared is not None:
                compared(case_run)
    except BaseException:
        lanes.stop.set()  # the lanes end after their current run
        raise
    finally:
        lanes.join()
    return runs


def _compare_case(case_run: CaseRun, others: list[str], results: dict, request_of: dict) -> None:
    """One case's records, per-layer errors and noise floors, from the lanes' results."""
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
            request = request_of[(name, dtype)]
            own = reference_request(impl, request)  # scratch with the constants impl's library uses
            oracle = reference if own is request else run("scratch", own)
            compared = compare_runs(name, dtype, oracle, result, tol)
            for record in compared:
                record.detail = "; ".join(filter(None, [record.detail, reason]))
            case_run.records.extend(compared)
            try:
                case_run.layers[(impl, dtype)] = compare_layers(oracle, result, dtype, tol)[0]
            except Exception:  # noqa: BLE001  a trace that cannot be compared loses the plot, not the case
                case_run.layers[(impl, dtype)] = []
    case_run.noise = noise_rows(name, by_impl, case_run.records)


# Divergence cases evaluated at once: each waits on its workers (a Keras worker takes one
# request at a time), so a few threads keep every worker busy without more processes.
DIVERGENCE_THREADS = 3


def collect_divergences(models: list[str] | None, seed: int, progress: Progress, stop=None) -> tuple[list, bool]:
    """Every divergence case (``parity.divergences.outcome.evaluate``), a few at a time, in registry order."""
    from parity.divergences import select
    from parity.divergences.outcome import evaluate

    selected = [d for d in select() if models is None or d.case in models]
    task = progress.add_task("divergence cases", total=len(selected))
    outcomes: list = [None] * len(selected)
    pending = iter(enumerate(selected))
    lock = threading.Lock()

    def worker() -> None:
        while stop is None or not stop.is_set():
            with lock:
                i, d = next(pending, (None, None))
            if d is None:
                return
            outcomes[i] = evaluate(d, seed)  # a crash is recorded in the outcome, never raised
            progress.advance(task)

    _together([worker] * min(DIVERGENCE_THREADS, len(selected)), stop)
    return [o for o in outcomes if o is not None], models is None


def _together(functions, stop=None) -> list:
    """Run each function in its own thread; return their results, or raise the first error.

    Short joins keep Ctrl-C responsive in the main thread; on any exception there
    ``stop`` is set so that the threads end after their current run.
    """
    results: list = [None] * len(functions)
    errors: list[BaseException] = []

    def call(i, function):
        try:
            results[i] = function()
        except BaseException as error:  # noqa: BLE001  handed to the main thread
            errors.append(error)

    threads = [threading.Thread(target=call, args=(i, f), daemon=True) for i, f in enumerate(functions)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
    except BaseException:
        if stop is not None:
            stop.set()
        raise
    if errors:
        raise errors[0]
    return results


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
    """Cases, divergence cases and trajectories at the same time: they share the workers, whose
    locks keep one request at a time on each pipe, and together keep every process busy. Each
    phase draws its plots (``data.plots``) as soon as its own results are in, while the others
    still compute, so that only the page itself is left after the last worker's answer."""
    start = time.perf_counter()
    stop = threading.Event()
    timings: dict[str, float] = {}

    def timed(name, function):
        def run_timed():
            begin = time.perf_counter()
            try:
                return function()
            finally:
                timings[name] = time.perf_counter() - begin

        return run_timed

    def trajectories():
        task = progress.add_task("training trajectories", total=1)
        result = collect_trajectories(models)
        progress.advance(task)
        return result

    # Each phase draws its own plots as soon as its results are in, while the others still compute.
    plots: dict[str, str | None] = {}

    def cases_drawn():
        runs = collect_cases(impls, seed, models, progress, stop, compared=lambda case_run: draw_case_plot(case_run, plots))
        draw_case_plots(runs, plots)  # the noise floors' plot, and any case not drawn yet
        return runs

    def trajectories_drawn():
        frame, note = trajectories()
        plots["trajectories"] = plot_trajectories(frame)
        return frame, note

    def divergences_drawn():
        outcomes, complete = collect_divergences(models, seed, progress, stop)
        plots["divergences"] = plot_divergences(outcomes)
        return outcomes, complete

    jobs = [timed("cases", cases_drawn), timed("training trajectories", trajectories_drawn)]
    if divergences:
        jobs.append(timed("divergence cases", divergences_drawn))
    cases, (trajectory_frame, note), *rest = _together(jobs, stop)
    data = ReportData(impls=list(impls), cases=cases, plots=plots)
    data.trajectories, data.trajectories_note = trajectory_frame, note
    if rest:
        data.divergences, data.all_divergences = rest[0]
    data.environment = environment()
    data.environment["peak memory"] = peak_memory()
    data.elapsed = time.perf_counter() - start
    data.timings = timings
    data.generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    return data


# writing ---------------------------------------------------------------------


def write_report(
    out: str,
    impls: list[str],
    seed: int,
    models: list[str] | None = None,
    divergences: bool = True,
    verbose: bool = False,
) -> int:
    """Compute everything, then write every file atomically; exit status 1 on any disagreement.

    The console gets a short summary (``summary_lines``); ``verbose`` adds the full table,
    one row per (case, implementation, dtype), before it.
    """
    from parity.report.html import html_page

    start = time.perf_counter()
    with Progress(console=console, transient=True) as progress:
        data = collect(impls, seed, models, divergences, progress)
        task = progress.add_task("page", total=len(data.cases) + 3)
        begin = time.perf_counter()
        page = html_page(data, step=lambda: progress.advance(task))
        data.timings["page (plots not drawn yet)"] = time.perf_counter() - begin
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
    if verbose:
        console.print(summary_table(data.records, "parity report"))
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in data.timings.items())
        console.print(f"wall-clock per phase (cases, divergence cases and trajectories overlap): {phases}")
    for line in summary_lines(data):
        console.print(line, highlight=False)
    console.print(f"wrote {', '.join(str(out_dir / n) for n in files)} in {time.perf_counter() - start:.0f} s")
    return 0 if data.passed else 1


def summary_lines(data: ReportData, shown: int = 10) -> list[str]:
    """What the console shows after a report: counts, what failed (the first ``shown``), where it went."""
    records = data.records
    compared = [r for r in records if r.status == "compared"]
    failed = [r for r in compared if r.passed is False]
    crashed = sorted({(r.model, r.impl_b, r.dtype) for r in records if r.status == "crashed"})
    missing = sorted({r.impl_b for r in records if r.status == "not installed"})
    noise_bad = [n for n in data.noise if n.passed is False]
    lines = [
        f"cases: {len(data.cases)} on {', '.join(data.impls)}, float32 and float64; "
        f"comparisons: {len(compared)}, {len(failed)} failing; crashed: {len(crashed)}; "
        f"noise floors: {len(data.noise)}, {len(noise_bad)} failing"
        + (f"; not installed: {', '.join(missing)}" if missing else "")
    ]
    groups = sorted({(r.model, r.impl_b, r.dtype) for r in failed})
    for model, impl, dtype in [*groups, *crashed][:shown]:
        status = "crashed" if (model, impl, dtype) in crashed else "FAIL"
        lines.append(f"  [red]{status}[/] {model} {impl} {dtype}")
    if len(groups) + len(crashed) > shown:
        lines.append(f"  ... and {len(groups) + len(crashed) - shown} more (parity report --verbose)")
    for n in noise_bad[:shown]:
        lines.append(f"  [red]noise floor FAIL[/] {n.model} {n.impl_b} {n.quantity}")
    if data.divergences:
        bad = [o.divergence.name for o in data.divergences if not o.ok]
        lines.append(
            f"divergence cases: {len(data.divergences) - len(bad)} of {len(data.divergences)} naive caught and converted passing"
            + (f"; not: {', '.join(bad)}" if bad else "")
        )
    if data.trajectories is not None:
        runs = data.trajectories.groupby(["model", "impl", "dtype"]).ngroups
        lines.append(f"training trajectories: {runs} runs of {data.trajectories['model'].nunique()} models")
    elif data.trajectories_note:
        lines.append(data.trajectories_note)
    verdict = "[green]all agree[/]" if data.passed else "[red]disagreements found[/]"
    lines.append(f"{verdict}; measured in {data.elapsed:.0f} s")
    return lines
