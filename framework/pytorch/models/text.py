"""The embedding family in torch.nn: one embedding, a bag-of-embeddings text classifier, a text LSTM,
a character language model.

Inputs are integer token ids (B, T) (torch.long). ``nn.Embedding.weight`` is (input_dim,
output_dim), exactly Keras' ``embeddings``. No ``padding_idx``: Keras has none, and with it the
row of that id would never train here while it trains in Keras (divergence embedding_padding_idx).
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.pooling import GlobalAvgPool1d


def embedding(input_shape: tuple[int], input_dim: int, output_dim: int) -> nn.Sequential:
    """z = W[x]: ids (B, T) -> (B, T, output_dim)."""
    return nn.Sequential(nn.Embedding(input_dim, output_dim))


def text_classifier(input_shape: tuple[int], input_dim: int, output_dim: int, num_classes: int) -> nn.Sequential:
    """Logits of the mean embedding: ids (B, T) -> (B, T, E) -> mean over T (B, E) -> (B, num_classes).
    Train with nn.CrossEntropyLoss."""
    return nn.Sequential(
        nn.Embedding(input_dim, output_dim),  # (B, T, E)
        GlobalAvgPool1d(),  # x.mean(dim=1): (B, E)
        nn.Linear(output_dim, num_classes),
    )


class TextLSTM(nn.Module):
    """Logits from both directions' final states: ids (B, T) -> nn.Embedding (B, T, E) ->
    nn.LSTM(bidirectional=True) (B, T, 2H) -> [forward h_{T-1} | reverse h_0] (B, 2H) -> nn.Linear.

    ``out[:, -1]`` would pair the forward final state with the reverse direction's FIRST step
    (divergence bidirectional_last_step); Keras' Bidirectional(LSTM) returns each final state.
    """

    def __init__(self, input_dim: int, output_dim: int, units: int, num_classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(input_dim, output_dim)
        self.lstm = nn.LSTM(output_dim, units, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(2 * units, num_classes)
        self.units = units

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(ids))  # (B, T, 2H)
        H = self.units
        final = torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1)  # (B, 2H)
        return self.fc(final)  # (B, K)


def text_lstm(input_shape: tuple[int], input_dim: int, output_dim: int, units: int, num_classes: int) -> TextLSTM:
    """Embedding -> bidirectional LSTM -> Linear logits; train with nn.CrossEntropyLoss."""
    return TextLSTM(input_dim, output_dim, units, num_classes)


class CharLSTM(nn.Module):
    """A character language model: ids (B, T) -> nn.Embedding (B, T, E) -> nn.LSTM (B, T, H) ->
    nn.Linear (B, T, V), the logits of the next character at every step.

    Train with ``framework.pytorch.losses.CrossEntropyLoss`` (classes on the last axis);
    nn.CrossEntropyLoss itself would read the classes of (B, T, V) on dim 1.
    """

    def __init__(self, input_dim: int, output_dim: int, units: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(input_dim, output_dim)
        self.lstm = nn.LSTM(output_dim, units, batch_first=True)
        self.fc = nn.Linear(units, input_dim)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embedding(ids))  # (B, T, H)
        return self.fc(out)  # (B, T, V)


def char_lstm(input_shape: tuple[int], input_dim: int, output_dim: int, units: int) -> CharLSTM:
    """Embedding -> LSTM (every step) -> Linear logits over the vocabulary."""
    return CharLSTM(input_dim, output_dim, units)
