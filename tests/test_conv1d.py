"""Conv1D over (B, L, C) sequences: by hand, by finite differences, through the importers, through
the harness on random configurations, and the permute the generated torch model makes between
nn.Conv1d's (B, C, L) and nn.LSTM's (B, L, C)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.conv import Conv1d
from parity import DTYPES
from parity.agreement.records import compare_arrays, compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.runners import RunRequest, run
from parity.sources import original_run
from parity.spec.generate import build_scratch, build_torch, input_layout
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.conv1d import Conv1D
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def layer_with(W: np.ndarray, b: np.ndarray, L: int, **kwargs) -> Conv1D:
    k, C_in, C_out = W.shape
    layer = Conv1D(C_out, k, **kwargs)
    layer.build((L, C_in))
    layer.params = {"W": W, "b": b}
    return layer


def test_causal_conv1d_by_hand():
    """k = 2, d = 2, causal: Z[t] = X[t - 2] * W[0] + X[t] * W[1] + b, X[-1], X[-2] = 0."""
    W = np.array([[[10.0]], [[1.0]]])  # (k, C_in, C_out) = (2, 1, 1)
    layer = layer_with(W, np.array([0.5]), 5, padding="causal", dilation_rate=2)
    X = np.arange(1.0, 6.0).reshape(1, 5, 1)  # 1, 2, 3, 4, 5
    Z = layer.forward(X)
    assert Z[0, :, 0].tolist() == [1.5, 2.5, 13.5, 24.5, 35.5]
    assert layer.output_shape((5, 1)) == Z.shape[1:]
    dX = layer.backward(np.ones_like(Z))
    # X[t] feeds Z[t] through W[1] and Z[t + 2] through W[0] where t + 2 < 5
    assert dX[0, :, 0].tolist() == [11.0, 11.0, 11.0, 1.0, 1.0]
    assert layer.grads["W"][:, 0, 0].tolist() == [1.0 + 2.0 + 3.0, 15.0] and layer.grads["b"].tolist() == [5.0]


def test_same_and_strided_valid_lengths_by_hand():
    W, b = np.ones((3, 1, 1)), np.zeros(1)
    X = np.arange(1.0, 7.0).reshape(1, 6, 1)
    same = layer_with(W, b, 6, padding="same", strides=2).forward(X)  # pads (0, 1): windows 1-3, 3-5, 5-6+0
    assert same[0, :, 0].tolist() == [6.0, 12.0, 11.0]
    valid = layer_with(W, b, 6, padding="valid", strides=2).forward(X)  # windows 1-3, 3-5
    assert valid[0, :, 0].tolist() == [6.0, 12.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "valid", "strides": 2},
        {"padding": "same", "strides": 3},
        {"padding": "causal", "dilation_rate": 2},
        {"padding": "causal", "strides": 2, "use_bias": False},
    ],
)
def test_conv1d_gradients_by_finite_differences(kwargs, rng):
    layer = Conv1D(3, 3, **kwargs)
    layer.build((7, 2))
    layer.init(rng)
    if layer.use_bias:
        layer.params["b"] = rng.standard_normal(3)
    results = check_gradients(layer, rng.standard_normal((2, 7, 2)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_configurations_are_refused_in_one_line():
    with pytest.raises(ValueError, match="padding must be one of valid, same, causal"):
        Conv1D(2, 3, padding="full")
    with pytest.raises(ValueError, match="shorter than the dilated kernel 5"):
        Conv1D(2, 3, dilation_rate=2).build((4, 1))
    with pytest.raises(CaseError, match="strides=2 together with dilation_rate=2"):
        get_case("conv1d").configure({"strides": 2, "dilation_rate": 2})
    with pytest.raises(CaseError, match=r"input_shape must be \[L, C\]"):
        get_case("conv1d").configure({"input_shape": [4, 4, 2]})


# The harness: every implementation, random configurations ------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv1d_case_on_every_implementation(dtype):
    records = check_case("conv1d", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def conv1d_configs(draw):
    k = draw(st.integers(1, 5))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 3))  # Keras refuses the two together
    padding = draw(st.sampled_from(["valid", "same", "causal"]))
    low = (k - 1) * dilation + 1 if padding == "valid" else 1
    return {
        "filters": draw(st.integers(1, 4)),
        "kernel_size": k,
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "use_bias": draw(st.booleans()),
        "input_shape": [draw(st.integers(low, low + 6)), draw(st.integers(1, 3))],
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=conv1d_configs(), seed=st.integers(0, 2**16))
def test_random_conv1d(config, seed):
    records = check_case("conv1d", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize(
    "rule, config, quantity",
    [
        ("conv_kernel_layout", {}, "weight:conv1d_0.W"),
        ("causal_padding", {"padding": "causal"}, "output"),
        ("channels_last_input", {"input_shape": [4, 4], "filters": 4, "padding": "same"}, "output"),
    ],
)
def test_disabling_a_rule_fails_the_check(rule, config, quantity):
    case = get_case("conv1d")
    request = make_request(case, case.configure(config), "float64", 0)
    assert all(r.passed for r in compare_runs("conv1d", "float64", run("scratch", request), run("torch", request)))
    request.disabled_rules = (rule,)
    failed = {
        r.quantity
        for r in compare_runs("conv1d", "float64", run("scratch", request), run("torch", request))
        if not r.passed
    }
    assert quantity in failed


# Importers and the permute between Conv1d and LSTM ---------------------------------------


def test_torch_importer_reads_conv1d_modules_channels_first():
    spec = import_torch(nn.Sequential(nn.Conv1d(3, 4, 3, padding="same"), nn.ReLU()), (3, 10))
    assert spec.input_shape == (10, 3)  # canonical (L, C): nn.Conv1d read (C, L)
    assert spec.nodes[0].kind == "conv1d" and spec.nodes[0].config["padding"] == "same"
    spec = import_torch(nn.Sequential(Conv1d(3, 4, 2, stride=2, padding="causal", dilation=1)), (3, 9))
    assert spec.nodes[0].config == {
        "filters": 4,
        "kernel_size": 2,
        "strides": 2,
        "padding": "causal",
        "dilation_rate": 1,
        "use_bias": True,
    }


def test_an_asymmetric_torch_padding_is_refused_in_one_line():
    with pytest.raises(SpecError) as error:
        import_torch(nn.Sequential(nn.Conv1d(3, 4, 3, padding=2)), (3, 10))
    assert len(str(error.value).splitlines()) == 1 and "neither 'valid' nor Keras' 'same'" in str(error.value)


class ConvThenLSTM(nn.Module):
    """What a practitioner writes: Conv1d on (B, C, L), then an LSTM over (B, L, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = Conv1d(3, 4, 3, padding="causal")
        self.lstm = nn.LSTM(4, 5, batch_first=True)

    def forward(self, x):
        y = self.conv(x)  # (B, 4, L)
        out, _ = self.lstm(y.permute(0, 2, 1))  # (B, L, 5)
        return out


def test_conv1d_then_lstm_imports_and_the_generated_model_permutes_between_them():
    torch.manual_seed(0)
    model = ConvThenLSTM().double()
    spec = import_torch(model, (3, 6))
    assert [n.kind for n in spec.nodes] == ["conv1d", "lstm"] and spec.input_shape == (6, 3)
    assert input_layout(spec).tag == "channels_first"
    generated = build_torch(spec)
    assert generated.permutes == {"lstm": ("channels_first", "canonical")}
    assert "permute before lstm: channels_first -> canonical" in repr(generated)
    # The user's own model, its weights read into the canonical layout, equals scratch ...
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 6, 3))
    G = rng.standard_normal((2, 6, 5))
    original = original_run(model, spec, X, G)
    targets = rng.standard_normal(G.shape)
    request = RunRequest(
        spec.name, {}, "float64", original["weights"], X, targets, G, spec=spec, loss="mean_squared_error"
    )
    for impl in ("scratch", "torch"):
        result = run(impl, request)
        assert compare_arrays(
            spec.name, "original", impl, "float64", "output", original["output"], result.output
        ).passed
        assert compare_arrays(
            spec.name, "original", impl, "float64", "grad:input", original["grads"]["input"], result.grads["input"]
        ).passed
    # ... and the generated torch and Keras models agree with scratch, traces included.
    request.trace = True
    reference = run("scratch", request)
    for impl in ("torch", "keras-jax"):
        records = compare_runs(spec.name, "float64", reference, run(impl, request))
        assert records and all(r.passed for r in records), failures(records)
    assert build_scratch(spec).output_shape == (6, 5)


def test_an_lstm_reading_a_channels_first_tensor_is_refused_in_one_line():
    class NoPermute(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv1d(3, 4, 3, padding="same")
            self.lstm = nn.LSTM(6, 5, batch_first=True)

        def forward(self, x):
            out, _ = self.lstm(self.conv(x))  # (B, 4, 6) read as 4 steps of 6 features
            return out

    with pytest.raises(SpecError) as error:
        import_torch(NoPermute(), (3, 6))
    assert len(str(error.value).splitlines()) == 1 and "reads a channels_first tensor" in str(error.value)


def test_a_flattened_conv1d_map_reads_its_rows_in_torch_order():
    """torch flattens a (B, C, L) map as (C, L), Keras and scratch (L, C): the Dense after it needs
    its rows permuted (rule flatten_order), for a 1-D map as for an image."""
    from parity.agreement.records import compare_runs
    from parity.runners import RunRequest, run
    from parity.spec.generate import build_scratch
    from parity.spec.model import stack

    spec = stack(
        "c1d", (7, 3), [("conv1d", {"filters": 4, "kernel_size": 3}), ("flatten", {}), ("dense", {"units": 2})]
    )
    model = build_scratch(spec)
    rng = np.random.default_rng(0)
    model.init(rng)
    weights = {k: np.array(v) + 0.1 for k, v in model.weights().items()}
    X, G = rng.standard_normal((2, 7, 3)), rng.standard_normal((2, 2))
    request = RunRequest("c1d", {}, "float64", weights, X, np.zeros_like(G), G, spec=spec)
    reference = run("scratch", request)
    agreed = compare_runs("c1d", "float64", reference, run("torch", request))
    assert all(r.passed for r in agreed if r.quantity != "loss")
    naive = RunRequest(**{**request.__dict__, "disabled_rules": ("flatten_order",)})
    failed = {r.quantity for r in compare_runs("c1d", "float64", reference, run("torch", naive)) if not r.passed}
    assert {"output", "grad:input", "grad:dense_0.W"} <= failed


def test_a_flattened_recurrent_sequence_keeps_its_rows():
    """An LSTM's (T, H) output is batch-first in torch as in Keras: its flatten needs no permutation,
    and permuting it (as for a channels-first map) would be wrong."""
    from parity.agreement.records import compare_runs
    from parity.runners import RunRequest, run
    from parity.spec.generate import build_scratch
    from parity.spec.model import stack

    spec = stack(
        "seq", (5, 3), [("lstm", {"units": 4, "return_sequences": True}), ("flatten", {}), ("dense", {"units": 2})]
    )
    model = build_scratch(spec)
    rng = np.random.default_rng(1)
    model.init(rng)
    weights = {k: np.array(v) + 0.1 for k, v in model.weights().items()}
    X, G = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 2))
    request = RunRequest("seq", {}, "float64", weights, X, np.zeros_like(G), G, spec=spec)
    records = compare_runs("seq", "float64", run("scratch", request), run("torch", request))
    assert all(r.passed for r in records if r.quantity != "loss")
