"""Blocks of independent work, spread over NumPy's BLAS threads: each thread does whole blocks.

NumPy runs on one thread; only its matrix products (BLAS) use several. A layer that copies a
block of data (the im2col buffer of ``Conv2D``) and then multiplies it hands BLAS a buffer
that one core has just written, and BLAS gives each thread a share of its rows: the other
core reads its share out of the writer's cache. On a two-core machine that hand-over cost
more than the second thread saved: measured for the benchmark's conv2d layer (float32), the
copy of a 16-image block then its product took 10.3 ms per 64 images at two BLAS threads,
6.2 ms at one, while the product alone took 2.7 ms at two and the same copy into another
array 0.8 ms. When each thread instead takes whole blocks, copies and multiplies them itself
with BLAS on one thread, the data stays in the cache of the core that wrote it (how oneDNN
runs torch's convolution too): 3.4 ms for the same forward pass.

    run_blocks(work, starts)
        T = BLAS's threads;  thread t runs work(t, starts[t::T])   # BLAS at one thread meanwhile

The results are the same bits whatever T is: a block's work does not depend on which thread
does it, every product runs on one BLAS thread, the blocks of a thread write disjoint parts
of the output, and a sum over blocks is left to the caller, who adds the blocks' parts in
block order. (A product on several BLAS threads need not give one thread's bits: measured,
Conv2D's float64 dW, formed by a product over a block's 1568 rows, differed by up to 4e-13
between one and two BLAS threads before its blocks were spread this way.)

The pool's threads are not pinned to cores. Measured on the two-core machine: after the process
sits idle (``parity bench`` sleeps 0.2 s before each timed pair of runs, ``benchmarks.settle``),
Linux wakes a pool thread on the core of the thread that hands out the blocks, so both run on one
core (``parity bench conv2d --threads 2``, forward+backward: 23-26 ms, the process's CPU time equal
to its wall time; 13-16 ms back to back). Pinning each pool thread to a core of its own made that
15.6 ms, but ``parity report``, whose Keras workers keep a core busy while scratch runs here, went
from 58 s to 105 s: a pinned thread cannot leave the busy core, and every block waits for it.

A loop of small products separated by NumPy's own work (an LSTM's steps: a (32, 128) @
(128, 512) product between elementwise updates) pays the same hand-over at every step and
gains little from a second thread: ``one_blas_thread()`` runs such a loop with BLAS on one
thread. Measured on the benchmark's LSTM (float32, two BLAS threads, medians of 25 runs
alternating with the loops on two threads): forward 6.8 -> 5.7 ms, forward+backward
15.6 -> 14.0 ms; the same bits (float64).

With T = 1 (``parity bench --threads 1``, or a caller that limited BLAS itself) or a single
block, ``work`` runs once in the calling thread, as a plain loop would.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

_REGION = threading.Lock()  # held by the one run_blocks call whose blocks are on the threads
_CONTROLLER: list = []  # threadpoolctl's controller of the loaded libraries, made once
_POOL: list[ThreadPoolExecutor] = []  # one pool, grown when BLAS is given more threads


def _controller():
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def blas_threads() -> int:
    """How many threads BLAS may use now (the most over the loaded BLAS libraries)."""
    libraries = _controller().select(user_api="blas").lib_controllers
    return max((lib.num_threads for lib in libraries), default=1)


@contextmanager
def one_blas_thread():
    """BLAS on one thread inside the block (for a loop of small products that NumPy's own work separates).

    A no-op where BLAS already has one thread, or where threadpoolctl lets another Python
    thread set OpenBLAS' count (see ``run_blocks``).
    """
    if blas_threads() <= 1:
        yield
        return
    with _controller().limit(limits=1, user_api="blas"):
        yield


def _pool(threads: int) -> ThreadPoolExecutor:
    if not _POOL or _POOL[0]._max_workers < threads:
        _POOL[:] = [ThreadPoolExecutor(max_workers=threads, thread_name_prefix="scratch-blocks")]
    return _POOL[0]


def run_blocks(work: Callable[[int, Sequence[int]], None], starts: Sequence[int]) -> None:
    """``work(t, starts[t::T])`` on T = ``blas_threads()`` threads at once, BLAS on one thread each.

    ``work`` gets its thread's index (for buffers of its own) and its blocks' starts; it must
    write only its blocks' parts of the output. An exception in any thread is raised here,
    after every thread has finished.

    One call at a time spreads its blocks: a call made while another one's blocks are on the
    threads (from another thread, or from inside ``work``) runs ``work(0, starts)`` in its own
    thread, as it would with one BLAS thread. So does a call when BLAS cannot be set to one
    thread from here (threadpoolctl lets one Python thread at a time set OpenBLAS' process-wide
    count: another thread inside ``threadpool_limits`` holds it).
    """
    threads = min(blas_threads(), len(starts))
    if threads <= 1 or not _REGION.acquire(blocking=False):
        work(0, starts)
        return
    try:
        with _controller().limit(limits=1, user_api="blas"):
            if blas_threads() != 1:  # another thread controls BLAS' count
                work(0, starts)
                return
            pool = _pool(threads)
            futures = [pool.submit(work, t, starts[t::threads]) for t in range(threads)]
            for future in futures:
                future.exception()  # wait for all before raising any
            for future in futures:
                future.result()
    finally:
        _REGION.release()
