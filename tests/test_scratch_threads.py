"""scratch.threads: blocks of work on BLAS's threads, and Conv2D's use of it (no timing here)."""

from __future__ import annotations

import threading
import zlib

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import scratch.threads
from scratch.conv2d import Conv2D
from scratch.threads import blas_threads, run_blocks


def _conv_results(threads: int, X, G) -> dict[str, np.ndarray]:
    with threadpool_limits(limits=threads):
        assert blas_threads() == threads
        conv = Conv2D(12, 5, strides=2, use_bias=True)
        conv.build(X.shape[1:])
        conv.init(np.random.default_rng(0), np.float64)
        Z = conv.forward(X)
        return {"Z": Z, "dX": conv.backward(G), **{f"d{k}": v for k, v in conv.grads.items()}}


def test_conv2d_same_bits_on_one_and_two_threads():
    """Each block's products run on one BLAS thread and dW sums the blocks in order, whatever the threads.

    float64, 9 images in blocks of 2: before the blocks were spread over threads, the product
    forming dW ran on BLAS's two threads and its bits differed from one thread's (up to 5e-14 here).
    """
    rng = np.random.default_rng(zlib.crc32(b"threads"))
    X = rng.standard_normal((9, 30, 30, 8))
    G = rng.standard_normal((9, 13, 13, 12))
    one, two = _conv_results(1, X, G), _conv_results(2, X, G)
    for name in one:
        assert np.array_equal(one[name], two[name]), name


def test_run_blocks_gives_every_block_to_one_thread_with_blas_on_one_thread():
    seen: dict[int, tuple[int, int, str]] = {}
    lock = threading.Lock()

    def work(thread, starts):
        for n in starts:
            with lock:
                assert n not in seen
                seen[n] = (thread, blas_threads(), threading.current_thread().name)

    with threadpool_limits(limits=2):
        run_blocks(work, range(0, 10, 2))
        assert blas_threads() == 2  # restored
    assert sorted(seen) == [0, 2, 4, 6, 8]
    assert {n: t for n, (t, _, _) in seen.items()} == {0: 0, 2: 1, 4: 0, 6: 1, 8: 0}
    assert {b for _, b, _ in seen.values()} == {1}
    assert all(name.startswith("scratch-blocks") for _, _, name in seen.values())


def test_run_blocks_runs_in_the_caller_on_one_thread_or_one_block():
    caller = threading.current_thread().name
    for threads, starts in ((1, range(0, 10, 2)), (2, range(1))):
        names = []
        with threadpool_limits(limits=threads):
            run_blocks(lambda t, s: names.append(threading.current_thread().name), starts)
        assert names == [caller]


def test_run_blocks_raises_and_restores_blas():
    def work(thread, starts):
        if thread == 1:
            raise ValueError(f"block {starts[0]}")

    with threadpool_limits(limits=2):
        with pytest.raises(ValueError, match="block 1"):
            run_blocks(work, range(4))
        assert blas_threads() == 2
        assert not scratch.threads._REGION.locked()


def test_a_call_while_another_is_spread_runs_in_its_own_thread():
    """From another thread, or nested inside a block: one call at a time spreads its blocks."""
    calls: list[tuple[int, list[int], str, int]] = []

    def record(thread, starts):
        calls.append((thread, list(starts), threading.current_thread().name, blas_threads()))

    def spawn(thread, starts):
        if thread == 0:  # while this call's blocks are on the threads
            second = threading.Thread(target=run_blocks, args=(record, range(4)), name="second")
            second.start()
            second.join(timeout=10)

    with threadpool_limits(limits=2):
        run_blocks(spawn, range(2))
        assert calls == [(0, [0, 1, 2, 3], "second", 1)]
        assert blas_threads() == 2

        calls.clear()
        run_blocks(lambda t, s: run_blocks(record, range(3)) if t == 0 else None, range(2))
        assert len(calls) == 1 and calls[0][:2] == (0, [0, 1, 2])  # nested: in the block's thread
        assert calls[0][2].startswith("scratch-blocks")


def test_a_thread_that_cannot_set_blas_runs_its_blocks_itself():
    """threadpoolctl lets one thread at a time set OpenBLAS' count; the test's thread holds it here."""
    layers = {
        lib.threading_layer for lib in scratch.threads._controller().select(internal_api="openblas").lib_controllers
    }
    if layers != {"pthreads"}:
        pytest.skip(f"NumPy's BLAS is not OpenBLAS on pthreads (threading layers {layers}): the count is per thread")
    calls = []

    def record(thread, starts):
        calls.append((thread, list(starts), threading.current_thread().name))

    with threadpool_limits(limits=2):
        other = threading.Thread(target=run_blocks, args=(record, range(3)), name="other")
        other.start()
        other.join(timeout=10)
        assert blas_threads() == 2
    assert calls == [(0, [0, 1, 2], "other")]


def test_one_blas_thread_sets_and_restores():
    with threadpool_limits(limits=2):
        with scratch.threads.one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == 2
    with threadpool_limits(limits=1):
        with scratch.threads.one_blas_thread():
            assert blas_threads() == 1
        assert blas_threads() == 1


def test_lstm_steps_run_on_one_blas_thread(monkeypatch):
    """The recurrent loops (forward and backward) multiply with BLAS on one thread; the rest may use more."""
    import scratch.lstm
    from scratch.lstm import LSTM

    seen = []
    real_matmul = np.matmul

    def matmul(*args, **kwargs):
        seen.append(blas_threads())
        return real_matmul(*args, **kwargs)

    monkeypatch.setattr(scratch.lstm.np, "matmul", matmul)
    rng = np.random.default_rng(zlib.crc32(b"lstm threads"))
    X = rng.standard_normal((3, 5, 4))
    with threadpool_limits(limits=2):
        layer = LSTM(6, return_sequences=True)
        layer.build(X.shape[1:])
        layer.init(rng)
        layer.backward(np.ones_like(layer.forward(X)))
        assert blas_threads() == 2
    assert seen == [1] * 10  # one product per step, 5 steps forward and 5 back
