"""The embedding family in Keras 3: one embedding, and a bag-of-embeddings text classifier.

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
