"""Dense <-> torch.nn.Linear / keras.layers.Dense."""

from __future__ import annotations

import numpy as np

from parity.convert.base import KernelBiasConverter, enabled


class DenseConverter(KernelBiasConverter):
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
    def _feature_map(previous) -> tuple[int, ...] | None:
        """The canonical shape (*S, C) of the map this layer reads flattened, when torch flattened it
        channels-first: images (H, W, C) as (C, H, W), Conv1D's (L, C) as (C, L). The generator tells
        each scratch layer how torch lays out its input (``torch_reads``); without it, a flattened
        image is taken to be channels-first, as every torch image module is."""
        shape = getattr(previous, "input_shape", None) if type(previous).__name__ == "Flatten" else None
        if shape is None or len(shape) < 2 or not enabled("flatten_order"):
            return None
        reads = getattr(previous, "torch_reads", None)
        channels_first = reads.tag == "channels_first" if reads is not None else len(shape) == 3
        return tuple(shape) if channels_first else None

    def torch_weight_shape(self, w_shape: tuple[int, ...]) -> tuple[int, ...]:
        return w_shape[::-1]  # (D_out, D_in)

    def weight_to_torch(self, W: np.ndarray, previous=None) -> np.ndarray:
        fmap = self._feature_map(previous)
        if fmap is not None:
            k = len(fmap) - 1  # the channel axis of (*S, C)
            W = np.moveaxis(W.reshape(*fmap, -1), k, 0).reshape(W.shape[0], -1)  # rows in (C, *S) order
        return W.T if enabled("dense_transpose") else W

    def weight_from_torch(self, weight: np.ndarray, w_shape: tuple[int, ...], previous=None) -> np.ndarray:
        W = weight.T
        fmap = self._feature_map(previous)
        if fmap is not None:
            *S, C = fmap
            W = np.moveaxis(W.reshape(C, *S, -1), 0, len(S)).reshape(W.shape[0], -1)  # rows back to (*S, C)
        return W
