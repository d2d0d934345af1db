"""A small ResNet in torch.nn: a conv-BN-ReLU stem, two residual blocks, global average pooling.

Channels-first, as in any torch CNN (torchvision's resnet.py has the same block): the model takes
x of shape (B, C, H, W); ``input_shape`` is (H, W, C), the order the scratch and Keras models
take it in. The block's convolutions have no bias (the BatchNorm right after subtracts each
channel's mean), and the residual is ``out + shortcut`` in ``forward``.

Keras' "same" at stride 2 pads (0, 1) on an even map; nn.Conv2d(padding=1) pads (1, 1) and
reads other pixels, so the strided 3x3 convolution is ``framework.pytorch.conv.Conv2d``
(divergence ``same_padding_stride2``). BatchNorm2d's momentum is 1 - Keras' (0.99 -> 0.01),
its eps Keras' 1e-3. Train with nn.CrossEntropyLoss on the logits.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.models.conv_layers import batch_norm_2d, conv2d_module

EPSILON, MOMENTUM = 1e-3, 0.99  # Keras' BatchNormalization defaults, passed to torch explicitly


class BasicBlock(nn.Module):
    """out = ReLU(BN(conv3x3(ReLU(BN(conv3x3_s(x))))) + shortcut(x)), shortcut = x or BN(conv1x1_s(x)).

    Shapes:
        x: (B, C_in, H, W)  ->  (B, C_out, ceil(H / s), ceil(W / s))
        conv1.weight: (C_out, C_in, 3, 3);  conv2.weight: (C_out, C_out, 3, 3)
        shortcut[0].weight: (C_out, C_in, 1, 1), where stride != 1 or C_in != C_out
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv2d_module(in_channels, out_channels, 3, stride, padding="same", use_bias=False)
        self.bn1 = batch_norm_2d(out_channels, EPSILON, MOMENTUM)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding="same", bias=False)
        self.bn2 = batch_norm_2d(out_channels, EPSILON, MOMENTUM)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),  # (B, C_out, H / s, W / s)
                batch_norm_2d(out_channels, EPSILON, MOMENTUM),
            )
        self.relu2 = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.bn1(self.conv1(x)))  # (B, C_out, H / s, W / s)
        out = self.bn2(self.conv2(out))
        return self.relu2(out + self.shortcut(x))


class ResNetSmall(nn.Module):
    """stem (conv3x3 -> BN -> ReLU), block1 (identity shortcut), block2 (stride 2, 1x1 projection),
    mean over the pixels, Linear logits: x (B, C, H, W) -> (B, num_classes)."""

    def __init__(self, in_channels: int, filters: int = 4, filters_2: int = 6, num_classes: int = 3) -> None:
        super().__init__()
        self.stem_conv = nn.Conv2d(in_channels, filters, 3, padding="same", bias=False)
        self.stem_bn = batch_norm_2d(filters, EPSILON, MOMENTUM)
        self.stem_relu = nn.ReLU()
        self.block1 = BasicBlock(filters, filters)
        self.block2 = BasicBlock(filters, filters_2, stride=2)
        self.fc = nn.Linear(filters_2, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem_relu(self.stem_bn(self.stem_conv(x)))  # (B, F1, H, W)
        x = self.block1(x)  # (B, F1, H, W)
        x = self.block2(x)  # (B, F2, H / 2, W / 2)
        return self.fc(x.mean(dim=(2, 3)))  # (B, F2) -> (B, K)


def resnet_small(
    input_shape: tuple[int, int, int], filters: int = 4, filters_2: int = 6, num_classes: int = 3
) -> ResNetSmall:
    """The small ResNet for (H, W, C) images, read channels-first; train with nn.CrossEntropyLoss."""
    return ResNetSmall(input_shape[2], filters, filters_2, num_classes)
