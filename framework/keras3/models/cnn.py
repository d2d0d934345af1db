"""The convolutional family in Keras 3: a small image classifier, with and without BatchNorm.

Channels-last throughout (Keras' default ``image_data_format``), so Flatten's order is
(H, W, C), the scratch order. ReLU is a separate layer after each convolution, so that
every model is the same stack of layers in all three implementations.
Compile with SparseCategoricalCrossentropy(from_logits=True).
"""

from __future__ import annotations

import keras
from keras import layers


def cnn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
) -> keras.Sequential:
    """[Conv2D -> ReLU -> MaxPooling2D] per entry of ``filters``, then Flatten -> Dense logits."""
    stack = [keras.Input(shape=tuple(input_shape))]
    for width in filters:
        stack += [layers.Conv2D(width, kernel_size, padding=padding), layers.ReLU(), layers.MaxPooling2D(pool_size)]
    stack += [layers.Flatten(), layers.Dense(num_classes)]
    return keras.Sequential(stack)


def cnn_bn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
    epsilon: float = 1e-3,
    momentum: float = 0.99,
) -> keras.Sequential:
    """[Conv2D(use_bias=False) -> BatchNormalization -> ReLU -> MaxPooling2D] per entry of ``filters``, then Flatten -> Dense."""
    stack = [keras.Input(shape=tuple(input_shape))]
    for width in filters:
        stack += [
            layers.Conv2D(width, kernel_size, padding=padding, use_bias=False),
            layers.BatchNormalization(epsilon=epsilon, momentum=momentum),
            layers.ReLU(),
            layers.MaxPooling2D(pool_size),
        ]
    stack += [layers.Flatten(), layers.Dense(num_classes)]
    return keras.Sequential(stack)
