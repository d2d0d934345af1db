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
