"""LayerScale as a Keras layer of our own, with the config of keras.applications' ConvNeXt one.

keras/src/applications/convnext.py defines ``LayerScale(init_values, projection_dim)`` inside the
application module (not exported under keras.layers); this class has the same name, arguments,
weight and config, so a model built with either reads the same, and it is serialisable
(``package="demystify"``).
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="demystify")
class LayerScale(keras.layers.Layer):
    """y = x * gamma: each channel of the last axis scaled by its own learned factor.

    Input shape: (B, ..., projection_dim). Output shape: the same.
    gamma: (projection_dim,), initialised to ``init_values``.
    """

    def __init__(self, init_values: float, projection_dim: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.init_values, self.projection_dim = float(init_values), int(projection_dim)

    def build(self, input_shape) -> None:
        if input_shape[-1] != self.projection_dim:
            raise ValueError(f"LayerScale: projection_dim={self.projection_dim}, received inputs of shape {input_shape}")
        self.gamma = self.add_weight(
            shape=(self.projection_dim,), initializer=keras.initializers.Constant(self.init_values), name="gamma"
        )

    def call(self, inputs):
        return inputs * self.gamma

    def get_config(self) -> dict:
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}
