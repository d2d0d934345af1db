"""SimpleRNN, LSTM, GRU <-> torch.nn.RNN / LSTM / GRU (and GRUResetBefore) / keras.layers.SimpleRNN / LSTM / GRU.

Canonical weights are Keras' own layout (scratch follows it), so the Keras side is
the identity with shape checks: ``layer.get_weights()`` is ``[kernel, recurrent_kernel,
bias]`` (keras/src/layers/rnn/{simple_rnn,lstm,gru}.py, the cell's ``build``), and
these are W, U, b. Every difference is on the PyTorch side.

PyTorch stores, per layer (torch/nn/modules/rnn.py, RNNBase.__init__ and the
class docstrings of RNN, LSTM, GRU)::

    weight_ih_l0: (k H, F)     computes x @ weight_ih_l0.T
    weight_hh_l0: (k H, H)     computes h @ weight_hh_l0.T
    bias_ih_l0, bias_hh_l0: (k H,)   two biases, both added

with k = 1 (RNN), 4 (LSTM), 3 (GRU).

Rules (each named, each switched off by a divergence case to show the naive port):

``rnn_transpose``
    ``weight_ih_l0 = W.T`` and ``weight_hh_l0 = U.T``: Keras multiplies ``x @ kernel``,
    torch ``x @ weight.T``. Forgetting it fails loudly (a ConversionError naming the
    shapes) except for a square SimpleRNN (F == H), where it loads and computes wrong.

``rnn_bias_split``
    SimpleRNN, LSTM, GRU(reset_after=False): Keras has one bias b, torch two that are
    only ever added (b_ih + b_hh). ``to_torch`` puts b in ``bias_ih_l0`` and zeros in
    ``bias_hh_l0``; ``from_torch`` sums them (any split of b loads back as b). For
    gradients, d/db_ih = d/db_hh = d/db since b enters only through the sum, so
    ``grads_from_torch`` takes the gradient of ``bias_ih_l0`` alone (summing the two
    would double it). The naive port copies b into both, and every gate sees 2b.

``rnn_single_bias_training``
    The split is exact for a forward pass, not for training: torch gives b_ih and b_hh
    the same gradient and its optimiser moves each of them, so their sum - the bias that
    matters - moves twice as far under SGD (and twice Adam's step). To train as Keras
    does, ``bias_hh_l0`` stays at zero and out of training (``requires_grad_(False)``;
    ``torch_frozen``). Not for GRU(reset_after=True), whose two biases are both real.

``gru_gate_order``
    Keras orders the GRU blocks (z, r, h) (keras/src/layers/rnn/gru.py, GRUCell.call:
    ``kernel[:, :units]`` is z); torch orders them (r, z, n) (torch/nn/modules/rnn.py,
    class GRU: "(W_ir|W_iz|W_in)"). The first two H-blocks of W, U and b are swapped
    (a swap is its own inverse, so both directions apply the same permutation).
    The shapes are equal, so the naive port loads without complaint. The LSTM needs
    no reordering: Keras (i, f, c, o) and torch (i, f, g, o) are the same order.

``gru_recurrent_bias``
    Keras ``GRU(reset_after=True)`` (its default) has a (2, 3H) bias: row 0 is added to
    x W, row 1 to h U, *before* the reset gate multiplies the candidate's block:
    ``hh = tanh(xW_h + b0_h + r * (h U_h + b1_h))``. torch's nn.GRU is the same
    formula, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, so ``bias_ih_l0 = b[0]``
    and ``bias_hh_l0 = b[1]`` (each reordered by ``gru_gate_order``), and gradients map
    one to one. The naive port treats it like an LSTM bias: ``bias_ih_l0 = b[0] + b[1]``,
    ``bias_hh_l0 = 0``. That is right for z and r but wrong for the candidate, where
    b1_h sits inside r * (...): the error is ``(1 - r) * b1_h`` before the tanh.

GRU(reset_after=False) has no torch layer; ``GRUResetBefore`` (framework/pytorch/
recurrent.py) uses nn.GRU's parameter names and gate order, and its b_hn sits outside
the reset gate, so this one converter serves it with ``rnn_bias_split``. Loaded into
an nn.GRU instead, the same state_dict computes the reset-after formula (divergence
``gru_reset_before``).
"""

from __future__ import annotations

import numpy as np

from parity.convert.base import Arrays, ConversionError, Converter, enabled, expect


class RecurrentConverter(Converter):
    """The shared maps; subclasses set ``gates`` (k) and, for the GRU, the block order."""

    gates = 1
    rules: tuple[str, ...] = ("rnn_transpose", "rnn_bias_split", "rnn_single_bias_training")

    def _single_bias(self, layer) -> bool:
        return not getattr(layer, "reset_after", False)

    def torch_frozen(self, layer) -> list[str]:
        if layer.use_bias and self._single_bias(layer) and enabled("rnn_single_bias_training"):
            return ["bias_hh_l0"]
        return []

    # Layout -------------------------------------------------------------------
    def _shapes(self, layer) -> dict[str, tuple[int, ...]]:
        F, H, k = layer.input_dim, layer.units, self.gates
        return {"W": (F, k * H), "U": (H, k * H), "b": (k * H,)}

    def _reorder(self, A: np.ndarray, layer) -> np.ndarray:
        """Canonical gate blocks (last axis) -> torch's order; its own inverse. Identity here."""
        return A

    # PyTorch ------------------------------------------------------------------
    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        shapes = self._shapes(layer)
        W = self._reorder(expect(layer, "W", weights.get("W"), shapes["W"]), layer)
        U = self._reorder(expect(layer, "U", weights.get("U"), shapes["U"]), layer)
        transpose = enabled("rnn_transpose")
        out = {"weight_ih_l0": W.T if transpose else W, "weight_hh_l0": U.T if transpose else U}
        if layer.use_bias:
            b_ih, b_hh = self._split_bias(layer, expect(layer, "b", weights.get("b"), shapes["b"]))
            out["bias_ih_l0"], out["bias_hh_l0"] = (
                self._reorder(b_ih, layer),
                self._reorder(b_hh, layer),
            )
        return out

    def _split_bias(self, layer, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if enabled("rnn_bias_split"):
            return b, np.zeros_like(b)
        return b, b  # the naive port: Keras' b copied into both

    def _torch_arrays(
        self, layer, state: Arrays
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
        F, H, k = layer.input_dim, layer.units, self.gates
        W_t = expect(layer, "weight_ih_l0", state.get("weight_ih_l0"), (k * H, F))
        U_t = expect(layer, "weight_hh_l0", state.get("weight_hh_l0"), (k * H, H))
        b_ih = b_hh = None
        if layer.use_bias:
            b_ih = expect(layer, "bias_ih_l0", state.get("bias_ih_l0"), (k * H,))
            b_hh = expect(layer, "bias_hh_l0", state.get("bias_hh_l0"), (k * H,))
        return W_t, U_t, b_ih, b_hh

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        W_t, U_t, b_ih, b_hh = self._torch_arrays(layer, state)
        out = {"W": self._reorder(W_t.T, layer), "U": self._reorder(U_t.T, layer)}
        if layer.use_bias:
            out["b"] = self._join_bias(layer, self._reorder(b_ih, layer), self._reorder(b_hh, layer), grads=False)
        return out

    def grads_from_torch(self, layer, grads: Arrays, previous=None) -> Arrays:
        W_t, U_t, g_ih, g_hh = self._torch_arrays(layer, grads)
        out = {"W": self._reorder(W_t.T, layer), "U": self._reorder(U_t.T, layer)}
        if layer.use_bias:
            out["b"] = self._join_bias(layer, self._reorder(g_ih, layer), self._reorder(g_hh, layer), grads=True)
        return out

    def _join_bias(self, layer, b_ih: np.ndarray, b_hh: np.ndarray, grads: bool) -> np.ndarray:
        if grads:
            return b_ih.copy()  # d/db_ih = d/db_hh = d/db: one of them, not their sum
        if enabled("rnn_bias_split"):
            return b_ih + b_hh
        return b_ih.copy()  # the naive port believes the two are copies

    # Keras --------------------------------------------------------------------
    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        shapes = self._shapes(layer)
        out = [expect(layer, key, weights.get(key), shapes[key]) for key in ("W", "U")]
        if layer.use_bias:
            out.append(expect(layer, "b", weights.get("b"), shapes["b"]))
        return out

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        shapes = self._shapes(layer)
        names = ("kernel", "recurrent_kernel", "bias") if layer.use_bias else ("kernel", "recurrent_kernel")
        if len(values) != len(names):
            raise ConversionError(
                layer.name,
                "weights",
                None,
                None,
                detail=f"expected {len(names)} arrays {list(names)}, received {len(values)}",
            )
        out = {
            "W": expect(layer, "kernel", values[0], shapes["W"]),
            "U": expect(layer, "recurrent_kernel", values[1], shapes["U"]),
        }
        if layer.use_bias:
            out["b"] = expect(layer, "bias", values[2], shapes["b"])
        return out


class SimpleRNNConverter(RecurrentConverter):
    """SimpleRNN <-> nn.RNN(nonlinearity="tanh") / keras.layers.SimpleRNN: ``rnn_transpose``, ``rnn_bias_split``.

    Canonical W (F, H), U (H, H), b (H,). torch: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    (torch/nn/modules/rnn.py, class RNN); Keras: h_t = tanh(x_t kernel + b + h_{t-1} recurrent_kernel)
    (keras/src/layers/rnn/simple_rnn.py, SimpleRNNCell.call).
    """

    gates = 1


class LSTMConverter(RecurrentConverter):
    """LSTM <-> nn.LSTM / keras.layers.LSTM: ``rnn_transpose``, ``rnn_bias_split``; no reordering.

    Canonical W (F, 4H), U (H, 4H), b (4H,), gates (i, f, c, o) (keras/src/layers/rnn/lstm.py,
    LSTMCell.call); torch's (i, f, g, o) is the same order (torch/nn/modules/rnn.py, class LSTM:
    "(W_ii|W_if|W_ig|W_io)"), with two biases added to every gate.
    """

    gates = 4


class GRUConverter(RecurrentConverter):
    """GRU <-> nn.GRU or GRUResetBefore / keras.layers.GRU.

    ``rnn_transpose`` and ``gru_gate_order`` always; the bias by the variant:
    reset_after=True (b (2, 3H)) with ``gru_recurrent_bias``, reset_after=False
    (b (3H,), torch module GRUResetBefore) with ``rnn_bias_split``.
    """

    gates = 3
    rules = ("rnn_transpose", "rnn_bias_split", "gru_gate_order", "gru_recurrent_bias")

    def _shapes(self, layer) -> dict[str, tuple[int, ...]]:
        shapes = super()._shapes(layer)
        if layer.reset_after:
            shapes["b"] = (2, 3 * layer.units)  # [input bias ; recurrent bias]
        return shapes

    def _reorder(self, A: np.ndarray, layer) -> np.ndarray:
        if not enabled("gru_gate_order"):
            return A
        H = layer.units
        return np.concatenate([A[..., H : 2 * H], A[..., :H], A[..., 2 * H :]], axis=-1)  # (z, r, h) <-> (r, z, n)

    def _split_bias(self, layer, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not layer.reset_after:
            return super()._split_bias(layer, b)
        if enabled("gru_recurrent_bias"):
            return b[0], b[1]
        return b[0] + b[1], np.zeros_like(b[0])  # the naive port: one bias, as for the LSTM

    def _join_bias(self, layer, b_ih: np.ndarray, b_hh: np.ndarray, grads: bool) -> np.ndarray:
        if not layer.reset_after:
            return super()._join_bias(layer, b_ih, b_hh, grads)
        if enabled("gru_recurrent_bias"):
            return np.stack([b_ih, b_hh])  # (2, 3H); a bijection, so gradients map the same way
        if grads:
            return np.stack([b_ih, b_ih])  # the naive belief: both rows enter through one sum
        return np.stack([b_ih + b_hh, np.zeros_like(b_ih)])


class BidirectionalConverter(Converter):
    """Bidirectional(LSTM | GRU) <-> nn.LSTM / nn.GRU(bidirectional=True) / keras.layers.Bidirectional.

    Canonical weights are each direction's own (``forward_W``, ``forward_U``, ``forward_b``,
    ``backward_W``, ...; scratch/bidirectional.py), and each direction converts with the wrapped
    layer's converter above (``rnn_transpose``, ``rnn_bias_split``, ``gru_gate_order``,
    ``gru_recurrent_bias``, ``rnn_single_bias_training`` apply to both).

    Keras: ``Bidirectional.weights`` are the forward layer's followed by the backward layer's
    (keras/src/layers/rnn/bidirectional.py: ``__init__`` splits given weights at nw // 2, forward
    first), so ``get_weights()`` is the two directions' lists one after the other.

    Rule:

    ``bidirectional_reverse_suffix``
        torch keeps the backward direction in the same module under the forward names plus
        ``_reverse``: ``weight_ih_l0_reverse``, ``weight_hh_l0_reverse``, ``bias_ih_l0_reverse``,
        ``bias_hh_l0_reverse`` (torch/nn/modules/rnn.py, RNNBase.__init__: ``suffix = "_reverse"
        if direction == 1``). The naive port knows only the unidirectional names: it loads the
        forward layer into ``*_l0`` and the backward layer nowhere, so the ``_reverse``
        parameters keep torch's random initialisation; the shapes agree, so nothing complains.
    """

    rules = ("bidirectional_reverse_suffix", *GRUConverter.rules, "rnn_single_bias_training")
    suffix = "_reverse"

    @staticmethod
    def _inner(layer) -> RecurrentConverter:
        return GRUConverter() if hasattr(layer.forward_layer, "reset_after") else LSTMConverter()

    def _suffix(self) -> str:
        return self.suffix if enabled("bidirectional_reverse_suffix") else ""

    @staticmethod
    def _part(weights: Arrays, prefix: str) -> Arrays:
        start = prefix + "_"
        return {k[len(start) :]: v for k, v in weights.items() if k.startswith(start)}

    def _torch_part(self, state: Arrays, suffix: str) -> Arrays:
        if not suffix:
            return {k: v for k, v in state.items() if not k.endswith(self.suffix)}
        return {k[: -len(suffix)]: v for k, v in state.items() if k.endswith(suffix)}

    # PyTorch ------------------------------------------------------------------
    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        inner = self._inner(layer)
        out: Arrays = {}
        out = dict(inner.to_torch(layer.forward_layer, self._part(weights, "forward")))
        backward = inner.to_torch(layer.backward_layer, self._part(weights, "backward"))
        if enabled("bidirectional_reverse_suffix"):
            out.update({k + self.suffix: v for k, v in backward.items()})
            return out
        # The naive port loads only the names it knows: the _reverse parameters keep what torch's
        # reset_parameters drew, U(-1/sqrt(H), 1/sqrt(H)) (seeded here, so the run repeats).
        rng = np.random.default_rng(len(layer.name))
        bound = 1.0 / np.sqrt(layer.units)
        out.update({k + self.suffix: rng.uniform(-bound, bound, np.shape(v)) for k, v in backward.items()})
        return out

    def _from(self, layer, state: Arrays, method: str) -> Arrays:
        inner = self._inner(layer)
        out: Arrays = {}
        for prefix, direction, suffix in (
            ("forward", layer.forward_layer, ""),
            ("backward", layer.backward_layer, self._suffix()),
        ):
            part = getattr(inner, method)(direction, self._torch_part(state, suffix))
            out.update({f"{prefix}_{k}": v for k, v in part.items()})
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return self._from(layer, state, "from_torch")

    def grads_from_torch(self, layer, grads: Arrays, previous=None) -> Arrays:
        return self._from(layer, grads, "grads_from_torch")

    def torch_frozen(self, layer) -> list[str]:
        names = self._inner(layer).torch_frozen(layer.forward_layer)
        return names + [name + self.suffix for name in names]

    # Keras --------------------------------------------------------------------
    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        inner = self._inner(layer)
        return [
            *inner.to_keras(layer.forward_layer, self._part(weights, "forward")),
            *inner.to_keras(layer.backward_layer, self._part(weights, "backward")),
        ]

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        inner = self._inner(layer)
        half = len(values) // 2
        if len(values) % 2:
            raise ConversionError(
                layer.name, "weights", None, None, detail=f"expected two equal halves, received {len(values)} arrays"
            )
        out: Arrays = {}
        for prefix, direction, part in (
            ("forward", layer.forward_layer, values[:half]),
            ("backward", layer.backward_layer, values[half:]),
        ):
            out.update({f"{prefix}_{k}": v for k, v in inner.from_keras(direction, list(part)).items()})
        return out
