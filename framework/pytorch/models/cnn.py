"""The convolutional family in torch.nn: a small image classifier, with and without BatchNorm.

Channels-first, as in any torch CNN: the model takes x of shape (B, C, H, W).
``input_shape`` is (H, W, C), the order the scratch and Keras models take it in. Flatten
therefore runs over (C, H, W), not over Keras' (H, W, C): the weights of the Linear after
it are the Keras kernel with its rows permuted (parity.convert.dense, rule ``flatten_order``).
ReLU is a module of its own after each convolution, as in the other implementations.
Train with nn.CrossEntropyLoss on the logits.
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.models.conv_layers import batch_norm_2d, conv2d_module


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _features_out(input_shape, filters, kernel_size, padding, pool_size) -> int:
    """C*H*W after the conv blocks: "same" keeps H, "valid" loses k - 1, each pool divides (floor)."""
    H, W, _ = input_shape
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(pool_size)
    for _ in filters:
        if padding == "valid":
            H, W = H - kh + 1, W - kw + 1
        H, W = H // ph, W // pw
    return filters[-1] * H * W


def cnn(
    input_shape: tuple[int, int, int],
    filters: tuple[int, ...] = (8, 16),
    kernel_size: int | tuple[int, int] = 3,
    num_classes: int = 10,
    padding: str = "same",
    pool_size: int | tuple[int, int] = 2,
) -> nn.Sequential:
    """[Conv2d -> ReLU -> MaxPool2d] per entry of ``filters``, then Flatten -> Linear logits.

    Shapes: x (B, C, H, W) -> logits (B, num_classes).
    """
    layers: list[nn.Module] = []
    C_in = input_shape[2]
    for width in filters:
        layers += [conv2d_module(C_in, width, kernel_size, padding=padding), nn.ReLU(), nn.MaxPool2d(pool_size)]
        C_in = width
    layers += [
        nn.Flatten(),  # (B, C * H * W), channel slowest
        nn.Linear(_features_out(input_shape, filters, kernel_size, padding, pool_size), num_classes),
    ]
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

    Shapes: x (B, C, H, W) -> logits (B, num_classes).
    """
    layers: list[nn.Module] = []
    C_in = input_shape[2]
    for width in filters:
        layers += [
            conv2d_module(C_in, width, kernel_size, padding=padding, use_bias=False),
            batch_norm_2d(width, epsilon, momentum),
            nn.ReLU(),
            nn.MaxPool2d(pool_size),
        ]
        C_in = width
    layers += [
        nn.Flatten(),  # (B, C * H * W), channel slowest
        nn.Linear(_features_out(input_shape, filters, kernel_size, padding, pool_size), num_classes),
    ]
    return nn.Sequential(*layers)
