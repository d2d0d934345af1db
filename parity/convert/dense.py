"""Dense <-> torch.nn.Linear / keras.layers.Dense."""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, Converter, enabled, expect


class DenseConverter(Converter):
    """Canonical ``W`` (D_in, D_out), ``b`` (D_out,).

    PyTorch: ``nn.Linear`` stores ``weight`` as (out_features, in_features) and computes
    ``x @ weight.T + bias`` (torch/nn/modules/linear.py), so ``weight = W.T``.
    Keras: ``Dense`` stores ``kernel`` as (input_dim, units) and computes
    ``x @ kernel + bias`` (keras/src/layers/core/dense.py), so ``kernel = W``.

    Rule ``dense_transpose``: transpose the kernel when moving between the two; the bias
    is the same vector. A square layer (D_in == D_out) accepts the untransposed matrix
    without complaint, which is why the shape check alone cannot catch a forgotten transpose.

    Rule ``flatten_order``: after a Flatten of a feature map, the rows of W follow the
    flattened order. Keras (channels-last) flattens (H, W, C) exactly as scratch does;
    torch flattens NCHW as (C, H, W) (torch/nn/modules/flatten.py: a plain reshape).
    So the torch kernel's rows are permuted::

        W_torch_rows = W.reshape(H, W, C, D).transpose(2, 0, 1, 3).reshape(C*H*W, D)

    Without it nothing fails to load - the shapes are equal - and the outputs are wrong.
    """

    rules = ("dense_transpose", "flatten_order")

    def _shapes(self, layer):
        return (layer.input_dim, layer.units), (layer.units,)

    @staticmethod
    def _feature_map(previous) -> tuple[int, int, int] | None:
        """(H, W, C) when this layer reads a flattened channels-last feature map."""
        shape = getattr(previous, "input_shape", None) if type(previous).__name__ == "Flatten" else None
        if shape is not None and len(shape) == 3 and enabled("flatten_order"):
            return tuple(shape)
        return None

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        W = expect(layer, "W", weights.get("W"), w_shape)
        fmap = self._feature_map(previous)
        if fmap is not None:
            H, Wd, C = fmap
            W = W.reshape(H, Wd, C, -1).transpose(2, 0, 1, 3).reshape(C * H * Wd, -1)  # rows in (C, H, W) order
        out = {"weight": W.T if enabled("dense_transpose") else W}
        if layer.use_bias:
            out["bias"] = expect(layer, "b", weights.get("b"), b_shape)
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        W = expect(layer, "weight", state.get("weight"), w_shape[::-1]).T
        fmap = self._feature_map(previous)
        if fmap is not None:
            H, Wd, C = fmap
            W = W.reshape(C, H, Wd, -1).transpose(1, 2, 0, 3).reshape(H * Wd * C, -1)  # rows back to (H, W, C)
        out = {"W": W}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", state.get("bias"), b_shape)
        return out

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        w_shape, b_shape = self._shapes(layer)
        out = [expect(layer, "W", weights.get("W"), w_shape)]
        if layer.use_bias:
            out.append(expect(layer, "b", weights.get("b"), b_shape))
        return out

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        out = {"W": expect(layer, "kernel", values[0], w_shape)}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", values[1], b_shape)
        return out
