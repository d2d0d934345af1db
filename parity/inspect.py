"""`parity inspect`: two implementations, layer by layer, and where they part.

``parity inspect MODEL --impl A,B`` runs the case on both with a trace and prints one
row per scratch layer (``parity.compare.layerwise`` compares them and locates the difference);
in float32 both implementations also run in float64, so every row shows their noise
floors beside the error. ``parity inspect --divergence NAME`` does the same for a
divergence case's naive port, which must point at the case's ``layer``; a training
divergence adds an "optimizer" row comparing the two trajectories step by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from parity.cases import get_case
from parity.check import make_request
from parity.compare.layerwise import LayerRow, compare_layers, locate
from parity.compare.noise import layer_floors
from parity.compare.records import compare_runs
from parity.runners import run
from parity.tolerance import EPS, tolerance, tolerance_for


@dataclass
class Inspection:
    model: str
    impl_a: str
    impl_b: str
    dtype: str
    tolerance: float
    rows: list[LayerRow]
    first_divergence: str | None
    worst_param: tuple[str, float] | None  # (canonical name, max_rel_err) among the judged parameters
    divergence: str | None = None
    expected_layer: str | None = None  # the divergence's ``layer``
    reason: str = ""  # why the tolerance is widened, if it is
    config: dict = field(default_factory=dict)
    records: list = field(default_factory=list)  # a divergence's naive records, as the divergence judges them

    @property
    def failed(self) -> bool:
        return any(r.passed is False for r in self.rows) or self.first_divergence is not None

    def as_dict(self) -> dict:
        param = None
        if self.worst_param is not None:
            name, err = self.worst_param
            param = {"name": name, "max_rel_err": _finite(err), "err_in_eps": _finite(err / EPS[self.dtype])}
        return {
            "model": self.model,
            "impl_a": self.impl_a,
            "impl_b": self.impl_b,
            "dtype": self.dtype,
            "divergence": self.divergence,
            "expected_layer": self.expected_layer,
            "first_divergence": self.first_divergence,
            "largest_param_grad_error": param,
            "tolerance": self.tolerance,
            "tolerance_reason": self.reason,
            "passed": not self.failed,
            "rows": [r.as_dict() for r in self.rows],
        }


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


# running ---------------------------------------------------------------------


def _kinds(case, *configs) -> dict[str, str]:
    kinds = {}
    for config in configs:
        for layer in case.build("scratch", config).layers:
            kinds.setdefault(layer.name, type(layer).__name__)
    return kinds


def inspect_case(model: str, overrides: dict | None, impl_a: str, impl_b: str, dtype: str, seed: int = 0) -> Inspection:
    """Run ``model`` on both implementations with a trace and compare layer by layer.

    In float32 each implementation also runs in float64, so that every row shows the
    larger of the two noise floors beside the agreement (``parity.compare.noise``).
    """
    case = get_case(model)
    config = case.configure(overrides)
    tol, reason = max(tolerance_for(model, config, impl, dtype) for impl in (impl_a, impl_b))
    request = make_request(case, config, dtype, seed, trace=True)
    a, b = run(impl_a, request), run(impl_b, request)
    floors = None
    if dtype == "float32":
        request64 = make_request(case, config, "float64", seed, trace=True)
        floors = tuple(layer_floors(run(impl, request64), result) for impl, result in ((impl_a, a), (impl_b, b)))
    rows, worst = compare_layers(a, b, dtype, tol, _kinds(case, config), case.loss, floors)
    return Inspection(
        model, impl_a, impl_b, dtype, tol, rows, locate(rows, worst, tol), worst, reason=reason, config=config
    )


def inspect_divergence(d, seed: int = 0) -> Inspection:
    """A divergence case's naive port, layer by layer: it must point at ``d.layer``."""
    from parity.divergences.base import variant_requests

    if hasattr(d, "run_variant"):  # a training divergence: trajectories, not one pass
        return inspect_training_divergence(d, seed)
    case = get_case(d.case)
    variant = d.naive
    request_a, request_b = variant_requests(d, variant, seed, trace=True)
    a, b = run(variant.a.impl, request_a), run(variant.b.impl, request_b)
    tol = variant.tolerance if variant.tolerance is not None else tolerance(d.dtype)
    rows, worst = compare_layers(a, b, d.dtype, tol, _kinds(case, request_a.config, request_b.config), case.loss)
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
    a, b = run(variant.a.impl, request), run(variant.b.impl, request)
    rows, worst = compare_layers(a, b, d.dtype, tol, _kinds(case, config), case.loss)
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


# printing --------------------------------------------------------------------


def _eps(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.3g}"


def table(inspection: Inspection):
    from rich.table import Table

    title = f"inspect {inspection.model}: {inspection.impl_a} vs {inspection.impl_b} ({inspection.dtype})"
    if inspection.divergence:
        title = f"inspect --divergence {inspection.divergence} (naive port): {inspection.impl_a} vs {inspection.impl_b} on {inspection.model} ({inspection.dtype})"
    t = Table(title=title)
    with_floor = any(r.act_floor is not None for r in inspection.rows)
    with_weights = any(r.weight_err is not None for r in inspection.rows)
    columns = ["layer", "kind", "shape", "act err (eps)"] + (["act floor (eps)"] if with_floor else [])
    columns += ["grad err (eps)"] + (["grad floor (eps)"] if with_floor else [])
    columns += (["weights err (eps)"] if with_weights else []) + ["tolerance (eps)", "result", "note"]
    for column in columns:
        t.add_column(column, justify="right" if "eps" in column else "left")
    eps = EPS[inspection.dtype]
    for r in inspection.rows:
        result = "-" if r.passed is None else ("[green]pass[/]" if r.passed else "[red]FAIL[/]")
        note = r.note
        if r.layer == inspection.first_divergence:
            note = "[bold red]<- first divergence[/]" + (f"; {note}" if note else "")
        cells = [r.layer, r.kind, r.shape, _eps(r.act_eps)]
        if with_floor:
            cells.append(_eps(None if r.act_floor is None else r.act_floor / eps))
        cells.append(_eps(r.grad_eps))
        if with_floor:
            cells.append(_eps(None if r.grad_floor is None else r.grad_floor / eps))
        if with_weights:
            cells.append(_eps(r.weight_eps))
        cells += [_eps(r.tolerance / eps), result, note]
        t.add_row(*cells)
    return t


def summary_lines(inspection: Inspection) -> list[str]:
    eps = EPS[inspection.dtype]
    lines = []
    if inspection.first_divergence is None:
        lines.append("[green]no divergence[/]: every layer, the input gradient and the loss agree within tolerance")
    else:
        lines.append(f"[red]first divergence[/]: {inspection.first_divergence}")
    if inspection.worst_param is not None:
        name, err = inspection.worst_param
        verdict = "[red]beyond tolerance[/]" if err > inspection.tolerance else "within tolerance"
        lines.append(
            f"largest parameter gradient error: {name} ({_eps(err / eps)} eps, max_rel_err {err:.3g}, {verdict})"
        )
    if inspection.expected_layer is not None:
        ok = inspection.first_divergence == inspection.expected_layer
        mark = "[green]matches[/]" if ok else "[red]does not match[/]"
        lines.append(f"the divergence case lives in: {inspection.expected_layer} ({mark})")
    if inspection.reason:
        lines.append(f"tolerance widened: {inspection.reason}")
    return lines


def cmd_inspect(args) -> int:
    from parity.cli import UsageError, parse_dtypes, parse_impls, parse_sets
    from parity.output import console, write_atomic

    if args.divergence:
        if args.set:
            raise UsageError(
                "--set does not apply to --divergence (the divergence case fixes each side's configuration)"
            )
        from parity.divergences import get_divergence

        d = get_divergence(args.divergence)
        if args.model and args.model != d.case:
            raise UsageError(f"divergence {d.name!r} runs on model {d.case!r}, not {args.model!r}")
        inspections = [inspect_divergence(d, args.seed)]
    else:
        if not args.model:
            raise UsageError("inspect needs a MODEL or --divergence NAME")
        get_case(args.model)
        impls = parse_impls(args.impl)
        if len(impls) == 1:
            impls = ["scratch", impls[0]]
        if len(impls) != 2 or impls[0] == impls[1]:
            raise UsageError(f"--impl takes two different implementations A,B, received {args.impl!r}")
        overrides = parse_sets(args.set)
        inspections = [
            inspect_case(args.model, overrides, impls[0], impls[1], dtype, args.seed)
            for dtype in parse_dtypes(args.dtype)
        ]

    for inspection in inspections:
        console.print(table(inspection))
        for line in summary_lines(inspection):
            console.print(line)
    if args.json:
        import json

        write_atomic(args.json, json.dumps([i.as_dict() for i in inspections], indent=1) + "\n")
    return 1 if any(i.failed for i in inspections) else 0
