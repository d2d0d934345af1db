"""Single-layer models of the convolutional family, so the harness can test each layer alone."""

from __future__ import annotations

from scratch.batchnorm import BatchNorm
from scratch.conv2d import Conv2D
from scratch.pooling import AvgPool2D, MaxPool2D
from scratch.sequential import Sequential


def conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
) -> Sequential:
    """One Conv2D over (H, W, C) images."""
    layer = Conv2D(
        filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate, use_bias=use_bias
    )
    return Sequential([layer], input_shape=input_shape)


def maxpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> Sequential:
    """One MaxPool2D."""
    return Sequential([MaxPool2D(pool_size, strides=strides, padding=padding)], input_shape=input_shape)


def avgpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> Sequential:
    """One AvgPool2D."""
    return Sequential([AvgPool2D(pool_size, strides=strides, padding=padding)], input_shape=input_shape)


def batchnorm(
    input_shape: tuple[int, int, int],
    epsilon: float | None = None,
    momentum: float | None = None,
) -> Sequential:
    """One BatchNorm over the last (channel) axis; None means the default (Keras': 1e-3, 0.99)."""
    kwargs = {k: v for k, v in (("epsilon", epsilon), ("momentum", momentum)) if v is not None}
    return Sequential([BatchNorm(**kwargs)], input_shape=input_shape)
