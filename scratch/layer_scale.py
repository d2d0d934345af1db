"""LayerScale: a learned per-channel scale of a residual branch (CaiT, ConvNeXt)."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class LayerScale(Layer):
    """Scale each channel by its own learned factor: Z = X * gamma, gamma broadcast over the leading axes.

    Forward::

        Z[..., c] = X[..., c] * gamma[c]

    Backward, given dZ = dL/dZ (sums over every axis but the last)::

        dgamma[c] = sum(dZ[..., c] * X[..., c])
        dX = dZ * gamma

    ConvNeXt multiplies its block's branch by gamma, initialised to a small constant (1e-6), so
    that each block starts close to the identity (keras/src/applications/convnext.py, class
    ``LayerScale``; facebookresearch/ConvNeXt's ``self.gamma * x`` on an NHWC map).

    Shapes:
        X, dX, Z, dZ: (B, ..., C): channels last, (B, H, W, C) on ConvNeXt's maps
        gamma, dgamma: (C,)   # Keras' LayerScale.gamma; the torch port's parameter

    Args:
        init_values: the constant gamma starts at (Keras' ``init_values``).
        projection_dim: C.
    """

    def __init__(self, init_values: float, projection_dim: int, name: str | None = None) -> None:
        super().__init__(name)
        where = f"LayerScale {self.name!r}"
        if isinstance(projection_dim, bool) or not isinstance(projection_dim, (int, np.integer)) or projection_dim < 1:
            raise ValueError(f"{where}: projection_dim must be a positive integer, received {projection_dim!r}")
        if isinstance(init_values, bool) or not isinstance(init_values, (int, float, np.floating)):
            raise ValueError(f"{where}: init_values must be a number, received {init_values!r}")
        self.init_values = float(init_values)
        self.projection_dim = int(projection_dim)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if not input_shape or int(input_shape[-1]) != self.projection_dim:
            raise ValueError(
                f"LayerScale {self.name!r}: projection_dim={self.projection_dim} but inputs (B, *{tuple(input_shape)}) "
                f"have {input_shape[-1] if input_shape else 'no'} channels on their last axis"
            )

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"gamma": (self.projection_dim,)}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        self.params["gamma"] = np.full(self.projection_dim, self.init_values, dtype=dtype)  # Keras' Constant

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.X = X
        return X * self.params["gamma"]  # (B, ..., C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        C = self.projection_dim
        self.grads["gamma"] = (dZ * self.X).reshape(-1, C).sum(axis=0)  # every leading axis summed
        return dZ * self.params["gamma"]
