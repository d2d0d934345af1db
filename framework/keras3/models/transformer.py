"""A transformer encoder block in Keras 3: the block of framework/keras3/transformer.py on one sequence."""

from __future__ import annotations

import keras

from framework.keras3.transformer import TransformerEncoder


def transformer_encoder(
    input_shape: tuple[int, int],
    num_heads: int,
    dim_feedforward: int,
    dropout: float = 0.0,
    activation: str = "relu",
    layer_norm_eps: float = 1e-5,
    norm_first: bool = False,
    use_bias: bool = True,
) -> keras.Model:
    """One encoder block: x (B, T, E) -> (B, T, E); epsilon 1e-5 as torch's block (LayerNormalization's is 1e-3)."""
    x = keras.Input(shape=tuple(input_shape))
    z = TransformerEncoder(
        num_heads,
        dim_feedforward,
        dropout=dropout,
        activation=activation,
        layer_norm_eps=layer_norm_eps,
        norm_first=norm_first,
        use_bias=use_bias,
    )(x)
    return keras.Model(x, z)


def transformer_encoder_norm_first(
    input_shape: tuple[int, int], num_heads: int, dim_feedforward: int, **kwargs
) -> keras.Model:
    """The pre-norm block, GELU in the feed-forward network."""
    kwargs = {"activation": "gelu", "norm_first": True, **kwargs}
    return transformer_encoder(input_shape, num_heads, dim_feedforward, **kwargs)
