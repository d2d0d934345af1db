"""The recurrent family through the harness: converter errors, random configurations, every rule needed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.convert import ConversionError
from parity.convert.recurrent import GRUConverter, LSTMConverter, SimpleRNNConverter
from parity.implementations import DTYPES
from parity.layers import REGISTRY
from parity.runners import run
from parity.runners.pool import keras_worker
from parity.tolerance import FLOAT64_REL
from tests.conftest import FRAMEWORK_IMPLS, failures

# Hypothesis draws the simplest configuration first (one step, one unit, one feature);
# each test adds explicit long examples so that 50 steps and both outputs are always covered.
SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _layer(case: str, overrides: dict | None = None):
    c = get_case(case)
    return c.build("scratch", c.configure(overrides)).layers[0]


# Converter shape errors --------------------------------------------------------


@pytest.mark.parametrize("case", ["simple_rnn", "lstm", "gru"])
def test_wrong_shape_names_layer_param_and_shapes(case):
    layer = _layer(case, {"units": 5, "input_shape": [7, 3]})
    k = {"simple_rnn": 1, "lstm": 4, "gru": 3}[case]
    weights = {
        "W": np.zeros((3, k * 5)),
        "U": np.zeros((5, k * 5 + 1)),
        "b": np.zeros((2, 15) if case == "gru" else (k * 5,)),
    }
    convert = REGISTRY[case].converter
    for direction in (convert.to_torch, convert.to_keras):
        with pytest.raises(ConversionError) as error:
            direction(layer, weights)
        assert (error.value.layer, error.value.param) == (layer.name, "U")
        assert tuple(error.value.expected) == (5, k * 5) and tuple(error.value.received) == (5, k * 5 + 1)
        assert f"'{layer.name}'" in str(error.value) and "'U'" in str(error.value)
        assert f"{(5, k * 5)}" in str(error.value) and f"{(5, k * 5 + 1)}" in str(error.value)
    state = convert.to_torch(layer, {**weights, "U": np.zeros((5, k * 5))})
    state["bias_hh_l0"] = np.zeros(k * 5 - 1)
    with pytest.raises(ConversionError, match=rf"'bias_hh_l0'.*\({k * 5},\).*\({k * 5 - 1},\)"):
        convert.from_torch(layer, state)


def test_gru_bias_shape_follows_reset_after():
    """(2, 3H) with reset_after=True, (3H,) without: the other one is refused, naming both shapes."""
    for reset_after, wrong in ((True, (15,)), (False, (2, 15))):
        layer = _layer("gru", {"units": 5, "reset_after": reset_after})
        weights = {"W": np.zeros((3, 15)), "U": np.zeros((5, 15)), "b": np.zeros(wrong)}
        with pytest.raises(ConversionError) as error:
            REGISTRY["gru"].converter.to_keras(layer, weights)
        assert error.value.param == "b" and tuple(error.value.received) == wrong
        assert tuple(error.value.expected) == ((2, 15) if reset_after else (15,))


def test_forgotten_transpose_fails_loudly_in_the_runner():
    """Not square (LSTM: (4H, F) against (F, 4H)): the torch runner names the model, layer, entry and shapes."""
    case = get_case("lstm")
    request = make_request(case, case.configure(), "float64", 0)
    request.disabled_rules = ("rnn_transpose",)
    with pytest.raises(
        ConversionError,
        match=r"model 'lstm', layer 'lstm_0', parameter 'weight_ih_l0': expected shape \(20, 3\), received \(3, 20\)",
    ):
        run("torch", request)


# Random configurations -----------------------------------------------------------

lengths = st.integers(1, 50)
features = st.integers(1, 6)
units = st.integers(1, 8)
batches = st.integers(1, 5)
seeds = st.integers(0, 2**16)


def _check_everywhere(model: str, config: dict, seed: int) -> None:
    records = check_case(model, config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.status == "compared" for r in records), failures(records)
    assert all(r.passed for r in records), failures(records)
    worst = max(r.max_rel_err for r in records if r.dtype == "float64")
    assert worst <= FLOAT64_REL, failures([r for r in records if r.dtype == "float64" and r.max_rel_err > FLOAT64_REL])


@SETTINGS
@given(
    units=units,
    features=features,
    steps=lengths,
    batch=batches,
    return_sequences=st.booleans(),
    use_bias=st.booleans(),
    seed=seeds,
)
@example(units=4, features=3, steps=50, batch=2, return_sequences=True, use_bias=True, seed=1)
def test_random_simple_rnn(units, features, steps, batch, return_sequences, use_bias, seed):
    config = {
        "units": units,
        "input_shape": [steps, features],
        "batch": batch,
        "return_sequences": return_sequences,
        "use_bias": use_bias,
    }
    _check_everywhere("simple_rnn", config, seed)


@SETTINGS
@given(
    units=units,
    features=features,
    steps=lengths,
    batch=batches,
    return_sequences=st.booleans(),
    use_bias=st.booleans(),
    seed=seeds,
)
@example(units=6, features=4, steps=50, batch=3, return_sequences=False, use_bias=True, seed=2)
def test_random_lstm(units, features, steps, batch, return_sequences, use_bias, seed):
    config = {
        "units": units,
        "input_shape": [steps, features],
        "batch": batch,
        "return_sequences": return_sequences,
        "use_bias": use_bias,
    }
    _check_everywhere("lstm", config, seed)


@SETTINGS
@given(
    units=units,
    features=features,
    steps=lengths,
    batch=batches,
    return_sequences=st.booleans(),
    reset_after=st.booleans(),
    use_bias=st.booleans(),
    seed=seeds,
)
@example(units=6, features=3, steps=50, batch=2, return_sequences=True, reset_after=True, use_bias=False, seed=3)
@example(units=3, features=5, steps=17, batch=4, return_sequences=True, reset_after=False, use_bias=True, seed=4)
def test_random_gru(units, features, steps, batch, return_sequences, reset_after, use_bias, seed):
    config = {
        "units": units,
        "input_shape": [steps, features],
        "batch": batch,
        "return_sequences": return_sequences,
        "reset_after": reset_after,
        "use_bias": use_bias,
    }
    _check_everywhere("gru", config, seed)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    model=st.sampled_from(["rnn_classifier", "lstm_seq", "gru_classifier"]),
    units=units,
    features=features,
    steps=lengths,
    batch=batches,
    seed=seeds,
)
def test_random_sequence_models(model, units, features, steps, batch, seed):
    _check_everywhere(model, {"units": units, "input_shape": [steps, features], "batch": batch}, seed)


def test_keras_jax_gru_without_bias_crashes_in_float32_under_x64():
    """Why keras-jax runs float32 with x64 off (parity.runners.base.needs_x64).

    Keras 3.15's JAX GRU (keras/src/backend/jax/rnn.py, gru) makes the missing biases
    with jnp.zeros(3 * hidden_size) and no dtype: float64 once JAX_ENABLE_X64 is set, so
    a float32 scan carry changes dtype and JAX refuses. When this stops raising, the
    x64 switch may stay on for float32 too.
    """
    case = get_case("gru")
    request = make_request(case, case.configure({"use_bias": False}), "float32", 0)
    with pytest.raises(TypeError, match="carry"):
        keras_worker("jax", x64=True).call("parity.runners.keras_runner:run_keras", request)


# Every rule is needed -------------------------------------------------------------

# (rule, case, configuration where it matters)
RULE_CASES = [
    ("rnn_transpose", "simple_rnn", {"units": 3, "input_shape": [6, 3]}),  # square: loads, computes wrong
    ("rnn_bias_split", "simple_rnn", {}),
    ("rnn_bias_split", "lstm", {}),
    ("rnn_bias_split", "gru", {"reset_after": False}),
    ("gru_gate_order", "gru", {"reset_after": True}),
    ("gru_gate_order", "gru", {"reset_after": False}),
    ("gru_recurrent_bias", "gru", {"reset_after": True}),
]


# Rules that only matter in training; each is shown by a training divergence case.
TRAINING_RULES = {"rnn_single_bias_training": "rnn_two_biases_training"}


def test_every_rule_is_exercised():
    from parity.divergences import all_divergences

    declared = {r for c in (SimpleRNNConverter, LSTMConverter, GRUConverter) for r in c.rules}
    assert declared == {rule for rule, _, _ in RULE_CASES} | set(TRAINING_RULES)
    assert set(TRAINING_RULES.values()) <= set(all_divergences())


@pytest.mark.parametrize("rule, case, config", RULE_CASES)
def test_disabling_a_rule_fails_the_check(rule, case, config):
    c = get_case(case)
    request = make_request(c, c.configure(config), "float64", 0)
    reference = run("scratch", request)
    assert all(r.passed for r in compare_runs(case, "float64", reference, run("torch", request)))
    request.disabled_rules = (rule,)
    failed = {r.quantity for r in compare_runs(case, "float64", reference, run("torch", request)) if not r.passed}
    assert {"output", "grad:input"} <= failed, failed


@pytest.mark.parametrize("rule, case", [("rnn_transpose", "lstm"), ("rnn_transpose", "gru")])
def test_disabling_the_transpose_of_a_gated_cell_is_a_conversion_error(rule, case):
    c = get_case(case)
    request = make_request(c, c.configure(), "float64", 0)
    request.disabled_rules = (rule,)
    with pytest.raises(ConversionError, match=rf"layer '{case}_0', parameter 'weight_ih_l0'"):
        run("torch", request)


# The bias-split gradient rule, checked in torch itself -----------------------------


@pytest.mark.parametrize("case, config", [("simple_rnn", {}), ("lstm", {}), ("gru", {"reset_after": False})])
def test_both_torch_biases_get_the_same_gradient(case, config):
    """grads_from_torch keeps d bias_ih alone because d bias_ih = d bias_hh wherever b = b_ih + b_hh."""
    c = get_case(case)
    model = c.build("torch", c.configure(config)).to(torch.float64)
    x = torch.randn(4, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model(x).square().sum().backward()
    rnn = model.module(f"{case}_0")
    torch.testing.assert_close(rnn.bias_ih_l0.grad, rnn.bias_hh_l0.grad, rtol=0, atol=FLOAT64_REL)


def test_nn_gru_candidate_bias_gradient_differs():
    """In nn.GRU b_hn sits inside r * (...): its gradient is r times b_in's, which is why reset_after=True keeps two rows."""
    model = get_case("gru").build("torch", get_case("gru").configure()).to(torch.float64)
    x = torch.randn(4, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model(x).square().sum().backward()
    rnn, H = model.module("gru_0"), 5
    torch.testing.assert_close(rnn.bias_ih_l0.grad[: 2 * H], rnn.bias_hh_l0.grad[: 2 * H], rtol=0, atol=FLOAT64_REL)
    assert not torch.allclose(rnn.bias_ih_l0.grad[2 * H :], rnn.bias_hh_l0.grad[2 * H :])
