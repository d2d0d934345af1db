"""Every registered divergence: the naive port is caught, the converted port passes."""

from __future__ import annotations

import pytest

from parity.divergences import all_divergences

DIVERGENCES = sorted(all_divergences())
# one pytest-xdist worker for every test reading conftest.divergence_outcome: each case is evaluated once
pytestmark = pytest.mark.xdist_group("divergences")


@pytest.mark.parametrize("name", DIVERGENCES)
def test_naive_fails_and_converted_passes(name, divergence_outcome):
    outcome = divergence_outcome(name)  # run_divergence(d, seed=0), shared with the inspection and guide tests
    assert outcome.result is not None, f"{name} crashed: {outcome.error}"
    result = outcome.result
    assert result.naive, "the naive variant compared nothing"
    assert result.naive_caught, f"naive variant not caught: worst error {result.naive_error:.3g}"
    assert result.converted_passes, "converted variant fails: " + "; ".join(
        f"{r.quantity} {r.max_rel_err:.3g}" for r in result.converted if not r.passed
    )


def test_every_divergence_is_documented():
    for d in all_divergences().values():
        assert d.area and d.differs and d.rule and d.converter and d.layer, d.name
