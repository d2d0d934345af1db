"""Shared test settings."""

import numpy as np
import pytest

from parity.implementations import IMPLEMENTATIONS

pytest_plugins = ["pytester"]  # tests/test_ports.py runs a separate project through the plugin

FRAMEWORK_IMPLS = [impl for impl in IMPLEMENTATIONS if impl != "scratch"]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def failures(records) -> str:
    """Every failing record, labelled, for an assertion message."""
    return "\n".join(
        f"{r.model} {r.impl_b} {r.dtype} {r.quantity}: max_rel_err={r.max_rel_err} tol={r.tolerance} {r.status} {r.detail}"
        for r in records
        if not r.passed
    )
