"""Every case on every framework implementation, compared with scratch, in both dtypes."""

from __future__ import annotations

import numpy as np
import pytest

from parity.agreement.records import compare_runs
from parity.cases import all_cases, get_case
from parity.check import check_case, make_request
from parity.implementations import DTYPES
from parity.runners import run
from tests.conftest import FRAMEWORK_IMPLS, failures

CASES = sorted(all_cases())


@pytest.mark.parametrize("impl", FRAMEWORK_IMPLS)
@pytest.mark.parametrize("case", CASES)
def test_case_agrees_with_scratch(case, impl):
    records = check_case(case, impls=[impl], dtypes=DTYPES)
    assert records, "no records"
    assert all(r.status == "compared" for r in records), failures(records)
    quantities = {r.quantity for r in records}
    c = get_case(case)
    model = c.build("scratch", c.configure())
    model.set_weights(make_request(c, c.configure(), "float64", 0).weights)
    spec = c.model_spec(c.configure())
    expected = {"output", "loss"} | (set() if spec.input_dtype == "int" else {"grad:input"})  # integer ids: none
    if spec.input_dtype == "int":
        assert "grad:input" not in quantities, "a fake gradient for integer ids"
    expected |= {f"grad:{p}" for p in model.parameters()} | {f"loss_grad:{p}" for p in model.parameters()}
    expected |= {f"weight:{p}" for p in model.weights()}
    assert expected <= quantities, f"missing quantities: {sorted(expected - quantities)}"
    assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize("case", CASES)
def test_weight_shapes_are_the_shapes_init_creates(case):
    """``weight_shapes`` sizes a model before allocating it (``Case.require_fits``): it must not lie."""
    c = get_case(case)
    model = c.build("scratch", c.configure())
    declared = {f"{layer.name}.{k}": tuple(s) for layer in model.layers for k, s in layer.weight_shapes().items()}
    model.init(np.random.default_rng(0), np.float64)
    assert declared == {k: v.shape for k, v in model.weights().items()}


@pytest.mark.parametrize("impl", FRAMEWORK_IMPLS)
@pytest.mark.parametrize("case", ["sigmoid", "softmax", "gelu", "logistic_regression", "mlp"])
def test_logits_of_magnitude_1e4_agree(case, impl):
    """Inputs scaled until pre-activations reach ~1e4: same numbers everywhere, no NaN."""
    c = get_case(case)
    config = c.configure()
    for dtype in DTYPES:
        request = make_request(c, config, dtype, seed=0)
        request.inputs = request.inputs * (1e4 / np.abs(request.inputs).max())
        reference = run("scratch", request)
        assert np.all(np.isfinite(reference.output)) and np.isfinite(reference.loss)
        records = compare_runs(case, dtype, reference, run(impl, request))
        assert all(r.passed for r in records), failures(records)
