"""The migration guide, ``reports/MIGRATION.md``, generated from the registered divergence cases.

Per case: what differs, the measured effect of the naive port, the conversion rule and
the converter that implements it; grouped by area, in the order a model is ported
(weights and layouts, then layers, activations, losses, training, dtypes).

The file is committed and ``tests/test_migration.py`` regenerates it and fails when
the committed copy differs, so generation is deterministic: no timestamps, no
versions, cases sorted by name, and measured effects rounded to two significant
digits. An effect the size of the rounding of the precision the naive port computes in
(below 1000 eps: float64 demoted to float32, say) is not a number that the maths
fixes - its digits follow the summation order of the library and the machine - so it
is written as that bound instead of as digits.

Regenerate with ``parity report`` or ``python -m parity.report.migration``;
``python -m parity.report.migration --check`` exits 1 when the committed guide is out of date.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from parity.divergences.outcome import DivergenceOutcome
from parity.tolerance import EPS, tolerance

GUIDE = Path(__file__).resolve().parents[2] / "reports" / "MIGRATION.md"

# The order in which a port meets each area: first the weights have to load (layouts),
# then each layer type must compute the same thing, then the activations, the loss,
# the training step, and last the numeric type everything runs in. Areas not listed
# follow, alphabetically.
AREA_ORDER = (
    "layout",
    "weights",
    "dense",
    "convolution",
    "pooling",
    "flatten",
    "normalization",
    "dropout",
    "recurrent",
    "activations",
    "losses",
    "regularisation",
    "regularization",
    "optimizers",
    "schedules",
    "training",
    "dtypes",
)

# An effect below this many eps of the precision the naive port computes in is the size
# of that precision's rounding: its digits follow the summation order, not the maths.
NOISE_EPS = 1e3


def significant(value: float, digits: int = 2) -> str:
    """``value`` rounded to ``digits`` significant digits, in a stable notation."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return "inf"
    text = f"{value:.{digits - 1}e}"  # e.g. 7.5e-01
    mantissa, exponent = text.split("e")
    exponent = int(exponent)
    if -3 <= exponent < 3:
        return f"{float(text):.{max(digits - 1 - exponent, 0)}f}"
    return f"{mantissa}e{exponent}"


def computed_dtype(outcome: DivergenceOutcome) -> str:
    """The precision the naive port really computes in: float32 when the divergence runs in
    float32, or when a side is Keras as it comes (float64 silently demoted, the hidden
    ``*-x32`` implementations) or reports that it computed in float32."""
    from parity.runners.base import HIDDEN_IMPLEMENTATIONS

    d, r = outcome.divergence, outcome.result
    if d.dtype == "float32" or any(side.impl in HIDDEN_IMPLEMENTATIONS for side in (d.naive.a, d.naive.b)):
        return "float32"
    if r is not None and any("computed in float32" in rec.detail for rec in r.naive):
        return "float32"
    return d.dtype


def effect(outcome: DivergenceOutcome) -> str:
    """The measured effect of the naive port, in words that rounding noise cannot change."""
    d, r = outcome.divergence, outcome.result
    if r is None:
        return "not measured: the case crashed when this guide was generated."
    sides = f"{d.naive.a.impl} against {d.naive.b.impl} on `{d.case}` in {d.dtype}"
    worst = max(r.naive, key=lambda rec: math.inf if rec.max_rel_err is None else rec.max_rel_err, default=None)
    computed = computed_dtype(outcome)
    noise = NOISE_EPS * EPS[computed]
    if worst is None:
        size = "nothing to compare"
    elif outcome.reproducible is False:
        size = "an error that changes from run to run (the naive port draws random numbers), far beyond the tolerance"
    elif worst.max_rel_err is None:
        size = f"results that cannot be compared (`{worst.quantity}`: {worst.detail or 'no value'})"
    elif worst.max_rel_err < noise:
        size = (
            f"an error the size of {computed} rounding (below {significant(noise, 1)} relative, "
            f"{NOISE_EPS:g} eps; its digits depend on the summation order)"
        )
    else:
        size = f"a relative error of {significant(worst.max_rel_err)} (worst on `{worst.quantity}`)"
    naive_tol = _tolerance(r.naive, d)
    caught = "caught" if r.naive_caught else "NOT caught"
    converted_tol = _tolerance(r.converted, d)
    passes = "agrees within" if r.converted_passes else "still FAILS"
    return (
        f"the naive port ({sides}) shows {size}: {caught} by the tolerance {significant(naive_tol, 2)}. "
        f"The converted port {passes} {significant(converted_tol, 2)}."
    )


def _tolerance(records, d) -> float:
    """The tolerance the records were judged by (a training divergence sets its own)."""
    return max((r.tolerance for r in records if r.tolerance is not None), default=tolerance(d.dtype))


def _area_key(area: str) -> tuple[int, str]:
    return (AREA_ORDER.index(area) if area in AREA_ORDER else len(AREA_ORDER), area)


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower().replace(" ", "-"))


def generate(outcomes: list[DivergenceOutcome]) -> str:
    """The guide's text: deterministic for the same registered cases and measurements."""
    by_area: dict[str, list[DivergenceOutcome]] = {}
    for o in outcomes:
        by_area.setdefault(o.divergence.area, []).append(o)
    areas = sorted(by_area, key=_area_key)
    lines = [
        "# Migration guide: Keras <-> PyTorch",
        "",
        "Generated from the registered divergence cases (`parity/divergences/`) by `parity report` or",
        "`python -m parity.report.migration`. Do not edit by hand: `tests/test_migration.py` fails when this file",
        "is out of date.",
        "",
        "Each entry is a place where a port that copies the code and trusts the defaults silently",
        "computes something else. It gives what differs, the measured effect of that naive port",
        "(the largest relative error, normalised by the largest reference entry, over the compared",
        "outputs, losses and gradients), the conversion rule, and the converter in this repository",
        "that applies it. The harness shows every naive port failing and every converted port",
        "passing (`parity divergences`); `parity inspect --divergence NAME` shows the naive port",
        "layer by layer and points at the layer named here.",
        "",
        "Areas come in the order a port meets them, in either direction: the weights must load,",
        "each layer must compute the same function, then the activations, the loss, the training",
        "step, and the numeric type it all runs in.",
        "",
        "## Contents",
        "",
    ]
    for area in areas:
        names = ", ".join(
            f"[{o.divergence.name}](#{_anchor(o.divergence.name)})"
            for o in sorted(by_area[area], key=lambda o: o.divergence.name)
        )
        lines.append(f"- **{area}**: {names}")
    for area in areas:
        lines += ["", f"## {area.capitalize()}"]
        for o in sorted(by_area[area], key=lambda o: o.divergence.name):
            d = o.divergence
            where = "the loss" if d.layer == "loss" else f"layer `{d.layer}`"
            lines += [
                "",
                f"### {d.name}",
                "",
                f"- **What differs:** {d.differs}",
                f"- **Measured effect:** {effect(o)}",
                f"- **Rule:** {d.rule}",
                f"- **Converter:** `{d.converter}`",
                f"- **Where it shows:** {where} (`parity inspect --divergence {d.name}`)",
            ]
    return "\n".join(lines) + "\n"


def measure() -> list[DivergenceOutcome]:
    """Every registered divergence case, run; locating runs each naive port a second time,
    which shows whether its effect is reproducible."""
    from parity.divergences import select
    from parity.divergences.outcome import evaluate_all

    return evaluate_all(select())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m parity.report.migration", description="Regenerate reports/MIGRATION.md.")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if the committed guide is out of date; write nothing"
    )
    parser.add_argument("--out", default=str(GUIDE), help=f"where to write (default {GUIDE})")
    args = parser.parse_args(argv)
    text = generate(measure())
    path = Path(args.out)
    if args.check:
        current = path.read_text() if path.exists() else ""
        if current != text:
            print(f"{path} is out of date: regenerate it with `python -m parity.report.migration`", file=sys.stderr)
            return 1
        print(f"{path} is up to date")
        return 0
    from parity.output import write_atomic

    write_atomic(path, text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
