"""Conv2DTranspose: by hand, by finite differences, the adjoint of Conv2D, through the harness on random
configurations, through the importers, and each of its rules switched off."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.conv import ConvTranspose2d
from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.gradcheck import check_gradients
from parity.layers import CHANNELS_FIRST, REGISTRY
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import tolerance
from scratch.conv2d import Conv2D
from scratch.conv2d_transpose import Conv2DTranspose, transpose_length
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
F64 = tolerance("float64")


def layer_with(W: np.ndarray, b: np.ndarray | None, shape, **kwargs) -> Conv2DTranspose:
    kh, kw, C_out, C_in = W.shape
    layer = Conv2DTranspose(C_out, (kh, kw), use_bias=b is not None, **kwargs)
    layer.build(shape)
    layer.params = {"W": W} if b is None else {"W": W, "b": b}
    return layer


def test_stride_2_valid_by_hand():
    """k = s = 2: every pixel becomes a 2 x 2 block X[i, j] * W, blocks side by side."""
    W = np.array([[1.0, 10.0], [100.0, 1000.0]]).reshape(2, 2, 1, 1)
    layer = layer_with(W, np.array([0.5]), (2, 2, 1), strides=2)
    X = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    Z = layer.forward(X)
    assert Z[0, :, :, 0].tolist() == [
        [1.5, 10.5, 2.5, 20.5],
        [100.5, 1000.5, 200.5, 2000.5],
        [3.5, 30.5, 4.5, 40.5],
        [300.5, 3000.5, 400.5, 4000.5],
    ]
    dX = layer.backward(np.ones_like(Z))
    assert dX[0, :, :, 0].tolist() == [[1111.0, 1111.0], [1111.0, 1111.0]]  # each pixel reaches every tap once
    assert layer.grads["W"][:, :, 0, 0].tolist() == [[10.0, 10.0], [10.0, 10.0]]
    assert layer.grads["b"].tolist() == [16.0]


def test_same_cuts_the_odd_row_at_the_end_by_hand():
    """k = 3, s = 2 along the rows: full = [1, 10, 1*100 + 2*1, 20, 200]; 'same' keeps 2 * 2 = 4 rows,
    cutting total = 1 at the end (Keras). torch's padding=1, output_padding=1 cuts it at the start."""
    W = np.array([1.0, 10.0, 100.0]).reshape(3, 1, 1, 1)
    X = np.array([1.0, 2.0]).reshape(1, 2, 1, 1)
    same = layer_with(W, None, (2, 1, 1), strides=(2, 1), padding="same")
    assert same.forward(X)[0, :, 0, 0].tolist() == [1.0, 10.0, 102.0, 20.0]
    naive = F.conv_transpose2d(
        torch.tensor(X).permute(0, 3, 1, 2),
        torch.tensor(W.transpose(3, 2, 0, 1)),
        stride=(2, 1),
        padding=(1, 0),
        output_padding=(1, 0),
    )
    assert naive[0, 0, :, 0].tolist() == [10.0, 102.0, 20.0, 200.0]
    valid = layer_with(W, None, (2, 1, 1), strides=(2, 1), output_padding=(1, 0))
    assert valid.forward(X)[0, :, 0, 0].tolist() == [1.0, 10.0, 102.0, 20.0, 200.0, 0.0]  # a row of zeros appended


@pytest.mark.parametrize(
    "size, k, s, padding, output_padding, expected",
    [
        (4, 3, 2, "valid", None, (9, 0, 0)),
        (4, 1, 3, "valid", None, (12, 0, -2)),  # max(k, s) - k = 2 zero rows appended
        (4, 3, 2, "same", None, (8, 0, 1)),
        (4, 4, 2, "same", None, (8, 1, 1)),
        (4, 4, 1, "same", None, (4, 1, 2)),
        (4, 3, 3, "same", 2, (12, 0, 0)),
        (4, 1, 3, "same", 2, (12, 0, -2)),
        (4, 2, 2, "same", 1, (7, 0, 1)),
    ],
)
def test_output_length_by_hand(size, k, s, padding, output_padding, expected):
    assert transpose_length(size, k, s, padding, output_padding) == expected


def test_it_is_the_adjoint_of_conv2d():
    """<conv(Y, W), X> = <Y, conv_transpose(X, W)> for the same kernel, stride and 'same' padding."""
    rng = np.random.default_rng(3)
    W = rng.standard_normal((3, 3, 2, 4))  # Conv2D: (kh, kw, C_in=2, C_out=4); transpose: C_out=2, C_in=4
    conv = Conv2D(4, 3, strides=2, padding="same")
    conv.build((8, 6, 2))
    conv.params = {"W": W, "b": np.zeros(4)}
    Y = rng.standard_normal((2, 8, 6, 2))
    Z = conv.forward(Y)  # (2, 4, 3, 4)
    transpose = layer_with(W, None, Z.shape[1:], strides=2, padding="same")
    X = rng.standard_normal(Z.shape)
    T = transpose.forward(X)
    assert T.shape == Y.shape
    np.testing.assert_allclose(np.sum(Z * X), np.sum(Y * T), rtol=F64)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strides": 2, "padding": "valid"},
        {"strides": 2, "padding": "same"},
        {"strides": (3, 1), "padding": "same", "output_padding": (2, 0)},
        {"strides": 2, "padding": "valid", "output_padding": 1, "use_bias": False},
    ],
)
def test_gradients_by_finite_differences(kwargs, rng):
    layer = Conv2DTranspose(3, (3, 2), **kwargs)
    layer.build((3, 4, 2))
    layer.init(rng)
    if layer.use_bias:
        layer.params["b"] = rng.standard_normal(3)
    results = check_gradients(layer, rng.standard_normal((2, 3, 4, 2)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_configurations_are_refused_in_one_line():
    with pytest.raises(ValueError, match="output_padding must be None or ints 0 <= output_padding < strides"):
        Conv2DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError, match="padding must be 'valid' or 'same'"):
        Conv2DTranspose(2, 3, padding="full")
    case = get_case("conv2d_transpose")
    for overrides, message in [
        ({"output_padding": 2}, r"output_padding=2 must be smaller than strides=2"),
        ({"output_padding": [1, -1]}, "output_padding must be null, an integer >= 0 or a pair"),
        ({"input_shape": [4, 4]}, r"input_shape must be \[H, W, C\]"),
        ({"kernel_size": 2, "strides": 1, "output_padding": 0, "input_shape": [1, 3, 1]}, "gives an empty output"),
        ({"padding": "causal"}, "padding must be one of valid, same"),
    ]:
        with pytest.raises(CaseError, match=message) as error:
            case.configure(overrides)
        assert len(str(error.value).splitlines()) == 1 and "conv2d_transpose" in str(error.value)


# The harness: every implementation, random configurations ------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_case_on_every_implementation(dtype):
    records = check_case("conv2d_transpose", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def conv_transpose_configs(draw):
    strides = [draw(st.integers(1, 3)), draw(st.integers(1, 3))]
    padding = draw(st.sampled_from(["valid", "same"]))
    output_padding = draw(st.one_of(st.none(), st.tuples(st.integers(0, 2), st.integers(0, 2))))
    if output_padding is not None:
        output_padding = [min(o, s - 1) for o, s in zip(output_padding, strides, strict=True)]
    kernel = [draw(st.integers(1, 4)), draw(st.integers(1, 4))]
    shape = [draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 3))]
    if padding == "same" and output_padding is not None:
        assume(all((n - 1) * s + k % 2 + o > 0 for n, s, k, o in zip(shape, strides, kernel, output_padding)))
    return {
        "filters": draw(st.integers(1, 3)),
        "kernel_size": kernel,
        "strides": strides,
        "padding": padding,
        "output_padding": output_padding,
        "use_bias": draw(st.booleans()),
        "input_shape": shape,
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=conv_transpose_configs(), seed=st.integers(0, 2**16))
def test_random_conv2d_transpose(config, seed):
    records = check_case("conv2d_transpose", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize(
    "rule, config, quantity",
    [
        ("conv_transpose_kernel_layout", {"filters": 3, "input_shape": [4, 3, 2]}, "weight:conv2d_transpose_0.W"),
        ("conv_transpose_padding", {"kernel_size": 3, "strides": 2, "padding": "same"}, "output"),
    ],
)
def test_disabling_a_rule_fails_the_check(rule, config, quantity):
    case = get_case("conv2d_transpose")
    request = make_request(case, case.configure(config), "float64", 0)
    ok = compare_runs("conv2d_transpose", "float64", run("scratch", request), run("torch", request))
    assert ok and all(r.passed for r in ok)
    request.disabled_rules = (rule,)
    records = compare_runs("conv2d_transpose", "float64", run("scratch", request), run("torch", request))
    assert quantity in {r.quantity for r in records if not r.passed}


# Importers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, config",
    [
        (nn.ConvTranspose2d(2, 3, 3, stride=2), {"padding": "valid", "output_padding": None}),
        (nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1), {"padding": "same", "output_padding": None}),
        (nn.ConvTranspose2d(2, 3, 2, stride=3), {"padding": "valid", "output_padding": [0, 0]}),
        (nn.ConvTranspose2d(2, 3, 3, stride=1, padding=1, bias=False), {"padding": "same", "output_padding": None}),
        (ConvTranspose2d(2, 3, 3, stride=2, padding="same"), {"padding": "same", "output_padding": None}),
    ],
)
def test_torch_importer_reads_the_modules(module, config):
    spec = import_torch(nn.Sequential(module), (2, 4, 5))
    (node,) = spec.nodes
    assert node.kind == "conv2d_transpose" and spec.input_shape == (4, 5, 2)
    k, s = list(module.kernel_size), list(module.stride)
    assert node.config == {"filters": 3, "kernel_size": k, "strides": s, **config, "use_bias": module.bias is not None}


def test_torch_padding_with_no_keras_equivalent_is_refused_in_one_line():
    """padding=1, output_padding=1 with k = 3, stride 2 cuts the odd row at the start: no Keras padding does."""
    with pytest.raises(SpecError, match="is no Keras padding") as error:
        import_torch(nn.Sequential(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1, output_padding=1)), (2, 4, 4))
    assert len(str(error.value).splitlines()) == 1


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(2, 3, 4, 4))

    def forward(self, x):
        return F.conv_transpose2d(x, self.weight, None, stride=2, padding=1)


def test_the_functional_call_is_read_from_the_captured_graph():
    """F.conv_transpose2d is captured as aten.conv_transpose2d.input; its reader gives the module's config.
    The importer itself refuses a parameter outside a registered module, in one line."""
    program = torch.export.export(Functional(), (torch.randn(2, 2, 4, 5),), strict=False)
    (call,) = [n for n in program.graph.nodes if str(n.target) in REGISTRY["conv2d_transpose"].torch.ops]
    config = REGISTRY["conv2d_transpose"].torch.read_op(call.args, dict(call.kwargs), [(4, 5, 2)], CHANNELS_FIRST)
    assert config == {
        "filters": 3,
        "kernel_size": [4, 4],
        "strides": [2, 2],
        "padding": "same",
        "output_padding": None,
        "use_bias": False,
    }
    with pytest.raises(SpecError, match="reads a parameter or constant tensor outside a registered module") as error:
        import_torch(Functional(), (2, 4, 5))
    assert len(str(error.value).splitlines()) == 1


def test_keras_importer_reads_the_layer():
    from parity.runners.pool import keras_worker

    calls = [
        (
            "framework.keras3.models.conv_layers:conv2d_transpose",
            {"input_shape": (4, 3, 2), "filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"},
        ),
        (
            "framework.keras3.models.conv_layers:conv2d_transpose",
            {"input_shape": (4, 3, 2), "filters": 2, "kernel_size": (2, 3), "strides": 3, "output_padding": (1, 2)},
        ),
    ]
    same, valid = keras_worker("torch").call("parity.sources:specs_of_builders", calls)
    assert same.nodes[0].kind == "conv2d_transpose"
    assert same.nodes[0].config == {
        "filters": 3,
        "kernel_size": [3, 3],
        "strides": [2, 2],
        "padding": "same",
        "output_padding": None,
        "use_bias": True,
    }
    assert valid.nodes[0].config["output_padding"] == [1, 2] and valid.nodes[0].config["padding"] == "valid"
