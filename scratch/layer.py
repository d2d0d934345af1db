"""The contract every scratch layer follows.

A layer owns its parameters and, after ``backward``, their gradients::

    Z = layer.forward(X)        # caches exactly what backward needs
    dX = layer.backward(dZ)     # fills layer.grads, returns dL/dX

``params`` are trainable arrays, ``state`` holds non-trainable arrays that the
forward pass may update (BatchNorm's running statistics). Both are keyed by the
names used in the layer's docstring equations; the harness calls
``"{layer.name}.{key}"`` the canonical name of a parameter.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: a named map X -> Z with a hand-written backward pass."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}
        self.training = False

    def init(self, rng: np.random.Generator, dtype: np.dtype | type = np.float64) -> None:
        """Fill ``params`` and ``state`` with their default initial values."""

    def forward(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """Shape of Z for an input of ``input_shape`` (batch axis excluded)."""
        return input_shape

    def build(self, input_shape: tuple[int, ...]) -> None:
        """Learn sizes that depend on the input (batch axis excluded)."""

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        """The shape of every array ``init`` creates (``params`` and ``state``), creating none.

        Known after ``build``; lets a caller size a model before allocating it.
        """
        return {}

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}={v.shape}" for k, v in {**self.params, **self.state}.items())
        return f"{type(self).__name__}(name={self.name!r}{', ' + shapes if shapes else ''})"


def glorot_uniform(
    rng: np.random.Generator, fan_in: int, fan_out: int, shape: tuple[int, ...], dtype
) -> np.ndarray:
    """Glorot/Xavier uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), Keras' default."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype, copy=False)
