"""Training parity: the same weights and batches give the same trajectory everywhere."""

from __future__ import annotations

import json

import numpy as np
import pytest

from parity.cli import main
from parity.examples import EXAMPLES, run_example
from parity.tolerance import TRAJECTORY_FLOAT64_REL
from parity.train import train_case
from tests.conftest import FRAMEWORK_IMPLS, failures


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "rmsprop", "rmsprop_centered", "adam", "adamw"])
def test_mlp_trajectories_agree_in_float64(optimizer):
    records, _ = train_case("mlp", optimizer, steps=50, impls=FRAMEWORK_IMPLS, dtypes=["float64"])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert all(r.passed for r in records), failures(records)
    last = [r for r in records if r.step == 50]
    assert last and max(r.max_rel_err for r in last) <= TRAJECTORY_FLOAT64_REL


@pytest.mark.parametrize("case", ["linear_regression", "logistic_regression", "dense"])
def test_other_dense_cases_train_identically(case):
    records, _ = train_case(case, "sgd", steps=25, impls=FRAMEWORK_IMPLS, dtypes=["float64"])
    assert all(r.passed for r in records), failures(records)


def test_dropout_and_l2_in_training_mode():
    # 2**-7, exact in float32: Keras' TensorFlow backend casts the L2 factor through float32
    # (divergence case tf_optimizer_float32_hyperparameters).
    overrides = {"dropout": 0.25, "activation": "tanh", "kernel_regularizer": 0.0078125}
    records, _ = train_case("mlp", "adam", steps=20, impls=FRAMEWORK_IMPLS, dtypes=["float64"], overrides=overrides)
    assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize("impl", ["torch", "keras-torch", "keras-jax"])
def test_a_rerun_with_the_same_mask_seed_draws_the_same_masks_bit_for_bit(impl):
    """``TrainRequest.mask_seed`` seeds the generators dropout draws from, so the same request run twice
    draws the same masks and trains the same trajectory to the last bit (what ``parity zoo`` needs to
    measure a step's condition on a model with dropout); without it the second run draws other masks."""
    from parity.cases import get_case
    from parity.train import make_train_request, optimizer_spec, run_training
    from parity.training.spec import TrainRequest

    case = get_case("mlp")
    config = case.configure({"dropout": 0.5, "activation": "tanh"})
    request = make_train_request(case, config, "float64", 0, optimizer_spec("sgd", {}), 3, 8)
    seeded = TrainRequest(**{**request.__dict__, "mask_seed": 7})
    first, again = run_training(impl, seeded), run_training(impl, seeded)
    assert first.dropout_masks and first.dropout_masks.keys() == again.dropout_masks.keys()
    for name, masks in first.dropout_masks.items():
        assert all(np.array_equal(m, n) for m, n in zip(masks, again.dropout_masks[name], strict=True)), name
    assert np.array_equal(first.losses, again.losses)
    for step, weights in enumerate(first.weights):
        assert all(np.array_equal(value, again.weights[step][k]) for k, value in weights.items()), step
    name = sorted(first.dropout_masks)[0]
    unseeded = [run_training(impl, request).dropout_masks[name] for _ in range(2)]
    assert not all(np.array_equal(m, n) for m, n in zip(*unseeded)), "two unseeded runs drew the same masks"


def test_float32_is_measured_not_judged():
    records, _ = train_case("mlp", "adam", steps=10, impls=["torch"], dtypes=["float32"])
    assert records and all(r.status == "measured" and r.passed is None for r in records)
    assert all(np.isfinite(r.max_rel_err) for r in records)


def test_a_wrong_learning_rate_is_caught():
    """The trajectory comparison can fail: torch trains with another rate than scratch."""
    from parity.cases import get_case
    from parity.train import compare_trajectories, make_train_request, optimizer_spec, run_training
    from parity.training.runners import train_scratch
    from parity.training.spec import TrainRequest

    case = get_case("mlp")
    config = case.configure()
    request = make_train_request(case, config, "float64", 0, optimizer_spec("sgd", {}), 5, 8)
    reference = train_scratch(TrainRequest(**{**request.__dict__, "convention": "torch"}))
    wrong = run_training("torch", TrainRequest(**{**request.__dict__, "optimizer": optimizer_spec("sgd", {"learning_rate": 0.0501})}))
    records = compare_trajectories("mlp", "float64", reference, wrong)
    assert any(not r.passed for r in records if r.step == 1)


def test_digits_mlp_same_accuracy_everywhere():
    records, rows, _, _ = run_example(EXAMPLES["digits_mlp"], FRAMEWORK_IMPLS, ["float64"])
    accuracies = {row["impl"]: row["score"] for row in rows}
    assert set(accuracies) == {"scratch", *FRAMEWORK_IMPLS}
    assert len(set(accuracies.values())) == 1, accuracies  # equal to the sample
    assert rows[0]["accuracy"] > 0.9
    assert all(r.passed for r in records), failures(records)


def test_train_cli(tmp_path, capsys):
    out, plot = tmp_path / "t.json", tmp_path / "growth.png"
    code = main(["train", "mlp", "--optimizer", "adam", "--steps", "5", "--dtype", "both", "--impl", "torch", "--json", str(out), "--plot", str(plot), "--set", "learning_rate=0.01"])
    assert code == 0
    records = json.loads(out.read_text())
    assert {"step", "model", "quantity", "max_rel_err", "passed"} <= set(records[0])
    assert max(r["step"] for r in records) == 5
    assert plot.stat().st_size > 1000


def test_train_cli_lr_reaches_every_implementation(monkeypatch, capsys):
    """``--lr`` sets the learning rate of scratch, torch and Keras: each trajectory changes with it
    and still agrees with scratch's (a framework left at its own rate would be caught)."""
    import parity.train as train

    seen = {}
    original = train.train_case

    def spy(*args, **kwargs):
        records, results = original(*args, **kwargs)
        seen[kwargs["learning_rate"]] = (records, results)
        return records, results

    monkeypatch.setattr(train, "train_case", spy)
    for lr in ("0.01", "0.2"):
        argv = ["train", "mlp", "--steps", "3", "--dtype", "float64", "--impl", "all", "--lr", lr]
        assert main(argv) == 0, capsys.readouterr().out
    (records_a, results_a), (records_b, results_b) = seen[0.01], seen[0.2]
    assert {impl for impl, _ in results_a} == {"scratch (torch)", "scratch (keras)", *FRAMEWORK_IMPLS}
    for key, result in results_a.items():
        assert result.losses[0] == pytest.approx(results_b[key].losses[0], rel=1e-12)  # same start
        assert abs(result.losses[-1] - results_b[key].losses[-1]) > 1e-6, key  # different steps
    for records in (records_a, records_b):
        assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
        assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "mlp", "--lr", "0"], "--lr must be a positive number, received 0.0"),
        (["train", "mlp", "--optimizer", "lbfgs"], "unknown optimizer 'lbfgs'"),
        (["train", "mlp", "--set", "colour=1"], "unknown key colour"),
        (["train", "mlp", "--steps", "0"], "--steps must be a positive integer"),
    ],
)
def test_train_bad_usage(capsys, argv, fragment):
    assert main(argv) == 2
    assert fragment in capsys.readouterr().err


class _Stop(Exception):
    pass


@pytest.mark.parametrize(
    "argv, steps, optimizer",
    [
        ([], None, "adam"),  # the example's own length and optimiser
        (["--steps", "20"], 20, "adam"),  # 20 is a length like any other, not "the default"
        (["--optimizer", "sgd"], None, "sgd"),  # an explicit sgd replaces the example's adam
    ],
)
def test_train_example_takes_steps_and_optimizer_as_given(monkeypatch, argv, steps, optimizer):
    import parity.examples

    seen = {}

    def fake_run_example(example, impls, dtypes, seed, given_steps, progress):
        seen.update(steps=given_steps, optimizer=example.optimizer)
        raise _Stop

    monkeypatch.setattr(parity.examples, "run_example", fake_run_example)
    assert EXAMPLES["digits_transformer"].optimizer == "adam"
    with pytest.raises(_Stop):
        main(["train", "digits_transformer", "--impl", "scratch", *argv])
    assert seen == {"steps": steps, "optimizer": optimizer}


def test_train_example_refuses_an_unknown_optimizer(capsys):
    assert main(["train", "digits_transformer", "--optimizer", "lbfgs"]) == 2
    assert "unknown optimizer 'lbfgs'" in capsys.readouterr().err
