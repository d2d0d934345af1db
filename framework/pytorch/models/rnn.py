"""The recurrent family in torch.nn: a sequence classifier per cell, and a per-step sequence model.

Each model is a small module, as in the torch tutorials: the recurrent module (built with
``batch_first=True``: inputs are (B, T, F), torch's default is (T, B, F)) returns
``(out, state)``, ``forward`` keeps ``out`` (every step) or ``out[:, -1]`` (the last step),
and an nn.Linear head reads it.
"""

from __future__ import annotations

import torch
from torch import nn

from framework.pytorch.recurrent import GRUResetBefore


class RNNClassifier(nn.Module):
    """Logits from the last hidden state: x (B, T, F) -> nn.RNN -> h_T (B, H) -> nn.Linear -> (B, K)."""

    def __init__(self, input_size: int, units: int = 16, num_classes: int = 5) -> None:
        super().__init__()
        self.rnn = nn.RNN(input_size, units, batch_first=True)
        self.fc = nn.Linear(units, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)  # (B, T, H)
        return self.fc(out[:, -1])  # (B, H) -> (B, K)


class LSTMClassifier(nn.Module):
    """Logits from the last hidden state: x (B, T, F) -> nn.LSTM -> h_T (B, H) -> nn.Linear -> (B, K)."""

    def __init__(self, input_size: int, units: int = 16, num_classes: int = 5) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, units, batch_first=True)
        self.fc = nn.Linear(units, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.fc(out[:, -1])  # (B, H) -> (B, K)


class LSTMSeq(nn.Module):
    """One output per step: x (B, T, F) -> nn.LSTM (every h_t) -> (B, T, H) -> nn.Linear per step -> (B, T, O)."""

    def __init__(self, input_size: int, units: int = 16, output_units: int = 4) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size, units, batch_first=True)
        self.fc = nn.Linear(units, output_units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)  # (B, T, H)
        return self.fc(out)  # (B, T, O)


class GRUClassifier(nn.Module):
    """Logits from the last hidden state: x (B, T, F) -> GRU -> h_T (B, H) -> nn.Linear -> (B, K).

    nn.GRU is Keras' reset_after=True; Keras' reset_after=False has no torch layer and uses
    ``GRUResetBefore`` (framework/pytorch/recurrent.py).
    """

    def __init__(self, input_size: int, units: int = 16, num_classes: int = 5, reset_after: bool = True) -> None:
        super().__init__()
        cell = nn.GRU if reset_after else GRUResetBefore
        self.gru = cell(input_size, units, batch_first=True)
        self.fc = nn.Linear(units, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.gru(x)  # (B, T, H)
        return self.fc(out[:, -1])  # (B, H) -> (B, K)


def rnn_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> RNNClassifier:
    """SimpleRNN -> last state -> Linear logits; train with nn.CrossEntropyLoss."""
    _, F = input_shape
    return RNNClassifier(F, units, num_classes)


def lstm_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> LSTMClassifier:
    """LSTM -> last state -> Linear logits; train with nn.CrossEntropyLoss."""
    _, F = input_shape
    return LSTMClassifier(F, units, num_classes)


def lstm_seq(input_shape: tuple[int, int], units: int = 16, output_units: int = 4) -> LSTMSeq:
    """LSTM (every step) -> Linear per step; train with nn.MSELoss."""
    _, F = input_shape
    return LSTMSeq(F, units, output_units)


def gru_classifier(
    input_shape: tuple[int, int], units: int = 16, num_classes: int = 5, reset_after: bool = True
) -> GRUClassifier:
    """GRU -> last state -> Linear logits; train with nn.CrossEntropyLoss."""
    _, F = input_shape
    return GRUClassifier(F, units, num_classes, reset_after)
