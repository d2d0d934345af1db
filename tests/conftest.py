"""Shared test settings."""

import functools

import numpy as np
import pytest

from parity.implementations import IMPLEMENTATIONS

pytest_plugins = ["pytester"]  # tests/test_ports.py runs a separate project through the plugin

FRAMEWORK_IMPLS = [impl for impl in IMPLEMENTATIONS if impl != "scratch"]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def divergence_outcome():
    """``outcome(name)``: the divergence case evaluated once per session (``parity.divergences.outcome.evaluate``,
    seed 0: both variants run, then the naive port located layer by layer).

    The divergence, inspection, migration-guide and per-family tests all read the same outcomes, so
    each case runs once however many tests read it; a file run alone evaluates only what it reads.
    """
    from parity.divergences import get_divergence
    from parity.divergences.outcome import evaluate

    @functools.cache
    def outcome(name: str):
        return evaluate(get_divergence(name))

    return outcome


def failures(records) -> str:
    """Every failing record, labelled, for an assertion message."""
    return "\n".join(
        f"{r.model} {r.impl_b} {r.dtype} {r.quantity}: max_rel_err={r.max_rel_err} tol={r.tolerance} {r.status} {r.detail}"
        for r in records
        if not r.passed
    )
