"""Raw tensor operations, as large model libraries write them in ``forward``: each a tiny layer.

``x * c``, ``a @ b``, ``x.view(...)``, ``x.transpose(...)``, ``x[..., i:j]``,
``x.masked_fill(M, v)`` and ``x + self.pos`` (a learned table added as it is). Each is a map
X -> Z with its backward right under its forward, like every layer here. Shapes exclude the
batch axis everywhere (``output_shape``), the arrays in ``forward`` include it.
"""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer


class Scale(Layer):
    """Multiply or divide by a constant: Z = X * c (or Z = X / c).

    Forward::

        Z = X * c          # divide=False
        Z = X / c          # divide=True (kept as a division: x / sqrt(d) rounds unlike x * (1 / sqrt(d)))

    Backward, given dZ = dL/dZ::

        dX = dZ * c        # divide=False
        dX = dZ / c        # divide=True

    Shapes:
        X, dX, Z, dZ: (B, ...), all equal

    Args:
        factor: the constant c (non-zero when dividing).
        divide: divide by c instead of multiplying.
    """

    def __init__(self, factor: float, divide: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not np.isfinite(factor):
            raise ValueError(f"Scale {self.name!r}: factor must be a finite number, received {factor!r}")
        if divide and factor == 0:
            raise ValueError(f"Scale {self.name!r}: cannot divide by factor 0")
        self.factor, self.divide = float(factor), bool(divide)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X / self.factor if self.divide else X * self.factor

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ / self.factor if self.divide else dZ * self.factor


class MatMul(Layer):
    """Batched matrix product of two inputs: Z = A @ B over the last two axes.

    Forward::

        Z[..., i, k] = sum_j A[..., i, j] * B[..., j, k]

    Backward, given dZ::

        dA = dZ @ B^T      # B^T swaps B's last two axes
        dB = A^T @ dZ

    Shapes:
        A, dA: (B, ..., n, m)
        B, dB: (B, ..., m, p)     # the same leading axes as A (no broadcasting)
        Z, dZ: (B, ..., n, p)
    """

    def output_shape(self, input_shapes) -> tuple[int, ...]:
        a, b = (tuple(s) for s in input_shapes)
        if len(a) < 2 or len(a) != len(b) or a[:-2] != b[:-2] or a[-1] != b[-2]:
            raise ValueError(f"MatMul {self.name!r}: cannot multiply {a} by {b} (leading axes equal, (n, m) @ (m, p))")
        return (*a[:-1], b[-1])

    def forward(self, A: np.ndarray, B: np.ndarray) -> np.ndarray:
        self.A, self.B = A, B
        return A @ B

    def backward(self, dZ: np.ndarray) -> list[np.ndarray]:
        dA = dZ @ np.swapaxes(self.B, -1, -2)
        dB = np.swapaxes(self.A, -1, -2) @ dZ
        return [dA, dB]


class Reshape(Layer):
    """The same numbers in another shape (row-major), the batch axis kept: Z = X.reshape(B, *target).

    Forward::

        Z = X.reshape(B, *target_shape)

    Backward, given dZ::

        dX = dZ.reshape(X.shape)

    Shapes:
        X, dX: (B, *input_shape)
        Z, dZ: (B, *target_shape)     # prod(target_shape) == prod(input_shape)

    Args:
        target_shape: one sample's shape afterwards.
    """

    def __init__(self, target_shape, name: str | None = None) -> None:
        super().__init__(name)
        self.target_shape = tuple(int(d) for d in target_shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if int(np.prod(input_shape)) != int(np.prod(self.target_shape)):
            raise ValueError(f"Reshape {self.name!r}: cannot reshape {tuple(input_shape)} into {self.target_shape}")
        return self.target_shape

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.shape = X.shape
        return X.reshape(X.shape[0], *self.target_shape)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ.reshape(self.shape)


class Permute(Layer):
    """Reorder the axes of a sample (the batch axis stays first): Z = X.transpose(0, *dims).

    Forward::

        Z[b, i_dims[0], i_dims[1], ...] = X[b, i_1, i_2, ...]     # axis k of Z is axis dims[k-1] of X

    Backward, given dZ::

        dX = dZ.transpose(0, *inverse(dims))

    Shapes:
        X, dX: (B, d_1, ..., d_n)
        Z, dZ: (B, d_dims[0], ..., d_dims[n-1])

    Args:
        dims: a permutation of 1..n (Keras' ``Permute`` convention: axes counted from 1, the batch is 0).
    """

    def __init__(self, dims, name: str | None = None) -> None:
        super().__init__(name)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(
                f"Permute {self.name!r}: dims must be a permutation of 1..{len(self.dims)}, received {dims}"
            )

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if len(input_shape) != len(self.dims):
            raise ValueError(f"Permute {self.name!r}: dims {self.dims} for inputs of rank {len(input_shape)}")
        return tuple(input_shape[d - 1] for d in self.dims)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X.transpose(0, *self.dims)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return dZ.transpose(0, *(int(i) + 1 for i in np.argsort(self.dims)))


class Slice(Layer):
    """A contiguous block of the last axis: Z = X[..., start:stop] (one piece of ``x.chunk(n, -1)``).

    Forward::

        Z = X[..., start:stop]

    Backward, given dZ::

        dX = zeros like X;  dX[..., start:stop] = dZ

    Shapes:
        X, dX: (B, ..., D)
        Z, dZ: (B, ..., stop - start)

    Args:
        start, stop: 0 <= start < stop <= D.
    """

    def __init__(self, start: int, stop: int, name: str | None = None) -> None:
        super().__init__(name)
        self.start, self.stop = int(start), int(stop)
        if not 0 <= self.start < self.stop:
            raise ValueError(f"Slice {self.name!r}: need 0 <= start < stop, received start={start}, stop={stop}")

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.stop > input_shape[-1]:
            raise ValueError(f"Slice {self.name!r}: stop={self.stop} beyond the last axis of {tuple(input_shape)}")
        return (*input_shape[:-1], self.stop - self.start)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self.shape = X.shape
        return X[..., self.start : self.stop]

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        dX = np.zeros(self.shape, dtype=dZ.dtype)
        dX[..., self.start : self.stop] = dZ
        return dX


class MaskedFill(Layer):
    """Where a constant mask is set, a constant value: Z = where(M, v, X) (a causal attention mask).

    Forward::

        Z = where(M, v, X)      # M broadcasts over the leading axes of X

    Backward, given dZ::

        dX = where(M, 0, dZ)    # a filled entry no longer depends on X

    With v = -inf before a softmax, the filled scores get weight exp(-inf) = 0 and gradient 0,
    so the gradients stay exact (a row must keep one unmasked entry).

    Shapes:
        M: (..., n, m) booleans, the trailing axes of X
        X, dX, Z, dZ: (B, ..., n, m)

    Args:
        mask: M, nested lists of booleans (True: fill).
        value: v.
    """

    def __init__(self, mask, value: float, name: str | None = None) -> None:
        super().__init__(name)
        self.M = np.asarray(mask, dtype=bool)
        self.value = float(value)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if self.M.ndim > len(input_shape) or tuple(input_shape[len(input_shape) - self.M.ndim :]) != self.M.shape:
            raise ValueError(f"MaskedFill {self.name!r}: mask {self.M.shape} does not end inputs {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return np.where(self.M, np.asarray(self.value, dtype=X.dtype), X)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        return np.where(self.M, np.zeros((), dtype=dZ.dtype), dZ)


class AddTable(Layer):
    """A learned table added as it is (``x + self.pos``, a position table): Z = X + W.

    Forward::

        Z[b] = X[b] + W         # the same table for every sample

    Backward, given dZ::

        dW = dZ.sum(axis=0)     # summed over the batch
        dX = dZ

    Shapes:
        X, dX, Z, dZ: (B, *shape)
        W, dW: shape            # torch often stores (1, *shape): parity.convert.tensor_ops

    Args:
        shape: one sample's shape (the table's).
    """

    def __init__(self, shape, name: str | None = None) -> None:
        super().__init__(name)
        self.shape = tuple(int(d) for d in shape)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        if tuple(input_shape) != self.shape:
            raise ValueError(
                f"AddTable {self.name!r}: a table of shape {self.shape} added to inputs {tuple(input_shape)}"
            )
        return self.shape

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W": self.shape}

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        # no Keras default to copy (a table is a weight the model adds itself): N(0, 0.02), as GPT-2's wpe
        self.params["W"] = (0.02 * rng.standard_normal(self.shape)).astype(dtype)

    def forward(self, X: np.ndarray) -> np.ndarray:
        return X + self.params["W"]

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        self.grads["W"] = dZ.sum(axis=0)
        return dZ
