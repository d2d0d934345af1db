"""Grouped Conv2D (``groups``): by hand, by finite differences, through the harness on random
configurations, through both importers, and a check that fails when the groups are wrong.

ConvNeXt's 7x7 depthwise convolution is written ``Conv2D(C, 7, groups=C)`` in Keras; it stays a
conv2d (its kernel is (kh, kw, 1, C), not DepthwiseConv2D's (kh, kw, C, 1)), while torch's
``nn.Conv2d(C, C, 7, groups=C)`` is read as the depthwise_conv2d torch people mean by it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST, tolerance
from scratch.conv2d import Conv2D
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_grouped_conv_by_hand():
    """1x1 kernel, C_in = 2, groups = 2, two filters per group: output o reads only channel o // 2."""
    layer = Conv2D(4, 1, groups=2)
    layer.build((1, 1, 2))
    assert layer.weight_shapes() == {"W": (1, 1, 1, 4), "b": (4,)}
    layer.params = {"W": np.array([[[[1.0, 2.0, 3.0, 4.0]]]]), "b": np.array([0.0, 0.0, 0.0, 10.0])}
    X = np.array([[[[1.0, 10.0]]]])  # (1, 1, 1, 2)
    Z = layer.forward(X)
    assert Z[0, 0, 0].tolist() == [1.0, 2.0, 30.0, 50.0]
    dX = layer.backward(np.ones_like(Z))
    assert dX[0, 0, 0].tolist() == [3.0, 7.0]  # the group's filters summed
    assert layer.grads["W"][0, 0, 0].tolist() == [1.0, 1.0, 10.0, 10.0]


def test_groups_one_and_grouped_paths_agree(rng):
    """groups=G equals G separate convolutions over the channel slices, written with groups=1."""
    X = rng.standard_normal((2, 6, 5, 4))
    grouped = Conv2D(6, 3, padding="same", strides=2, groups=2)
    grouped.build((6, 5, 4))
    grouped.init(rng)
    Z = grouped.forward(X)
    for g in range(2):
        single = Conv2D(3, 3, padding="same", strides=2)
        single.build((6, 5, 2))
        single.params = {"W": grouped.params["W"][..., 3 * g : 3 * g + 3], "b": grouped.params["b"][3 * g : 3 * g + 3]}
        np.testing.assert_allclose(Z[..., 3 * g : 3 * g + 3], single.forward(X[..., 2 * g : 2 * g + 2]), rtol=tolerance("float64"))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"padding": "valid", "groups": 2},
        {"padding": "same", "strides": 2, "groups": 4},
        {"dilation_rate": 2, "use_bias": False, "groups": 4},
    ],
)
def test_grouped_gradients_by_finite_differences(kwargs, rng):
    layer = Conv2D(8, (3, 2), **kwargs)
    layer.build((6, 5, 4))
    layer.init(rng)
    if layer.use_bias:
        layer.params["b"] = rng.standard_normal(layer.params["b"].shape)
    results = check_gradients(layer, rng.standard_normal((2, 6, 5, 4)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_groups_are_refused_in_one_line():
    with pytest.raises(ValueError, match="groups"):
        Conv2D(6, 3, groups=4)
    layer = Conv2D(6, 3, groups=3)
    with pytest.raises(ValueError, match="does not divide the 4 input channels"):
        layer.build((5, 5, 4))
    with pytest.raises(CaseError) as error:
        get_case("conv2d_grouped").configure({"groups": 3})
    assert len(str(error.value).splitlines()) == 1 and "groups=3" in str(error.value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grouped_case_on_every_implementation(dtype):
    records = check_case("conv2d_grouped", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def grouped_configs(draw):
    groups = draw(st.integers(1, 3))
    k = draw(st.integers(1, 3))
    strides = draw(st.integers(1, 2))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = k if padding == "valid" else 1
    return {
        "filters": groups * draw(st.integers(1, 2)),
        "kernel_size": k,
        "strides": strides,
        "padding": padding,
        "dilation_rate": 1,
        "use_bias": draw(st.booleans()),
        "groups": groups,
        "input_shape": [draw(st.integers(low, low + 3)), draw(st.integers(low, low + 3)), groups * draw(st.integers(1, 2))],
        "batch": draw(st.integers(1, 2)),
    }


@SETTINGS
@given(config=grouped_configs(), seed=st.integers(0, 2**16))
def test_random_grouped_conv(config, seed):
    records = check_case("conv2d_grouped", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


def test_ungrouped_weights_in_a_grouped_layer_are_caught():
    """The torch side built with groups=1 cannot even take the grouped weight; a model that
    regroups the channels (groups=2 read as groups=4 on its own weights) is caught on the output."""
    case = get_case("conv2d_grouped")
    config = case.configure({"groups": 2, "filters": 8, "input_shape": [5, 5, 8]})
    request = make_request(case, config, "float64", 0)
    assert all(r.passed for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request)))
    regrouped = with_config(case, request, case.configure({"groups": 4, "filters": 8, "input_shape": [5, 5, 8]}))
    with pytest.raises(Exception, match="W"):
        run("torch", regrouped)  # the weights of groups=2 do not fit groups=4: refused, naming the weight


def test_importers_read_groups():
    spec = import_torch(nn.Sequential(nn.Conv2d(4, 6, 3, groups=2), nn.Conv2d(6, 6, 3, groups=6)), (4, 7, 7))
    assert [n.kind for n in spec.nodes] == ["conv2d", "depthwise_conv2d"]
    assert spec.nodes[0].config["groups"] == 2
