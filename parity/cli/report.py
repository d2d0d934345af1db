"""`parity report`: the full parity report over every case and implementation (``parity.report``)."""

from __future__ import annotations

from parity.cli.args import parse_impls, require_folder, validate_models


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="the full parity report over every case and implementation")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", default="all")
    p.add_argument("--models", nargs="*", help="only these models (default: all)")
    p.add_argument(
        "--verbose", action="store_true", help="also print the full table: one row per case, implementation and dtype"
    )
    p.set_defaults(func=run)


def run(args) -> int:
    from parity.report.writer import write_report

    impls = parse_impls(args.impl)
    if args.models:
        validate_models(args.models)
    require_folder(args.out, "--out")
    return write_report(args.out, impls, args.seed, args.models or None, verbose=args.verbose)

