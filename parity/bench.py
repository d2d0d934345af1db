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
