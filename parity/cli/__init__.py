"""The `parity` command: list, check, inspect, divergences, train, bench, report, spec, compare, port, fuzz, zoo.

Argument parsing and printing only: each command is a module here (``parity.cli.check``,
...) that calls the harness and prints what it returns.

Exit status: 0 all agree, 1 a disagreement beyond tolerance, 2 bad usage or bad input
(with a one-line reason on stderr).
"""

from __future__ import annotations

import sys

from parity.case import CaseError
from parity.cli import bench, check, compare, divergences, fuzz, inspect, list_cases, port, report, spec, train, zoo
from parity.cli.args import Parser, UsageError
from parity.convert.base import ConversionError
from parity.spec.model import SpecError

# One module per command, in the order `parity --help` lists them. Each adds its
# arguments (``add_parser``) and runs (``run``), importing what it needs when it runs.
COMMANDS = (list_cases, check, inspect, divergences, train, bench, report, spec, compare, port, fuzz, zoo)


def build_parser() -> Parser:
    parser = Parser(prog="parity", description="Prove that scratch, PyTorch and Keras compute the same thing.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.func(args)
    except (UsageError, CaseError, ConversionError, SpecError) as error:
        print(f"parity: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("parity: interrupted", file=sys.stderr)
        return 130
