"""The plain (Elman) recurrence, and what every recurrent layer here shares.

All recurrent layers take batch-first inputs X (B, T, F), keep the hidden
state time-major inside (T, B, H) so each step reads a contiguous block, and
follow one recipe for speed: the input projection of every step is one matmul
before the loop, each step does one matmul with U for all gates together, and
dW, dU, db are one matmul (or sum) each after the backward loop.
"""

from __future__ import annotations

import numpy as np

from scratch.layer import Layer, glorot_uniform


def orthogonal(rng: np.random.Generator, shape: tuple[int, int], dtype) -> np.ndarray:
    """Keras' Orthogonal(gain=1): QR of a normal matrix, signs fixed by diag(R).

    A (H, k H) result has orthonormal rows (Keras draws (k H, H) and transposes).
    """
    rows, cols = shape
    A = rng.standard_normal((max(rows, cols), min(rows, cols)))
    Q, R = np.linalg.qr(A)  # (max, min)
    Q = Q * np.sign(np.diag(R))  # makes the decomposition unique
    if rows < cols:
        Q = Q.T  # (rows, cols)
    return np.ascontiguousarray(Q, dtype=dtype)  # C order, like every other parameter


def gate_sigmoid(A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """σ(A) = (1 + tanh(A / 2)) / 2, written into ``out`` (a new array when None).

    Mathematically the same function as ``activations.sigmoid`` and just as
    overflow-free (tanh saturates), but four in-place ufuncs instead of a
    ``np.where`` over two branches: about 3x faster, which matters because the
    gates of every time step go through it. Keeps the dtype of A.
    """
    out = np.empty_like(A) if out is None else out
    np.multiply(A, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


class Recurrent(Layer):
    """Shared plumbing: argument checks, shapes, the initial state and the output.

    Subclasses set ``self.gates`` (how many H-blocks W and U hold) and write
    ``forward(X, initial_state=None)`` and ``backward(dZ)``.
    """

    gates = 1

    def __init__(
        self, units: int, return_sequences: bool = False, use_bias: bool = True, name: str | None = None
    ) -> None:
        super().__init__(name)
        kind = type(self).__name__
        if int(units) != units or units < 1:
            raise ValueError(f"{kind} {self.name!r}: units must be a positive integer, received {units!r}")
        if not isinstance(return_sequences, (bool, np.bool_)):
            raise ValueError(f"{kind} {self.name!r}: return_sequences must be a bool, received {return_sequences!r}")
        self.units = int(units)
        self.return_sequences = bool(return_sequences)
        self.use_bias = bool(use_bias)
        self.input_dim: int | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} {self.name!r}: expects one sample of shape (T, F), received {input_shape}"
            )
        self.input_dim = int(input_shape[-1])

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (input_shape[0], self.units) if self.return_sequences else (self.units,)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        F, H, k = self.input_dim, self.units, self.gates
        shapes = {"W": (F, k * H), "U": (H, k * H)}
        if self.use_bias:
            shapes["b"] = (k * H,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        """Keras defaults: Glorot-uniform W, orthogonal U, zero b."""
        F, H, k = self.input_dim, self.units, self.gates
        self.params["W"] = glorot_uniform(rng, F, k * H, (F, k * H), dtype)
        self.params["U"] = orthogonal(rng, (H, k * H), dtype)
        if self.use_bias:
            self.params["b"] = np.zeros(k * H, dtype=dtype)

    def _check_input(self, X: np.ndarray) -> None:
        if X.ndim != 3 or X.shape[-1] != self.params["W"].shape[0]:
            F = self.params["W"].shape[0]
            raise ValueError(f"{type(self).__name__} {self.name!r}: expects X of shape (B, T, {F}), received {X.shape}")

    def _initial(self, S: np.ndarray | None, key: str, B: int, dtype) -> np.ndarray:
        """The given initial state (checked), or zeros."""
        H = self.units
        if S is None:
            return np.zeros((B, H), dtype=dtype)
        if S.shape != (B, H):
            raise ValueError(f"{type(self).__name__} {self.name!r}: {key} must have shape {(B, H)}, received {S.shape}")
        return S

    def _output(self, Hs: np.ndarray) -> np.ndarray:
        """Hs (T+1, B, H) time-major, Hs[0] = h0 -> Z (B, T, H) or (B, H)."""
        if self.return_sequences:
            return np.ascontiguousarray(Hs[1:].transpose(1, 0, 2))  # (B, T, H)
        return Hs[-1].copy()  # (B, H)

    def _state_grads(self, **dS: np.ndarray) -> None:
        """Store dh0 (and dc0) only when the forward pass was given initial states."""
        for key, value in dS.items():
            if self.has_initial_state:
                self.grads[key] = value
            else:
                self.grads.pop(key, None)


class SimpleRNN(Recurrent):
    """Elman recurrence: h_t = tanh(x_t W + h_{t-1} U + b).

    Forward, for t = 1..T (h_0 = initial_state or zeros)::

        A_t = x_t W + h_{t-1} U + b
        h_t = tanh(A_t)
        Z   = (h_1, ..., h_T) if return_sequences else h_T

    Backward through time, given dZ; dh_{T+1 -> T} = 0 and dh_t also receives
    dZ[:, t] (return_sequences) or dZ at t = T only::

        dA_t      = dh_t * (1 - h_t**2)
        dh_{t-1} += dA_t U.T                # the recurrent path
        dx_t      = dA_t W.T
        dW = sum_t x_t.T dA_t,   dU = sum_t h_{t-1}.T dA_t,   db = sum_{t,batch} dA_t
        dh0 = dh_0                          # in grads["h0"], only if h0 was given

    Shapes:
        X, dX: (B, T, F)
        W, dW: (F, H)        # Keras kernel; torch weight_ih_l0 is W.T
        U, dU: (H, H)        # Keras recurrent_kernel; torch weight_hh_l0 is U.T
        b, db: (H,)          # torch has two biases: b = bias_ih_l0 + bias_hh_l0
        h0, dh0: (B, H)
        Z, dZ: (B, T, H) if return_sequences else (B, H)

    Args:
        units: H.
        return_sequences: return every h_t, not only the last.
        use_bias: whether b exists.
    """

    gates = 1

    def forward(self, X: np.ndarray, initial_state: np.ndarray | None = None) -> np.ndarray:
        self._check_input(X)
        B, T, F = X.shape
        W, U = self.params["W"], self.params["U"]
        self.has_initial_state = initial_state is not None
        self.Xt = X.transpose(1, 0, 2).reshape(T * B, F)  # (T*B, F), time-major copy
        XW = (self.Xt @ W).reshape(T, B, self.units)  # (T, B, H): the input projection of all steps at once
        if self.use_bias:
            XW += self.params["b"]
        Hs = np.empty((T + 1, B, self.units), dtype=XW.dtype)  # Hs[t] = h_t
        Hs[0] = self._initial(initial_state, "initial_state", B, X.dtype)
        for t in range(T):
            np.tanh(XW[t] + Hs[t] @ U, out=Hs[t + 1])
        self.Hs = Hs
        return self._output(Hs)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        Xt, Hs, W, U = self.Xt, self.Hs, self.params["W"], self.params["U"]
        T, B, H = Hs.shape[0] - 1, Hs.shape[1], self.units
        dZ_t = dZ.transpose(1, 0, 2) if self.return_sequences else None  # (T, B, H)
        dh = np.zeros((B, H), dtype=dZ.dtype) if self.return_sequences else dZ
        dA = np.empty((T, B, H), dtype=dZ.dtype)
        UT = U.T
        for t in reversed(range(T)):
            if dZ_t is not None:
                dh = dh + dZ_t[t]
            np.multiply(dh, 1.0 - Hs[t + 1] * Hs[t + 1], out=dA[t])  # tanh' = 1 - h_t²
            dh = dA[t] @ UT  # dh_{t-1}
        dA2 = dA.reshape(T * B, H)  # (T*B, H)
        self.grads["W"] = Xt.T @ dA2
        self.grads["U"] = Hs[:-1].reshape(T * B, H).T @ dA2
        if self.use_bias:
            self.grads["b"] = dA2.sum(axis=0)
        self._state_grads(h0=dh)
        dX = (dA2 @ W.T).reshape(T, B, -1)  # (T, B, F)
        return np.ascontiguousarray(dX.transpose(1, 0, 2))  # (B, T, F)
