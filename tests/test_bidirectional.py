"""Bidirectional(LSTM | GRU): by hand, by finite differences, on every implementation, through the
importers, and with each conversion rule switched off."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.convert.base import ConversionError
from parity.gradcheck import check_gradients
from parity.layers import REGISTRY
from parity.runners import run
from parity.runners.pool import ImplementationUnavailable, keras_worker
from parity.spec.codegen import model_source
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import tolerance
from parity.train import train_case
from scratch.bidirectional import Bidirectional
from scratch.gru import GRU
from scratch.lstm import LSTM
from scratch.simple_rnn import SimpleRNN
from tests.conftest import FRAMEWORK_IMPLS, failures

TOL = tolerance("float64")  # hand-computed numbers and NumPy agree to rounding
SETTINGS = settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def elman_pair(return_sequences: bool) -> Bidirectional:
    """Both directions h_t = tanh(x_t + h_prev): W = U = 1, b = 0, one unit."""
    layer = Bidirectional(SimpleRNN(1, return_sequences=return_sequences))
    layer.build((3, 1))
    layer.params = {f"{d}_{k}": np.ones((1, 1)) for d in ("forward", "backward") for k in ("W", "U")}
    layer.params.update({"forward_b": np.zeros(1), "backward_b": np.zeros(1)})
    return layer


def test_bidirectional_by_hand():
    X = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    f0 = math.tanh(1.0)
    f1 = math.tanh(2.0 + f0)
    f2 = math.tanh(3.0 + f1)  # the forward state after x_2
    g2 = math.tanh(3.0)
    g1 = math.tanh(2.0 + g2)
    g0 = math.tanh(1.0 + g1)  # the backward state after x_2, x_1, x_0
    Z = elman_pair(True).forward(X)
    np.testing.assert_allclose(Z[0], [[f0, g0], [f1, g1], [f2, g2]], rtol=TOL)
    last = elman_pair(False).forward(X)
    np.testing.assert_allclose(last[0], [f2, g0], rtol=TOL)  # each direction's final state, not Z[:, -1]
    assert Z[0, -1, 1] != last[0, 1]


def test_backward_by_hand():
    """dZ only on the backward half of the last output: only x_0 reaches it through g0 = tanh(x_0 + g1)."""
    layer = elman_pair(False)
    X = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    layer.forward(X)
    dX = layer.backward(np.array([[0.0, 1.0]]))
    g2 = math.tanh(3.0)
    g1 = math.tanh(2.0 + g2)
    d0 = 1.0 - math.tanh(1.0 + g1) ** 2
    d1 = d0 * (1.0 - g1**2)
    d2 = d1 * (1.0 - g2**2)
    np.testing.assert_allclose(dX[0, :, 0], [d0, d1, d2], rtol=TOL)
    assert layer.grads["forward_W"].item() == 0.0 and layer.grads["backward_W"].item() != 0.0


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize(
    "inner",
    [lambda rs: LSTM(3, return_sequences=rs), lambda rs: GRU(2, return_sequences=rs, reset_after=True)],
    ids=["lstm", "gru"],
)
def test_bidirectional_gradients_by_finite_differences(inner, return_sequences, rng):
    layer = Bidirectional(inner(return_sequences))
    layer.build((4, 2))
    layer.init(rng)
    for key in layer.params:
        if key.endswith("_b"):
            layer.params[key] = rng.standard_normal(layer.params[key].shape)
    results = check_gradients(layer, rng.standard_normal((2, 4, 2)), rng)
    names = " ".join(r.name for r in results)
    assert "backward_W" in names and "forward_U" in names, names
    assert results and all(r.passed for r in results), results


def test_bad_configurations_are_refused_in_one_line():
    with pytest.raises(ValueError, match="layer must be a recurrent layer"):
        Bidirectional(object())
    with pytest.raises(ValueError, match="layer must be one of"):
        REGISTRY["bidirectional"].scratch(REGISTRY["bidirectional"].configure({"layer": "dense"}), "b")
    with pytest.raises(ValueError, match="reset_after=False has no torch counterpart"):
        REGISTRY["bidirectional"].torch.build(
            {**REGISTRY["bidirectional"].defaults, "layer": "gru", "reset_after": False}, [(4, 2)], None
        )
    with pytest.raises(CaseError, match="units must be a positive integer"):
        get_case("bidirectional_lstm").configure({"units": 0})


def test_a_wrong_weight_shape_names_the_direction():
    kind = REGISTRY["bidirectional"]
    layer = kind.scratch(kind.configure({"units": 3}), "bi")
    layer.build((4, 2))
    weights = {k: np.zeros(s) for k, s in layer.weight_shapes().items()}
    weights["backward_U"] = np.zeros((2, 12))
    with pytest.raises(ConversionError, match=r"layer 'bi.backward', parameter 'U': expected shape \(3, 12\)"):
        kind.converter.to_torch(layer, weights)


# The harness: every implementation, random configurations ------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_bidirectional_lstm_on_every_implementation(dtype):
    records = check_case("bidirectional_lstm", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(
    case=st.sampled_from(["bidirectional_lstm", "bidirectional_gru"]),
    units=st.integers(1, 4),
    steps=st.integers(1, 5),
    features=st.integers(1, 3),
    batch=st.integers(1, 3),
    return_sequences=st.booleans(),
    use_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_bidirectional(case, units, steps, features, batch, return_sequences, use_bias, seed):
    config = {
        "units": units,
        "input_shape": [steps, features],
        "batch": batch,
        "return_sequences": return_sequences,
        "use_bias": use_bias,
    }
    records = check_case(case, config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize(
    "rule, config, quantity",
    [
        ("bidirectional_reverse_suffix", {}, "weight:bidirectional_0.backward_W"),
        ("bidirectional_reverse_suffix", {"return_sequences": False}, "output"),
        ("bidirectional_last_step", {"return_sequences": False}, "output"),
        ("gru_gate_order", {}, "output"),
    ],
)
def test_disabling_a_rule_fails_the_check(rule, config, quantity):
    name = "bidirectional_gru" if rule.startswith("gru") else "bidirectional_lstm"
    case = get_case(name)
    request = make_request(case, case.configure(config), "float64", 0)
    reference = run("scratch", request)
    assert all(r.passed for r in compare_runs(name, "float64", reference, run("torch", request)))
    request.disabled_rules = (rule,)
    failed = {r.quantity for r in compare_runs(name, "float64", reference, run("torch", request)) if not r.passed}
    assert quantity in failed, failed


# Importers ------------------------------------------------------------------------------


class Tagger(nn.Module):
    def __init__(self, last_step: bool = False, bidirectional: bool = True) -> None:
        super().__init__()
        self.rnn = nn.LSTM(2, 3, batch_first=True, bidirectional=bidirectional)
        self.last_step = last_step

    def forward(self, x):
        out, _ = self.rnn(x)  # (B, T, 6)
        return out[:, -1] if self.last_step else out


def test_torch_importer_reads_a_bidirectional_module():
    (node,) = import_torch(Tagger(), (4, 2)).nodes
    assert node.kind == "bidirectional"
    assert {k: node.config[k] for k in ("layer", "units", "return_sequences")} == {
        "layer": "lstm",
        "units": 3,
        "return_sequences": True,
    }
    (node,) = import_torch(Tagger(bidirectional=False), (4, 2)).nodes
    assert node.kind == "lstm"  # the unidirectional module stays an lstm


def test_torch_out_last_step_of_a_bidirectional_module_is_not_keras_last_state():
    """out[:, -1] is no Keras return_sequences=False here (divergence bidirectional_last_step): never read as one."""
    try:
        spec = import_torch(Tagger(last_step=True), (4, 2))
    except SpecError as error:
        assert len(str(error).splitlines()) == 1
        return
    assert all(node.config.get("return_sequences") is not False for node in spec.nodes)


def test_keras_importer_reads_bidirectional_layers():
    calls = [
        ("framework.keras3.models.rnn_layers:bidirectional_lstm", {"input_shape": (4, 2), "units": 3}),
        (
            "framework.keras3.models.rnn_layers:bidirectional_gru",
            {"input_shape": (4, 2), "units": 2, "return_sequences": True, "use_bias": False},
        ),
    ]
    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    lstm, gru = worker.call("parity.sources:specs_of_builders", calls)
    assert [(n.kind, n.config["layer"], n.config["return_sequences"]) for n in lstm.nodes] == [
        ("bidirectional", "lstm", False)
    ]
    assert [(n.kind, n.config["layer"], n.config["use_bias"]) for n in gru.nodes] == [("bidirectional", "gru", False)]


# Training ------------------------------------------------------------------------------


def test_bidirectional_trains_identically():
    """SGD moves torch's summed biases twice unless bias_hh_l0 AND bias_hh_l0_reverse stay frozen."""
    kind = REGISTRY["bidirectional"]
    layer = kind.scratch(kind.configure({"units": 2}), "bi")
    assert kind.converter.torch_frozen(layer) == ["bias_hh_l0", "bias_hh_l0_reverse"]
    records, _ = train_case("bidirectional_lstm", "sgd", steps=3, impls=["torch", "keras-jax"], dtypes=["float64"])
    assert records and all(r.passed for r in records), [r for r in records if not r.passed][:3]


def test_the_ported_torch_source_keeps_each_final_state():
    case = get_case("bidirectional_lstm")
    text = model_source(case.model_spec(case.configure({"return_sequences": False})), "torch", "m.py:m")
    compile(text, "model.py", "exec")
    assert "torch.cat([out[:, -1, :5], out[:, 0, 5:]], dim=-1)" in text and "bidirectional=True" in text, text
