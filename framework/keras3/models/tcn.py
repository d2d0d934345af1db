"""A temporal convolutional network in Keras 3 (functional API): causal dilated Conv1D blocks with residual adds.

Inputs are (B, L, C), channels last. ``padding="causal"`` pads (k - 1) * d zeros before the
steps, so that y[t] reads x[:t + 1]. Compile with SparseCategoricalCrossentropy(from_logits=True).
"""

from __future__ import annotations

import keras
from keras import layers


def temporal_block(x, filters: int, kernel_size: int, dilation_rate: int):
    """ReLU(causal Conv1D_d(x)) + shortcut, shortcut = x or a 1x1 Conv1D (channels differ).

    Shapes: x (B, L, C_in) -> (B, L, filters).
    """
    out = layers.Conv1D(filters, kernel_size, padding="causal", dilation_rate=dilation_rate)(x)
    out = layers.ReLU()(out)
    shortcut = x if x.shape[-1] == filters else layers.Conv1D(filters, 1)(x)
    return layers.Add()([out, shortcut])


def tcn(
    input_shape: tuple[int, int], filters: int = 4, kernel_size: int = 3, dilations=(1, 2, 4), num_classes: int = 3
) -> keras.Model:
    """One temporal block per dilation, GlobalAveragePooling1D, Dense logits."""
    inputs = keras.Input(shape=tuple(input_shape))
    x = inputs
    for d in dilations:
        x = temporal_block(x, filters, kernel_size, d)  # (B, L, F)
    x = layers.GlobalAveragePooling1D()(x)  # (B, F)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="tcn")
