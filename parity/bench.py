"""`parity bench`: scratch against torch, timed by the benchmarks in ``benchmarks/`` (never by tests)."""

from __future__ import annotations

import importlib

BENCHMARKS = {"conv2d": "benchmarks.conv2d", "lstm": "benchmarks.lstm"}


def run_benchmarks(names: list[str], repeats: int, threads: int | None = None) -> list[dict]:
    records = []
    for name in names:
        records.extend(importlib.import_module(BENCHMARKS[name]).run(repeats, threads))
    return records


def ratios(records: list[dict]) -> dict[tuple[str, str], float]:
    """scratch median / torch median per (benchmark, phase)."""
    by_key = {(r["benchmark"], r["phase"], r["impl"]): r["median_s"] for r in records}
    return {(b, p): by_key[(b, p, "scratch")] / by_key[(b, p, "torch")] for (b, p, i) in by_key if i == "scratch" and (b, p, "torch") in by_key}


def cmd_bench(args) -> int:
    import json

    from rich.table import Table

    from parity.cli import UsageError
    from parity.output import console, write_atomic

    names = list(BENCHMARKS) if "all" in args.names else args.names
    for name in names:
        if name not in BENCHMARKS:
            raise UsageError(f"unknown benchmark {name!r}; choose from: {', '.join(BENCHMARKS)} or all")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be positive, received {args.repeats}")
    if args.threads is not None and args.threads < 1:
        raise UsageError(f"--threads must be positive, received {args.threads}")
    records = run_benchmarks(names, args.repeats, args.threads)
    table = Table(title="parity bench (median of repeated runs)")
    for column in ("benchmark", "impl", "phase", "threads", "median (ms)"):
        table.add_column(column)
    for r in records:
        table.add_row(r["benchmark"], r["impl"], r["phase"], str(r["threads"]), f"{1000 * r['median_s']:.2f}")
    console.print(table)
    for (benchmark, phase), ratio in ratios(records).items():
        console.print(f"{benchmark} {phase}: scratch / torch = {ratio:.2f}")
    if args.json:
        write_atomic(args.json, json.dumps(records, indent=1) + "\n")
    return 0
