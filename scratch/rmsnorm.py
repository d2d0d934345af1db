"""Root-mean-square normalisation: each sample divided by its RMS over the trailing axes."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer
from scratch.layernorm import _trailing_axes


class RMSNorm(Layer):
    """Divide each sample by its root mean square, then scale: Z = scale * X / sqrt(mean(X**2) + eps).

    Forward, over the normalised axes of one sample (no centring, no shift)::

        r = 1 / sqrt(mean(X**2) + eps)
        Xhat = X * r
        Z = scale * Xhat

    Backward, given dZ (means over the normalised axes, sums over the others)::

        dscale = sum(dZ * Xhat),   dXhat = dZ * scale
        dX = (dXhat - Xhat * mean(dXhat * Xhat)) * r

    (d r / d X = -r**3 * X / n, which gives the second term.)

    Conventions: this follows keras.layers.RMSNormalization (epsilon=1e-6, weight ``scale``;
    keras/src/layers/normalization/rms_normalization.py). torch.nn.RMSNorm calls it ``weight``
    and defaults to eps=None, the machine epsilon of the input's dtype
    (torch/nn/modules/normalization.py).

    Shapes:
        X, dX, Z, dZ: (B, ..., *N) with N the normalised (trailing) axes
        scale, dscale: N

    Args:
        axis: -1, or consecutive trailing axes ([-2, -1]) normalised together.
        epsilon: eps, added to the mean square.
    """

    def __init__(self, axis=-1, epsilon: float = 1e-6, name: str | None = None) -> None:
        super().__init__(name)
        self.axes = _trailing_axes(axis, self.name, "RMSNorm")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"RMSNorm {self.name!r}: epsilon must be a positive number, received {epsilon!r}")
        self.epsilon = float(epsilon)
        self.shape: tuple[int, ...] | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(self.axes) > len(input_shape):
            raise ValueError(
                f"RMSNorm {self.name!r}: normalises {len(self.axes)} trailing axes of inputs of shape (B, *{tuple(input_shape)})"
            )
        self.shape = tuple(int(d) for d in input_shape[len(input_shape) - len(self.axes):])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"scale": self.shape}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.shape is None:
            raise RuntimeError(f"RMSNorm {self.name!r}: call build(input_shape) before init")
        self.params["scale"] = np.ones(self.shape, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.r = 1.0 / np.sqrt((X * X).mean(axis=self.axes, keepdims=True) + self.epsilon)  # (B, ..., 1)
        self.Xhat = X * self.r
        return self.params["scale"] * self.Xhat

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        Xhat, r = self.Xhat, self.r
        leading = tuple(range(dZ.ndim - len(self.axes)))
        self.grads["scale"] = (dZ * Xhat).sum(axis=leading)
        dXhat = dZ * self.params["scale"]
        return (dXhat - Xhat * (dXhat * Xhat).mean(axis=self.axes, keepdims=True)) * r
