"""A causal self-attention classifier written with the Keras functional API, (6, 8) sequences.

use_causal_mask=True lets step t attend steps s <= t only. `parity port
examples/causal_attention_keras.py:build --to torch` writes the torch mask, True where a step may
NOT attend (the opposite polarity).
"""

import keras
from keras import layers


def build() -> keras.Model:
    inputs = keras.Input(shape=(6, 8))
    x = layers.LayerNormalization(epsilon=1e-5, name="norm")(inputs)
    x = layers.MultiHeadAttention(2, 4, name="attn")(x, x, use_causal_mask=True)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="causal_attention")
