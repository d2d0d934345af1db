"""Models written with raw tensor operations (parity/layers/tensor_ops.py): each operation by hand and
by finite differences, through the harness on every implementation, through the torch importer, and
a self-attention block written by hand imported, checked and ported to Keras in float64."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from examples.hand_attention_torch import HandAttention
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.reference import reference_request
from parity.spec.generate import build_scratch
from parity.spec.model import INPUT, ModelSpec, Node, SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import TRAJECTORY_FLOAT64_REL, tolerance
from scratch.tensor_ops import AddTable, MaskedFill, MatMul, Permute, Reshape, Scale, Slice
from tests.conftest import FRAMEWORK_IMPLS, failures

ROOT = Path(__file__).resolve().parents[1]
TOL = tolerance("float64")
KINDS = ["scale", "matmul", "reshape", "permute", "slice", "masked_fill", "add_table"]


# By hand ----------------------------------------------------------------------------------------


def test_scale_by_hand():
    X = np.array([[1.0, -2.0]])
    assert Scale(4.0, divide=True).forward(X).tolist() == [[0.25, -0.5]]
    assert Scale(4.0, divide=True).backward(np.array([[8.0, 4.0]])).tolist() == [[2.0, 1.0]]
    assert Scale(3.0).forward(X).tolist() == [[3.0, -6.0]]


def test_matmul_by_hand():
    layer = MatMul()
    A = np.array([[[1.0, 2.0], [3.0, 4.0]]])  # (1, 2, 2)
    B = np.array([[[0.0, 1.0], [1.0, 0.0]]])  # swaps columns
    assert layer.forward(A, B).tolist() == [[[2.0, 1.0], [4.0, 3.0]]]
    dA, dB = layer.backward(np.ones((1, 2, 2)))
    assert dA.tolist() == [[[1.0, 1.0], [1.0, 1.0]]]  # dZ @ B^T
    assert dB.tolist() == [[[4.0, 4.0], [6.0, 6.0]]]  # A^T @ dZ: column sums of A
    assert layer.output_shape([(3, 4, 5), (3, 5, 2)]) == (3, 4, 2)
    with pytest.raises(ValueError, match="cannot multiply"):
        layer.output_shape([(3, 4, 5), (2, 5, 2)])


def test_reshape_permute_slice_by_hand():
    X = np.arange(6.0).reshape(1, 2, 3)
    assert Reshape((3, 2)).forward(X)[0].tolist() == [[0, 1], [2, 3], [4, 5]]
    permute = Permute((2, 1))
    assert permute.forward(X)[0].tolist() == [[0, 3], [1, 4], [2, 5]]
    assert permute.backward(permute.forward(X)).tolist() == X.tolist()
    piece = Slice(1, 3)
    assert piece.forward(X)[0].tolist() == [[1, 2], [4, 5]]
    assert piece.backward(np.ones((1, 2, 2)))[0].tolist() == [[0, 1, 1], [0, 1, 1]]


def test_masked_fill_and_add_table_by_hand():
    layer = MaskedFill([[False, True], [False, False]], float("-inf"))
    Z = layer.forward(np.array([[[1.0, 2.0], [3.0, 4.0]]]))
    assert Z.tolist() == [[[1.0, float("-inf")], [3.0, 4.0]]]
    assert layer.backward(np.ones((1, 2, 2))).tolist() == [[[1.0, 0.0], [1.0, 1.0]]]
    table = AddTable((2,))
    table.params["W"] = np.array([10.0, 20.0])
    assert table.forward(np.array([[1.0, 2.0], [3.0, 4.0]])).tolist() == [[11.0, 22.0], [13.0, 24.0]]
    table.backward(np.array([[1.0, 2.0], [3.0, 4.0]]))
    assert table.grads["W"].tolist() == [4.0, 6.0]  # summed over the batch


# Finite differences ------------------------------------------------------------------------------


def _graph(kind: str, config: dict, shape, extra=()) -> object:
    nodes = (*extra, Node(kind, kind, config, (INPUT,) if not extra else (INPUT, extra[-1].name)))
    model = build_scratch(ModelSpec(kind, shape, nodes))
    model.init(np.random.default_rng(0))
    return model


FD = [
    ("scale", {"factor": 3.0, "divide": True}, (3, 4), ()),
    ("reshape", {"target_shape": [2, 6]}, (3, 4), ()),
    ("permute", {"dims": [3, 1, 2]}, (2, 3, 4), ()),
    ("slice", {"start": 1, "stop": 3}, (3, 4), ()),
    ("masked_fill", {"mask": np.triu(np.ones((3, 3), dtype=bool), 1).tolist(), "value": -5.0}, (2, 3, 3), ()),
    ("add_table", {"shape": [3, 4]}, (3, 4), ()),
    ("matmul", {}, (2, 3, 4), (Node("t", "permute", {"dims": [1, 3, 2]}),)),
]


@pytest.mark.parametrize(("kind", "config", "shape", "extra"), FD, ids=[f[0] for f in FD])
def test_gradients_by_finite_differences(kind, config, shape, extra, rng):
    model = _graph(kind, config, shape, extra)
    results = check_gradients(model, rng.standard_normal((2, *shape)), rng)
    assert results and all(r.passed for r in results), results


def test_minus_infinity_then_softmax_has_exact_gradients(rng):
    """-inf filled entries get weight 0 and gradient 0: finite differences agree on every other entry."""
    spec = get_case("masked_fill").spec(get_case("masked_fill").configure({}))
    model = build_scratch(spec)
    results = check_gradients(model, rng.standard_normal((2, *spec.input_shape)), rng)
    assert all(r.passed for r in results), results


# The harness, on every implementation ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kind", KINDS)
def test_case_on_every_implementation(kind, dtype):
    records = check_case(kind, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    T=st.integers(1, 4),
    H=st.integers(1, 3),
    D=st.integers(1, 3),
    divide=st.booleans(),
    factor=st.floats(0.25, 4.0),
)
def test_random_configurations_agree(T, H, D, divide, factor):
    """Drawn sizes through reshape, permute, slice, scale and masked_fill on every implementation, float64."""
    F = H * D
    configs = [
        ("reshape", {"input_shape": [T, F], "target_shape": [T, H, D]}),
        ("permute", {"input_shape": [T, H, D], "dims": [2, 1, 3]}),
        ("slice", {"input_shape": [T, F + 2], "start": 1, "stop": F + 1}),
        ("scale", {"input_shape": [T, F], "factor": factor, "divide": divide}),
        ("masked_fill", {"input_shape": [H, T + 1, T + 1]}),
        ("matmul", {"input_shape": [H, T, D]}),
        ("add_table", {"input_shape": [T, F], "batch_axis": divide}),
    ]
    for kind, config in configs:
        records = check_case(kind, config, impls=FRAMEWORK_IMPLS, dtypes=["float64"])
        assert records and all(r.passed for r in records), failures(records)
        assert max(r.max_rel_err for r in records) <= 1e-12


@pytest.mark.parametrize(
    ("kind", "right", "wrong"),
    [
        ("scale", {"factor": 2.0, "divide": True}, {"factor": 2.0, "divide": False}),  # x * 2 for x / 2
        ("permute", {"input_shape": [3, 3, 3], "dims": [2, 1, 3]}, {"input_shape": [3, 3, 3], "dims": [1, 3, 2]}),
        ("slice", {"start": 3, "stop": 6}, {"start": 2, "stop": 5}),
        ("masked_fill", {"diagonal": 1}, {"diagonal": 2}),
    ],
)
def test_a_wrong_operation_is_caught(kind, right, wrong):
    case = get_case(kind)
    config = case.configure(right)
    request = make_request(case, config, "float64", 0)
    changed = with_config(case, request, case.configure(wrong))
    failed = {r.quantity for r in compare_runs(kind, "float64", run("scratch", request), run("torch", changed)) if not r.passed}
    assert "output" in failed


def test_a_table_stored_without_its_batch_axis_is_caught():
    """Rule table_batch_axis forgotten: the (T, E) table does not fit torch's (1, T, E) parameter, in one line."""
    from dataclasses import replace

    from parity.convert.base import ConversionError

    case = get_case("add_table")
    request = replace(make_request(case, case.configure({}), "float64", 0), disabled_rules=("table_batch_axis",))
    with pytest.raises(ConversionError, match=r"parameter 'weight': expected shape \(1, 4, 6\), received \(4, 6\)"):
        run("torch", request)


def test_bad_case_configurations_are_one_line():
    from parity.case import CaseError

    for kind, config, message in [
        ("reshape", {"target_shape": [5, 5]}, "holds 25 numbers"),
        ("permute", {"dims": [1, 1, 2]}, "permutation"),
        ("slice", {"start": 4, "stop": 2}, "start < stop"),
        ("scale", {"factor": 0.0, "divide": True}, "factor 0"),
    ]:
        case = get_case(kind)
        with pytest.raises(CaseError, match=message) as error:
            case.validate(case.configure(config))
        assert len(str(error.value).splitlines()) == 1 and repr(kind) in str(error.value)


# The importer ------------------------------------------------------------------------------------


class RawOps(nn.Module):
    """Every spelling the importer reads: x / c, a where-mask, split, slicing, permute, bmm."""

    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(4, 6))  # no leading batch axis
        self.register_buffer("keep", torch.ones(4, 4, dtype=torch.bool).tril())

    def forward(self, x):
        x = x + self.table
        a, b = x.split(3, dim=-1)  # (B, 4, 3) each
        s = torch.bmm(a, b.permute(0, 2, 1)) / 3.0**0.5  # (B, 4, 4)
        s = torch.where(self.keep, s, float("-inf")).softmax(-1)
        return (s @ x[..., 1:5]).reshape(x.size(0), -1)


def test_the_importer_reads_each_spelling():
    spec = import_torch(RawOps().double(), (4, 6))
    kinds = [(n.kind, n.config) for n in spec.nodes]
    assert kinds[0] == ("add_table", {"shape": [4, 6], "batch_axis": False}) and spec.nodes[0].name == "table"
    assert ("slice", {"start": 3, "stop": 6}) in kinds and ("slice", {"start": 1, "stop": 5}) in kinds
    assert ("scale", {"factor": 3.0**0.5, "divide": True}) in kinds
    fill = next(c for k, c in kinds if k == "masked_fill")
    assert fill["mask"] == np.triu(np.ones((4, 4), dtype=bool), 1).tolist() and fill["value"] == float("-inf")
    assert [k for k, _ in kinds].count("matmul") == 2 and kinds[-1][0] == "flatten"


def test_the_importer_reads_the_generated_modules():
    from parity.spec.generate import build_torch

    spec = get_case("masked_fill").spec(get_case("masked_fill").configure({}))
    again = import_torch(build_torch(spec).double(), (2, 4, 4))
    assert [(n.kind, n.config) for n in again.nodes] == [(n.kind, n.config) for n in spec.nodes]


class Unsupported(nn.Module):
    def forward(self, x):
        return torch.cumsum(x, dim=1)


class ScaledByParameter(nn.Module):
    """``x * self.gain`` with gain (C,) is ConvNeXt's layer scale (kind ``layer_scale``); dividing by a
    parameter is no registered kind."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(6))

    def forward(self, x):
        return x / self.gain


class ScaledByMatrix(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(4, 6))

    def forward(self, x):
        return x * self.gain


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Unsupported(), "unsupported torch operator aten.cumsum.default"),
        (ScaledByParameter(), "reads a parameter or constant tensor outside a registered module"),
        (ScaledByMatrix(), r"parameter 'gain' of shape \(4, 6\) multiplied with inputs \(B, 4, 6\)"),
    ],
)
def test_an_unsupported_raw_op_is_one_line(model, message):
    with pytest.raises(SpecError, match=message) as error:
        import_torch(model.double(), (4, 6))
    assert len(str(error.value).splitlines()) == 1


# The target: self-attention written by hand --------------------------------------------------------


def test_hand_attention_imports_and_agrees_on_every_implementation(rng):
    """The imported spec, with the model's own weights, on scratch and every framework: outputs and every
    gradient as the original nn.Module computes them, float64 to 1e-10."""
    from parity.runners.base import RunRequest
    from parity.sources import original_run

    model = HandAttention().double()
    spec = import_torch(model, (6, 8))
    kinds = {n.kind for n in spec.nodes}
    assert set(KINDS) <= kinds and "multi_head_attention" not in kinds
    X = rng.standard_normal((2, 6, 8))
    G = rng.standard_normal((2, 3))
    original = original_run(model, spec, X, G)
    request = RunRequest("HandAttention", {"batch": 2}, "float64", original["weights"], X, G, G, spec=spec, loss="mean_squared_error")
    scratch = run("scratch", request)
    worst = 0.0
    for name, mine in [("output", scratch.output), *((f"grad:{k}", v) for k, v in scratch.grads.items())]:
        theirs = original["output"] if name == "output" else original["grads"][name[5:]]
        error = np.abs(mine - theirs).max() / max(np.abs(theirs).max(), 1e-300)
        worst = max(worst, error)
        assert error <= TOL, (name, error)
    assert set(original["grads"]) == set(scratch.grads)
    for impl in FRAMEWORK_IMPLS:
        # the MLP's GELU on keras-tensorflow: scratch with tf.nn.gelu's float32 constants (tf_gelu_float64_constants)
        reference = run("scratch", reference_request(impl, request))
        records = compare_runs("HandAttention", "float64", reference, run(impl, request), TOL)
        assert records and all(r.passed for r in records), (impl, failures(records))


def test_hand_attention_ports_to_keras(tmp_path):
    from parity.porting import port

    result = port(f"{ROOT}/examples/hand_attention_torch.py:HandAttention", "keras", tmp_path / "port", input_shape=(6, 8))
    assert result.agree
    assert [c.dtype for c in result.comparisons] == ["float64", "float32"]
    table = result.comparisons[0].records  # float64: one row per quantity, then five training steps
    static, trained = table[table["step"].isna()], table[table["step"].notna()]
    quantities = set(static["quantity"])
    assert {"output", "grad:input", "grad:pos.W", "grad:qkv.W", "weight:pos.W"} <= quantities
    assert static["max_rel_err"].max() <= TOL
    assert set(trained["step"]) == {1, 2, 3, 4, 5} and "weight:pos.W" in set(trained["quantity"])
    assert trained["max_rel_err"].max() <= TRAJECTORY_FLOAT64_REL
    # model.py runs on its own in a fresh process: built, loaded, saved as .keras and loaded back
    script = (
        "import sys, numpy as np, keras; sys.path.insert(0, sys.argv[1]); import model; "
        "m = model.build_with_weights(); x = np.zeros((2, 6, 8)); y = m.predict(x, verbose=0); "
        "m.save(sys.argv[1] + '/again.keras'); "
        "import framework.keras3.tensor_ops; n = keras.saving.load_model(sys.argv[1] + '/again.keras'); "
        "print(float(np.abs(n.predict(x, verbose=0) - y).max()))"
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "port")], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout.strip().splitlines()[-1]) == 0.0
    json.loads((tmp_path / "port" / "parity.json").read_text())


def test_equal_infinities_are_no_error_and_unequal_ones_are():
    """Scores masked with -inf compare equal where both are -inf (inf - inf is NaN, read as a disagreement)."""
    from parity.agreement.records import compare_arrays
    from parity.tolerance import relative_error

    inf = float("-inf")
    a = np.array([[1.0, inf], [2.0, 4.0]])
    assert relative_error(a, a.copy()) == 0.0
    assert compare_arrays("m", "a", "b", "float64", "output", a, a.copy()).passed
    assert relative_error(a, np.array([[1.0, inf], [2.0, 4.0 + 4e-9]])) == pytest.approx(1e-9)
    assert relative_error(a, np.array([[inf, 1.0], [2.0, 4.0]])) == float("inf")
    assert not compare_arrays("m", "a", "b", "float64", "output", a, np.array([[inf, 1.0], [2.0, 4.0]])).passed
