"""Element-wise activations (and softmax), each a parameter-free layer.

Every activation caches what its derivative needs and is written so that
inputs of magnitude 1e4 neither overflow nor produce NaN, in float32 and
float64 alike: exponentials only ever see non-positive arguments.
"""

from __future__ import annotations

import math

import numpy as np

from scratch.layer import Layer

_erf = np.frompyfunc(math.erf, 1, 1)


def erf(X: np.ndarray) -> np.ndarray:
    """The error function, element-wise, to double precision (NumPy has no erf)."""
    return _erf(X.astype(np.float64)).astype(np.float64).astype(X.dtype)


def sigmoid(X: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + exp(-x)), evaluated with exp(-|x|) only, so it never overflows."""
    E = np.exp(-np.abs(X))  # in (0, 1]
    return np.where(X >= 0, 1 / (1 + E), E / (1 + E))


class Identity(Layer):
    """Z = X; dX = dZ. Keras calls it "linear"."""

    def forward(self, X):
        return X

    def backward(self, dZ):
        return dZ


class Sigmoid(Layer):
    """Logistic sigmoid.

    Forward::

        Z = 1 / (1 + exp(-X))

    Backward::

        dX = dZ * Z * (1 - Z)

    Shapes:
        X, Z, dZ, dX: any, all equal
    """

    def forward(self, X):
        self.Z = sigmoid(X)
        return self.Z

    def backward(self, dZ):
        return dZ * self.Z * (1 - self.Z)


class Tanh(Layer):
    """Hyperbolic tangent.

    Forward::

        Z = tanh(X)

    Backward::

        dX = dZ * (1 - Z**2)
    """

    def forward(self, X):
        self.Z = np.tanh(X)
        return self.Z

    def backward(self, dZ):
        return dZ * (1 - self.Z**2)


class ReLU(Layer):
    """Rectified linear unit.

    Forward::

        Z = max(X, 0)

    Backward::

        dX = dZ * [X > 0]      # the derivative at 0 is taken as 0, as both frameworks do
    """

    def forward(self, X):
        self.mask = X > 0
        return np.where(self.mask, X, 0).astype(X.dtype)

    def backward(self, dZ):
        return np.where(self.mask, dZ, 0).astype(dZ.dtype)


class SiLU(Layer):
    """Sigmoid-weighted linear unit, also called swish: Z = X * sigmoid(X).

    Forward::

        S = 1 / (1 + exp(-X))
        Z = X * S

    Backward::

        dX = dZ * (S + X * S * (1 - S))

    Shapes:
        X, S, Z, dZ, dX: any shape, the same
    """

    def forward(self, X):
        self.X, self.S = X, sigmoid(X)
        return X * self.S

    def backward(self, dZ):
        X, S = self.X, self.S
        return dZ * (S + X * S * (1 - S))


class HardSigmoid(Layer):
    """Piecewise-linear sigmoid (MobileNetV3): Z = relu6(X + 3) / 6 = clip(X / 6 + 1/2, 0, 1).

    torch's nn.Hardsigmoid and Keras 3's ``hard_sigmoid`` (slope 1/6; Keras 2 used 0.2 * X + 0.5).

    Forward::

        Z = min(max(X + 3, 0), 6) / 6

    Backward, s = backward_slope = 1/6::

        dX = dZ * s where -3 < X < 3, 0 elsewhere (the flat parts)

    Shapes:
        X, Z, dZ, dX: any shape, the same

    Args:
        backward_slope: the constant s of the backward pass; 1/6 unless a library rounds it otherwise
            (the forward pass divides by 6 in every library).
    """

    def __init__(self, name: str | None = None, backward_slope: float = 1 / 6) -> None:
        super().__init__(name)
        self.backward_slope = backward_slope

    def forward(self, X):
        self.inside = (X > -3) & (X < 3)
        return np.minimum(np.maximum(X + 3, 0), 6) / 6

    def backward(self, dZ):
        return np.where(self.inside, dZ * self.backward_slope, 0).astype(dZ.dtype)


class HardSwish(Layer):
    """Piecewise-quadratic swish (MobileNetV3): Z = X * relu6(X + 3) / 6, i.e. X * hard_sigmoid(X).

    torch's nn.Hardswish and Keras 3's ``hard_silu`` / ``hard_swish``.

    Forward::

        Z = X * min(max(X + 3, 0), 6) / 6

    Backward::

        dX = 0 where X <= -3,   dZ * (2 X + 3) / 6 where -3 < X < 3,   dZ where X >= 3

    Shapes:
        X, Z, dZ, dX: any shape, the same
    """

    def forward(self, X):
        self.X = X
        return X * np.minimum(np.maximum(X + 3, 0), 6) / 6

    def backward(self, dZ):
        X = self.X
        slope = np.where(X <= -3, 0, np.where(X >= 3, 1, (2 * X + 3) / 6))
        return (dZ * slope).astype(dZ.dtype)


class ReLU6(Layer):
    """ReLU capped at 6 (MobileNet's activation): Z = min(max(X, 0), 6).

    Forward::

        Z = min(max(X, 0), 6)

    Backward::

        dX = dZ * [0 < X < 6]  # flat below 0 and above 6; at 0 and 6 taken as 0, as both frameworks do

    Shapes:
        X, dX, Z, dZ: any shape, the same
    """

    def forward(self, X):
        self.mask = (X > 0) & (X < 6)
        return np.clip(X, 0, 6).astype(X.dtype)

    def backward(self, dZ):
        return np.where(self.mask, dZ, 0).astype(dZ.dtype)


class LeakyReLU(Layer):
    """ReLU with slope ``negative_slope`` for negative inputs.

    Forward::

        Z = X            if X > 0
        Z = a * X        otherwise

    Backward::

        dX = dZ * (1 if X > 0 else a)

    The slope has no default here on purpose: torch.nn.LeakyReLU uses 0.01,
    keras.layers.LeakyReLU 0.3 and keras.activations.leaky_relu 0.2.

    Args:
        negative_slope: a.
    """

    def __init__(self, negative_slope: float | None, name: str | None = None) -> None:
        super().__init__(name)
        if negative_slope is not None and not np.isfinite(negative_slope):
            raise ValueError(f"LeakyReLU {self.name!r}: negative_slope must be a finite number, received {negative_slope!r}")
        self.negative_slope = None if negative_slope is None else float(negative_slope)

    def forward(self, X):
        if self.negative_slope is None:
            raise ValueError(f"LeakyReLU {self.name!r}: scratch has no default negative_slope; give one explicitly")
        self.mask = X > 0
        return np.where(self.mask, X, self.negative_slope * X).astype(X.dtype)

    def backward(self, dZ):
        return np.where(self.mask, dZ, self.negative_slope * dZ).astype(dZ.dtype)


class Softmax(Layer):
    """Softmax over the last axis.

    Forward::

        Z_i = exp(X_i - max(X)) / sum_j exp(X_j - max(X))     # the shift changes nothing but overflow

    Backward (the Jacobian diag(Z) - Z Z^T applied to dZ)::

        dX = Z * (dZ - sum_j dZ_j Z_j)

    Shapes:
        X, Z, dZ, dX: (..., K)
    """

    def forward(self, X):
        E = np.exp(X - X.max(axis=-1, keepdims=True))  # (..., K), every entry in (0, 1]
        self.Z = E / E.sum(axis=-1, keepdims=True)
        return self.Z

    def backward(self, dZ):
        Z = self.Z
        return Z * (dZ - (dZ * Z).sum(axis=-1, keepdims=True))


class LogSoftmax(Layer):
    """Log-softmax over the last axis (what ``F.log_softmax`` returns before ``nll_loss``).

    Forward::

        Z_i = X_i - m - log(sum_j exp(X_j - m)),   m = max(X)

    Backward (dZ_i / dX_k = [i == k] - softmax(X)_k)::

        dX = dZ - softmax(X) * sum_j dZ_j

    Shapes:
        X, Z, dZ, dX: (..., K)
    """

    def forward(self, X):
        S = X - X.max(axis=-1, keepdims=True)  # (..., K), every entry <= 0
        E = np.exp(S)
        self.P = E / E.sum(axis=-1, keepdims=True)  # softmax(X)
        return S - np.log(E.sum(axis=-1, keepdims=True))

    def backward(self, dZ):
        return dZ - self.P * dZ.sum(axis=-1, keepdims=True)


class GELU(Layer):
    """Gaussian error linear unit, exact or with the tanh approximation.

    Forward, exact (torch.nn.GELU(), keras.activations.gelu), c = inv_sqrt2 = 1/sqrt(2)::

        Z = X * Φ(X),   Φ(x) = (1 + erf(c x)) / 2

    Forward, approximate="tanh" (keras.ops.gelu's default), k = coeff = 0.044715::

        u = sqrt(2/π) * (X + k X**3)
        Z = X * (1 + tanh(u)) / 2

    Backward::

        exact:   dX = dZ * (Φ(X) + X φ(X)),   φ(x) = c exp(-(c x)²) / sqrt(π)   (= exp(-x²/2) / sqrt(2π))
        tanh:    dX = dZ * ((1 + t)/2 + X (1 - t²)/2 * sqrt(2/π) (1 + 3k X²)),  t = tanh(u)

    Shapes:
        X, dX, Z, dZ: any, all the same

    Args:
        approximate: "none" (exact) or "tanh", as torch.nn.GELU names it.
        inv_sqrt2: the constant c of the exact form; 1/sqrt(2) unless a library rounds it otherwise.
        coeff: the constant k of the tanh form; 0.044715 unless a library rounds it otherwise.
    """

    def __init__(
        self,
        approximate: str | None = "none",
        name: str | None = None,
        inv_sqrt2: float = 1 / math.sqrt(2),
        coeff: float = 0.044715,
    ) -> None:
        super().__init__(name)
        if approximate not in ("none", "tanh", None):
            raise ValueError(f"GELU {self.name!r}: approximate must be 'none' or 'tanh', received {approximate!r}")
        self.approximate = approximate
        self.inv_sqrt2 = inv_sqrt2
        self.coeff = coeff

    def forward(self, X):
        if self.approximate is None:
            raise ValueError(f"GELU {self.name!r}: scratch has no default approximation; choose 'none' or 'tanh'")
        self.X = X
        if self.approximate == "tanh":
            s = math.sqrt(2 / math.pi)
            self.T = np.tanh(s * (X + self.coeff * X**3))
            return 0.5 * X * (1 + self.T)
        self.Phi = 0.5 * (1 + erf(self.inv_sqrt2 * X))
        return X * self.Phi

    def backward(self, dZ):
        X = self.X
        if self.approximate == "tanh":
            s = math.sqrt(2 / math.pi)
            T = self.T
            return dZ * (0.5 * (1 + T) + 0.5 * X * (1 - T**2) * s * (1 + 3 * self.coeff * X**2))
        c = self.inv_sqrt2
        phi = (c / math.sqrt(math.pi)) * np.exp(-((c * X) ** 2))
        return dZ * (self.Phi + X * phi)


ACTIVATIONS = {
    "linear": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "relu6": ReLU6,
    "silu": SiLU,
    "hard_sigmoid": HardSigmoid,
    "hard_swish": HardSwish,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
    "log_softmax": LogSoftmax,
    "gelu": GELU,
}


def get(name: str, *, negative_slope: float | None = None, approximate: str = "none", layer_name: str | None = None) -> Layer:
    """Build an activation layer from its Keras name ("linear", "relu", "leaky_relu", ...)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose from {sorted(ACTIVATIONS)}")
    if name == "leaky_relu":
        return LeakyReLU(negative_slope, name=layer_name)
    if name == "gelu":
        return GELU(approximate, name=layer_name)
    return ACTIVATIONS[name](name=layer_name)
