"""LayerNorm and RMSNorm: by hand, by finite differences, through the importers, through the
harness on every implementation, and a check that can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
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
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.layernorm import LayerNorm
from scratch.rmsnorm import RMSNorm
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


# scratch ---------------------------------------------------------------------------------


def test_layernorm_by_hand():
    layer = LayerNorm(epsilon=1.0)
    layer.build((2,))
    layer.init(np.random.default_rng(0))
    layer.params["gamma"], layer.params["beta"] = np.array([2.0, 1.0]), np.array([0.5, 0.0])
    Z = layer.forward(np.array([[1.0, 3.0]]))  # mean 2, var 1, sqrt(var + eps) = sqrt(2)
    s = np.sqrt(2.0)
    np.testing.assert_allclose(Z, [[2.0 * -1 / s + 0.5, 1.0 * 1 / s]], rtol=1e-15)
    dX = layer.backward(np.array([[1.0, 0.0]]))
    assert abs(dX.sum()) < 1e-15  # a shift of X cannot change Xhat
    np.testing.assert_allclose(layer.grads["gamma"], [-1 / s, 0.0], rtol=1e-15)
    np.testing.assert_allclose(layer.grads["beta"], [1.0, 0.0])


def test_rmsnorm_by_hand():
    layer = RMSNorm(epsilon=1.0)
    layer.build((2,))
    layer.init(np.random.default_rng(0))
    layer.params["scale"] = np.array([2.0, 3.0])
    Z = layer.forward(np.array([[1.0, 3.0]]))  # mean square 5, sqrt(5 + 1)
    np.testing.assert_allclose(Z, [[2.0 / np.sqrt(6.0), 9.0 / np.sqrt(6.0)]], rtol=1e-15)
    layer.backward(np.array([[1.0, 1.0]]))
    np.testing.assert_allclose(layer.grads["scale"], [1 / np.sqrt(6.0), 3 / np.sqrt(6.0)], rtol=1e-15)


@pytest.mark.parametrize("axis", [-1, [-2, -1]])
@pytest.mark.parametrize("affine", [(True, True), (True, False), (False, False), (False, True)])
def test_layernorm_gradients_by_finite_differences(rng, axis, affine):
    layer = LayerNorm(axis, scale=affine[0], center=affine[1])
    layer.build((3, 4))
    layer.init(rng)
    for key in layer.params:
        layer.params[key] = rng.standard_normal(layer.params[key].shape)
    results = check_gradients(layer, rng.standard_normal((2, 3, 4)), rng)
    assert results and all(r.passed for r in results), results


@pytest.mark.parametrize("axis", [-1, [-2, -1]])
def test_rmsnorm_gradients_by_finite_differences(rng, axis):
    layer = RMSNorm(axis)
    layer.build((3, 4))
    layer.init(rng)
    layer.params["scale"] = rng.standard_normal(layer.params["scale"].shape)
    results = check_gradients(layer, rng.standard_normal((2, 3, 4)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_scratch_arguments_are_refused():
    with pytest.raises(ValueError, match="trailing axes"):
        LayerNorm([-3, -1])
    with pytest.raises(ValueError, match="epsilon"):
        RMSNorm(epsilon=0)


# the harness -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["layernorm", "rmsnorm"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_case_on_every_implementation(name, dtype):
    records = check_case(name, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


# LayerNorm over n = 2 values outputs +-sqrt(var / (var + eps)) whatever X is (RMSNorm over one value
# +-sqrt(x**2 / (x**2 + eps))), so dX is O(eps / var) made of cancelling O(1) terms: float32 keeps none
# of its digits (ill-conditioned maths, not a framework difference; checked in float64 below).
# Drawn here: n >= 3.
features = st.one_of(st.tuples(st.integers(3, 7)), st.tuples(st.integers(1, 5), st.integers(3, 7)))


@SETTINGS
@given(
    shape=features,
    both=st.booleans(),
    affine=st.sampled_from([(True, True), (True, False), (False, False)]),
    epsilon=st.sampled_from([1e-5, 1e-3, 0.1]),
    batch=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_random_layernorm(shape, both, affine, epsilon, batch, seed):
    axis = [-2, -1] if both and len(shape) == 2 else -1
    config = {"input_shape": list(shape), "axis": axis, "scale": affine[0], "center": affine[1], "epsilon": epsilon, "batch": batch}
    records = check_case("layernorm", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize("name, size", [("layernorm", 2), ("rmsnorm", 1)])
def test_few_values_in_float64(name, size):
    records = check_case(name, {"input_shape": [size], "epsilon": 1e-5}, FRAMEWORK_IMPLS, ["float64"])
    assert records and all(r.passed for r in records), failures(records)


@SETTINGS
@given(shape=features, both=st.booleans(), epsilon=st.sampled_from([1e-6, 1e-3]), batch=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_random_rmsnorm(shape, both, epsilon, batch, seed):
    axis = [-2, -1] if both and len(shape) == 2 else -1
    config = {"input_shape": list(shape), "axis": axis, "epsilon": epsilon, "batch": batch}
    records = check_case("rmsnorm", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize("name", ["layernorm", "rmsnorm"])
def test_a_slightly_different_epsilon_is_caught(name):
    """epsilon off by 10% in torch: every output and gradient moves, and the check says so."""
    case = get_case(name)
    config = case.configure({"epsilon": 1e-2})
    request = make_request(case, config, "float64", 0)
    other = with_config(case, request, case.configure({"epsilon": 1.1e-2}))
    failed = {r.quantity for r in compare_runs(name, "float64", run("scratch", request), run("torch", other)) if not r.passed}
    assert {"output", "grad:input"} <= failed


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"scale": False, "center": True}, "no bias without a weight"),
        ({"axis": [-3, -1]}, "consecutive trailing axes"),
        ({"input_shape": [2, 3, 4]}, "input_shape must be"),
        ({"epsilon": -1}, "epsilon must be"),
        ({"input_shape": [4, 1]}, "normalises 1 value"),
    ],
)
def test_bad_configurations_are_one_line_errors(overrides, message):
    with pytest.raises(CaseError, match=message) as error:
        get_case("layernorm").configure(overrides)
    assert len(str(error.value).splitlines()) == 1 and "layernorm" in str(error.value)


# importers -------------------------------------------------------------------------------


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        return self.fc(F.layer_norm(x, (5, 6), eps=1e-4))


def test_torch_importer_reads_modules_and_the_functional_call():
    spec = import_torch(nn.Sequential(nn.LayerNorm((5, 6), eps=1e-4, bias=False)), (5, 6))
    assert spec.nodes[0].kind == "layer_norm"
    assert spec.nodes[0].config == {"axis": [-2, -1], "epsilon": 1e-4, "scale": True, "center": False}
    spec = import_torch(nn.Sequential(nn.LayerNorm(6, elementwise_affine=False)), (5, 6))
    assert spec.nodes[0].config == {"axis": [-1], "epsilon": 1e-5, "scale": False, "center": False}
    spec = import_torch(nn.Sequential(nn.RMSNorm(6, eps=1e-6)), (5, 6))
    assert spec.nodes[0].kind == "rms_norm" and spec.nodes[0].config == {"axis": [-1], "epsilon": 1e-6}
    spec = import_torch(Functional(), (5, 6))
    assert [n.kind for n in spec.nodes] == ["layer_norm", "dense"]
    assert spec.nodes[0].config == {"axis": [-2, -1], "epsilon": 1e-4, "scale": False, "center": False}


@pytest.mark.parametrize(
    "module, message",
    [
        (nn.RMSNorm(6), "eps=None"),
        # an NCHW map (after a Conv2d) normalised over its last axis, W, without a permute to NHWC
        (nn.LayerNorm(5), "reads a channels_first tensor"),
    ],
)
def test_torch_importer_refuses_in_one_line(module, message):
    shape = (5, 6) if isinstance(module, nn.RMSNorm) else (5, 4, 5)
    layers = [module] if isinstance(module, nn.RMSNorm) else [nn.Conv2d(5, 5, 1), module]
    with pytest.raises(SpecError, match=message) as error:
        import_torch(nn.Sequential(*layers), shape)
    assert len(str(error.value).splitlines()) == 1


def test_keras_importer_reads_the_layers():
    from parity.runners.pool import keras_worker

    calls = [
        ("framework.keras3.models.norm_layers:layernorm", {"input_shape": (5, 6), "axis": [-2, -1], "epsilon": 1e-4, "scale": True, "center": False}),
        ("framework.keras3.models.norm_layers:rmsnorm", {"input_shape": (6,), "epsilon": 1e-5}),
    ]
    layer_norm, rms_norm = keras_worker("torch").call("parity.sources:specs_of_builders", calls)
    assert layer_norm.nodes[0].kind == "layer_norm"
    assert layer_norm.nodes[0].config == {"axis": [-2, -1], "epsilon": 1e-4, "scale": True, "center": False}
    assert rms_norm.nodes[0].kind == "rms_norm" and rms_norm.nodes[0].config == {"axis": [-1], "epsilon": 1e-5}


def test_torch_rmsnorm_default_eps_is_the_dtype_epsilon():
    """What the divergence rmsnorm_epsilon rests on: eps=None means torch.finfo(dtype).eps."""
    x = torch.randn(3, 6, dtype=torch.float64)
    implicit = nn.RMSNorm(6).double()(x)
    explicit = nn.RMSNorm(6, eps=torch.finfo(torch.float64).eps).double()(x)
    assert torch.equal(implicit, explicit)
