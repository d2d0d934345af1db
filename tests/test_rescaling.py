"""Rescaling (EfficientNet's and MobileNetV3's first layer): one registry entry, its scratch layer,
the torch module of framework.pytorch.preprocessing and ``x + o`` written in forward, Keras'
Rescaling. By hand, by finite differences, through both importers, through the harness on random
configurations, and a sign slip caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.preprocessing import Rescaling as TorchRescaling
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.pool import keras_worker
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST
from scratch.preprocessing import Rescaling
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_rescaling_by_hand():
    layer = Rescaling(scale=1 / 127.5, offset=-1.0)
    Z = layer.forward(np.array([[0.0, 127.5, 255.0]]))
    assert Z.tolist() == [[-1.0, 0.0, 1.0]]
    assert layer.backward(np.array([[1.0, 2.0, 3.0]])).tolist() == [[1 / 127.5, 2 / 127.5, 3 / 127.5]]


def test_per_channel_rescaling_by_hand():
    layer = Rescaling(scale=[1.0, 2.0], offset=[0.0, -1.0])
    layer.build((1, 2))
    assert layer.forward(np.array([[[3.0, 3.0]]])).tolist() == [[[3.0, 5.0]]]
    assert layer.backward(np.ones((1, 1, 2))).tolist() == [[[1.0, 2.0]]]


def test_rescaling_gradient_by_finite_differences(rng):
    layer = Rescaling(scale=[0.5, -2.0, 3.0], offset=0.25)
    layer.build((4, 5, 3))
    results = check_gradients(layer, rng.standard_normal((2, 4, 5, 3)), rng)
    assert all(r.passed for r in results), results


def test_bad_rescaling_is_refused_in_one_line():
    with pytest.raises(ValueError, match="scale must be a finite number"):
        Rescaling(scale=float("nan"))
    with pytest.raises(CaseError) as error:
        get_case("rescaling").configure({"scale": [1.0, 2.0]})  # 2 values for 3 channels
    assert "rescaling" in str(error.value) and len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_rescaling_case_on_every_implementation(dtype):
    records = check_case("rescaling", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


numbers = st.floats(-4.0, 4.0, allow_nan=False).filter(lambda v: abs(v) > 1e-3)


@SETTINGS
@given(
    channels=st.integers(1, 4),
    per_channel=st.booleans(),
    scale=numbers,
    offset=numbers,
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_rescaling(channels, per_channel, scale, offset, batch, seed):
    value = [scale * (i + 1) for i in range(channels)] if per_channel else scale
    config = {"scale": value, "offset": offset, "input_shape": [3, 2, channels], "batch": batch}
    records = check_case("rescaling", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


def test_a_wrong_offset_sign_is_caught():
    """x * s + 1 for x * s - 1 (``x - 1`` read as ``x + 1``): the output is caught, the gradient is not
    (an offset has none), and the comparison says so."""
    case = get_case("rescaling")
    request = make_request(case, case.configure({}), "float64", 0)
    flipped = with_config(case, request, case.configure({"offset": 1.0}))
    records = compare_runs("rescaling", "float64", run("scratch", request), run("torch", flipped))
    failed = {r.quantity for r in records if not r.passed}
    assert "output" in failed and "grad:input" not in failed


def test_a_wrong_scale_is_caught_in_the_gradient():
    case = get_case("rescaling")
    request = make_request(case, case.configure({}), "float64", 0)
    wrong = with_config(case, request, case.configure({"scale": 1 / 255}))
    failed = {r.quantity for r in compare_runs("rescaling", "float64", run("scratch", request), run("torch", wrong)) if not r.passed}
    assert {"output", "grad:input"} <= failed


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(x / 127.5 - 1.0)  # as written in forward: a scale, then an offset


def test_torch_importers_read_module_and_functional_rescaling():
    spec = import_torch(nn.Sequential(TorchRescaling(1 / 255), nn.Conv2d(3, 4, 3)), (3, 5, 5))
    assert [(n.kind, n.config) for n in spec.nodes][0] == ("rescaling", {"scale": 1 / 255, "offset": 0.0})
    spec = import_torch(Functional(), (3, 5, 5))
    assert [n.kind for n in spec.nodes] == ["scale", "rescaling", "conv2d"]
    assert spec.nodes[1].config == {"scale": 1.0, "offset": -1.0}


def test_keras_importer_reads_rescaling():
    assert keras_worker("torch").call("tests.test_rescaling:keras_configs") == [
        {"scale": 1 / 127.5, "offset": -1.0},
        {"scale": [0.5, 1.0, 2.0], "offset": 0.0},
    ]


def keras_configs() -> list[dict]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4, 4, 3))
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0)(inputs)
    outputs = keras.layers.Rescaling([0.5, 1.0, 2.0])(x)
    return [n.config for n in import_keras(keras.Model(inputs, outputs)).nodes]
