"""The embedding family in Keras 3: one embedding, a bag-of-embeddings text classifier, a text LSTM,
a character language model.

Inputs are integer token ids (B, T) (``keras.Input(dtype="int32")``). The ``embeddings`` table is
(input_dim, output_dim), exactly torch's ``nn.Embedding.weight``.
"""

from __future__ import annotations

import keras
from keras import layers


def embedding(input_shape: tuple[int], input_dim: int, output_dim: int) -> keras.Sequential:
    """z = W[x]: ids (B, T) -> (B, T, output_dim)."""
    return keras.Sequential([keras.Input(shape=tuple(input_shape), dtype="int32"), layers.Embedding(input_dim, output_dim)])


def text_classifier(input_shape: tuple[int], input_dim: int, output_dim: int, num_classes: int) -> keras.Sequential:
    """Logits of the mean embedding: ids (B, T) -> (B, T, E) -> (B, E) -> (B, num_classes).
    Train with SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), dtype="int32"),
            layers.Embedding(input_dim, output_dim),  # (B, T, E)
            layers.GlobalAveragePooling1D(),  # (B, E)
            layers.Dense(num_classes),
        ]
    )


def text_lstm(input_shape: tuple[int], input_dim: int, output_dim: int, units: int, num_classes: int) -> keras.Sequential:
    """Embedding -> Bidirectional(LSTM) (both final states, (B, 2H)) -> Dense logits.
    Train with SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), dtype="int32"),
            layers.Embedding(input_dim, output_dim),  # (B, T, E)
            layers.Bidirectional(layers.LSTM(units)),  # (B, 2H)
            layers.Dense(num_classes),
        ]
    )


def char_lstm(input_shape: tuple[int], input_dim: int, output_dim: int, units: int) -> keras.Sequential:
    """A character language model: Embedding -> LSTM(return_sequences=True) -> Dense logits of the
    next character at every step, (B, T, V). Train with SparseCategoricalCrossentropy(from_logits=True)."""
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), dtype="int32"),
            layers.Embedding(input_dim, output_dim),  # (B, T, E)
            layers.LSTM(units, return_sequences=True),  # (B, T, H)
            layers.Dense(input_dim),  # (B, T, V)
        ]
    )
