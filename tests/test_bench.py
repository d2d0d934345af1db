"""`parity bench`'s arithmetic and memory method (what it measures, never how fast anything runs)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import attention, conv2d, gemm_flops, lstm
from benchmarks.memory import peak_bytes
from tests.conftest import linux


def test_conv2d_flops_count_the_three_gemms():
    """Forward cols (N, K) @ W (K, C_out); backward cols.T @ dZ and dZ @ W.T, each as large."""
    N, K = conv2d.BATCH * conv2d.H * conv2d.W, conv2d.K * conv2d.K * conv2d.C_IN
    assert conv2d.FLOPS["forward"] == 2 * N * K * conv2d.C_OUT
    assert conv2d.FLOPS["forward+backward"] == gemm_flops(N, conv2d.C_OUT, K) + gemm_flops(
        K, conv2d.C_OUT, N
    ) + gemm_flops(N, K, conv2d.C_OUT)


def test_lstm_flops_count_the_projection_and_every_step():
    B, T, F, H = lstm.BATCH, lstm.STEPS, lstm.FEATURES, lstm.UNITS
    forward = 2 * (T * B) * F * (4 * H) + T * 2 * B * H * (4 * H)
    backward = 2 * F * (T * B) * 4 * H + 2 * H * (T * B) * 4 * H + 2 * (T * B) * 4 * H * F + T * 2 * B * 4 * H * H
    assert lstm.FLOPS == {"forward": forward, "forward+backward": forward + backward}


def test_attention_flops_count_projections_scores_and_mixing():
    """QKV (B T, E) @ (E, h d) three times, Q Kᵀ and A V per (batch, head), the output projection;
    backward two GEMMs of each size."""
    B, T, E, h, d = attention.BATCH, attention.STEPS, attention.EMBED, attention.HEADS, attention.KEY_DIM
    assert h * d == E, "torch's nn.MultiheadAttention needs h d = E"
    qkv = 3 * 2 * (B * T) * E * (h * d)
    scores = B * h * 2 * T * d * T
    mixing = B * h * 2 * T * T * d
    output = 2 * (B * T) * (h * d) * E
    forward = qkv + scores + mixing + output
    backward = 2 * forward  # dW and dX per projection; dV, dA for A V; dQ, dK for the scores
    assert attention.FLOPS == {"forward": forward, "forward+backward": forward + backward}


def test_bench_all_includes_attention():
    from parity.bench import BENCHMARKS

    assert set(BENCHMARKS) == {"conv2d", "lstm", "attention"}


def test_attention_benchmark_produces_records_for_both_implementations():
    """Structure only: every (impl, phase) once, positive times, GFLOP/s = FLOPs / time (never a speed)."""
    records = attention.run(repeats=1, threads=1)
    assert {(r["impl"], r["phase"]) for r in records} == {
        (impl, phase) for impl in ("scratch", "torch") for phase in ("forward", "forward+backward")
    }
    assert len(records) == 4
    for r in records:
        assert r["benchmark"] == "attention" and r["threads"] == 1
        assert r["median_s"] > 0 and r["flops"] == attention.FLOPS[r["phase"]]
        assert r["gflops"] == pytest.approx(r["flops"] / r["median_s"] / 1e9)


def test_attention_benchmark_sides_compute_the_same_layer_shapes():
    """The two makers run the same configuration: both passes return (B, T, E), and dX has X's shape."""
    X, G = attention.inputs()
    for impl, make in attention.MAKERS.items():
        forward, forward_backward = make(X, G)
        Z, dX = np.asarray(forward()), np.asarray(forward_backward())
        assert Z.shape == G.shape and Z.dtype == np.float32, f"{impl}: forward {Z.shape} {Z.dtype}"
        assert dX.shape == X.shape and dX.dtype == np.float32, f"{impl}: dX {dX.shape} {dX.dtype}"


@linux
def test_attention_peak_memory_is_measured_for_both_implementations():
    from benchmarks.memory import peak_memory

    for impl in ("scratch", "torch"):
        record = peak_memory("attention", impl, "forward+backward", 1)
        assert record["benchmark"] == "attention" and record["impl"] == impl
        assert record["peak_bytes"] >= record["pass_bytes"] >= 0, record


@linux
def test_peak_bytes_sees_a_pass_that_touches_64_mib():
    size = 64 * 2**20

    def step():
        A = np.ones(size, dtype=np.uint8)  # touched: resident
        return int(A[::4096].sum())

    for key, peak in peak_bytes(step).items():
        assert 0.98 * size <= peak < size + 16 * 2**20, f"{key}: measured {peak / 2**20:.1f} MiB for a 64 MiB pass"


@linux
def test_peak_bytes_does_not_count_what_was_already_resident():
    kept = np.ones(64 * 2**20, dtype=np.uint8)  # resident before the pass, not allocated by it
    for key, peak in peak_bytes(lambda: int(kept[::4096].sum())).items():
        assert peak < 8 * 2**20, f"{key}: measured {peak / 2**20:.1f} MiB for a pass that allocates nothing large"


@linux
def test_peak_bytes_counts_what_the_first_pass_leaves_resident():
    cache = []

    def step():
        if not cache:
            cache.append(np.ones(64 * 2**20, dtype=np.uint8))  # like a forward cache kept between passes
        return int(cache[0][::4096].sum())

    peaks = peak_bytes(step)
    assert peaks["peak_bytes"] >= 0.98 * 64 * 2**20, f"peak {peaks['peak_bytes'] / 2**20:.1f} MiB misses the cache"
    assert peaks["pass_bytes"] < 8 * 2**20, f"pass {peaks['pass_bytes'] / 2**20:.1f} MiB counts the old cache"


@linux
def test_a_measurement_gives_back_what_is_freed_whatever_tunables_the_caller_set(monkeypatch):
    """A caller whose glibc keeps freed memory (a Keras worker's environment, ``pool.memory_kept``) still
    measures with every large array its own mapping: a freed 64 MiB array leaves the process."""
    from benchmarks.memory import measurement_tunables
    from parity.runners.pool import KEPT_HEAP
    from tests.conftest import free_and_again

    monkeypatch.setenv("GLIBC_TUNABLES", KEPT_HEAP)
    assert free_and_again({})["kept"] >= 63 * 2**20  # the caller's own tunables keep it
    assert free_and_again({"GLIBC_TUNABLES": measurement_tunables()})["kept"] < 2**20


def test_bench_fuzz_reports_models_per_minute_per_worker_count():
    from parity.cli.bench import fuzz_rates

    records = fuzz_rates(2, [1], seed=1, impls=("torch",), dtypes=("float64",), kinds=("dense", "relu"))
    (record,) = records
    assert record["benchmark"] == "fuzz" and record["workers"] == 1 and record["models"] == 2
    assert record["models_per_minute"] == pytest.approx(120 / record["seconds"])


@pytest.mark.parametrize("argv", [["--fuzz-workers", "0"], ["--fuzz-workers", "x"], ["--fuzz-models", "0"]])
def test_bench_fuzz_bad_input_exits_2(argv, capsys):
    from parity.cli import main

    assert main(["bench", "fuzz", *argv]) == 2
    assert "\n" not in capsys.readouterr().err.strip()


def test_measure_interleaves_the_implementations_and_reports_cpu_time(monkeypatch):
    """Each timed run of one side is followed by one of the other, so load changes reach both alike;
    each comes after a settling wait and an untimed run of its own side."""
    import benchmarks
    from benchmarks import measure

    calls = []
    monkeypatch.setattr(benchmarks, "settle", lambda: calls.append(("settle", "")))

    def maker(impl):
        def make(X, G):
            return (lambda: calls.append((impl, "forward")), lambda: calls.append((impl, "forward+backward")))

        return make

    records = measure(
        "toy",
        (("scratch", maker("scratch")), ("torch", maker("torch"))),
        None,
        None,
        3,
        1,
        {"forward": 1, "forward+backward": 2},
    )
    forward_phase = calls[: calls.index(("scratch", "forward+backward"))]
    timed = [impl for impl, _ in forward_phase][4:]  # after two warm-up runs each
    assert timed == ["settle", "scratch", "scratch", "settle", "torch", "torch"] * 3
    assert {(r["impl"], r["phase"]) for r in records} == {
        (i, p) for i in ("scratch", "torch") for p in ("forward", "forward+backward")
    }
    assert all(r["median_cpu_s"] >= 0 and r["median_s"] > 0 for r in records)
