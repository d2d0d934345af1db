"""The `parity` command: exit codes, one-line errors, JSON records."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from parity.cli import main

RECORD_FIELDS = {"model", "impl_a", "impl_b", "dtype", "quantity", "max_abs_err", "max_rel_err", "err_in_eps", "tolerance", "passed"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ("dense", "mlp", "linear_regression", "logistic_regression"):
        assert name in out


def test_check_writes_json_records_for_every_implementation(capsys, tmp_path):
    path = tmp_path / "out.json"
    code, _, _ = run_cli(capsys, "check", "linear_regression", "dense", "--impl", "all", "--dtype", "both", "--json", str(path))
    assert code == 0
    records = json.loads(path.read_text())
    assert {r["impl_b"] for r in records} == {"torch", "keras-torch", "keras-jax", "keras-tensorflow"}
    assert all(RECORD_FIELDS <= set(r) for r in records)
    assert all(r["passed"] for r in records)
    assert all(r["max_rel_err"] <= 1e-10 for r in records if r["dtype"] == "float64")


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["check", "nosuchmodel"], "unknown model 'nosuchmodel'; choose from:"),
        (["check", "mlp", "--impl", "caffe"], "unknown implementation 'caffe'; choose from: scratch, torch"),
        (["check", "mlp", "--set", "colour=blue"], "unknown key(s) colour; valid keys: activation"),
        (["check", "mlp", "--set", "units=[0]"], "units must be a list of positive integers"),
        (["check", "mlp", "--dtype", "float16"], "unknown dtype 'float16'"),
        (["check", "mlp", "--set", "units"], "--set expects KEY=VALUE"),
        (["check", "mlp", "--corrupt", "dense_9.W"], "cannot corrupt unknown parameter 'dense_9.W'"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(capsys, argv, fragment):
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert fragment in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv, where",
    [
        (["check", "dense", "--set", "units=100000000000"], "layer 'dense_0', parameter 'W' has shape (5, 100000000000)"),
        (["check", "conv2d", "--set", "filters=100000000000"], "layer 'conv2d_0', parameter 'W' has shape (3, 3, 3, 100000000000)"),
        (["check", "mlp", "--set", "units=[16,100000000000]"], "layer 'dense_1', parameter 'W' has shape (16, 100000000000)"),
        (["check", "lstm", "--set", "units=10000000"], "layer 'lstm_0', parameter 'U' has shape (10000000, 40000000)"),
        (["check", "dense", "--set", "input_shape=[100000000000]"], "layer 'dense_0', parameter 'W' has shape (100000000000, 6)"),
        (["check", "dense", "--set", "batch=100000000000"], "layer 'dense_0', output has shape (100000000000, 6)"),
        (["check", "cnn", "--set", "input_shape=[100000,100000,1]"], "layer 'conv2d_0', output has shape (3, 100000, 100000, 4)"),
        (["inspect", "dense", "--set", "units=100000000000"], "layer 'dense_0', parameter 'W' has shape (5, 100000000000)"),
        (["train", "dense", "--batch", "100000000000"], "layer 'dense_0', output has shape (800000000000, 6)"),
    ],
)
def test_sizes_that_cannot_fit_are_refused_before_allocating(capsys, argv, where):
    """A one-line error naming the model, the layer and the array, with nothing allocated first."""
    import tracemalloc

    tracemalloc.start()
    try:
        code, _, err = run_cli(capsys, *argv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert f"model '{argv[1]}' does not fit in memory: {where}" in err
    assert "more than the budget of" in err
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated before refusing"


def test_report_out_that_is_a_file_is_refused_and_nothing_written(capsys, tmp_path):
    path = tmp_path / "report.txt"
    path.write_text("keep me\n")
    for out in (path, path / "sub"):
        code, out_text, err = run_cli(capsys, "report", "--out", str(out), "--models", "dense")
        assert code == 2
        assert len(err.strip().splitlines()) == 1, err
        assert f"--out '{out}'" in err and "a file, not a folder" in err
        assert out_text == ""
    assert path.read_text() == "keep me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.txt"]


def test_weights_of_wrong_shape_name_model_layer_parameter_and_shapes(capsys, tmp_path):
    path = tmp_path / "w.npz"
    np.savez(path, **{"dense_0.W": np.zeros((3, 6)), "dense_0.b": np.zeros(6)})
    code, _, err = run_cli(capsys, "check", "dense", "--impl", "torch", "--weights", str(path))
    assert code == 2
    assert "model 'dense', layer 'dense_0', parameter 'W': expected shape (5, 6), received (3, 6)" in err


def test_given_weights_are_used(capsys, tmp_path):
    path = tmp_path / "w.npz"
    rng = np.random.default_rng(5)
    np.savez(path, **{"dense_0.W": rng.standard_normal((5, 6)), "dense_0.b": rng.standard_normal(6)})
    code, _, _ = run_cli(capsys, "check", "dense", "--impl", "torch", "--weights", str(path))
    assert code == 0


def test_corrupted_weight_exits_1_and_names_the_parameter(capsys, tmp_path):
    path = tmp_path / "bad.json"
    code, out, _ = run_cli(capsys, "check", "mlp", "--impl", "torch,keras-jax", "--dtype", "float64", "--corrupt", "dense_1.b", "--json", str(path))
    assert code == 1
    assert "weight:dense_1.b" in out
    failed = {r["quantity"] for r in json.loads(path.read_text()) if not r["passed"]}
    assert "weight:dense_1.b" in failed


def test_set_overrides_configuration(capsys, tmp_path):
    path = tmp_path / "o.json"
    code, _, _ = run_cli(capsys, "check", "mlp", "--impl", "torch", "--set", "units=[3,3,3]", "--set", "activation=tanh", "--set", "batch=2", "--json", str(path))
    assert code == 0
    quantities = {r["quantity"] for r in json.loads(path.read_text())}
    assert "grad:dense_3.W" in quantities  # three hidden layers, one output layer


@pytest.mark.parametrize("module", ["parity.cli", "parity"])
def test_console_script_runs(module):
    """The command as a user calls it: ``python -m parity.cli`` and ``python -m parity``."""
    result = subprocess.run([sys.executable, "-m", module, "check", "nosuch"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "unknown model" in result.stderr
