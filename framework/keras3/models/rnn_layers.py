"""Single recurrent layers in Keras 3 (batch-first like every Keras layer)."""

from __future__ import annotations

import keras
from keras import layers


def simple_rnn(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> keras.Sequential:
    """SimpleRNN (tanh): x (B, T, F) -> (B, T, H) or (B, H)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.SimpleRNN(units, use_bias=use_bias, return_sequences=return_sequences),
        ]
    )


def lstm(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> keras.Sequential:
    """LSTM: x (B, T, F) -> (B, T, H) or (B, H)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.LSTM(units, use_bias=use_bias, return_sequences=return_sequences),
        ]
    )


def gru(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    reset_after: bool = True,
) -> keras.Sequential:
    """GRU: x (B, T, F) -> (B, T, H) or (B, H); reset_after=True is Keras' default and nn.GRU's form."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.GRU(units, use_bias=use_bias, return_sequences=return_sequences, reset_after=reset_after),
        ]
    )


def bidirectional_lstm(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> keras.Sequential:
    """Bidirectional LSTM, merge_mode="concat": x (B, T, F) -> (B, T, 2H) or (B, 2H)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Bidirectional(
                layers.LSTM(units, use_bias=use_bias, return_sequences=return_sequences), merge_mode="concat"
            ),
        ]
    )


def bidirectional_gru(
    input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True
) -> keras.Sequential:
    """Bidirectional GRU (reset_after=True, nn.GRU's form), merge_mode="concat": x (B, T, F) -> (B, T, 2H) or (B, 2H)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Bidirectional(
                layers.GRU(units, use_bias=use_bias, return_sequences=return_sequences), merge_mode="concat"
            ),
        ]
    )
