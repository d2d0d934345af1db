"""``parity.tolerance.errors`` against its definition, entry by entry: max |a - b| over the entries
(0 where a == b, equal infinities included; a NaN makes it inf), and that over the largest finite |a|."""

from __future__ import annotations

import math
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import parity.tolerance
from parity.tolerance import errors

VALUES = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False, width=64),
    st.sampled_from([0.0, math.inf, -math.inf, math.nan, 1e-300]),
)


def by_definition(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    worst = 0.0
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
        if x == y:
            continue
        d = abs(x - y)
        if math.isnan(d):
            return math.inf, math.inf
        worst = max(worst, d)
    scale = max((abs(x) for x in a.ravel().tolist() if math.isfinite(x)), default=0.0)
    if scale == 0.0:
        return worst, (0.0 if worst == 0.0 else math.inf)
    return worst, worst / scale


@settings(max_examples=300, deadline=None)  # small arrays: 300 draws take well under a second
@given(st.data())
def test_errors_is_its_definition(data):
    """In float64 and float32, in one chunk and in chunks of 3 elements (``CHUNK``: the difference is
    formed a chunk at a time, so an infinity, a NaN or the largest entry may lie in any chunk)."""
    shape = data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    a = data.draw(arrays(np.float64, shape, elements=VALUES)).astype(dtype)
    # b: a with some entries changed, so that equal entries (infinities among them) are drawn often
    b = np.where(data.draw(arrays(np.bool_, shape)), data.draw(arrays(np.float64, shape, elements=VALUES)), a).astype(dtype)
    if data.draw(st.booleans()):  # a strided input (a transposed kernel), read in C order like the rest
        a, b = np.ascontiguousarray(a.T).T, (np.ascontiguousarray(b.T).T if data.draw(st.booleans()) else b)
    chunk = data.draw(st.sampled_from([parity.tolerance.CHUNK, 3]))
    with mock.patch.object(parity.tolerance, "CHUNK", chunk):
        assert errors(a, b) == by_definition(a, b)


def test_a_shape_mismatch_and_an_empty_pair():
    assert errors(np.zeros(3), np.zeros(4)) == (math.inf, math.inf)
    assert errors(np.zeros((0, 2)), np.zeros((0, 2))) == (0.0, 0.0)


@settings(max_examples=200, deadline=None)  # small arrays: 200 draws take well under a second
@given(st.data())
def test_finite_max_abs_is_its_definition(data):
    """max |v| over the entries, None where any entry is NaN or infinite, 0.0 for none: in float64,
    float32, integers and booleans, empty arrays and NaNs or infinities anywhere among the entries."""
    shape = data.draw(st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
    dtype = data.draw(st.sampled_from([np.float64, np.float32, np.int64, np.bool_]))
    values = data.draw(arrays(np.float64, shape, elements=VALUES))
    if dtype in (np.int64, np.bool_):
        values = np.nan_to_num(values, nan=7.0, posinf=-5.0, neginf=3.0)
    values = values.astype(dtype)
    entries = [float(x) for x in values.ravel().tolist()]
    expected = None if not all(math.isfinite(x) for x in entries) else max((abs(x) for x in entries), default=0.0)
    assert parity.tolerance.finite_max_abs(values) == expected
