"""BatchNormalization with center=False and/or scale=False (InceptionV3, InceptionResNetV2): the absent
parameter does not exist in scratch or Keras; torch holds it frozen at its identity value (or
affine=False for both). By hand, by finite differences, through the harness on random flags, through
both importers, and with the rule that freezes it switched off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.norm import frozen
from parity import DTYPES
from parity.check import check_case
from parity.divergences import get_divergence
from parity.divergences.base import run_divergence
from parity.gradcheck import check_gradients
from parity.layers import REGISTRY
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.batchnorm import BatchNorm
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FLAGS = [{"scale": False}, {"center": False}, {"center": False, "scale": False}]


def test_scale_false_by_hand():
    """One channel, values 1 and 3: mean 2, var 1, Xhat = (-1, 1) / sqrt(1 + eps); Z = Xhat + beta, no gamma."""
    layer = BatchNorm(epsilon=0.25, scale=False)
    layer.build((2, 1))
    layer.init(np.random.default_rng(0))
    assert sorted(layer.params) == ["beta"] and sorted(layer.weight_shapes()) == ["beta", "moving_mean", "moving_var"]
    layer.params["beta"] = np.array([10.0])
    layer.training = True
    Z = layer.forward(np.array([[[1.0], [3.0]]]))  # (1, 2, 1)
    assert Z[0, :, 0].tolist() == [10.0 - 1 / np.sqrt(1.25), 10.0 + 1 / np.sqrt(1.25)]
    layer.backward(np.array([[[1.0], [2.0]]]))
    assert sorted(layer.grads) == ["beta"] and layer.grads["beta"].tolist() == [3.0]


def test_center_false_by_hand():
    layer = BatchNorm(epsilon=0.25, center=False)
    layer.build((2, 1))
    layer.init(np.random.default_rng(0))
    layer.params["gamma"] = np.array([2.0])
    Z = layer.forward(np.array([[[1.0], [3.0]]]))  # inference: moving mean 0, moving var 1
    np.testing.assert_array_equal(Z[0, :, 0], 2.0 * np.array([1.0, 3.0]) / np.sqrt(1.25))
    layer.backward(np.ones_like(Z))
    assert sorted(layer.grads) == ["gamma"]


@pytest.mark.parametrize("flags", FLAGS, ids=str)
@pytest.mark.parametrize("training", [True, False])
def test_gradients_by_finite_differences(flags, training, rng):
    layer = BatchNorm(momentum=0.9, **flags)
    layer.build((3, 2, 4))
    layer.init(rng)
    layer.params.update({k: rng.standard_normal(v.shape) for k, v in layer.params.items()})
    layer.training = training
    results = check_gradients(layer, rng.standard_normal((2, 3, 2, 4)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_flag_is_refused():
    with pytest.raises(ValueError, match="scale must be True or False, received 'no'"):
        BatchNorm(scale="no")


@pytest.mark.parametrize("dtype", DTYPES)
def test_scale_false_case_on_every_implementation(dtype):
    records = check_case("batchnorm", {"scale": False}, FRAMEWORK_IMPLS, [dtype])
    assert records and all(r.passed for r in records), failures(records)
    assert not any("gamma" in r.quantity for r in records)  # no gamma, no gradient of it


@SETTINGS
@given(center=st.booleans(), scale=st.booleans(), training=st.booleans(), seed=st.integers(0, 2**16))
def test_random_flags(center, scale, training, seed):
    config = {"center": center, "scale": scale, "training": training}
    records = check_case("batchnorm", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


def test_torch_importer_reads_frozen_parameters_and_affine_false():
    model = nn.Sequential(
        frozen(nn.BatchNorm2d(3), "weight"),
        frozen(nn.BatchNorm2d(3), "bias"),
        nn.BatchNorm2d(3, affine=False),
        nn.BatchNorm2d(3),
    )
    spec = import_torch(model, (3, 4, 4))
    flags = [(n.config["center"], n.config["scale"]) for n in spec.nodes]
    assert flags == [(True, False), (False, True), (False, False), (True, True)]


def test_torch_importer_refuses_a_frozen_weight_that_is_not_one():
    bn = frozen(nn.BatchNorm2d(3), "weight")
    with torch.no_grad():
        bn.weight.fill_(2.0)
    with pytest.raises(SpecError) as error:
        import_torch(nn.Sequential(bn), (3, 4, 4))
    assert len(str(error.value).splitlines()) == 1 and "weight frozen at values other than 1" in str(error.value)


def test_the_torch_module_built_freezes_the_absent_parameter():
    module = REGISTRY["batch_norm"].torch.build({"epsilon": 1e-3, "momentum": 0.99, "center": True, "scale": False}, [(4, 4, 3)], None)
    assert not module.weight.requires_grad and module.bias.requires_grad
    assert REGISTRY["batch_norm"].converter.torch_frozen(_layer(scale=False)) == ["weight"]


def _layer(**flags):
    layer = BatchNorm(**flags, name="bn")
    layer.build((4, 4, 3))
    return layer


def test_keras_importer_reads_center_and_scale():
    from parity.runners.pool import keras_worker

    calls = [
        ("framework.keras3.models.conv_layers:batchnorm", {"input_shape": (4, 4, 3), **flags}) for flags in FLAGS
    ]
    specs = keras_worker("torch").call("parity.sources:specs_of_builders", calls)
    assert [(s.nodes[0].config["center"], s.nodes[0].config["scale"]) for s in specs] == [
        (True, False),
        (False, True),
        (False, False),
    ]


def test_a_trainable_weight_for_scale_false_is_caught_in_training():
    """The rule batchnorm_frozen_affine off: torch's weight trains where Keras has no gamma."""
    result = run_divergence(get_divergence("batchnorm_scale_false_training"))
    assert result.naive_caught and result.converted_passes, (result.naive_error, result.converted_error)
