"""Speed and memory measurements (never timed assertions in tests)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


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
