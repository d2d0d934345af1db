"""The `parity` command: list, check, inspect, train, divergences, report, bench.

Exit status: 0 all agree, 1 a disagreement beyond tolerance, 2 bad usage or bad input
(with a one-line reason on stderr).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from parity import DTYPES, IMPLEMENTATIONS
from parity.case import CaseError, parse_value
from parity.cases import all_cases, get_case
from parity.convert.base import ConversionError


class UsageError(Exception):
    pass


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise UsageError(f"{self.prog}: {message}")


def parse_impls(text: str, allow_scratch: bool = True) -> list[str]:
    if text == "all":
        return list(IMPLEMENTATIONS)
    impls = [s.strip() for s in text.split(",") if s.strip()]
    for impl in impls:
        if impl not in IMPLEMENTATIONS:
            raise UsageError(f"unknown implementation {impl!r}; choose from: {', '.join(IMPLEMENTATIONS)} or all")
    if not impls:
        raise UsageError(f"--impl is empty; choose from: {', '.join(IMPLEMENTATIONS)} or all")
    return impls


def parse_dtypes(text: str) -> list[str]:
    if text == "both":
        return list(DTYPES)
    if text not in DTYPES:
        raise UsageError(f"unknown dtype {text!r}; choose from: float32, float64, both")
    return [text]


def parse_sets(items: list[str]) -> dict:
    overrides = {}
    for item in items or []:
        if "=" not in item:
            raise UsageError(f"--set expects KEY=VALUE, received {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = parse_value(value)
    return overrides


def require_folder(path: str, option: str) -> None:
    """``path`` must be a folder or a place where one can be made: not a file, nor under one."""
    for part in (Path(path), *Path(path).parents):
        if part.exists():
            if not part.is_dir():
                what = "is" if part == Path(path) else f"is under {str(part)!r}, which is"
                raise UsageError(f"{option} {path!r} {what} a file, not a folder")
            return


def validate_models(names: list[str]) -> None:
    for name in names:
        get_case(name)


def cmd_list(args) -> int:
    from rich.table import Table

    from parity.output import console

    table = Table(title="cases")
    for column in ("model", "family", "description", "keys (defaults)"):
        table.add_column(column)
    for case in all_cases().values():
        keys = ", ".join(f"{k}={case.defaults[k]}" for k in case.keys)
        table.add_row(case.name, case.family, case.description, keys)
    console.print(table)
    console.print(f"implementations: {', '.join(IMPLEMENTATIONS)}")
    return 0


def cmd_check(args) -> int:
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


def build_parser() -> Parser:
    parser = Parser(prog="parity", description="Prove that scratch, PyTorch and Keras compute the same thing.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("list", help="list the cases and implementations")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("check", help="compare implementations with scratch")
    p.add_argument("models", nargs="+", metavar="MODEL")
    p.add_argument("--impl", default="all", help="comma-separated list or 'all' (default)")
    p.add_argument("--dtype", default="both", help="float32, float64 or both (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a configuration key (repeatable)")
    p.add_argument("--json", metavar="PATH", help="write the records as JSON")
    p.add_argument("--weights", metavar="NPZ", help="canonical weights to use instead of the seeded ones")
    p.add_argument("--corrupt", metavar="PARAM", help="perturb one canonical parameter in what the frameworks receive (shows the harness catching a bad conversion)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("inspect", help="layer by layer: where two implementations part")
    p.add_argument("model", nargs="?", metavar="MODEL")
    p.add_argument("--impl", default="scratch,torch", help="two implementations, A,B (default scratch,torch)")
    p.add_argument("--dtype", default="float64", help="float32 or float64 (default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--divergence", metavar="NAME", help="inspect a divergence case's naive port instead")
    p.add_argument("--json", metavar="PATH", help="write the rows as JSON")
    p.set_defaults(func=lambda args: _command("parity.inspect", "cmd_inspect", args))

    p = sub.add_parser("divergences", help="run the divergence cases: naive caught, converted passing")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=lambda args: _command("parity.divergences.command", "cmd_divergences", args))

    p = sub.add_parser("train", help="compare whole training runs step by step")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--optimizer", default="sgd", help="sgd, momentum, nesterov, rmsprop, rmsprop_centered, adam, adamw")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch", type=int, default=None, help="mini-batch size (default: the case's batch)")
    p.add_argument("--lr", type=float, default=None, help="learning rate, for every implementation (default: the optimiser's, see parity.training.spec.OPTIMIZERS)")
    p.add_argument("--dtype", default="float64", help="float32, float64 or both")
    p.add_argument("--impl", default="all")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", metavar="KEY=VALUE")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--plot", metavar="PATH", help="plot the disagreement against the step count")
    p.set_defaults(func=lambda args: _command("parity.train", "cmd_train", args))

    p = sub.add_parser("bench", help="speed of scratch against torch")
    p.add_argument("names", nargs="+", metavar="NAME", help="conv2d, lstm or all")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=None, help="threads for both NumPy's BLAS and torch (default: every core)")
    p.add_argument("--json", metavar="PATH")
    p.set_defaults(func=lambda args: _command("parity.bench", "cmd_bench", args))

    p = sub.add_parser("report", help="the full parity report over every case and implementation")
    p.add_argument("--out", default="reports", help="output folder (default: reports)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--impl", default="all")
    p.add_argument("--models", nargs="*", help="only these models (default: all)")
    p.set_defaults(func=cmd_report)
    return parser


def _command(module: str, function: str, args) -> int:
    import importlib

    return getattr(importlib.import_module(module), function)(args)


def cmd_report(args) -> int:
    from parity.report.writer import write_report

    impls = parse_impls(args.impl)
    if args.models:
        validate_models(args.models)
    require_folder(args.out, "--out")
    return write_report(args.out, impls, args.seed, args.models or None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, CaseError, ConversionError) as error:
        print(f"parity: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("parity: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
