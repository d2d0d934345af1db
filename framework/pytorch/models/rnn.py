"""The recurrent family in torch.nn: a sequence classifier per cell, and a per-step sequence model.

Inputs are batch-first (B, T, F), so every recurrent module is built with
``batch_first=True`` (torch's default is sequence-first, (T, B, F)).
"""

from __future__ import annotations

from torch import nn

from framework.pytorch.recurrent import GRUResetBefore, RNNLayer


def rnn_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> nn.Sequential:
    """Logits from the last hidden state: nn.RNN -> h_T (B, H) -> nn.Linear -> (B, K); nn.CrossEntropyLoss."""
    _, F = input_shape
    return nn.Sequential(RNNLayer(nn.RNN(F, units, batch_first=True)), nn.Linear(units, num_classes))


def lstm_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> nn.Sequential:
    """nn.LSTM (batch_first) -> last step -> Linear logits; train with nn.CrossEntropyLoss."""
    _, F = input_shape
    return nn.Sequential(RNNLayer(nn.LSTM(F, units, batch_first=True)), nn.Linear(units, num_classes))


def lstm_seq(input_shape: tuple[int, int], units: int = 16, output_units: int = 4) -> nn.Sequential:
    """One output per step: nn.LSTM (every h_t) -> (B, T, H) -> nn.Linear per step -> (B, T, O); nn.MSELoss."""
    _, F = input_shape
    return nn.Sequential(
        RNNLayer(nn.LSTM(F, units, batch_first=True), return_sequences=True), nn.Linear(units, output_units)
    )


def gru_classifier(
    input_shape: tuple[int, int], units: int = 16, num_classes: int = 5, reset_after: bool = True
) -> nn.Sequential:
    """Logits from the last hidden state: GRU -> h_T (B, H) -> nn.Linear -> (B, K); nn.CrossEntropyLoss.

    nn.GRU is Keras' reset_after=True; reset_after=False needs GRUResetBefore.
    """
    _, F = input_shape
    gru = nn.GRU(F, units, batch_first=True) if reset_after else GRUResetBefore(F, units, batch_first=True)
    return nn.Sequential(RNNLayer(gru), nn.Linear(units, num_classes))
