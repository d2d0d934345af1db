"""A transformer encoder block in torch.nn: torch's own nn.TransformerEncoderLayer, batch-first.

nn.TransformerEncoderLayer (torch/nn/modules/transformer.py) is the block: self-attention
(an nn.MultiheadAttention), a feed-forward network (``linear1``, the activation, ``linear2``),
each branch added back to its input, with ``norm1`` / ``norm2`` after the sums (post-norm) or
before the branches (``norm_first=True``). Its defaults differ from the Keras block's: dropout
0.1, layer_norm_eps 1e-5 and sequence-first (T, B, E) inputs; every one is passed here.
"""

from __future__ import annotations

from torch import nn


def transformer_encoder(
    input_shape: tuple[int, int],
    num_heads: int,
    dim_feedforward: int,
    dropout: float = 0.0,
    activation: str = "relu",
    layer_norm_eps: float = 1e-5,
    norm_first: bool = False,
    use_bias: bool = True,
) -> nn.TransformerEncoderLayer:
    """One encoder block: x (B, T, E) -> (B, T, E); E must be divisible by num_heads."""
    _, E = input_shape
    return nn.TransformerEncoderLayer(
        E,
        num_heads,
        dim_feedforward,
        dropout=dropout,
        activation=activation,
        layer_norm_eps=layer_norm_eps,
        batch_first=True,  # torch's default reads (T, B, E)
        norm_first=norm_first,
        bias=use_bias,
    )


def transformer_encoder_norm_first(
    input_shape: tuple[int, int], num_heads: int, dim_feedforward: int, **kwargs
) -> nn.TransformerEncoderLayer:
    """The pre-norm block, GELU in the feed-forward network."""
    kwargs = {"activation": "gelu", "norm_first": True, **kwargs}
    return transformer_encoder(input_shape, num_heads, dim_feedforward, **kwargs)
