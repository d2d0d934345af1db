"""parity.weights: which arrays count as constant (at most two distinct values) and are varied."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from parity.weights import at_most_two_values, vary_constants

VALUES = st.sampled_from([0.0, 1.0, -1.0, 0.5, 3.0])


@settings(max_examples=200, deadline=None)  # arrays up to 300 entries, past the 64-entry prefix
@given(arrays(np.float64, st.integers(1, 300), elements=VALUES))
def test_at_most_two_values_is_the_count_of_distinct_values(W):
    assert at_most_two_values(W) == (len(np.unique(W)) <= 2)


def test_a_third_value_after_the_prefix_counts():
    W = np.zeros(1000)
    W[500:] = 1.0
    assert at_most_two_values(W)
    W[999] = 2.0
    assert not at_most_two_values(W)
    assert not at_most_two_values(W.reshape(10, 100))


def test_constant_arrays_are_varied_and_drawn_ones_kept():
    weights = {
        "dense.W": np.random.default_rng(1).standard_normal((70, 3)),
        "dense.b": np.zeros(3),
        "bn.gamma": np.ones(5),
        "lstm.b": np.r_[np.zeros(4), np.ones(4)],
        "late.b": np.r_[np.zeros(100), np.ones(100), [2.0]],
    }
    varied = vary_constants(weights, np.random.default_rng(0))
    assert np.array_equal(varied["dense.W"], weights["dense.W"])
    assert np.array_equal(varied["late.b"], weights["late.b"])
    for name in ("dense.b", "bn.gamma", "lstm.b"):
        assert len(np.unique(varied[name])) == weights[name].size, name
    assert np.all(varied["bn.gamma"] > 0)
