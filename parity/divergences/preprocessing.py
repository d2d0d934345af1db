"""Divergences of the preprocessing family: Rescaling's constants on TensorFlow, Normalization's statistics."""

from __future__ import annotations

from parity.divergences.base import Divergence, forgotten_rule

# This family's divergence cases (collected by parity.divergences).
DIVERGENCES: list[Divergence] = []

DIVERGENCES.append(
    forgotten_rule(
        "tf_float64_constants",
        against="scratch",
        port="keras-tensorflow",
        name="tf_rescaling_float64_constants",
        area="dtypes",
        differs="keras.layers.Rescaling casts its scale and offset with backend.cast (keras/src/layers/preprocessing/"
        "rescaling.py); on TensorFlow tf.cast first makes a Python float a float32 tensor (keras/src/backend/tensorflow/"
        "core.py), so in float64 Rescaling(1 / 127.5) multiplies by 0.007843137718737125: keras-tensorflow disagrees "
        "with every other float64 implementation by ~1e-7 relative.",
        rule="Give Rescaling its constants as NumPy float64 values (np.float64(1 / 127.5)); a float32 model casts them down as before.",
        converter="parity.layers.preprocessing._rescaling_keras (rule tf_float64_constants)",
        case="rescaling",
        layer="rescaling_0",
        keys=("scale", "offset"),
    )
)

DIVERGENCES.append(
    forgotten_rule(
        "variance_to_std",
        against="scratch",
        name="normalization_variance_as_std",
        area="normalisation",
        differs="keras.layers.Normalization stores the variance and divides by max(sqrt(variance), 1e-7) "
        "(keras/src/layers/preprocessing/normalization.py); torchvision's Normalize(mean, std) divides by the standard "
        "deviation (torchvision/transforms/_functional_tensor.py). Copying Keras' variance weights in as the std "
        "loads silently and is wrong wherever a variance is not 0 or 1 (keras/src/applications/efficientnet.py "
        "notes the same of its ImageNet statistics).",
        rule="std = max(sqrt(variance), 1e-7); variance = std ** 2 coming back.",
        converter="parity.convert.preprocessing.NormalizationConverter (rule variance_to_std)",
        case="normalization",
        layer="normalization_0",
    )
)
