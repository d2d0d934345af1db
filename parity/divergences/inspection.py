"""A divergence case's naive port, layer by layer: ``parity inspect --divergence NAME``.

The naive port must part from the other side at the case's own ``layer``. A training
divergence adds an "optimizer" row comparing the two trajectories step by step.
"""

from __future__ import annotations

from parity.agreement.layerwise import LayerRow, compare_layers, locate
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import make_request, with_config
from parity.divergences.base import variant_requests
from parity.inspect import Inspection, layer_kinds
from parity.runners import run
from parity.tolerance import tolerance


def inspect_divergence(d, seed: int = 0) -> Inspection:
    """A divergence case's naive port, layer by layer: it must point at ``d.layer``."""
    if hasattr(d, "run_variant"):  # a training divergence: trajectories, not one pass
        return inspect_training_divergence(d, seed)
    case = get_case(d.case)
    variant = d.naive
    request_a, request_b = variant_requests(d, variant, seed, trace=True)
    a, b = run(variant.a.impl, request_a), run(variant.b.impl, request_b)
    tol = variant.tolerance if variant.tolerance is not None else tolerance(d.dtype)
    rows, worst = compare_layers(a, b, d.dtype, tol, layer_kinds(case, request_a.config, request_b.config), case.loss)
    records = compare_runs(d.case, d.dtype, a, b, tol)  # what the divergence compares (run_variant)
    if d.quantities:
        records = [r for r in records if r.quantity.startswith(d.quantities)]
    return Inspection(
        d.case,
        variant.a.impl,
        variant.b.impl,
        d.dtype,
        tol,
        rows,
        locate(rows, worst, tol),
        worst,
        divergence=d.name,
        expected_layer=d.layer,
        config=request_b.config,
        records=records,
    )


def inspect_training_divergence(d, seed: int = 0) -> Inspection:
    """A training divergence: one pass layer by layer (the model agrees), then the trajectories.

    The last row, "optimizer", compares the loss and every weight after each of the
    ``d.steps`` steps. At the first step where the two part, the weights that differ
    say where the difference lives: every trained layer at once is the update rule
    itself ("optimizer"); only some layers (two biases where the other framework has
    one) is those layers, and the first of them in forward order is named.
    """
    case = get_case(d.case)
    config = case.configure(d.config)
    variant = d.naive
    tol = tolerance(d.dtype)
    request = make_request(case, config, d.dtype, seed, trace=True)
    # Each side's own configuration (a loss that takes probabilities, an extra softmax): the
    # single pass already shows a difference that lives in the model or its loss.
    configs = [case.configure({**d.config, **side.config}) for side in (variant.a, variant.b)]
    a, b = (run(side.impl, with_config(case, request, c)) for side, c in zip((variant.a, variant.b), configs))
    rows, worst = compare_layers(a, b, d.dtype, tol, layer_kinds(case, *configs), case.loss)
    first = locate(rows, worst, tol)

    records = d.run_variant(variant, seed)
    judged = [r for r in records if r.max_rel_err is not None]
    failing = [r for r in records if r.passed is False]
    steps = getattr(d, "steps", max((getattr(r, "step", 0) for r in records), default=0))
    row_tol = max((r.tolerance for r in records if r.tolerance is not None), default=tol)
    note = f"{len(judged)} comparisons of the loss and every weight after each step"
    place = None
    if failing:
        step = min(getattr(r, "step", 0) for r in failing)
        parted = {r.quantity for r in failing if getattr(r, "step", 0) == step}
        note = f"first differs after step {step} on {', '.join(sorted(parted))}"
        place = "optimizer"
        order = [r.layer for r in rows]
        trained = {_layer_of(r.quantity) for r in records if getattr(r, "step", 0) == step and _layer_of(r.quantity)}
        moved = {_layer_of(q) for q in parted if _layer_of(q)}
        if moved and moved != trained:  # only some layers part: the difference lives in them
            place = min(moved, key=lambda name: order.index(name) if name in order else len(order))
            for row in rows:
                if row.layer == place:
                    row.passed = False
                    row.note = f"its weights part from the other side's after step {step} of training"
            note += f": layer {place} only, not the update rule"
    rows.append(
        LayerRow(
            "optimizer",
            str(variant.b.optimizer.get("kind", "")),
            f"{steps} steps",
            act_err=max((r.max_rel_err for r in judged), default=None),
            grad_err=None,
            tolerance=row_tol,
            dtype=d.dtype,
            passed=None if not judged else not failing,
            note=note,
        )
    )
    return Inspection(
        d.case,
        variant.a.impl,
        variant.b.impl,
        d.dtype,
        tol,
        rows,
        first or place,
        worst,
        divergence=d.name,
        expected_layer=d.layer,
        config=config,
        records=records,
    )


def _layer_of(quantity: str) -> str | None:
    """The layer of a "weight:<layer>.<param>" quantity (None for the loss)."""
    return quantity.split(":", 1)[1].split(".")[0] if quantity.startswith("weight:") else None

