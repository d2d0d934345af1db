"""The environment a report was measured in: versions, BLAS, CPU (what the numbers depend on)."""

from __future__ import annotations

import platform
from pathlib import Path


def environment() -> dict[str, str]:
    """Versions, BLAS and CPU: what the numbers depend on."""
    import importlib.metadata as md
    import os

    env = {
        "python": f"{platform.python_version()} ({platform.python_implementation()})",
        "platform": platform.platform(),
    }
    for label, dists in (
        ("numpy", ["numpy"]),
        ("torch", ["torch"]),
        ("keras", ["keras"]),
        ("jax", ["jax"]),
        ("jaxlib", ["jaxlib"]),
        ("tensorflow", ["tensorflow-cpu", "tensorflow"]),
        ("pandas", ["pandas"]),
        ("matplotlib", ["matplotlib"]),
    ):
        env[label] = "not installed"
        for dist in dists:
            try:
                env[label] = f"{md.version(dist)}" + ("" if dist == label else f" ({dist})")
                break
            except md.PackageNotFoundError:
                continue
    env["keras backends"] = "torch, jax, tensorflow: one worker process each, float64 kept (parity.runners.worker)"
    env["numpy BLAS"] = _numpy_blas()
    env["threadpools"] = _threadpools()
    env["torch BLAS"] = _torch_blas()
    env["cpu"] = _cpu()
    env["cpu count"] = str(os.cpu_count())
    return env


def own_peak_rss() -> int:
    """This process's peak resident memory in bytes (getrusage RUSAGE_SELF; Linux counts KiB)."""
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_memory() -> str:
    """Peak resident memory of the report's processes, each measured by itself.

    The Keras workers are still alive when this runs, so RUSAGE_CHILDREN (which counts
    only children that were waited for) would miss them: each worker is asked for its own
    RUSAGE_SELF instead. The sum bounds what the report held at once.
    """
    from parity.runners.pool import _WORKERS

    mib = 1024 * 1024
    peaks = {"main process": own_peak_rss()}
    for (backend, x64), worker in sorted(_WORKERS.items()):
        try:
            peaks[f"keras-{backend}{'' if x64 else ' (x64 off)'} worker"] = worker.call(
                "parity.report.environment:own_peak_rss"
            )
        except Exception:  # noqa: BLE001  a worker that died has no peak to report
            continue
    parts = ", ".join(f"{name} {value / mib:.0f} MiB" for name, value in peaks.items())
    return f"{parts}; sum {sum(peaks.values()) / mib:.0f} MiB (getrusage RUSAGE_SELF of each process)"


def _numpy_blas() -> str:
    try:
        import numpy as np

        config = np.show_config(mode="dicts")
        blas = config.get("Build Dependencies", {}).get("blas", {})
        return " ".join(filter(None, [blas.get("name"), blas.get("version")])) or "unknown"
    except Exception:  # noqa: BLE001
        return "unknown"


def _threadpools() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    pools = [
        f"{p.get('internal_api')} {p.get('version') or ''} ({p.get('num_threads')} threads)".replace("  ", " ")
        for p in threadpool_info()
    ]
    return "; ".join(sorted(set(pools))) or "none loaded"


def _torch_blas() -> str:
    try:
        import torch
    except ImportError:
        return "torch not installed"
    for line in torch.__config__.show().splitlines():
        if "BLAS_INFO" in line:
            parts = [p.strip().split()[-1] for p in line.split(",") if "BLAS_INFO" in p or "LAPACK_INFO" in p]
            return ", ".join(parts)  # "BLAS_INFO=mkl, LAPACK_INFO=mkl"
    return "unknown"


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
