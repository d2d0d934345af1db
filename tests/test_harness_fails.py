"""The harness can fail: deliberately wrong conversions are caught and named."""

from __future__ import annotations

import pytest

from parity.agreement.records import compare_runs, first_divergence
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.runners import run
from tests.conftest import FRAMEWORK_IMPLS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_untransposed_square_kernel_is_caught(dtype):
    """A Dense converter that forgets the transpose: shapes fit on a square layer, values do not."""
    case = get_case("dense")
    request = make_request(case, case.configure({"units": 5, "input_shape": [5]}), dtype, 0)
    request.disabled_rules = ("dense_transpose",)
    records = compare_runs("dense", dtype, run("scratch", request), run("torch", request))
    failed = {r.quantity for r in records if not r.passed}
    assert "weight:dense_0.W" in failed  # names the layer and the parameter
    assert {"output", "grad:input", "loss_grad:dense_0.W"} <= failed  # (dL/dW = X.T G does not depend on W)
    assert "weight:dense_0.b" not in failed  # and only that parameter was loaded wrongly


def test_wrong_slope_is_caught_and_located():
    """A torch model built with another slope than scratch: the first diverging layer is the activation."""
    case = get_case("mlp")
    config = case.configure({"activation": "leaky_relu", "negative_slope": 0.25})
    request = make_request(case, config, "float64", 0, trace=True)
    wrong = with_config(case, request, case.configure({"activation": "leaky_relu", "negative_slope": 0.3}))
    scratch, torch = run("scratch", request), run("torch", wrong)
    assert any(r.quantity == "output" and not r.passed for r in compare_runs("mlp", "float64", scratch, torch))
    assert first_divergence(scratch, torch, "float64") == "leaky_relu_0"


@pytest.mark.parametrize("impl", FRAMEWORK_IMPLS)
def test_corrupted_weight_is_named(impl):
    records = check_case("mlp", impls=[impl], dtypes=["float64"], corrupt="dense_1.W")
    failed = {r.quantity for r in records if not r.passed}
    assert "weight:dense_1.W" in failed
    assert not any(q.startswith("weight:") and q != "weight:dense_1.W" for q in failed)
