"""Convolution and pooling in torch with Keras' ``padding="same"``, for any stride.

Keras/TensorFlow's "same" (keras/src/ops/operation_utils.py, TensorFlow's
``GetWindowedOutputSize``), with the dilated kernel extent K = (k - 1) * d + 1::

    out = ceil(size / stride)
    total = max((out - 1) * stride + K - size, 0)
    pad_before = total // 2,   pad_after = total - pad_before

An odd total puts the extra row/column at the bottom/right, and it depends on the
input size. torch's modules take one symmetric ``padding`` fixed at construction, and
``nn.Conv2d(padding="same")`` refuses strides > 1 ("padding='same' is not supported
for strided convolutions", torch/nn/modules/conv.py). So these modules pad
explicitly with ``F.pad``, asymmetrically, from the size of each input. The usual
hand port ``padding=k // 2`` agrees only when the total is even: with stride 2, k = 3
and an even size, Keras pads (0, 1) and ``k // 2`` pads (1, 1), so every window is
shifted by one pixel (divergence case ``same_padding_stride2``).

All modules here are channels-first, (B, C, H, W) or (B, C, L), like the torch.nn modules they extend.
``Conv1d`` adds Keras' "causal" padding, which torch does not have.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def same_padding(size: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis under Keras' "same" rule."""
    K = (k - 1) * dilation + 1
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + K - size, 0)
    return total // 2, total - total // 2


def _pads(x: torch.Tensor, k, stride, dilation=(1, 1)) -> tuple[int, int, int, int]:
    """F.pad's (left, right, top, bottom) for an NCHW tensor."""
    top, bottom = same_padding(x.shape[2], k[0], stride[0], dilation[0])
    left, right = same_padding(x.shape[3], k[1], stride[1], dilation[1])
    return left, right, top, bottom


class Conv2d(nn.Conv2d):
    """nn.Conv2d whose ``padding`` is "valid" or "same" with Keras' meaning for every stride.

    Forward::

        y = conv2d(pad(x, same_padding(H), same_padding(W)), weight) + bias    # "same"
        y = conv2d(x, weight) + bias                                           # "valid"

    Shapes:
        x: (B, C_in, H, W)  ->  y: (B, C_out, H_out, W_out), H_out = ceil(H / stride) for "same"
        weight: (C_out, C_in, kh, kw);  bias: (C_out,)

    Everything else (weight layout, initialisation, dilation, groups: a depthwise convolution is
    groups=in_channels) is nn.Conv2d's.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str = "valid",
        dilation: int | tuple[int, int] = 1,
        bias: bool = True,
        groups: int = 1,
    ) -> None:
        if padding not in ("valid", "same"):
            raise ValueError(f"Conv2d: padding must be 'valid' or 'same', received {padding!r}")
        super().__init__(
            in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation, groups=groups, bias=bias
        )
        self.same = padding == "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same:
            x = F.pad(x, _pads(x, self.kernel_size, self.stride, self.dilation))  # (B, C_in, H + pads, W + pads)
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", padding=same (Keras)" if self.same else "")


class SeparableConv2d(nn.Module):
    """A depthwise convolution, then a 1x1 convolution: Keras' ``SeparableConv2D`` as two nn.Conv2d.

    Forward::

        y = pointwise(depthwise(x))
        depthwise = nn.Conv2d(C, C * m, k, stride, padding, dilation, groups=C, bias=False)
        pointwise = nn.Conv2d(C * m, out_channels, 1, bias=bias)

    Strides, padding and dilation are the depthwise stage's; the only bias is the pointwise one
    (keras/src/layers/convolutional/base_separable_conv.py). ``padding`` is "valid", "same" (Keras'
    meaning at every stride: ``Conv2d`` above pads explicitly where nn.Conv2d refuses) or torch's
    own symmetric int / pair.

    Shapes:
        x: (B, C, H, W)  ->  y: (B, out_channels, H_out, W_out)
        depthwise.weight: (C * m, 1, kh, kw);  pointwise.weight: (out_channels, C * m, 1, 1);  pointwise.bias: (out_channels,)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str | int | tuple[int, int] = "valid",
        dilation: int | tuple[int, int] = 1,
        depth_multiplier: int = 1,
        bias: bool = True,
    ) -> None:
        super().__init__()
        inner = in_channels * depth_multiplier
        args = dict(stride=stride, dilation=dilation, groups=in_channels, bias=False)
        if padding == "same" and _pair(stride) != (1, 1):
            self.depthwise = Conv2d(in_channels, inner, kernel_size, padding="same", **args)
        else:
            self.depthwise = nn.Conv2d(in_channels, inner, kernel_size, padding=padding, **args)
        self.pointwise = nn.Conv2d(inner, out_channels, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))  # (B, C*m, H_out, W_out) -> (B, out_channels, H_out, W_out)


class Cropping2d(nn.Module):
    """y = x[:, :, top:H - bottom, left:W - right]: Keras' ``Cropping2D`` as a module (torch has none).

    In hand-written code the slice is written in ``forward`` (or as ``F.pad`` with negative pads);
    a model generated from a description needs it as a module. ``cropping`` is
    ((top, bottom), (left, right)), as Keras writes it.

    Shapes:
        x: (B, C, H, W)  ->  y: (B, C, H - top - bottom, W - left - right)
    """

    def __init__(self, cropping=((0, 0), (0, 0))) -> None:
        super().__init__()
        (top, bottom), (left, right) = cropping
        self.cropping = ((int(top), int(bottom)), (int(left), int(right)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        (top, bottom), (left, right) = self.cropping
        H, W = x.shape[-2:]
        return x[:, :, top : H - bottom, left : W - right]  # (B, C, H - top - bottom, W - left - right)

    def extra_repr(self) -> str:
        return f"cropping={self.cropping}"


class Conv1d(nn.Conv1d):
    """nn.Conv1d over (B, C, L) whose ``padding`` is Keras' "valid", "same" or "causal", for every stride.

    Forward::

        y = conv1d(pad(x, ((k - 1) * d, 0)), weight) + bias          # "causal": zeros before only
        y = conv1d(pad(x, same_padding(L)), weight) + bias            # "same", Keras' rule
        y = conv1d(x, weight) + bias                                  # "valid"

    torch has no causal padding: nn.Conv1d's ``padding`` is symmetric (torch/nn/modules/conv.py),
    and the symmetric (k - 1) * d // 2 lets y[t] read x[t + 1:] (divergence ``conv1d_causal_padding``).
    Keras pads (k - 1) * d zeros on the left and convolves "valid"
    (keras/src/layers/convolutional/conv1d.py, ``_compute_causal_padding``).

    Shapes:
        x: (B, C_in, L)  ->  y: (B, C_out, L_out);  weight: (C_out, C_in, k);  bias: (C_out,)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: str = "valid",
        dilation: int = 1,
        bias: bool = True,
    ) -> None:
        if padding not in ("valid", "same", "causal"):
            raise ValueError(f"Conv1d: padding must be 'valid', 'same' or 'causal', received {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, dilation=dilation, bias=bias)
        self.keras_padding = padding

    def pads(self, length: int) -> tuple[int, int]:
        """(before, after) zeros along the steps."""
        (k,), (s,), (d,) = self.kernel_size, self.stride, self.dilation
        if self.keras_padding == "causal":
            return (k - 1) * d, 0
        if self.keras_padding == "same":
            return same_padding(length, k, s, d)
        return 0, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.pads(x.shape[-1]))  # (B, C_in, before + L + after)
        return self._conv_forward(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", padding={self.keras_padding} (Keras)"


class _Pool2d(nn.Module):
    """A 2-D pooling with Keras' "valid"/"same" (torch's own _MaxPoolNd and _AvgPoolNd share theirs too).

    Args:
        kernel_size: the pool (Keras' pool_size).
        stride: None means kernel_size (both frameworks' default).
        padding: "valid" or "same".
    """

    def __init__(self, kernel_size, stride=None, padding: str = "valid") -> None:
        super().__init__()
        if padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__}: padding must be 'valid' or 'same', received {padding!r}")
        self.kernel_size = _pair(kernel_size)
        self.stride = self.kernel_size if stride is None else _pair(stride)
        self.padding = padding

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """Max pooling with Keras' "valid"/"same"; "same" pads with -inf, so padding never wins.

    Shapes:
        x: (B, C, H, W)  ->  y: (B, C, H_out, W_out)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "same":
            x = F.pad(x, _pads(x, self.kernel_size, self.stride), value=-math.inf)  # (B, C, Hp, Wp)
        return F.max_pool2d(x, self.kernel_size, self.stride)


class AvgPool2d(_Pool2d):
    """Average pooling with Keras' "valid"/"same": each window averages its real cells only.

    Forward ("same"), with m a ones mask of the input's H x W::

        y = sum_pool(pad(x)) / sum_pool(pad(m))       # computed as a ratio of two avg_pool2d

    nn.AvgPool2d(padding=p) pads symmetrically and, by default (count_include_pad=True),
    divides every window by kh * kw, padded zeros included (torch/nn/modules/pooling.py);
    Keras divides by the number of real cells (divergence case ``avgpool_count_include_pad``).

    Shapes:
        x: (B, C, H, W)  ->  y: (B, C, H_out, W_out)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.padding == "valid":
            return F.avg_pool2d(x, self.kernel_size, self.stride)
        pads = _pads(x, self.kernel_size, self.stride)
        mask = x.new_ones((1, 1, x.shape[2], x.shape[3]))  # (1, 1, H, W): 1 on every real cell
        # (1, 1, H_out, W_out): the share of real cells in each window
        real = F.avg_pool2d(F.pad(mask, pads), self.kernel_size, self.stride)
        return F.avg_pool2d(F.pad(x, pads), self.kernel_size, self.stride) / real


def transpose_crops(size: int, k: int, stride: int, padding: str, output_padding: int | None) -> tuple[int, int]:
    """(before, after) rows cut off the full transposed output (size - 1) * stride + k, by Keras' rule.

    Keras (keras/src/backend/common/backend_utils.py, ``_get_output_shape_given_tf_padding`` and
    ``compute_conv_transpose_output_crops_for_torch``) fixes the output size: "valid" keeps everything
    (plus output_padding, default max(k, stride) - k), "same" gives size * stride (or
    (size - 1) * stride + k % 2 + output_padding). The rest, total, is cut max(total // 2, 0) before
    and the remainder after, the odd row at the end; a negative remainder appends zero rows.
    """
    full = (size - 1) * stride + k
    if padding == "valid":
        out = full + (max(k, stride) - k if output_padding is None else output_padding)
    elif output_padding is None:
        out = size * stride
    else:
        out = (size - 1) * stride + k % 2 + output_padding
    before = max((full - out) // 2, 0)
    return before, full - out - before


def torch_transpose_padding(k, stride, padding: str, output_padding) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """nn.ConvTranspose2d's (padding, output_padding) for Keras' arguments, or None where it has none.

    torch cuts ``padding`` rows from both ends and appends ``output_padding`` (< stride) at the end
    (torch/nn/modules/conv.py, ``ConvTranspose2d``): before = padding, after = padding - output_padding.
    Keras' crops do not depend on the input size, but an odd "same" total (k - stride odd) cuts one
    row more at the end than at the start, which torch cannot.
    """
    pads, extra = [], []
    for axis in range(2):
        op = None if output_padding is None else _pair(output_padding)[axis]
        before, after = transpose_crops(1, _pair(k)[axis], _pair(stride)[axis], padding, op)
        if before - after < 0 or before - after >= _pair(stride)[axis]:
            return None
        pads.append(before)
        extra.append(before - after)
    return tuple(pads), tuple(extra)


class ConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose ``padding`` and ``output_padding`` have Keras' meaning.

    Forward: the full transposed convolution, then Keras' crops (or zero rows), then the bias::

        y = conv_transpose2d(x, weight)                          # (B, C_out, (H - 1)*sh + kh, ...)
        y = pad(y, -crops) + bias                                # negative pads cut, positive append

    For what ``torch_transpose_padding`` can express, nn.ConvTranspose2d(padding, output_padding)
    computes the same; this module covers the rest (an odd "same" total: k = 4, stride 1, say),
    as Keras' own torch backend does (keras/src/backend/torch/nn.py, ``conv_transpose``).

    Shapes:
        x: (B, C_in, H, W)  ->  y: (B, C_out, H_out, W_out);  H_out = H * sh for "same"
        weight: (C_in, C_out, kh, kw);  bias: (C_out,)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: str = "valid",
        output_padding: int | tuple[int, int] | None = None,
        bias: bool = True,
    ) -> None:
        if padding not in ("valid", "same"):
            raise ValueError(f"ConvTranspose2d: padding must be 'valid' or 'same', received {padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, bias=bias)
        self.keras_padding = padding
        self.keras_output_padding = None if output_padding is None else _pair(output_padding)

    def crops(self, H: int, W: int) -> tuple[int, int, int, int]:
        """F.pad's (left, right, top, bottom), negated: the columns and rows to cut."""
        op = self.keras_output_padding or (None, None)
        (kh, kw), (sh, sw) = self.kernel_size, self.stride
        top, bottom = transpose_crops(H, kh, sh, self.keras_padding, op[0])
        left, right = transpose_crops(W, kw, sw, self.keras_padding, op[1])
        return left, right, top, bottom

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose2d(x, self.weight, None, self.stride)  # (B, C_out, (H - 1)*sh + kh, (W - 1)*sw + kw)
        y = F.pad(y, [-c for c in self.crops(x.shape[2], x.shape[3])])  # (B, C_out, H_out, W_out)
        return y if self.bias is None else y + self.bias[:, None, None]

    def extra_repr(self) -> str:
        op = self.keras_output_padding
        keras = f", padding={self.keras_padding} (Keras)" + (f", output_padding={op}" if op else "")
        return super().extra_repr() + keras
