"""Known upstream bugs (parity.upstream): each reproduced (the failure caught, with its message) and
its workaround passing against scratch."""

from __future__ import annotations

import pytest

from parity.upstream import BUGS, all_bugs, known_bug, run_bug
from tests.conftest import failures


@pytest.mark.parametrize("name", sorted(all_bugs()))
def test_bug_is_reproduced_and_the_workaround_passes(name):
    bug = all_bugs()[name]
    result = run_bug(bug)
    assert result.reproduced, failures(result.failing)
    assert result.workaround_passes, failures(result.workaround)
    assert all(r.passed is False for r in result.failing if r.status == "crashed")


def test_every_bug_is_documented():
    for bug in BUGS:
        assert bug.upstream and bug.cause and bug.workaround and bug.message, bug.name


def test_only_the_named_implementation_dtype_and_message_match():
    bug = all_bugs()["torch_slow_conv2d_noncontiguous_grad_weight"]
    detail = f"RuntimeError: {bug.message}"
    assert known_bug("keras-torch", "float64", "crashed", detail) is bug
    assert known_bug("keras-torch", "float32", "crashed", detail) is None
    assert known_bug("torch", "float64", "crashed", detail) is None
    assert known_bug("keras-torch", "float64", "crashed", "RuntimeError: something else") is None
    assert known_bug("keras-torch", "float64", "compared", detail) is None


def test_a_bug_of_both_dtypes_matches_either_and_runs_in_both():
    bug = all_bugs()["tf_depthwise_conv2d_unequal_strides"]
    detail = f"InvalidArgumentError: Current implementation {bug.message}. [Op:DepthwiseConv2dNative]"
    assert known_bug("keras-tensorflow", "float64", "crashed", detail) is bug
    assert known_bug("keras-tensorflow", "float32", "crashed", detail) is bug
    assert known_bug("keras-jax", "float32", "crashed", detail) is None
    assert bug.dtypes == ["float64", "float32"]


def test_a_bug_that_does_not_reproduce_is_not_reported_reproduced():
    """A registered message the implementation does not fail with (the bug fixed upstream, say) shows."""
    from dataclasses import replace

    bug = replace(all_bugs()["torch_slow_conv2d_noncontiguous_grad_weight"], config={"input_shape": [4, 4, 2], "kernel_size": 3, "padding": "same"})
    result = run_bug(bug)
    assert not result.reproduced and not result.ok
