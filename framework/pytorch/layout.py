"""Channels-last tensors through channels-first torch modules.

Why this exists: the images of this project travel channels-last, (B, H, W, C), as
in Keras and in ``scratch/`` (NHWC makes each window's channel run contiguous). Every
torch.nn image module (Conv2d, MaxPool2d, BatchNorm2d, ...) reads channels-first,
(B, C, H, W) (torch/nn/modules/conv.py). A torch port of a channels-last pipeline
must therefore permute somewhere; here each image module is wrapped so that it takes
and returns NHWC, which keeps every layer's output comparable with the other
implementations, layer by layer. The permutations are views, so they cost nothing
until an op needs contiguous memory.

Forgetting the permutation fails loudly in most shapes (Conv2d complains that the
input has H channels), but not when H happens to equal C: then the model runs and
mixes rows with channels (divergence case ``channels_last_input``).
"""

from __future__ import annotations

import torch
from torch import nn


class ToChannelsFirst(nn.Module):
    """(B, H, W, C) -> (B, C, H, W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)  # (B, C, H, W)


class ToChannelsLast(nn.Module):
    """(B, C, H, W) -> (B, H, W, C)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)  # (B, H, W, C)


class ChannelsLast(nn.Module):
    """Run an NCHW module on NHWC tensors: y = to_nhwc(module(to_nchw(x))).

    The wrapped module's state_dict keys gain the prefix ``module.``
    (``module.weight``, ``module.running_var``, ...): converters write into those.

    Args:
        module: any torch module that takes and returns (B, C, H, W).
        permute: False hands the tensor over as it is, which is what a port that
            forgets the layout does. It exists for the divergence case
            ``channels_last_input`` and keeps the state_dict keys unchanged, so the
            same converter loads both versions.

    Shapes:
        x: (B, H, W, C_in)  ->  y: (B, H_out, W_out, C_out)
    """

    def __init__(self, module: nn.Module, permute: bool = True) -> None:
        super().__init__()
        self.module = module
        self.permute = permute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.permute:
            return self.module(x)
        y = self.module(x.permute(0, 3, 1, 2))  # (B, C_out, H_out, W_out)
        return y.permute(0, 2, 3, 1)  # (B, H_out, W_out, C_out)

    def extra_repr(self) -> str:
        return "" if self.permute else "permute=False"


def flatten(permute: bool = True) -> nn.Module:
    """torch's Flatten of a channels-last input: permute to NCHW, then nn.Flatten.

    The flat index then runs over (C, H, W), as in any torch CNN, not over (H, W, C)
    as in Keras and scratch; the next Linear layer's weight rows are permuted by the
    converter (parity.convert.dense, rule ``flatten_order``).

    Shapes:
        x: (B, H, W, C)  ->  (B, C*H*W)
    """
    if not permute:
        return nn.Flatten()
    return nn.Sequential(ToChannelsFirst(), nn.Flatten())
