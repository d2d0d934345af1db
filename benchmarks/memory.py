"""Peak memory of one pass, each (benchmark, implementation, phase) in a fresh process.

Method (Linux): the process builds the model and its inputs and reads its resident
set (``VmRSS``); it runs the pass once untimed (lazy initialisation, BLAS and oneDNN
buffers, first-call caches), resets the kernel's resident-set high-water mark
(``echo 5 > /proc/self/clear_refs``), runs the pass again and reads the high-water
mark (``VmHWM``). The figure is the difference: what the process holds at the peak of
a steady-state pass on top of the model and its inputs, including what a layer keeps
between passes (its forward caches) and the runtime's one-time buffers, NumPy's and
torch's allocations alike (which tracemalloc could not do: it sees NumPy's arrays but
not torch's). A second figure counts only what the pass adds to what was resident just
before it.

Two things would otherwise hide memory, and are switched off in this process only:
glibc keeps freed blocks for reuse and raises its mmap threshold after a large free,
so a second pass could reuse the first pass's pages without raising the mark
(``MALLOC_MMAP_THRESHOLD_`` is fixed at 128 KiB: every large array is its own mapping,
returned to the system when freed); and NumPy asks for transparent huge pages for
arrays of 4 MiB and more, which rounds them up to 2 MiB pages (turned off).

Run: ``python -m benchmarks.memory conv2d scratch forward+backward [threads]`` prints
one JSON record; ``peak_memory`` runs that in a subprocess.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys

METHOD = (
    "peak resident set of a pass (VmHWM, after an untimed pass) above the resident set with only the model "
    "and its inputs built (in brackets: above the resident set just before the pass), a fresh process per "
    "measurement, glibc mmap threshold fixed at 128 KiB"
)
PHASES = ("forward", "forward+backward")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_bytes(step) -> dict[str, int]:
    """Resident bytes at the peak of ``step()``'s second call.

    ``peak_bytes``: above what was resident before the first call (the model and its
    inputs); ``pass_bytes``: above what was resident just before the second call (what
    the pass itself adds, without the caches and runtime buffers the first call left).
    """
    before = _status_kib("VmRSS")
    step()
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current VmRSS
    warm = _status_kib("VmRSS")
    result = step()
    peak = _status_kib("VmHWM")
    del result
    return {"peak_bytes": 1024 * max(peak - before, 0), "pass_bytes": 1024 * max(peak - warm, 0)}


def measure_here(benchmark: str, impl: str, phase: str, threads_: int | None) -> dict:
    """This process's measurement (call it in a fresh process: see ``peak_memory``)."""
    from numpy._core.multiarray import _set_madvise_hugepage

    from benchmarks import threads

    _set_madvise_hugepage(False)
    module = importlib.import_module(f"benchmarks.{benchmark}")
    X, G = module.inputs()
    with threads(threads_) as n:
        forward, forward_backward = module.MAKERS[impl](X, G)
        step = forward if phase == "forward" else forward_backward
        peaks = peak_bytes(step)
    return {"benchmark": benchmark, "impl": impl, "phase": phase, "threads": n, **peaks}


# glibc's malloc as the method needs it (the module's docstring): every large array its own mapping.
TUNABLES = "glibc.malloc.mmap_threshold=131072:glibc.malloc.mmap_max=65536:glibc.malloc.trim_threshold=131072"


def measurement_tunables() -> str:
    """``GLIBC_TUNABLES`` for a measurement: the caller's, then ``TUNABLES``, which glibc reads last and so
    keeps (a Keras worker's tunables keep freed memory for reuse, ``parity.runners.pool.memory_kept``:
    passed on to a measurement, a pass would raise no mark)."""
    return ":".join(filter(None, [os.environ.get("GLIBC_TUNABLES", ""), TUNABLES]))


def peak_memory(benchmark: str, impl: str, phase: str, threads_: int | None) -> dict:
    """``measure_here`` in a fresh Python process with glibc's mmap threshold fixed."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", GLIBC_TUNABLES=measurement_tunables())
    args = [sys.executable, "-m", "benchmarks.memory", benchmark, impl, phase]
    if threads_ is not None:
        args.append(str(threads_))
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"memory measurement of {benchmark} {impl} {phase} failed: {last}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (3, 4) or argv[2] not in PHASES:
        raise SystemExit("usage: python -m benchmarks.memory BENCHMARK IMPL {forward,forward+backward} [THREADS]")
    threads_ = int(argv[3]) if len(argv) == 4 else None
    print(json.dumps(measure_here(argv[0], argv[1], argv[2], threads_)))


if __name__ == "__main__":
    main()
