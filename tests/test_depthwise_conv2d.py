"""DepthwiseConv2D: by hand, by finite differences, through the harness on random configurations,
and through the torch importer, which reads nn.Conv2d(groups=C) as this kind and other groups as conv2d."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.layers import REGISTRY
from parity.runners import run
from parity.spec.torch_import import import_torch
from scratch.depthwise_conv2d import DepthwiseConv2D
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_depthwise_by_hand():
    """1x1 kernel, C = 2, m = 2: output channel c*m + k is X[..., c] * W[0, 0, c, k] + b."""
    layer = DepthwiseConv2D(1, depth_multiplier=2)
    layer.build((1, 2, 2))
    W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # (1, 1, C=2, m=2)
    layer.params = {"W": W, "b": np.array([0.0, 0.0, 0.0, 10.0])}
    X = np.array([[[[1.0, 10.0], [2.0, 20.0]]]])  # (1, 1, 2, 2)
    Z = layer.forward(X)
    assert Z[0, 0].tolist() == [[1.0, 2.0, 30.0, 50.0], [2.0, 4.0, 60.0, 90.0]]
    dX = layer.backward(np.ones_like(Z))
    assert dX[0, 0].tolist() == [[3.0, 7.0], [3.0, 7.0]]  # sum_k W[c, k]
    assert layer.grads["W"][0, 0].tolist() == [[3.0, 3.0], [30.0, 30.0]]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "valid"},
        {"padding": "same", "strides": 2, "depth_multiplier": 3},
        {"dilation_rate": 2, "use_bias": False},
    ],
)
def test_depthwise_gradients_by_finite_differences(kwargs, rng):
    layer = DepthwiseConv2D((3, 2), **kwargs)
    layer.build((6, 5, 2))
    layer.init(rng)
    if layer.use_bias:
        layer.params["b"] = rng.standard_normal(layer.params["b"].shape)
    results = check_gradients(layer, rng.standard_normal((2, 6, 5, 2)), rng)
    assert results and all(r.passed for r in results), results


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_case_on_every_implementation(dtype):
    records = check_case("depthwise_conv2d", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def depthwise_configs(draw):
    k = draw(st.integers(1, 4))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = (k - 1) * dilation + 1 if padding == "valid" else 1
    return {
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
@given(config=depthwise_configs(), seed=st.integers(0, 2**16))
def test_random_depthwise(config, seed):
    records = check_case("depthwise_conv2d", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


def test_disabling_the_kernel_rule_fails_the_check():
    case = get_case("depthwise_conv2d")
    request = make_request(case, case.configure(), "float64", 0)
    assert all(r.passed for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request)))
    request.disabled_rules = ("depthwise_kernel_layout",)
    failed = {
        r.quantity
        for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request))
        if not r.passed
    }
    assert {"output", "weight:depthwise_conv2d_0.W"} <= failed


def test_nn_conv2d_is_read_by_its_groups():
    model = nn.Sequential(nn.Conv2d(3, 6, 3, groups=3, padding="same"), nn.Conv2d(6, 4, 1))
    spec = import_torch(model, (3, 5, 5))
    assert [n.kind for n in spec.nodes] == ["depthwise_conv2d", "conv2d"]
    assert spec.nodes[0].config["depth_multiplier"] == 2 and spec.nodes[0].config["padding"] == "same"
    kind, _ = REGISTRY.read_torch_module(nn.Conv2d(4, 4, 3), (5, 5, 4))
    assert kind.name == "conv2d"
