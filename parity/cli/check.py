"""`parity check`: compare implementations with scratch, one summary row per (model, implementation, dtype)."""

from __future__ import annotations

from parity.cli.args import parse_dtypes, parse_impls, parse_sets, validate_models


def add_parser(sub) -> None:
    p = sub.add_parser("check", help="compare implementations with scratch")
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--impl", default="all", help="comma-separated list or 'all' (default)")
    p.add_argument("--dtype", default="both", help="float32, float64 or both (default)")
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

    validate_models(args.models)
    impls = parse_impls(args.impl)
    dtypes = parse_dtypes(args.dtype)
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

