"""The recurrent family in Keras 3: a sequence classifier per cell, and a per-step sequence model."""

from __future__ import annotations

import keras
from keras import layers


def rnn_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> keras.Sequential:
    """Logits from the last hidden state: SimpleRNN -> (B, H) -> Dense -> (B, K); SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layers.SimpleRNN(units), layers.Dense(num_classes)])


def lstm_classifier(input_shape: tuple[int, int], units: int = 16, num_classes: int = 5) -> keras.Sequential:
    """LSTM (last state) -> Dense logits; SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape)), layers.LSTM(units), layers.Dense(num_classes)])


def lstm_seq(input_shape: tuple[int, int], units: int = 16, output_units: int = 4) -> keras.Sequential:
    """One output per step: LSTM(return_sequences=True) -> (B, T, H) -> Dense per step -> (B, T, O); mean squared error."""
    return keras.Sequential(
        [keras.Input(shape=tuple(input_shape)), layers.LSTM(units, return_sequences=True), layers.Dense(output_units)]
    )


def gru_classifier(
    input_shape: tuple[int, int], units: int = 16, num_classes: int = 5, reset_after: bool = True
) -> keras.Sequential:
    """Logits from the last hidden state: GRU -> (B, H) -> Dense -> (B, K); SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential(
        [keras.Input(shape=tuple(input_shape)), layers.GRU(units, reset_after=reset_after), layers.Dense(num_classes)]
    )
