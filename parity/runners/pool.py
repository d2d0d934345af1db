"""Keras worker processes, started on first use and kept for the life of the parent."""

from __future__ import annotations

import atexit
import importlib.util
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


class ImplementationUnavailable(RuntimeError):
    """The packages an implementation needs are not installed, or its worker died."""


class WorkerCrashed(RuntimeError):
    pass


def jax_compilation_cache() -> dict[str, str]:
    """Environment for JAX's persistent compilation cache, shared by every JAX worker and every run.

    Keras on JAX runs eagerly, and JAX compiles every primitive for each new shape and dtype
    (``compile_or_get_cached`` in jax/_src/compiler.py): measured, about 80% of a JAX worker's
    time in a report is spent compiling, and running the same requests again takes 1% of it.
    With the cache on disk (options ``jax_compilation_cache_dir``,
    ``jax_persistent_cache_min_compile_time_secs`` and ``..._min_entry_size_bytes`` in
    jax/_src/config.py; zero thresholds keep even the smallest op) the next process loads
    what an earlier one compiled. The key covers the computation, the XLA flags and the
    versions, and a loaded executable is the one compiled: results are bitwise the same.
    ``PARITY_JAX_CACHE`` names the folder (default ``$XDG_CACHE_HOME/parity/jax``, else
    ``~/.cache/parity/jax``); set it empty to compile everything afresh.
    """
    folder = os.environ.get("PARITY_JAX_CACHE")
    if folder is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "parity", "jax")
    if not folder:
        return {}
    return {
        "JAX_COMPILATION_CACHE_DIR": folder,
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }


# glibc's malloc keeps what is freed in its heap for the next allocation, up to 1 GiB free at the heap's
# top (``memory_kept``).
KEPT_HEAP = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=" + str(2**30)


def memory_kept() -> dict[str, str]:
    """Environment for a worker that keeps the memory it frees, for its next arrays.

    A worker makes and frees arrays of a model's size over and over (weights, outputs, every
    gradient, converted to NumPy and written out). glibc gives a large block back to the kernel
    as soon as it is freed (``munmap`` above its mmap threshold, a trim of the heap's top), and
    NumPy asks for huge pages for any array of 4 MiB or more (``madvise(MADV_HUGEPAGE)``, numpy's
    ``NUMPY_MADVISE_HUGEPAGE``). Each new block is then memory the kernel must find and zero
    again; on a virtual machine whose free memory goes back to its host (a balloon's free page
    reporting, which hands back free blocks of 2 MiB and up: the blocks a huge page needs), each
    megabyte is also faulted in from the host, about 10 ms of kernel time per MB (measured there).
    With these, the heap keeps what is freed (``glibc.malloc.mmap_max=0``: no block of its own
    mapping; ``glibc.malloc.trim_threshold``: up to 1 GiB free at the heap's top is kept) and NumPy
    uses 4 KiB pages. The peak is the same (freed blocks are reused, not added to), and a worker
    gives all of it back when it ends (``parity zoo`` ends one after each architecture).

    Measured on the 2-core machine (a Firecracker VM), the VGG16 family test, three runs each
    alternating with the code before: 28.2-31.6 s and 13.2-15.0 s of kernel time before, 22.6-25.7 s
    and 7.1-8.7 s with this and the test process's two changes (``StoredArrays`` maps its files,
    ``parity.tolerance.CHUNK``); 18% of every CPU sample had been zeroing new huge pages. Small
    models gain nothing: the same in the test process made tests/test_parity.py and two other
    modules no faster (75-79 s without, 81-84 s with), which is why the test and report processes keep
    glibc's defaults.

    A ``GLIBC_TUNABLES`` the caller set is kept after these (glibc takes the last value of a name),
    and a ``NUMPY_MADVISE_HUGEPAGE`` the caller set is left as it is.
    """
    tunables = ":".join(filter(None, [KEPT_HEAP, os.environ.get("GLIBC_TUNABLES", "")]))
    return {"GLIBC_TUNABLES": tunables, "NUMPY_MADVISE_HUGEPAGE": os.environ.get("NUMPY_MADVISE_HUGEPAGE", "0")}


class KerasWorker:
    def __init__(self, backend: str, x64: bool = True) -> None:
        self.backend, self.x64 = backend, x64
        env = dict(os.environ)
        env.update(
            KERAS_BACKEND=backend,
            JAX_ENABLE_X64="1" if x64 else "0",
            PARITY_KERAS_FLOAT64="1" if x64 else "0",
            JAX_PLATFORMS="cpu",
            CUDA_VISIBLE_DEVICES="",
            TF_CPP_MIN_LOG_LEVEL="3",
            TF_ENABLE_ONEDNN_OPTS="0",
            # One compute thread per worker (see parity.runners.torch_runner): four processes
            # share the machine, and oversubscribed OpenMP threads stall each other.
            OMP_NUM_THREADS="1",
            MKL_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            TF_NUM_INTRAOP_THREADS="1",
            TF_NUM_INTEROP_THREADS="1",
            XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
        )
        env.update(memory_kept())
        if backend == "jax":
            env.update(jax_compilation_cache())
        self.lock = threading.Lock()  # one request at a time on the pipe, whichever thread sends it
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "parity.runners.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            env=env,
            cwd=ROOT,
        )
        status, value = self._read()
        if status != "ready" or value != backend:
            raise WorkerCrashed(f"keras-{backend} worker did not start: {value!r}")

    def _read(self):
        try:
            return pickle.load(self.process.stdout)
        except (EOFError, pickle.UnpicklingError) as error:
            raise WorkerCrashed(f"keras-{self.backend} worker died:\n{self.stderr_tail()}") from error

    def stderr_tail(self, lines: int = 30) -> str:
        self.log.seek(0)
        return "\n".join(self.log.read().decode(errors="replace").splitlines()[-lines:])

    def call(self, path: str, *args):
        with self.lock:
            if self.process.poll() is not None:
                raise WorkerCrashed(f"keras-{self.backend} worker has exited:\n{self.stderr_tail()}")
            pickle.dump((path, args), self.process.stdin)
            self.process.stdin.flush()
            reply = self._read()
        if reply[0] == "error":
            _, error, text = reply
            error.worker_traceback = text
            raise error
        return reply[1]

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                # The worker has answered every request and keeps nothing: a worker that has not left
                # within 2 s is stuck in its libraries' shutdown (measured: 10 s after a zoo architecture).
                # A profiled worker writes its profile first (parity.runners.worker): killed at 2 s, the
                # file was left empty.
                self.process.wait(timeout=60 if os.environ.get("PARITY_WORKER_PROFILE") else 2)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()  # reaped: no zombie, and its CPU time counts as this process's children's


_WORKERS: dict[tuple[str, bool], KerasWorker] = {}
# Lanes and divergence threads may ask for the same worker at once: one lock per worker, so
# that different backends still start side by side.
_STARTING: dict[tuple[str, bool], threading.Lock] = {}
_STARTING_LOCK = threading.Lock()


def backend_installed(backend: str) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("keras", backend))


def keras_worker(backend: str, x64: bool = True) -> KerasWorker:
    key = (backend, x64)
    with _STARTING_LOCK:
        starting = _STARTING.setdefault(key, threading.Lock())
    with starting:
        worker = _WORKERS.get(key)
        if worker is not None and worker.process.poll() is None:
            return worker
        if not backend_installed(backend):
            raise ImplementationUnavailable(f"keras-{backend}: not installed (needs the keras and {backend} packages)")
        _WORKERS[key] = worker = KerasWorker(backend, x64)
        return worker


@atexit.register
def close_all() -> None:
    """End every worker: all pipes closed first, so that they wind down side by side, then each awaited."""
    workers = list(_WORKERS.values())
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.stdin.close()  # EOF: the worker's loop returns
    for worker in workers:
        worker.close()
    _WORKERS.clear()
