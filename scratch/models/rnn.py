"""The recurrent family: a sequence classifier per cell, and a per-step sequence model."""

from __future__ import annotations

from scratch.dense import Dense
from scratch.gru import GRU
from scratch.lstm import LSTM
from scratch.sequential import Sequential
from scratch.simple_rnn import SimpleRNN


def rnn_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> Sequential:
    """Logits from the last hidden state: X (B, T, F) -> SimpleRNN -> h_T (B, H) -> Dense -> (B, K)."""
    return Sequential([SimpleRNN(units), Dense(num_classes)], input_shape=input_shape)


def lstm_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> Sequential:
    """Logits from the last hidden state: X (B, T, F) -> LSTM -> h_T (B, H) -> Dense -> (B, K)."""
    return Sequential([LSTM(units), Dense(num_classes)], input_shape=input_shape)


def lstm_seq(input_shape: tuple[int, int], units: int = 16, output_units: int = 4) -> Sequential:
    """One output per step: X (B, T, F) -> LSTM (every h_t) -> (B, T, H) -> Dense per step -> (B, T, O)."""
    return Sequential([LSTM(units, return_sequences=True), Dense(output_units)], input_shape=input_shape)


def gru_classifier(
    input_shape: tuple[int, int], units: int = 16, num_classes: int = 5, reset_after: bool = True
) -> Sequential:
    """Logits from the last hidden state: X (B, T, F) -> GRU -> h_T (B, H) -> Dense -> (B, K)."""
    return Sequential([GRU(units, reset_after=reset_after), Dense(num_classes)], input_shape=input_shape)
