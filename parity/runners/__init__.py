"""Runners: one per implementation, all returning the same ``RunResult``; ``run`` picks one."""

from parity.runners.base import HIDDEN_IMPLEMENTATIONS, KERAS_BACKENDS, LayerTrace, RunRequest, RunResult, needs_x64

__all__ = ["KERAS_RUNNER", "LayerTrace", "RunRequest", "RunResult", "run"]

# What a Keras worker process runs (by name: the worker imports it, this process never imports Keras).
KERAS_RUNNER = "parity.runners.keras_runner:run_keras"


def run(impl: str, request: RunRequest) -> RunResult:
    """Run ``request`` on implementation ``impl`` (in a worker process for Keras)."""
    if impl == "scratch":
        from parity.runners.scratch_runner import run_scratch

        return run_scratch(request)
    if impl == "torch":
        from parity.runners.torch_runner import GLOBAL_GENERATOR, run_torch

        with GLOBAL_GENERATOR:
            return run_torch(request)
    from parity.runners.pool import keras_worker

    runner = KERAS_RUNNER
    if impl in KERAS_BACKENDS:
        worker = keras_worker(KERAS_BACKENDS[impl], x64=needs_x64(impl, request.dtype))
    elif impl in HIDDEN_IMPLEMENTATIONS:
        backend, x64, runner = HIDDEN_IMPLEMENTATIONS[impl]
        worker = keras_worker(backend, x64)
    else:
        raise ValueError(f"unknown implementation {impl!r}")
    result = worker.call(runner, request)
    result.impl = impl
    return result
