"""Single-layer models of the merge family in torch.nn: a map times its squeeze-and-excitation gate.

Images are channels-first (B, C, H, W); ``input_shape`` stays (H, W, C), the order the scratch
and Keras models take. The gate is (B, C, 1, 1): ``x.mean((2, 3), keepdim=True)`` (MobileNetV3),
or ``x.mean((2, 3))`` viewed as ``(B, C, 1, 1)`` (EfficientNet's Reshape((1, 1, C)): the same
numbers, channels-first). ``x * gate`` broadcasts over H and W, as Keras' Multiply does.
"""

from __future__ import annotations

import torch
from torch import nn


class GatedMap(nn.Module):
    """y = x * sigmoid(mean of x per channel)."""

    def __init__(self, gate: str = "reshape") -> None:
        super().__init__()
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate == "keepdims":
            s = x.mean((2, 3), keepdim=True)  # (B, C, 1, 1)
        else:
            s = x.mean((2, 3))  # (B, C)
            s = s.view(s.size(0), s.size(1), 1, 1)  # (B, C, 1, 1)
        return x * torch.sigmoid(s)  # (B, C, H, W) * (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"gate={self.gate!r}"


def multiply(input_shape: tuple[int, int, int], gate: str = "reshape") -> GatedMap:
    return GatedMap(gate)
