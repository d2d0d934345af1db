"""Multi-head self- and cross-attention in Keras 3: the layer called with (query, value)."""

from __future__ import annotations

import keras
from keras import layers


def multi_head_attention(
    input_shape: tuple[int, int], num_heads: int, key_dim: int, use_bias: bool = True, causal: bool = False
) -> keras.Model:
    """Self-attention: x (B, T, E) -> (B, T, E); ``causal`` lets step t attend steps s <= t only."""
    x = keras.Input(shape=tuple(input_shape))
    z = layers.MultiHeadAttention(num_heads, key_dim, use_bias=use_bias)(x, x, use_causal_mask=causal)
    return keras.Model(x, z)


def cross_attention(
    input_shape: tuple[int, int],
    num_heads: int,
    key_dim: int,
    context_dim: int,
    use_bias: bool = True,
    causal: bool = False,
) -> keras.Model:
    """Cross-attention: queries x (B, T, E), keys and values (key defaults to value) a dense branch c."""
    x = keras.Input(shape=tuple(input_shape))
    c = layers.Dense(context_dim)(x)  # (B, T, context_dim)
    z = layers.MultiHeadAttention(num_heads, key_dim, use_bias=use_bias)(x, c, use_causal_mask=causal)
    return keras.Model(x, z)


def padded_attention(
    input_shape: tuple[int],
    input_dim: int,
    num_heads: int,
    key_dim: int,
    num_classes: int,
    use_bias: bool = True,
    causal: bool = False,
) -> keras.Model:
    """Token ids (B, T), 0 = padding -> self-attention over the tokens -> their mean -> (B, num_classes).

    ``mask_zero=True`` makes the Embedding propagate ``ids != 0``: MultiHeadAttention masks the padded
    keys (and the padded queries), GlobalAveragePooling1D averages the tokens only.
    """
    ids = keras.Input(shape=tuple(input_shape), dtype="int32")
    x = layers.Embedding(input_dim, num_heads * key_dim, mask_zero=True)(ids)  # (B, T, E), mask (B, T)
    x = layers.MultiHeadAttention(num_heads, key_dim, use_bias=use_bias)(x, x, use_causal_mask=causal)  # (B, T, E)
    x = layers.GlobalAveragePooling1D()(x)  # (B, E): the mean over the tokens
    return keras.Model(ids, layers.Dense(num_classes)(x))
