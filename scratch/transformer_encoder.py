"""The transformer encoder block: self-attention and a feed-forward network, each in a residual branch with a layer norm."""

from __future__ import annotations

import numpy as np

from scratch.activations import GELU, ReLU
from scratch.attention import MultiHeadAttention
from scratch.dense import Dense
from scratch.layer import Layer
from scratch.layernorm import LayerNorm

# part -> {the part's own parameter name: the block's canonical name}
PARTS = {
    "attention": {"Wq": "Wq", "bq": "bq", "Wk": "Wk", "Wv": "Wv", "bv": "bv", "Wo": "Wo", "bo": "bo"},
    "norm1": {"gamma": "gamma1", "beta": "beta1"},
    "ff1": {"W": "W1", "b": "b1"},
    "ff2": {"W": "W2", "b": "b2"},
    "norm2": {"gamma": "gamma2", "beta": "beta2"},
}


class TransformerEncoder(Layer):
    """One encoder block, torch.nn.TransformerEncoderLayer's maths (without dropout).

    Forward, post-norm (``norm_first=False``, "Attention is all you need")::

        Y = LN1(X + MHA(X))                       # MHA: self-attention, query = key = value = X
        Z = LN2(Y + FF(Y)),   FF(Y) = act(Y W1 + b1) W2 + b2

    Forward, pre-norm (``norm_first=True``)::

        Y = X + MHA(LN1(X))
        Z = Y + FF(LN2(Y))

    Backward, given dZ: the chain of the parts' own backward passes, a residual branch adding
    its two gradients (each part fills its own grads: see MultiHeadAttention, LayerNorm, Dense)::

        post-norm:  dS2 = LN2'(dZ);   dY = dS2 + FF'(dS2);   dS1 = LN1'(dY);   dX = dS1 + MHA'(dS1)
        pre-norm:   dY = dZ + LN2'(FF'(dZ));   dX = dY + LN1'(MHA'(dY))
        FF'(dF) = ff1'(act'(ff2'(dF)))

    Dropout (torch's ``dropout`` on the attention weights and after each branch) is the identity
    in inference; in training its masks are drawn inside the block, where no other implementation
    can read them, so this layer refuses ``dropout > 0`` in training.

    Shapes:
        X, dX, Y, dY, Z, dZ: (B, T, E)
        Wq, Wk, Wv: (E, h, d);  bq, bv: (h, d);  Wo: (h, d, E);  bo: (E,)   (E = h d, as torch needs)
        gamma1, beta1, gamma2, beta2: (E,)
        W1: (E, F);  b1: (F,);  W2: (F, E);  b2: (E,)
        every gradient: its array's shape

    Args:
        num_heads: h; the head size is d = E / h.
        dim_feedforward: F, the hidden width of the feed-forward network.
        activation: "relu" or "gelu" (exact, erf-based).
        layer_norm_eps: eps of both layer norms.
        norm_first: pre-norm instead of post-norm.
        use_bias: biases in every projection and beta in both norms (torch's ``bias``).
        dropout: the dropout rate (only 0 is computed in training).
    """

    PARTS = PARTS

    def __init__(
        self,
        num_heads: int,
        dim_feedforward: int,
        activation: str = "relu",
        layer_norm_eps: float = 1e-5,
        norm_first: bool = False,
        use_bias: bool = True,
        dropout: float = 0.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name)
        for key, value in (("num_heads", num_heads), ("dim_feedforward", dim_feedforward)):
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(
                    f"TransformerEncoder {self.name!r}: {key} must be a positive integer, received {value!r}"
                )
        if activation not in ("relu", "gelu"):
            raise ValueError(
                f"TransformerEncoder {self.name!r}: activation must be 'relu' or 'gelu', received {activation!r}"
            )
        self.num_heads, self.dim_feedforward = int(num_heads), int(dim_feedforward)
        self.activation, self.norm_first, self.use_bias = activation, bool(norm_first), bool(use_bias)
        self.layer_norm_eps, self.dropout = float(layer_norm_eps), float(dropout)
        self.embed_dim: int | None = None
        self.attention: MultiHeadAttention | None = None

    def build(self, input_shape: tuple[int, ...]) -> None:
        if len(input_shape) != 2:
            raise ValueError(
                f"TransformerEncoder {self.name!r}: expects one sample of shape (T, E), received {input_shape}"
            )
        T, E = (int(n) for n in input_shape)
        if E % self.num_heads:
            raise ValueError(
                f"TransformerEncoder {self.name!r}: embedding size {E} is not divisible by num_heads={self.num_heads}"
            )
        self.embed_dim = E
        part = f"{self.name}."
        self.attention = MultiHeadAttention(
            self.num_heads, E // self.num_heads, use_bias=self.use_bias, name=part + "attention"
        )
        self.norm1 = LayerNorm(epsilon=self.layer_norm_eps, center=self.use_bias, name=part + "norm1")
        self.norm2 = LayerNorm(epsilon=self.layer_norm_eps, center=self.use_bias, name=part + "norm2")
        self.ff1 = Dense(self.dim_feedforward, use_bias=self.use_bias, name=part + "ff1")
        self.act = ReLU(name=part + "act") if self.activation == "relu" else GELU("none", name=part + "act")
        self.ff2 = Dense(E, use_bias=self.use_bias, name=part + "ff2")
        self.attention.build((T, E))
        self.norm1.build((T, E))
        self.norm2.build((T, E))
        self.ff1.build((T, E))
        self.ff2.build((T, self.dim_feedforward))

    def parts(self) -> dict[str, Layer]:
        """The sub-layers with weights, by their key in PARTS."""
        return {"attention": self.attention, "norm1": self.norm1, "ff1": self.ff1, "ff2": self.ff2, "norm2": self.norm2}

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for key, part in self.parts().items():
            shapes.update({PARTS[key][own]: shape for own, shape in part.weight_shapes().items()})
        return shapes

    def init(self, rng: np.random.Generator, dtype=np.float64) -> None:
        """Each part's Keras default: glorot-uniform kernels, zero biases, gamma 1, beta 0."""
        for key, part in self.parts().items():
            part.init(rng, dtype)
            self.params.update({PARTS[key][own]: value for own, value in part.params.items()})

    def _load(self) -> None:
        """Hand the block's params to the parts (the harness assigns ``params`` to the block)."""
        for key, part in self.parts().items():
            part.params = {
                own: self.params[canonical] for own, canonical in PARTS[key].items() if canonical in self.params
            }

    def _feed_forward(self, X: np.ndarray) -> np.ndarray:
        return self.ff2.forward(self.act.forward(self.ff1.forward(X)))  # (B, T, F) inside

    def _feed_forward_backward(self, dF: np.ndarray) -> np.ndarray:
        return self.ff1.backward(self.act.backward(self.ff2.backward(dF)))

    def forward(self, X: np.ndarray) -> np.ndarray:
        B, T, E = X.shape
        if E != self.embed_dim:
            raise ValueError(
                f"TransformerEncoder {self.name!r}: expects X of shape (B, T, {self.embed_dim}), received {X.shape}"
            )
        if self.training and self.dropout > 0:
            raise ValueError(
                f"TransformerEncoder {self.name!r}: dropout={self.dropout} in training draws masks inside the block "
                "(not supported: use dropout=0 or inference)"
            )
        self._load()
        if self.norm_first:
            Y = X + self.attention.forward(self.norm1.forward(X))
            return Y + self._feed_forward(self.norm2.forward(Y))
        Y = self.norm1.forward(X + self.attention.forward(X))
        return self.norm2.forward(Y + self._feed_forward(Y))

    def backward(self, dZ: np.ndarray) -> np.ndarray:
        if self.norm_first:
            dY = dZ + self.norm2.backward(self._feed_forward_backward(dZ))
            dX = dY + self.norm1.backward(self.attention.backward(dY))
        else:
            dS2 = self.norm2.backward(dZ)  # dL/d(Y + FF(Y))
            dY = dS2 + self._feed_forward_backward(dS2)
            dS1 = self.norm1.backward(dY)  # dL/d(X + MHA(X))
            dX = dS1 + self.attention.backward(dS1)
        self.grads = {}
        for key, part in self.parts().items():
            self.grads.update({PARTS[key][own]: grad for own, grad in part.grads.items()})
        return dX
