"""Layers that read several inputs: the residual sum and the concatenation.

Their ``forward`` takes one array per input and their ``backward`` returns one gradient
per input, in the same order.
"""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Add(Layer):
    """Z = X_1 + X_2 + ... + X_n (the residual connection).

    Forward::

        Z = sum_i X_i

    Backward, given dZ::

        dX_i = dZ            # for every i

    Shapes:
        X_i, dX_i, Z, dZ: (B, ...), all equal
    """

    def output_shape(self, input_shapes) -> tuple[int, ...]:
        shapes = {tuple(s) for s in input_shapes}
        if len(shapes) != 1:
            raise ValueError(f"Add {self.name!r}: inputs must have equal shapes, received {list(input_shapes)}")
        return tuple(input_shapes[0])

    def forward(self, *Xs: np.ndarray) -> np.ndarray:
        self.n = len(Xs)
        Z = Xs[0].copy()
        for X in Xs[1:]:
            Z += X
        return Z

    def backward(self, dZ: np.ndarray) -> list[np.ndarray]:
        return [dZ] * self.n


class Concatenate(Layer):
    """Z = [X_1, X_2, ..., X_n] joined along ``axis`` (the channels, -1, by default).

    Forward::

        Z = concat(X_1, ..., X_n, axis)

    Backward, given dZ::

        dX_i = dZ[..., o_i : o_i + d_i, ...]   # the slice X_i filled, o_i = d_1 + ... + d_(i-1)

    Shapes:
        X_i, dX_i: (B, ..., d_i, ...)
        Z, dZ: (B, ..., d_1 + ... + d_n, ...)

    Args:
        axis: the joined axis, counted with the batch axis (Keras' convention); -1 is the last.
    """

    def __init__(self, axis: int = -1, name: str | None = None) -> None:
        super().__init__(name)
        self.axis = int(axis)

    def output_shape(self, input_shapes) -> tuple[int, ...]:
        shapes = [list(s) for s in input_shapes]
        axis = self.axis if self.axis < 0 else self.axis - 1  # input_shapes exclude the batch axis
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)

    def forward(self, *Xs: np.ndarray) -> np.ndarray:
        self.sizes = [X.shape[self.axis] for X in Xs]
        return np.concatenate(Xs, axis=self.axis)

    def backward(self, dZ: np.ndarray) -> list[np.ndarray]:
        cuts = np.cumsum(self.sizes)[:-1]
        return np.split(dZ, cuts, axis=self.axis)


class Multiply(Layer):
    """Z = X_1 * X_2 * ... * X_n elementwise, broadcast (a squeeze-and-excitation gate times its map).

    An input with size 1 on an axis is repeated along it (NumPy's broadcasting, as Keras'
    Multiply and torch's ``*`` do): a (B, 1, 1, C) gate scales every pixel of a (B, H, W, C) map.

    Forward::

        Z = prod_i X_i                          # broadcast to the largest shape

    Backward, given dZ::

        dX_i = sum over X_i's broadcast axes of (dZ * prod_{j != i} X_j)

    Shapes:
        X_i, dX_i: (B, ...), each broadcastable to Z's shape
        Z, dZ: (B, ...), the broadcast shape
    """

    def output_shape(self, input_shapes) -> tuple[int, ...]:
        try:
            return tuple(np.broadcast_shapes(*(tuple(s) for s in input_shapes)))
        except ValueError:
            raise ValueError(
                f"Multiply {self.name!r}: inputs do not broadcast together, received {list(map(tuple, input_shapes))}"
            ) from None

    def forward(self, *Xs: np.ndarray) -> np.ndarray:
        self.Xs = Xs
        Z = Xs[0]
        for X in Xs[1:]:
            Z = Z * X  # (B, H, W, C) * (B, 1, 1, C) -> (B, H, W, C)
        return Z

    def backward(self, dZ: np.ndarray) -> list[np.ndarray]:
        dXs = []
        for i, X in enumerate(self.Xs):
            dX = dZ
            for j, other in enumerate(self.Xs):
                if j != i:
                    dX = dX * other
            axes = tuple(a for a in range(dZ.ndim) if X.shape[a] == 1 and dZ.shape[a] != 1)
            dXs.append(dX.sum(axis=axes, keepdims=True) if axes else dX)  # back to X_i's shape
        return dXs
