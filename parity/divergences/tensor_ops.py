"""Divergences of the tensor_ops family: what a hand-written attention block gets wrong in a port."""

from __future__ import annotations

from parity.divergences.base import Divergence, forgotten_rule

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "masked_fill_polarity",
        against="scratch",
        name="masked_fill_polarity",
        area="attention",
        differs="torch's x.masked_fill(M, v) writes v where M is True (torch/_tensor_docs.py, masked_fill_), so a causal "
        "mask for it is True ABOVE the diagonal (ones(T, T).triu(1), or ~tril as hand-written models write it); Keras "
        "marks with True what is KEPT: layers.Softmax()(x, mask=M) adds a large negative where M is False "
        "(keras/src/layers/activations/softmax.py), as MultiHeadAttention's attention_mask does. A Keras keep-mask "
        "(tril) handed to masked_fill as it is fills every score a query may see with -inf.",
        rule="masked_fill takes the complement of a Keras mask: s.masked_fill(~keep, float('-inf')).",
        converter="parity.layers.tensor_ops._masked_fill_torch_call (rule masked_fill_polarity)",
        case="masked_fill",
        layer="masked_fill_0",
    )
)
