"""ReLU6 (MobileNet's activation): one registry entry, its scratch layer, nn.ReLU6 / F.relu6 and
Keras' ReLU(max_value=6). By hand, by finite differences, through both importers, through the
harness, and a cap that is not applied caught."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch.nn.functional as F
from torch import nn

from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.pool import keras_worker
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.activations import ReLU6
from tests.conftest import FRAMEWORK_IMPLS, failures


def test_relu6_by_hand():
    layer = ReLU6()
    X = np.array([[-2.0, 0.5, 5.5, 7.0]])
    assert layer.forward(X).tolist() == [[0.0, 0.5, 5.5, 6.0]]
    assert layer.backward(np.array([[1.0, 2.0, 3.0, 4.0]])).tolist() == [[0.0, 2.0, 3.0, 0.0]]  # flat outside (0, 6)


def test_relu6_gradient_by_finite_differences(rng):
    X = rng.uniform(-3, 9, (3, 5))
    X[np.abs(X) < 0.1] += 0.5  # away from the kinks, where a central difference straddles them
    X[np.abs(X - 6) < 0.1] += 0.5
    results = check_gradients(ReLU6(), X, rng)
    assert all(r.passed for r in results), results


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_relu6_case_on_every_implementation(dtype):
    records = check_case("relu6", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_mlp_with_relu6_on_every_implementation(dtype):
    records = check_case("mlp", {"activation": "relu6"}, FRAMEWORK_IMPLS, [dtype])
    assert records and all(r.passed for r in records), failures(records)


def test_the_case_reaches_the_cap():
    case = get_case("relu6")
    request = make_request(case, case.configure({}), "float64", 0)
    assert (request.inputs > 6).any() and (request.inputs < 0).any()


def test_a_plain_relu_for_relu6_is_caught():
    """A port that forgets the cap (nn.ReLU for nn.ReLU6) differs on the inputs above 6."""
    case = get_case("relu6")
    request = make_request(case, case.configure({}), "float64", 0)
    relu = get_case("relu")
    plain = make_request(relu, relu.configure({}), "float64", 0)
    plain = replace(plain, inputs=request.inputs, targets=request.targets, cotangent=request.cotangent)
    failed = {
        r.quantity
        for r in compare_runs("relu6", "float64", run("scratch", request), run("torch", plain))
        if not r.passed
    }
    assert {"output", "grad:input"} <= failed


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 3)

    def forward(self, x):
        return F.relu6(self.dense(x))


def test_torch_importers_read_module_and_functional_relu6():
    spec = import_torch(nn.Sequential(nn.Linear(4, 3), nn.ReLU6()), (4,))
    assert [n.kind for n in spec.nodes] == ["dense", "relu6"]
    spec = import_torch(Functional(), (4,))
    assert [n.kind for n in spec.nodes] == ["dense", "relu6"]


def test_another_hardtanh_is_refused_in_one_line():
    class Clamp(nn.Module):
        def forward(self, x):
            return F.hardtanh(x, -1.0, 1.0)

    with pytest.raises(SpecError) as error:
        import_torch(Clamp(), (4,))
    assert len(str(error.value).splitlines()) == 1


def test_keras_importer_reads_relu_max_value_6_and_refuses_other_caps():
    kinds = keras_worker("torch").call("tests.test_relu6:keras_kinds")
    assert kinds == ["relu", "relu6", "relu6"]
    error = keras_worker("torch").call("tests.test_relu6:keras_other_cap")
    assert "max_value=4.0" in error and len(error.splitlines()) == 1


def keras_kinds() -> list[str]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    x = keras.layers.ReLU()(inputs)
    x = keras.layers.ReLU(max_value=6.0)(x)
    outputs = keras.layers.Activation("relu6")(x)
    return [n.kind for n in import_keras(keras.Model(inputs, outputs)).nodes]


def keras_other_cap() -> str:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    try:
        import_keras(keras.Model(inputs, keras.layers.ReLU(max_value=4.0)(inputs)))
    except SpecError as error:
        return str(error)
    return "imported"
