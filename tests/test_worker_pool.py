"""Keras worker processes: JAX's compilation cache, and one request at a time per worker."""

from __future__ import annotations

import threading

import pytest

from parity.runners import pool


def test_jax_workers_share_a_compilation_cache_that_can_be_switched_off(monkeypatch, tmp_path):
    monkeypatch.setenv("PARITY_JAX_CACHE", str(tmp_path))
    env = pool.jax_compilation_cache()
    assert env["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path)
    assert env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"  # else small ops are never kept
    monkeypatch.setenv("PARITY_JAX_CACHE", "")
    assert pool.jax_compilation_cache() == {}
    monkeypatch.delenv("PARITY_JAX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert pool.jax_compilation_cache()["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "parity" / "jax")


def test_a_cached_jax_worker_computes_bitwise_what_a_fresh_one_computes(monkeypatch, tmp_path):
    """The second worker loads the first one's executables: the same request, the same bits."""
    if not pool.backend_installed("jax"):
        pytest.skip("keras-jax not installed: nothing to cache")
    import numpy as np

    from parity.cases import get_case
    from parity.check import make_request
    from parity.runners import KERAS_RUNNER

    case = get_case("dense")
    request = make_request(case, case.configure(None), "float64", 0, trace=True)
    results = []
    for cache in ("", str(tmp_path), str(tmp_path)):  # fresh, then writing the cache, then reading it
        monkeypatch.setenv("PARITY_JAX_CACHE", cache)
        worker = pool.KerasWorker("jax")
        try:
            results.append(worker.call(KERAS_RUNNER, request))
        finally:
            worker.close()
    assert any(tmp_path.rglob("*")), "the cached worker wrote nothing"
    fresh = results[0]
    for cached in results[1:]:
        assert np.array_equal(fresh.output, cached.output)
        assert fresh.grads.keys() == cached.grads.keys()
        assert all(np.array_equal(fresh.grads[k], cached.grads[k]) for k in fresh.grads)


def test_concurrent_calls_to_one_worker_are_answered_one_at_a_time():
    """Lanes and divergence threads share a worker: each reply must reach its own caller."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    worker = pool.keras_worker("torch")
    answers: dict[int, object] = {}

    def ask(i: int) -> None:
        answers[i] = worker.call("builtins:abs", -i)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert answers == {i: i for i in range(8)}


def test_keras_is_imported_without_the_optional_packages_it_does_not_need():
    """The worker imports Keras with scikit-learn (and, off JAX, JAX) reported missing: neither is loaded,
    and both are importable afterwards (a user's model file may import them)."""
    import os
    import subprocess
    import sys

    script = (
        "import sys; from parity.runners.worker import import_keras; keras = import_keras('tensorflow'); "
        "loaded = sorted(n for n in ('sklearn', 'jax') if n in sys.modules); import sklearn, jax; print(loaded)"
    )
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=pool.ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
