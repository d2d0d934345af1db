"""A transformer encoder block in Keras 3, written from Keras' own layers.

Keras has no encoder layer (keras_hub's ``TransformerEncoder`` is another package); this is
torch.nn.TransformerEncoderLayer's block (torch/nn/modules/transformer.py, ``forward``,
``_sa_block``, ``_ff_block``) with MultiHeadAttention, Dropout, Add, LayerNormalization and two
Dense layers. It is one layer, so a model reads it as one block.
"""

from __future__ import annotations

import keras
from keras import layers


class TransformerEncoder(keras.layers.Layer):
    """Self-attention and a feed-forward network, each a residual branch with a layer norm.

    Post-norm (``norm_first=False``)::

        y = LN1(x + Dropout(MHA(x, x)))
        z = LN2(y + Dropout(Dense2(Dropout(Dense1(y)))))      # Dense1 applies the activation

    Pre-norm (``norm_first=True``)::

        y = x + Dropout(MHA(LN1(x), LN1(x)))
        z = y + Dropout(Dense2(Dropout(Dense1(LN2(y)))))

    The attention weights get the same dropout rate (torch passes ``dropout`` to its
    nn.MultiheadAttention). ``layer_norm_eps`` defaults to LayerNormalization's own 1e-3;
    torch's block uses 1e-5.

    Input shape:
        (B, T, E), E divisible by ``num_heads`` (head size E / num_heads).

    Output shape:
        (B, T, E).

    Args:
        num_heads: attention heads.
        dim_feedforward: hidden width of the feed-forward network.
        dropout: rate of every dropout in the block.
        activation: "relu" or "gelu" (exact).
        layer_norm_eps: epsilon of both LayerNormalization layers.
        norm_first: normalise before each branch instead of after the sum.
        use_bias: biases in every projection, and beta in both norms.
    """

    def __init__(
        self,
        num_heads: int,
        dim_feedforward: int,
        dropout: float = 0.0,
        activation: str = "relu",
        layer_norm_eps: float = 1e-3,
        norm_first: bool = False,
        use_bias: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        if activation not in ("relu", "gelu"):
            raise ValueError(f"TransformerEncoder: activation must be 'relu' or 'gelu', received {activation!r}")
        self.num_heads, self.dim_feedforward, self.dropout = num_heads, dim_feedforward, dropout
        self.activation, self.layer_norm_eps = activation, layer_norm_eps
        self.norm_first, self.use_bias = norm_first, use_bias

    def build(self, input_shape) -> None:
        E = input_shape[-1]
        if E % self.num_heads:
            raise ValueError(f"TransformerEncoder: embedding size {E} is not divisible by num_heads={self.num_heads}")
        self.attention = layers.MultiHeadAttention(
            self.num_heads, E // self.num_heads, dropout=self.dropout, use_bias=self.use_bias, name="attention"
        )
        self.norm1 = layers.LayerNormalization(epsilon=self.layer_norm_eps, center=self.use_bias, name="norm1")
        self.ff1 = layers.Dense(self.dim_feedforward, activation=self.activation, use_bias=self.use_bias, name="ff1")
        self.ff2 = layers.Dense(E, use_bias=self.use_bias, name="ff2")
        self.norm2 = layers.LayerNormalization(epsilon=self.layer_norm_eps, center=self.use_bias, name="norm2")
        self.dropout1 = layers.Dropout(self.dropout)
        self.dropout_ff = layers.Dropout(self.dropout)
        self.dropout2 = layers.Dropout(self.dropout)
        self.add1, self.add2 = layers.Add(), layers.Add()
        self.attention.build(input_shape, input_shape)
        self.norm1.build(input_shape)
        self.ff1.build(input_shape)
        self.ff2.build((*input_shape[:-1], self.dim_feedforward))
        self.norm2.build(input_shape)

    def _self_attention(self, x, training=None):
        return self.dropout1(self.attention(x, x, training=training), training=training)

    def _feed_forward(self, x, training=None):
        hidden = self.dropout_ff(self.ff1(x), training=training)  # (B, T, dim_feedforward)
        return self.dropout2(self.ff2(hidden), training=training)

    def call(self, x, training=None):
        if self.norm_first:
            y = self.add1([x, self._self_attention(self.norm1(x), training)])
            return self.add2([y, self._feed_forward(self.norm2(y), training)])
        y = self.norm1(self.add1([x, self._self_attention(x, training)]))
        return self.norm2(self.add2([y, self._feed_forward(y, training)]))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "dim_feedforward": self.dim_feedforward,
            "dropout": self.dropout,
            "activation": self.activation,
            "layer_norm_eps": self.layer_norm_eps,
            "norm_first": self.norm_first,
            "use_bias": self.use_bias,
        }
