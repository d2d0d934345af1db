"""Cropping2D: by hand, by finite differences, through the harness on random croppings, through both
importers (the Cropping2d module, F.pad with negative sizes, slices of H and W), and a failing check."""

from __future__ import annotations

import numpy as np
import pytest
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.conv import Cropping2d
from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request, with_config
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from scratch.cropping import Cropping2D
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=4, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_cropping_by_hand():
    layer = Cropping2D(((1, 0), (0, 1)))
    X = np.arange(6.0).reshape(1, 2, 3, 1)  # [[0, 1, 2], [3, 4, 5]]
    Z = layer.forward(X)
    assert Z[0, :, :, 0].tolist() == [[3.0, 4.0]]
    assert layer.output_shape((2, 3, 1)) == Z.shape[1:]
    dX = layer.backward(np.array([[[[7.0], [8.0]]]]))
    assert dX[0, :, :, 0].tolist() == [[0, 0, 0], [7, 8, 0]]  # the entries Z kept


def test_cropping_gradient_by_finite_differences(rng):
    layer = Cropping2D(((2, 1), (0, 3)))
    results = check_gradients(layer, rng.standard_normal((2, 5, 6, 2)), rng)
    assert results and all(r.passed for r in results), results


def test_bad_cropping_is_refused():
    with pytest.raises(ValueError, match="integers >= 0"):
        Cropping2D(((1, -1), (0, 0)))
    with pytest.raises(ValueError, match="leaves nothing of a 3x4 input"):
        Cropping2D(((2, 1), (0, 0))).build((3, 4, 2))


@pytest.mark.parametrize("dtype", DTYPES)
def test_cropping_case_on_every_implementation(dtype):
    records = check_case("cropping2d", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@st.composite
def cropping_configs(draw):
    H, W = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    top = draw(st.integers(0, H - 1))
    left = draw(st.integers(0, W - 1))
    return {
        "cropping": [[top, draw(st.integers(0, H - 1 - top))], [left, draw(st.integers(0, W - 1 - left))]],
        "input_shape": [H, W, draw(st.integers(1, 3))],
        "batch": draw(st.integers(1, 3)),
    }


@SETTINGS
@given(config=cropping_configs(), seed=st.integers(0, 2**16))
def test_random_cropping(config, seed):
    records = check_case("cropping2d", config, FRAMEWORK_IMPLS, DTYPES, seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= 1e-12 for r in records if r.dtype == "float64"), failures(records)


def test_a_crop_on_the_wrong_sides_is_caught():
    """The same total cropping on the opposite sides keeps the shape and is caught."""
    case = get_case("cropping2d")
    request = make_request(case, case.configure(), "float64", 0)
    swapped = with_config(case, request, case.configure({"cropping": [[0, 1], [1, 2]]}))
    failed = {
        r.quantity for r in compare_runs("cropping2d", "float64", run("scratch", request), run("torch", swapped)) if not r.passed
    }
    assert {"output", "grad:input"} <= failed


class Padded(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return self.conv(F.pad(x, (-2, -1, -1, 0)))  # F.pad: (left, right, top, bottom), negative crops


class Sliced(Padded):
    def forward(self, x):
        return self.conv(x[:, :, 1:, 2:-1])


def test_torch_importers_read_the_module_negative_pads_and_slices():
    spec = import_torch(nn.Sequential(Cropping2d(((1, 0), (2, 1))), nn.Conv2d(3, 4, 1)), (3, 5, 6))
    assert spec.nodes[0].kind == "cropping2d" and spec.nodes[0].config == {"cropping": [[1, 0], [2, 1]]}
    spec = import_torch(Padded(), (3, 5, 6))
    assert [n.kind for n in spec.nodes] == ["cropping2d", "conv2d"]
    assert spec.nodes[0].config == {"cropping": [[1, 0], [2, 1]]}
    spec = import_torch(Sliced(), (3, 5, 6))  # one node per sliced axis: rows, then columns
    assert [n.kind for n in spec.nodes] == ["cropping2d", "cropping2d", "conv2d"]
    assert [n.config["cropping"] for n in spec.nodes[:2]] == [[[1, 0], [0, 0]], [[0, 0], [2, 1]]]


def test_padding_and_cropping_mixed_is_refused_in_one_line():
    class Mixed(nn.Module):
        def forward(self, x):
            return F.pad(x, (1, -1, 0, 0))

    with pytest.raises(SpecError) as error:
        import_torch(Mixed(), (3, 5, 5))
    assert len(str(error.value).splitlines()) == 1 and "mixes padding and cropping" in str(error.value)


def test_keras_importer_reads_the_layer():
    from parity.runners.pool import keras_worker

    call = ("framework.keras3.models.conv_layers:cropping2d", {"input_shape": (5, 6, 3), "cropping": ((1, 0), (2, 1))})
    (spec,) = keras_worker("torch").call("parity.sources:specs_of_builders", [call])
    assert spec.nodes[0].kind == "cropping2d" and spec.nodes[0].config == {"cropping": [[1, 0], [2, 1]]}
