"""SimpleRNN, LSTM and GRU: hand-computed steps, finite differences, dtypes, and torch in float64."""

from __future__ import annotations

import importlib.util
import math
import zlib
from dataclasses import dataclass

import numpy as np
import pytest

from parity.gradcheck import check_gradients
from parity.tolerance import relative_error, tolerance
from scratch.activations import sigmoid
from scratch.gru import GRU
from scratch.layer import Layer
from scratch.lstm import LSTM
from scratch.models.rnn import gru_classifier, lstm_seq, rnn_classifier
from scratch.simple_rnn import SimpleRNN, gate_sigmoid, orthogonal

B, T, F, H = 2, 4, 3, 5

TOL = tolerance("float64")  # hand-computed numbers and NumPy agree to rounding
requires_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")


def sig(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def build(layer: Layer, rng: np.random.Generator, dtype=np.float64, input_shape=(T, F)) -> Layer:
    """Build for ``input_shape`` and fill every parameter with non-trivial values (biases too)."""
    layer.build(input_shape)
    layer.init(rng, dtype)
    for P in layer.params.values():
        P[...] = 0.5 * rng.standard_normal(P.shape)
    return layer


class WithState(Layer):
    """Adapter: forward(X) calls forward(X, initial_state=...) with the arrays in ``states``.

    The arrays are held, not copied, so the finite differences that perturb them
    in place reach the layer; params and grads are the wrapped layer's own dicts.
    """

    def __init__(self, layer: Layer, states: dict[str, np.ndarray]) -> None:
        super().__init__(layer.name)
        self.layer, self.states = layer, states
        self.params, self.grads = layer.params, layer.grads

    def forward(self, X):
        if not self.states:
            return self.layer.forward(X)
        if "c0" in self.states:
            return self.layer.forward(X, initial_state=(self.states["h0"], self.states["c0"]))
        return self.layer.forward(X, initial_state=self.states["h0"])

    def backward(self, dZ):
        return self.layer.backward(dZ)


LAYERS = {  # kind -> (constructor, initial-state keys)
    "simple_rnn": (SimpleRNN, ("h0",)),
    "lstm": (LSTM, ("h0", "c0")),
    "gru_after": (lambda *a, **k: GRU(*a, reset_after=True, **k), ("h0",)),
    "gru_before": (lambda *a, **k: GRU(*a, reset_after=False, **k), ("h0",)),
}


@dataclass
class Case:
    """One layer configuration; what to test is data, how is the generic code below."""

    kind: str
    seq: bool
    bias: bool
    init: bool  # whether forward receives initial states

    @property
    def id(self) -> str:
        flags = ["seq" if self.seq else "last", "bias" if self.bias else "nobias", "h0" if self.init else "zeros"]
        return "-".join([self.kind, *flags])

    @property
    def states(self) -> tuple[str, ...]:
        return LAYERS[self.kind][1] if self.init else ()

    def make(self) -> Layer:
        return LAYERS[self.kind][0](H, return_sequences=self.seq, use_bias=self.bias)


CASES = [Case(k, s, b, i) for k in LAYERS for s in (True, False) for b in (True, False) for i in (True, False)]


def wrapped(case: Case, rng: np.random.Generator, dtype=np.float64) -> tuple[WithState, np.ndarray]:
    layer = build(case.make(), rng, dtype)
    states = {k: rng.standard_normal((B, H)).astype(dtype) for k in case.states}
    X = rng.standard_normal((B, T, F)).astype(dtype)
    return WithState(layer, states), X


# Hand-computed steps (B = 1, T = 2, F = 1, H = 1) -----------------------------------
X1 = np.array([[[1.0], [-2.0]]])  # (1, 2, 1)
H0 = 0.2


def test_simple_rnn_by_hand_forward_and_backward():
    w, u, b, g1, g2 = 0.5, -0.3, 0.1, 0.7, -1.1
    layer = build(SimpleRNN(1, return_sequences=True), np.random.default_rng(0), input_shape=(2, 1))
    layer.params.update(W=np.array([[w]]), U=np.array([[u]]), b=np.array([b]))
    Z = layer.forward(X1, initial_state=np.array([[H0]]))
    h1 = math.tanh(w * 1.0 + H0 * u + b)
    h2 = math.tanh(w * -2.0 + h1 * u + b)
    np.testing.assert_allclose(Z, [[[h1], [h2]]], rtol=TOL)
    dX = layer.backward(np.array([[[g1], [g2]]]))
    dA2 = g2 * (1 - h2**2)
    dA1 = (g1 + dA2 * u) * (1 - h1**2)
    np.testing.assert_allclose(dX, [[[dA1 * w], [dA2 * w]]], rtol=TOL)
    np.testing.assert_allclose(layer.grads["W"], [[1.0 * dA1 - 2.0 * dA2]], rtol=TOL)
    np.testing.assert_allclose(layer.grads["U"], [[H0 * dA1 + h1 * dA2]], rtol=TOL)
    np.testing.assert_allclose(layer.grads["b"], [dA1 + dA2], rtol=TOL)
    np.testing.assert_allclose(layer.grads["h0"], [[dA1 * u]], rtol=TOL)


def test_lstm_by_hand_forward():
    W, U, b = [0.5, -0.4, 0.3, 0.8], [0.2, 0.6, -0.5, 0.1], [0.1, 1.0, -0.2, 0.05]  # blocks i, f, c, o
    layer = build(LSTM(1, return_sequences=True), np.random.default_rng(0), input_shape=(2, 1))
    layer.params.update(W=np.array([W]), U=np.array([U]), b=np.array(b))
    Z = layer.forward(X1, initial_state=(np.array([[H0]]), np.array([[-0.3]])))
    h, c, expected = H0, -0.3, []
    for x in (1.0, -2.0):
        a = [x * W[k] + h * U[k] + b[k] for k in range(4)]
        i, f, g, o = sig(a[0]), sig(a[1]), math.tanh(a[2]), sig(a[3])
        c = f * c + i * g
        h = o * math.tanh(c)
        expected.append([h])
    np.testing.assert_allclose(Z, [expected], rtol=TOL)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_by_hand_forward(reset_after):
    W, U = [0.5, -0.4, 0.3], [0.2, 0.6, -0.5]  # blocks z, r, h
    b_in, b_rec = [0.1, -0.2, 0.3], [0.05, 0.4, -0.25]
    layer = build(GRU(1, reset_after=reset_after), np.random.default_rng(0))
    b = np.array([b_in, b_rec]) if reset_after else np.array(b_in)
    layer.params.update(W=np.array([W]), U=np.array([U]), b=b)
    Z = layer.forward(X1, initial_state=np.array([[H0]]))
    h = H0
    for x in (1.0, -2.0):
        rec = b_rec if reset_after else [0.0, 0.0, 0.0]
        z = sig(x * W[0] + b_in[0] + h * U[0] + rec[0])
        r = sig(x * W[1] + b_in[1] + h * U[1] + rec[1])
        if reset_after:
            hh = math.tanh(x * W[2] + b_in[2] + r * (h * U[2] + rec[2]))
        else:
            hh = math.tanh(x * W[2] + b_in[2] + (r * h) * U[2])
        h = z * h + (1 - z) * hh
    np.testing.assert_allclose(Z, [[h]], rtol=TOL)


# Finite differences -------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_layer_gradients_match_finite_differences(case):
    rng = np.random.default_rng(zlib.crc32(case.id.encode()))  # seed from the name
    model, X = wrapped(case, rng)
    results = check_gradients(model, X, rng, extra_inputs=model.states)
    assert {r.name for r in results} == {"input", *model.params, *case.states}
    for r in results:
        assert r.passed, f"{case.id}: {r.name} rel err {r.max_rel_err:.2e}"
    if not case.states:
        assert "h0" not in model.grads and "c0" not in model.grads


@pytest.mark.parametrize("case", [c for c in CASES if "bias-h0" in c.id], ids=lambda c: c.id)
def test_backward_twice_on_one_forward(case):
    rng = np.random.default_rng(1)
    model, X = wrapped(case, rng)
    Z = model.forward(X)
    G1, G2 = rng.standard_normal(Z.shape), rng.standard_normal(Z.shape)
    dX1 = model.backward(G1)
    first = {k: v.copy() for k, v in model.grads.items()}
    model.backward(G2)
    np.testing.assert_array_equal(model.backward(G1), dX1)
    for k, v in first.items():
        np.testing.assert_array_equal(model.grads[k], v, err_msg=f"{case.id}: {k}")


MODELS = {
    "rnn_classifier": lambda: rnn_classifier((T, F), units=H, num_classes=3),
    "lstm_seq": lambda: lstm_seq((T, F), units=H, output_units=2),
    "gru_classifier": lambda: gru_classifier((T, F), units=H, num_classes=3),
    "gru_classifier-reset_before": lambda: gru_classifier((T, F), units=H, num_classes=3, reset_after=False),
}


@pytest.mark.parametrize("name", MODELS)
def test_model_gradients_match_finite_differences(name):
    rng = np.random.default_rng(7)
    model = MODELS[name]()
    model.init(rng)
    for P in model.parameters().values():
        P[...] = 0.5 * rng.standard_normal(P.shape)
    results = check_gradients(model, rng.standard_normal((B, T, F)), rng)
    assert {r.name for r in results} == {"input", *model.parameters()}
    for r in results:
        assert r.passed, f"{name}: {r.name} rel err {r.max_rel_err:.2e}"


def test_model_shapes_and_names():
    assert rnn_classifier((T, F)).output_shape == (5,)
    assert lstm_seq((T, F)).output_shape == (T, 4)
    m = gru_classifier((T, F), units=H)
    m.init(np.random.default_rng(0))
    assert {k: v.shape for k, v in m.parameters().items()} == {
        "gru_0.W": (F, 3 * H),
        "gru_0.U": (H, 3 * H),
        "gru_0.b": (2, 3 * H),
        "dense_0.W": (H, 5),
        "dense_0.b": (5,),
    }
    assert rnn_classifier((T, F)).layers[0].name == "simple_rnn_0"
    assert lstm_seq((T, F)).layers[0].name == "lstm_0"


# Dtypes, initialisation, argument checks ----------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if "bias-h0" in c.id], ids=lambda c: c.id)
def test_float32_stays_float32(case):
    rng = np.random.default_rng(3)
    model, X = wrapped(case, rng, np.float32)
    Z = model.forward(X)
    dX = model.backward(rng.standard_normal(Z.shape).astype(np.float32))
    assert Z.dtype == dX.dtype == np.float32
    assert all(g.dtype == np.float32 for g in model.grads.values()), {k: g.dtype for k, g in model.grads.items()}


def test_gate_sigmoid_is_the_sigmoid():
    A = np.concatenate([np.linspace(-40, 40, 801), [-1e4, 1e4, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        mine, theirs = gate_sigmoid(A), sigmoid(A)
        assert gate_sigmoid(A.astype(np.float32)).dtype == np.float32
    assert relative_error(theirs, mine) <= TOL  # an identity: equal up to rounding


def test_keras_default_initialisation():
    rng = np.random.default_rng(0)
    lstm = LSTM(H)
    lstm.build((T, F))
    lstm.init(rng)
    np.testing.assert_array_equal(lstm.params["b"], np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])
    np.testing.assert_allclose(lstm.params["U"] @ lstm.params["U"].T, np.eye(H), atol=TOL)
    Q = orthogonal(rng, (4 * H, H), np.float64)
    np.testing.assert_allclose(Q.T @ Q, np.eye(H), atol=TOL)
    gru = GRU(H, reset_after=False)
    gru.build((T, F))
    gru.init(rng)
    assert gru.params["b"].shape == (3 * H,) and not gru.params["b"].any()


def test_bad_arguments_say_what_they_received():
    with pytest.raises(ValueError, match="units"):
        LSTM(0)
    with pytest.raises(ValueError, match="reset_after"):
        GRU(3, reset_after="yes")
    layer = build(SimpleRNN(H, name="rnn"), np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"'rnn'.*\(2, 4, 7\)"):
        layer.forward(np.zeros((2, 4, 7)))
    with pytest.raises(ValueError, match="initial_state"):
        layer.forward(np.zeros((2, 4, F)), initial_state=np.zeros((3, H)))


# PyTorch in float64: the same maths, weights converted by hand ------------------------
def swap_zr(A: np.ndarray) -> np.ndarray:
    """GRU blocks along the last axis, Keras (z, r, h) <-> PyTorch (r, z, n); its own inverse."""
    return np.concatenate([A[..., H : 2 * H], A[..., :H], A[..., 2 * H :]], axis=-1)


@requires_torch
@pytest.mark.parametrize("seq", [True, False], ids=["seq", "last"])
@pytest.mark.parametrize("kind", ["simple_rnn", "lstm", "gru"])
def test_matches_torch_in_float64(kind, seq):
    import torch

    rng = np.random.default_rng(zlib.crc32(kind.encode()))
    make = {"simple_rnn": SimpleRNN, "lstm": LSTM, "gru": GRU}[kind]
    layer = build(make(H, return_sequences=seq), rng)
    X, h0, c0 = rng.standard_normal((B, T, F)), rng.standard_normal((B, H)), rng.standard_normal((B, H))
    Z = layer.forward(X, initial_state=(h0, c0) if kind == "lstm" else h0)
    G = rng.standard_normal(Z.shape)
    dX = layer.backward(G)
    W, U, b = (layer.params[k] for k in "WUb")
    if kind == "gru":  # b = [b_in ; b_rec] are torch's two biases; blocks reordered
        w_ih, w_hh, b_ih, b_hh = swap_zr(W).T, swap_zr(U).T, swap_zr(b[0]), swap_zr(b[1])
    else:  # torch's two biases only ever appear summed: any split of b will do
        b_ih = rng.standard_normal(b.shape)
        w_ih, w_hh, b_hh = W.T, U.T, b - b_ih
    module = {"simple_rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind](F, H, batch_first=True)
    module = module.double()
    with torch.no_grad():
        for name, A in [("weight_ih_l0", w_ih), ("weight_hh_l0", w_hh), ("bias_ih_l0", b_ih), ("bias_hh_l0", b_hh)]:
            getattr(module, name).copy_(torch.from_numpy(np.ascontiguousarray(A)))
    Xt = torch.tensor(X, requires_grad=True)
    h0t, c0t = torch.tensor(h0[None], requires_grad=True), torch.tensor(c0[None], requires_grad=True)
    out, _ = module(Xt, (h0t, c0t) if kind == "lstm" else h0t)  # (B, T, H)
    out = out if seq else out[:, -1]
    (out * torch.from_numpy(G)).sum().backward()

    theirs = {"Z": out, "dX": Xt.grad, "dh0": h0t.grad[0], "dW": module.weight_ih_l0.grad.T}
    theirs["dU"] = module.weight_hh_l0.grad.T
    grads_b = [module.bias_ih_l0.grad, module.bias_hh_l0.grad]
    theirs = {k: v.detach().numpy() for k, v in theirs.items()}
    mine = {"Z": Z, "dX": dX, "dh0": layer.grads["h0"], "dW": layer.grads["W"], "dU": layer.grads["U"]}
    if kind == "gru":
        theirs.update(
            dW=swap_zr(theirs["dW"]), dU=swap_zr(theirs["dU"]), db=swap_zr(np.stack([g.numpy() for g in grads_b]))
        )
    else:
        theirs.update(db=grads_b[0].numpy(), db_hh=grads_b[1].numpy())
        mine["db_hh"] = layer.grads["b"]
    mine["db"] = layer.grads["b"]
    if kind == "lstm":
        mine["dc0"], theirs["dc0"] = layer.grads["c0"], c0t.grad[0].numpy()
    assert mine.keys() == theirs.keys()
    for name in mine:
        err = relative_error(theirs[name], mine[name])
        assert err <= tolerance("float64"), f"{kind}: {name} mine vs theirs rel err {err:.2e}"
