"""A small ResNet in Keras 3 (functional API): a conv-BN-ReLU stem, two residual blocks, global average pooling.

Channels-last throughout (Keras' default ``image_data_format``). The block's convolutions have
no bias (the BatchNormalization right after subtracts each channel's mean); the residual is
``layers.Add()([out, shortcut])``. Compile with SparseCategoricalCrossentropy(from_logits=True).
"""

from __future__ import annotations

import keras
from keras import layers


def basic_block(x, filters: int, strides: int = 1):
    """ReLU(BN(Conv3x3(ReLU(BN(Conv3x3_s(x))))) + shortcut), shortcut = x or BN(Conv1x1_s(x)).

    Shapes: x (B, H, W, C_in) -> (B, ceil(H / s), ceil(W / s), filters).
    """
    out = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    out = layers.BatchNormalization()(out)
    out = layers.ReLU()(out)
    out = layers.Conv2D(filters, 3, padding="same", use_bias=False)(out)
    out = layers.BatchNormalization()(out)
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)  # (B, H / s, W / s, filters)
        shortcut = layers.BatchNormalization()(shortcut)
    out = layers.Add()([out, shortcut])
    return layers.ReLU()(out)


def resnet_small(
    input_shape: tuple[int, int, int], filters: int = 4, filters_2: int = 6, num_classes: int = 3
) -> keras.Model:
    """stem, block1 (identity shortcut), block2 (stride 2, 1x1 projection), GlobalAveragePooling2D, Dense logits."""
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(inputs)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)  # (B, H, W, F1)
    x = basic_block(x, filters)  # (B, H, W, F1)
    x = basic_block(x, filters_2, strides=2)  # (B, H / 2, W / 2, F2)
    x = layers.GlobalAveragePooling2D()(x)  # (B, F2)
    outputs = layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name="resnet_small")
