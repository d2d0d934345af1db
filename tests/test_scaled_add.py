"""scaled_add, InceptionResNetV2's CustomScaleLayer (Z = X_0 + scale * X_1): by hand, by finite
differences, through the harness on random configurations, through both importers (the torch module,
``torch.add(x, y, alpha=scale)``, Keras' CustomScaleLayer read from its config), and failing checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.merge import ScaledAdd as TorchScaledAdd
from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.merge import ScaledAdd
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_scaled_add_by_hand():
    layer = ScaledAdd(0.5)
    Z = layer.forward(np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]]))
    assert Z.tolist() == [[6.0, 12.0]]
    dX0, dX1 = layer.backward(np.array([[1.0, -2.0]]))
    assert dX0.tolist() == [[1.0, -2.0]] and dX1.tolist() == [[0.5, -1.0]]


class _Joined:
    """X_0 as the input, X_1 as an extra input whose gradient is reported under its name."""

    def __init__(self, layer: ScaledAdd, X1: np.ndarray) -> None:
        self.layer, self.X1, self.params, self.grads = layer, X1, {}, {}

    def forward(self, X0):
        return self.layer.forward(X0, self.X1)

    def backward(self, dZ):
        dX0, self.grads["X_1"] = self.layer.backward(dZ)
        return dX0


def test_scaled_add_gradients_by_finite_differences(rng):
    X0, X1 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    results = check_gradients(_Joined(ScaledAdd(0.17), X1), X0, rng, extra_inputs={"X_1": X1})
    assert [r.name for r in results] == ["input", "X_1"] and all(r.passed for r in results), results


def test_bad_scale_is_refused():
    with pytest.raises(ValueError, match="scale must be a finite number, received nan"):
        ScaledAdd(float("nan"))


@pytest.mark.parametrize("dtype", DTYPES)
def test_scaled_add_case_on_every_implementation(dtype):
    records = check_case("scaled_add", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(
    # |scale| >= 1e-3: a subnormal scale (1.7e-307) makes scale * dZ subnormal, which XLA (keras-jax,
    # keras-tensorflow) flushes to zero; 1 is the plain add
    scale=st.floats(-2.0, 2.0, allow_nan=False).filter(lambda s: abs(s) >= 1e-3 and s != 1.0),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_scaled_add(scale, shape, batch, seed):
    config = {"scale": scale, "input_shape": list(shape), "batch": batch}
    records = check_case("scaled_add", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


def test_a_wrong_scale_is_caught():
    """The branch added at another scale (the default 1, a plain add) fails output and the gradients."""
    case = get_case("scaled_add")
    request = make_request(case, case.configure(), "float64", 0)
    plain = with_config(case, request, case.configure({"scale": 1.0}))
    failed = {
        r.quantity for r in compare_runs("scaled_add", "float64", run("scratch", request), run("torch", plain)) if not r.passed
    }
    assert {"output", "grad:input", "grad:conv2d_0.W"} <= failed


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return torch.add(x, self.up(x), alpha=0.25)


class Written(Functional):
    def forward(self, x):
        return x + 0.25 * self.up(x)


class Module(Functional):
    def __init__(self) -> None:
        super().__init__()
        self.join = TorchScaledAdd(0.25)

    def forward(self, x):
        return self.join(x, self.up(x))


def test_torch_importers_read_the_module_and_the_functional_call():
    for model in (Functional(), Module()):
        spec = import_torch(model, (3, 4, 4))
        assert [n.kind for n in spec.nodes] == ["conv2d", "scaled_add"], model
        assert spec.nodes[1].config == {"scale": 0.25} and spec.nodes[1].inputs[0] == "input"
    # written out, x + 0.25 * up(x) is two calls: a scale and an add
    assert [n.kind for n in import_torch(Written(), (3, 4, 4)).nodes] == ["conv2d", "scale", "add"]


def test_keras_importer_reads_custom_scale_layer_and_refuses_other_custom_layers():
    from parity.runners.pool import keras_worker

    worker = keras_worker("torch")
    spec = worker.call("tests.test_scaled_add:_inception_resnet_join_in_worker", 0.1)
    assert [n.kind for n in spec.nodes] == ["conv2d", "scaled_add"] and spec.nodes[1].config == {"scale": 0.1}
    # scale 1 (InceptionResNetV2's last block) is a plain add, as torch.add(x, y, alpha=1) reads
    spec = worker.call("tests.test_scaled_add:_inception_resnet_join_in_worker", 1.0)
    assert [n.kind for n in spec.nodes] == ["conv2d", "add"]
    message = worker.call("tests.test_scaled_add:_unknown_custom_layer_in_worker")
    assert len(message.splitlines()) == 1 and "unsupported Keras layer Mystery" in message


def _inception_resnet_join_in_worker(scale: float):
    import keras
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    from parity.spec.keras_import import import_keras

    x = keras.Input((4, 4, 3))
    up = keras.layers.Conv2D(3, 1)(x)
    return import_keras(keras.Model(x, CustomScaleLayer(scale)([x, up])))


def _unknown_custom_layer_in_worker() -> str:
    import keras

    from parity.spec.keras_import import import_keras

    class Mystery(keras.layers.Layer):
        def call(self, inputs):
            return inputs[0] - inputs[1]

    x = keras.Input((4, 4, 3))
    up = keras.layers.Conv2D(3, 1)(x)
    try:
        import_keras(keras.Model(x, Mystery()([x, up])))
    except SpecError as error:
        return str(error)
    return "imported"
