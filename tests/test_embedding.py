"""Embedding over integer ids (B, T): by hand, by finite differences, through the importers,
through the harness on every implementation, with integer inputs kept integer and no input gradient."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.pooling import GlobalAvgPool1d
from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, corrupt_weights, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import EPS, relative_error, tolerance
from scratch.embedding import Embedding
from scratch.losses import get as get_loss
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
FLOAT64_WORST = 4096 * EPS["float64"]  # ~1e-12: a lookup and a sum of rows, no long reductions


def embedding_with(W: np.ndarray) -> Embedding:
    layer = Embedding(*W.shape)
    layer.params = {"W": W}
    return layer


def test_embedding_by_hand():
    W = np.arange(8.0).reshape(4, 2)  # rows [0, 1], [2, 3], [4, 5], [6, 7]
    layer = embedding_with(W)
    X = np.array([[3, 0, 3]])
    Z = layer.forward(X)
    assert Z.tolist() == [[[6, 7], [0, 1], [6, 7]]]
    assert layer.output_shape((3,)) == Z.shape[1:]
    dZ = np.array([[[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]]])
    assert layer.backward(dZ) is None  # integer ids: no dX
    assert layer.grads["W"].tolist() == [[10, 20], [0, 0], [0, 0], [101, 202]]  # id 3 twice: summed


def test_embedding_gradient_by_finite_differences(rng):
    layer = embedding_with(rng.standard_normal((5, 3)))
    X = rng.integers(0, 5, size=(4, 6))
    results = check_gradients(layer, X, rng, targets=rng.standard_normal((4, 6, 3)), loss=get_loss("mean_squared_error"))
    assert [r.name for r in results] == ["W"] and all(r.passed for r in results), results  # no "input"


def test_bad_ids_and_sizes_are_refused_in_one_line():
    layer = embedding_with(np.zeros((4, 2)))
    with pytest.raises(IndexError, match=r"ids must lie in \[0, 4\), received \[0, 4\]"):
        layer.forward(np.array([[0, 4]]))
    with pytest.raises(TypeError, match="ids must be integers"):
        layer.forward(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="input_dim must be a positive integer"):
        Embedding(0, 3)
    with pytest.raises(CaseError) as error:
        get_case("embedding").configure({"padding_idx": 10})
    assert "padding_idx must be null or an id in [0, 10)" in str(error.value) and len(str(error.value).splitlines()) == 1
    with pytest.raises(CaseError, match=r"input_shape must be \[steps\]"):
        get_case("text_classifier").configure({"input_shape": [3, 2]})


def test_the_case_draws_integer_ids_in_the_vocabulary():
    case = get_case("embedding")
    X = case.draw_inputs(case.configure({"input_dim": 3, "batch": 50}), 0)
    assert np.issubdtype(X.dtype, np.integer) and X.shape == (50, 6) and set(np.unique(X)) == {0, 1, 2}


@pytest.mark.parametrize("name", ["embedding", "text_classifier"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_case_on_every_implementation(name, dtype):
    records = check_case(name, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)
    quantities = {r.quantity for r in records}
    assert "grad:embedding_0.W" in quantities and "grad:input" not in quantities  # no fake zero gradient


@st.composite
def embedding_configs(draw):
    return {
        "input_dim": draw(st.integers(1, 12)),
        "output_dim": draw(st.integers(1, 5)),
        "input_shape": [draw(st.integers(1, 8))],
        "batch": draw(st.integers(1, 4)),
    }


@SETTINGS
@given(config=embedding_configs(), classes=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_random_embedding_configurations(config, classes, seed):
    for name, extra in (("embedding", {}), ("text_classifier", {"num_classes": classes})):
        records = check_case(name, {**config, **extra}, FRAMEWORK_IMPLS, DTYPES, seed)
        assert records and all(r.passed for r in records), failures(records)
        assert all(r.max_rel_err <= FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize("impl", ["torch", "keras-jax"])
def test_a_wrong_row_or_a_shifted_id_is_caught(impl):
    case = get_case("text_classifier")
    config = case.configure({})
    request = make_request(case, config, "float64", 0)
    reference = run("scratch", request)
    assert all(r.passed for r in compare_runs(case.name, "float64", reference, run(impl, request)))
    request.inputs[0, 0] = 0  # corrupt_weights changes W[0, 0]: make sure id 0 is read
    reference = run("scratch", request)
    bad = make_request(case, config, "float64", 0, weights=corrupt_weights(request.weights, "embedding_0.W", case.name))
    bad.inputs = request.inputs
    failed = {r.quantity for r in compare_runs(case.name, "float64", reference, run(impl, bad)) if not r.passed}
    assert {"output", "weight:embedding_0.W"} <= failed
    shifted = make_request(case, config, "float64", 0)
    shifted.inputs = (request.inputs + 1) % config["input_dim"]  # an off-by-one vocabulary
    failed = {r.quantity for r in compare_runs(case.name, "float64", reference, run(impl, shifted)) if not r.passed}
    assert {"output", "grad:embedding_0.W"} <= failed


# Importers -----------------------------------------------------------------------------------


def test_torch_importer_reads_nn_embedding_with_integer_ids():
    model = nn.Sequential(nn.Embedding(20, 8), GlobalAvgPool1d(), nn.Linear(8, 3))
    spec = import_torch(model, (7,))
    assert spec.input_dtype == "int" and spec.input_shape == (7,)
    assert [n.kind for n in spec.nodes] == ["embedding", "global_avg_pool1d", "dense"]
    assert spec.nodes[0].config == {"input_dim": 20, "output_dim": 8, "padding_idx": None, "mask_zero": False}
    assert import_torch(nn.Sequential(nn.Embedding(5, 2, padding_idx=0)), (3,)).nodes[0].config["padding_idx"] == 0
    assert import_torch(nn.Sequential(nn.Linear(3, 2)), (3,)).input_dtype == "float"


def test_unsupported_embedding_options_are_refused_in_one_line():
    with pytest.raises(SpecError) as error:
        import_torch(nn.Sequential(nn.Embedding(5, 2, max_norm=1.0)), (3,))
    assert "max_norm=1.0" in str(error.value) and len(str(error.value).splitlines()) == 1


def test_the_functional_call_on_a_parameter_is_refused_in_one_line():
    """F.embedding(x, self.weight) reads a parameter outside a registered module, as F.linear does:
    the importer names the operator and asks for the module."""

    class Functional(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.weight = nn.Parameter(F.normalize(nn.Embedding(5, 2).weight.detach()))

        def forward(self, x):
            return F.embedding(x, self.weight)

    with pytest.raises(SpecError) as error:
        import_torch(Functional(), (3,), input_dtype="int")
    assert "aten.embedding" in str(error.value) and len(str(error.value).splitlines()) == 1


# Divergence embedding_padding_idx ------------------------------------------------------------


def test_padding_idx_freezes_row_0_in_torch_only():
    """The naive port (torch keeps padding_idx=0): row 0 stays where it started in torch, moves in
    Keras and in scratch; every other row agrees. The converted port trains row 0 as Keras does."""
    from parity.divergences import get_divergence
    from parity.train import make_train_request, run_training
    from parity.training.spec import TrainRequest

    divergence = get_divergence("embedding_padding_idx")
    case = get_case(divergence.case)
    config = case.configure(divergence.config)
    base = make_train_request(case, config, "float64", 0, divergence.naive.a.optimizer, divergence.steps, config["batch"])
    assert all((base.inputs[idx] == 0).any() for idx in base.batches), "every batch holds id 0"
    W0 = base.weights["embedding_0.W"]
    naive = TrainRequest(**{**base.__dict__, "disabled_rules": ("embedding_padding_idx",)})
    torch_W = run_training("torch", naive).weights[-1]["embedding_0.W"]
    keras_W = run_training("keras-jax", base).weights[-1]["embedding_0.W"]
    converted_W = run_training("torch", base).weights[-1]["embedding_0.W"]
    np.testing.assert_array_equal(torch_W[0], W0[0])  # never trained
    assert np.abs(keras_W[0] - W0[0]).max() > 1e-3  # trained
    tol = tolerance("float64")
    assert relative_error(keras_W[1:], torch_W[1:]) > tol  # row 0 fed the dense layer differently since step 1
    assert relative_error(keras_W, converted_W) <= tol
