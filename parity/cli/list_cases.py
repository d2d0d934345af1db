"""`parity list`: every case with its keys and defaults, and the implementations."""

from __future__ import annotations

from parity.cases import all_cases
from parity.implementations import IMPLEMENTATIONS


def add_parser(sub) -> None:
    p = sub.add_parser("list", help="list the cases and implementations")
    p.set_defaults(func=run)


def run(args) -> int:
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

