"""SeparableConv2D: by hand, by finite differences, through the harness on random configurations,
through both importers (framework.pytorch.conv.SeparableConv2d as one kind; two bare nn.Conv2d as
depthwise_conv2d + conv2d), and with each conversion rule switched off."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.conv import SeparableConv2d
from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.separable_conv2d import SeparableConv2D
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_separable_by_hand():
    """1x1 depthwise kernel, C = 2, m = 1, one filter: Z = (X[..., 0] * D0) * P0 + (X[..., 1] * D1) * P1 + b."""
    layer = SeparableConv2D(1, 1)
    layer.build((1, 2, 2))
    layer.params = {
        "D": np.array([[[[2.0], [3.0]]]]),  # (1, 1, 2, 1)
        "P": np.array([[[[10.0], [100.0]]]]),  # (1, 1, 2, 1)
        "b": np.array([0.5]),
    }
    X = np.array([[[[1.0, 1.0], [2.0, 0.0]]]])  # (1, 1, 2, 2)
    Z = layer.forward(X)
    assert Z[0, 0, :, 0].tolist() == [2 * 10 + 3 * 100 + 0.5, 4 * 10 + 0.5]
    dX = layer.backward(np.ones_like(Z))
    assert dX[0, 0].tolist() == [[20.0, 300.0], [20.0, 300.0]]  # D[c] * P[c]
    assert layer.grads["D"][0, 0, :, 0].tolist() == [30.0, 100.0]  # sum of X[..., c] * P[c]
    assert layer.grads["P"][0, 0, :, 0].tolist() == [6.0, 3.0]  # sum of Y[..., c]
    assert layer.grads["b"].tolist() == [2.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "valid"},
        {"padding": "same", "strides": 2, "depth_multiplier": 2},
        {"dilation_rate": 2, "use_bias": False},
    ],
)
def test_separable_gradients_by_finite_differences(kwargs, rng):
    layer = SeparableConv2D(3, (3, 2), **kwargs)
    layer.build((6, 5, 2))
    layer.init(rng)
    if layer.use_bias:
        layer.params["b"] = rng.standard_normal(layer.params["b"].shape)
    results = check_gradients(layer, rng.standard_normal((2, 6, 5, 2)), rng)
    assert sorted(r.name for r in results) == sorted(["input", "D", "P", *(["b"] if layer.use_bias else [])])
    assert all(r.passed for r in results), results


def test_bad_filters_are_refused():
    with pytest.raises(ValueError, match="filters must be a positive integer, received 0"):
        SeparableConv2D(0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_separable_case_on_every_implementation(dtype):
    records = check_case("separable_conv2d", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def separable_configs(draw):
    k = draw(st.integers(1, 4))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = (k - 1) * dilation + 1 if padding == "valid" else 1
    return {
        "filters": draw(st.integers(1, 4)),
        "kernel_size": k,
        "strides": strides,
        "padding": padding,
        "depth_multiplier": draw(st.integers(1, 3)),
        "dilation_rate": dilation,
        "use_bias": draw(st.booleans()),
        "input_shape": [draw(st.integers(low, low + 4)), draw(st.integers(low, low + 4)), draw(st.integers(1, 3))],
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=separable_configs(), seed=st.integers(0, 2**16))
def test_random_separable(config, seed):
    records = check_case("separable_conv2d", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize(
    "rule, weight",
    [("depthwise_kernel_layout", "separable_conv2d_0.D"), ("conv_kernel_layout", "separable_conv2d_0.P")],
)
def test_disabling_a_kernel_rule_fails_the_check(rule, weight):
    case = get_case("separable_conv2d")
    request = make_request(case, case.configure(), "float64", 0)
    assert all(r.passed for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request)))
    request.disabled_rules = (rule,)
    failed = {
        r.quantity
        for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request))
        if not r.passed
    }
    assert {"output", f"weight:{weight}"} <= failed


def test_torch_importer_reads_the_module_as_one_kind_and_two_convolutions_as_two():
    spec = import_torch(nn.Sequential(SeparableConv2d(3, 5, 3, stride=2, padding="same", depth_multiplier=2)), (3, 7, 6))
    assert [n.kind for n in spec.nodes] == ["separable_conv2d"]
    assert spec.nodes[0].config == {
        "filters": 5,
        "kernel_size": [3, 3],
        "strides": [2, 2],
        "padding": "same",
        "depth_multiplier": 2,
        "dilation_rate": [1, 1],
        "use_bias": True,
    }
    two = nn.Sequential(nn.Conv2d(3, 6, 3, groups=3, bias=False), nn.Conv2d(6, 5, 1))
    assert [n.kind for n in import_torch(two, (3, 7, 6)).nodes] == ["depthwise_conv2d", "conv2d"]


def test_a_depthwise_stage_with_a_bias_is_refused_in_one_line():
    module = SeparableConv2d(3, 5, 3)
    module.depthwise = nn.Conv2d(3, 3, 3, groups=3)  # with a bias: Keras' separable has none there
    with pytest.raises(SpecError) as error:
        import_torch(nn.Sequential(module), (3, 7, 6))
    message = str(error.value)
    assert len(message.splitlines()) == 1 and "bias=True" in message


def test_keras_importer_reads_the_layer():
    from parity.runners.pool import keras_worker

    call = (
        "framework.keras3.models.conv_layers:separable_conv2d",
        {"input_shape": (7, 6, 3), "filters": 5, "kernel_size": (3, 2), "padding": "same", "depth_multiplier": 2},
    )
    (spec,) = keras_worker("torch").call("parity.sources:specs_of_builders", [call])
    assert spec.nodes[0].kind == "separable_conv2d"
    assert spec.nodes[0].config == {
        "filters": 5,
        "kernel_size": [3, 2],
        "strides": [1, 1],
        "padding": "same",
        "depth_multiplier": 2,
        "dilation_rate": [1, 1],
        "use_bias": True,
    }
