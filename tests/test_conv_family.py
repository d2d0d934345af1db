"""The convolutional family across implementations: converters, random configurations, rules.

- Converters refuse a wrong shape with an error naming layer, parameter and both shapes.
- Configurations drawn at random (kernel 1-5, stride 1-3, dilation 1-2, odd and even
  sizes, both paddings, BatchNorm in training and inference) agree on every framework
  implementation in both dtypes, to 1e-10 in float64.
- Switching off any conversion rule of the family makes the check fail.

keras-jax compiles every op anew for each new shape (~50 ms each), so each random
example costs seconds there: the example counts are small on purpose.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.convert.base import ConversionError, conversion_context
from parity.convert.conv import BatchNormConverter, Conv2DConverter
from parity.implementations import DTYPES
from parity.layers import REGISTRY
from parity.runners import run
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def assert_all_agree(records) -> None:
    assert records and all(r.status == "compared" for r in records), failures(records)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-10 for r in records if r.dtype == "float64"), failures(records)


# Converters: wrong shapes are named ----------------------------------------------------


def scratch_layer(case: str, config: dict | None = None):
    c = get_case(case)
    return c.build("scratch", c.configure(config)).layers[0]


def test_conv_converter_names_layer_parameter_and_shapes():
    layer = scratch_layer("conv2d")  # W (3, 3, 3, 4), b (4,)
    weights = {"W": np.zeros((3, 3, 4, 3)), "b": np.zeros(4)}
    with pytest.raises(
        ConversionError,
        match=r"layer 'conv2d_0', parameter 'W': expected shape \(3, 3, 3, 4\), received \(3, 3, 4, 3\)",
    ):
        Conv2DConverter().to_torch(layer, weights)
    with pytest.raises(
        ConversionError,
        match=r"layer 'conv2d_0', parameter 'weight': expected shape \(4, 3, 3, 3\), received \(3, 3, 3, 4\)",
    ):
        Conv2DConverter().from_torch(layer, {"weight": np.zeros((3, 3, 3, 4)), "bias": np.zeros(4)})
    with pytest.raises(
        ConversionError, match=r"layer 'conv2d_0', parameter 'b': expected shape \(4,\), received \(3,\)"
    ):
        Conv2DConverter().to_keras(layer, {"W": np.zeros((3, 3, 3, 4)), "b": np.zeros(3)})


def test_batchnorm_converter_names_layer_parameter_and_shapes():
    layer = scratch_layer("batchnorm")  # 3 channels
    good = {k: np.ones(3) for k in ("gamma", "beta", "moving_mean", "moving_var")}
    with pytest.raises(
        ConversionError, match=r"layer 'batch_norm_0', parameter 'moving_var': expected shape \(3,\), received \(4,\)"
    ):
        BatchNormConverter().to_torch(layer, {**good, "moving_var": np.ones(4)})
    with pytest.raises(
        ConversionError,
        match=r"layer 'batch_norm_0', parameter 'moving_variance': expected shape \(3,\), received \(2,\)",
    ):
        BatchNormConverter().from_keras(layer, [np.ones(3), np.ones(3), np.ones(3), np.ones(2)])


def test_running_var_is_corrected_after_exactly_one_pass():
    """torch's unbiased running_var becomes Keras' biased one only when the pass is known; otherwise it is left as is."""
    layer = scratch_layer("batchnorm", {"momentum": 0.9})  # (5, 4, 3) images: n = 2 * 5 * 4 = 40 values per channel
    old, v = np.full(3, 2.0), np.array([0.5, 1.0, 3.0])  # loaded moving_var, biased batch variance
    state = {k: np.ones(3) for k in ("weight", "bias", "running_mean")}
    state["running_var"] = 0.9 * old + 0.1 * v * 40 / 39  # what torch stores
    loaded = {f"batch_norm_0.{k}": np.ones(3) for k in ("gamma", "beta", "moving_mean")} | {
        "batch_norm_0.moving_var": old
    }
    converter = BatchNormConverter()
    for passes, expected in (
        (0, state["running_var"]),
        (1, 0.9 * old + 0.1 * v),
        (2, state["running_var"]),
    ):
        with conversion_context(loaded=loaded, batch=2):
            out = converter.from_torch(layer, {**state, "num_batches_tracked": np.array(passes)})
        np.testing.assert_allclose(out["moving_var"], expected, rtol=1e-15)
    out = converter.from_torch(
        layer, {**state, "num_batches_tracked": np.array(1)}
    )  # no context: as torch holds it
    np.testing.assert_array_equal(out["moving_var"], state["running_var"])


def test_strides_with_dilation_is_refused_naming_both_keys():
    with pytest.raises(CaseError, match=r"strides=2 together with dilation_rate=2: Keras' Conv2D refuses"):
        get_case("conv2d").configure({"strides": 2, "dilation_rate": 2})


# Random configurations agree everywhere ------------------------------------------------


@st.composite
def conv2d_configs(draw):
    kh, kw = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    strides = draw(st.integers(1, 3))
    dilation = 1 if strides > 1 else draw(st.integers(1, 2))  # Keras refuses the two together
    padding = draw(st.sampled_from(["valid", "same"]))
    low_h, low_w = ((kh - 1) * dilation + 1, (kw - 1) * dilation + 1) if padding == "valid" else (1, 1)
    return {
        "filters": draw(st.integers(1, 4)),
        "kernel_size": kh if kh == kw else [kh, kw],
        "strides": strides,
        "padding": padding,
        "dilation_rate": dilation,
        "use_bias": draw(st.booleans()),
        "input_shape": [
            draw(st.integers(low_h, low_h + 5)),
            draw(st.integers(low_w, low_w + 5)),
            draw(st.integers(1, 3)),
        ],
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=conv2d_configs(), seed=st.integers(0, 2**16))
def test_random_conv2d(config, seed):
    assert_all_agree(check_case("conv2d", config, FRAMEWORK_IMPLS, DTYPES, seed))


def keras_torch_avgpool_bug(config: dict) -> bool:
    """Divergence keras_torch_avgpool_same_padding: asymmetric 'same' padding with a pool of 3 or more."""
    if config["padding"] != "same":
        return False
    pool, strides = config["pool_size"], config["strides"] or config["pool_size"]
    odd_total = any(max((math.ceil(n / strides) - 1) * strides + pool - n, 0) % 2 for n in config["input_shape"][:2])
    return odd_total and pool >= 3


@SETTINGS
@given(
    model=st.sampled_from(["maxpool2d", "avgpool2d"]),
    pool=st.integers(1, 4),
    strides=st.sampled_from([None, 1, 2, 3]),
    padding=st.sampled_from(["valid", "same"]),
    extra=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    channels=st.integers(1, 3),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_pooling(model, pool, strides, padding, extra, channels, batch, seed):
    config = {
        "pool_size": pool,
        "strides": strides,
        "padding": padding,
        "input_shape": [pool + extra[0], pool + extra[1], channels],
        "batch": batch,
    }
    impls = list(FRAMEWORK_IMPLS)
    if model == "avgpool2d" and keras_torch_avgpool_bug(config):
        impls.remove("keras-torch")  # a registered divergence, shown in test_divergences
    assert_all_agree(check_case(model, config, impls, DTYPES, seed))


@SETTINGS
@given(
    training=st.booleans(),
    epsilon=st.sampled_from([1e-3, 1e-5, 0.1]),
    momentum=st.sampled_from([0.99, 0.9, 0.5]),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4)),
    batch=st.integers(2, 4),
    seed=st.integers(0, 2**16),
)
def test_random_batchnorm(training, epsilon, momentum, shape, batch, seed):
    config = {
        "training": training,
        "epsilon": epsilon,
        "momentum": momentum,
        "input_shape": list(shape),
        "batch": batch,
    }
    assert_all_agree(check_case("batchnorm", config, FRAMEWORK_IMPLS, DTYPES, seed))


# Each conversion rule matters ----------------------------------------------------------

RULES = [
    ("conv_kernel_layout", "conv2d", {}, "weight:conv2d_0.W"),
    ("flatten_order", "cnn", {}, "output"),  # the rule applies both ways, so the read-back weight round-trips
    ("batchnorm_biased_running_var", "batchnorm", {"training": True}, "weight:batch_norm_0.moving_var"),
    ("batchnorm_biased_running_var", "cnn_bn", {"training": True}, "weight:batch_norm_1.moving_var"),
]


# Rules that only matter in training; each is shown by a training divergence case.
TRAINING_RULES = {"batchnorm_frozen_affine": "batchnorm_scale_false_training"}


def test_rules_of_the_family_are_all_tested():
    from parity.divergences import all_divergences

    rules = {rule for rule, *_ in RULES} | set(TRAINING_RULES)
    assert set(Conv2DConverter.rules) | set(BatchNormConverter.rules) | {"flatten_order"} == rules
    assert set(TRAINING_RULES.values()) <= set(all_divergences())


@pytest.mark.parametrize("rule, model, config, quantity", RULES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_disabling_a_rule_fails_the_check(rule, model, config, quantity, dtype):
    case = get_case(model)
    request = make_request(case, case.configure(config), dtype, 0)
    assert all(r.passed for r in compare_runs(model, dtype, run("scratch", request), run("torch", request)))
    request.disabled_rules = (rule,)
    failed = {
        r.quantity for r in compare_runs(model, dtype, run("scratch", request), run("torch", request)) if not r.passed
    }
    assert quantity in failed


def test_cnn_layers_pair_one_to_one():
    """Every layer of the spec is one scratch layer and one torch module, and every weighted one has a converter."""
    case = get_case("cnn_bn")
    config = case.configure()
    spec = case.model_spec(config)
    scratch_model, torch_model = case.build("scratch", config), case.build("torch", config)
    assert [layer.name for layer in scratch_model.layers] == [node.name for node in spec.nodes]
    assert len(torch_model.layers) == len(spec.nodes)
    for node, layer in zip(spec.nodes, scratch_model.layers):
        converter = REGISTRY[node.kind].converter
        assert bool(layer.weight_shapes()) == bool(converter.rules), node.name
