"""One ConvNeXt block in Keras 3, as keras.applications writes it (keras/src/applications/convnext.py,
``ConvNeXtBlock`` with drop_path_rate 0), and a single LayerScale. Channels last throughout."""

from __future__ import annotations

import keras
from keras import layers

from framework.keras3.layer_scale import LayerScale


def convnext_block(
    input_shape: tuple[int, int, int], kernel_size: int = 7, expansion: int = 4, layer_scale_init_value: float = 1e-6
) -> keras.Model:
    """inputs + LayerScale(Dense(GELU(Dense(LayerNormalization(Conv2D(groups=C)(inputs)))))): the
    Dense layers and the LayerNormalization act on the channels of the (B, H, W, C) map."""
    C = input_shape[-1]
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(C, kernel_size, padding="same", groups=C)(inputs)  # a depthwise convolution
    x = layers.LayerNormalization(epsilon=1e-6)(x)
    x = layers.Dense(expansion * C)(x)
    x = layers.Activation("gelu")(x)
    x = layers.Dense(C)(x)
    x = LayerScale(layer_scale_init_value, C)(x)
    return keras.Model(inputs, layers.Add()([inputs, x]))


def layer_scale(input_shape: tuple[int, ...], init_values: float = 1e-6) -> keras.Sequential:
    """One LayerScale: inputs * gamma, gamma (C,)."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), LayerScale(init_values, input_shape[-1])])
