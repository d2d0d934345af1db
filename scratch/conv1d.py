"""1-D convolution over batch-first, channels-last sequences (B, L, C), as one matrix product."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from scratch.conv2d import output_length
from scratch.layer import Layer, glorot_uniform

PADDINGS = ("valid", "same", "causal")


def _positive_int(value, what: str, where: str) -> int:
    if isinstance(value, (tuple, list)) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{where}: {what} must be a positive integer, received {value!r}")
    return int(value)


class Conv1D(Layer):
    """1-D cross-correlation along the steps: Z = conv(X, W) + b.

    Forward, with Xp the zero-padded input::

        Z[n, t, o] = b[o] + sum_{p, c} Xp[n, t*s + p*d, c] * W[p, c, o]

    computed as one matrix product over the unrolled windows (im2col)::

        cols = windows(Xp)                    # (N, k*C_in), N = B*L_out
        Z = cols @ W.reshape(k*C_in, C_out) + b

    Backward, given dZ = dL/dZ (flattened to (N, C_out))::

        dW = cols.T @ dZ                      # reshaped to (k, C_in, C_out)
        db = dZ.sum(axis=0)
        dXp[n, t*s + p*d, c] += (dZ @ W[p].T)[n, t, c]    # one strided slice per tap p
        dX = dXp without its padding

    Padding, with the dilated extent K = (k - 1)*d + 1::

        valid:   none;                         L_out = floor((L - K) / s) + 1
        same:    Keras' rule (scratch.conv2d.output_length), the odd step after; L_out = ceil(L / s)
        causal:  K - 1 zeros before, none after; L_out = floor((L - 1) / s) + 1,
                 so Z[:, t] reads X[:, :t*s + 1] only (keras/src/layers/convolutional/conv1d.py)

    Shapes:
        X, dX: (B, L, C_in)
        W, dW: (k, C_in, C_out)        # the Keras kernel is W; nn.Conv1d.weight is W.transpose(2, 1, 0)
        b, db: (C_out,)
        Z, dZ: (B, L_out, C_out)

    Args:
        filters: C_out.
        kernel_size: k.
        strides: s.
        padding: "valid", "same" or "causal".
        dilation_rate: d, the taps are d steps apart (Keras refuses s > 1 with d > 1).
        use_bias: whether b exists.

    W is initialised Glorot-uniform with fan_in = k*C_in and fan_out = k*C_out (Keras' default),
    b with zeros.
    """

    def __init__(
        self,
        filters: int,
        kernel_size: int,
        strides: int = 1,
        padding: str = "valid",
        dilation_rate: int = 1,
        use_bias: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        where = f"Conv1D {self.name!r}"
        self.filters = _positive_int(filters, "filters", where)
        self.kernel_size = _positive_int(kernel_size, "kernel_size", where)
        self.strides = _positive_int(strides, "strides", where)
        self.dilation_rate = _positive_int(dilation_rate, "dilation_rate", where)
        if not isinstance(padding, str) or padding.lower() not in PADDINGS:
            raise ValueError(f"{where}: padding must be one of {', '.join(PADDINGS)}, received {padding!r}")
        self.padding = padding.lower()
        self.use_bias = bool(use_bias)
        self.input_shape: tuple[int, int] | None = None

    def _geometry(self, L: int) -> tuple[int, int, int]:
        """(L_out, pad_before, pad_after) for a sequence of L steps."""
        k, s, d = self.kernel_size, self.strides, self.dilation_rate
        if self.padding == "causal":
            before = (k - 1) * d
            return output_length(L + before, k, s, d, "valid")[0], before, 0
        return output_length(L, k, s, d, self.padding)

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(f"Conv1D {self.name!r}: expects (L, C) sequences, received input shape {input_shape}")
        L, C = (int(n) for n in input_shape)
        K = (self.kernel_size - 1) * self.dilation_rate + 1
        if self.padding == "valid" and L < K:
            raise ValueError(
                f"Conv1D {self.name!r}: input of {L} steps is shorter than the dilated kernel {K} "
                "with padding='valid'; use padding='same' or 'causal', or a longer input"
            )
        self.input_shape = (L, C)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (self._geometry(int(input_shape[0]))[0], self.filters)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {"W": (self.kernel_size, self.input_shape[1], self.filters)}
        if self.use_bias:
            shapes["b"] = (self.filters,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        if self.input_shape is None:
            raise RuntimeError(f"Conv1D {self.name!r}: call build(input_shape) before init")
        k, C_in, C_out = self.kernel_size, self.input_shape[1], self.filters
        self.params["W"] = glorot_uniform(rng, k * C_in, k * C_out, (k, C_in, C_out), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(C_out, dtype=dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        W = self.params["W"]
        k, C_in, C_out = W.shape
        if X.ndim != 3 or X.shape[-1] != C_in:
            raise ValueError(f"Conv1D {self.name!r}: expects X of shape (B, L, {C_in}), received {X.shape}")
        B, L, _ = X.shape
        L_out, before, after = self._geometry(L)
        Xp = np.pad(X, ((0, 0), (before, after), (0, 0)))  # (B, Lp, C_in)
        sB, sL, sC = Xp.strides
        s, d = self.strides, self.dilation_rate
        V = as_strided(Xp, (B, L_out, k, C_in), (sB, sL * s, sL * d, sC), writeable=False)  # (B, L_out, k, C_in)
        cols = V.reshape(B * L_out, k * C_in)  # (N, k*C_in): the one im2col copy
        Z = cols @ W.reshape(k * C_in, C_out)  # (N, C_out)
        if self.use_bias:
            Z += self.params["b"]
        self.cols, self.Xp_shape, self.pads = cols, Xp.shape, (before, after)
        return Z.reshape(B, L_out, C_out)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        W, cols = self.params["W"], self.cols
        k, C_in, C_out = W.shape
        B, L_out, _ = dZ.shape
        s, d = self.strides, self.dilation_rate
        dZ2 = dZ.reshape(-1, C_out)  # (N, C_out)
        self.grads["W"] = (cols.T @ dZ2).reshape(k, C_in, C_out)
        if self.use_bias:
            self.grads["b"] = dZ2.sum(axis=0)
        dcols = np.matmul(dZ2, W.transpose(0, 2, 1)).reshape(k, B, L_out, C_in)  # one (N, C_in) block per tap
        dXp = np.zeros(self.Xp_shape, dtype=dcols.dtype)  # (B, Lp, C_in)
        for p in range(k):
            dXp[:, p * d : p * d + (L_out - 1) * s + 1 : s, :] += dcols[p]
        before, after = self.pads
        return dXp[:, before : self.Xp_shape[1] - after, :]
