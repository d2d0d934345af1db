"""Single-layer models of the convolutional family in torch.nn, on channels-last (NHWC) input.

Each image module is wrapped in ``ChannelsLast`` (framework/pytorch/layout.py), so
that it takes and returns NHWC tensors like the other implementations.

Two arguments exist only to build the naive ports of the divergence cases:

- ``torch_padding``: how ``padding="same"`` is ported. "keras" (the default) pads
  asymmetrically from the input size, as Keras does (framework/pytorch/conv.py);
  "k//2" is the usual hand port ``nn.Conv2d(..., padding=k // 2)`` /
  ``nn.AvgPool2d(k, s, padding=k // 2)`` with torch's other defaults.
- ``torch_data_format``: "channels_last" (the default) permutes NHWC to NCHW around
  the module; "channels_first" hands the NHWC array to the NCHW module as it is.
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.conv import AvgPool2d, Conv2d, MaxPool2d
from framework.pytorch.layout import ChannelsLast


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _check(torch_padding: str, torch_data_format: str) -> None:
    if torch_padding not in ("keras", "k//2"):
        raise ValueError(f"torch_padding must be 'keras' or 'k//2', received {torch_padding!r}")
    if torch_data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"torch_data_format must be 'channels_last' or 'channels_first', received {torch_data_format!r}"
        )


def conv2d(
    input_shape: tuple[int, int, int],
    filters: int,
    kernel_size: int | tuple[int, int] = 3,
    strides: int | tuple[int, int] = 1,
    padding: str = "valid",
    dilation_rate: int | tuple[int, int] = 1,
    use_bias: bool = True,
    torch_padding: str = "keras",
    torch_data_format: str = "channels_last",
) -> nn.Sequential:
    _check(torch_padding, torch_data_format)
    C_in = input_shape[2]
    if padding == "same" and torch_padding == "k//2":
        (kh, kw), (dh, dw) = _pair(kernel_size), _pair(dilation_rate)
        conv = nn.Conv2d(
            C_in,
            filters,
            kernel_size,
            strides,
            padding=(dh * (kh // 2), dw * (kw // 2)),
            dilation=dilation_rate,
            bias=use_bias,
        )
    else:
        conv = Conv2d(C_in, filters, kernel_size, strides, padding=padding, dilation=dilation_rate, bias=use_bias)
    return nn.Sequential(ChannelsLast(conv, permute=torch_data_format == "channels_last"))


def maxpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
    torch_padding: str = "keras",
) -> nn.Sequential:
    _check(torch_padding, "channels_last")
    if padding == "same" and torch_padding == "k//2":
        pool = nn.MaxPool2d(pool_size, strides, padding=tuple(k // 2 for k in _pair(pool_size)))
    else:
        pool = MaxPool2d(pool_size, strides, padding=padding)
    return nn.Sequential(ChannelsLast(pool))


def avgpool2d(
    input_shape: tuple[int, int, int],
    pool_size: int | tuple[int, int] = 2,
    strides: int | tuple[int, int] | None = None,
    padding: str = "valid",
    torch_padding: str = "keras",
) -> nn.Sequential:
    _check(torch_padding, "channels_last")
    if padding == "same" and torch_padding == "k//2":
        # torch's default count_include_pad=True: padded zeros count in the mean
        pool = nn.AvgPool2d(pool_size, strides, padding=tuple(k // 2 for k in _pair(pool_size)))
    else:
        pool = AvgPool2d(pool_size, strides, padding=padding)
    return nn.Sequential(ChannelsLast(pool))


def batch_norm_2d(channels: int, epsilon: float | None = None, momentum: float | None = None) -> nn.BatchNorm2d:
    """nn.BatchNorm2d from Keras-named arguments; None leaves torch's own default.

    torch's momentum weighs the NEW batch statistic (new = (1 - m) * old + m * batch,
    torch/nn/modules/batchnorm.py), Keras' weighs the OLD one (new = m * old + (1 - m) * batch,
    keras/src/layers/normalization/batch_normalization.py): torch m = 1 - Keras momentum.
    Defaults: eps 1e-5 / momentum 0.1 in torch, epsilon 1e-3 / momentum 0.99 in Keras.
    """
    kwargs = {}
    if epsilon is not None:
        kwargs["eps"] = epsilon
    if momentum is not None:
        kwargs["momentum"] = 1.0 - momentum
    return nn.BatchNorm2d(channels, **kwargs)


def batchnorm(
    input_shape: tuple[int, int, int],
    epsilon: float | None = None,
    momentum: float | None = None,
) -> nn.Sequential:
    return nn.Sequential(ChannelsLast(batch_norm_2d(input_shape[2], epsilon, momentum)))
