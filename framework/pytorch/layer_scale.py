"""LayerScale in torch.nn: torch has no such module; ConvNeXt's torch code holds the parameter itself."""

from __future__ import annotations

import torch
from torch import nn


class LayerScale(nn.Module):
    """y = x * weight: each channel of the last axis scaled by its own learned factor.

    facebookresearch/ConvNeXt writes this inline in its block (``self.gamma = nn.Parameter(
    layer_scale_init_value * torch.ones(dim))`` and ``x = self.gamma * x`` on the NHWC map);
    this module is that parameter and that product, named as Keras names the layer.

    Shapes:
        x, y: (B, ..., C)   # channels last: ConvNeXt's block applies it after permute(0, 2, 3, 1)
        weight: (C,), initialised to ``init_values`` (Keras' LayerScale.gamma)
    """

    def __init__(self, projection_dim: int, init_values: float) -> None:
        super().__init__()
        self.projection_dim, self.init_values = int(projection_dim), float(init_values)
        self.weight = nn.Parameter(torch.full((self.projection_dim,), self.init_values))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.weight

    def extra_repr(self) -> str:
        return f"{self.projection_dim}, init_values={self.init_values}"
