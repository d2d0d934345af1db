"""The README's test command: `make test` runs pytest in TEST_PROCESSES pytest-xdist processes (default 2)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_command(*overrides: str) -> str:
    """The pytest line `make test` would run (``make -n``: printed, nothing run)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed (the README's two commands need it)")
    printed = subprocess.run(
        ["make", "-n", "-C", str(ROOT), "test", *overrides], capture_output=True, text=True, check=True
    )
    lines = [line for line in printed.stdout.splitlines() if " -m pytest " in line]
    assert len(lines) == 1, printed.stdout
    return lines[0]


def test_make_test_runs_two_processes_by_default():
    assert " -n 2 --dist loadgroup" in pytest_command()


@pytest.mark.parametrize("processes", ["0", "3"])
def test_test_processes_sets_the_number_of_processes(processes):
    line = pytest_command(f"TEST_PROCESSES={processes}")
    assert f" -n {processes} --dist loadgroup" in line and " -n 2 " not in line


def test_pytest_args_reach_pytest():
    assert pytest_command("PYTEST_ARGS=--durations=7").endswith("--durations=7")
