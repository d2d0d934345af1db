"""Divergence cases of the normalisation family: the epsilon defaults of LayerNorm and RMSNorm,
and the batch variance of BatchNormalization on Keras' torch backend.

For the epsilons, the naive port leaves ``epsilon`` at null on both sides (each framework's own
default); the converted port passes Keras' value to torch.
"""

from __future__ import annotations

from parity.divergences.base import Divergence, Side, Variant, default_kept

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

DIVERGENCES.append(
    Divergence(
        name="keras_torch_batchnorm_one_pass_variance",
        area="normalization",
        differs="keras.layers.BatchNormalization in training mode normalises by the batch variance that the "
        "backend's moments returns. On the torch backend (keras/src/backend/torch/nn.py, moments) it is computed in "
        "one pass, mean(X**2) - mean(X)**2 (its comment: \"faster but less numerically stable\"); Keras on jax "
        "(jnp.var, keras/src/backend/jax/nn.py) and tensorflow (tf.nn.moments, keras/src/backend/tensorflow/nn.py) "
        "and torch's own batch_norm subtract the mean first. The two are equal in exact arithmetic; in floating point "
        "the one-pass difference loses the digits of mean**2 / var, so keras-torch departs from every other "
        "implementation as activations move away from zero. Measured in float64 on this case (batchnorm in training "
        "mode, batch 2, 1x1 maps, 8 channels: 2 values per channel, as in the deep stages of keras.applications "
        "models at small inputs), worst relative error against two passes: 1.6e-14 at offset 0, 2.4e-9 at 1e2, "
        "4.4e-8 at 1e3, 1.1e-5 at 1e4.",
        rule="No conversion removes it (the formula is inside Keras' torch backend): the one-pass variance "
        "(scratch.batchnorm.one_pass_variance, parity.runners.reference CONSTANTS['keras-torch']) reproduces "
        "keras-torch where the squares are summed in one order (2 values per channel: 5.9e-12 at offset 1e3); a "
        "port from keras-torch to torch or another Keras backend computes two passes, and its trained weights "
        "differ from the source's by the one-pass rounding, which parity zoo measures by re-running the Keras step "
        "with two passes (parity.training.two_pass.two_pass_moments). Keep activations near zero, or train on jax or "
        "tensorflow, where Keras subtracts the mean first.",
        converter="parity.runners.reference (CONSTANTS['keras-torch']); parity.training.two_pass.two_pass_moments",
        case="batchnorm",
        config={"batch": 2, "input_shape": [1, 1, 8]},
        naive=Variant(Side("scratch"), Side("keras-torch")),
        converted=Variant(Side("scratch", constants="keras-torch"), Side("keras-torch")),
        layer="batch_norm_0",
        input_offset=1e3,
    )
)
