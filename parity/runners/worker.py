"""A long-lived worker process: one Keras backend, chosen before ``import keras``.

Protocol: the parent writes pickled ``(function_path, args)`` tuples to stdin; the
worker answers each with a pickled ``("ok", value)`` or ``("error", exception, traceback)``.
Anything the libraries print goes to stderr: stdout carries only the protocol.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import pickle
import sys
import traceback


def keep_float64() -> None:
    """Make Keras compute float64 in float64 on the torch and JAX backends.

    Keras 3.15's type promotion maps float64 to float32 on every backend but
    TensorFlow (``BIT64_TO_BIT32_DTYPE`` in keras/src/backend/common/dtypes.py, "to be
    aligned with JAX's default behavior"). Ops that take their result type from it
    demote float64: on torch, matmul and the binary ops, so a float64 layer built on a matmul
    silently computes in float32 (keras-team/keras issue #23704, open); on JAX, even
    with x64 enabled, ``ops.mean`` (hence every loss's reduction). There is no public
    switch, so the worker changes this one table entry; the divergence cases
    ``keras_torch_float64`` and ``keras_jax_float64`` show the behaviour without it.
    """
    from keras.src.backend.common import dtypes

    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"


# Packages that ``import keras`` loads only if they are installed, for features no worker calls:
# scikit-learn for keras.wrappers (keras/src/wrappers/sklearn_wrapper.py, fixes.py: ``try: import
# sklearn except ImportError``), JAX on the other backends for the Orbax checkpoint callback
# (keras/src/callbacks/orbax_checkpoint.py) and, under TensorFlow, TFLite's jit
# (tensorflow/lite/python/util.py), and matplotlib's pyplot for keras.visualization's image galleries
# (keras/src/visualization/plot_image_gallery.py), each behind the same guard. Measured
# (time.process_time of ``import keras``): 1.1 s and 164 MB less on TensorFlow, 0.8 s and 169 MB on
# torch, 0.4 s on JAX without the first two; without matplotlib as well, about 0.6 s less again on
# each backend (2.6 s against 3.3 s on JAX, under load).
OPTIONAL_AT_IMPORT = ("sklearn", "jax", "matplotlib")


def import_keras(backend: str):
    """``import keras`` with the optional packages above reported missing while Keras is imported;
    they are importable again afterwards (a user's model file may import them)."""
    skipped = [name for name in OPTIONAL_AT_IMPORT if name != backend and name not in sys.modules]
    for name in skipped:
        sys.modules[name] = None  # an import of it raises ImportError
    try:
        import keras
    finally:
        for name in skipped:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return keras


@contextlib.contextmanager
def promotion_as_shipped():
    """Keras' promotion table as it ships (float64 demoted to float32) for the time of one request.

    ``_lattice_result_type`` (keras/src/backend/common/dtypes.py) reads the table on every call and
    caches nothing that depends on it (the helpers it caches with ``lru_cache`` do not read it), so a worker
    that keeps float64 can run one request as Keras ships: the divergence case ``keras_torch_float64``
    runs in the keras-torch worker instead of a process of its own.
    """
    from keras.src.backend.common import dtypes

    kept = dtypes.BIT64_TO_BIT32_DTYPE["float64"]
    dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float32"
    try:
        yield
    finally:
        dtypes.BIT64_TO_BIT32_DTYPE["float64"] = kept


def run_keras_as_shipped(request):
    """``parity.runners.keras_runner.run_keras`` under ``promotion_as_shipped``."""
    from parity.runners.keras_runner import run_keras

    with promotion_as_shipped():
        return run_keras(request)


def main() -> None:
    protocol_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the pipe
    protocol_in = sys.stdin.buffer
    keras = import_keras(os.environ.get("KERAS_BACKEND", ""))  # fixes the backend for the life of this process

    if os.environ.get("PARITY_KERAS_FLOAT64") == "1":
        keep_float64()
    # What the imports made lives as long as this process: a full collection need not walk it again.
    # Every full collection (Python's own, and ``let_go``'s after a large model) walked every object Keras
    # and its backend had made at import; frozen (``gc.freeze``), the JAX float64 worker of a report took
    # 38.7 s of CPU, against 45.6 s, when it still collected after every training run. Frozen objects are
    # never collected, and none of them is garbage: nothing has run yet.
    gc.freeze()

    pickle.dump(("ready", keras.backend.backend()), protocol_out)
    protocol_out.flush()
    while True:
        try:
            path, args = pickle.load(protocol_in)
        except EOFError:
            return
        try:
            module_name, function_name = path.split(":")
            function = getattr(importlib.import_module(module_name), function_name)
            reply = ("ok", function(*args))
        except Exception as error:  # noqa: BLE001  every failure goes back to the parent
            text = traceback.format_exc()
            # Only the project's own and built-in exceptions cross the pipe as themselves:
            # unpickling a backend's exception would import that backend in the parent.
            own = type(error).__module__.split(".")[0] in ("parity", "builtins")
            try:
                pickle.dumps(error)
            except Exception:  # noqa: BLE001
                own = False
            if not own:
                error = RuntimeError(f"{type(error).__name__}: {error}")
            reply = ("error", error, text)
        pickle.dump(reply, protocol_out)
        protocol_out.flush()


if __name__ == "__main__":
    if os.environ.get("PARITY_WORKER_PROFILE"):  # a profile of this worker's life, to see where a report's time goes
        import cProfile
        import time

        # CPU time, not wall time: the workers share the machine with each other and with the
        # parent, so a wall-clock profile counts the time spent waiting for a core.
        profile = cProfile.Profile(time.process_time)
        try:
            profile.runcall(main)
        finally:
            profile.dump_stats(f"{os.environ['PARITY_WORKER_PROFILE']}.{os.environ.get('KERAS_BACKEND')}.{os.getpid()}.prof")
    else:
        main()
    # The parent has closed the pipe and every reply was flushed; JAX writes each compiled executable
    # to its persistent cache when it compiles it (LRUCache.put in jax/_src/lru_cache.py). Nothing is
    # left to save, so skip the interpreter's teardown of TensorFlow, JAX and torch: measured, it held
    # the parent's exit for tens of seconds under load (pool.close_all waits for every worker).
    sys.stderr.flush()
    os._exit(0)
