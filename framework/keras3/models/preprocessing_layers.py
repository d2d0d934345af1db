"""Single-layer models of the preprocessing family in Keras 3 (channels_last images)."""

from __future__ import annotations

import keras
from keras import layers


def _model(input_shape, layer) -> keras.Sequential:
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layer])


def rescaling(input_shape: tuple[int, int, int], scale=1.0, offset=0.0) -> keras.Sequential:
    return _model(input_shape, layers.Rescaling(scale, offset))


def normalization(input_shape: tuple[int, int, int], invert: bool = False) -> keras.Sequential:
    """Per-channel statistics as weights (set them with adapt(), or load them): axis=-1, the channels."""
    return _model(input_shape, layers.Normalization(axis=-1, invert=invert))
