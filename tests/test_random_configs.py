"""Configurations drawn at random, not written anywhere else in the tests, agree everywhere."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.check import check_case
from parity.implementations import DTYPES
from parity.tolerance import tolerance
from tests.conftest import FRAMEWORK_IMPLS, failures

# Slopes are multiples of 1/64: exact in float32, as TensorFlow's LeakyRelu needs
# (divergence case tf_leaky_relu_float32_slope); any slope is fine everywhere else.
slopes = st.integers(1, 63).map(lambda k: k / 64)
activations = st.sampled_from(
    ["linear", "sigmoid", "tanh", "relu", "relu6", "silu", "hard_sigmoid", "hard_swish", "leaky_relu", "softmax", "gelu"]
)
SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(
    units=st.lists(st.integers(1, 12), min_size=1, max_size=4),
    activation=activations,
    slope=slopes,
    approximate=st.booleans(),
    num_classes=st.integers(2, 6),
    input_dim=st.integers(1, 9),
    batch=st.integers(1, 9),
    seed=st.integers(0, 2**16),
)
def test_random_mlp(units, activation, slope, approximate, num_classes, input_dim, batch, seed):
    config = {
        "units": units,
        "activation": activation,
        "negative_slope": slope,
        "approximate": approximate,
        "num_classes": num_classes,
        "input_shape": [input_dim],
        "batch": batch,
    }
    records = check_case("mlp", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= tolerance("float64") for r in records if r.dtype == "float64"), failures(records)


@SETTINGS
@given(
    units=st.integers(1, 10),
    use_bias=st.booleans(),
    activation=activations,
    slope=slopes,
    input_dim=st.integers(1, 10),
    batch=st.integers(1, 10),
    seed=st.integers(0, 2**16),
)
def test_random_dense(units, use_bias, activation, slope, input_dim, batch, seed):
    config = {"units": units, "use_bias": use_bias, "activation": activation, "negative_slope": slope, "input_shape": [input_dim], "batch": batch}
    records = check_case("dense", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert all(r.passed for r in records), failures(records)


@SETTINGS
@given(units=st.integers(1, 4), input_dim=st.integers(1, 12), batch=st.integers(1, 20), seed=st.integers(0, 2**16))
def test_random_regressions(units, input_dim, batch, seed):
    for model in ("linear_regression", "logistic_regression"):
        records = check_case(model, {"units": units, "input_shape": [input_dim], "batch": batch}, FRAMEWORK_IMPLS, DTYPES, seed)
        assert all(r.passed for r in records), failures(records)
        assert max(r.max_rel_err for r in records if r.dtype == "float64") <= tolerance("float64")
        assert np.isfinite(max(r.max_rel_err for r in records))
