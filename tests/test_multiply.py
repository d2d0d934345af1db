"""Multiply (the squeeze-and-excitation product of EfficientNet and MobileNetV3): one registry entry,
its scratch layer, torch's ``x * gate`` and Keras' Multiply, with the (1, 1, C) gate broadcast over
the pixels; the gate made by GlobalAveragePooling2D(keepdims=True) or by Reshape((1, 1, C)), which
torch writes ``s.view(B, C, 1, 1)``. By hand, by finite differences, through both importers, through
the harness on random configurations, and the gate broadcast along the wrong axis caught."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.models.merge_layers import GatedMap
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.divergences import get_divergence
from parity.divergences.base import run_divergence
from parity.gradcheck import check_gradients
from parity.runners.pool import keras_worker
from parity.spec.generate import build_scratch
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST
from scratch.merge import Multiply
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_multiply_by_hand():
    layer = Multiply()
    X = np.arange(4.0).reshape(1, 1, 2, 2)  # pixels [0, 1] and [2, 3], two channels
    S = np.array([10.0, -1.0]).reshape(1, 1, 1, 2)  # one gate per channel
    assert layer.output_shape([(1, 2, 2), (1, 1, 2)]) == (1, 2, 2)
    assert layer.forward(X, S).tolist() == [[[[0.0, -1.0], [20.0, -3.0]]]]
    dX, dS = layer.backward(np.ones((1, 1, 2, 2)))
    assert dX.tolist() == [[[[10.0, -1.0], [10.0, -1.0]]]]
    assert dS.tolist() == [[[[2.0, 4.0]]]]  # summed over the pixels it scaled: 0 + 2, 1 + 3


def test_inputs_that_do_not_broadcast_are_refused_in_one_line():
    with pytest.raises(ValueError, match="do not broadcast") as error:
        Multiply().output_shape([(4, 5, 3), (1, 1, 2)])
    assert len(str(error.value).splitlines()) == 1
    with pytest.raises(CaseError, match="gate must be one of"):
        get_case("multiply").configure({"gate": "flatten"})


@pytest.mark.parametrize("gate", ["keepdims", "reshape"])
def test_multiply_gradient_by_finite_differences(rng, gate):
    case = get_case("multiply")
    model = build_scratch(case.model_spec(case.configure({"gate": gate})))
    model.init(rng)
    results = check_gradients(model, rng.standard_normal((2, 4, 5, 3)), rng)
    assert all(r.passed for r in results), results


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_multiply_case_on_every_implementation(dtype):
    records = check_case("multiply", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(
    gate=st.sampled_from(["keepdims", "reshape"]),
    shape=st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(2, 5)),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_multiply(gate, shape, batch, seed):
    config = {"gate": gate, "input_shape": list(shape), "batch": batch}
    records = check_case("multiply", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


def test_the_gate_broadcast_along_the_columns_is_caught():
    result = run_divergence(get_divergence("se_gate_layout"))
    assert {"output", "grad:input"} <= {r.quantity for r in result.naive if not r.passed}
    assert all(r.passed for r in result.converted)


@pytest.mark.parametrize("gate", ["keepdims", "reshape"])
def test_torch_importer_reads_the_written_gate(gate):
    spec = import_torch(GatedMap(gate), (3, 4, 5))
    kinds = [n.kind for n in spec.nodes]
    assert kinds == (["global_avg_pool2d", "sigmoid", "multiply"] if gate == "keepdims" else ["global_avg_pool2d", "reshape", "sigmoid", "multiply"])
    if gate == "reshape":
        assert spec.nodes[1].config == {"target_shape": [1, 1, 3]}  # s.view(B, C, 1, 1) is Keras' (1, 1, C)
    assert spec.nodes[-1].inputs[0] == "input"


class TwoMaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))  # a gated linear unit over channels


def test_torch_importer_reads_a_product_of_two_maps():
    assert [n.kind for n in import_torch(TwoMaps(), (3, 4, 5)).nodes] == ["conv2d", "conv2d", "sigmoid", "multiply"]


@pytest.mark.parametrize("gate", ["keepdims", "reshape"])
def test_keras_importer_reads_the_gate(gate):
    kinds = keras_worker("torch").call("parity.sources:spec_of_builder", "framework.keras3.models.merge_layers:multiply", {"input_shape": (4, 5, 3), "gate": gate}, None)
    assert [n.kind for n in kinds.nodes][-1] == "multiply"
