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


# How long a timed run waits for the other implementation's idle threads to stop spinning.
# OpenBLAS' worker threads busy-wait for new work for 2**28 time-stamp-counter cycles after
# each call (THREAD_TIMEOUT in OpenMathLib/OpenBLAS driver/others/blas_server.c: ~0.13 s at
# 2 GHz) before they sleep; libgomp's (torch's OpenMP) spin for GOMP_SPINCOUNT = 300000
# iterations (gcc libgomp/env.c), well under that. On two cores, a torch run started while
# NumPy's BLAS worker still spins shares a core with it: measured at --threads 2, torch's
# conv2d forward took 90 ms and 33 ms (best of 20, two runs, load average 9) straight after a
# NumPy product, 3.6 ms and 7.7 ms after this wait.
SETTLE_S = 0.2


def settle() -> None:
    """Wait until the thread pools of the run before have gone to sleep (``SETTLE_S``)."""
    time.sleep(SETTLE_S)


def measure(benchmark: str, makers, X, G, repeats: int, threads_: int | None, flops: dict[str, int]) -> list[dict]:
    """One record per (implementation, phase): {benchmark, impl, phase, median_s, median_cpu_s, threads, flops, gflops}.

    The implementations' runs of a phase are interleaved (scratch, torch, scratch, torch, ...
    after two untimed warm-up runs each), so that a change in the machine's load reaches
    both sides alike. Each timed run is the second of two back-to-back runs of its side,
    started ``SETTLE_S`` after the other side's last run: its own threads are awake as in a
    loop of its own, the other side's have stopped spinning (a side timed right after the
    other one shares the cores with the other's spinning threads; see ``SETTLE_S``).
    ``median_cpu_s`` is the median CPU time of the process (``time.process_time``: all its
    threads), which another program's load disturbs less than wall time. ``flops`` counts
    each phase's matrix products analytically (2·M·N·K per GEMM), the same count for both
    implementations: they compute the same maths, so GFLOP/s is that count over the
    measured wall time.
    """
    records = []
    with threads(threads_) as n:
        steps = {impl: make(X, G) for impl, make in makers}
        for index, phase in enumerate(("forward", "forward+backward")):
            for forward_and_backward in steps.values():
                for _ in range(2):
                    forward_and_backward[index]()
            wall: dict[str, list[float]] = {impl: [] for impl in steps}
            cpu: dict[str, list[float]] = {impl: [] for impl in steps}
            for _ in range(repeats):
                for impl, forward_and_backward in steps.items():
                    settle()
                    forward_and_backward[index]()  # untimed: wakes this side's threads
                    start, start_cpu = time.perf_counter(), time.process_time()
                    forward_and_backward[index]()
                    wall[impl].append(time.perf_counter() - start)
                    cpu[impl].append(time.process_time() - start_cpu)
            for impl in steps:
                median_s = statistics.median(wall[impl])
                records.append(
                    {
                        "benchmark": benchmark,
                        "impl": impl,
                        "phase": phase,
                        "median_s": median_s,
                        "median_cpu_s": statistics.median(cpu[impl]),
                        "threads": n,
                        "flops": flops[phase],
                        "gflops": flops[phase] / median_s / 1e9,
                    }
                )
    return records


def gemm_flops(M: int, N: int, K: int) -> int:
    """FLOPs of one (M, K) @ (K, N) product: a multiply and an add per term."""
    return 2 * M * N * K


def blas_gflops(repeats: int, threads_: int | None, n: int = 1024) -> dict:
    """NumPy's BLAS on one square float32 product (n x n) @ (n x n): the ceiling for the scratch GEMMs.

    Measured with the same thread count as the benchmarks, median of ``repeats``.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    A = rng.standard_normal((n, n)).astype(np.float32)
    B = rng.standard_normal((n, n)).astype(np.float32)
    with threads(threads_) as used:
        median_s = median_time(lambda: A @ B, repeats)
    return {"n": n, "threads": used, "median_s": median_s, "gflops": gemm_flops(n, n, n) / median_s / 1e9}


def print_ratios(records: list[dict]) -> None:
    print(
        f"{'phase':<18} {'scratch (ms)':>13} {'torch (ms)':>11} {'scratch/torch':>14} {'scratch GFLOP/s':>16} {'torch GFLOP/s':>14}"
    )
    by = {(r["impl"], r["phase"]): r for r in records}
    for phase in ("forward", "forward+backward"):
        s, t = by[("scratch", phase)], by[("torch", phase)]
        ratio = s["median_s"] / t["median_s"]
        print(
            f"{phase:<18} {s['median_s'] * 1e3:>13.2f} {t['median_s'] * 1e3:>11.2f} {ratio:>14.2f}"
            f" {s['gflops']:>16.1f} {t['gflops']:>14.1f}"
        )
