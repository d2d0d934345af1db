"""Shared test settings."""

import functools
import os
import sys

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


# Tests of resident memory read /proc/self (Linux), and of glibc's tunables, glibc's malloc.
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self and uses glibc's malloc (Linux)")


# In a fresh process: a 64 MiB array is made, freed and made again; what stayed resident after the free,
# the page faults of the second, and whether NumPy still asks for huge pages (``pool.memory_kept``).
_FREE_AND_AGAIN = """
import json, resource
import numpy as np
from numpy._core.multiarray import _set_madvise_hugepage
from benchmarks.memory import _status_kib

def rss():
    return _status_kib("VmRSS") * 1024

huge_pages = _set_madvise_hugepage(False)
a = np.ones(64 * 2**20, dtype=np.uint8)
before = rss()
del a
kept = rss() - (before - 64 * 2**20)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
b = np.ones(64 * 2**20, dtype=np.uint8)
print(json.dumps({"kept": kept, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults, "huge_pages": huge_pages}))
"""


def free_and_again(env: dict) -> dict:
    """``_FREE_AND_AGAIN`` run with ``env`` on top of this process's environment: its JSON record."""
    import json
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", _FREE_AND_AGAIN], env={**os.environ, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)
