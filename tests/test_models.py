"""Whole models (parity/cases/models.py): text_lstm, char_lstm, resnet_small, tcn.

By hand (a residual add's gradient reaches both branches), by finite differences through the
scratch graph, on every implementation in both dtypes, on hypothesis-drawn configurations,
trained step by step, through the importers (the ports are in tests/test_framework_ports.py),
and with a conversion rule switched off or a weight corrupted, to show each check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, corrupt_weights, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.base import RunRequest
from parity.spec.torch_import import ImportError_, import_torch
from parity.tolerance import FINITE_DIFFERENCE, MODEL_FLOAT64_WORST, TRAJECTORY_FLOAT64_REL, relative_error
from parity.train import train_case
from tests.conftest import FRAMEWORK_IMPLS, failures

MODELS = ["text_lstm", "char_lstm", "resnet_small", "tcn"]
SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


# Scratch: by hand and by finite differences ---------------------------------------------------


def test_a_residual_add_sends_its_gradient_to_both_branches():
    """tcn with one block, kernel 1 and identity weights: Z = ReLU(X W + b) + X P; dL/dX sums both paths."""
    case = get_case("tcn")
    config = case.configure(
        {"dilations": [1], "kernel_size": 1, "filters": 2, "num_classes": 2, "input_shape": [3, 2], "batch": 1}
    )
    model = case.build("scratch", config)
    model.init(np.random.default_rng(0))
    eye = np.eye(2)[None]  # (k=1, C_in, C_out)
    model.set_weights(
        {
            "block0_conv.W": 2 * eye,
            "block0_conv.b": np.array([0.0, -20.0]),  # channel 1 never fires: its ReLU passes no gradient
            "block0_proj.W": eye,
            "block0_proj.b": np.zeros(2),
            "logits.W": np.eye(2),
            "logits.b": np.zeros(2),
        }
    )
    X = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # (B, L, C)
    Z = model.forward(X)
    # block: [ReLU(2x + [0, -20]) + x] -> [[3, 2], [9, 4], [15, 6]]; mean over the steps -> [9, 4]
    np.testing.assert_array_equal(Z, [[9.0, 4.0]])
    dX = model.backward(np.array([[3.0, 3.0]]))
    # each step gets 3 / 3 = 1 per channel: channel 0 through ReLU (x2) and the shortcut (x1), channel 1 the shortcut only
    np.testing.assert_array_equal(dX, [[[3.0, 1.0]] * 3])


@pytest.mark.parametrize("name", MODELS)
def test_scratch_model_gradients_by_finite_differences(name, rng):
    case = get_case(name)
    config = case.configure({"batch": 2})
    model = case.build("scratch", config)
    model.init(rng)
    model.train(config.get("training", False))
    X = case.draw_inputs(config, 0)
    results = check_gradients(model, X, rng)  # L = sum(Z * G), G seeded: every output element matters
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]


def test_sequence_cross_entropy_is_the_mean_over_every_step(rng):
    """Logits (B, T, K): B * T rows, each with its label; dZ by central differences."""
    from scratch.losses import SoftmaxCrossEntropyWithLogits

    Z, y = rng.standard_normal((2, 3, 4)), rng.integers(0, 4, size=(2, 3))
    loss = SoftmaxCrossEntropyWithLogits()
    L = loss.forward(Z, y)
    dZ = loss.backward()
    rows = SoftmaxCrossEntropyWithLogits()
    assert L == pytest.approx(rows.forward(Z.reshape(6, 4), y.reshape(6)), rel=1e-15)
    np.testing.assert_allclose(dZ.reshape(6, 4), rows.backward(), rtol=1e-15)
    h, numeric = 1e-6, np.zeros_like(Z)
    for index in np.ndindex(Z.shape):
        up, down = Z.copy(), Z.copy()
        up[index] += h
        down[index] -= h
        numeric[index] = (loss.forward(up, y) - loss.forward(down, y)) / (2 * h)
    assert relative_error(dZ, numeric) <= FINITE_DIFFERENCE


# Every implementation -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_model_on_every_implementation(name, dtype):
    records = check_case(name, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert records and all(r.passed for r in records), failures(records)
    if dtype == "float64":
        assert max(r.max_rel_err for r in records) <= MODEL_FLOAT64_WORST, failures(records)
    quantities = {r.quantity for r in records}
    if name == "resnet_small":  # BatchNorm in training mode: the updated running statistics are compared too
        assert {"weight:block2_proj_bn.moving_mean", "weight:block2_proj_bn.moving_var"} <= quantities


@st.composite
def model_configs(draw):
    text = {
        "input_dim": draw(st.integers(2, 9)),
        "output_dim": draw(st.integers(1, 4)),
        "units": draw(st.integers(1, 4)),
        "num_classes": draw(st.integers(2, 4)),
        "input_shape": [draw(st.integers(1, 6))],
        "batch": draw(st.integers(1, 3)),
    }
    side = draw(st.integers(2, 7))
    resnet = {
        "filters": draw(st.integers(1, 4)),
        "filters_2": draw(st.integers(1, 5)),
        "num_classes": draw(st.integers(2, 4)),
        "training": draw(st.booleans()),
        "input_shape": [side, draw(st.integers(2, 7)), draw(st.integers(1, 3))],
        "batch": draw(st.integers(2, 3)),
    }
    tcn = {
        "filters": draw(st.integers(1, 4)),
        "kernel_size": draw(st.integers(1, 4)),
        "dilations": draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)),
        "num_classes": draw(st.integers(2, 4)),
        "input_shape": [draw(st.integers(1, 10)), draw(st.integers(1, 3))],
        "batch": draw(st.integers(1, 3)),
    }
    char = {
        "input_dim": draw(st.integers(2, 9)),
        "output_dim": draw(st.integers(1, 4)),
        "units": draw(st.integers(1, 4)),
        "input_shape": [draw(st.integers(1, 6))],
        "batch": draw(st.integers(1, 3)),
    }
    return {"text_lstm": text, "char_lstm": char, "resnet_small": resnet, "tcn": tcn}


@SETTINGS
@given(configs=model_configs(), seed=st.integers(0, 2**16))
def test_random_model_configurations(configs, seed):
    for name, config in configs.items():
        records = check_case(name, config, FRAMEWORK_IMPLS, DTYPES, seed)
        assert records and all(r.passed for r in records), failures(records)
        assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize("name", MODELS)
def test_models_train_identically(name):
    # SGD with momentum: with Adam, Keras' TensorFlow backend moves the embedding rows differently from
    # every other implementation (its embedding gradient is a tf.IndexedSlices, one row per occurrence of an
    # id, and Adam squares those rows before they are summed); measured here, not yet a divergence case.
    records, results = train_case(name, "momentum", steps=3, impls=FRAMEWORK_IMPLS, dtypes=["float64"])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert all(r.passed for r in records), failures(records)
    assert max(r.max_rel_err for r in records if r.step == 3) <= TRAJECTORY_FLOAT64_REL
    if name == "resnet_small":
        assert any("moving_mean" in r.quantity for r in records), "the running statistics are not followed"


# Bad configurations: one line, naming the model and the key ------------------------------------


@pytest.mark.parametrize(
    "name, overrides, fragment",
    [
        ("text_lstm", {"input_shape": [3, 2]}, "input_shape must be [steps] (integer ids), received [3, 2]"),
        ("text_lstm", {"num_classes": 1}, "num_classes must be an integer >= 2, received 1"),
        ("resnet_small", {"input_shape": [8, 8]}, "input_shape must be [H, W, C] (channels last), received [8, 8]"),
        ("resnet_small", {"filters_2": 0}, "filters_2 must be an integer >= 1, received 0"),
        ("resnet_small", {"batch": 1, "input_shape": [1, 1, 3]}, "training=true needs at least 2 values per channel"),
        ("tcn", {"dilations": []}, "dilations must be a non-empty list of positive integers"),
        ("tcn", {"dilations": [1, 0]}, "received [1, 0]"),
        ("tcn", {"input_shape": [12]}, "input_shape must be [L, C] (steps, channels), received [12]"),
    ],
)
def test_bad_configurations_are_refused_in_one_line(name, overrides, fragment):
    with pytest.raises(CaseError) as error:
        get_case(name).configure(overrides)
    message = str(error.value)
    assert message.startswith(f"model {name!r}: ") and fragment in message and "\n" not in message


# Importers: the patterns the ports use ---------------------------------------------------------


class _Final(nn.Module):
    """A bidirectional LSTM read through its two final states, in the given order."""

    def __init__(self, reverse_first: bool = False) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True, bidirectional=True)
        self.reverse_first = reverse_first

    def forward(self, x):
        out, _ = self.lstm(x)  # (B, T, 8)
        halves = [out[:, -1, :4], out[:, 0, 4:]]
        return torch.cat(halves[::-1] if self.reverse_first else halves, dim=-1)


def test_torch_importer_reads_both_final_states_as_return_sequences_false():
    spec = import_torch(_Final(), (5, 3))
    (node,) = spec.nodes
    assert node.kind == "bidirectional" and node.config["return_sequences"] is False


def test_torch_importer_refuses_the_final_states_in_the_other_order():
    with pytest.raises(ImportError_, match="unsupported torch operator"):
        import_torch(_Final(reverse_first=True), (5, 3))


# Each check can fail ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rule, parameter",
    [
        ("text_lstm", "bidirectional_last_step", "bidirectional_0.backward_W"),
        ("resnet_small", "same_padding", "block2_proj.W"),
        ("tcn", "causal_padding", "block1_conv.W"),
    ],
)
def test_a_forgotten_rule_or_a_corrupted_weight_is_caught(name, rule, parameter):
    case = get_case(name)
    config = case.configure({})
    request = make_request(case, config, "float64", 0)
    reference = run("scratch", request)
    assert all(r.passed for r in compare_runs(name, "float64", reference, run("torch", request)))
    naive = RunRequest(**{**request.__dict__, "disabled_rules": (rule,)})
    failed = {r.quantity for r in compare_runs(name, "float64", reference, run("torch", naive)) if not r.passed}
    assert "output" in failed, f"{rule} switched off went unnoticed"
    bad = make_request(case, config, "float64", 0, weights=corrupt_weights(request.weights, parameter, name))
    failed = {r.quantity for r in compare_runs(name, "float64", reference, run("torch", bad)) if not r.passed}
    assert {"output", f"weight:{parameter}"} <= failed


# The character language model on pydoc's help topics --------------------------------------------


def test_perplexity_by_hand():
    from parity.examples import score

    uniform = np.zeros((2, 3, 5))  # every id equally likely: perplexity = the vocabulary size
    assert score("perplexity", uniform, np.zeros((2, 3), dtype=int))[0] == pytest.approx(5.0, rel=1e-15)
    sure = np.full((1, 2, 4), -50.0)
    sure[0, [0, 1], [2, 3]] = 50.0  # the right id by far: perplexity 1
    assert score("perplexity", sure, np.array([[2, 3]]))[0] == pytest.approx(1.0, rel=1e-12)
    assert score("perplexity", sure, np.array([[3, 2]]))[0] > 1e40  # confidently wrong


def test_pydoc_windows_predict_the_next_character_and_hold_out_the_tail():
    from parity.examples import CHAR_STEPS, CHAR_VOCAB, _pydoc_windows, char_ids, pydoc_text, tail_split

    X, y = _pydoc_windows(limit=1000)
    assert X.shape == y.shape == ((1000 - 1) // CHAR_STEPS, CHAR_STEPS)
    np.testing.assert_array_equal(X[:, 1:], y[:, :-1])  # y is X one character on
    np.testing.assert_array_equal(X[1:, 0], y[:-1, -1])  # windows follow each other in the text
    ids, chars = char_ids(pydoc_text())
    assert ids.min() == 0 and ids.max() == CHAR_VOCAB - 1 and len(chars) == CHAR_VOCAB - 1
    X_train, X_test, _, _ = tail_split(X, y, 0)
    np.testing.assert_array_equal(X_test, X[-len(X_test) :])  # the held-out text comes after the training text


def test_char_lstm_example_agrees_everywhere_on_a_slice():
    from dataclasses import replace

    from parity.examples import EXAMPLES, _pydoc_windows, run_example

    example = replace(EXAMPLES["pydoc_char_lstm"], load=lambda: _pydoc_windows(limit=64 * 32 + 1))
    records, rows, losses, _ = run_example(example, FRAMEWORK_IMPLS, ["float64"], steps=3)
    assert {row["impl"] for row in rows} == {"scratch", *FRAMEWORK_IMPLS}
    assert all(r.passed for r in records) and {r.impl_b for r in records} == set(FRAMEWORK_IMPLS), failures(records)
    assert max(r.max_rel_err for r in records) <= TRAJECTORY_FLOAT64_REL
    perplexities = np.array([row["perplexity"] for row in rows])
    assert np.all(np.isfinite(perplexities)) and np.ptp(perplexities) <= TRAJECTORY_FLOAT64_REL * perplexities[0]
