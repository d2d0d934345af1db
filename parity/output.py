"""Writing results: JSON records, atomic files, rich tables on the terminal."""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from parity.agreement.records import Record

# A wide console when writing to a file or pipe, so tables are not squeezed to 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def records_json(records: Iterable[Record]) -> list[dict]:
    return [{k: _clean(v) for k, v in r.as_dict().items()} for r in records]


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode() if isinstance(text, str) else text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report is for everyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, records: Iterable[Record]) -> None:
    write_atomic(path, json.dumps(records_json(records), indent=1) + "\n")


def summary_table(records: list[Record], title: str = "parity") -> Table:
    """One row per (model, implementation, dtype): worst error and verdict."""
    table = Table(title=title)
    for column in ("model", "impl", "dtype", "quantities", "worst quantity", "max rel err", "err / eps", "tolerance", "result"):
        table.add_column(column, justify="right" if column in ("max rel err", "err / eps", "tolerance", "quantities") else "left")
    groups: dict[tuple, list[Record]] = {}
    for r in records:
        groups.setdefault((r.model, r.impl_b, r.dtype), []).append(r)
    for (model, impl, dtype), group in groups.items():
        if group[0].status != "compared":
            table.add_row(model, impl, dtype, "-", "-", "-", "-", "-", f"[yellow]{group[0].status}[/]")
            continue
        worst = max(group, key=lambda r: _ratio(r))
        ok = all(r.passed for r in group)
        table.add_row(
            model,
            impl,
            dtype,
            str(len(group)),
            worst.quantity,
            _fmt(worst.max_rel_err),
            _fmt(worst.err_in_eps, ".1f"),
            _fmt(worst.tolerance),
            "[green]pass[/]" if ok else "[red]FAIL[/]",
        )
    return table


def _ratio(r: Record) -> float:
    if r.max_rel_err is None or r.tolerance is None:
        return math.inf
    return r.max_rel_err / r.tolerance if r.tolerance else math.inf


def _fmt(value, spec: str = ".2e") -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "inf"
    return format(value, spec)


def verdict_markup(verdict: str) -> str:
    """A comparison's verdict as printed: agreement green, agreement with a rule yellow, else red."""
    if verdict == "degenerate":
        return "[red]are compared vacuously (degenerate)[/]"
    colour = "green" if verdict == "agree" else "yellow" if verdict.startswith("agree") else "red"
    return f"[{colour}]{verdict}[/]"
