"""Keras worker processes: JAX's compilation cache, and one request at a time per worker."""

from __future__ import annotations

import contextlib
import threading

import pytest

from parity.runners import pool
from tests.conftest import free_and_again, linux


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


def test_a_worker_freezes_what_its_imports_made():
    """A full collection in the worker (after every training run) skips the libraries' own objects."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    frozen = pool.keras_worker("torch").call("gc:get_freeze_count")
    assert frozen > 100_000, frozen


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


def test_a_profiled_worker_writes_its_whole_profile_in_cpu_seconds(monkeypatch, tmp_path):
    """PARITY_WORKER_PROFILE: the profile is complete (the worker is not killed while writing it)."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    import pstats

    monkeypatch.setenv("PARITY_WORKER_PROFILE", str(tmp_path / "w"))
    worker = pool.KerasWorker("torch")
    try:
        assert worker.call("builtins:abs", -3) == 3
    finally:
        worker.close()
    (written,) = tmp_path.glob("w.torch.*.prof")
    functions = {name for _, _, name in pstats.Stats(str(written)).stats}
    assert "main" in functions, "the worker's loop is not in its profile"
    assert "<built-in method builtins.abs>" in functions, "the request is not in the worker's profile"


def test_the_keras_torch_worker_runs_keras_as_shipped_for_one_request_and_keeps_float64_for_the_next():
    """keras-torch-x32 shares the keras-torch worker: float32 promotion for its own request only."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    import numpy as np

    from parity.agreement.records import compare_runs
    from parity.cases import get_case
    from parity.check import make_request
    from parity.runners import run
    from parity.tolerance import tolerance

    case = get_case("dense")
    request = make_request(case, case.configure(None), "float64", 0)
    before = run("keras-torch", request)
    shipped = run("keras-torch-x32", request)
    after = run("keras-torch", request)
    assert ("torch", False) not in pool._WORKERS, "keras-torch-x32 started a worker of its own"
    demoted = compare_runs("dense", "float64", before, shipped, tolerance("float64"))
    assert any(r.passed is False for r in demoted), "keras-torch-x32 computed in float64"
    assert np.array_equal(before.output, after.output), "the promotion table was not restored"
    assert all(np.array_equal(before.grads[k], after.grads[k]) for k in before.grads)


def test_a_kept_model_computes_bitwise_what_a_fresh_one_computes():
    """A worker keeps a built model for the next request of it: the weights are the request's, every time."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    import numpy as np

    from parity.cases import get_case
    from parity.check import make_request
    from parity.runners import KERAS_RUNNER

    case = get_case("cnn_bn")  # running statistics: the state read back must be the request's too
    config = case.configure({"training": True})
    first, other = (make_request(case, config, "float64", seed, trace=True) for seed in (0, 1))
    worker = pool.KerasWorker("torch")
    try:
        results = [worker.call(KERAS_RUNNER, r) for r in (first, other, first)]
        kept = worker.call("parity.runners.keras_runner:kept_models")
    finally:
        worker.close()
    fresh = pool.KerasWorker("torch")
    try:
        alone = fresh.call(KERAS_RUNNER, other)
    finally:
        fresh.close()
    assert kept == 1, "the model was built again"
    a, b, again = results
    for x, y in ((a, again), (b, alone)):
        assert np.array_equal(x.output, y.output)
        for name in ("grads", "loss_grads", "weights"):
            assert getattr(x, name).keys() == getattr(y, name).keys()
            assert all(np.array_equal(getattr(x, name)[k], getattr(y, name)[k]) for k in getattr(x, name))
        assert all(np.array_equal(s.output, t.output) and np.array_equal(s.grad, t.grad) for s, t in zip(x.trace, y.trace))
    assert not np.array_equal(a.output, b.output), "the two requests should differ"


def _built_both_ways(dtype: str) -> dict:
    """In a worker: each case's Keras model built with its initialisers and under ``weights_to_come``,
    each then loaded with the case's weights; what each holds, and Python's generator after each build."""
    import random

    import keras

    from parity.cases import all_cases
    from parity.check import make_request
    from parity.runners.keras_runner import KerasGraph, weights_to_come
    from parity.runners.precision import set_keras_precision

    set_keras_precision(dtype)
    out = {}
    for name, case in all_cases().items():
        request = make_request(case, case.configure(None), dtype, 0)
        held, states = [], []
        for skipped in (False, True):
            random.seed(7)
            with weights_to_come() if skipped else contextlib.nullcontext():
                graph = KerasGraph(request.spec)
            states.append(random.getstate())
            graph.load(request.weights)
            held.append([keras.ops.convert_to_numpy(v.value) for layer in graph.keras for v in layer.variables])
        out[name] = (held, states)
    return out


def test_a_model_whose_weights_are_loaded_is_built_without_drawing_them():
    """``weights_to_come``: every case's model, once loaded, holds bit for bit what it holds when built with its
    initialisers (every variable, seed states included), and Python's generator is left where building leaves it
    (on TensorFlow, where building with the initialisers is the cheapest)."""
    if not pool.backend_installed("tensorflow"):
        pytest.skip("keras-tensorflow not installed")
    import numpy as np

    built = pool.keras_worker("tensorflow").call("tests.test_worker_pool:_built_both_ways", "float64")
    assert len(built) > 50
    for name, ((drawn, skipped), (state_drawn, state_skipped)) in built.items():
        assert len(drawn) == len(skipped), name
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(drawn, skipped)), name
        assert state_drawn == state_skipped, name


@pytest.mark.parametrize("backend", ["jax", "tensorflow", "torch"])
def test_weights_to_come_calls_no_initialiser_and_restores_add_weight(backend):
    """Off torch, no initialiser is called; on torch every one is (a variable keeps its initialiser's layout)."""
    if not pool.backend_installed(backend):
        pytest.skip(f"keras-{backend} not installed")
    calls = pool.keras_worker(backend).call("tests.test_worker_pool:_initialiser_calls")
    skipped = 2 if backend == "torch" else 0
    assert calls == {"built": 2, "under weights_to_come": skipped, "after": 2, "same generator state": True}, calls


def _initialiser_calls() -> dict:
    import random

    import keras

    from parity.runners.keras_runner import weights_to_come

    counted = []

    class Counted(keras.initializers.GlorotUniform):
        def __call__(self, shape, dtype=None):
            counted.append(shape)
            return super().__call__(shape, dtype=dtype)

    def build():
        counted.clear()
        keras.layers.Dense(3, kernel_initializer=Counted(), bias_initializer=Counted()).build((None, 4))
        return len(counted)

    out = {"built": build()}
    with weights_to_come():
        out["under weights_to_come"] = build()
    out["after"] = build()

    class Default(keras.layers.Layer):  # add_weight's own default initialiser: Glorot, seeded from Python's generator
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2))

    states = []
    for skipped in (False, True):
        random.seed(7)
        with weights_to_come() if skipped else contextlib.nullcontext():
            Default().build((None, 4))
        states.append(random.getstate())
    out["same generator state"] = states[0] == states[1]
    return out


def _arrays_a_keras_run_writes() -> dict:
    """In the keras-torch worker: a Keras model's run into files; for each array handed to the writer,
    whether it is a copy (owns its data) and whether it can be written, and its value against Keras' own
    conversion of the variable."""
    import tempfile

    import keras
    import numpy as np

    from parity.runners.precision import set_keras_precision
    from parity.runners.stored import ArrayWriter
    from parity.sources import import_model, original_run

    set_keras_precision("float64")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"), keras.layers.Dense(2)])
    spec = import_model(model)
    handed = {}
    write = ArrayWriter.__setitem__

    def spy(self, name, value):
        handed[f"{self.folder.name}:{name}"] = (bool(value.flags.owndata), bool(value.flags.writeable), np.array(value))
        write(self, name, value)

    ArrayWriter.__setitem__ = spy
    try:
        with tempfile.TemporaryDirectory() as folder:
            rng = np.random.default_rng(0)
            original_run(model, spec, rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), "float64", folder)
    finally:
        ArrayWriter.__setitem__ = write
    variables = {
        f"weights:{layer.name}.{key}": keras.ops.convert_to_numpy(v.value)
        for layer in model.layers
        for key, v in zip(("W", "b"), layer.weights)
    }
    return {"handed": handed, "variables": variables}


def test_a_keras_torch_run_writes_its_weights_and_gradients_without_copying_them():
    """Weights and gradients written to files at once are read from their torch tensors in place
    (``parity.sources._tensor_array``), read-only, with the values Keras' own copying conversion gives."""
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    import numpy as np

    got = pool.keras_worker("torch").call("tests.test_worker_pool:_arrays_a_keras_run_writes")
    handed = got["handed"]
    assert {key.split(":")[0] for key in handed} == {"weights", "grads"} and len(handed) == 9, sorted(handed)
    for key, (owns, writeable, _) in handed.items():
        assert not owns and not writeable, key
    for key, value in got["variables"].items():
        assert np.array_equal(handed[key][2], value), key


@linux
def test_a_worker_keeps_the_memory_it_frees_for_its_next_arrays(monkeypatch):
    """With ``memory_kept``'s environment a freed 64 MiB array stays in the process and the next one
    reuses it without a page fault per page; without it glibc gives it back and the next is faulted in
    afresh (16,384 pages). NumPy asks for no huge pages there."""
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    kept = free_and_again(pool.memory_kept())
    given_back = free_and_again({"GLIBC_TUNABLES": "", "NUMPY_MADVISE_HUGEPAGE": "0"})
    assert kept["kept"] >= 63 * 2**20 and kept["faults"] < 1000, kept
    assert given_back["kept"] < 2**20 and given_back["faults"] >= 16_000, given_back
    assert kept["huge_pages"] is False and given_back["huge_pages"] is False
    # A caller's own tunable of the same name is read after these, and wins.
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_max=65536")
    assert free_and_again(pool.memory_kept())["kept"] < 2**20


def test_a_worker_starts_with_the_memory_kept_environment():
    if not pool.backend_installed("torch"):
        pytest.skip("keras-torch not installed")
    worker = pool.keras_worker("torch")
    for name, value in pool.memory_kept().items():
        assert worker.call("os:getenv", name) == value, name
