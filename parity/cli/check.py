"""`parity check`: compare implementations with scratch, one summary row per (model, implementation, dtype)."""

from __future__ import annotations

from parity.cli.args import UsageError, parse_dtypes, parse_impls, parse_sets, validate_models


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="compare implementations with scratch")
    p.add_argument("models", nargs="*", metavar="MODEL")
    p.add_argument("--spec", metavar="FILE", help="rerun a model spec or a `parity fuzz` finding instead of MODELs")
    p.add_argument("--impl", default=None, help="comma-separated list or 'all' (default; with --spec: the finding's)")
    p.add_argument("--dtype", default=None, help="float32, float64 or both (default; with --spec: the finding's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a configuration key (repeatable)")
    p.add_argument("--json", metavar="PATH", help="write the records as JSON")
    p.add_argument("--weights", metavar="NPZ", help="canonical weights to use instead of the seeded ones")
    p.add_argument("--corrupt", metavar="PARAM", help="perturb one canonical parameter in what the frameworks receive (shows the harness catching a bad conversion)")
    p.set_defaults(func=run)


def run(args) -> int:
    from parity.check import check_case
    from parity.output import console, summary_table, write_json
    from parity.weights import load_weights

    if args.spec:
        return run_spec(args)
    if not args.models:
        raise UsageError("check needs a MODEL or --spec FILE")
    validate_models(args.models)
    impls = parse_impls(args.impl or "all")
    dtypes = parse_dtypes(args.dtype or "both")
    overrides = parse_sets(args.set)
    weights = load_weights(args.weights) if args.weights else None
    records = []
    for name in args.models:
        records.extend(check_case(name, overrides, impls, dtypes, args.seed, weights, args.corrupt))
    console.print(summary_table(records, "parity check"))
    failed = [r for r in records if r.passed is False]
    for r in failed[:20]:
        console.print(f"[red]FAIL[/] {r.model} {r.impl_b} {r.dtype} {r.quantity}: max_rel_err={r.max_rel_err} tolerance={r.tolerance} {r.detail}")
    for r in records:
        if r.status == "not installed":
            console.print(f"[yellow]not installed[/] {r.impl_b}: {r.detail}")
    if args.json:
        write_json(args.json, records)
    return 1 if failed else 0



def run_spec(args) -> int:
    """``--spec FILE``: the model (and data, rules switched off) of a finding, judged as ``parity fuzz`` judges."""
    from parity.fuzz.campaign import load
    from parity.fuzz.judge import judge
    from parity.output import console, summary_table, write_json

    if args.models or args.set or args.weights or args.corrupt:
        raise UsageError("--spec takes no MODEL, --set, --weights or --corrupt (the file fixes the model and its data)")
    rerun = load(args.spec)
    impls = parse_impls(args.impl) if args.impl else list(rerun.impls)
    dtypes = parse_dtypes(args.dtype) if args.dtype else list(rerun.dtypes)
    records = judge(rerun.trial, impls, dtypes, rerun.disabled, rerun.steps)
    console.print(summary_table(records, f"parity check --spec {args.spec}"))
    failed = [r for r in records if r.passed is False]
    for r in failed[:20]:
        console.print(f"[red]FAIL[/] {r.model} {r.impl_b} {r.dtype} {r.quantity}: max_rel_err={r.max_rel_err} tolerance={r.tolerance} {r.detail}")
    if rerun.disabled:
        console.print(f"rules switched off (a planted naive port): {', '.join(rerun.disabled)}")
    if args.json:
        write_json(args.json, records)
    return 1 if failed else 0
