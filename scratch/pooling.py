"""2-D max and average pooling over NHWC images.

Both slide a pool_size window with the given strides over H and W, channel by
channel, with Keras/TensorFlow's padding rule (``conv2d.output_length``): with
``"same"``, the odd padded row/column goes at the bottom/right. Padded cells never
count: max pooling pads with -inf, average pooling divides by the number of real
cells in each window.
"""

from __future__ import annotations

import numpy as np

from scratch.conv2d import as_pair, check_padding, geometry, pad_hw, windows
from scratch.layer import Layer


class _Pool2D(Layer):
    """Arguments, geometry and shapes shared by MaxPool2D and AvgPool2D."""

    def __init__(
        self,
        pool_size: int | tuple[int, int] = 2,
        strides: int | tuple[int, int] | None = None,
        padding: str = "valid",
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        where = f"{type(self).__name__} {self.name!r}"
        self.pool_size = as_pair(pool_size, "pool_size", where)
        self.strides = self.pool_size if strides is None else as_pair(strides, "strides", where)
        self.padding = check_padding(padding, where)

    def _geometry(self, H: int, W: int):
        """((H_out, W_out), (top, bottom, left, right)) for an H x W input."""
        return geometry(H, W, self.pool_size, self.strides, (1, 1), self.padding)

    def build(self, input_shape: tuple[int, ...]) -> None:
        name = f"{type(self).__name__} {self.name!r}"
        if len(input_shape) != 3:
            raise ValueError(f"{name}: expects (H, W, C) images, received input shape {input_shape}")
        H, W = int(input_shape[0]), int(input_shape[1])
        ph, pw = self.pool_size
        if self.padding == "valid" and (H < ph or W < pw):
            raise ValueError(f"{name}: input {H}x{W} is smaller than the pool {ph}x{pw} with padding='valid'")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        (H_out, W_out), _ = self._geometry(int(input_shape[0]), int(input_shape[1]))
        return (H_out, W_out, int(input_shape[2]))

    def _scatter(self, parts, Xp_shape, pads) -> np.ndarray:
        """Add parts[p][q] (B, H_out, W_out, C) at window offset (p, q), then drop the padding."""
        (ph, pw), (sh, sw) = self.pool_size, self.strides
        _, H_out, W_out, _ = parts[0][0].shape
        dXp = np.zeros(Xp_shape, dtype=parts[0][0].dtype)  # (B, Hp, Wp, C)
        for p in range(ph):
            rows = slice(p, p + (H_out - 1) * sh + 1, sh)
            for q in range(pw):
                dXp[:, rows, q : q + (W_out - 1) * sw + 1 : sw, :] += parts[p][q]
        top, bottom, left, right = pads
        return dXp[:, top : Xp_shape[1] - bottom, left : Xp_shape[2] - right, :]


class MaxPool2D(_Pool2D):
    """Max pooling: each output is the largest input in its window.

    Forward, with Xp padded with -inf::

        Z[n, i, j, c] = max_{p, q} Xp[n, i*sh + p, j*sw + q, c]
        A[n, i, j, c] = argmax_{p, q} (same), as the flat index p*pw + q

    Backward::

        dX[n, i*sh + p, j*sw + q, c] += dZ[n, i, j, c]   where (p, q) = A[n, i, j, c]

    Ties go to a single winner, the first maximum in window order (row by row),
    as torch's CPU kernel does; ties only occur in practice after a ReLU, where
    every candidate is 0 and the ReLU's own derivative zeroes the gradient anyway.

    Shapes:
        X, dX: (B, H, W, C)
        Z, dZ, A: (B, H_out, W_out, C)

    Args:
        pool_size: (ph, pw), or one int.
        strides: (sh, sw), or one int; None means pool_size (both frameworks' default).
        padding: "valid" or "same" (H_out = ceil(H / sh)).
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        B, H, W, C = X.shape
        (ph, pw) = self.pool_size
        (H_out, W_out), pads = self._geometry(H, W)
        Xp = pad_hw(X, pads, value=-np.inf)  # (B, Hp, Wp, C)
        V = windows(Xp, (ph, pw), self.strides, (1, 1), (H_out, W_out))  # (B, H_out, W_out, ph, pw, C)
        V = V.reshape(B, H_out, W_out, ph * pw, C)  # a copy: windows overlap when strides < pool_size
        self.A = V.argmax(axis=3)  # (B, H_out, W_out, C): the first maximum wins
        self.Xp_shape, self.pads = Xp.shape, pads
        return np.take_along_axis(V, self.A[:, :, :, None, :], axis=3)[:, :, :, 0, :]

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        ph, pw = self.pool_size
        parts = [[np.where(self.A == p * pw + q, dZ, 0).astype(dZ.dtype) for q in range(pw)] for p in range(ph)]
        return self._scatter(parts, self.Xp_shape, self.pads)


class AvgPool2D(_Pool2D):
    """Average pooling over the real (non-padded) cells of each window.

    Forward, with Xp zero-padded and n_ij the number of real cells in window (i, j)::

        Z[n, i, j, c] = (1 / n_ij) * sum_{p, q} Xp[n, i*sh + p, j*sw + q, c]

    With "valid" padding n_ij = ph * pw everywhere. With "same" padding the border
    windows hold fewer real cells; Keras (every backend) divides by that count, as
    torch's ``count_include_pad=False`` would, but torch pads symmetrically, so a
    PyTorch model divides a sum pool of the asymmetrically padded input by the same
    count.

    Backward::

        dX[n, i*sh + p, j*sw + q, c] += dZ[n, i, j, c] / n_ij      # for every (p, q)

    Shapes:
        X, dX: (B, H, W, C)
        Z, dZ: (B, H_out, W_out, C)
        n: (H_out, W_out), stored as (1, H_out, W_out, 1)

    Args:
        pool_size: (ph, pw), or one int.
        strides: (sh, sw), or one int; None means pool_size.
        padding: "valid" or "same".
    """

    def forward(self, X: np.ndarray) -> np.ndarray:
        B, H, W, C = X.shape
        (H_out, W_out), pads = self._geometry(H, W)
        window = (self.pool_size, self.strides, (1, 1), (H_out, W_out))
        Xp = pad_hw(X, pads)  # (B, Hp, Wp, C)
        real = pad_hw(np.ones((1, H, W, 1), dtype=X.dtype), pads)  # 1 on real cells, 0 on padding
        self.n = windows(real, *window).sum(axis=(3, 4))  # (1, H_out, W_out, 1)
        self.Xp_shape, self.pads = Xp.shape, pads
        return windows(Xp, *window).sum(axis=(3, 4)) / self.n  # (B, H_out, W_out, C)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        ph, pw = self.pool_size
        share = dZ / self.n  # (B, H_out, W_out, C)
        return self._scatter([[share] * pw for _ in range(ph)], self.Xp_shape, self.pads)
