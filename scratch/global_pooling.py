"""Global pooling: one value per channel, the mean or the max over every position."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class _GlobalPool(Layer):
    """Reduces every axis between the batch and the channels: (B, *S, C) -> (B, C)."""

    def __init__(self, keepdims: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        if not isinstance(keepdims, bool):
            raise ValueError(f"{type(self).__name__} {self.name!r}: keepdims must be true or false, received {keepdims!r}")
        self.keepdims = keepdims

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) < 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: expects (steps, channels) or (H, W, channels) inputs, received {tuple(input_shape)}"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        C = input_shape[-1]
        return (*([1] * (len(input_shape) - 1)), C) if self.keepdims else (C,)

    def _axes(self, X: np.ndarray) -> tuple[int, ...]:
        return tuple(range(1, X.ndim - 1))  # every position axis


class GlobalAvgPool(_GlobalPool):
    """Z = mean of X over every position, per channel (n = number of positions).

    Forward::

        Z[b, c] = (1 / n) * sum_s X[b, s, c]

    Backward, given dZ (each position contributed 1/n)::

        dX[b, s, c] = dZ[b, c] / n

    Shapes:
        X, dX: (B, *S, C), S = (T,) for sequences or (H, W) for images
        Z, dZ: (B, C), or (B, 1, ..., 1, C) with keepdims

    Args:
        keepdims: keep the pooled axes as size 1 (Keras' ``keepdims``).
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        axes = self._axes(X)
        self.X_shape, self.n = X.shape, int(np.prod([X.shape[a] for a in axes]))
        return X.mean(axis=axes, keepdims=self.keepdims)  # (B, C) or (B, 1, ..., 1, C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        B, C = self.X_shape[0], self.X_shape[-1]
        dZ = dZ.reshape(B, *([1] * (len(self.X_shape) - 2)), C)  # (B, 1, ..., 1, C)
        return np.broadcast_to(dZ / self.n, self.X_shape).copy()  # (B, *S, C)


class GlobalMaxPool(_GlobalPool):
    """Z = max of X over every position, per channel.

    Forward::

        Z[b, c] = max_s X[b, s, c]

    Backward, given dZ (only the maximal position moved Z; a tie would share dZ equally, as
    torch's amax does: the harness draws continuous inputs, where ties have probability 0)::

        dX[b, s, c] = dZ[b, c] * mask[b, s, c] / count[b, c],   mask = (X[b, s, c] == Z[b, c])

    Shapes:
        X, dX, mask: (B, *S, C)
        Z, dZ: (B, C), or (B, 1, ..., 1, C) with keepdims

    Args:
        keepdims: keep the pooled axes as size 1 (Keras' ``keepdims``).
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        axes = self._axes(X)
        Zk = X.max(axis=axes, keepdims=True)  # (B, 1, ..., 1, C)
        self.mask = X == Zk
        self.count = self.mask.sum(axis=axes, keepdims=True)
        return Zk if self.keepdims else Zk.reshape(X.shape[0], X.shape[-1])

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        dZ = dZ.reshape(self.count.shape)  # (B, 1, ..., 1, C)
        return self.mask * (dZ / self.count)  # (B, *S, C)


class MaskedGlobalAvgPool(Layer):
    """Z = mean of X over the tokens of each sequence (the steps whose id is not 0), per channel.

    What Keras' GlobalAveragePooling1D computes with the mask Embedding(mask_zero=True)
    propagates (keras/src/layers/pooling/global_average_pooling1d.py): the padded steps are
    left out of the sum and of the count.

    Forward, with m[b, t] = (ids[b, t] != 0) and n[b] = sum_t m[b, t] (at least 1)::

        Z[b, c] = (1 / n[b]) * sum_t m[b, t] X[b, t, c]

    Backward, given dZ (the ids are integers: no gradient, None)::

        dX[b, t, c] = m[b, t] dZ[b, c] / n[b]

    Shapes:
        X, dX: (B, T, C)
        ids: (B, T) integers, 0 = padding
        m: (B, T, 1)
        Z, dZ: (B, C)

    Args:
        name: the layer's name.
    """

    def build(self, input_shape) -> None:
        shapes = list(input_shape) if input_shape and isinstance(input_shape[0], (tuple, list)) else [input_shape]
        if len(shapes) != 2 or len(shapes[0]) != 2 or tuple(shapes[1]) != tuple(shapes[0][:1]):
            raise ValueError(
                f"MaskedGlobalAvgPool {self.name!r}: expects a sequence (T, C) and its ids (T,), received {input_shape}"
            )

    def output_shape(self, input_shape) -> tuple[int, ...]:
        return (input_shape[0][-1],)

    def forward(self, X: np.ndarray, ids: np.ndarray) -> np.ndarray:
        m = (np.asarray(ids) != 0)[:, :, None].astype(X.dtype)  # (B, T, 1)
        n = m.sum(axis=1)  # (B, 1)
        if np.any(n == 0):
            b = int(np.argwhere(n[:, 0] == 0)[0, 0])
            raise ValueError(f"MaskedGlobalAvgPool {self.name!r}: sequence {b} is all padding (ids {ids.shape})")
        self.m, self.n = m, n
        return (X * m).sum(axis=1) / n  # (B, C)

    def backward(self, dZ: np.ndarray) -> tuple[np.ndarray, None]:
        dX = self.m * (dZ / self.n)[:, None, :]  # (B, T, C)
        return dX, None
