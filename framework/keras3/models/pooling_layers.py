"""Single-layer models of the global pooling family in Keras 3 (channels_last; sequences (T, F))."""

from __future__ import annotations

import keras
from keras import layers


def _model(input_shape, layer) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layer])


def global_avg_pool2d(input_shape: tuple[int, int, int], keepdims: bool = False) -> keras.Sequential:
    return _model(input_shape, layers.GlobalAveragePooling2D(keepdims=keepdims))


def global_max_pool2d(input_shape: tuple[int, int, int], keepdims: bool = False) -> keras.Sequential:
    return _model(input_shape, layers.GlobalMaxPooling2D(keepdims=keepdims))


def global_avg_pool1d(input_shape: tuple[int, int], keepdims: bool = False) -> keras.Sequential:
    return _model(input_shape, layers.GlobalAveragePooling1D(keepdims=keepdims))


def global_max_pool1d(input_shape: tuple[int, int], keepdims: bool = False) -> keras.Sequential:
    return _model(input_shape, layers.GlobalMaxPooling1D(keepdims=keepdims))
