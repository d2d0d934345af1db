"""LayerScale (ConvNeXt's per-channel gamma): by hand, by finite differences, through the harness on
random configurations, through both importers (by its config; a custom layer of that name with another
config is refused in one line), and checks that fail when gamma is read wrongly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
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
from parity.runners.pool import keras_worker
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST
from scratch.layer_scale import LayerScale
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_layer_scale_by_hand():
    layer = LayerScale(0.5, 2)
    layer.build((1, 2))
    layer.init(np.random.default_rng(0))
    assert layer.params["gamma"].tolist() == [0.5, 0.5]  # Keras' Constant(init_values)
    layer.params["gamma"] = np.array([2.0, -1.0])
    X = np.array([[[1.0, 3.0]], [[4.0, 5.0]]])  # (B=2, 1, C=2)
    assert layer.forward(X).tolist() == [[[2.0, -3.0]], [[8.0, -5.0]]]
    dZ = np.array([[[1.0, 1.0]], [[0.5, 2.0]]])
    assert layer.backward(dZ).tolist() == [[[2.0, -1.0]], [[1.0, -2.0]]]
    assert layer.grads["gamma"].tolist() == [1.0 + 2.0, 3.0 + 10.0]  # sum(dZ * X) per channel


def test_layer_scale_gradients_by_finite_differences(rng):
    layer = LayerScale(0.3, 4)
    layer.build((3, 2, 4))
    layer.init(rng)
    layer.params["gamma"] = rng.standard_normal(4)
    results = check_gradients(layer, rng.standard_normal((2, 3, 2, 4)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_configurations_are_refused_in_one_line():
    with pytest.raises(ValueError, match="projection_dim=3"):
        LayerScale(0.1, 3).build((4, 4, 5))
    with pytest.raises(CaseError) as error:
        get_case("layer_scale").configure({"init_values": "big"})
    assert len(str(error.value).splitlines()) == 1 and "init_values" in str(error.value)


@pytest.mark.parametrize("dtype", DTYPES)
def test_layer_scale_case_on_every_implementation(dtype):
    records = check_case("layer_scale", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def layer_scale_configs(draw):
    rank = draw(st.integers(1, 3))
    return {
        "init_values": draw(st.floats(-2.0, 2.0).filter(lambda v: abs(v) > 0.05)),
        "input_shape": [draw(st.integers(1, 4)) for _ in range(rank)],
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=layer_scale_configs(), seed=st.integers(0, 2**16))
def test_random_layer_scale(config, seed):
    records = check_case("layer_scale", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


def test_gamma_on_the_wrong_channels_is_caught():
    """Each channel its own factor: the same vector reversed (a mis-ordered port) fails output and gradients."""
    case = get_case("layer_scale")
    request = make_request(case, case.configure(), "float64", 0)
    request.weights = {key: np.arange(1.0, value.size + 1) for key, value in request.weights.items()}  # distinct
    assert all(r.passed for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request)))
    flipped = with_config(case, request, case.configure())
    flipped.weights = {key: value[::-1].copy() for key, value in request.weights.items()}
    failed = {
        r.quantity
        for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", flipped))
        if not r.passed
    }
    assert {"output", "grad:input"} <= failed


class Block(nn.Module):
    """``self.gamma * x`` on an NHWC map, as ConvNeXt's torch code writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.gamma = nn.Parameter(0.25 * torch.ones(4))

    def forward(self, x):
        return self.gamma * self.conv(x).permute(0, 2, 3, 1)  # (B, H, W, 4)


class Unpermuted(Block):
    def forward(self, x):
        return self.gamma * self.conv(x)  # (B, 4, H, W): gamma meets W, not the channels


def test_torch_importer_reads_the_module_and_the_parameter_product():
    from framework.pytorch.layer_scale import LayerScale as TorchLayerScale

    spec = import_torch(nn.Sequential(TorchLayerScale(5, 0.1)), (2, 5))
    assert spec.nodes[0].kind == "layer_scale" and spec.nodes[0].config == {"init_values": 0.1, "projection_dim": 5}
    spec = import_torch(Block(), (3, 4, 4))
    assert [n.kind for n in spec.nodes] == ["conv2d", "layer_scale"]
    assert spec.nodes[1].name == "gamma" and spec.nodes[1].config == {"init_values": 0.25, "projection_dim": 4}
    with pytest.raises(SpecError) as error:
        import_torch(Unpermuted(), (3, 4, 4))
    assert len(str(error.value).splitlines()) == 1


def _keras_layer_scales() -> list:
    """In the Keras worker: keras.applications' own LayerScale read by its config, and an unknown one refused."""
    import keras
    from keras.src.applications.convnext import LayerScale as ApplicationsLayerScale

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((3, 3, 4))
    spec = import_keras(keras.Model(inputs, ApplicationsLayerScale(1e-6, 4)(inputs)))
    read = [(spec.nodes[0].kind, spec.nodes[0].config)]

    class LayerScale(keras.layers.Layer):  # the same name, another layer: no init_values / projection_dim
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],))

        def call(self, x):
            return x + self.w

    class Mystery(keras.layers.Layer):  # a custom layer the registry does not know by name
        def call(self, x):
            return x * 2.0

    errors = []
    for layer in (LayerScale(), Mystery()):
        try:
            import_keras(keras.Model(inputs, layer(inputs)))
        except SpecError as error:
            errors.append(str(error))
    return [read, errors]


def test_keras_importer_reads_layer_scale_by_its_config():
    read, errors = keras_worker("torch").call("tests.test_layer_scale:_keras_layer_scales")
    assert read == [("layer_scale", {"init_values": 1e-6, "projection_dim": 4})]
    assert len(errors) == 2 and all(len(e.splitlines()) == 1 for e in errors)
    assert "without init_values, projection_dim" in errors[0]
    assert "unsupported Keras layer Mystery" in errors[1]
