"""Scratch dense family: hand-computed values, finite differences, stability."""

from __future__ import annotations

import math

import numpy as np
import pytest

from parity.gradcheck import check_gradients
from scratch import activations, losses
from scratch.dense import Dense
from scratch.models.mlp import linear_regression, logistic_regression, mlp
from scratch.sequential import Sequential


def test_dense_hand_computed():
    layer = Dense(2)
    layer.build((3,))
    layer.params = {"W": np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]), "b": np.array([0.5, -0.5])}
    X = np.array([[1.0, 0.0, -1.0]])
    np.testing.assert_array_equal(layer.forward(X), [[1 - 5 + 0.5, 2 - 6 - 0.5]])
    dX = layer.backward(np.array([[1.0, 2.0]]))
    np.testing.assert_array_equal(dX, [[1 + 4, 3 + 8, 5 + 12]])
    np.testing.assert_array_equal(layer.grads["W"], [[1, 2], [0, 0], [-1, -2]])
    np.testing.assert_array_equal(layer.grads["b"], [1, 2])


@pytest.mark.parametrize(
    "name, x, expected",
    [
        ("linear", -2.0, -2.0),
        ("sigmoid", 0.0, 0.5),
        ("sigmoid", math.log(3.0), 0.75),
        ("tanh", 0.5, math.tanh(0.5)),
        ("relu", -1.5, 0.0),
        ("relu", 1.5, 1.5),
        ("gelu", 1.0, 0.5 * (1 + math.erf(1 / math.sqrt(2)))),
    ],
)
def test_activation_values(name, x, expected):
    layer = activations.get(name)
    assert layer.forward(np.array([x]))[0] == pytest.approx(expected, rel=1e-15, abs=1e-300)


def test_leaky_relu_uses_its_slope():
    layer = activations.LeakyReLU(0.25)
    np.testing.assert_array_equal(layer.forward(np.array([-4.0, 4.0])), [-1.0, 4.0])
    np.testing.assert_array_equal(layer.backward(np.array([1.0, 1.0])), [0.25, 1.0])


def test_leaky_relu_has_no_default_slope():
    with pytest.raises(ValueError, match="negative_slope"):
        activations.LeakyReLU(None).forward(np.ones(2))


def test_gelu_tanh_approximation_value():
    x = 1.3
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
    assert activations.GELU("tanh").forward(np.array([x]))[0] == pytest.approx(0.5 * x * (1 + math.tanh(u)), rel=1e-15)


def test_softmax_rows_sum_to_one_and_match_definition():
    X = np.array([[1.0, 2.0, 3.0]])
    Z = activations.Softmax().forward(X)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(Z[0], e / e.sum(), rtol=1e-15)


def test_losses_hand_computed():
    mse = losses.MeanSquaredError()
    assert mse(np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])) == pytest.approx((1 + 4) / 2)
    np.testing.assert_allclose(mse.backward(), [[1.0], [2.0]])
    bce = losses.BinaryCrossEntropyWithLogits()
    z, t = 0.3, 1.0
    p = 1 / (1 + math.exp(-z))
    assert bce(np.array([[z]]), np.array([[t]])) == pytest.approx(-math.log(p), rel=1e-15)
    ce = losses.SoftmaxCrossEntropyWithLogits()
    Z = np.array([[1.0, 2.0, 0.5]])
    assert ce(Z, np.array([1])) == pytest.approx(-math.log(math.exp(2) / sum(math.exp(v) for v in Z[0])), rel=1e-15)


def test_softmax_cross_entropy_rejects_bad_labels():
    with pytest.raises(ValueError, match="labels must lie in"):
        losses.SoftmaxCrossEntropyWithLogits()(np.zeros((2, 3)), np.array([0, 3]))


# finite differences -----------------------------------------------------------------


def _layer_model(layer, input_dim):
    return Sequential([layer], input_shape=(input_dim,))


@pytest.mark.parametrize(
    "layer",
    [
        Dense(4),
        Dense(3, use_bias=False),
        activations.Identity(),
        activations.Sigmoid(),
        activations.Tanh(),
        activations.ReLU(),
        activations.LeakyReLU(0.1),
        activations.Softmax(),
        activations.GELU("none"),
        activations.GELU("tanh"),
        # other constants (TensorFlow's float32-rounded ones are 1e-8 away; these differ visibly)
        activations.GELU("none", inv_sqrt2=0.6),
        activations.GELU("tanh", coeff=0.05),
    ],
    ids=lambda l: f"{type(l).__name__}-{getattr(l, 'approximate', getattr(l, 'use_bias', ''))}"
    + (f"-c{l.inv_sqrt2:.2g}-k{l.coeff:.2g}" if isinstance(l, activations.GELU) else ""),
)
def test_finite_differences_per_layer(layer, rng):
    model = _layer_model(layer, 5)
    model.init(rng)
    for value in model.parameters().values():
        value += 0.3 * rng.standard_normal(value.shape)  # a non-zero bias
    X = 2 * rng.standard_normal((3, 5))
    results = check_gradients(model, X, rng)
    assert all(r.passed for r in results), [(r.name, r.max_rel_err) for r in results]


@pytest.mark.parametrize(
    "loss, targets",
    [
        (losses.MeanSquaredError(), lambda rng: rng.standard_normal((4, 3))),
        (losses.BinaryCrossEntropyWithLogits(), lambda rng: rng.integers(0, 2, (4, 3)).astype(float)),
        (losses.BinaryCrossEntropy(), lambda rng: rng.integers(0, 2, (4, 3)).astype(float)),
        (losses.SoftmaxCrossEntropyWithLogits(), lambda rng: rng.integers(0, 3, 4)),
        (losses.SparseCategoricalCrossEntropy(), lambda rng: rng.integers(0, 3, 4)),
    ],
    ids=lambda v: type(v).__name__,
)
def test_finite_differences_per_loss(loss, targets, rng):
    layers = [Dense(3)]
    if isinstance(loss, losses.BinaryCrossEntropy):
        layers.append(activations.Sigmoid())  # probabilities
    if isinstance(loss, losses.SparseCategoricalCrossEntropy):
        layers.append(activations.Softmax())  # probabilities
    model = Sequential(layers, input_shape=(5,))
    model.init(rng)
    results = check_gradients(model, rng.standard_normal((4, 5)), rng, targets=targets(rng), loss=loss)
    assert all(r.passed for r in results), [(r.name, r.max_rel_err) for r in results]


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu", "gelu", "sigmoid", "softmax"])
def test_finite_differences_mlp(activation, rng):
    model = mlp(6, [5, 4], 3, activation, negative_slope=0.1)
    model.init(rng)
    results = check_gradients(model, rng.standard_normal((4, 6)), rng, targets=rng.integers(0, 3, 4), loss=losses.SoftmaxCrossEntropyWithLogits())
    assert all(r.passed for r in results), [(r.name, r.max_rel_err) for r in results]


def test_finite_differences_regressions(rng):
    for model, loss, T in [
        (linear_regression(4, 2), losses.MeanSquaredError(), rng.standard_normal((5, 2))),
        (logistic_regression(4), losses.BinaryCrossEntropyWithLogits(), rng.integers(0, 2, (5, 1)).astype(float)),
    ]:
        model.init(rng)
        results = check_gradients(model, rng.standard_normal((5, 4)), rng, targets=T, loss=loss)
        assert all(r.passed for r in results), [(r.name, r.max_rel_err) for r in results]


def test_gradcheck_catches_a_wrong_derivative(rng):
    """The finite-difference check itself can fail: a sigmoid whose backward forgets (1 - Z)."""

    class BrokenSigmoid(activations.Sigmoid):
        def backward(self, dZ):
            return dZ * self.Z

    model = _layer_model(BrokenSigmoid(), 4)
    results = check_gradients(model, rng.standard_normal((2, 4)), rng)
    assert not results[0].passed


# stability ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_are_finite_and_exact(dtype):
    """Logits of magnitude 1e4: no overflow warning, no NaN, and the exact limits."""
    Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is exact enough
        s = activations.Sigmoid().forward(Z)
        np.testing.assert_array_equal(s[0, :2], [1.0, 0.0])
        sm = activations.Softmax().forward(Z)
        assert np.all(np.isfinite(sm))
        g = activations.GELU("none").forward(Z)
        np.testing.assert_array_equal(g[:, :2], [[1e4, 0.0], [0.0, 1e4]])
        gt = activations.GELU("tanh").forward(Z)
        assert np.all(np.isfinite(gt))
        bce = losses.BinaryCrossEntropyWithLogits()
        T = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=dtype)
        value = bce(Z, T)
        # Wrong by 1e4 on four entries: each costs exactly 1e4 (+ log 2 or softplus(5) on the rest).
        expected = (4 * 1e4 + math.log(2) + math.log1p(math.exp(5.0))) / 6
        assert value == pytest.approx(expected, rel=1e-6 if dtype == np.float32 else 1e-12)
        assert np.all(np.isfinite(bce.backward()))
        ce = losses.SoftmaxCrossEntropyWithLogits()
        value = ce(Z, np.array([1, 0]))
        assert value == pytest.approx(2e4, rel=1e-6)  # each row: logsumexp = 1e4, chosen logit = -1e4
        assert np.all(np.isfinite(ce.backward()))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype, rng):
    model = mlp(5, [4], 3, "gelu", approximate="tanh")
    model.init(rng, dtype)
    X = rng.standard_normal((2, 5)).astype(dtype)
    assert model.forward(X).dtype == dtype
    assert model.backward(np.ones((2, 3), dtype=dtype)).dtype == dtype
    assert all(g.dtype == dtype for g in model.gradients().values())


def test_sparse_categorical_on_probabilities_by_hand():
    # Rows are divided by their sum first: [1, 3] is read as [0.25, 0.75].
    P = np.array([[1.0, 3.0], [0.5, 0.5]])
    y = np.array([1, 0])
    loss = losses.SparseCategoricalCrossEntropy()
    assert loss.forward(P, y) == pytest.approx(-(math.log(0.75) + math.log(0.5)) / 2, rel=1e-15)
    # dP[b, j] = (1/S_b - [j == y_b] / P[b, y_b]) / B
    expected = np.array([[0.25, 0.25 - 1 / 3], [1.0 - 2.0, 1.0]]) / 2
    np.testing.assert_allclose(loss.backward(), expected, rtol=1e-15)


def test_sparse_categorical_clip_stops_the_gradient():
    # Logits given as probabilities (the naive port): q = -1 / 1 is clipped to 1e-7 and passes no gradient.
    loss = losses.SparseCategoricalCrossEntropy()
    assert loss.forward(np.array([[-1.0, 2.0]]), np.array([0])) == pytest.approx(-math.log(1e-7), rel=1e-15)
    assert not loss.backward().any()
