"""Divergences of the transformer family: the encoder block's defaults.

torch's nn.TransformerEncoderLayer and a Keras block built from Keras' layers differ in three
defaults at once (dropout, the layer norms' epsilon, the axis order); the naive port copies the
constructor calls and keeps every default.
"""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant

KERAS = "keras-jax"
CASE = "transformer_encoder"
LAYER = "transformer_encoder_0"
DEFAULTS = {"dropout": None, "layer_norm_eps": None}  # None: each framework's own default

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    Divergence(
        name="transformer_encoder_defaults",
        area="transformer",
        differs="nn.TransformerEncoderLayer(d_model, nhead) defaults to dropout=0.1 (on the attention weights and after "
        "each branch, active in training), layer_norm_eps=1e-5 and batch_first=False, (T, B, E) inputs "
        "(torch/nn/modules/transformer.py, TransformerEncoderLayer.__init__). The same block written from Keras layers "
        "has the dropout it is given (MultiHeadAttention and Dropout take a rate, no default block) and "
        "LayerNormalization's epsilon=1e-3 (keras/src/layers/normalization/layer_normalization.py), on (B, T, E) "
        "inputs. Trained side by side with the defaults, the torch block drops activations the Keras block keeps, "
        "normalises with another epsilon and attends across the batch.",
        rule="nn.TransformerEncoderLayer(E, nhead, dim_feedforward, dropout=<the Keras rate; 0 to compare>, "
        "layer_norm_eps=<the Keras epsilon>, batch_first=True); or LayerNormalization(epsilon=1e-5) in the Keras block.",
        converter="parity.layers.transformer (rule encoder_batch_first; dropout and layer_norm_eps passed explicitly)",
        case=CASE,
        config={"training": True},
        naive=Variant(
            Side(KERAS, config=DEFAULTS),
            Side("torch", config=DEFAULTS, disabled_rules=("encoder_batch_first",)),
        ),
        converted=Variant(Side(KERAS), Side("torch")),
        layer=LAYER,
        keys=("dropout", "layer_norm_eps"),
    )
)
