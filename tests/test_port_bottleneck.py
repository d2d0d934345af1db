"""A training step of MobileNetV2's linear bottleneck (a projection's BatchNormalization with no
activation, read by the next block's 1x1 expansion and its BatchNormalization), ported to torch.

From Keras' own initialisation (beta and moving mean zero) the projection's beta gradient and the
expansion's batch mean are exactly zero, so after one step both are rounding noise in every
implementation, and noise against noise read as a disagreement (``parity zoo MobileNetV2 --steps 1``
parted at ``expanded_conv_project_BN``). Training therefore starts from the source's weights with
their constant arrays varied (``parity.weights.vary_constants``): the same for source, port and
scratch, and every step's weights then agree to float64 rounding."""

from __future__ import annotations

from pathlib import Path

import pytest

import parity.ports
from parity.ports import compare
from parity.tolerance import TRAJECTORY_FLOAT64_REL

ROOT = Path(__file__).resolve().parents[1]
SOURCE = f"{ROOT}/examples/bottleneck_keras.py:build"


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> str:
    """The torch port's model.py, its weights converted from the source's (parity.porting). Made once
    for the three tests: each only reads it, and both compare it with the same source."""
    from parity.porting import port

    folder = tmp_path_factory.mktemp("bottleneck") / "torch"
    port(SOURCE, "torch", folder, None, ("float64",), steps=0)
    return f"{folder}/model.py:build_with_weights"


def _step_records(comparison, quantity: str):
    records = comparison.records
    return records[(records["step"] == 1) & (records["quantity"] == quantity)]


def test_a_training_step_of_the_bottleneck_agrees(generated):
    result = compare(SOURCE, generated, dtype="float64", weights_from="own", steps=1)
    assert result.agree, result.table()
    beta = _step_records(result, "weight:expanded_conv_project_BN.beta")
    assert len(beta) == 3 and (beta["max_rel_err"] <= TRAJECTORY_FLOAT64_REL).all()  # scratch-a, scratch-b, a-b


def test_from_the_frameworks_own_zeros_the_step_compares_noise(generated, monkeypatch):
    """The cause, shown: without the variation, beta after one step is zero up to rounding
    (in every implementation), and relative errors of that noise are meaningless."""
    monkeypatch.setattr(parity.ports, "vary_constants", lambda weights, rng: weights)
    result = compare(SOURCE, generated, dtype="float64", weights_from="own", steps=1)
    assert not result.agree
    beta = _step_records(result, "weight:expanded_conv_project_BN.beta")
    assert (beta["max_abs_err"] < 1e-14).all() and (beta["max_rel_err"] > TRAJECTORY_FLOAT64_REL).any()


def test_the_steps_start_after_the_worker_lets_go_of_the_models_it_built(generated, monkeypatch):
    """The training steps build their own models: the worker's built source and port (a copy of the
    weights each, kept for the inference runs) are let go before the first step runs, and the verdict
    is the same."""
    import parity.train

    events = []
    load, run_training = parity.ports.load, parity.train.run_training

    def recording_load(*args, **options):
        side = load(*args, **options)
        forget = side.forget
        side.forget = lambda: (events.append(f"forget {side.label}"), forget())
        return side

    def recording_run(impl, request, **options):
        events.append(impl)
        return run_training(impl, request, **options)

    monkeypatch.setattr(parity.ports, "load", recording_load)
    monkeypatch.setattr(parity.train, "run_training", recording_run)
    result = compare(SOURCE, generated, dtype="float64", weights_from="own", steps=1)
    assert result.agree, result.table()
    assert events[:3] == ["forget a", "forget b", "keras-torch"], events
