"""Transformer models in torch.nn: a sequence classifier and a causal character language model.

Inputs are integer token ids (B, T) (torch.long). Positions are a learned table, an
``nn.Parameter`` of shape (1, T, E) added to the embeddings (``x + self.pos``). Every block is
batch-first and has no dropout (torch's default 0.1 draws masks no other implementation can read)
and passes ``layer_norm_eps=1e-5`` (Keras' LayerNormalization default is 1e-3).
"""

from __future__ import annotations

import torch
from torch import nn


def encoder_blocks(
    d_model: int, num_heads: int, dim_feedforward: int, num_layers: int, norm_first: bool
) -> nn.TransformerEncoder:
    """num_layers batch-first encoder blocks without dropout, LayerNorm eps 1e-5: (B, T, E) -> (B, T, E)."""
    block = nn.TransformerEncoderLayer(
        d_model,
        num_heads,
        dim_feedforward,
        dropout=0.0,
        layer_norm_eps=1e-5,
        batch_first=True,  # torch's default reads (T, B, E)
        norm_first=norm_first,
    )
    # nn.TransformerEncoder copies the block num_layers times; nested tensors only serve padding masks
    return nn.TransformerEncoder(block, num_layers, enable_nested_tensor=False)


class TransformerClassifier(nn.Module):
    """Logits of the mean encoded step: ids (B, T) -> nn.Embedding + positions (B, T, E) ->
    nn.TransformerEncoder (num_layers blocks, batch_first=True) (B, T, E) -> x.mean(dim=1) (B, E)
    -> nn.Linear (B, K). Train with nn.CrossEntropyLoss."""

    def __init__(
        self,
        input_dim: int,
        steps: int,
        d_model: int,
        num_heads: int,
        dim_feedforward: int,
        num_layers: int,
        num_classes: int,
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(input_dim, d_model)
        self.pos = nn.Parameter(torch.zeros(1, steps, d_model))  # (1, T, E): one learned vector per position
        nn.init.normal_(self.pos, std=0.02)
        self.encoder = encoder_blocks(d_model, num_heads, dim_feedforward, num_layers, norm_first)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids) + self.pos  # (B, T, E)
        x = self.encoder(x)  # (B, T, E)
        return self.fc(x.mean(dim=1))  # (B, E) -> (B, K)


def transformer_classifier(
    input_shape: tuple[int],
    input_dim: int,
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    num_layers: int,
    num_classes: int,
    norm_first: bool = True,
) -> TransformerClassifier:
    """Embedding + positions -> encoder blocks -> mean over the steps -> Linear logits."""
    (steps,) = input_shape
    return TransformerClassifier(
        input_dim, steps, d_model, num_heads, dim_feedforward, num_layers, num_classes, norm_first
    )


class SeqTransformer(nn.Module):
    """TransformerClassifier on feature sequences: x (B, T, F) -> nn.Linear (B, T, E) + positions ->
    nn.TransformerEncoder (B, T, E) -> x.mean(dim=1) (B, E) -> nn.Linear (B, K)."""

    def __init__(
        self,
        steps: int,
        features: int,
        d_model: int,
        num_heads: int,
        dim_feedforward: int,
        num_layers: int,
        num_classes: int,
        norm_first: bool = True,
    ) -> None:
        super().__init__()
        self.proj = nn.Linear(features, d_model)
        self.pos = nn.Parameter(torch.zeros(1, steps, d_model))  # (1, T, E)
        nn.init.normal_(self.pos, std=0.02)
        self.encoder = encoder_blocks(d_model, num_heads, dim_feedforward, num_layers, norm_first)
        self.fc = nn.Linear(d_model, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x) + self.pos  # (B, T, F) -> (B, T, E)
        x = self.encoder(x)  # (B, T, E)
        return self.fc(x.mean(dim=1))  # (B, E) -> (B, K)


def seq_transformer(
    input_shape: tuple[int, int],
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    num_layers: int,
    num_classes: int,
    norm_first: bool = True,
) -> SeqTransformer:
    """Linear projection + positions -> encoder blocks -> mean over the steps -> Linear logits."""
    steps, features = input_shape
    return SeqTransformer(steps, features, d_model, num_heads, dim_feedforward, num_layers, num_classes, norm_first)


class CharTransformer(nn.Module):
    """A causal character language model, its one pre-norm block written out::

        x = E[ids] + P                          # (B, T, E)
        x = x + attn(ln1(x))                    # causal: step t attends steps s <= t
        x = x + ff2(gelu(ff1(ln2(x))))
        logits = fc(x)                          # (B, T, V): the next character at every step

    Train with ``framework.pytorch.losses.CrossEntropyLoss`` (classes on the last axis).
    """

    def __init__(
        self, input_dim: int, steps: int, d_model: int, num_heads: int, dim_feedforward: int, activation: str = "gelu"
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(input_dim, d_model)
        self.pos = nn.Parameter(torch.zeros(1, steps, d_model))  # (1, T, E)
        nn.init.normal_(self.pos, std=0.02)
        self.ln1 = nn.LayerNorm(d_model)  # eps 1e-5
        self.attn = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff1 = nn.Linear(d_model, dim_feedforward)
        self.act = nn.GELU() if activation == "gelu" else nn.ReLU()  # exact GELU, as Keras' "gelu" activation
        self.ff2 = nn.Linear(dim_feedforward, d_model)
        self.fc = nn.Linear(d_model, input_dim)
        # True above the diagonal: torch's boolean attn_mask marks the pairs that may NOT attend
        self.register_buffer("mask", torch.ones(steps, steps, dtype=torch.bool).triu(1), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding(ids) + self.pos  # (B, T, E)
        h = self.ln1(x)
        h, _ = self.attn(h, h, h, attn_mask=self.mask, need_weights=False)  # (B, T, E)
        x = x + h
        x = x + self.ff2(self.act(self.ff1(self.ln2(x))))  # (B, T, F) -> (B, T, E)
        return self.fc(x)  # (B, T, V)


def char_transformer(
    input_shape: tuple[int],
    input_dim: int,
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    activation: str = "gelu",
) -> CharTransformer:
    """Embedding + positions -> one causal pre-norm block -> Linear logits over the vocabulary per step."""
    (steps,) = input_shape
    return CharTransformer(input_dim, steps, d_model, num_heads, dim_feedforward, activation)
