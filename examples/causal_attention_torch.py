"""A causal self-attention classifier in torch.nn, batch-first (B, 6, 8) sequences.

The causal mask is a buffer, True strictly above the diagonal (torch: True = may NOT attend).
`parity port examples/causal_attention_torch.py:Net --to keras --input-shape 6,8` writes Keras'
use_causal_mask=True.
"""

import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, T: int = 6, E: int = 8, heads: int = 2, classes: int = 3) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(E)
        self.attn = nn.MultiheadAttention(E, heads, batch_first=True)
        self.register_buffer("mask", torch.ones(T, T, dtype=torch.bool).triu(1))  # (T, T): True = masked out
        self.fc = nn.Linear(E, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)  # (B, T, E)
        x = self.attn(x, x, x, attn_mask=self.mask, need_weights=False)[0]  # (B, T, E)
        return self.fc(x.mean(dim=1))  # (B, classes)
