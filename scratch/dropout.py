"""Inverted dropout."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Dropout(Layer):
    """Zero each entry with probability ``rate`` while training, and rescale the rest.

    Forward, training (M a 0/1 mask, M ~ Bernoulli(1 - rate) entry-wise)::

        Z = X * M / (1 - rate)

    Forward, inference::

        Z = X

    Backward, given dZ = dL/dZ::

        dX = dZ * M / (1 - rate)        # training
        dX = dZ                          # inference

    Shapes:
        X, Z, dZ, dX: any, all equal
        M: X's shape, or (B, 1, ..., 1) with ``noise_shape`` all ones: one draw per sample, broadcast
           (stochastic depth: EfficientNet drops a residual branch for a whole sample)

    "Inverted": the 1 / (1 - rate) is applied while training, so E[Z] = X and
    inference needs no rescaling. Both torch.nn.Dropout and keras.layers.Dropout
    do this, and both treat ``rate``/``p`` as the probability of dropping.

    The mask comes from one of two places:
      - ``layer.mask``: set from outside before ``forward`` (the harness hands
        scratch the mask a framework drew: ``M = (Z_framework != 0)`` for an X
        with no zeros). It stays in use, for every forward, until reset to None.
      - otherwise a fresh draw from ``layer.rng``, an ``np.random.Generator``.
    The mask of the last training forward is kept in ``layer.M`` for ``backward``.

    Args:
        rate: probability of dropping an entry, in [0, 1).
        noise_shape: None (a draw per entry), or ones, one per axis after the batch (a draw per sample).
        rng: the generator masks are drawn from (needed only when no mask is given).
        name: layer name.
    """

    def __init__(
        self, rate: float, name: str | None = None, rng: np.random.Generator | None = None, noise_shape=None
    ) -> None:
        super().__init__(name)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout {self.name!r}: rate must be in [0, 1), received {rate!r}")
        if noise_shape is not None and any(d != 1 for d in noise_shape):
            raise ValueError(f"Dropout {self.name!r}: noise_shape must be None or all ones, received {noise_shape!r}")
        self.rate = float(rate)
        self.noise_shape = None if noise_shape is None else tuple(int(d) for d in noise_shape)
        self.rng = rng
        self.mask: np.ndarray | None = None
        self.M: np.ndarray | None = None

    def forward(self, X: np.ndarray) -> np.ndarray:
        if not self.training:
            self.M = None
            return X
        if self.mask is not None:
            if np.broadcast_shapes(self.mask.shape, X.shape) != X.shape:
                raise ValueError(f"Dropout {self.name!r}: mask shape {self.mask.shape} differs from input {X.shape}")
            M = self.mask
        elif self.rng is not None:
            shape = X.shape if self.noise_shape is None else (X.shape[0], *self.noise_shape)  # (B, 1, 1, 1)
            M = self.rng.random(shape) >= self.rate  # keep with probability 1 - rate
        else:
            raise ValueError(f"Dropout {self.name!r}: training needs layer.rng or layer.mask")
        self.M = M.astype(X.dtype)
        return X * self.M / (1 - self.rate)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        if self.M is None:
            return dZ
        return dZ * self.M / (1 - self.rate)
