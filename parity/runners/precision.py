"""A Keras process's precision: ``floatx`` and the global dtype policy, always set together.

A Keras layer takes its dtype from the global dtype policy, which Keras derives from ``floatx`` on
first use and then keeps (``dtype_policy()``, keras/src/dtype_policies/dtype_policy.py). Setting
``floatx`` alone therefore leaves a worker that an earlier request ran in float32 building float32
layers for a float64 request (a Dropout 6e-8 from scratch in the suite under two processes). Every
place that fixes a worker's precision goes through ``set_keras_precision``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


def set_keras_precision(dtype: str) -> None:
    """``floatx`` and the global dtype policy both ``dtype`` ("float32" or "float64")."""
    import keras

    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)


@contextmanager
def keras_precision(dtype: str) -> Iterator[None]:
    """``set_keras_precision(dtype)`` for the block; the ``floatx`` and policy before it are put back after."""
    import keras

    before = keras.config.floatx(), keras.config.dtype_policy()
    set_keras_precision(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(before[0])
        keras.config.set_dtype_policy(before[1])
