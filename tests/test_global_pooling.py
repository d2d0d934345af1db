"""Global pooling (2-D images, 1-D sequences; mean and max): by hand, by finite differences,
through the importers (module pairs and the calls people write), and through the harness."""

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
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.torch_import import import_torch
from parity.tolerance import FLOAT64_REL
from scratch.global_pooling import GlobalAvgPool, GlobalMaxPool
from tests.conftest import FRAMEWORK_IMPLS, failures
from tests.test_torch_import import canonical_weights, data, original_errors

CASES = ["global_avg_pool2d", "global_max_pool2d", "global_avg_pool1d", "global_max_pool1d"]


def test_global_pooling_by_hand():
    X = np.array([[[1.0, -2.0], [3.0, 4.0], [-1.0, 0.0]]])  # (B=1, T=3, C=2)
    avg, top = GlobalAvgPool(), GlobalMaxPool(keepdims=True)
    np.testing.assert_allclose(avg.forward(X), [[1.0, 2.0 / 3.0]])
    np.testing.assert_allclose(avg.backward(np.array([[3.0, 6.0]])), [[[1.0, 2.0]] * 3])
    assert top.forward(X).tolist() == [[[3.0, 4.0]]]
    assert top.backward(np.array([[[5.0, 7.0]]])).tolist() == [[[0, 0], [5.0, 7.0], [0, 0]]]


@pytest.mark.parametrize("layer", [GlobalAvgPool(), GlobalMaxPool(), GlobalAvgPool(True), GlobalMaxPool(True)])
@pytest.mark.parametrize("shape", [(2, 4, 3), (2, 3, 4, 2)])
def test_gradients_by_finite_differences(rng, layer, shape):
    results = check_gradients(layer, rng.standard_normal(shape), rng)
    assert results and all(r.passed for r in results), results


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_case_on_every_implementation(name, keepdims):
    records = check_case(name, {"keepdims": keepdims}, FRAMEWORK_IMPLS, DTYPES)
    assert records and all(r.passed for r in records), failures(records)


@settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    name=st.sampled_from(CASES),
    sizes=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(1, 5)),
    keepdims=st.booleans(),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_global_pooling(name, sizes, keepdims, batch, seed):
    shape = list(sizes) if name.endswith("2d") else list(sizes[1:])
    records = check_case(name, {"input_shape": shape, "keepdims": keepdims, "batch": batch}, FRAMEWORK_IMPLS, DTYPES, seed)
    assert all(r.passed for r in records), failures(records)


def test_mean_for_max_is_caught():
    """The scratch max pooling against torch's mean pooling of the same inputs: caught."""
    avg, top = get_case("global_avg_pool2d"), get_case("global_max_pool2d")
    request = make_request(top, top.configure({}), "float64", 0)
    other = make_request(avg, avg.configure({}), "float64", 0)
    other.inputs, other.cotangent = request.inputs, request.cotangent
    failed = {r.quantity for r in compare_runs("pool", "float64", run("scratch", request), run("torch", other)) if not r.passed}
    assert {"output", "grad:input"} <= failed


class MeanHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).mean(dim=(2, 3)))


class AdaptiveHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv2d(3, 4, 3), nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.conv(x), 1), 1))


class SequenceMax(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):  # x: (B, T, F)
        return self.fc(x.amax(dim=1))


class Conv1dStepMax(nn.Module):
    """A Conv1d's channels-first (B, C, L) map pooled where it is, over dim 2 (a TCN's head)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.fc = nn.Conv1d(2, 4, 3), nn.Linear(4, 2)

    def forward(self, x):  # x: (B, C, L)
        return self.fc(self.conv(x).amax(dim=2))


MODELS = {
    "adaptive_avg_then_flatten": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)),
        (3, 6, 6),
        ["conv2d", "global_avg_pool2d", "flatten", "dense"],
    ),
    "adaptive_max_then_flatten": (
        lambda: nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveMaxPool2d((1, 1)), nn.Flatten(), nn.Linear(4, 2)),
        (3, 6, 6),
        ["conv2d", "global_max_pool2d", "flatten", "dense"],
    ),
    "mean_dims": (MeanHead, (3, 6, 6), ["conv2d", "global_avg_pool2d", "dense"]),
    "functional_adaptive": (AdaptiveHead, (3, 6, 6), ["conv2d", "global_avg_pool2d", "flatten", "dense"]),
    "sequence_amax": (SequenceMax, (5, 4), ["global_max_pool1d", "dense"]),
    "conv1d_steps_amax": (Conv1dStepMax, (2, 9), ["conv1d", "global_max_pool1d", "dense"]),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_torch_importer_reads_what_people_write_and_the_model_still_matches(name):
    """The imported spec (a (1, 1, C) map then a flatten, whose Dense needs no flatten_order
    permutation) computes what the original torch model computes, in float64."""
    factory, shape, kinds = MODELS[name]
    torch.manual_seed(0)
    model = factory()
    spec = import_torch(model, shape, name=name)
    assert [n.kind for n in spec.nodes] == kinds
    weights = canonical_weights(model, spec)
    out_err, grad_err = original_errors(model, spec, weights, *data(spec))
    assert out_err <= FLOAT64_REL and grad_err <= FLOAT64_REL, (out_err, grad_err)
