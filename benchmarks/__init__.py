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
