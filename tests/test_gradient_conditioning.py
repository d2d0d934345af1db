"""A gradient decided by rounding: a ReLU input exactly at 0 (InceptionV3 in float32 has one at
1.2e-9, which Keras and the torch port round to opposite signs). Its outputs agree, its gradients
do not, and the verdict says the source's own gradients move as far under one ulp: ill-conditioned,
never agree. The same judge still calls a wrong weight or a wrong gradient a disagreement, and names
the first layer whose quantities differ where scratch traces of the two specs cannot."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import parity.ports
from parity.agreement.records import Record
from parity.fuzz.conditioning import ill_conditioned, one_ulp
from parity.ports import compare
from parity.tolerance import EPS, tolerance

TOL = tolerance("float32")


def _record(quantity: str, passed: bool, impl_a: str = "a") -> Record:
    error = 0.06 if not passed else 1e-7
    return Record("m", impl_a, "b", "float32", quantity, error, error, error / EPS["float32"], TOL, passed)


@pytest.mark.parametrize(
    "failed, gradients, expected",
    [
        (["grad:conv.W", "grad:input"], {"grad:conv.W": 0.06, "grad:input": 2e-3}, True),  # one ulp moves each
        (["grad:conv.W", "grad:input"], {"grad:conv.W": 0.06, "grad:input": 1e-6}, False),  # one does not move
        (["grad:conv.W"], {"grad:conv.W": 1e-6}, False),  # well conditioned: a finding
        (["grad:conv.W", "output"], {"grad:conv.W": 0.06}, False),  # the output differs and one ulp does not move it
        (["grad:conv.W", "weight:conv.W"], {"grad:conv.W": 0.06}, False),  # a weight differs: whatever the condition
    ],
)
def test_a_gradient_moved_by_one_ulp_is_ill_conditioned_and_only_then(failed, gradients, expected):
    """Each failed gradient must itself move beyond the tolerance when the source moves by one ulp;
    the records stay failed and say why; the output's move (here 1e-7) is below the tolerance."""
    records = [_record("output", True), _record("weight:stem.W", True), *(_record(q, False) for q in failed)]
    why = ill_conditioned(records, {"input": 1e-7, "weights": 2e-7}, TOL, gradients)
    assert (why is not None) == expected, why
    if expected:
        assert "moves its output by 2e-07 relative but its own gradients beyond the tolerance" in why, why
        assert "each of the 2 that differ (grad:conv.W by 0.06)" in why, why
        assert all(r.passed is False and "ill-conditioned" in r.detail for r in records[2:])
        assert records[0].detail == records[1].detail == ""


class Kink(nn.Module):
    """relu(x0 + x1) and relu(3 x1 - x0), summed: on inputs (a, -a) the first ReLU sits exactly at 0."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.act, self.head = nn.Linear(2, 2, bias=False), nn.ReLU(), nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 1.0], [-1.0, -3.0]]))
            self.head.weight.copy_(torch.tensor([[1.0, 1.0]]))

    def forward(self, x):
        return self.head(self.act(self.fc(x)))


def _inputs(at_kink: bool) -> np.ndarray:
    a = np.abs(np.random.default_rng(0).standard_normal(16)) + 0.5
    return np.stack([a, -a if at_kink else -a / 2], axis=1)  # (16, 2): x0 + x1 is 0, or a / 2


def _plant(monkeypatch, what: str) -> None:
    """Model B (the port) runs with its input moved by one ulp (another kernel's rounding), or one
    weight moved by a relative 1e-3, or its gradient of fc.W moved by a relative 1e-3."""
    own = parity.ports._own

    def planted(side, X, G, dtype):
        result, weights = own(side, X, G, dtype)
        if side.label != "b":
            return result, weights
        if what == "rounding":
            return side.run(one_ulp({"X": X}, np.random.default_rng(7), dtype)["X"], G, weights, dtype), weights
        if what == "weight":
            weights = {**weights, "head.W": weights["head.W"] * (1 + 1e-3)}
            return side.run(X, G, weights, dtype), weights
        grads = {**result["grads"], "fc.W": result["grads"]["fc.W"] * (1 + 1e-3)}
        return {**result, "grads": grads}, weights

    monkeypatch.setattr(parity.ports, "_own", planted)


@pytest.mark.parametrize(
    "at_kink, planted, expected, first",
    [
        (True, "rounding", "ill-conditioned", "fc"),  # one ulp of rounding flips ReLU's derivative at 0
        (False, "rounding", "agree", None),  # the same rounding away from the kink: nothing to see
        (True, "weight", "disagree", "head"),  # a wrong weight at the kink is still a finding
        (False, "gradient", "disagree", "fc"),  # a wrong gradient: named although both specs' scratch traces agree
    ],
)
def test_a_relu_at_zero_makes_the_float32_gradients_ill_conditioned(at_kink, planted, expected, first, monkeypatch):
    _plant(monkeypatch, planted)
    result = compare(
        Kink(), Kink(), inputs=_inputs(at_kink), input_shape=(2,), dtype="float32", weights_from="own", seed=0
    )
    failed = result.records[result.records["passed"] == False]  # noqa: E712  a pandas mask
    verdict = "agree" if result.agree else "ill-conditioned" if result.ill_conditioned else "disagree"
    assert verdict == expected, (result.ill_conditioned, failed[["quantity", "max_rel_err"]])
    assert result.first_divergence == first, result.first_divergence
    if expected == "ill-conditioned":
        assert set(failed["quantity"]) <= {"grad:fc.W", "grad:input"} and "grad:fc.W" in set(failed["quantity"])
        assert "its own gradients beyond the tolerance" in result.ill_conditioned
    if expected == "disagree":
        assert result.ill_conditioned is None
