"""The convolutional family in torch.nn: a small image classifier, with and without BatchNorm.

Input is channels-last, (B, H, W, C), the layout of the other implementations; each
image module is wrapped in ``ChannelsLast`` and takes and returns NHWC. Flatten
permutes to NCHW first, so the flat order is torch's (C, H, W): the converter
permutes the rows of the following Linear layer (parity.convert.dense, ``flatten_order``).
Train with nn.CrossEntropyLoss on the logits.
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.conv import Conv2d, MaxPool2d
from framework.pytorch.layout import ChannelsLast, flatten
from framework.pytorch.models.conv_layers import batch_norm_2d


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _features_out(input_shape, filters, kernel_size, padding, pool_size) -> int:
    """C*H*W after the conv blocks: "same" keeps H, "valid" loses k - 1, each pool divides (floor)."""
    H, W = input_shape[0], input_shape[1]
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(pool_size)
    for _ in filters:
        if padding == "valid":
            H, W = H - kh + 1, W - kw + 1
        H, W = (H - ph) // ph + 1, (W - pw) // pw + 1
    return H * W * filters[-1]


def cnn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
) -> nn.Sequential:
    """[Conv2d -> ReLU -> MaxPool2d] per entry of ``filters``, then Flatten -> Linear logits."""
    layers: list[nn.Module] = []
    C_in = input_shape[2]
    for width in filters:
        layers += [
            ChannelsLast(Conv2d(C_in, width, kernel_size, padding=padding)),
            nn.ReLU(),
            ChannelsLast(MaxPool2d(pool_size)),
        ]
        C_in = width
    layers += [flatten(), nn.Linear(_features_out(input_shape, filters, kernel_size, padding, pool_size), num_classes)]
    return nn.Sequential(*layers)


def cnn_bn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
    epsilon: float = 1e-3,
    momentum: float = 0.99,
) -> nn.Sequential:
    """[Conv2d(bias=False) -> BatchNorm2d -> ReLU -> MaxPool2d] per entry of ``filters``, then Flatten -> Linear.

    ``epsilon`` and ``momentum`` have Keras' meaning and defaults (those of the scratch
    model); BatchNorm2d gets eps=epsilon and momentum=1 - momentum.
    """
    layers: list[nn.Module] = []
    C_in = input_shape[2]
    for width in filters:
        layers += [
            ChannelsLast(Conv2d(C_in, width, kernel_size, padding=padding, bias=False)),
            ChannelsLast(batch_norm_2d(width, epsilon, momentum)),
            nn.ReLU(),
            ChannelsLast(MaxPool2d(pool_size)),
        ]
        C_in = width
    layers += [flatten(), nn.Linear(_features_out(input_shape, filters, kernel_size, padding, pool_size), num_classes)]
    return nn.Sequential(*layers)
