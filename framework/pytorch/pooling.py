"""Global pooling as people write it: ``x.mean(dim=1)`` over the steps of batch-first
sequences (B, T, F), ``x.mean(dim=(2, 3))`` over the pixels of (B, C, H, W) images.

torch.nn's global poolings (``nn.AdaptiveAvgPool1d(1)``) read channels-first (B, F, T), and
``nn.AdaptiveAvgPool2d(1)`` keeps a (C, 1, 1) map that a ``nn.Flatten()`` must follow. These
modules are the one line, named.
"""

from __future__ import annotations

import torch
from torch import nn


class GlobalAvgPool1d(nn.Module):
    """z = mean over the steps: x (B, T, F) -> (B, F), or (B, 1, F) with keepdims.

    ``dim=2`` pools a channels-first map (B, C, L), as a Conv1d leaves it: ``x.mean(dim=2)``
    -> (B, C), or (B, C, 1) with keepdims.
    """

    def __init__(self, keepdims: bool = False, dim: int = 1) -> None:
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"GlobalAvgPool1d: dim must be 1 (B, T, F) or 2 (B, C, L), received {dim!r}")
        self.keepdims = keepdims
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dim, keepdim=self.keepdims)  # (B, F); keepdims: (B, 1, F) or (B, C, 1)

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}, dim={self.dim}"


class MaskedGlobalAvgPool1d(nn.Module):
    """z = mean over the tokens: x (B, T, F) and ids (B, T), 0 = padding -> (B, F).

    Keras' GlobalAveragePooling1D with the mask Embedding(mask_zero=True) propagates: padded steps
    are left out of the sum and of the count.
    """

    def forward(self, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        keep = (ids != 0).unsqueeze(-1).to(x.dtype)  # (B, T, 1): 1 on the tokens
        return (x * keep).sum(dim=1) / keep.sum(dim=1)  # (B, F)


class GlobalMaxPool1d(nn.Module):
    """z = max over the steps: x (B, T, F) -> (B, F), or (B, 1, F) with keepdims.

    ``dim=2`` pools a channels-first map (B, C, L), as a Conv1d leaves it: ``x.amax(dim=2)``
    -> (B, C), or (B, C, 1) with keepdims.
    """

    def __init__(self, keepdims: bool = False, dim: int = 1) -> None:
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"GlobalMaxPool1d: dim must be 1 (B, T, F) or 2 (B, C, L), received {dim!r}")
        self.keepdims = keepdims
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dim, keepdim=self.keepdims)  # (B, F); keepdims: (B, 1, F) or (B, C, 1)

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}, dim={self.dim}"


class GlobalAvgPool2d(nn.Module):
    """z = mean over every pixel: x (B, C, H, W) -> (B, C); with keepdims this is nn.AdaptiveAvgPool2d(1)."""

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3), keepdim=self.keepdims)  # (B, C) or (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}"


class GlobalMaxPool2d(nn.Module):
    """z = max over every pixel: x (B, C, H, W) -> (B, C); with keepdims this is nn.AdaptiveMaxPool2d(1)."""

    def __init__(self, keepdims: bool = False) -> None:
        super().__init__()
        self.keepdims = keepdims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=(2, 3), keepdim=self.keepdims)  # (B, C) or (B, C, 1, 1)

    def extra_repr(self) -> str:
        return f"keepdims={self.keepdims}"
