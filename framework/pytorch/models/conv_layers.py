"""Single-layer models of the convolutional family in torch.nn.

Images are channels-first, as every torch.nn image module reads them: the model takes
x of shape (B, C, H, W). ``input_shape`` is (H, W, C), the order the scratch and Keras
models take it in, so that the three are called with the same arguments.

Keras' ``padding="same"`` is ``nn.Conv2d(padding="same")`` at stride 1 (it pads as Keras
does, the odd extra row and column after); at stride > 1 torch refuses it, and for pooling
it does not exist, so those use ``framework.pytorch.conv`` (asymmetric padding from the
input size). "valid" is torch's default, no padding.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.conv import (
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Cropping2d,
    MaxPool2d,
    SeparableConv2d,
    torch_transpose_padding,
)
from framework.pytorch.norm import frozen


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def conv2d_module(
    in_channels: int,
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
    groups: int = 1,
) -> nn.Conv2d:
    """The torch convolution for Keras-named arguments: nn.Conv2d, or ``Conv2d`` for "same" at stride > 1."""
    args = dict(dilation=dilation_rate, bias=use_bias, groups=groups)
    if padding == "same" and _pair(strides) != (1, 1):
        return Conv2d(in_channels, filters, kernel_size, strides, padding="same", **args)
    return nn.Conv2d(in_channels, filters, kernel_size, strides, padding=padding, **args)


def conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
    groups: int = 1,
) -> nn.Sequential:
    """One convolution: x (B, C, H, W) -> (B, filters, H_out, W_out); weight (filters, C // groups, kh, kw)."""
    _, _, C = input_shape
    return nn.Sequential(conv2d_module(C, filters, kernel_size, strides, padding, dilation_rate, use_bias, groups))


def depthwise_conv2d(
    input_shape: tuple[int, int, int],
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    depth_multiplier: int = 1,
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
) -> nn.Sequential:
    """Each channel its own ``depth_multiplier`` filters: nn.Conv2d(C, C * m, k, groups=C).

    x (B, C, H, W) -> (B, C * m, H_out, W_out), output channel c * m + k; weight (C * m, 1, kh, kw).
    """
    _, _, C = input_shape
    args = dict(stride=strides, dilation=dilation_rate, bias=use_bias, groups=C)
    if padding == "same" and _pair(strides) != (1, 1):
        return nn.Sequential(Conv2d(C, C * depth_multiplier, kernel_size, padding="same", **args))
    return nn.Sequential(nn.Conv2d(C, C * depth_multiplier, kernel_size, padding=padding, **args))


def separable_conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    depth_multiplier: int = 1,
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
) -> nn.Sequential:
    """A depthwise nn.Conv2d(groups=C, bias=False), then a 1x1 nn.Conv2d: ``SeparableConv2d``.

    x (B, C, H, W) -> (B, filters, H_out, W_out); depthwise.weight (C * m, 1, kh, kw),
    pointwise.weight (filters, C * m, 1, 1), pointwise.bias (filters,).
    """
    _, _, C = input_shape
    return nn.Sequential(
        SeparableConv2d(
            C,
            filters,
            kernel_size,
            stride=strides,
            padding=padding,
            dilation=dilation_rate,
            depth_multiplier=depth_multiplier,
            bias=use_bias,
        )
    )


def conv2d_transpose(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    output_padding: int | tuple[int, int] | None = None,
    use_bias: bool = True,
) -> nn.Sequential:
    """One transposed convolution: x (B, C, H, W) -> (B, filters, H_out, W_out); weight (C, filters, kh, kw).

    Keras' output size (``padding``, ``output_padding``) as nn.ConvTranspose2d's ``padding`` (cut from both
    ends) and ``output_padding`` (appended at the end) where those express it; where Keras cuts one row
    more at the end than at the start (k - stride odd), ``ConvTranspose2d`` crops explicitly.
    """
    _, _, C = input_shape
    torch_args = torch_transpose_padding(kernel_size, strides, padding, output_padding)
    if torch_args is None:
        return nn.Sequential(ConvTranspose2d(C, filters, kernel_size, strides, padding, output_padding, bias=use_bias))
    pad, extra = torch_args
    return nn.Sequential(
        nn.ConvTranspose2d(C, filters, kernel_size, strides, padding=pad, output_padding=extra, bias=use_bias)
    )


def conv1d(
    input_shape: tuple[int, int],
    filters: int,
    kernel_size: int = 3,
    strides: int = 1,
    padding: str = "valid",
    dilation_rate: int = 1,
    use_bias: bool = True,
) -> nn.Sequential:
    """One convolution along the steps: x (B, C, L) -> (B, filters, L_out); weight (filters, C, k).

    ``input_shape`` is (L, C), as Keras takes it; nn.Conv1d reads the channels first. "causal"
    (Keras only) and "same" at stride > 1 pad explicitly (``framework.pytorch.conv.Conv1d``).
    """
    _, C = input_shape
    if padding == "causal" or (padding == "same" and strides != 1):
        conv = Conv1d(C, filters, kernel_size, strides, padding=padding, dilation=dilation_rate, bias=use_bias)
    else:
        conv = nn.Conv1d(C, filters, kernel_size, strides, padding=padding, dilation=dilation_rate, bias=use_bias)
    return nn.Sequential(conv)


def maxpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> nn.Sequential:
    """One max pooling: x (B, C, H, W) -> (B, C, H_out, W_out); "same" pads with -inf."""
    if padding == "same":
        return nn.Sequential(MaxPool2d(pool_size, strides, padding="same"))
    return nn.Sequential(nn.MaxPool2d(pool_size, strides))


def avgpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
) -> nn.Sequential:
    """One average pooling: x (B, C, H, W) -> (B, C, H_out, W_out); "same" averages the real cells only."""
    if padding == "same":
        return nn.Sequential(AvgPool2d(pool_size, strides, padding="same"))
    return nn.Sequential(nn.AvgPool2d(pool_size, strides))


def zero_padding2d(input_shape: tuple[int, int, int], padding=((1, 1), (1, 1))) -> nn.Sequential:
    """Zero rows and columns around each map: x (B, C, H, W) -> (B, C, top + H + bottom, left + W + right).

    ``padding`` is ((top, bottom), (left, right)) as Keras writes it; nn.ZeroPad2d takes
    (left, right, top, bottom), the last axis first (torch/nn/modules/padding.py).
    """
    (top, bottom), (left, right) = padding
    return nn.Sequential(nn.ZeroPad2d((left, right, top, bottom)))


def cropping2d(input_shape: tuple[int, int, int], cropping=((1, 0), (2, 1))) -> nn.Sequential:
    """Rows and columns cut from each map: x (B, C, H, W) -> (B, C, H - top - bottom, W - left - right).

    ``cropping`` is ((top, bottom), (left, right)) as Keras writes it. torch has no cropping module:
    ``Cropping2d`` is ``x[:, :, top:H - bottom, left:W - right]`` as one.
    """
    return nn.Sequential(Cropping2d(cropping))


def batch_norm_2d(
    channels: int,
    epsilon: float | None = None,
    momentum: float | None = None,
    center: bool = True,
    scale: bool = True,
) -> nn.BatchNorm2d:
    """nn.BatchNorm2d from Keras-named arguments; None leaves torch's own default.

    torch's momentum weighs the NEW batch statistic (new = (1 - m) * old + m * batch,
    torch/nn/modules/batchnorm.py), Keras' weighs the OLD one (new = m * old + (1 - m) * batch,
    keras/src/layers/normalization/batch_normalization.py): torch m = 1 - Keras momentum.
    Defaults: eps 1e-5 / momentum 0.1 in torch, epsilon 1e-3 / momentum 0.99 in Keras.
    torch's ``affine`` is gamma and beta together: neither is ``affine=False``; one of them
    keeps the other frozen at its identity value (weight 1 for scale=False, bias 0 for
    center=False; framework/pytorch/norm.py).
    """
    kwargs = {}
    if epsilon is not None:
        kwargs["eps"] = epsilon
    if momentum is not None:
        kwargs["momentum"] = 1.0 - momentum
    if not (center or scale):
        return nn.BatchNorm2d(channels, affine=False, **kwargs)
    absent = [name for name, present in (("weight", scale), ("bias", center)) if not present]
    return frozen(nn.BatchNorm2d(channels, **kwargs), *absent)


def batchnorm(
    input_shape: tuple[int, int, int],
    epsilon: float | None = None,
    momentum: float | None = None,
    center: bool = True,
    scale: bool = True,
) -> nn.Sequential:
    """One BatchNorm2d over the channels: x (B, C, H, W) -> (B, C, H, W)."""
    _, _, C = input_shape
    return nn.Sequential(batch_norm_2d(C, epsilon, momentum, center, scale))


class ScaledResidual(nn.Module):
    """x + scale * up(x), up a 1x1 convolution keeping the channels: InceptionResNetV2's residual join.

    x (B, C, H, W) -> (B, C, H, W). ``torch.add(x, branch, alpha=scale)`` is Keras'
    ``CustomScaleLayer(scale)([x, branch])`` (keras/src/applications/inception_resnet_v2.py) in one call.
    """

    def __init__(self, channels: int, scale: float) -> None:
        super().__init__()
        self.up = nn.Conv2d(channels, channels, 1)
        self.scale = scale

    def forward(self, x):
        return torch.add(x, self.up(x), alpha=self.scale)


def scaled_add(input_shape: tuple[int, int, int], scale: float = 0.17) -> nn.Module:
    """One scaled residual over (H, W, C) images, read channels-first."""
    _, _, C = input_shape
    return ScaledResidual(C, scale)
