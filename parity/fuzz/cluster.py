"""Where a campaign's models are judged: this process, a local process pool, or a Ray cluster.

Every pool has ``starmap(function, jobs)`` returning results in job order, so the campaign's
outcome (models, findings, their order) is the same whichever pool ran it: model ``i`` is drawn
from (seed, i) wherever it runs (``parity.fuzz.draw.model_rng``).

On Ray (``--ray [ADDRESS]``) each of ``workers`` actors is one long-lived process holding its own
implementations: its own torch, and its own Keras worker processes, started on its first model
and kept, as a ``--workers`` process keeps them (``parity.runners.pool``). Without an address a
small local cluster is started for the campaign and shut down after it; with one, the campaign
joins that cluster (whose nodes must have this project installed) and leaves it running.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

# A campaign's messages are a few specs and records (kilobytes): the local cluster's object store
# is kept near Ray's minimum (75 MiB, ray_constants.OBJECT_STORE_MINIMUM_MEMORY_BYTES) instead of
# its default of 30% of the machine's memory, which machines shared by several users cannot spare.
OBJECT_STORE_BYTES = 100 * 1024 * 1024


class LocalPool:
    """Jobs run in this process, one after another."""

    def starmap(self, function: Callable, jobs: Sequence[tuple]) -> list:
        return [function(*job) for job in jobs]

    def close(self) -> None:
        pass


class ProcessPool:
    """``workers`` spawned processes (``multiprocessing``), each with its own Keras workers."""

    def __init__(self, workers: int) -> None:
        import multiprocessing

        self.pool = multiprocessing.get_context("spawn").Pool(workers)

    def starmap(self, function: Callable, jobs: Sequence[tuple]) -> list:
        return self.pool.starmap(function, jobs) if jobs else []

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


class _Judge:
    """A Ray actor: one process that runs the campaign's functions (and keeps its implementations)."""

    def call(self, function: Callable, *args: Any) -> Any:
        return function(*args)


class RayPool:
    """``workers`` Ray actors; jobs dealt round-robin, results gathered in job order."""

    def __init__(self, workers: int, address: str | None = None) -> None:
        import os

        import ray

        from parity.runners.pool import ROOT

        self.ray = ray
        self.started = address is None
        # the actors import this checkout (an editable install may point at another one)
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}}
        if self.started:
            ray.init(
                num_cpus=workers,
                object_store_memory=OBJECT_STORE_BYTES,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
                runtime_env=runtime_env,
            )
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        actor = ray.remote(num_cpus=1)(_Judge)
        self.actors = [actor.remote() for _ in range(workers)]

    def starmap(self, function: Callable, jobs: Sequence[tuple]) -> list:
        refs = [self.actors[i % len(self.actors)].call.remote(function, *job) for i, job in enumerate(jobs)]
        return self.ray.get(refs)

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)  # its Keras workers see their pipe close and exit
        self.ray.shutdown()  # stops the local cluster this pool started; only disconnects from another


def make_pool(workers: int, ray: str | None = None) -> LocalPool | ProcessPool | RayPool:
    """``ray``: None (no Ray), "local" (start a local cluster) or a cluster's address."""
    if ray is not None:
        return RayPool(workers, None if ray == "local" else ray)
    return ProcessPool(workers) if workers > 1 else LocalPool()
