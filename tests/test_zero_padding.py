"""ZeroPadding2D: the kind added after the move onto the registry (one entry, its scratch, torch
and Keras code). By hand, by finite differences, through both importers, and through the harness."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from torch import nn

from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.padding import ZeroPadding2D
from tests.conftest import FRAMEWORK_IMPLS, failures


def test_zero_padding_by_hand():
    layer = ZeroPadding2D(((1, 0), (0, 2)))
    X = np.arange(4.0).reshape(1, 2, 2, 1)  # [[0, 1], [2, 3]]
    Z = layer.forward(X)
    assert Z[0, :, :, 0].tolist() == [[0, 0, 0, 0], [0, 1, 0, 0], [2, 3, 0, 0]]
    assert layer.output_shape((2, 2, 1)) == Z.shape[1:]
    dZ = np.arange(12.0).reshape(1, 3, 4, 1)
    assert layer.backward(dZ)[0, :, :, 0].tolist() == [[4, 5], [8, 9]]  # the entries X filled


def test_zero_padding_gradient_by_finite_differences(rng):
    layer = ZeroPadding2D(((2, 1), (0, 3)))
    results = check_gradients(layer, rng.standard_normal((2, 3, 4, 2)), rng)
    assert all(r.passed for r in results), results


def test_bad_padding_is_refused():
    with pytest.raises(ValueError, match="integers >= 0"):
        ZeroPadding2D(((1, -1), (0, 0)))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_zero_padding_case_on_every_implementation(dtype):
    records = check_case("zero_padding2d", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


def test_a_wrong_padding_on_one_side_is_caught():
    """The same total padding on the wrong sides (nn.ZeroPad2d's (left, right, top, bottom) read as
    (top, bottom, left, right)) keeps the shape and is caught."""
    case = get_case("zero_padding2d")
    config = case.configure({"padding": [[1, 2], [1, 2]]})
    request = make_request(case, config, "float64", 0)
    swapped = with_config(case, request, case.configure({"padding": [[2, 1], [2, 1]]}))
    failed = {
        r.quantity
        for r in compare_runs("zero_padding2d", "float64", run("scratch", request), run("torch", swapped))
        if not r.passed
    }
    assert {"output", "grad:input"} <= failed


class Padded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x):
        return self.conv(F.pad(x, (1, 2, 0, 1)))  # F.pad: (left, right, top, bottom)


def test_torch_importers_read_module_and_functional_padding():
    spec = import_torch(nn.Sequential(nn.ZeroPad2d((2, 0, 1, 1)), nn.Conv2d(3, 4, 3)), (3, 5, 5))
    assert spec.nodes[0].kind == "zero_padding2d" and spec.nodes[0].config == {"padding": [[1, 1], [2, 0]]}
    spec = import_torch(Padded(), (3, 5, 5))
    assert [n.kind for n in spec.nodes] == ["zero_padding2d", "conv2d"]
    assert spec.nodes[0].config == {"padding": [[0, 1], [1, 2]]}


def test_reflection_padding_is_refused_in_one_line():
    class Reflect(nn.Module):
        def forward(self, x):
            return F.pad(x, (1, 1, 1, 1), mode="reflect")

    with pytest.raises(SpecError) as error:
        import_torch(Reflect(), (3, 5, 5))
    assert len(str(error.value).splitlines()) == 1
