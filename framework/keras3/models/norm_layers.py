"""Single-layer models of the normalisation family in Keras 3: features (F,) or sequences (T, F)."""

from __future__ import annotations

import keras
from keras import layers


def layernorm(
    input_shape: tuple[int, ...],
    axis: int | list[int] = -1,
    epsilon: float = 1e-3,
    scale: bool = True,
    center: bool = True,
) -> keras.Sequential:
    norm = layers.LayerNormalization(axis=axis, epsilon=epsilon, scale=scale, center=center)
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), norm])


def rmsnorm(input_shape: tuple[int, ...], axis: int | list[int] = -1, epsilon: float = 1e-6) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layers.RMSNormalization(axis=axis, epsilon=epsilon)])
