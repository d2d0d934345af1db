"""`parity report`: every file written, failures reported in place, interruptions harmless."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import parity.report.html as report_html
import parity.report.writer as report
from parity.agreement.noise import noise_rows
from parity.agreement.records import Record
from parity.runners.base import RunResult
from parity.runners.pool import ImplementationUnavailable
from parity.tolerance import EPS, NOISE_FLOOR_MULTIPLE

ROOT = Path(__file__).resolve().parents[1]
FILES = ("index.html", "parity.md", "results.csv")
ALL = ["scratch", "torch", "keras-torch", "keras-jax", "keras-tensorflow"]


# one pytest-xdist worker for this file (with --dist loadgroup): the small report of ``small_report`` is written once
pytestmark = pytest.mark.xdist_group("report")


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    code = report.write_report(str(out), ALL, seed=0, models=["dense", "leaky_relu"])
    return out, code


def test_report_writes_every_file(small_report):
    out, code = small_report
    assert code == 0
    for name in FILES:
        assert (out / name).stat().st_size > 0, name
    assert not (out / "MIGRATION.md").exists(), "a partial run (--models) must not rewrite the guide"

    df = pd.read_csv(out / "results.csv")
    checks = df[df["source"] == "check"]
    assert set(checks["model"]) == {"dense", "leaky_relu"}
    assert set(checks["impl_b"]) == set(ALL[1:])
    assert set(checks["dtype"]) == {"float32", "float64"}
    assert checks["passed"].all()
    f32 = checks[checks["dtype"] == "float32"]
    assert f32["noise_floor_a"].notna().all() and f32["noise_passed"].all()
    assert {"layer", "divergence:naive", "divergence:converted"} <= set(df["source"])
    assert "leaky_relu_layer_default" in set(df["divergence"].dropna())

    md = (out / "parity.md").read_text()
    for heading in (
        "## Summary matrix",
        "## Noise floor (float32)",
        "## Divergence cases",
        "## Cases",
        "## Environment",
    ):
        assert heading in md
    assert "numpy BLAS" in md and "cpu" in md


def test_page_is_self_contained(small_report):
    out, _ = small_report
    page = (out / "index.html").read_text()
    assert 'id="matrix"' in page and page.count('class="cell ') == 2 * 4 * 2  # cases x pairs x dtypes
    assert "data:image/png;base64," in page
    assert re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page) is None, "the page refers to the network"
    assert "<link" not in page and "<script src" not in page and "@import" not in page


def test_missing_and_crashing_implementations_are_reported_and_the_rest_written(tmp_path, monkeypatch):
    real_run = report.run

    def flaky(impl, request):
        if impl == "keras-jax":
            raise RuntimeError("simulated crash")
        if impl == "keras-tensorflow":
            raise ImplementationUnavailable("keras-tensorflow: not installed (simulated)")
        return real_run(impl, request)

    monkeypatch.setattr(report, "run", flaky)
    code = report.write_report(
        str(tmp_path), ["scratch", "torch", "keras-jax", "keras-tensorflow"], 0, ["dense"], divergences=False
    )
    assert code == 1  # a crash is a failure; a missing implementation is not
    df = pd.read_csv(tmp_path / "results.csv")
    status = df[df["source"] == "check"].groupby("impl_b")["status"].agg(set).to_dict()
    assert status == {"torch": {"compared"}, "keras-jax": {"crashed"}, "keras-tensorflow": {"not installed"}}
    assert "simulated crash" in " ".join(df["detail"].dropna())
    page = (tmp_path / "index.html").read_text()
    assert 'class="cell crashed"' in page and 'class="cell missing"' in page and 'class="cell pass' in page
    assert "crashed" in (tmp_path / "parity.md").read_text()


def test_a_crashing_case_is_reported_and_the_others_written(tmp_path, monkeypatch):
    real = report.make_request

    def broken(case, *args, **kwargs):
        if case.name == "sigmoid":
            raise ValueError("simulated broken case")
        return real(case, *args, **kwargs)

    monkeypatch.setattr(report, "make_request", broken)
    code = report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense", "sigmoid"], divergences=False)
    assert code == 1
    df = pd.read_csv(tmp_path / "results.csv")
    assert set(df[df["model"] == "sigmoid"]["status"]) == {"crashed"}
    assert df[(df["model"] == "dense") & (df["source"] == "check")]["passed"].all()


def _previous(out: Path) -> dict[str, str]:
    out.mkdir(parents=True, exist_ok=True)
    old = {name: f"previous {name}\n" for name in FILES}
    for name, text in old.items():
        (out / name).write_text(text)
    return old


def test_an_interrupted_run_leaves_the_previous_report_intact(tmp_path, monkeypatch):
    old = _previous(tmp_path)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # half-way: every run is done, the page is being drawn

    monkeypatch.setattr(report_html, "plot_layers", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense"], divergences=False)
    assert {name: (tmp_path / name).read_text() for name in FILES} == old
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES), "temporary files left behind"


def test_an_interruption_while_writing_leaves_every_file_whole(tmp_path, monkeypatch):
    old = _previous(tmp_path)
    real = report.write_atomic
    written = []

    def write_one_then_stop(path, content):
        if written:
            raise KeyboardInterrupt
        real(path, content)
        written.append(Path(path).name)

    monkeypatch.setattr(report, "write_atomic", write_one_then_stop)
    with pytest.raises(KeyboardInterrupt):
        report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense"], divergences=False)
    [new] = written
    assert (
        pd.read_csv(tmp_path / new).shape[0] > 0 if new.endswith(".csv") else (tmp_path / new).read_text() != old[new]
    )
    assert all((tmp_path / name).read_text() == old[name] for name in FILES if name != new)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


def test_a_killed_run_leaves_the_previous_report_whole(tmp_path):
    """SIGKILL, not a polite interrupt: nothing can clean up, and still no file is half written."""
    old = _previous(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [
        sys.executable,
        "-m",
        "parity.cli",
        "report",
        "--out",
        str(tmp_path),
        "--models",
        "dense",
        "mlp",
        "--impl",
        "scratch,torch",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    time.sleep(4.0)
    finished = process.poll() is not None
    if not finished:
        os.killpg(process.pid, signal.SIGKILL)  # the report and the Keras workers it started
    process.wait(timeout=30)
    for name in FILES:
        text = (tmp_path / name).read_text()
        if not finished:
            assert text == old[name], f"{name} changed by a killed run"
        else:  # the run beat the clock: then its files are complete
            assert text != old[name]
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


# The noise floor --------------------------------------------------------------------


def _result(impl: str, output: np.ndarray, dtype: str) -> RunResult:
    return RunResult(impl, output, 0.0, {}, {}, {}, dtype)


def test_float32_agreement_is_judged_against_the_larger_noise_floor():
    rng = np.random.default_rng(0)
    exact = rng.standard_normal(100)
    eps = EPS["float32"]
    noise_a, noise_b = 4 * eps * rng.uniform(-1, 1, 100), 10 * eps * rng.uniform(-1, 1, 100)
    runs = {
        "scratch": {
            "float64": _result("scratch", exact, "float64"),
            "float32": _result("scratch", exact + noise_a, "float32"),
        },
        "torch": {
            "float64": _result("torch", exact, "float64"),
            "float32": _result("torch", exact + noise_b, "float32"),
        },
    }
    scale = np.max(np.abs(exact))

    def agreement(err: float) -> Record:
        return Record("m", "scratch", "torch", "float32", "output", err, err, err / eps, 1.0, True)

    floor = max(np.max(np.abs(noise_a)), np.max(np.abs(noise_b))) / scale
    [within] = noise_rows("m", runs, [agreement(2.9 * floor)])
    [beyond] = noise_rows("m", runs, [agreement(3.1 * floor)])
    assert within.floor_a < within.floor_b == pytest.approx(floor)
    assert within.bound == pytest.approx(NOISE_FLOOR_MULTIPLE * floor)
    assert within.passed and not beyond.passed
    assert within.ratio == pytest.approx(2.9)


def test_training_trajectories_are_plotted_when_parity_train_provides_them(tmp_path, monkeypatch):
    import parity.report.trajectories as trajectories

    rows = [
        {"model": "dense", "optimizer": "sgd", "impl": impl, "dtype": dtype, "step": step, "loss": 1.0 / step}
        | {"max_rel_err": step * (1e-16 if dtype == "float64" else 1e-7)}
        for impl in ("torch", "keras-jax")
        for dtype in ("float32", "float64")
        for step in range(1, 6)
    ]
    monkeypatch.setattr(trajectories, "report_trajectories", lambda models=None: pd.DataFrame(rows))
    report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense"], divergences=False)
    assert 'alt="training trajectories"' in (tmp_path / "index.html").read_text()
    df = pd.read_csv(tmp_path / "results.csv")
    assert (df["source"] == "trajectory").sum() == len(rows)
    assert "## Training trajectories" in (tmp_path / "parity.md").read_text()


def test_crashing_trajectories_are_noted_and_the_rest_written(tmp_path, monkeypatch):
    import parity.report.trajectories as trajectories

    def crash(models=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(trajectories, "report_trajectories", crash)
    assert report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense"], divergences=False) == 0
    assert "training trajectories crashed: RuntimeError: boom" in (tmp_path / "index.html").read_text()
    assert (tmp_path / "results.csv").exists()


def test_a_report_without_trained_models_says_so(tmp_path):
    assert report.write_report(str(tmp_path), ["scratch", "torch"], 0, ["dense"], divergences=False) == 0
    assert "No training trajectories for the models in this report." in (tmp_path / "index.html").read_text()


def _cli_report(tmp_path, monkeypatch, capsys, *flags: str) -> str:
    from parity.cli import main

    monkeypatch.setattr(report, "collect_divergences", lambda models, seed, progress, stop=None: ([], False))
    code = main(["report", "--out", str(tmp_path), "--impl", "scratch,torch", "--models", "dense", *flags])
    assert code == 0
    return capsys.readouterr().out


def test_the_console_gets_a_summary_and_the_full_table_only_with_verbose(tmp_path, monkeypatch, capsys):
    quiet = _cli_report(tmp_path, monkeypatch, capsys)
    assert "cases: 1 on scratch, torch" in quiet and "0 failing" in quiet and "all agree" in quiet
    assert str(tmp_path / "index.html") in quiet
    assert "worst quantity" not in quiet  # the full table's header
    verbose = _cli_report(tmp_path, monkeypatch, capsys, "--verbose")
    assert "worst quantity" in verbose and "cases: 1 on scratch, torch" in verbose


def test_the_summary_names_what_failed():
    case = report.CaseRun(report.all_cases()["dense"])
    case.records = [
        Record("dense", "scratch", "torch", "float64", "output", 1.0, 1.0, 1.0, 1e-12, False),
        Record("dense", "scratch", "keras-jax", "float64", "all", None, None, None, None, False, "crashed", "boom"),
    ]
    lines = report.summary_lines(report.ReportData(impls=ALL, cases=[case]))
    text = "\n".join(lines)
    assert "comparisons: 1, 1 failing; crashed: 1" in text
    assert "FAIL[/] dense torch float64" in text and "crashed[/] dense keras-jax float64" in text
    assert "disagreements found" in text


def test_the_environment_states_peak_memory(small_report):
    out, _ = small_report
    page = (out / "index.html").read_text()
    assert "peak memory" in page and "main process" in page and "keras-jax worker" in page


def test_keras_jax_gets_a_lane_per_worker_and_each_worker_its_requests_in_order(monkeypatch):
    """float64 (x64 on) and float32 (x64 off) are two JAX workers: two lanes, so that they compute side by
    side; the other implementations keep one lane for both dtypes. Every request runs once, in order."""
    seen: dict[str, list] = {}

    def record(impl, request):
        seen.setdefault(threading.current_thread().name, []).append((impl, request))
        return request

    monkeypatch.setattr(report, "run", record)
    requests = [(m, d, f"{m}@{d}") for m in ("a", "b") for d in ("float64", "float32")]
    results = report.Lanes(["scratch", "keras-torch", "keras-jax"], requests).run()
    assert sorted(seen) == ["lane-keras-jax", "lane-keras-jax-x32", "lane-keras-torch", "lane-scratch"]
    assert seen["lane-keras-jax"] == [("keras-jax", "a@float64"), ("keras-jax", "b@float64")]
    assert seen["lane-keras-jax-x32"] == [("keras-jax", "a@float32"), ("keras-jax", "b@float32")]
    assert [r for _, r in seen["lane-keras-torch"]] == [r for _, _, r in requests]
    assert results == {(m, d, i): f"{m}@{d}" for m, d, _ in requests for i in ("scratch", "keras-torch", "keras-jax")}


def test_plots_are_the_images_a_tight_savefig_draws(monkeypatch):
    """``plots._png`` skips savefig's layout pass; every kind of figure comes out byte for byte the same."""
    import base64
    import io
    from types import SimpleNamespace

    from parity.agreement.layerwise import LayerRow
    from parity.report import plots

    def tight(fig):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=plots.DPI, bbox_inches="tight")
        return base64.b64encode(buffer.getvalue()).decode("ascii")

    # Synthetic rows to draw, not to judge: the tolerance is only the height of the plot's tolerance line.
    layers = {
        (impl, dtype): [
            LayerRow(f"layer_{i}", "dense", "(2, 3)", (i + 1) * k * EPS[dtype], i * EPS[dtype], tolerance=50 * EPS[dtype], dtype=dtype)
            for i in range(4)
        ]
        for k, impl in enumerate(("torch", "keras-jax"), start=1)
        for dtype in ("float32", "float64")
    }
    case_run = SimpleNamespace(layers=layers, case=SimpleNamespace(name="dense"))
    frame = pd.DataFrame(
        [
            {"model": "mlp", "optimizer": "adam", "impl": "torch", "dtype": dtype, "step": step, "max_rel_err": step * EPS[dtype]}
            for dtype in ("float32", "float64")
            for step in range(1, 6)
        ]
    )
    for plot, argument in ((plots.plot_layers, case_run), (plots.plot_trajectories, frame)):
        ours = plot(argument)
        monkeypatch.setattr(plots, "_png", tight)
        assert plot(argument) == ours, plot.__name__
        monkeypatch.undo()


def test_log_axes_keep_minor_ticks_only_where_they_are_labelled():
    """Over one decade or less the minor ticks carry labels and stay; over more they would be bare marks."""
    from parity.report import plots

    for top, kept in ((5.0, True), (1e4, False)):
        fig = plots._figure()
        ax = fig.subplots()
        ax.plot([0, 1], [1.0, top])
        ax.set_yscale("log")
        plots._plain_log(ax.yaxis)
        labels = [t.get_text() for t in ax.yaxis.get_minorticklabels()]
        assert (len(ax.yaxis.get_minorticklocs()) > 0) is kept, top
        if kept:
            assert any(labels), labels


def test_each_case_is_compared_and_drawn_while_the_lanes_run_the_next(monkeypatch):
    """collect_cases compares a case once every lane has run it, not after the last run of all."""
    from rich.progress import Progress

    from parity.cases import all_cases

    first, second = [name for name in all_cases() if name in ("dense", "leaky_relu")]
    first_compared = threading.Event()
    real = report.run

    def run(impl, request):
        if impl == "torch" and request.case == second:
            # torch runs the second case only once the first has been compared: it must not wait for torch
            assert first_compared.wait(timeout=120), f"{first} was not compared while torch had {second} to run"
        return real(impl, request)

    def compared(case_run):
        order.append(case_run.case.name)
        first_compared.set()

    order: list[str] = []
    monkeypatch.setattr(report, "run", run)
    runs = report.collect_cases(["scratch", "torch"], 0, [first, second], Progress(disable=True), compared=compared)
    assert order == [first, second]
    records = [r for case_run in runs for r in case_run.records]
    assert records and all(r.status == "compared" and r.passed for r in records)
