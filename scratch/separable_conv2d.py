"""Depthwise-separable 2-D convolution over NHWC images: a depthwise convolution, then a 1x1 one."""

from __future__ import annotations

import numpy as np

from scratch.depthwise_conv2d import DepthwiseConv2D
from scratch.layer import Layer, glorot_uniform


class SeparableConv2D(Layer):
    """Z = pointwise(depthwise(X, D), P) + b: each channel filtered on its own, then the channels mixed.

    Forward, Y the depthwise output (scratch.depthwise_conv2d, without a bias)::

        Y[n, i, j, c*m + k] = sum_{p, q} V[n, i, j, p, q, c] * D[p, q, c, k]
        Z[n, i, j, f] = b[f] + sum_e Y[n, i, j, e] * P[0, 0, e, f]      # a 1x1 convolution: Y @ P

    Backward, given dZ = dL/dZ::

        dP[0, 0] = sum_{n, i, j} Y[n, i, j, :, None] * dZ[n, i, j, None, :]
        db = dZ summed over (n, i, j)
        dY = dZ @ P[0, 0].T
        dD, dX = the depthwise backward of dY

    Strides, padding and dilation belong to the depthwise stage; the pointwise stage is
    stride 1, no padding. The only bias is the pointwise one (Keras' SeparableConv2D).

    Shapes:
        X, dX: (B, H, W, C)
        D, dD: (kh, kw, C, m)              # Keras' depthwise_kernel; torch's depthwise.weight is (C*m, 1, kh, kw)
        Y, dY: (B, H_out, W_out, C*m)
        P, dP: (1, 1, C*m, filters)        # Keras' pointwise_kernel; torch's pointwise.weight is (filters, C*m, 1, 1)
        b, db: (filters,)
        Z, dZ: (B, H_out, W_out, filters)

    Args:
        filters: output channels.
        kernel_size, strides, padding, dilation_rate: of the depthwise stage (as DepthwiseConv2D).
        depth_multiplier: m, the depthwise filters per input channel.
        use_bias: whether b exists.

    D and P are initialised Glorot-uniform as Keras does for their shapes (D: fan_in = kh*kw*C,
    fan_out = kh*kw*m; P: fan_in = C*m, fan_out = filters); b with zeros.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int | tuple[int, int],
        strides: int | tuple[int, int] = 1,
        padding: str = "valid",
        depth_multiplier: int = 1,
        dilation_rate: int | tuple[int, int] = 1,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"SeparableConv2D {self.name!r}: filters must be a positive integer, received {filters!r}")
        self.filters = int(filters)
        self.depthwise = DepthwiseConv2D(
            kernel_size, strides, padding, depth_multiplier, dilation_rate, use_bias=False, name=f"{self.name}.depthwise"
        )
        self.kernel_size, self.strides = self.depthwise.kernel_size, self.depthwise.strides
        self.padding, self.dilation_rate = self.depthwise.padding, self.depthwise.dilation_rate
        self.depth_multiplier = self.depthwise.depth_multiplier
        self.use_bias = bool(use_bias)
        self.input_shape: tuple[int, int, int] | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        self.depthwise.build(input_shape)
        self.input_shape = self.depthwise.input_shape

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        H_out, W_out, _ = self.depthwise.output_shape(input_shape)
        return (H_out, W_out, self.filters)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        (kh, kw), C, m = self.kernel_size, self.input_shape[2], self.depth_multiplier
        shapes = {"D": (kh, kw, C, m), "P": (1, 1, C * m, self.filters)}
        if self.use_bias:
            shapes["b"] = (self.filters,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"SeparableConv2D {self.name!r}: call build(input_shape) before init")
        (kh, kw), C, m, F = self.kernel_size, self.input_shape[2], self.depth_multiplier, self.filters
        self.params["D"] = glorot_uniform(rng, kh * kw * C, kh * kw * m, (kh, kw, C, m), dtype)
        self.params["P"] = glorot_uniform(rng, C * m, F, (1, 1, C * m, F), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(F, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.depthwise.params["W"] = self.params["D"]
        Y = self.depthwise.forward(X)  # (B, H_out, W_out, C*m)
        Z = Y @ self.params["P"][0, 0]  # (B, H_out, W_out, filters)
        if self.use_bias:
            Z += self.params["b"]
        self.Y = Y
        return Z

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        P = self.params["P"][0, 0]  # (C*m, filters)
        self.grads["P"] = np.einsum("nije,nijf->ef", self.Y, dZ)[None, None]  # (1, 1, C*m, filters)
        if self.use_bias:
            self.grads["b"] = dZ.sum(axis=(0, 1, 2))
        dY = dZ @ P.T  # (B, H_out, W_out, C*m)
        dX = self.depthwise.backward(dY)
        self.grads["D"] = self.depthwise.grads["W"]
        return dX
