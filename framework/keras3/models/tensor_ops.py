"""Single raw tensor operations as Keras functional models: ``layers.Reshape`` and ``layers.Permute``
where Keras has a layer, the small layers of ``framework.keras3.tensor_ops`` otherwise."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from framework.keras3.tensor_ops import AddTable, MaskedFill, MatMul, Scale, Slice


def _one(input_shape, layer) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layer])


def scale(input_shape, factor: float = 2.0, divide: bool = True) -> keras.Sequential:
    return _one(input_shape, Scale(factor, divide=divide))


def matmul(input_shape) -> keras.Model:
    """y = x @ x^T over the last two axes."""
    inputs = keras.Input(shape=tuple(input_shape))
    rank = len(input_shape)
    transposed = layers.Permute((*range(1, rank - 1), rank, rank - 1))(inputs)  # the last two axes swapped
    return keras.Model(inputs, MatMul()(inputs, transposed))


def reshape(input_shape, target_shape) -> keras.Sequential:
    return _one(input_shape, layers.Reshape(tuple(target_shape)))


def permute(input_shape, dims) -> keras.Sequential:
    return _one(input_shape, layers.Permute(tuple(dims)))


def slice_last(input_shape, start: int, stop: int) -> keras.Sequential:
    return _one(input_shape, Slice(start, stop))


def masked_fill(input_shape, diagonal: int = 1) -> keras.Sequential:
    T = input_shape[-1]
    mask = np.triu(np.ones((T, T), dtype=bool), diagonal)  # True above the diagonal: filled
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), MaskedFill(mask, float("-inf")), layers.Softmax()])


def add_table(input_shape, batch_axis: bool = True) -> keras.Sequential:
    """x + table; ``batch_axis`` is how torch stores it, Keras' table is one sample's shape either way."""
    return _one(input_shape, AddTable())
