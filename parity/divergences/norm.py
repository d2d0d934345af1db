"""Divergence cases of the normalisation family: the epsilon defaults of LayerNorm and RMSNorm.

The naive port leaves ``epsilon`` at null on both sides (each framework's own default); the
converted port passes Keras' value to torch.
"""

from __future__ import annotations

from parity.divergences.base import Divergence, default_kept

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    default_kept(
        "epsilon",
        1e-3,
        against="keras-jax",
        port="torch",
        name="layernorm_epsilon",
        area="normalization",
        differs="nn.LayerNorm(normalized_shape) has eps=1e-5 (torch/nn/modules/normalization.py); "
        "keras.layers.LayerNormalization() has epsilon=1e-3 (keras/src/layers/normalization/layer_normalization.py). "
        "Every output is divided by sqrt(var + eps), so the defaults disagree wherever a sample's variance is not large.",
        rule="Pass it: nn.LayerNorm(F, eps=1e-3) for a Keras default, LayerNormalization(epsilon=1e-5) for a torch one.",
        converter="parity.layers.norm._ln_torch (eps=epsilon)",
        case="layernorm",
        layer="layer_norm_0",
    )
)

DIVERGENCES.append(
    default_kept(
        "epsilon",
        1e-6,
        against="keras-jax",
        port="torch",
        name="rmsnorm_epsilon",
        area="normalization",
        differs="nn.RMSNorm(normalized_shape) has eps=None, which F.rms_norm replaces by the machine epsilon of the "
        "input's dtype, torch.finfo(x.dtype).eps (2.2e-16 in float64, 1.2e-7 in float32; "
        "torch/nn/modules/normalization.py); keras.layers.RMSNormalization() has epsilon=1e-6 "
        "(keras/src/layers/normalization/rms_normalization.py). The output is X / sqrt(mean(X**2) + eps): the "
        "defaults differ by about eps / (2 * mean(X**2)) relative.",
        rule="Pass it: nn.RMSNorm(F, eps=1e-6) for a Keras default, RMSNormalization(epsilon=torch.finfo(dtype).eps) "
        "for a torch one.",
        converter="parity.layers.norm._rms_torch (eps=epsilon)",
        case="rmsnorm",
        layer="rms_norm_0",
    )
)
