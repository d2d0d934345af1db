"""AddTable (``x + self.pos``) <-> a torch parameter used directly / framework.keras3.tensor_ops.AddTable."""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, enabled, expect


class AddTableConverter(Converter):
    """Canonical ``W``: one sample's shape (T, E), added to every sample.

    PyTorch: a table written by hand is an ``nn.Parameter`` the model adds itself; GPT-style code
    stores it as (1, T, E) so that ``x + self.pos`` broadcasts over the batch (torch/nn/parameter.py
    holds no shape convention: the leading 1 is the author's). Rule ``table_batch_axis``: where the
    torch parameter has that leading axis (``layer.torch_batch_axis``), the canonical table gains it
    on the way to torch and loses it on the way back.
    Keras: ``framework.keras3.tensor_ops.AddTable`` builds its weight with one sample's shape
    (``add_weight(shape=input_shape[1:])``, keras/src/layers/layer.py), so ``table = W``.
    """

    rules = ("table_batch_axis",)

    def torch_shape(self, layer) -> tuple[int, ...]:
        leading = getattr(layer, "torch_batch_axis", True) and enabled("table_batch_axis")
        return (1, *layer.shape) if leading else tuple(layer.shape)

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        W = expect(layer, "W", weights.get("W"), layer.shape)
        return {"weight": W.reshape(self.torch_shape(layer))}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        weight = expect(layer, "weight", state.get("weight"), self.torch_shape(layer))
        return {"W": np.asarray(weight).reshape(layer.shape)}

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return [expect(layer, "W", weights.get("W"), layer.shape)]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        return {"W": expect(layer, "table", values[0], layer.shape)}
