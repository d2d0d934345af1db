"""BatchNorm's batch variance in one pass or two (divergence keras_torch_batchnorm_one_pass_variance).

Keras' torch backend computes mean(X**2) - mean(X)**2 (keras/src/backend/torch/nn.py, moments);
scratch, torch and Keras' other backends mean((X - mean)**2). The divergence case shows keras-torch
caught against two passes and reproduced by scratch's one-pass formula; these tests show each half
of that able to fail, and the formulas on hand-computed values.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from parity.cases import get_case
from parity.check import make_request
from parity.divergences import get_divergence
from parity.divergences.base import Side, Variant, run_variant
from parity.runners.reference import CONSTANTS, reference_request, use_constants
from parity.spec.generate import build_scratch
from parity.tolerance import relative_error, tolerance
from scratch.batchnorm import BatchNorm, one_pass_variance, two_pass_variance

NAME = "keras_torch_batchnorm_one_pass_variance"


def test_the_two_formulas_on_hand_computed_values():
    X = np.array([[3.0], [5.0]])  # mean 4, deviations -1 and 1: var 1
    mean = X.mean(axis=0, keepdims=True)
    assert two_pass_variance(X, mean, (0,)) == one_pass_variance(X, mean, (0,)) == 1.0
    offset = 2.0**27  # X**2 near 2**54, whose ulp is 4: the one-pass difference cannot hold the variance 1
    Y = X + offset
    mean = Y.mean(axis=0, keepdims=True)
    assert two_pass_variance(Y, mean, (0,)) == 1.0  # the deviations are exact
    # (2**27 + 3)**2 and (2**27 + 5)**2 lose their last 1 to rounding (9 -> 8, 25 -> 24): their mean
    # equals mean**2 = (2**27 + 4)**2 exactly, and the variance 1 is gone
    assert one_pass_variance(Y, mean, (0,)) == 0.0


def test_the_formula_is_an_attribute_and_the_backward_pass_is_the_same():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 1, 1, 3))  # (B, H, W, C), near zero: the formulas round alike
    dZ = rng.standard_normal(X.shape)
    results = []
    for variance in (two_pass_variance, one_pass_variance):
        bn = BatchNorm()
        bn.build(X.shape[1:])
        bn.init(rng)
        bn.training = True
        bn.variance = variance
        Z = bn.forward(X)
        results.append((Z, bn.backward(dZ), bn.state["moving_var"]))
    for two, one in zip(*results):
        assert relative_error(two, one) <= tolerance("float64")  # the same function, another rounding


def test_keras_torch_is_judged_against_two_passes():
    d = get_divergence(NAME)
    case = get_case(d.case)
    request = make_request(case, case.configure(d.config), "float64", 0)
    assert reference_request("keras-torch", request) is request  # no constant of torch's, two passes
    model = build_scratch(case.model_spec(case.configure(d.config)))
    assert use_constants(model, "keras-torch") == 1
    assert model.layers[0].variance is one_pass_variance


def _with(**changes):
    return dataclasses.replace(get_divergence(NAME), **changes)


def test_without_the_offset_the_naive_port_is_not_caught():
    """The case is about the offset: at the case's own inputs both formulas agree."""
    records = run_variant(_with(input_offset=0.0), get_divergence(NAME).naive)
    assert records and all(r.passed for r in records)


def test_the_converted_reference_fails_without_the_one_pass_formula(monkeypatch):
    d = get_divergence(NAME)
    two_pass = Variant(Side("scratch"), Side("keras-torch"))  # the reference's formula removed
    assert any(r.passed is False for r in run_variant(d, two_pass))
    monkeypatch.setitem(CONSTANTS["keras-torch"], "BatchNorm", {"variance": two_pass_variance})
    assert any(r.passed is False for r in run_variant(d, d.converted))


@pytest.mark.parametrize("impl", ["torch", "keras-jax"])
def test_two_pass_implementations_agree_with_two_passes_at_the_offset(impl):
    """torch's batch_norm and Keras on jax subtract the mean first: only keras-torch needs the formula."""
    records = run_variant(get_divergence(NAME), Variant(Side("scratch"), Side(impl)))
    assert records and all(r.passed for r in records)
