"""Flatten every axis but the batch axis."""

from __future__ import annotations

import math

import numpy as np

from scratch.layer import Layer


class Flatten(Layer):
    """Z = X.reshape(B, -1), in C (row-major) order.

    Forward::

        Z[n, (h*W + w)*C + c] = X[n, h, w, c]

    Backward::

        dX = dZ.reshape(X.shape)

    Order matters to the next layer. Here (NHWC) the flat index runs over
    (H, W, C), channel fastest, as keras.layers.Flatten does with channels_last.
    torch.nn.Flatten of an NCHW tensor runs over (C, H, W) instead, so the rows of
    the following Dense kernel W (D_in = H*W*C, D_out) must be permuted to
    W.reshape(H, W, C, D_out).transpose(2, 0, 1, 3).reshape(D_in, D_out)
    before transposing into torch.nn.Linear.weight; the harness's converter does it.

    Shapes:
        X, dX: (B, H, W, C)     # any (B, ...) works
        Z, dZ: (B, H*W*C)
    """

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (math.prod(int(d) for d in input_shape),)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X_shape = X.shape
        return X.reshape(X.shape[0], -1)  # (B, H*W*C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ.reshape(self.X_shape)  # (B, H, W, C)
