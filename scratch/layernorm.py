"""Layer normalisation: each sample normalised over its trailing (feature) axes."""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


def _trailing_axes(axis, name: str, where: str) -> tuple[int, ...]:
    """``-1`` or a list of consecutive trailing axes (``[-2, -1]``), as negative ints."""
    axes = [axis] if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
    ok = (
        isinstance(axes, (list, tuple))
        and len(axes) > 0
        and all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes)
        and sorted(int(a) for a in axes) == list(range(-len(axes), 0))
    )
    if not ok:
        raise ValueError(f"{where} {name!r}: axis must be -1 or consecutive trailing axes like [-2, -1], received {axis!r}")
    return tuple(range(-len(axes), 0))


class LayerNorm(Layer):
    """Normalise each sample over its last k axes, then scale and shift: Z = gamma * (X - mean) / sqrt(var + eps) + beta.

    Forward, statistics over the normalised axes of one sample (n values; no running state)::

        mean = mean(X),  Xc = X - mean,  var = mean(Xc**2)      # the biased variance
        inv_std = 1 / sqrt(var + eps)
        Xhat = Xc * inv_std
        Z = gamma * Xhat + beta

    Backward, given dZ (means over the normalised axes, sums over the others)::

        dgamma = sum(dZ * Xhat),   dbeta = sum(dZ),   dXhat = dZ * gamma
        dX = (dXhat - mean(dXhat) - Xhat * mean(dXhat * Xhat)) * inv_std

    The two extra terms are mean's and var's dependence on X; they make dX sum to zero over
    the normalised axes of each sample. gamma is all ones without ``scale``, beta zero without
    ``center``.

    Conventions: this follows keras.layers.LayerNormalization (epsilon=1e-3;
    keras/src/layers/normalization/layer_normalization.py). torch.nn.LayerNorm defaults to
    eps=1e-5 and calls gamma/beta ``weight``/``bias`` (torch/nn/modules/normalization.py).

    On a channels-last image map (B, H, W, C) with axis=-1 the statistics are per pixel, over
    its C channels (ConvNeXt's LayerNormalization). torch's trailing axis of an NCHW map is W,
    so a torch model permutes to NHWC first (``x.permute(0, 2, 3, 1)``, as ConvNeXt's own torch
    code does), applies nn.LayerNorm(C) and permutes back.

    Shapes:
        X, dX, Z, dZ: (B, ..., *N) with N the normalised (trailing) axes: (B, H, W, C) with N = (C,) on images
        gamma, dgamma, beta, dbeta: N

    Args:
        axis: -1, or consecutive trailing axes ([-2, -1]) normalised together.
        epsilon: eps, added to the variance.
        scale: learn gamma.
        center: learn beta.
    """

    def __init__(self, axis=-1, epsilon: float = 1e-3, scale: bool = True, center: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        self.axes = _trailing_axes(axis, self.name, "LayerNorm")
        if isinstance(epsilon, bool) or not isinstance(epsilon, (int, float)) or not epsilon > 0:
            raise ValueError(f"LayerNorm {self.name!r}: epsilon must be a positive number, received {epsilon!r}")
        self.epsilon, self.scale, self.center = float(epsilon), bool(scale), bool(center)
        self.shape: tuple[int, ...] | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(self.axes) > len(input_shape):
            raise ValueError(
                f"LayerNorm {self.name!r}: normalises {len(self.axes)} trailing axes of inputs of shape (B, *{tuple(input_shape)})"
            )
        self.shape = tuple(int(d) for d in input_shape[len(input_shape) - len(self.axes):])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {k: self.shape for k, on in (("gamma", self.scale), ("beta", self.center)) if on}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.shape is None:
            raise RuntimeError(f"LayerNorm {self.name!r}: call build(input_shape) before init")
        if self.scale:
            self.params["gamma"] = np.ones(self.shape, dtype=dtype)
        if self.center:
            self.params["beta"] = np.zeros(self.shape, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        mean = X.mean(axis=self.axes, keepdims=True)  # (B, ..., 1, ..., 1)
        Xc = X - mean
        var = (Xc * Xc).mean(axis=self.axes, keepdims=True)  # biased: divides by n
        self.inv_std = 1.0 / np.sqrt(var + self.epsilon)
        self.Xhat = Xc * self.inv_std
        Z = self.Xhat
        if self.scale:
            Z = Z * self.params["gamma"]
        if self.center:
            Z = Z + self.params["beta"]
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        Xhat, inv_std, axes = self.Xhat, self.inv_std, self.axes
        leading = tuple(range(dZ.ndim - len(axes)))  # the batch and any axis not normalised
        dXhat = dZ
        if self.scale:
            self.grads["gamma"] = (dZ * Xhat).sum(axis=leading)
            dXhat = dZ * self.params["gamma"]
        if self.center:
            self.grads["beta"] = dZ.sum(axis=leading)
        mean_dXhat = dXhat.mean(axis=axes, keepdims=True)
        mean_dXhat_Xhat = (dXhat * Xhat).mean(axis=axes, keepdims=True)
        return (dXhat - mean_dXhat - Xhat * mean_dXhat_Xhat) * inv_std
