"""Transformer models in Keras 3: a sequence classifier and a causal character language model.

Inputs are integer token ids (B, T) (``keras.Input(dtype="int32")``). Positions are a learned
table of shape (T, E) added to the embeddings (``framework.keras3.tensor_ops.AddTable``). Keras has
no encoder block: ``framework.keras3.transformer.TransformerEncoder`` builds it from Keras layers.
Every LayerNormalization passes epsilon 1e-5, torch's (Keras' default is 1e-3).
"""

from __future__ import annotations

import keras
from keras import layers

from framework.keras3.tensor_ops import AddTable
from framework.keras3.transformer import TransformerEncoder


def transformer_classifier(
    input_shape: tuple[int],
    input_dim: int,
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    num_layers: int,
    num_classes: int,
    norm_first: bool = True,
) -> keras.Sequential:
    """Embedding + positions -> encoder blocks -> GlobalAveragePooling1D -> Dense logits.
    Train with SparseCategoricalCrossentropy(from_logits=True)."""
    blocks = [
        TransformerEncoder(num_heads, dim_feedforward, dropout=0.0, layer_norm_eps=1e-5, norm_first=norm_first)
        for _ in range(num_layers)
    ]
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape), dtype="int32"),
            layers.Embedding(input_dim, d_model),  # (B, T, E)
            AddTable(),  # + positions, a (T, E) table
            *blocks,  # (B, T, E)
            layers.GlobalAveragePooling1D(),  # (B, E)
            layers.Dense(num_classes),  # (B, K)
        ]
    )


def seq_transformer(
    input_shape: tuple[int, int],
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    num_layers: int,
    num_classes: int,
    norm_first: bool = True,
) -> keras.Sequential:
    """Dense projection of each step + positions -> encoder blocks -> GlobalAveragePooling1D -> Dense logits."""
    blocks = [
        TransformerEncoder(num_heads, dim_feedforward, dropout=0.0, layer_norm_eps=1e-5, norm_first=norm_first)
        for _ in range(num_layers)
    ]
    return keras.Sequential(
        [
            keras.Input(shape=tuple(input_shape)),
            layers.Dense(d_model),  # (B, T, E)
            AddTable(),  # + positions
            *blocks,
            layers.GlobalAveragePooling1D(),  # (B, E)
            layers.Dense(num_classes),  # (B, K)
        ]
    )


def char_transformer(
    input_shape: tuple[int],
    input_dim: int,
    d_model: int,
    num_heads: int,
    dim_feedforward: int,
    activation: str = "gelu",
) -> keras.Model:
    """Embedding + positions -> one causal pre-norm block -> Dense logits over the vocabulary per step, (B, T, V).
    Train with SparseCategoricalCrossentropy(from_logits=True)."""
    ids = keras.Input(shape=tuple(input_shape), dtype="int32")
    x = layers.Embedding(input_dim, d_model)(ids)  # (B, T, E)
    x = AddTable()(x)  # + positions
    h = layers.LayerNormalization(epsilon=1e-5)(x)
    h = layers.MultiHeadAttention(num_heads, d_model // num_heads)(h, h, use_causal_mask=True)  # step t reads s <= t
    x = layers.Add()([x, h])
    h = layers.LayerNormalization(epsilon=1e-5)(x)
    h = layers.Dense(dim_feedforward)(h)  # (B, T, F)
    h = (layers.Activation("gelu") if activation == "gelu" else layers.ReLU())(h)  # exact GELU
    h = layers.Dense(d_model)(h)  # (B, T, E)
    x = layers.Add()([x, h])
    logits = layers.Dense(input_dim)(x)  # (B, T, V)
    return keras.Model(ids, logits)
