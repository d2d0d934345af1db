"""Scratch Conv2D, MaxPool2D, AvgPool2D, Flatten, BatchNorm and the cnn models.

Each layer is checked three ways: small examples computed by hand (including the
asymmetric 'same' padding and the real-cell count of average pooling), a naive
loop-per-pixel reference for the vectorised code, and central finite differences
in float64 over every option.
"""

from __future__ import annotations

import itertools
import zlib

import numpy as np
import pytest

import scratch.conv2d
from parity.gradcheck import check_gradients
from parity.tolerance import relative_error, tolerance
from scratch.batchnorm import BatchNorm
from scratch.conv2d import Conv2D, output_length
from scratch.flatten import Flatten
from scratch.models.cnn import cnn, cnn_bn
from scratch.pooling import AvgPool2D, MaxPool2D

TOL = tolerance("float64")  # the same products, summed in another order


def rng_for(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def randomise(layer, rng, dtype=np.float64):
    """Random bias, BN scale/shift and moving statistics, so that none of them is trivially 0 or 1."""
    for store, key in [
        (layer.params, "b"),
        (layer.params, "gamma"),
        (layer.params, "beta"),
        (layer.state, "moving_mean"),
    ]:
        if key in store:
            store[key] = rng.standard_normal(store[key].shape).astype(dtype)
    if "moving_var" in layer.state:
        layer.state["moving_var"] = rng.uniform(0.5, 2.0, layer.state["moving_var"].shape).astype(dtype)


def built(layer, input_shape, rng, dtype=np.float64):
    layer.build(input_shape)
    layer.init(rng, dtype)
    randomise(layer, rng, dtype)
    return layer


def image(*values) -> np.ndarray:
    """A (1, H, W, 1) image from nested rows."""
    return np.array(values, dtype=np.float64)[None, :, :, None]


# Hand-computed examples ------------------------------------------------------------
def test_conv2d_by_hand():
    conv = Conv2D(1, 2)
    conv.build((3, 3, 1))
    conv.params["W"] = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    conv.params["b"] = np.array([0.5])
    X = image([1, 2, 3], [4, 5, 6], [7, 8, 9])
    Z = conv.forward(X)
    # Z[0, 0] = 1*1 + 2*2 + 3*4 + 4*5 = 37, and each step right adds 10, each step down 30
    np.testing.assert_array_equal(Z, image([37.5, 47.5], [67.5, 77.5]))
    dX = conv.backward(image([1, 0], [0, 2]))
    np.testing.assert_array_equal(conv.grads["W"][:, :, 0, 0], [[1 + 2 * 5, 2 + 2 * 6], [4 + 2 * 8, 5 + 2 * 9]])
    np.testing.assert_array_equal(conv.grads["b"], [3.0])
    np.testing.assert_array_equal(dX, image([1, 2, 0], [3, 4 + 2, 4], [0, 6, 8]))


@pytest.mark.parametrize(
    "size, k, stride, dilation, padding, expected",
    [
        (5, 3, 1, 1, "same", (5, 1, 1)),
        (4, 2, 1, 1, "same", (4, 0, 1)),  # odd total: the extra row goes at the bottom
        (6, 3, 2, 1, "same", (3, 0, 1)),
        (5, 4, 1, 1, "same", (5, 1, 2)),
        (7, 3, 2, 2, "same", (4, 2, 2)),  # dilated extent 5
        (5, 1, 3, 1, "same", (2, 0, 0)),  # the rule's max(., 0)
        (7, 3, 2, 2, "valid", (2, 0, 0)),
        (6, 3, 2, 1, "valid", (2, 0, 0)),
    ],
)
def test_output_length(size, k, stride, dilation, padding, expected):
    assert output_length(size, k, stride, dilation, padding) == expected


def test_conv2d_same_padding_is_bottom_right():
    """A 4x4 input, 2x2 kernel, stride 1: total padding 1, all of it at the bottom and right."""
    X = np.arange(1.0, 17.0).reshape(1, 4, 4, 1)
    conv = Conv2D(1, 2, padding="same", use_bias=False)
    conv.build((4, 4, 1))
    conv.params["W"] = np.array([[1.0, 0.0], [0.0, 0.0]]).reshape(2, 2, 1, 1)  # top-left tap
    np.testing.assert_array_equal(conv.forward(X), X)  # no padding above or to the left
    conv.params["W"] = np.array([[0.0, 0.0], [0.0, 1.0]]).reshape(2, 2, 1, 1)  # bottom-right tap
    expected = np.zeros_like(X)
    expected[:, :3, :3] = X[:, 1:, 1:]
    np.testing.assert_array_equal(conv.forward(X), expected)


def test_max_pool_by_hand():
    X = image([1, 5, 2, 0], [3, 4, 8, 8], [-1, -2, 0, 7], [-3, -4, 9, 1])
    pool = MaxPool2D(2)
    np.testing.assert_array_equal(pool.forward(X), image([5, 8], [-1, 9]))
    dX = pool.backward(image([1, 2], [3, 4]))
    # the tie 8, 8 goes to the first in window order only
    np.testing.assert_array_equal(dX, image([0, 1, 0, 0], [0, 0, 2, 0], [3, 0, 0, 0], [0, 0, 4, 0]))


def test_max_pool_same_pads_with_minus_infinity():
    X = -image([1, 2, 3], [4, 5, 6], [7, 8, 9])
    pool = MaxPool2D(2, padding="same")  # out 2x2, one padded row and column at the bottom and right
    np.testing.assert_array_equal(pool.forward(X), -image([1, 3], [7, 9]))


def test_avg_pool_same_divides_by_real_cells():
    X = image([1, 2, 3], [4, 5, 6], [7, 8, 9])
    pool = AvgPool2D(2, padding="same")
    # windows hold 4, 2, 2 and 1 real cells
    np.testing.assert_array_equal(pool.forward(X), image([12 / 4, 9 / 2], [15 / 2, 9 / 1]))
    dX = pool.backward(image([1, 2], [3, 4]))
    np.testing.assert_array_equal(dX, image([0.25, 0.25, 1], [0.25, 0.25, 1], [1.5, 1.5, 4]))


def test_flatten_is_row_major_over_h_w_c():
    X = np.arange(2 * 3 * 4 * 5.0).reshape(2, 3, 4, 5)
    flat = Flatten()
    Z = flat.forward(X)
    assert Z.shape == (2, 60) and flat.output_shape((3, 4, 5)) == (60,)
    assert Z[1, (2 * 4 + 3) * 5 + 4] == X[1, 2, 3, 4]
    np.testing.assert_array_equal(flat.backward(Z), X)


def test_batchnorm_by_hand():
    bn = BatchNorm(epsilon=0.5, momentum=0.9)
    bn.build((1, 1, 1))
    bn.init(rng_for("bn"))
    bn.params["gamma"], bn.params["beta"] = np.array([2.0]), np.array([1.0])
    X = np.array([1.0, 2.0, 3.0, 6.0]).reshape(4, 1, 1, 1)  # mean 3, biased var 3.5, var + eps = 4
    bn.training = True
    np.testing.assert_allclose(bn.forward(X).ravel(), 2 * np.array([-1, -0.5, 0, 1.5]) + 1)
    np.testing.assert_allclose(bn.state["moving_mean"], [0.9 * 0 + 0.1 * 3])
    np.testing.assert_allclose(bn.state["moving_var"], [0.9 * 1 + 0.1 * 3.5])
    dX = bn.backward(np.array([1.0, -2.0, 0.5, 3.0]).reshape(4, 1, 1, 1))
    assert abs(dX.sum()) < 1e-12  # a shift of X cannot change the output
    bn.training = False
    bn.state["moving_mean"], bn.state["moving_var"] = np.array([1.0]), np.array([3.5])
    np.testing.assert_allclose(bn.forward(X).ravel(), 2 * (X.ravel() - 1) / 2 + 1)
    np.testing.assert_allclose(bn.backward(np.ones((4, 1, 1, 1))).ravel(), np.full(4, 2 / 2))


# Against a loop-per-pixel reference -----------------------------------------------
def naive_conv(X, W, b, strides, dilation, padding):
    B, H, W_in, C = X.shape
    kh, kw, _, C_out = W.shape
    (sh, sw), (dh, dw) = strides, dilation
    H_out, top, bottom = output_length(H, kh, sh, dh, padding)
    W_out, left, right = output_length(W_in, kw, sw, dw, padding)
    Xp = np.pad(X, ((0, 0), (top, bottom), (left, right), (0, 0)))
    Z = np.zeros((B, H_out, W_out, C_out))
    for n, i, j, o in itertools.product(range(B), range(H_out), range(W_out), range(C_out)):
        patch = Xp[n, i * sh : i * sh + (kh - 1) * dh + 1 : dh, j * sw : j * sw + (kw - 1) * dw + 1 : dw, :]
        Z[n, i, j, o] = (patch * W[:, :, :, o]).sum() + b[o]
    return Z


@pytest.mark.parametrize(
    "strides, dilation, padding", [((1, 1), (1, 1), "same"), ((2, 3), (1, 1), "same"), ((1, 1), (2, 1), "valid")]
)
def test_conv2d_matches_loop_reference(strides, dilation, padding):
    rng = rng_for(f"naive {strides} {dilation} {padding}")
    conv = built(Conv2D(3, (3, 2), strides, padding, dilation), (7, 6, 2), rng)
    X = rng.standard_normal((2, 7, 6, 2))
    expected = naive_conv(X, conv.params["W"], conv.params["b"], strides, dilation, padding)
    np.testing.assert_allclose(conv.forward(X), expected, rtol=1e-12, atol=1e-12)


def test_large_batch_runs_vectorised():
    """The benchmark's shape (no timing here): batch 64, 28x28, 16 -> 32 channels, float32."""
    rng = rng_for("large")
    conv = built(Conv2D(32, 3, padding="same"), (28, 28, 16), rng, np.float32)
    X = rng.standard_normal((64, 28, 28, 16), dtype=np.float32)
    Z = conv.forward(X)
    dX = conv.backward(np.ones_like(Z))
    assert Z.shape == (64, 28, 28, 32) and dX.shape == X.shape
    one = conv.forward(X[5:6])  # the batch is processed independently
    np.testing.assert_allclose(Z[5:6], one, rtol=1e-5, atol=1e-5)


def test_blocks_of_images_agree_with_one_block(monkeypatch):
    """Conv2D multiplies blocks of images (IM2COL_BYTES); the blocks, the last one partial, change no value."""
    rng = rng_for("blocks")
    conv = built(Conv2D(3, 3, padding="same"), (4, 5, 2), rng)
    X, G = rng.standard_normal((5, 4, 5, 2)), rng.standard_normal((5, 4, 5, 3))
    image_bytes = 4 * 5 * (3 * 3 * 2) * X.itemsize  # one image's im2col: P * K * 8
    results = {}
    for images in (2, 5):  # 2: blocks of 2, 2 and 1 images; 5: the whole batch at once
        monkeypatch.setattr(scratch.conv2d, "IM2COL_BYTES", images * image_bytes)
        assert conv._block(4 * 5, 3 * 3 * 2, X.itemsize) == images
        Z = conv.forward(X)
        results[images] = {"Z": Z, "dX": conv.backward(G), **{f"d{k}": v for k, v in conv.grads.items()}}
    expected = naive_conv(X, conv.params["W"], conv.params["b"], (1, 1), (1, 1), "same")
    assert relative_error(expected, results[2]["Z"]) <= TOL
    for name, value in results[5].items():
        assert relative_error(value, results[2][name]) <= TOL, name


# Finite differences ------------------------------------------------------------------
CONV_CASES = [
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=3, padding="same"),
    dict(kernel_size=2, padding="same"),  # odd total padding: asymmetric
    dict(kernel_size=(2, 3), strides=2, padding="same"),
    dict(kernel_size=(3, 2), strides=(3, 2), padding="valid"),
    dict(kernel_size=3, strides=3, padding="same"),
    dict(kernel_size=2, dilation_rate=2, padding="valid"),
    dict(kernel_size=2, dilation_rate=(2, 1), padding="same"),
    dict(kernel_size=2, strides=2, dilation_rate=2, padding="same"),  # torch allows it; Keras refuses
    dict(kernel_size=3, padding="same", use_bias=False),
    dict(kernel_size=1, padding="valid"),
]
POOL_CASES = [
    dict(pool_size=2),
    dict(pool_size=2, padding="same"),
    dict(pool_size=3, strides=2, padding="same"),
    dict(pool_size=(2, 3), strides=1, padding="valid"),
    dict(pool_size=2, strides=3, padding="same"),
]
LAYER_CASES = (
    [(f"conv {kw}", lambda kw=kw: Conv2D(3, **kw), (5, 6, 2), False) for kw in CONV_CASES]
    + [(f"conv even {kw}", lambda kw=kw: Conv2D(2, **kw), (6, 4, 3), False) for kw in CONV_CASES[:6]]
    + [(f"max_pool {kw}", lambda kw=kw: MaxPool2D(**kw), (5, 6, 2), False) for kw in POOL_CASES]
    + [(f"avg_pool {kw}", lambda kw=kw: AvgPool2D(**kw), (5, 6, 2), False) for kw in POOL_CASES]
    + [(f"max_pool even {kw}", lambda kw=kw: MaxPool2D(**kw), (6, 4, 2), False) for kw in POOL_CASES[:3]]
    + [(f"avg_pool even {kw}", lambda kw=kw: AvgPool2D(**kw), (6, 4, 2), False) for kw in POOL_CASES[:3]]
    + [("flatten", Flatten, (3, 2, 2), False)]
    + [("batchnorm training", BatchNorm, (3, 4, 3), True), ("batchnorm inference", BatchNorm, (3, 4, 3), False)]
    + [("batchnorm axis 1 training", lambda: BatchNorm(axis=1), (3, 4, 2), True)]
)


def assert_all_passed(results, name):
    failures = [f"{r.name} (max_rel_err {r.max_rel_err:.2e})" for r in results if not r.passed]
    assert not failures, f"{name}: finite differences disagree for {failures}"


@pytest.mark.parametrize("name, make, input_shape, training", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_layer_gradients(name, make, input_shape, training):
    rng = rng_for(name)
    layer = built(make(), input_shape, rng)
    layer.training = training
    X = rng.standard_normal((2, *input_shape))
    assert_all_passed(check_gradients(layer, X, rng), name)


@pytest.mark.parametrize(
    "name, make, training",
    [
        ("cnn", lambda: cnn((8, 7, 2), filters=(3, 4), num_classes=3), False),
        ("cnn valid", lambda: cnn((12, 13, 1), filters=(2, 3), num_classes=2, padding="valid"), False),
        ("cnn_bn training", lambda: cnn_bn((8, 7, 2), filters=(3, 4), num_classes=3), True),
        ("cnn_bn inference", lambda: cnn_bn((8, 7, 2), filters=(3, 4), num_classes=3), False),
    ],
)
def test_model_gradients(name, make, training):
    rng = rng_for(name)
    model = make()
    model.init(rng)
    for layer in model.layers:
        randomise(layer, rng)
    model.train(training)
    X = rng.standard_normal((2, *model.input_shape))
    assert_all_passed(check_gradients(model, X, rng), name)


# Contracts -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, make, input_shape, training", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_float32_stays_float32(name, make, input_shape, training):
    rng = rng_for(name)
    layer = built(make(), input_shape, rng, np.float32)
    layer.training = training
    X = rng.standard_normal((2, *input_shape), dtype=np.float32)
    Z = layer.forward(X)
    dX = layer.backward(rng.standard_normal(Z.shape, dtype=np.float32))
    arrays = {"Z": Z, "dX": dX, **layer.params, **layer.state, **{f"d{k}": v for k, v in layer.grads.items()}}
    assert {k: str(v.dtype) for k, v in arrays.items()} == {k: "float32" for k in arrays}


@pytest.mark.parametrize("name, make, input_shape, training", LAYER_CASES, ids=[c[0] for c in LAYER_CASES])
def test_backward_twice_on_one_forward(name, make, input_shape, training):
    """The harness backpropagates two cotangents through one forward pass."""
    rng = rng_for(name)
    layer = built(make(), input_shape, rng)
    layer.training = training
    Z = layer.forward(rng.standard_normal((2, *input_shape)))
    G1, G2 = rng.standard_normal(Z.shape), rng.standard_normal(Z.shape)
    first = [layer.backward(G1).copy(), *(g.copy() for g in layer.grads.values())]
    layer.backward(G2)
    again = [layer.backward(G1), *layer.grads.values()]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_model_layer_names_and_shapes():
    model = cnn_bn((8, 7, 2), filters=(3, 4), num_classes=3)
    assert [layer.name for layer in model.layers][:5] == [
        "conv2d_0",
        "batch_norm_0",
        "relu_0",
        "max_pool2d_0",
        "conv2d_1",
    ]
    assert model.layers[-2].name == "flatten_0" and model.layers[-1].name == "dense_0"
    model.init(rng_for("names"))
    assert model.forward(np.zeros((5, 8, 7, 2))).shape == (5, 3) == (5, *model.output_shape)
    assert "conv2d_0.b" not in model.parameters()  # BN follows: no conv bias
    assert set(model.states()) == {f"batch_norm_{i}.{k}" for i in (0, 1) for k in ("moving_mean", "moving_var")}


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2D(0, 3), "filters must be a positive integer, received 0"),
        (lambda: Conv2D(4, (3, 0)), "kernel_size must be a positive int or a pair of positive ints, received (3, 0)"),
        (lambda: Conv2D(4, 3, strides=1.5), "strides must be a positive int or a pair of positive ints, received 1.5"),
        (lambda: Conv2D(4, 3, padding="full"), "padding must be 'valid' or 'same', received 'full'"),
        (lambda: Conv2D(4, 3, dilation_rate=(1, 2, 3)), "dilation_rate must be"),
        (lambda: MaxPool2D(0), "pool_size must be"),
        (lambda: AvgPool2D(2, padding="causal"), "padding must be 'valid' or 'same', received 'causal'"),
        (lambda: BatchNorm(momentum=1.5), "momentum must be in [0, 1], received 1.5"),
        (lambda: BatchNorm(epsilon=0), "epsilon must be a positive number, received 0"),
    ],
)
def test_constructor_errors_name_the_layer_and_value(make, message):
    with pytest.raises(ValueError) as info:
        make()
    assert message in str(info.value)
    assert info.value.args[0].split(":")[0].split()[0] in {"Conv2D", "MaxPool2D", "AvgPool2D", "BatchNorm"}


def test_build_rejects_input_smaller_than_dilated_kernel():
    with pytest.raises(ValueError, match=r"input 4x9 is smaller than the dilated kernel 5x5"):
        Conv2D(2, 3, dilation_rate=2).build((4, 9, 1))
    Conv2D(2, 3, dilation_rate=2, padding="same").build((4, 9, 1))  # same padding always fits
    with pytest.raises(ValueError, match="smaller than the pool 3x3"):
        MaxPool2D(3).build((2, 5, 1))
    with pytest.raises(ValueError, match="axis 0 is not a feature axis"):
        BatchNorm(axis=0).build((3, 4, 2))
