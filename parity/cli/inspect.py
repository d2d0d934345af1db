"""`parity inspect`: two implementations layer by layer (``parity.inspect``), or a divergence case's
naive port (``parity.divergences.inspection``), printed as one row per scratch layer."""

from __future__ import annotations

import math

from parity.cli.args import UsageError, parse_dtypes, parse_impls, parse_sets
from parity.inspect import Inspection
from parity.tolerance import EPS


def add_parser(sub) -> None:
    p = sub.add_parser("inspect", help="layer by layer: where two implementations part")
    p.add_argument("model", nargs="?", metavar="MODEL")
    p.add_argument("--spec", metavar="FILE", help="inspect a model spec or a `parity fuzz` finding instead of MODEL")
    p.add_argument("--impl", default=None, help="two implementations, A,B (default scratch,torch; with --spec: the finding's)")
    p.add_argument("--dtype", default=None, help="float32 or float64 (default; with --spec: the finding's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--divergence", metavar="NAME", help="inspect a divergence case's naive port instead")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    p.set_defaults(func=run)


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


def two_impls(text: str) -> list[str]:
    impls = parse_impls(text)
    if len(impls) == 1:
        impls = ["scratch", impls[0]]
    if len(impls) != 2 or impls[0] == impls[1]:
        raise UsageError(f"--impl takes two different implementations A,B, received {text!r}")
    return impls


def inspect_spec(args) -> list[Inspection]:
    """``--spec FILE``: a finding's minimal model, its data and its rules switched off, layer by layer."""
    from parity.fuzz.campaign import inspect_trial, load

    if args.model or args.divergence or args.set:
        raise UsageError("--spec takes no MODEL, --divergence or --set (the file fixes the model and its data)")
    rerun = load(args.spec)
    impls = two_impls(args.impl or ",".join(rerun.impls))
    dtypes = parse_dtypes(args.dtype) if args.dtype else list(rerun.dtypes)
    inspections = []
    for dtype in dtypes:
        inspection = inspect_trial(rerun.trial, impls[0], impls[1], dtype, rerun.disabled)
        if inspection is None:
            raise UsageError(f"--spec {args.spec}: {impls[0]} or {impls[1]} cannot run this model in {dtype} (see parity check --spec)")
        inspections.append(inspection)
    return inspections


def run(args) -> int:
    from parity.cases import get_case
    from parity.divergences.inspection import inspect_divergence
    from parity.inspect import inspect_case
    from parity.output import console, write_atomic

    if args.spec:
        inspections = inspect_spec(args)
    elif args.divergence:
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
        impls = two_impls(args.impl or "scratch,torch")
        overrides = parse_sets(args.set)
        inspections = [
            inspect_case(args.model, overrides, impls[0], impls[1], dtype, args.seed)
            for dtype in parse_dtypes(args.dtype or "float64")
        ]

    for inspection in inspections:
        console.print(table(inspection))
        for line in summary_lines(inspection):
            console.print(line)
    if args.json:
        import json

        write_atomic(args.json, json.dumps([i.as_dict() for i in inspections], indent=1) + "\n")
    return 1 if any(i.failed for i in inspections) else 0

