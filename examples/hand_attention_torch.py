"""A transformer block written by hand, as large model libraries write it: no nn.MultiheadAttention.

A learned position table added as it is, one nn.Linear making queries, keys and values, heads
split with view/transpose, scores scaled and causally masked with masked_fill, an MLP with GELU,
and the mean over the steps. `parity port examples/hand_attention_torch.py:HandAttention --to keras
--input-shape 6,8` ports it; every raw operation is a layer kind of parity/layers/tensor_ops.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class HandAttention(nn.Module):
    """(B, T, E) token features -> (B, classes) scores."""

    def __init__(self, T: int = 6, E: int = 8, heads: int = 2, classes: int = 3) -> None:
        super().__init__()
        self.heads = heads
        self.pos = nn.Parameter(torch.randn(1, T, E) * 0.02)  # learned position table, used directly
        self.norm = nn.LayerNorm(E)
        self.qkv = nn.Linear(E, 3 * E)
        self.proj = nn.Linear(E, E)
        self.register_buffer("mask", torch.tril(torch.ones(T, T, dtype=torch.bool)))  # True: may attend
        self.norm2 = nn.LayerNorm(E)
        self.fc = nn.Linear(E, 2 * E)
        self.fc2 = nn.Linear(2 * E, E)
        self.out = nn.Linear(E, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, E = x.shape
        H = self.heads
        D = E // H
        x = x + self.pos
        h = self.norm(x)
        q, k, v = self.qkv(h).chunk(3, dim=-1)  # each (B, T, E)
        q = q.view(B, T, H, D).transpose(1, 2)  # (B, H, T, D)
        k = k.view(B, T, H, D).transpose(1, 2)
        v = v.view(B, T, H, D).transpose(1, 2)
        s = (q @ k.transpose(-2, -1)) * D**-0.5  # (B, H, T, T)
        s = s.masked_fill(~self.mask, float("-inf"))
        a = s.softmax(-1) @ v  # (B, H, T, D)
        x = x + self.proj(a.transpose(1, 2).reshape(B, T, E))  # (B, T, E)
        x = x + self.fc2(F.gelu(self.fc(self.norm2(x))))
        return self.out(x.mean(1))  # (B, classes)
