"""A residual branch added at a fixed scale, as a Keras layer.

``keras.applications.InceptionResNetV2`` defines ``CustomScaleLayer`` for it
(keras/src/applications/inception_resnet_v2.py: ``inputs[0] + inputs[1] * scale``) inside the
application module, not under ``keras.layers``; this is the same layer for models that are not
that application. Serialisable (``package="demystify"``).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="demystify")
class ScaledAdd(keras.layers.Layer):
    """y = x + branch * scale, called on ``[x, branch]`` (both the same shape); ``scale`` is not trained."""

    def __init__(self, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, inputs):
        x, branch = inputs
        return x + branch * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}
