"""Batch normalisation over the channel axis, with Keras' conventions."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


def two_pass_variance(X: np.ndarray, mean: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """var = mean((X - mean)**2): the deviations first, then their squares (two passes over X).

    Each deviation is exact to rounding whatever the offset of X, so var is exact to rounding.
    """
    Xc = X - mean
    return (Xc * Xc).mean(axis=axes, keepdims=True)


def one_pass_variance(X: np.ndarray, mean: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """var = mean(X**2) - mean**2: the same variance in one pass over X.

    The same number mathematically, not in floating point: both terms are about mean**2, so their
    difference loses the digits of mean**2 / var. With a relative rounding u per term, the computed
    var is off by about 2 * u * mean**2 / var relative (float64, batch 2 on 1x1 maps, two values
    per channel, the layer's output against two passes: 2.9e-11 at an offset of 1e2, 1.6e-7 at 1e4). Keras computes BatchNormalization's batch variance
    so on its torch backend (keras/src/backend/torch/nn.py, ``moments``).
    """
    return (X * X).mean(axis=axes, keepdims=True) - mean * mean


class BatchNorm(Layer):
    """Normalise each channel, then scale and shift: Z = gamma * (X - mean) / sqrt(var + eps) + beta.

    Forward, statistics over every axis but ``axis`` (n values per channel)::

        training:   mean = mean(X),  var = mean((X - mean)**2)      # the biased variance
                    (``variance=one_pass_variance``: var = mean(X**2) - mean**2, equal in exact
                    arithmetic, Keras' torch backend's formula; the default is two passes)
                    moving_mean = momentum * moving_mean + (1 - momentum) * mean
                    moving_var  = momentum * moving_var  + (1 - momentum) * var
        inference:  mean = moving_mean,  var = moving_var
        Xhat = (X - mean) / sqrt(var + eps)
        Z = gamma * Xhat + beta

    Without a scale (``scale=False``) gamma is 1 and has no gradient; without a shift
    (``center=False``) beta is 0 and has none: the layer then holds no such parameter,
    as Keras' layer holds no such weight.

    Backward, given dZ (sums over the same axes; the state update is not differentiated)::

        dgamma = sum(dZ * Xhat),   dbeta = sum(dZ),   dXhat = dZ * gamma
        training:   dX = (dXhat - mean(dXhat) - Xhat * mean(dXhat * Xhat)) / sqrt(var + eps)
        inference:  dX = dXhat / sqrt(var + eps)

    In training mode mean and var depend on X, hence the two extra terms; they make
    dX sum to zero over each channel (a shift of X cannot change Xhat). The backward pass is
    the same for either variance formula: both are the same function of X.

    Conventions (the harness's converter maps them): this follows Keras
    (keras.layers.BatchNormalization: epsilon=1e-3, momentum=0.99, moving_var
    updated with the biased variance). torch.nn.BatchNorm2d defaults to eps=1e-5,
    its momentum has the opposite meaning (new = (1 - m) * old + m * batch, default
    m = 0.1, so torch m = 1 - Keras momentum), and its running_var stores the
    unbiased variance var * n / (n - 1). Normalisation itself uses the biased
    variance in both. torch's running_mean/running_var are the moving_mean/moving_var
    here, and torch names gamma/beta ``weight``/``bias``.

    Shapes:
        X, dX, Z, dZ: (B, H, W, C) with axis=-1 (any rank; C = X.shape[axis])
        gamma, dgamma, beta, dbeta, moving_mean, moving_var: (C,)   # gamma only with scale, beta only with center

    Args:
        axis: the channel axis of X (batch axis included in the count).
        epsilon: eps, added to the variance.
        momentum: weight of the old moving statistics in each update.
        center: add the learnt shift beta (False: beta = 0, no parameter).
        scale: multiply by the learnt gamma (False: gamma = 1, no parameter).

    Attributes:
        variance: how training mode computes the batch variance, ``two_pass_variance`` (the
            default) or ``one_pass_variance``; f(X, mean, axes) -> var, shaped like mean.
    """

    variance = staticmethod(two_pass_variance)

    def __init__(
        self,
        axis: int = -1,
        epsilon: float = 1e-3,
        momentum: float = 0.99,
        center: bool = True,
        scale: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        where = f"BatchNorm {self.name!r}"
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{where}: axis must be an int, received {axis!r}")
        if not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"{where}: epsilon must be a positive number, received {epsilon!r}")
        if not isinstance(momentum, (int, float)) or not 0 <= momentum <= 1:
            raise ValueError(f"{where}: momentum must be in [0, 1], received {momentum!r}")
        for key, value in (("center", center), ("scale", scale)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{where}: {key} must be True or False, received {value!r}")
        self.axis, self.epsilon, self.momentum = int(axis), float(epsilon), float(momentum)
        self.center, self.scale = bool(center), bool(scale)
        self.channels: int | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        ndim = len(input_shape) + 1  # the batch axis is not in input_shape
        if not -ndim <= self.axis < ndim or self.axis % ndim == 0:
            raise ValueError(
                f"BatchNorm {self.name!r}: axis {self.axis} is not a feature axis "
                f"of inputs of shape (B, *{input_shape})"
            )
        self.channels = int(input_shape[self.axis % ndim - 1])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        C = self.channels
        affine = {"gamma": (C,)} if self.scale else {}
        if self.center:
            affine["beta"] = (C,)
        return {**affine, "moving_mean": (C,), "moving_var": (C,)}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.channels is None:
            raise RuntimeError(f"BatchNorm {self.name!r}: call build(input_shape) before init")
        C = self.channels
        if self.scale:
            self.params["gamma"] = np.ones(C, dtype=dtype)
        if self.center:
            self.params["beta"] = np.zeros(C, dtype=dtype)
        self.state["moving_mean"] = np.zeros(C, dtype=dtype)
        self.state["moving_var"] = np.ones(C, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        ax = self.axis % X.ndim
        C = X.shape[ax]
        axes = tuple(i for i in range(X.ndim) if i != ax)  # reduced: every axis but the channel
        shape = tuple(C if i == ax else 1 for i in range(X.ndim))  # (1, 1, 1, C) for NHWC
        if self.training:
            mean = X.mean(axis=axes, keepdims=True)  # (1, 1, 1, C)
            Xc = X - mean
            var = self.variance(X, mean, axes)  # (1, 1, 1, C), biased: divides by m, not m - 1
            m = self.momentum
            self.state["moving_mean"] = m * self.state["moving_mean"] + (1 - m) * mean.reshape(C)
            self.state["moving_var"] = m * self.state["moving_var"] + (1 - m) * var.reshape(C)
        else:
            Xc = X - self.state["moving_mean"].reshape(shape)
            var = self.state["moving_var"].reshape(shape)
        inv_std = 1.0 / np.sqrt(var + self.epsilon)  # (1, 1, 1, C)
        Xhat = Xc * inv_std
        self.Xhat, self.inv_std, self.axes, self.batch_stats = Xhat, inv_std, axes, self.training
        Z = self.params["gamma"].reshape(shape) * Xhat if self.scale else Xhat
        return Z + self.params["beta"].reshape(shape) if self.center else Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        Xhat, inv_std, axes = self.Xhat, self.inv_std, self.axes
        if self.scale:
            self.grads["gamma"] = (dZ * Xhat).sum(axis=axes)
        if self.center:
            self.grads["beta"] = dZ.sum(axis=axes)
        dXhat = dZ * self.params["gamma"].reshape(inv_std.shape) if self.scale else dZ
        if not self.batch_stats:
            return dXhat * inv_std
        mean_dXhat = dXhat.mean(axis=axes, keepdims=True)  # (1, 1, 1, C)
        mean_dXhat_Xhat = (dXhat * Xhat).mean(axis=axes, keepdims=True)  # (1, 1, 1, C)
        return (dXhat - mean_dXhat - Xhat * mean_dXhat_Xhat) * inv_std
