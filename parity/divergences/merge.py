"""Divergences of the merge family: where the squeeze-and-excitation gate broadcasts."""

from __future__ import annotations

from parity.divergences.base import Divergence, forgotten_rule

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "se_gate_channels_first",
        against="scratch",
        name="se_gate_layout",
        area="layouts",
        differs="EfficientNet reshapes its squeeze-and-excitation gate to (1, 1, C) (keras/src/applications/efficientnet.py, "
        "se_reshape) and multiplies it into the (H, W, C) map. Copied literally into torch, s.view(B, 1, 1, C) meets a "
        "(B, C, H, W) map: broadcasting matches axes from the last one (torch/functional.py, broadcast_shapes), so the "
        "gate scales the columns, not the channels; with W == C it runs without an error.",
        rule="The gate is s.view(B, C, 1, 1) in torch: the same numbers, channels-first like the map.",
        converter="parity.layers.tensor_ops._reshape_torch (rule se_gate_channels_first)",
        case="multiply",
        config={"input_shape": [4, 3, 3]},
        layer="reshape_0",  # the view that puts the gate on the wrong axis
    )
)
