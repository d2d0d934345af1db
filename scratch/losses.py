"""Losses: a scalar L from predictions Y and targets T, with dL/dY by hand.

All three average over every element of the batch, as torch's default
``reduction="mean"`` and Keras' ``"sum_over_batch_size"`` both do.
The classification losses take logits, never probabilities: log-probabilities
are formed with log-sum-exp, so logits of magnitude 1e4 are exact, not clipped.
"""

from __future__ import annotations

import numpy as np

from scratch.activations import sigmoid


class Loss:
    def forward(self, Y: np.ndarray, T: np.ndarray) -> float:
        raise NotImplementedError

    def backward(self) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, Y, T):
        return self.forward(Y, T)


class MeanSquaredError(Loss):
    """Mean squared error.

    Forward::

        L = mean((Y - T)**2)            # over all N = Y.size elements

    Backward::

        dY = 2 (Y - T) / N

    Shapes:
        Y, T, dY: (B, K)
    """

    def forward(self, Y, T):
        self.D = Y - T.astype(Y.dtype)
        return (self.D**2).mean()

    def backward(self):
        return 2 * self.D / self.D.size


class BinaryCrossEntropyWithLogits(Loss):
    """Binary cross-entropy on logits (torch BCEWithLogitsLoss, Keras from_logits=True).

    Forward, with z the logit and t ∈ [0, 1] the target::

        ℓ = -t log σ(z) - (1 - t) log(1 - σ(z))
          = max(z, 0) - z t + log(1 + exp(-|z|))     # never exponentiates a positive number
        L = mean(ℓ)

    Backward::

        dZ = (σ(z) - t) / N

    Shapes:
        Z, T, dZ: (B, K)
    """

    def forward(self, Z, T):
        T = T.astype(Z.dtype)
        self.Z, self.T = Z, T
        ell = np.maximum(Z, 0) - Z * T + np.log1p(np.exp(-np.abs(Z)))
        return ell.mean()

    def backward(self):
        return (sigmoid(self.Z) - self.T) / self.Z.size


class SoftmaxCrossEntropyWithLogits(Loss):
    """Softmax cross-entropy on logits with integer labels, the classes on the last axis.

    torch.nn.CrossEntropyLoss, keras.losses.SparseCategoricalCrossentropy(from_logits=True).
    A sequence's logits (B, T, K) are B * T rows, each with its label, and the mean runs over all
    of them (Keras' reduction; torch reads its classes on dim 1, so a torch port flattens first).

    Forward, with y the integer label of each row (N = B, or B * T for sequences)::

        log p = Z - logsumexp(Z)          # logsumexp(Z) = m + log sum exp(Z - m),  m = max(Z)
        L = -mean_n log p[n, y_n]

    Backward::

        dZ = (softmax(Z) - onehot(y)) / N

    Shapes:
        Z, dZ: (B, K) or (B, T, K)
        y: (B,) or (B, T), integers in [0, K)
    """

    def forward(self, Z, y):
        *lead, K = Z.shape
        N = int(np.prod(lead))
        y = np.asarray(y).astype(np.int64).reshape(N)
        if y.min() < 0 or y.max() >= K:
            raise ValueError(f"SoftmaxCrossEntropyWithLogits: labels must lie in [0, {K}), received range [{y.min()}, {y.max()}]")
        Z = Z.reshape(N, K)  # (N, K): one row per label
        m = Z.max(axis=1, keepdims=True)  # (N, 1)
        logp = Z - m - np.log(np.exp(Z - m).sum(axis=1, keepdims=True))  # (N, K)
        self.P = np.exp(logp)
        self.y = y
        self.shape = (*lead, K)
        return -logp[np.arange(N), y].mean()

    def backward(self):
        N = self.P.shape[0]
        dZ = self.P.copy()
        dZ[np.arange(N), self.y] -= 1
        return (dZ / N).reshape(self.shape)  # (B, K) or (B, T, K)


LOSSES = {
    "mean_squared_error": MeanSquaredError,
    "binary_crossentropy": BinaryCrossEntropyWithLogits,
    "sparse_categorical_crossentropy": SoftmaxCrossEntropyWithLogits,
}


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on probabilities, exactly as written, with no clipping.

    Forward, with p ∈ (0, 1) the predicted probability::

        L = mean(-t log p - (1 - t) log(1 - p))

    Backward::

        dP = (p - t) / (p (1 - p)) / N

    A saturated prediction (p rounds to exactly 0 or 1) gives an infinite loss here;
    torch.nn.BCELoss clamps each log at -100 and Keras clips p to [1e-7, 1 - 1e-7]
    (except on TensorFlow after a sigmoid layer, where it reads the logits behind p instead).
    Prefer ``BinaryCrossEntropyWithLogits``, which has neither problem.
    """

    def forward(self, P, T):
        T = T.astype(P.dtype)
        self.P, self.T = P, T
        with np.errstate(divide="ignore"):
            return (-T * np.log(P) - (1 - T) * np.log1p(-P)).mean()

    def backward(self):
        P, T = self.P, self.T
        return (P - T) / (P * (1 - P)) / P.size


class SparseCategoricalCrossEntropy(Loss):
    """Cross-entropy of probabilities with integer labels, as Keras computes it for from_logits=False.

    Keras (keras/src/backend/*/nn.py sparse_categorical_crossentropy) first divides each
    row by its sum and clips it to [eps, 1 - eps], eps = 1e-7 (keras.backend.epsilon())::

        S = sum_k P[b, k]
        q = clip(P[b, y_b] / S, eps, 1 - eps)
        L = -mean_b log q

    Backward (zero for a row whose q was clipped)::

        dP[b, j] = (1 / S_b - [j == y_b] / P[b, y_b]) / B

    Given logits instead of probabilities (the naive port of torch's CrossEntropyLoss),
    P / S is no distribution at all and the clip hides it.

    Shapes:
        P, dP: (B, K)
        y: (B,) integers in [0, K)
    """

    epsilon = 1e-7

    def forward(self, P, y):
        B, K = P.shape
        y = np.asarray(y).astype(np.int64).reshape(B)
        S = P.sum(axis=1)  # (B,)
        q = P[np.arange(B), y] / S  # (B,)
        self.P, self.y, self.S = P, y, S
        self.inside = (q > self.epsilon) & (q < 1 - self.epsilon)  # (B,) where the clip lets the gradient through
        return -np.log(np.clip(q, self.epsilon, 1 - self.epsilon)).mean()

    def backward(self):
        P, y, S = self.P, self.y, self.S
        B = P.shape[0]
        dP = np.repeat((1 / S)[:, None], P.shape[1], axis=1)  # (B, K)
        dP[np.arange(B), y] -= 1 / P[np.arange(B), y]
        return dP * self.inside[:, None] / B


def get(name: str, from_logits: bool = True) -> Loss:
    """A loss by its Keras name; ``from_logits=False`` takes probabilities (binary or sparse categorical)."""
    if name == "binary_crossentropy" and not from_logits:
        return BinaryCrossEntropy()
    if name == "sparse_categorical_crossentropy" and not from_logits:
        return SparseCategoricalCrossEntropy()
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {sorted(LOSSES)}")
    if not from_logits:
        raise ValueError(f"{name}: only the cross-entropies have a probability form here")
    return LOSSES[name]()
