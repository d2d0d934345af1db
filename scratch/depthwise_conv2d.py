"""Depthwise 2-D convolution over NHWC images: each input channel convolved with its own m filters."""

from __future__ import annotations

import numpy as np

from scratch.conv2d import as_pair, check_padding, geometry, pad_hw, windows
from scratch.layer import Layer, glorot_uniform


class DepthwiseConv2D(Layer):
    """Z = depthwise_conv(X, W) + b: channel c meets only its own kernels W[:, :, c, :].

    Forward, with Xp the zero-padded input and V its windows (scratch.conv2d.windows)::

        V[n, i, j, p, q, c] = Xp[n, i*sh + p*dh, j*sw + q*dw, c]
        Z[n, i, j, c*m + k] = b[c*m + k] + sum_{p, q} V[n, i, j, p, q, c] * W[p, q, c, k]

    Backward, given dZ = dL/dZ, seen as (B, H_out, W_out, C, m)::

        dW[p, q, c, k] = sum_{n, i, j} V[n, i, j, p, q, c] * dZ[n, i, j, c, k]
        db = dZ summed over (n, i, j)
        dV[n, i, j, p, q, c] = sum_k dZ[n, i, j, c, k] * W[p, q, c, k]
        dXp[n, i*sh + p*dh, j*sw + q*dw, c] += dV[n, i, j, p, q, c]   # one strided slice per (p, q)
        dX = dXp without its padding

    Output channel c*m + k is input channel c's k-th filter: the order of torch's
    nn.Conv2d(C, C*m, groups=C) and of Keras' DepthwiseConv2D.

    Shapes:
        X, dX: (B, H, W, C)
        W, dW: (kh, kw, C, m)        # the Keras kernel is W; nn.Conv2d(groups=C).weight is (C*m, 1, kh, kw)
        b, db: (C*m,)
        Z, dZ: (B, H_out, W_out, C*m)

    Args:
        kernel_size: (kh, kw), or one int.
        strides: (sh, sw), or one int.
        padding: "valid" or "same" (Keras' rule, scratch.conv2d.output_length).
        depth_multiplier: m, the filters per input channel.
        dilation_rate: (dh, dw), or one int.
        use_bias: whether b exists.

    W is initialised Glorot-uniform as Keras does for its kernel shape (kh, kw, C, m):
    fan_in = kh*kw*C, fan_out = kh*kw*m; b with zeros.
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = 1,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        where = f"DepthwiseConv2D {self.name!r}"
        m = depth_multiplier
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
            raise ValueError(f"{where}: depth_multiplier must be a positive integer, received {m!r}")
        self.depth_multiplier = int(m)
        self.kernel_size = as_pair(kernel_size, "kernel_size", where)
        self.strides = as_pair(strides, "strides", where)
        self.dilation_rate = as_pair(dilation_rate, "dilation_rate", where)
        self.padding = check_padding(padding, where)
        self.use_bias = bool(use_bias)
        self.input_shape: tuple[int, int, int] | None = None

    def _geometry(self, H: int, W: int):
        """((H_out, W_out), (top, bottom, left, right)) for an H x W input."""
        return geometry(H, W, self.kernel_size, self.strides, self.dilation_rate, self.padding)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 3:
            raise ValueError(
                f"DepthwiseConv2D {self.name!r}: expects (H, W, C) images, received input shape {input_shape}"
            )
        H, W, C = (int(d) for d in input_shape)
        (kh, kw), (dh, dw) = self.kernel_size, self.dilation_rate
        Kh, Kw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
        if self.padding == "valid" and (H < Kh or W < Kw):
            raise ValueError(
                f"DepthwiseConv2D {self.name!r}: input {H}x{W} is smaller than the dilated kernel {Kh}x{Kw} "
                "with padding='valid'; use padding='same' or a larger input"
            )
        self.input_shape = (H, W, C)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (H_out, W_out), _ = self._geometry(int(input_shape[0]), int(input_shape[1]))
        return (H_out, W_out, int(input_shape[2]) * self.depth_multiplier)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        (kh, kw), C, m = self.kernel_size, self.input_shape[2], self.depth_multiplier
        shapes = {"W": (kh, kw, C, m)}
        if self.use_bias:
            shapes["b"] = (C * m,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"DepthwiseConv2D {self.name!r}: call build(input_shape) before init")
        (kh, kw), C, m = self.kernel_size, self.input_shape[2], self.depth_multiplier
        self.params["W"] = glorot_uniform(rng, kh * kw * C, kh * kw * m, (kh, kw, C, m), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(C * m, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        kh, kw, C, m = W.shape
        if X.ndim != 4 or X.shape[-1] != C:
            raise ValueError(f"DepthwiseConv2D {self.name!r}: expects X of shape (B, H, W, {C}), received {X.shape}")
        B, H, W_in, _ = X.shape
        (H_out, W_out), pads = self._geometry(H, W_in)
        Xp = pad_hw(X, pads)  # (B, Hp, Wp, C)
        V = windows(Xp, (kh, kw), self.strides, self.dilation_rate, (H_out, W_out))  # (B, H_out, W_out, kh, kw, C)
        Z = np.einsum("nijpqc,pqck->nijck", V, W).reshape(B, H_out, W_out, C * m)  # channel c*m + k
        if self.use_bias:
            Z += self.params["b"]
        self.V, self.Xp_shape, self.pads = V, Xp.shape, pads
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        W, V = self.params["W"], self.V
        kh, kw, C, m = W.shape
        B, H_out, W_out, _ = dZ.shape
        (sh, sw), (dh, dw) = self.strides, self.dilation_rate
        dZ5 = dZ.reshape(B, H_out, W_out, C, m)  # (B, H_out, W_out, C, m)
        self.grads["W"] = np.einsum("nijpqc,nijck->pqck", V, dZ5)
        if self.use_bias:
            self.grads["b"] = dZ.sum(axis=(0, 1, 2))
        dV = np.einsum("nijck,pqck->pqnijc", dZ5, W)  # (kh, kw, B, H_out, W_out, C)
        dXp = np.zeros(self.Xp_shape, dtype=dV.dtype)  # (B, Hp, Wp, C)
        for p in range(kh):
            rows = slice(p * dh, p * dh + (H_out - 1) * sh + 1, sh)
            for q in range(kw):
                cols = slice(q * dw, q * dw + (W_out - 1) * sw + 1, sw)
                dXp[:, rows, cols, :] += dV[p, q]
        top, bottom, left, right = self.pads
        Hp, Wp = self.Xp_shape[1:3]
        return dXp[:, top : Hp - bottom, left : Wp - right, :]
