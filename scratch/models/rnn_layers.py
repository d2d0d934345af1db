"""Single recurrent layers as models, for the single-layer cases."""

from __future__ import annotations

from scratch.gru import GRU
from scratch.lstm import LSTM
from scratch.sequential import Sequential
from scratch.simple_rnn import SimpleRNN


def simple_rnn(input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True) -> Sequential:
    """X (B, T, F) -> (B, T, H) or (B, H)."""
    return Sequential([SimpleRNN(units, return_sequences=return_sequences, use_bias=use_bias)], input_shape=input_shape)


def lstm(input_shape: tuple[int, int], units: int, return_sequences: bool = False, use_bias: bool = True) -> Sequential:
    """X (B, T, F) -> (B, T, H) or (B, H)."""
    return Sequential([LSTM(units, return_sequences=return_sequences, use_bias=use_bias)], input_shape=input_shape)


def gru(
    input_shape: tuple[int, int],
    units: int,
    return_sequences: bool = False,
    use_bias: bool = True,
    reset_after: bool = True,
) -> Sequential:
    """X (B, T, F) -> (B, T, H) or (B, H)."""
    layer = GRU(units, return_sequences=return_sequences, use_bias=use_bias, reset_after=reset_after)
    return Sequential([layer], input_shape=input_shape)
