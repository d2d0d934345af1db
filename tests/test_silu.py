"""SiLU / swish (EfficientNet's activation): one registry entry, its scratch layer, nn.SiLU / F.silu
and Keras' Activation("silu") / Activation("swish"). By hand, by finite differences, through both
importers, through the harness, and a sigmoid in its place caught."""

from __future__ import annotations

import math
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
from parity.spec.torch_import import import_torch
from scratch.activations import SiLU
from tests.conftest import FRAMEWORK_IMPLS, failures


def test_silu_by_hand():
    layer = SiLU()
    s = 1 / (1 + math.exp(-2.0))
    Z = layer.forward(np.array([[0.0, 2.0]]))
    assert Z[0, 0] == 0.0 and math.isclose(Z[0, 1], 2.0 * s, rel_tol=1e-15)
    dX = layer.backward(np.array([[1.0, 1.0]]))
    assert dX[0, 0] == 0.5 and math.isclose(dX[0, 1], s + 2.0 * s * (1 - s), rel_tol=1e-15)


def test_silu_gradient_by_finite_differences(rng):
    results = check_gradients(SiLU(), 3 * rng.standard_normal((3, 5)), rng)
    assert all(r.passed for r in results), results


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_silu_case_on_every_implementation(dtype):
    records = check_case("silu", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


def test_a_sigmoid_for_silu_is_caught():
    case, other = get_case("silu"), get_case("sigmoid")
    request = make_request(case, case.configure({}), "float64", 0)
    sigmoid = make_request(other, other.configure({}), "float64", 0)
    sigmoid = replace(sigmoid, inputs=request.inputs, targets=request.targets, cotangent=request.cotangent)
    failed = {
        r.quantity
        for r in compare_runs("silu", "float64", run("scratch", request), run("torch", sigmoid))
        if not r.passed
    }
    assert {"output", "grad:input"} <= failed


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.dense = nn.Linear(4, 3)

    def forward(self, x):
        return F.silu(self.dense(x))


def test_torch_importers_read_module_and_functional_silu():
    assert [n.kind for n in import_torch(nn.Sequential(nn.Linear(4, 3), nn.SiLU()), (4,)).nodes] == ["dense", "silu"]
    assert [n.kind for n in import_torch(Functional(), (4,)).nodes] == ["dense", "silu"]


def test_keras_importer_reads_silu_and_swish():
    assert keras_worker("torch").call("tests.test_silu:keras_kinds") == ["dense", "silu", "silu"]


def keras_kinds() -> list[str]:  # in a Keras worker
    import keras

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, activation="swish")(inputs)
    outputs = keras.layers.Activation("silu")(x)
    return [n.kind for n in import_keras(keras.Model(inputs, outputs)).nodes]
