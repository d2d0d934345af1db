"""Single-layer models of the convolutional family in Keras 3 (channels_last, Keras' default)."""

from __future__ import annotations

import keras
from keras import layers

from framework.keras3.merge import ScaledAdd


def conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
    groups: int = 1,
) -> keras.Sequential:
    """One convolution; kernel (kh, kw, C // groups, filters)."""
    conv = layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
        groups=groups,
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), conv])


def depthwise_conv2d(
    input_shape: tuple[int, int, int],
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    depth_multiplier: int = 1,
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
) -> keras.Sequential:
    """Each channel its own ``depth_multiplier`` filters; kernel (kh, kw, C, depth_multiplier)."""
    conv = layers.DepthwiseConv2D(
        kernel_size,
        strides=strides,
        padding=padding,
        depth_multiplier=depth_multiplier,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), conv])


def separable_conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    depth_multiplier: int = 1,
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
) -> keras.Sequential:
    """Depthwise then pointwise; depthwise_kernel (kh, kw, C, m), pointwise_kernel (1, 1, C * m, filters), bias (filters,)."""
    conv = layers.SeparableConv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        depth_multiplier=depth_multiplier,
        dilation_rate=dilation_rate,
        use_bias=use_bias,
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), conv])


def conv2d_transpose(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, int] | None = None,
    use_bias: bool = True,
) -> keras.Sequential:
    """One transposed convolution (upsampling by the stride); kernel (kh, kw, filters, C)."""
    conv = layers.Conv2DTranspose(
        filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding, use_bias=use_bias
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), conv])


def conv1d(
    input_shape: tuple[int, int],
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    padding: str = "valid",
    dilation_rate: int = 1,
    use_bias: bool = True,
) -> keras.Sequential:
    """One convolution along the steps of (B, L, C) sequences; padding "valid", "same" or "causal"."""
    conv = layers.Conv1D(
        filters, kernel_size, strides=strides, padding=padding, dilation_rate=dilation_rate, use_bias=use_bias
    )
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), conv])


def maxpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> keras.Sequential:
    return keras.Sequential(
        [keras.Input(shape=tuple(input_shape)), layers.MaxPooling2D(pool_size, strides=strides, padding=padding)]
    )


def avgpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> keras.Sequential:
    return keras.Sequential(
        [keras.Input(shape=tuple(input_shape)), layers.AveragePooling2D(pool_size, strides=strides, padding=padding)]
    )


def zero_padding2d(input_shape: tuple[int, int, int], padding=((1, 1), (1, 1))) -> keras.Sequential:
    """Zero rows and columns around each map; ``padding`` is ((top, bottom), (left, right))."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layers.ZeroPadding2D(padding)])


def cropping2d(input_shape: tuple[int, int, int], cropping=((1, 0), (2, 1))) -> keras.Sequential:
    """Rows and columns cut from each map; ``cropping`` is ((top, bottom), (left, right))."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layers.Cropping2D(cropping)])


def batch_normalization(
    epsilon: float | None = None,
    momentum: float | None = None,
    center: bool = True,
    scale: bool = True,
) -> layers.BatchNormalization:
    """BatchNormalization with epsilon and momentum passed explicitly; None leaves Keras' default (1e-3, 0.99).

    ``scale=False`` creates no gamma, ``center=False`` no beta.
    """
    kwargs = {k: v for k, v in (("epsilon", epsilon), ("momentum", momentum)) if v is not None}
    return layers.BatchNormalization(center=center, scale=scale, **kwargs)


def batchnorm(
    input_shape: tuple[int, int, int],
    epsilon: float | None = None,
    momentum: float | None = None,
    center: bool = True,
    scale: bool = True,
) -> keras.Sequential:
    bn = batch_normalization(epsilon, momentum, center, scale)
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), bn])


def scaled_add(input_shape: tuple[int, int, int], scale: float = 0.17) -> keras.Model:
    """x + scale * up(x), up a 1x1 convolution keeping the channels (InceptionResNetV2's residual join)."""
    x = keras.Input(shape=tuple(input_shape))
    up = layers.Conv2D(input_shape[-1], 1)(x)
    return keras.Model(x, ScaledAdd(scale)([x, up]))
