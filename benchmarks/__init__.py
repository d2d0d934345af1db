"""Speed and memory measurements (never timed assertions in tests)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def median_time(step: Callable[[], object], repeats: int, warmup: int = 2) -> float:
    """Median wall time of ``repeats`` calls of ``step``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


@contextmanager
def threads(n: int | None) -> Iterator[int]:
    """Give NumPy's BLAS and torch the same number of threads (default: every core).

    A comparison where one side has more threads measures the thread count. On a
    loaded machine, also try 1: OpenMP threads waiting for busy cores can slow torch
    by orders of magnitude.
    """
    import torch
    from threadpoolctl import threadpool_limits

    n = n or os.cpu_count() or 1
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield n
    finally:
        torch.set_num_threads(before)


def torch_steps(model, X, G):
    """forward (no grad) and forward+backward of L = sum(model(X) * G), for a torch model."""
    import torch

    x = torch.from_numpy(X).requires_grad_(True)
    g = torch.from_numpy(G)

    def forward():
        with torch.no_grad():
            return model(x)

    def forward_backward():
        x.grad = None
        model.zero_grad(set_to_none=True)
        (model(x) * g).sum().backward()
        return x.grad

    return forward, forward_backward


def measure(benchmark: str, makers, X, G, repeats: int, threads_: int | None) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s, threads}."""
    records = []
    with threads(threads_) as n:
        for impl, make in makers:
            forward, forward_backward = make(X, G)
            for phase, step in (("forward", forward), ("forward+backward", forward_backward)):
                records.append({"benchmark": benchmark, "impl": impl, "phase": phase, "median_s": median_time(step, repeats), "threads": n})
    return records


def print_ratios(records: list[dict]) -> None:
    print(f"{'phase':<18} {'scratch (ms)':>13} {'torch (ms)':>11} {'scratch/torch':>14}")
    by = {(r["impl"], r["phase"]): r["median_s"] for r in records}
    for phase in ("forward", "forward+backward"):
        s, t = by[("scratch", phase)], by[("torch", phase)]
        print(f"{phase:<18} {s * 1e3:>13.2f} {t * 1e3:>11.2f} {s / t:>14.1f}")
