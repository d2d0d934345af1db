"""`parity inspect`: layer by layer, and it points at the layer where a difference lives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parity.agreement.layerwise import compare_layers, locate
from parity.cli import main
from parity.divergences import all_divergences
from parity.inspect import inspect_case
from parity.runners.base import LayerTrace, RunResult
from parity.tolerance import tolerance

DIVERGENCES = sorted(all_divergences())
TOL = tolerance("float64")


# Synthetic runs: the location rules, without running any framework ---------------


def fake_run(impl: str, layers: dict[str, tuple[np.ndarray, np.ndarray]], loss: float = 1.0, grads=None) -> RunResult:
    """A RunResult whose trace is ``layers`` (name -> (output, dL/d output))."""
    grads = {"input": np.ones((2, 3)), **(grads or {})}
    trace = [LayerTrace(name, out, grad) for name, (out, grad) in layers.items()]
    output = trace[-1].output if trace else np.zeros((2, 3))
    return RunResult(impl, output, loss, grads, {}, {}, "float64", trace)


def three_layers(rng, **changes):
    base = {
        name: (rng.standard_normal((2, 4)), rng.standard_normal((2, 4))) for name in ("dense_0", "relu_0", "dense_1")
    }
    for name, (out, grad) in changes.items():
        base[name] = (out if out is not None else base[name][0], grad if grad is not None else base[name][1])
    return base


def located(a: RunResult, b: RunResult) -> str | None:
    rows, worst = compare_layers(a, b, "float64", TOL)
    return locate(rows, worst, TOL)


def test_identical_runs_have_no_divergence(rng):
    layers = three_layers(rng)
    assert located(fake_run("a", layers), fake_run("b", layers)) is None


def test_the_first_layer_whose_output_differs_is_named(rng):
    layers = three_layers(rng)
    changed = {**layers, "relu_0": (layers["relu_0"][0] + 1e-3, layers["relu_0"][1])}
    changed["dense_1"] = (layers["dense_1"][0] + 1e-3, layers["dense_1"][1])  # everything after it differs too
    assert located(fake_run("a", layers), fake_run("b", changed)) == "relu_0"


def test_a_backward_only_difference_is_blamed_on_the_layer_that_made_it(rng):
    """dL/d(relu_0 output) is made by dense_1's backward pass: if it differs while dense_1's own agrees, dense_1 is wrong."""
    layers = three_layers(rng)
    changed = {**layers, "relu_0": (layers["relu_0"][0], layers["relu_0"][1] * 1.01)}
    changed["dense_0"] = (layers["dense_0"][0], layers["dense_0"][1] * 1.01)
    assert located(fake_run("a", layers), fake_run("b", changed)) == "dense_1"


def test_a_loss_only_difference_is_the_loss(rng):
    layers = three_layers(rng)
    assert located(fake_run("a", layers, loss=1.0), fake_run("b", layers, loss=1.5)) == "loss"


def test_a_reordered_intermediate_layer_is_a_layout_difference(rng):
    """torch flattens (C, H, W), scratch (H, W, C): the same values in another order are not an error."""
    layers = three_layers(rng)
    order = rng.permutation(4)
    reordered = {**layers, "relu_0": (layers["relu_0"][0][:, order], layers["relu_0"][1][:, order])}
    rows, worst = compare_layers(fake_run("a", layers), fake_run("b", reordered), "float64", TOL)
    row = next(r for r in rows if r.layer == "relu_0")
    assert row.passed and "layout" in row.note
    assert locate(rows, worst, TOL) is None


def test_a_reordered_final_output_is_an_error(rng):
    layers = three_layers(rng)
    order = np.roll(np.arange(4), 1)
    reordered = {**layers, "dense_1": (layers["dense_1"][0][:, order], layers["dense_1"][1][:, order])}
    assert located(fake_run("a", layers), fake_run("b", reordered)) == "dense_1"


def test_a_layer_on_one_side_only_is_shown_and_not_judged(rng):
    """A model ending in a sigmoid against one whose loss takes logits: only the loss can be judged."""
    layers = three_layers(rng)
    extra = {**layers, "sigmoid_0": (rng.standard_normal((2, 4)), rng.standard_normal((2, 4)))}
    changed_grads = {k: (v[0], v[1] * 2) for k, v in layers.items()}  # dL/d(output) differs through the sigmoid
    extra.update(changed_grads)
    rows, worst = compare_layers(fake_run("a", layers, loss=1.0), fake_run("b", extra, loss=2.0), "float64", TOL)
    sigmoid = next(r for r in rows if r.layer == "sigmoid_0")
    assert sigmoid.passed is None and "only in b" in sigmoid.note
    assert all(r.grad_err is None for r in rows if r.layer != "loss")
    assert locate(rows, worst, TOL) == "loss"


# Real runs ----------------------------------------------------------------------------


@pytest.mark.xdist_group("divergences")  # shares conftest.divergence_outcome with test_divergences
@pytest.mark.parametrize("name", DIVERGENCES)
def test_inspect_divergence_points_at_the_layer_where_it_lives(name, divergence_outcome):
    d = all_divergences()[name]
    outcome = divergence_outcome(name)  # inspect_divergence(d, seed=0), shared with the divergence and guide tests
    assert outcome.inspection is not None, f"{name}: inspect crashed: {outcome.locate_error or outcome.error}"
    inspection = outcome.inspection
    assert inspection.first_divergence == d.layer, "\n".join(
        f"{r.layer}: act {r.act_err} grad {r.grad_err} weights {r.weight_err} {r.note}" for r in inspection.rows
    )
    assert inspection.failed


def test_agreeing_implementations_have_one_row_per_layer_and_no_divergence():
    inspection = inspect_case("mlp", None, "scratch", "torch", "float64")
    assert [r.layer for r in inspection.rows] == ["input", "dense_0", "relu_0", "dense_1", "relu_1", "dense_2", "loss"]
    assert inspection.first_divergence is None and not inspection.failed
    assert inspection.worst_param is not None and inspection.worst_param[1] <= inspection.tolerance


def test_float32_rows_show_both_noise_floors_beside_the_error():
    inspection = inspect_case("mlp", None, "scratch", "keras-jax", "float32")
    for row in inspection.rows:
        if row.layer not in ("input",):
            assert row.act_floor is not None and row.act_floor > 0, row.layer
    assert not inspection.failed


def test_cli_writes_rows_as_json_and_exits_0(capsys, tmp_path):
    path = tmp_path / "rows.json"
    code = main(["inspect", "mlp", "--impl", "scratch,torch", "--set", "activation=tanh", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "no divergence" in out and "largest parameter gradient error" in out
    [inspection] = json.loads(path.read_text())
    assert inspection["first_divergence"] is None and inspection["passed"]
    assert [r["layer"] for r in inspection["rows"]][1:3] == ["dense_0", "tanh_0"]
    assert all(
        {"act_err_in_eps", "grad_err_in_eps", "tolerance_in_eps", "passed"} <= set(r) for r in inspection["rows"]
    )


def test_cli_divergence_names_the_layer_and_exits_1(capsys):
    code = main(["inspect", "--divergence", "leaky_relu_layer_default"])
    out = capsys.readouterr().out
    assert code == 1
    assert "first divergence: leaky_relu_0" in out
    assert "matches" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["inspect"], "inspect needs a MODEL or --divergence NAME"),
        (["inspect", "--divergence", "nosuch"], "unknown divergence 'nosuch'; choose from:"),
        (["inspect", "mlp", "--impl", "scratch,torch,keras-jax"], "--impl takes two different implementations"),
        (["inspect", "--divergence", "gelu_ops_default", "--set", "batch=2"], "--set does not apply to --divergence"),
        (["inspect", "nosuchmodel"], "unknown model 'nosuchmodel'"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(capsys, argv, fragment):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err and len(err.strip().splitlines()) == 1


def test_divergences_command_lists_each_case_caught_converted_and_located(capsys, tmp_path):
    path = tmp_path / "divergences.json"
    names = ["leaky_relu_layer_default", "bce_probability_clipping", "flatten_order"]
    code = main(["divergences", *names, "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0 and "3 of 3 divergence cases" in out
    listed = json.loads(path.read_text())
    assert [d["name"] for d in listed] == names
    for d in listed:
        assert d["naive_caught"] and d["converted_passes"] and d["ok"], d["name"]
        assert d["located_layer"] == d["layer"], d["name"]
        assert d["area"] and d["differs"] and d["naive_error"] > d["converted_error"]


def test_divergences_command_rejects_an_unknown_name(capsys):
    assert main(["divergences", "nosuch"]) == 2
    assert "unknown divergence 'nosuch'" in capsys.readouterr().err


def test_reordering_pairs_columns_holding_infinities():
    """A masked score's -inf must not turn the projection into NaN (inf - inf): columns still pair."""
    import warnings

    from parity.agreement.layerwise import reordering

    ref = np.array([[1.0, -np.inf, 2.0], [3.0, -np.inf, 0.5]])
    other = ref[:, [2, 0, 1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "invalid value encountered in matmul" fails the test
        i, j = reordering(ref, other)
    np.testing.assert_array_equal(other[:, j], ref[:, i])
