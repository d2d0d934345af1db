"""Single-layer models of the merge family in Keras 3: a map times its squeeze-and-excitation gate."""

from __future__ import annotations

import keras
from keras import layers


def multiply(input_shape: tuple[int, int, int], gate: str = "reshape") -> keras.Model:
    """x * sigmoid(mean of x per channel): the (1, 1, C) gate broadcast over every pixel."""
    inputs = keras.Input(shape=tuple(input_shape))
    if gate == "keepdims":
        s = layers.GlobalAveragePooling2D(keepdims=True)(inputs)  # (B, 1, 1, C)
    else:
        s = layers.GlobalAveragePooling2D()(inputs)  # (B, C)
        s = layers.Reshape((1, 1, input_shape[-1]))(s)  # (B, 1, 1, C)
    s = layers.Activation("sigmoid")(s)
    return keras.Model(inputs, layers.Multiply()([inputs, s]))
