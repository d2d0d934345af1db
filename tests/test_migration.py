"""The committed migration guide, reports/MIGRATION.md, is what the registered divergence cases generate."""

from __future__ import annotations

import difflib

import pytest

from parity.agreement.records import Record
from parity.divergences import select
from parity.divergences.base import DivergenceResult
from parity.divergences.outcome import DivergenceOutcome
from parity.report.migration import AREA_ORDER, GUIDE, effect, generate, measure, significant

# one pytest-xdist worker for every test reading conftest.divergence_outcome: each case is evaluated once
pytestmark = pytest.mark.xdist_group("divergences")


@pytest.fixture(scope="module")
def outcomes(divergence_outcome):
    """What ``measure()`` returns (every case evaluated, in ``select()`` order), from the session's shared outcomes."""
    measured = [divergence_outcome(d.name) for d in select()]
    missing = [o.error for o in measured if "not installed" in o.error]
    if missing:
        pytest.skip(f"an implementation is not installed, so the guide cannot be measured: {missing[0]}")
    return measured


def test_committed_guide_is_up_to_date(outcomes):
    expected = generate(outcomes)
    committed = GUIDE.read_text() if GUIDE.exists() else ""
    if committed != expected:
        diff = difflib.unified_diff(committed.splitlines(True), expected.splitlines(True), "committed", "generated")
        diff = "".join(list(diff)[:80])
        pytest.fail(
            f"{GUIDE} is out of date: regenerate it with `python -m parity.report.migration` (or `parity report`).\n{diff}"
        )


def test_measure_evaluates_every_selected_case_in_order(monkeypatch):
    """``measure()`` (what ``python -m parity.report.migration`` writes from) is ``evaluate`` over ``select()``;
    the outcomes above come from the same ``evaluate``, shared with the other divergence tests."""
    import parity.divergences.outcome as outcome

    monkeypatch.setattr(outcome, "evaluate", lambda d, seed=0, locate=True: (d.name, seed, locate))
    assert measure() == [(d.name, 0, True) for d in select()]


def test_generation_is_deterministic(outcomes):
    assert generate(outcomes) == generate(list(reversed(outcomes)))


def test_every_divergence_case_has_an_entry_with_rule_and_converter(outcomes):
    text = generate(outcomes)
    for d in select():
        entry = text.split(f"### {d.name}\n", 1)
        assert len(entry) == 2, f"{d.name} has no entry"
        body = entry[1].split("\n### ", 1)[0]
        for field in ("What differs", "Measured effect", "Rule", "Converter"):
            assert f"**{field}:**" in body, f"{d.name}: no {field}"
        assert d.converter in body


def test_areas_follow_the_porting_order(outcomes):
    text = generate(outcomes)
    headings = [line[3:].lower() for line in text.splitlines() if line.startswith("## ") and line != "## Contents"]
    known = [h for h in headings if h in AREA_ORDER]
    assert known == sorted(known, key=AREA_ORDER.index)
    unknown = [h for h in headings if h not in AREA_ORDER]
    assert headings == known + sorted(unknown)


def test_significant_digits():
    assert significant(0.75294) == "0.75"
    assert significant(1.2039) == "1.2"
    assert significant(6.3385e-4) == "6.3e-4"
    assert significant(1e-10) == "1.0e-10"
    assert significant(0.0) == "0"


def _outcome(name: str, err: float) -> DivergenceOutcome:
    d = select([name])[0]
    a, b = d.naive.a.impl, d.naive.b.impl
    naive = [Record(d.case, a, b, d.dtype, "output", err, err, err / 2.2e-16, 1e-10, False)]
    converted = [Record(d.case, a, d.converted.b.impl, d.dtype, "output", 0.0, 0.0, 0.0, 1e-10, True)]
    return DivergenceOutcome(d, DivergenceResult(d, naive, converted))


def test_an_effect_the_size_of_float32_rounding_is_written_as_a_bound():
    """keras-jax without x64 computes float64 in float32: the digits of its error follow the
    summation order, so they must not reach the committed file."""
    assert effect(_outcome("keras_jax_float64", 2.6514e-7)) == effect(_outcome("keras_jax_float64", 3.1e-7))
    assert "size of float32 rounding" in effect(_outcome("keras_jax_float64", 2.6514e-7))


def test_a_small_effect_computed_in_float64_keeps_its_digits():
    """Both sides compute in float64: a 9.4e-5 effect is maths, not rounding."""
    text = effect(_outcome("leaky_relu_layer_default", 9.37e-5))
    assert "9.4e-5" in text and "`output`" in text and "rounding" not in text


def test_a_random_effect_is_written_without_digits():
    """Dropout draws its mask from each framework's generator: the naive error differs every run."""
    first, second = _outcome("dropout_masks", 1.76), _outcome("dropout_masks", 1.78)
    first.repeat_error, second.repeat_error = 1.78, 1.60
    assert first.reproducible is False
    assert effect(first) == effect(second) and "changes from run to run" in effect(first)
