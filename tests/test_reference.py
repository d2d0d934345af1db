"""The scratch reference each implementation is judged against (parity.runners.reference).

keras-tensorflow computes float64 GELU with float32-rounded constants (divergence
tf_gelu_float64_constants), torch and keras-torch the float64 hardsigmoid gradient with 1/6 rounded
to float32 (divergence torch_hardsigmoid_float64_grad); each is judged against scratch with those
constants at the policy's 1e-10, and that reference still catches a constant that is wrong by one
float32 ulp.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.runners import reference as reference_module
from parity.runners import run
from parity.runners.reference import CONSTANTS, reference_constants, reference_request, use_constants
from parity.spec.generate import build_scratch
from parity.tolerance import tolerance
from scratch.activations import GELU, HardSigmoid
from tests.conftest import failures

TF = "keras-tensorflow"


def test_only_float64_on_tensorflow_and_torch_has_its_own_constants():
    assert reference_constants(TF, "float64") == "tensorflow"
    assert reference_constants("torch", "float64") == reference_constants("keras-torch", "float64") == "torch"
    impls = ("scratch", "torch", "keras-torch", "keras-jax", TF)
    assert {reference_constants(impl, "float32") for impl in impls} == {""}  # float32 constants are everyone's
    assert {reference_constants(impl, "float64") for impl in ("scratch", "keras-jax")} == {""}
    gelu = CONSTANTS["tensorflow"]["GELU"]
    assert gelu["inv_sqrt2"] == float(np.float32(1 / math.sqrt(2))) != 1 / math.sqrt(2)
    assert gelu["coeff"] == float(np.float32(0.044715)) != 0.044715
    assert CONSTANTS["torch"] == {"HardSigmoid": {"backward_slope": float(np.float32(1 / 6))}}
    assert float(np.float32(1 / 6)) == 0.1666666716337204 != 1 / 6


def test_a_request_is_changed_only_where_a_layer_has_such_a_constant():
    case = get_case("gelu")
    request = make_request(case, case.configure(), "float64", 0)
    own = reference_request(TF, request)
    assert own.constants == "tensorflow" and own is not request
    assert reference_request("torch", request) is request
    assert reference_request(TF, make_request(case, case.configure(), "float32", 0)).constants == ""
    relu = get_case("relu")
    plain = make_request(relu, relu.configure(), "float64", 0)
    assert reference_request(TF, plain) is plain  # no GELU: the exact reference serves
    assert reference_request("torch", plain) is plain  # no hardsigmoid either
    hard = get_case("hard_sigmoid")
    hard_request = make_request(hard, hard.configure(), "float64", 0)
    assert reference_request("torch", hard_request).constants == "torch"
    assert reference_request("keras-torch", hard_request).constants == "torch"
    assert reference_request(TF, hard_request) is hard_request
    swish = get_case("hard_swish")  # torch's hardswish_backward has no rounded constant: the exact reference serves
    swish_request = make_request(swish, swish.configure(), "float64", 0)
    assert reference_request("torch", swish_request) is swish_request


def test_constants_reach_a_gelu_inside_a_block():
    case = get_case("convnext_block")
    model = build_scratch(case.model_spec(case.configure()))
    assert use_constants(model, "tensorflow") >= 2  # the block's GELU, both of its constants
    inner = [layer for layer in reference_module._layers(model, set()) if isinstance(layer, GELU)]
    assert inner and all(layer.inv_sqrt2 == CONSTANTS["tensorflow"]["GELU"]["inv_sqrt2"] for layer in inner)


@pytest.mark.parametrize("approximate", [False, True], ids=["exact", "tanh"])
def test_keras_tensorflow_float64_gelu_agrees_with_its_reference_and_not_with_the_exact_one(approximate):
    case = get_case("gelu")
    config = case.configure({"approximate": approximate})
    records = check_case("gelu", {"approximate": approximate}, [TF], ["float64"])
    assert records and all(r.passed for r in records), failures(records)
    assert max(r.max_rel_err for r in records) <= tolerance("float64")
    request = make_request(case, config, "float64", 0)
    exact = compare_runs("gelu", "float64", run("scratch", request), run(TF, request), tolerance("float64"))
    assert any(r.passed is False for r in exact), "the exact constants should be caught (1.7e-8 / 3.5e-8)"


@pytest.mark.parametrize(
    "approximate, constant, value",
    [
        (False, "inv_sqrt2", 1 / math.sqrt(2)),  # the exact constant: what the reference was before
        (False, "inv_sqrt2", float(np.nextafter(np.float32(1 / math.sqrt(2)), np.float32(1)))),  # one float32 ulp off
        (True, "coeff", 0.044715),
        (True, "coeff", float(np.nextafter(np.float32(0.044715), np.float32(1)))),
    ],
    ids=["exact-form-exact-constant", "exact-form-one-ulp-off", "tanh-form-exact-constant", "tanh-form-one-ulp-off"],
)
def test_a_wrong_constant_in_the_reference_is_caught(monkeypatch, approximate, constant, value):
    monkeypatch.setitem(CONSTANTS["tensorflow"], "GELU", {**CONSTANTS["tensorflow"]["GELU"], constant: value})
    records = check_case("gelu", {"approximate": approximate}, [TF], ["float64"])
    assert any(r.passed is False for r in records), "a GELU constant off by >= 1e-8 must fail at 1e-10"


# torch: the hardsigmoid backward constant (divergence torch_hardsigmoid_float64_grad)
TORCH_IMPLS = ["torch", "keras-torch"]


@pytest.mark.parametrize("impl", TORCH_IMPLS)
def test_torch_float64_hard_sigmoid_agrees_with_its_reference_and_not_with_the_exact_one(impl):
    case = get_case("hard_sigmoid")
    records = check_case("hard_sigmoid", {}, [impl], ["float64"])
    assert records and all(r.passed for r in records), failures(records)
    assert max(r.max_rel_err for r in records) <= tolerance("float64")
    request = make_request(case, case.configure(), "float64", 0)
    exact = compare_runs("hard_sigmoid", "float64", run("scratch", request), run(impl, request), tolerance("float64"))
    assert any(r.passed is False for r in exact), "the exact 1/6 should be caught (2.98e-8)"
    assert all(r.passed for r in exact if r.quantity == "output"), "the forward pass divides by 6 exactly"


@pytest.mark.parametrize(
    "value",
    [
        1 / 6,
        float(np.nextafter(np.float32(1 / 6), np.float32(1))),
        float(np.nextafter(np.float32(1 / 6), np.float32(0))),
    ],
    ids=["exact-constant", "one-ulp-above", "one-ulp-below"],
)
def test_a_wrong_hard_sigmoid_constant_in_the_reference_is_caught(monkeypatch, value):
    monkeypatch.setitem(CONSTANTS["torch"], "HardSigmoid", {"backward_slope": value})
    records = check_case("hard_sigmoid", {}, ["torch"], ["float64"])
    assert any(r.passed is False for r in records), "a hardsigmoid constant off by >= 1e-8 must fail at 1e-10"


def test_constants_reach_every_hard_sigmoid_of_a_model():
    case = get_case("mlp")
    model = build_scratch(case.model_spec(case.configure({"units": [3, 2], "activation": "hard_sigmoid"})))
    assert use_constants(model, "torch") == 2
    inner = [layer for layer in reference_module._layers(model, set()) if isinstance(layer, HardSigmoid)]
    assert len(inner) == 2 and all(layer.backward_slope == float(np.float32(1 / 6)) for layer in inner)
