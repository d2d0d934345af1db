"""Stochastic depth: dropout of whole samples (torchvision.ops.StochasticDepth(p, mode="row")).

EfficientNet drops a block's residual branch for a whole sample while training (Keras writes it
``Dropout(rate, noise_shape=(None, 1, 1, 1))``); torch.nn has no layer for it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class StochasticDepth(nn.Module):
    """y = x * m / (1 - p), one m ~ Bernoulli(1 - p) per sample, while training; y = x in inference."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return F.dropout(x, self.p, training=False)  # the identity, as a call the graph capture records
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device)  # (B, 1, 1, 1)
        keep.bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"
