"""Fully connected layer."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer, glorot_uniform


class Dense(Layer):
    """Affine map of the last axis: Z = X @ W + b.

    Forward::

        Z = X @ W + b

    Backward, given dZ = dL/dZ::

        dW = X.T @ dZ        # summed over the batch
        db = dZ.sum(axis=0)
        dX = dZ @ W.T

    Leading axes other than the last are treated as batch axes (a Dense layer
    applied per time step sees X of shape (B, T, D_in); on a channels-last image map
    (B, H, W, C) it is a 1x1 convolution, ConvNeXt's pointwise MLP, which a torch model
    writes as nn.Linear after ``x.permute(0, 2, 3, 1)``).

    Shapes:
        X, dX: (B, ..., D_in)
        W, dW: (D_in, D_out)   # torch.nn.Linear.weight is W.T; the Keras kernel is W
        b, db: (D_out,)
        Z, dZ: (B, ..., D_out)

    Args:
        units: D_out.
        use_bias: whether b exists.
    """

    def __init__(self, units: int, use_bias: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        if int(units) != units or units < 1:
            raise ValueError(f"Dense {self.name!r}: units must be a positive integer, received {units!r}")
        self.units = int(units)
        self.use_bias = bool(use_bias)
        self.input_dim: int | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.input_dim = int(input_shape[-1])

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (*input_shape[:-1], self.units)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"W": (self.input_dim, self.units)}
        if self.use_bias:
            shapes["b"] = (self.units,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        D_in, D_out = self.input_dim, self.units
        self.params["W"] = glorot_uniform(rng, D_in, D_out, (D_in, D_out), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(D_out, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        Z = X @ self.params["W"]  # (..., D_out)
        if self.use_bias:
            Z = Z + self.params["b"]
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        X, W = self.X, self.params["W"]
        D_in, D_out = W.shape
        X2 = X.reshape(-1, D_in)  # (B*, D_in): every leading axis is a batch axis
        dZ2 = dZ.reshape(-1, D_out)  # (B*, D_out)
        self.grads["W"] = X2.T @ dZ2
        if self.use_bias:
            self.grads["b"] = dZ2.sum(axis=0)
        return dZ @ W.T
