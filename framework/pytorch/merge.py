"""The residual sum, the product (a squeeze-and-excitation gate) and the concatenation as modules, for models built as a graph of modules.

In hand-written torch code these are ``x + y`` and ``torch.cat([x, y], dim=1)`` inside
``forward``; a model generated from a description needs them as modules.
"""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    """y = x_1 + x_2 + ... (all the same shape)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y + x
        return y


class Concatenate(nn.Module):
    """y = torch.cat(xs, dim): dim 1 for NCHW feature maps (the channels), -1 for features."""

    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Multiply(nn.Module):
    """y = x_1 * x_2 * ... (broadcast: a (B, C, 1, 1) gate times a (B, C, H, W) map)."""

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        y = xs[0]
        for x in xs[1:]:
            y = y * x
        return y
