"""Multi-head self- and cross-attention in torch.nn, returning what Keras' MultiHeadAttention returns.

nn.MultiheadAttention is called ``attn(query, key, value)`` and returns ``(output, weights)``
(torch/nn/modules/activation.py); self-attention passes one sequence three times, keeps the
output and asks for no weights. Inputs are batch-first (B, T, E): the module is built with
``batch_first=True`` (torch's default reads (T, B, E)).
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.pooling import MaskedGlobalAvgPool1d


class SelfAttention(nn.Module):
    """Z = softmax(Q K^T / sqrt(d)) V, per head, projected back to E; Q, K, V all from x.

    A causal mask lets step t attend steps s <= t only. torch's boolean ``attn_mask`` is True
    where attention is NOT allowed: the strict upper triangle.

    Shapes:
        x: (B, T, E)  ->  (B, T, E),  E = num_heads * key_dim
        attn.in_proj_weight: (3E, E);  attn.in_proj_bias: (3E,)
        attn.out_proj.weight: (E, E);  attn.out_proj.bias: (E,)
    """

    def __init__(self, embed_dim: int, num_heads: int, use_bias: bool = True, causal: bool = False) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, bias=use_bias, batch_first=True)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = None
        if self.causal:
            T = x.shape[1]
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # (T, T): True = masked out
        out, _ = self.attn(x, x, x, attn_mask=mask, need_weights=False)  # (B, T, E)
        return out


def multi_head_attention(
    input_shape: tuple[int, int], num_heads: int, key_dim: int, use_bias: bool = True, causal: bool = False
) -> SelfAttention:
    """Self-attention: x (B, T, E) -> (B, T, E); torch needs E = num_heads * key_dim."""
    _, E = input_shape
    if num_heads * key_dim != E:
        raise ValueError(f"nn.MultiheadAttention needs num_heads * key_dim == E: {num_heads} * {key_dim} != {E}")
    return SelfAttention(E, num_heads, use_bias, causal)


class CrossAttention(nn.Module):
    """Z = softmax(Q K^T / sqrt(d)) V, per head, projected back to E; Q from x, K and V from a
    context C = x W_c + b_c, a dense branch of the same input.

    nn.MultiheadAttention reads keys and values of ``kdim = vdim = context_dim`` features; where
    they differ from E it keeps separate q/k/v_proj_weight matrices instead of in_proj_weight.

    Shapes:
        x: (B, T, E)  ->  (B, T, E),  E = num_heads * key_dim
        context.weight: (E_c, E);  C: (B, T, E_c)
        attn.q_proj_weight: (E, E);  attn.k_proj_weight, attn.v_proj_weight: (E, E_c)  (E_c != E)
    """

    def __init__(
        self, embed_dim: int, context_dim: int, num_heads: int, use_bias: bool = True, causal: bool = False
    ) -> None:
        super().__init__()
        self.context = nn.Linear(embed_dim, context_dim)
        kv = {} if context_dim == embed_dim else {"kdim": context_dim, "vdim": context_dim}
        self.attn = nn.MultiheadAttention(embed_dim, num_heads, bias=use_bias, batch_first=True, **kv)
        self.causal = causal

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.context(x)  # (B, T, E_c)
        mask = None
        if self.causal:
            T, S = x.shape[1], c.shape[1]
            mask = torch.ones(T, S, dtype=torch.bool, device=x.device).triu(1)  # (T, S): True = masked out
        out, _ = self.attn(x, c, c, attn_mask=mask, need_weights=False)  # (B, T, E): key = value = c
        return out


def cross_attention(
    input_shape: tuple[int, int],
    num_heads: int,
    key_dim: int,
    context_dim: int,
    use_bias: bool = True,
    causal: bool = False,
) -> CrossAttention:
    """Cross-attention: queries x (B, T, E), keys and values a dense branch (B, T, context_dim)."""
    _, E = input_shape
    if num_heads * key_dim != E:
        raise ValueError(f"nn.MultiheadAttention needs num_heads * key_dim == E: {num_heads} * {key_dim} != {E}")
    return CrossAttention(E, context_dim, num_heads, use_bias, causal)


class PaddedAttention(nn.Module):
    """Token ids (B, T), 0 = padding -> self-attention over the tokens -> their mean -> (B, num_classes).

    The padded keys are masked with ``key_padding_mask=(tokens == 0)`` (True = ignored). A padded
    query still attends the tokens (Keras masks it too; only the tokens' outputs agree), and the mean
    reads the tokens only.

    Shapes:
        tokens: (B, T) integers  ->  (B, num_classes)
        embedding.weight: (input_dim, E), E = num_heads * key_dim
    """

    def __init__(
        self, input_dim: int, num_heads: int, key_dim: int, num_classes: int, use_bias: bool = True, causal: bool = False
    ) -> None:
        super().__init__()
        E = num_heads * key_dim
        self.embedding = nn.Embedding(input_dim, E)
        self.attn = nn.MultiheadAttention(E, num_heads, bias=use_bias, batch_first=True)
        self.pool = MaskedGlobalAvgPool1d()
        self.fc = nn.Linear(E, num_classes)
        self.causal = causal

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embedding(tokens)  # (B, T, E)
        mask = None
        if self.causal:
            T = tokens.shape[1]
            mask = torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1)  # (T, T): True = masked out
        x, _ = self.attn(x, x, x, key_padding_mask=(tokens == 0), attn_mask=mask, need_weights=False)  # (B, T, E)
        return self.fc(self.pool(x, tokens))  # (B, E) -> (B, num_classes)


def padded_attention(
    input_shape: tuple[int],
    input_dim: int,
    num_heads: int,
    key_dim: int,
    num_classes: int,
    use_bias: bool = True,
    causal: bool = False,
) -> PaddedAttention:
    """Token ids (B, T), 0 = padding -> self-attention over the tokens -> their mean -> (B, num_classes)."""
    return PaddedAttention(input_dim, num_heads, key_dim, num_classes, use_bias, causal)
