"""Dense <-> torch.nn.Linear / keras.layers.Dense."""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, expect, register


@register("Dense")
class DenseConverter(Converter):
    """Canonical ``W`` (D_in, D_out), ``b`` (D_out,).

    PyTorch: ``nn.Linear`` stores ``weight`` as (out_features, in_features) and computes
    ``x @ weight.T + bias`` (torch/nn/modules/linear.py), so ``weight = W.T``.
    Keras: ``Dense`` stores ``kernel`` as (input_dim, units) and computes
    ``x @ kernel + bias`` (keras/src/layers/core/dense.py), so ``kernel = W``.

    Rule: transpose the kernel when moving between the two; the bias is the same vector.
    A square layer (D_in == D_out) accepts the untransposed matrix without complaint,
    which is why the shape check alone cannot catch a forgotten transpose.
    """

    def _shapes(self, layer):
        return (layer.input_dim, layer.units), (layer.units,)

    def to_torch(self, layer, weights: Arrays) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        out = {"weight": expect(layer, "W", weights.get("W"), w_shape).T}
        if layer.use_bias:
            out["bias"] = expect(layer, "b", weights.get("b"), b_shape)
        return out

    def from_torch(self, layer, state: Arrays) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        out = {"W": expect(layer, "weight", state.get("weight"), w_shape[::-1]).T}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", state.get("bias"), b_shape)
        return out

    def to_keras(self, layer, weights: Arrays) -> list[np.ndarray]:
        w_shape, b_shape = self._shapes(layer)
        out = [expect(layer, "W", weights.get("W"), w_shape)]
        if layer.use_bias:
            out.append(expect(layer, "b", weights.get("b"), b_shape))
        return out

    def from_keras(self, layer, values: list[np.ndarray]) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        out = {"W": expect(layer, "kernel", values[0], w_shape)}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", values[1], b_shape)
        return out
