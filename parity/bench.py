"""`parity bench`: scratch against torch, timed by the benchmarks in ``benchmarks/`` (never by tests).

Each record also carries the phase's GFLOP/s (its GEMMs counted analytically), the
GFLOP/s of NumPy's BLAS on a square float32 product measured in the same run with the
same threads (the ceiling), and the pass's peak memory measured in a fresh process
(``benchmarks.memory``: the method is in ``MEMORY_METHOD``).
"""

from __future__ import annotations

import importlib

from benchmarks import blas_gflops
from benchmarks.memory import METHOD as MEMORY_METHOD
from benchmarks.memory import peak_memory

BENCHMARKS = {"conv2d": "benchmarks.conv2d", "lstm": "benchmarks.lstm", "attention": "benchmarks.attention"}

__all__ = ["BENCHMARKS", "MEMORY_METHOD", "ratios", "run_benchmarks"]


def run_benchmarks(names: list[str], repeats: int, threads: int | None = None, memory: bool = True) -> list[dict]:
    """One record per (benchmark, impl, phase): times, GFLOP/s, the BLAS ceiling and (if ``memory``) peak bytes."""
    records = []
    for name in names:
        records.extend(importlib.import_module(BENCHMARKS[name]).run(repeats, threads))
    ceiling = blas_gflops(repeats, threads)
    for r in records:
        r["blas_gflops"] = ceiling["gflops"]
        if memory:
            peaks = peak_memory(r["benchmark"], r["impl"], r["phase"], threads)
            r["peak_bytes"], r["pass_bytes"] = peaks["peak_bytes"], peaks["pass_bytes"]
    return records


def ratios(records: list[dict], key: str = "median_s") -> dict[tuple[str, str], float]:
    """scratch / torch of ``key`` (wall time by default, ``median_cpu_s`` or ``peak_bytes``) per (benchmark, phase)."""
    by_key = {(r["benchmark"], r["phase"], r["impl"]): r[key] for r in records if key in r}
    return {
        (b, p): by_key[(b, p, "scratch")] / by_key[(b, p, "torch")]
        for (b, p, i) in by_key
        if i == "scratch" and (b, p, "torch") in by_key and by_key[(b, p, "torch")]
    }
