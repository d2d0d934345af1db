"""One ConvNeXt block in torch.nn, as ConvNeXt's own torch code writes it (facebookresearch/ConvNeXt,
models/convnext.py, ``Block``), and a single LayerScale.

The depthwise convolution reads NCHW; LayerNorm and the pointwise MLP (nn.Linear) act on the channels,
so the block permutes to NHWC, applies them and the layer scale, and permutes back before the
residual add. ``input_shape`` is (H, W, C), the order the scratch and Keras models take it in.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.layer_scale import LayerScale


class ConvNeXtBlock(nn.Module):
    """y = x + gamma * Linear(GELU(Linear(LayerNorm(dwconv(x))))), the MLP on the channels-last map.

    Shapes:
        x, y: (B, C, H, W)
        dwconv.weight: (C, 1, k, k);  pwconv1: C -> expansion * C;  pwconv2: expansion * C -> C
        gamma: (C,), initialised to ``layer_scale_init_value``
    """

    def __init__(self, dim: int, kernel_size: int = 7, expansion: int = 4, layer_scale_init_value: float = 1e-6) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size, padding="same", groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)  # Keras' ConvNeXt passes epsilon=1e-6 (torch's default is 1e-5)
        self.pwconv1 = nn.Linear(dim, expansion * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(expansion * dim, dim)
        self.gamma = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x)  # (B, C, H, W)
        y = y.permute(0, 2, 3, 1)  # (B, H, W, C): LayerNorm and Linear act on the last axis
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))  # (B, H, W, C)
        y = self.gamma * y
        return x + y.permute(0, 3, 1, 2)  # (B, C, H, W)


def convnext_block(
    input_shape: tuple[int, int, int], kernel_size: int = 7, expansion: int = 4, layer_scale_init_value: float = 1e-6
) -> ConvNeXtBlock:
    """One block on x (B, C, H, W)."""
    return ConvNeXtBlock(input_shape[-1], kernel_size, expansion, layer_scale_init_value)


def layer_scale(input_shape: tuple[int, ...], init_values: float = 1e-6) -> nn.Sequential:
    """One LayerScale on a channels-last input (B, ..., C): x * weight, weight (C,)."""
    return nn.Sequential(LayerScale(input_shape[-1], init_values))
