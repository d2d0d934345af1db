"""A temporal convolutional network in torch.nn: causal dilated Conv1d blocks with residual adds.

nn.Conv1d reads channels-first (B, C, L); ``input_shape`` is (L, C), as Keras takes it. torch
has no causal padding (nn.Conv1d's padding is symmetric), so each block's convolution is
``framework.pytorch.conv.Conv1d(padding="causal")``: (k - 1) * d zeros before the steps only,
so that y[t] reads x[:t + 1] (divergence ``conv1d_causal_padding``). The mean over the steps is
``x.mean(dim=2)`` on the (B, C, L) map. Train with nn.CrossEntropyLoss on the logits.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.conv import Conv1d


class TemporalBlock(nn.Module):
    """out = ReLU(causal_conv_d(x)) + shortcut(x), shortcut = x or a 1x1 Conv1d (channels differ).

    Shapes:
        x: (B, C_in, L)  ->  (B, C_out, L)
        conv.weight: (C_out, C_in, k);  conv.bias: (C_out,)
        shortcut.weight: (C_out, C_in, 1), where C_in != C_out
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int) -> None:
        super().__init__()
        self.conv = Conv1d(in_channels, out_channels, kernel_size, padding="causal", dilation=dilation)
        self.relu = nn.ReLU()
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Conv1d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x)) + self.shortcut(x)  # (B, C_out, L)


class TCN(nn.Module):
    """One TemporalBlock per dilation, mean over the steps, Linear logits: x (B, C, L) -> (B, num_classes)."""

    def __init__(
        self, in_channels: int, filters: int = 4, kernel_size: int = 3, dilations=(1, 2, 4), num_classes: int = 3
    ) -> None:
        super().__init__()
        channels = [in_channels] + [filters] * len(dilations)
        self.blocks = nn.Sequential(
            *(TemporalBlock(channels[i], filters, kernel_size, d) for i, d in enumerate(dilations))
        )
        self.fc = nn.Linear(filters, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(x)  # (B, F, L)
        return self.fc(x.mean(dim=2))  # (B, F) -> (B, K)


def tcn(
    input_shape: tuple[int, int], filters: int = 4, kernel_size: int = 3, dilations=(1, 2, 4), num_classes: int = 3
) -> TCN:
    """The TCN for (L, C) sequences, read channels-first; train with nn.CrossEntropyLoss."""
    return TCN(input_shape[1], filters, kernel_size, tuple(dilations), num_classes)
