"""Multi-head attention: scaled dot-product attention, then the per-head projections around it."""

from __future__ import annotations

import math

import numpy as np

from scratch.layer import Layer, glorot_uniform


def causal_mask(T: int, S: int) -> np.ndarray:
    """M[t, s] = True where query t may attend key s (s <= t): Keras' polarity, True = attend."""
    return np.tril(np.ones((T, S), dtype=bool))  # (T, S)


def key_padding_mask(ids: np.ndarray, padding_id: int = 0) -> np.ndarray:
    """M[b, 0, s] = True where key s of sequence b is a token, not padding (Keras' polarity).

    torch's ``key_padding_mask`` is the opposite, ``ids == padding_id`` (True = ignored), of shape
    (B, S); Keras' ``Embedding(mask_zero=True)`` propagates ``ids != 0``, which MultiHeadAttention
    uses for the keys AND the queries (keras/src/layers/attention/multi_head_attention.py,
    ``_compute_attention_mask``: query_mask -> [B, T, 1], value_mask -> [B, 1, S], combined with &).
    """
    return (np.asarray(ids) != padding_id)[:, None, :]  # (B, 1, S): broadcast over the queries


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
        M: (T, S) booleans, the same for every sequence (causal), or (B, T, S) / (B, 1, S) per
           sequence (key padding); None for no mask. A query row with no key left is refused:
           softmax over nothing is undefined (torch returns NaN for it; Keras fills masked scores
           with -1e9, keras/src/layers/activations/softmax.py, so such a row averages every key).
        S, P, dS, dP: (B, h, T, S)
        O, dO: (B, h, T, d)
    """

    def forward(self, Q: np.ndarray, K: np.ndarray, V: np.ndarray, M: np.ndarray | None = None) -> np.ndarray:
        d = Q.shape[-1]
        self.scale = 1.0 / math.sqrt(d)  # a Python float: keeps float32 scores float32 (NumPy 2's scalar rules)
        S = Q @ K.swapaxes(-1, -2)  # (B, h, T, S): one batched matmul over (B, h)
        S *= self.scale  # in place, like the softmax below: S is a fresh array and only P is kept
        if M is not None and M.ndim == 3:  # per sequence: (B, T or 1, S), the same for every head
            empty = ~M.any(axis=-1)  # (B, T or 1)
            if empty.any():
                b, t = (int(i) for i in np.argwhere(empty)[0])
                raise ValueError(
                    f"ScaledDotProductAttention: query {t} of sequence {b} has every key masked (mask {M.shape}); "
                    "torch gives NaN there and Keras a uniform average: pad no sequence completely"
                )
            S = np.where(M[:, None], S, -np.inf)  # (B, h, T, S)
        elif M is not None:
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

    def backward_weights(self, dP: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """dQ, dK when the weights P themselves are used (dP given; V does not reach them, dV = 0)."""
        Q, K, P, scale = self.Q, self.K, self.P, self.scale
        dS = P * (dP - (dP * P).sum(axis=-1, keepdims=True))  # (B, h, T, S)
        dQ = dS @ K  # (B, h, T, d)
        dQ *= scale
        dK = dS.swapaxes(-1, -2) @ Q  # (B, h, S, d)
        dK *= scale
        return dQ, dK


class MultiHeadAttention(Layer):
    """Attention with h heads: Z = Attention(X Wq + bq, C Wk + bk, C Wv + bv) Wo + bo.

    Self-attention reads one sequence (C = X); cross-attention reads two, the queries X and
    the context C that keys and values come from (Keras ``layer(query, value)``, torch
    ``attn(query, key, value)`` with key = value = C).

    Forward (every projection per head; ``n`` runs over heads, ``j`` over a head's d features)::

        Q[b, n, t, j] = sum_e X[b, t, e] Wq[e, n, j] + bq[n, j]
        K[b, n, s, j] = sum_c C[b, s, c] Wk[c, n, j]                   # no key bias: see below
        V[b, n, s, j] = sum_c C[b, s, c] Wv[c, n, j] + bv[n, j]
        O = ScaledDotProductAttention(Q, K, V, M)                      # M = causal_mask(T, S) if causal
        Z[b, t, e] = sum_{n, j} O[b, n, t, j] Wo[n, j, e] + bo[e]

    Backward, given dZ::

        dWo[n, j, e] = sum_{b, t} O[b, n, t, j] dZ[b, t, e],   dbo = sum_{b, t} dZ
        dO[b, n, t, j] = sum_e dZ[b, t, e] Wo[n, j, e]
        dQ, dK, dV = ScaledDotProductAttention.backward(dO)
        dWq[e, n, j] = sum_{b, t} X[b, t, e] dQ[b, n, t, j],   dbq = sum_{b, t} dQ
        dWk[c, n, j] = sum_{b, s} C[b, s, c] dK[b, n, s, j]    (dWv, dbv the same with dV)
        dX = dQ . Wq                        (summed over n, j)
        dC = dK . Wk + dV . Wv              (C feeds keys and values)

    Self-attention returns dX + dC (X = C feeds all three projections); cross-attention returns
    (dX, dC), one gradient per input, and the graph sends each back along its own branch.

    Returning the attention weights instead (``return_scores``: what Keras'
    ``return_attention_scores=True`` returns as its second value, and torch's second value with
    ``need_weights=True``)::

        A = P                         (B, h, T, S), per head
        A = mean_n P[:, n]            (B, T, S) with average_heads (torch's default,
                                      average_attn_weights=True)
        dP = dA,  or dA / h on every head when averaged
        dQ, dK = ScaledDotProductAttention.backward_weights(dP);  dV = 0, dWo = 0, dbo = 0

    The value projection and the output projection do not reach A: their gradients are zero.

    Computed as matrix products: the sums over e and over (n, j) are GEMMs once X is
    (B T, E) and the kernels (E, h d) and (h d, E). In self-attention Q, K and V come from one
    GEMM with [Wq | Wk | Wv] (E, 3 h d), and backward gives dWq, dWk, dWv and dX from two GEMMs
    with [dQ | dK | dV] (B T, 3 h d); in cross-attention the queries take one GEMM and the keys
    and values another, with [Wk | Wv] (E_c, 2 h d). The attention itself is a batched matmul over (B, h).

    The key bias of Keras and torch is left out because nothing depends on it: it adds
    Q[t] . bk to every score of row t, a constant the softmax removes, so dL/dbk = 0 exactly
    (the frameworks report rounding noise). The converters load it as zeros and drop it back.

    Shapes:
        X, dX: (B, T, E)
        C, dC: (B, S, E_c)                         # C = X (S = T, E_c = E) in self-attention
        Wq, dWq: (E, h, d)                         # Keras' query kernel
        Wk, Wv and their gradients: (E_c, h, d)    # Keras' key/value kernels; torch packs
                                                   # in_proj_weight (3E, E) = [Wq; Wk; Wv] as (h d, E) each,
                                                   # or keeps q/k/v_proj_weight (h d, E or E_c) when E_c != E
        bq, bv: (h, d)                             # torch in_proj_bias (3E,) = [bq; 0; bv] flattened
        Wo, dWo: (h, d, E)                         # torch out_proj.weight (E, h d) = Wo reshaped, transposed
        bo, dbo: (E,)
        Q, O: (B, h, T, d);  K, V: (B, h, S, d)
        Z, dZ: (B, T, E)

    Initialisation (Keras defaults): kernels Glorot-uniform over the flattened (E, h d) and (h d, E)
    matrices, biases zero.

    Args:
        num_heads: h.
        key_dim: d, the features per head (Keras' ``key_dim``; torch's ``embed_dim // num_heads``).
        use_bias: whether bq, bv, bo exist.
        causal: query t attends keys s <= t only (Keras ``use_causal_mask=True``: a lower
            triangle of the (T, S) score matrix, in cross-attention too).
        return_scores: the layer's value is the attention weights P, not Z.
        average_heads: with return_scores, P averaged over the heads, (B, T, S).
        key_padding: self-attention whose second input is the model's integer ids (B, T):
            keys whose id is 0 are masked (M = key_padding_mask(ids), combined with the causal
            mask by &); the ids get no gradient (None). torch: ``key_padding_mask=(ids == 0)``;
            Keras: the mask ``Embedding(mask_zero=True)`` propagates (Keras also masks the
            padded QUERIES, so only the outputs at tokens agree).
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        use_bias: bool = True,
        causal: bool = False,
        return_scores: bool = False,
        average_heads: bool = False,
        key_padding: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        for key, value in (("num_heads", num_heads), ("key_dim", key_dim)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(
                    f"MultiHeadAttention {self.name!r}: {key} must be a positive integer, received {value!r}"
                )
        self.num_heads, self.key_dim = int(num_heads), int(key_dim)
        self.use_bias, self.causal = bool(use_bias), bool(causal)
        self.return_scores, self.average_heads = bool(return_scores), bool(average_heads)
        self.key_padding = bool(key_padding)
        if self.key_padding and self.return_scores:
            raise ValueError(f"MultiHeadAttention {self.name!r}: key_padding with return_scores is not supported")
        self.embed_dim: int | None = None
        self.context_dim: int | None = None
        self.cross = False
        self.attention = ScaledDotProductAttention()

    def build(self, input_shape) -> None:
        """One sample's shape (T, E), or two, [(T, E), (S, E_c)], for cross-attention."""
        shapes = list(input_shape) if input_shape and isinstance(input_shape[0], (tuple, list)) else [input_shape]
        if self.key_padding:
            if len(shapes) != 2 or len(shapes[0]) != 2 or tuple(shapes[1]) != tuple(shapes[0][:1]):
                raise ValueError(
                    f"MultiHeadAttention {self.name!r}: key_padding reads a sequence (T, E) and its ids (T,), "
                    f"received {input_shape}"
                )
            shapes = shapes[:1]  # self-attention; the ids only mask
        if len(shapes) > 2 or any(len(shape) != 2 for shape in shapes):
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: expects one sample of shape (T, E), or two (query and value), "
                f"received {input_shape}"
            )
        self.cross = len(shapes) == 2
        self.embed_dim = int(shapes[0][-1])
        self.context_dim = int(shapes[-1][-1])  # E_c: the keys' and values' input features

    def output_shape(self, input_shape):
        shapes = list(input_shape) if input_shape and isinstance(input_shape[0], (tuple, list)) else [input_shape]
        T, S = shapes[0][0], (shapes[0] if self.key_padding else shapes[-1])[0]
        if self.return_scores:
            return (T, S) if self.average_heads else (self.num_heads, T, S)  # the attention weights
        return tuple(shapes[0])  # (T, E): one output per query

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        E, Ec, h, d = self.embed_dim, self.context_dim, self.num_heads, self.key_dim
        shapes = {}
        for p in ("q", "k", "v"):
            shapes[f"W{p}"] = (E if p == "q" else Ec, h, d)
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
                self.params[key] = glorot_uniform(rng, shape[0], h * d, shape, dtype)

    def _packed(self, projections: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The kernels of ``projections`` ("qkv", "q" or "kv") side by side as one (E_in, k h d)
        matrix, and their biases as one (k h d,) row (the key bias, left out, a block of zeros).

        Stacking the projections of one input makes them one GEMM (torch's in_proj_weight is
        the "qkv" matrix transposed).
        """
        h, d = self.num_heads, self.key_dim
        kernels = [self.params[f"W{p}"] for p in projections]
        W = np.concatenate([K.reshape(K.shape[0], h * d) for K in kernels], axis=1)  # (E_in, k h d)
        if not self.use_bias:
            return W, None
        zeros = np.zeros(h * d, dtype=W.dtype)
        b = [self.params[f"b{p}"].reshape(h * d) if p != "k" else zeros for p in projections]
        return W, np.concatenate(b)  # (k h d,)

    def _heads(self, A: np.ndarray, projections: str) -> np.ndarray:
        """``A @ W + b`` of :meth:`_packed` for (B, T, E_in) inputs, split into (k, B, h, T, d)."""
        B, T, E_in = A.shape
        W, b = self._packed(projections)
        P = A.reshape(B * T, E_in) @ W  # (B T, k h d): the projections in one GEMM
        if b is not None:
            P += b
        return P.reshape(B, T, len(projections), self.num_heads, self.key_dim).transpose(2, 0, 3, 1, 4)

    def forward(self, X: np.ndarray, C: np.ndarray | None = None) -> np.ndarray:
        B, T, E = X.shape
        ids = C if self.key_padding else None  # (B, T) integer ids: 0 is padding
        C = X if C is None or not self.cross else C
        if E != self.embed_dim or C.shape[0] != B or C.shape[-1] != self.context_dim:
            raise ValueError(
                f"MultiHeadAttention {self.name!r}: expects X of shape (B, T, {self.embed_dim}) and C of shape "
                f"(B, S, {self.context_dim}), received {X.shape} and {C.shape}"
            )
        S = C.shape[1]
        h, d = self.num_heads, self.key_dim
        if self.cross:
            (Q,) = self._heads(X, "q")  # (B, h, T, d)
            K, V = self._heads(C, "kv")  # (B, h, S, d) each
        else:
            Q, K, V = self._heads(X, "qkv")  # (B, h, T, d) each
        M = causal_mask(T, S) if self.causal else None
        if ids is not None:
            M = key_padding_mask(ids) if M is None else key_padding_mask(ids) & M  # (B, 1 or T, S)
        O = self.attention.forward(Q, K, V, M)  # (B, h, T, d): one batched matmul over (B, h)
        if self.return_scores:
            self.X, self.C = X, C
            P = self.attention.P  # (B, h, T, S)
            return P.mean(axis=1) if self.average_heads else P.copy()  # (B, T, S) or (B, h, T, S)
        O = O.transpose(0, 2, 1, 3).reshape(B * T, h * d)  # (B T, h d): heads side by side
        Z = O @ self.params["Wo"].reshape(h * d, E)  # (B T, E): heads merged by the projection
        if self.use_bias:
            Z += self.params["bo"]
        self.X, self.C, self.O = X, C, O
        return Z.reshape(B, T, E)

    def _backward_input(self, A: np.ndarray, dA: list[np.ndarray], projections: str) -> np.ndarray:
        """The kernels' and biases' gradients of ``projections`` read from input A, and A's gradient."""
        B, T, E_in = A.shape
        h, d = self.num_heads, self.key_dim
        dP = np.stack(dA).transpose(1, 3, 0, 2, 4).reshape(B * T, len(projections) * h * d)  # (B T, k h d)
        dW = A.reshape(B * T, E_in).T @ dP  # (E_in, k h d): the kernels' gradients side by side
        for i, p in enumerate(projections):
            self.grads[f"W{p}"] = dW[:, i * h * d : (i + 1) * h * d].reshape(E_in, h, d)
            if self.use_bias and p != "k":
                self.grads[f"b{p}"] = dP[:, i * h * d : (i + 1) * h * d].sum(axis=0).reshape(h, d)
        W, _ = self._packed(projections)
        return (dP @ W.T).reshape(B, T, E_in)  # A feeds every projection in the block: their gradients add

    def backward(self, dZ: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        if self.return_scores:
            return self._backward_weights(dZ)
        X, C, O = self.X, self.C, self.O
        B, T, E = X.shape
        h, d = self.num_heads, self.key_dim
        dZ = dZ.reshape(B * T, E)  # (B T, E)
        self.grads["Wo"] = (O.T @ dZ).reshape(h, d, E)  # (h d, E) -> (h, d, E)
        if self.use_bias:
            self.grads["bo"] = dZ.sum(axis=0)  # (E,)
        dO = dZ @ self.params["Wo"].reshape(h * d, E).T  # (B T, h d)
        dO = dO.reshape(B, T, h, d).transpose(0, 2, 1, 3)  # (B, h, T, d)
        dQ, dK, dV = self.attention.backward(dO)  # (B, h, T, d), (B, h, S, d), (B, h, S, d)
        if self.key_padding:  # the ids are integers: no gradient (as an embedding gives its ids)
            return self._backward_input(X, [dQ, dK, dV], "qkv"), None
        if not self.cross:
            return self._backward_input(X, [dQ, dK, dV], "qkv")
        return self._backward_input(X, [dQ], "q"), self._backward_input(C, [dK, dV], "kv")

    def _backward_weights(self, dA: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Backward of the returned weights: dP, then dQ and dK; V and the output projection get zeros."""
        X, C = self.X, self.C
        h = self.num_heads
        dP = np.broadcast_to(dA[:, None] / h, self.attention.P.shape) if self.average_heads else dA  # (B, h, T, S)
        dQ, dK = self.attention.backward_weights(dP)  # (B, h, T, d), (B, h, S, d)
        dV = np.zeros_like(self.attention.V)  # (B, h, S, d)
        self.grads["Wo"] = np.zeros_like(self.params["Wo"])
        if self.use_bias:
            self.grads["bo"] = np.zeros_like(self.params["bo"])
        if not self.cross:
            return self._backward_input(X, [dQ, dK, dV], "qkv")
        return self._backward_input(X, [dQ], "q"), self._backward_input(C, [dK, dV], "kv")
