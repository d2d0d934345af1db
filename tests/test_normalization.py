"""Normalization (EfficientNet's second layer): one registry entry, its scratch layer, torchvision's
(x - mean) / std as a module of framework.pytorch.preprocessing, Keras' Normalization with its
statistics as weights. By hand, by finite differences, through both importers, through the harness
on random configurations, and the variance copied in as the std caught."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.preprocessing import Normalization as TorchNormalization
from parity.check import check_case
from parity.divergences import get_divergence
from parity.divergences.base import run_divergence
from parity.gradcheck import check_gradients
from parity.runners.pool import keras_worker
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST
from scratch.preprocessing import Normalization
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def _layer(mean, variance, invert=False) -> Normalization:
    layer = Normalization(invert=invert)
    layer.build((1, len(mean)))
    layer.init(np.random.default_rng(0))
    layer.state["mean"], layer.state["variance"] = np.array(mean), np.array(variance)
    return layer


def test_normalization_by_hand():
    layer = _layer([1.0, -2.0, 0.0], [4.0, 0.25, 0.0])  # std 2, 0.5, and a zero variance floored at 1e-7
    Z = layer.forward(np.array([[[3.0, -1.0, 1e-7]]]))
    assert Z.tolist() == [[[1.0, 2.0, 1.0]]]
    assert layer.backward(np.array([[[1.0, 1.0, 1e-7]]])).tolist() == [[[0.5, 2.0, 1.0]]]


def test_inverted_normalization_by_hand():
    layer = _layer([1.0, -2.0], [4.0, 0.25], invert=True)
    assert layer.forward(np.array([[[1.0, 2.0]]])).tolist() == [[[3.0, -1.0]]]
    assert layer.backward(np.array([[[1.0, 1.0]]])).tolist() == [[[2.0, 0.5]]]


@pytest.mark.parametrize("invert", [False, True])
def test_normalization_gradient_by_finite_differences(rng, invert):
    layer = _layer(rng.standard_normal(3), np.exp(rng.standard_normal(3)), invert)
    results = check_gradients(layer, rng.standard_normal((2, 4, 5, 3)), rng)
    assert all(r.passed for r in results), results


def test_bad_normalization_is_refused_in_one_line():
    with pytest.raises(ValueError, match="invert must be true or false") as error:
        Normalization(invert="yes")
    assert len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_normalization_case_on_every_implementation(dtype):
    records = check_case("normalization", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(invert=st.booleans(), channels=st.integers(1, 5), batch=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_random_normalization(invert, channels, batch, seed):
    config = {"invert": invert, "input_shape": [3, 2, channels], "batch": batch}
    records = check_case("normalization", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_constant_statistics_on_every_implementation(dtype):
    """EfficientNetV2's form: Normalization(mean=[...], variance=[...]), constants, no weights."""
    config = {"mean": [0.485, 0.456, 0.406], "variance": [0.229**2, 0.224**2, 0.225**2]}
    records = check_case("normalization", config, FRAMEWORK_IMPLS, [dtype])
    assert records and all(r.passed for r in records), failures(records)


def test_the_variance_copied_in_as_the_std_is_caught():
    result = run_divergence(get_divergence("normalization_variance_as_std"))
    assert {"output", "grad:input"} <= {r.quantity for r in result.naive if not r.passed}
    assert all(r.passed for r in result.converted)


def test_torch_importer_reads_the_module():
    module = TorchNormalization(3, dim=1, invert=True)
    spec = import_torch(nn.Sequential(module, nn.Conv2d(3, 4, 3)), (3, 5, 5))
    assert [(n.kind, n.config) for n in spec.nodes][0] == ("normalization", {"invert": True, "mean": None, "variance": None})
    constant = TorchNormalization(3, mean=[0.0, 1.0, 2.0], std=[1.0, 2.0, 0.5])
    config = import_torch(nn.Sequential(constant, nn.Conv2d(3, 4, 3)), (3, 5, 5)).nodes[0].config
    assert config == {"invert": False, "mean": [0.0, 1.0, 2.0], "variance": [1.0, 4.0, 0.25]}


class Written(nn.Module):
    """torchvision's normalize written in forward: two operators on buffers, no single call to read."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(3, 1, 1))
        self.register_buffer("std", torch.ones(3, 1, 1))
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv((x - self.mean) / self.std)


def test_normalization_written_in_forward_is_refused_in_one_line():
    with pytest.raises(SpecError) as error:
        import_torch(Written(), (3, 5, 5))
    assert len(str(error.value).splitlines()) == 1 and "aten.sub.Tensor" in str(error.value)


def test_keras_importer_reads_normalization_and_refuses_other_axes():
    configs, refusals = keras_worker("torch").call("tests.test_normalization:keras_reads")
    assert configs == [
        {"invert": False, "mean": None, "variance": None},
        {"invert": True, "mean": None, "variance": None},
        {"invert": False, "mean": [0.5, 0.5, 0.5], "variance": [2.0, 2.0, 2.0]},
    ]
    assert len(refusals) == 1 and len(refusals[0].splitlines()) == 1 and "axis" in refusals[0]


def keras_reads() -> tuple[list[dict], list[str]]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Normalization()(inputs)
    x = keras.layers.Normalization(invert=True)(x)
    outputs = keras.layers.Normalization(mean=0.5, variance=2.0)(x)
    configs = [n.config for n in import_keras(keras.Model(inputs, outputs)).nodes]
    refusals = []
    for layer in (keras.layers.Normalization(axis=1),):
        try:
            import_keras(keras.Model(inputs, layer(inputs)))
        except SpecError as error:
            refusals.append(str(error))
    return configs, refusals


def test_keras_set_weights_needs_finalize_state():
    """Why the runners call finalize_state after set_weights: Normalization computes with tensors made
    from its weights at build time, and set_weights alone leaves them stale on JAX and TensorFlow (Keras'
    own loading calls it; on torch the tensors happen to be views of the weights)."""
    stale, fresh = keras_worker("jax").call("tests.test_normalization:stale_and_fresh")
    assert stale == [[[[0.0, 0.0]]]] and math.isclose(fresh[0][0][0][0], 0.5) and math.isclose(fresh[0][0][0][1], -0.5)


def stale_and_fresh():  # in a Keras worker
    import keras

    layer = keras.layers.Normalization()
    layer.build((None, 1, 1, 2))
    layer.set_weights([np.array([-1.0, 1.0]), np.array([4.0, 4.0]), np.array(0)])
    x = np.zeros((1, 1, 1, 2))
    stale = keras.ops.convert_to_numpy(layer(x)).tolist()
    layer.finalize_state()
    return stale, keras.ops.convert_to_numpy(layer(x)).tolist()
