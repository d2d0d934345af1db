"""The convolutional family: a small image classifier, with and without batch normalisation."""

from __future__ import annotations

from scratch.activations import ReLU
from scratch.batchnorm import BatchNorm
from scratch.conv2d import Conv2D
from scratch.dense import Dense
from scratch.flatten import Flatten
from scratch.layer import Layer
from scratch.pooling import MaxPool2D
from scratch.sequential import Sequential


def cnn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
) -> Sequential:
    """[Conv2D -> ReLU -> MaxPool2D] once per entry of ``filters``, then Flatten -> Dense logits.

    Shapes (defaults, input (H, W, C)):
        X: (B, H, W, C) -> (B, H/2, W/2, 8) -> (B, H/4, W/4, 16) -> (B, H/4 * W/4 * 16) -> Z: (B, num_classes)

    Softmax lives in the loss (cross-entropy on logits), not in the model.
    """
    layers: list[Layer] = []
    for width in filters:
        layers += [Conv2D(width, kernel_size, padding=padding), ReLU(), MaxPool2D(pool_size)]
    layers += [Flatten(), Dense(num_classes)]
    return Sequential(layers, input_shape=input_shape)


def cnn_bn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
) -> Sequential:
    """[Conv2D -> BatchNorm -> ReLU -> MaxPool2D] once per entry of ``filters``, then Flatten -> Dense logits.

    The convolutions have no bias: BatchNorm subtracts each channel's mean right
    after, so a bias would cancel exactly in training mode (its gradient is 0) and
    merely duplicate beta in inference mode. The framework versions use
    ``bias=False`` / ``use_bias=False`` to match.
    """
    layers: list[Layer] = []
    for width in filters:
        conv = Conv2D(width, kernel_size, padding=padding, use_bias=False)
        layers += [conv, BatchNorm(), ReLU(), MaxPool2D(pool_size)]
    layers += [Flatten(), Dense(num_classes)]
    return Sequential(layers, input_shape=input_shape)
