"""Multi-head attention: scaled dot-product attention, then the per-head projections around it."""

from __future__ import annotations

import math

import numpy as np

from scratch.layer import Layer, glorot_uniform


def causal_mask(T: int, S: int) -> np.ndarray:
    """M[t, s] = True where query t may attend key s (s <= t): Keras' polarity, True = attend."""
    return np.tril(np.ones((T, S), dtype=bool))  # (T, S)


class ScaledDotProductAttention:
    """O = softmax(Q K^T / sqrt(d) + mask) V, per batch entry and head.

    Forward::

        S = Q K^T / sqrt(d)                      # scores
        S[~M] = -inf                             # masked keys get zero weight (M True = attend)
        P = softmax(S)       (over the key axis)
        O = P V

    Backward, given dO::

        dV = P^T dO
        dP = dO V^T
        dS = P * (dP - sum_s(dP * P))           # softmax backward, row by row
        dQ = dS K / sqrt(d)
        dK = dS^T Q / sqrt(d)

    Shapes:
        Q, dQ: (B, h, T, d)
        K, dK, V, dV: (B, h, S, d)
        M: (T, S) booleans, or None
        S, P, dS, dP: (B, h, T, S)
        O, dO: (B, h, T, d)
    """

    def forward(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, M: np.ndarray | None = None) -> np.ndarray:
        d = Q.shape[-1]
        self.scale = 1.0 / math.sqrt(d)  # a Python float: keeps float32 scores float32 (NumPy 2's scalar rules)
        S = Q @ K.swapaxes(-1, -2)  # (B, h, T, S): one batched matmul over (B, h)
        S *= self.scale  # in place, like the softmax below: S is a fresh array and only P is kept
        if M is not None:
            S[..., ~M] = -np.inf  # every row keeps at least one key (the diagonal, when causal)
        S -= S.max(axis=-1, keepdims=True)
        P = np.exp(S, out=S)
        P /= P.sum(axis=-1, keepdims=True)  # (B, h, T, S)
        self.Q, self.K, self.V, self.P = Q, K, V, P
        return P @ V  # (B, h, T, d)

    def backward(self, dO: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        Q, K, V, P, scale = self.Q, self.K, self.V, self.P, self.scale
        dV = P.swapaxes(-1, -2) @ dO  # (B, h, S, d)
        dP = dO @ V.swapaxes(-1, -2)  # (B, h, T, S)
        dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # (B, h, T, S)
        dQ = dS @ K  # (B, h, T, d)
        dQ *= scale
        dK = dS.swapaxes(-1, -2) @ Q  # (B, h, S, d)
        dK *= scale
        return dQ, dK, dV


class MultiHeadAttention(Layer):
    """Self-attention with h heads: Z = Attention(X Wq + bq, X Wk + bk, X Wv + bv) Wo + bo.

    Forward (every projection per head; ``n`` runs over heads, ``j`` over a head's d features)::

        Q[b, n, t, j] = sum_e X[b, t, e] Wq[e, n, j] + bq[n, j]        (V the same with Wv, bv)
        K[b, n, t, j] = sum_e X[b, t, e] Wk[e, n, j]                   # no key bias: see below
        O = ScaledDotProductAttention(Q, K, V, M)                      # M = causal_mask(T, T) if causal
        Z[b, t, e] = sum_{n, j} O[b, n, t, j] Wo[n, j, e] + bo[e]

    Backward, given dZ::

        dWo[n, j, e] = sum_{b, t} O[b, n, t, j] dZ[b, t, e],   dbo = sum_{b, t} dZ
        dO[b, n, t, j] = sum_e dZ[b, t, e] Wo[n, j, e]
        dQ, dK, dV = ScaledDotProductAttention.backward(dO)
        dWq[e, n, j] = sum_{b, t} X[b, t, e] dQ[b, n, t, j],   dbq = sum_{b, t} dQ   (dWk, dWv, dbv the same)
        dX = dQ . Wq + dK . Wk + dV . Wv     (each summed over n, j: X feeds all three)

    Computed as matrix products: the sums over e and over (n, j) are GEMMs once X is
    (B T, E) and the kernels (E, h d) and (h d, E); Q, K and V come from one GEMM with
    [Wq | Wk | Wv] (E, 3 h d), and backward gives dWq, dWk, dWv and dX from two GEMMs with
    [dQ | dK | dV] (B T, 3 h d). The attention itself is a batched matmul over (B, h).

    The key bias of Keras and torch is left out because nothing depends on it: it adds
    Q[t] . bk to every score of row t, a constant the softmax removes, so dL/dbk = 0 exactly
    (the frameworks report rounding noise). The converters load it as zeros and drop it back.

    Shapes:
        X, dX: (B, T, E)
        Wq, Wk, Wv and their gradients: (E, h, d)  # Keras' query/key/value kernels; torch packs
                                                   # in_proj_weight (3E, E) = [Wq; Wk; Wv] as (h d, E) each
        bq, bv: (h, d)                             # torch in_proj_bias (3E,) = [bq; 0; bv] flattened
        Wo, dWo: (h, d, E)                         # torch out_proj.weight (E, h d) = Wo reshaped, transposed
        bo, dbo: (E,)
        Q, K, V, O: (B, h, T, d)
        Z, dZ: (B, T, E)

    Initialisation (Keras defaults): kernels Glorot-uniform over the flattened (E, h d) and (h d, E)
    matrices, biases zero.

    Args:
        num_heads: h.
        key_dim: d, the features per head (Keras' ``key_dim``; torch's ``embed_dim // num_heads``).
        use_bias: whether bq, bv, bo exist.
        causal: query t attends keys s <= t only (Keras ``use_causal_mask=True``).
    """

    def __init__(
        self, num_heads: int, key_dim: int, use_bias: bool = True, causal: bool = False, name: str | None = None
    ) -> None:
        super().__init__(name)
        for key, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"MultiHeadAttention {self.name!r}: {key} must be a positive integer, received {value!r}")
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.use_bias, self.causal = bool(use_bias), bool(causal)
        self.embed_dim: int | None = None
        self.attention = ScaledDotProductAttention()

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: expects one sample of shape (T, E), received {input_shape}"
            )
        self.embed_dim = int(input_shape[-1])

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        E, h, d = self.embed_dim, self.num_heads, self.key_dim
        shapes = {}
        for p in ("q", "k", "v"):
            shapes[f"W{p}"] = (E, h, d)
            if self.use_bias and p != "k":
                shapes[f"b{p}"] = (h, d)
        shapes["Wo"] = (h, d, E)
        if self.use_bias:
            shapes["bo"] = (E,)
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        E, h, d = self.embed_dim, self.num_heads, self.key_dim
        for key, shape in self.weight_shapes().items():
            if key.startswith("b"):
                self.params[key] = np.zeros(shape, dtype=dtype)
            elif key == "Wo":
                self.params[key] = glorot_uniform(rng, h * d, E, shape, dtype)
            else:
                self.params[key] = glorot_uniform(rng, E, h * d, shape, dtype)

    def _packed(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Wq, Wk, Wv side by side as one (E, 3 h d) matrix, and their biases as one (3 h d,) row.

        Stacking the three projections makes Q, K and V one GEMM (torch's in_proj_weight is
        this matrix transposed); the key bias, left out, is a block of zeros.
        """
        E, h, d = self.embed_dim, self.num_heads, self.key_dim
        W = np.concatenate([self.params[f"W{p}"].reshape(E, h * d) for p in ("q", "k", "v")], axis=1)  # (E, 3 h d)
        if not self.use_bias:
            return W, None
        bq, bv = self.params["bq"].reshape(h * d), self.params["bv"].reshape(h * d)
        return W, np.concatenate([bq, np.zeros_like(bq), bv])  # (3 h d,)

    def forward(self, X: np.ndarray) -> np.ndarray:
        B, T, E = X.shape
        if E != self.embed_dim:
            raise ValueError(f"MultiHeadAttention {self.name!r}: expects X of shape (B, T, {self.embed_dim}), received {X.shape}")
        h, d = self.num_heads, self.key_dim
        W, b = self._packed()
        QKV = X.reshape(B * T, E) @ W  # (B T, 3 h d): the three projections in one GEMM
        if b is not None:
            QKV = QKV + b
        Q, K, V = QKV.reshape(B, T, 3, h, d).transpose(2, 0, 3, 1, 4)  # (3, B, h, T, d) -> (B, h, T, d) each
        M = causal_mask(T, T) if self.causal else None
        O = self.attention.forward(Q, K, V, M)  # (B, h, T, d): one batched matmul over (B, h)
        O = O.transpose(0, 2, 1, 3).reshape(B * T, h * d)  # (B T, h d): heads side by side
        Z = O @ self.params["Wo"].reshape(h * d, E)  # (B T, E): heads merged by the projection
        if self.use_bias:
            Z = Z + self.params["bo"]
        self.X, self.O, self.W = X, O, W
        return Z.reshape(B, T, E)

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        X, O, W = self.X, self.O, self.W
        B, T, E = X.shape
        h, d = self.num_heads, self.key_dim
        dZ = dZ.reshape(B * T, E)  # (B T, E)
        self.grads["Wo"] = (O.T @ dZ).reshape(h, d, E)  # (h d, E) -> (h, d, E)
        if self.use_bias:
            self.grads["bo"] = dZ.sum(axis=0)  # (E,)
        dO = dZ @ self.params["Wo"].reshape(h * d, E).T  # (B T, h d)
        dO = dO.reshape(B, T, h, d).transpose(0, 2, 1, 3)  # (B, h, T, d)
        dQ, dK, dV = self.attention.backward(dO)  # (B, h, T, d) each
        dQKV = np.stack([dQ, dK, dV]).transpose(1, 3, 0, 2, 4).reshape(B * T, 3 * h * d)  # (B T, 3 h d)
        dW = X.reshape(B * T, E).T @ dQKV  # (E, 3 h d): dWq, dWk, dWv side by side
        for i, p in enumerate(("q", "k", "v")):
            self.grads[f"W{p}"] = dW[:, i * h * d : (i + 1) * h * d].reshape(E, h, d)  # (E, h, d)
        if self.use_bias:
            db = dQKV.sum(axis=0).reshape(3, h, d)  # (3, h, d); the key's row has no parameter
            self.grads["bq"], self.grads["bv"] = db[0], db[2]
        dX = dQKV @ W.T  # (B T, E): X feeds all three projections, so their gradients add
        return dX.reshape(B, T, E)
