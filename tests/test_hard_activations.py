"""hard_sigmoid and hard_swish (MobileNetV3's activations): registry entries, scratch layers,
nn.Hardsigmoid / F.hardsigmoid, nn.Hardswish / F.hardswish, and Keras 3's Activation("hard_sigmoid") /
Activation("hard_swish") (= "hard_silu"). Keras 3 and torch compute the same function, relu6(x + 3) / 6
(keras/src/activations/activations.py, torch/nn/functional.py). By hand at both kinks, by finite
differences, through both importers, through the harness, and Keras 2's slope 0.2 caught."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity.check import check_case
from parity.gradcheck import check_gradients
from parity.runners.pool import keras_worker
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST, tolerance
from scratch.activations import HardSigmoid, HardSwish
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
X = np.array([[-4.0, -3.0, -1.5, 0.0, 1.5, 3.0, 4.0]])


def test_hard_sigmoid_by_hand():
    layer = HardSigmoid()
    assert layer.forward(X).tolist() == [[0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]]
    assert layer.backward(np.ones_like(X)).tolist() == [[0.0, 0.0, 1 / 6, 1 / 6, 1 / 6, 0.0, 0.0]]


def test_hard_sigmoid_backward_slope_is_the_backward_constant_only():
    """torch's float64 reference: the backward pass multiplies by its constant, the forward still divides by 6."""
    slope = float(np.float32(1 / 6))
    layer = HardSigmoid(backward_slope=slope)
    assert layer.forward(X).tolist() == HardSigmoid().forward(X).tolist()
    assert layer.backward(np.ones_like(X)).tolist() == [[0.0, 0.0, slope, slope, slope, 0.0, 0.0]]


def test_hard_swish_by_hand():
    layer = HardSwish()
    assert layer.forward(X).tolist() == [[-0.0, -0.0, -0.375, 0.0, 1.125, 3.0, 4.0]]
    # (2x + 3) / 6 inside: 0 at -1.5, 1/2 at 0, 1 at 1.5; 0 below -3, 1 from 3 on (torch's hardswish_backward)
    assert layer.backward(np.ones_like(X)).tolist() == [[0.0, 0.0, 0.0, 0.5, 1.0, 1.0, 1.0]]


@pytest.mark.parametrize("layer", [HardSigmoid(), HardSwish()], ids=["hard_sigmoid", "hard_swish"])
def test_gradient_by_finite_differences(rng, layer):
    X = 4 * rng.standard_normal((3, 5))
    X = X[np.abs(np.abs(X) - 3) > 1e-3].reshape(1, -1)  # away from the kinks, where no derivative exists
    results = check_gradients(layer, X, rng)
    assert all(r.passed for r in results), results


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["hard_sigmoid", "hard_swish"])
def test_case_on_every_implementation(name, dtype):
    records = check_case(name, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(
    activation=st.sampled_from(["hard_sigmoid", "hard_swish"]),
    units=st.integers(1, 6),
    input_dim=st.integers(1, 6),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_dense_with_hard_activations(activation, units, input_dim, batch, seed):
    config = {"units": units, "activation": activation, "input_shape": [input_dim], "batch": batch}
    records = check_case("dense", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    exact = [r for r in records if r.dtype == "float64"]
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in exact), failures(records)


def test_keras2_slope_is_caught():
    """Keras 2's hard_sigmoid, clip(0.2 x + 0.5, 0, 1), for Keras 3's relu6(x + 3) / 6: the comparison fails."""
    X = 4 * np.random.default_rng(0).standard_normal((4, 5))
    keras2 = np.clip(0.2 * X + 0.5, 0.0, 1.0)
    keras3 = HardSigmoid().forward(X)
    error = np.max(np.abs(keras2 - keras3)) / np.max(np.abs(keras3))
    assert error > tolerance("float32") and error > tolerance("float64")


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 3)

    def forward(self, x):
        return F.hardswish(F.hardsigmoid(self.dense(x)))


def test_torch_importers_read_modules_and_functional_calls():
    model = nn.Sequential(nn.Linear(4, 3), nn.Hardsigmoid(), nn.Hardswish())
    assert [n.kind for n in import_torch(model, (4,)).nodes] == ["dense", "hard_sigmoid", "hard_swish"]
    assert [n.kind for n in import_torch(Functional(), (4,)).nodes] == ["dense", "hard_sigmoid", "hard_swish"]


def test_keras_importer_reads_the_activations():
    kinds = keras_worker("torch").call("tests.test_hard_activations:keras_kinds")
    assert kinds == ["dense", "hard_sigmoid", "hard_swish", "hard_swish"]


def keras_kinds() -> list[str]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, activation="hard_sigmoid")(inputs)
    x = keras.layers.Activation("hard_swish")(x)
    outputs = keras.layers.Activation("hard_silu")(x)
    return [n.kind for n in import_keras(keras.Model(inputs, outputs)).nodes]


def test_keras_importer_reads_mobilenet_v3s_written_hard_sigmoid():
    """keras/src/applications/mobilenet_v3.py writes hard_sigmoid as ``layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)``:
    two keras.ops calls around a layer, read as the same map (rescaling by +3, relu6, scale by 1/6)."""
    nodes = keras_worker("torch").call("tests.test_hard_activations:written_hard_sigmoid")
    assert nodes == [
        ("dense", {"units": 3, "use_bias": True, "kernel_regularizer": None}),
        ("rescaling", {"scale": 1.0, "offset": 3.0}),
        ("relu6", {}),
        ("scale", {"factor": 1.0 / 6.0, "divide": False}),
    ]


def written_hard_sigmoid() -> list[tuple[str, dict]]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3)(inputs)
    outputs = keras.layers.ReLU(6.0)(x + 3.0) * (1.0 / 6.0)
    return [(n.kind, n.config) for n in import_keras(keras.Model(inputs, outputs)).nodes]


def test_keras_importer_reads_subtraction_and_division_by_a_number():
    """``x - c`` is keras.ops' ``Subtract`` (a rescaling by -c) and ``x / c`` its ``TrueDivide`` (a scale
    that divides, as torch's ``x / c`` is read); ``c - x`` negates x and is refused by name."""
    nodes = keras_worker("torch").call("tests.test_hard_activations:written_subtract_divide")
    assert nodes == [
        ("dense", {"units": 3, "use_bias": True, "kernel_regularizer": None}),
        ("rescaling", {"scale": 1.0, "offset": -3.0}),
        ("scale", {"factor": 6.0, "divide": True}),
    ]
    with pytest.raises(Exception, match="unsupported Keras operation Subtract"):
        keras_worker("torch").call("tests.test_hard_activations:written_subtract_divide", True)


def written_subtract_divide(reversed_: bool = False) -> list[tuple[str, dict]]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3)(inputs)
    outputs = (3.0 - x) / 6.0 if reversed_ else (x - 3.0) / 6.0
    return [(n.kind, n.config) for n in import_keras(keras.Model(inputs, outputs)).nodes]
