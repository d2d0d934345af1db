"""The transformer encoder block: by hand, by finite differences, torch's fast path, through both importers,
through the harness on random configurations, each check failing, and its divergence caught naive and passing converted."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.models.transformer import transformer_encoder
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.convert.base import ConversionError
from parity.convert.transformer import TransformerEncoderConverter
from parity.divergences import get_divergence
from parity.divergences.base import Side, Variant, run_variant
from parity.gradcheck import check_gradients
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import EPS, tolerance
from scratch.transformer_encoder import TransformerEncoder
from tests.conftest import FRAMEWORK_IMPLS, failures

# Float64 agreement the block reaches (~1e-12): a few reductions of length E, T and F; a
# looser record would be a difference in the maths.
FLOAT64_WORST = 4096 * EPS["float64"]


def _block(norm_first=False, activation="relu", use_bias=True, E=6, h=2, F=5, seed=0) -> TransformerEncoder:
    block = TransformerEncoder(h, F, activation=activation, norm_first=norm_first, use_bias=use_bias, name="enc")
    block.build((4, E))
    rng = np.random.default_rng(seed)
    block.params = {k: rng.standard_normal(s) for k, s in block.weight_shapes().items()}
    return block


def _zero_branches(block: TransformerEncoder, bo: float, b2: float) -> None:
    """Both branches output a constant: no attention output kernel, no second feed-forward kernel."""
    block.params["Wo"][:] = 0.0
    block.params["W2"][:] = 0.0
    block.params["bo"][:] = bo
    block.params["b2"][:] = b2
    block.params["gamma1"][:] = block.params["gamma2"][:] = 1.0
    block.params["beta1"][:] = block.params["beta2"][:] = 0.0


def test_encoder_by_hand():
    """With constant branches, pre-norm is X + bo + b2 (two residual sums); post-norm normalises twice:
    x = (1, 3) -> (-1, 1) / sqrt(1 + eps) -> (-1, 1) / sqrt(1 + eps) / sqrt(1 / (1 + eps) + eps)."""
    eps = 1e-5
    X = np.array([[[1.0, 3.0]]])  # (B=1, T=1, E=2)
    pre = _block(norm_first=True, E=2, h=1)
    _zero_branches(pre, bo=0.5, b2=-2.0)
    np.testing.assert_allclose(pre.forward(X), X + 0.5 - 2.0, rtol=1e-15)
    post = _block(norm_first=False, E=2, h=1)
    _zero_branches(post, bo=0.0, b2=0.0)
    once = np.array([-1.0, 1.0]) / np.sqrt(1 + eps)
    twice = once / np.sqrt(1 / (1 + eps) + eps)
    np.testing.assert_allclose(post.forward(X)[0, 0], twice, rtol=1e-15)


@pytest.mark.parametrize(
    "norm_first,activation,use_bias",
    [(False, "relu", True), (True, "gelu", True), (False, "gelu", False), (True, "relu", False)],
)
def test_encoder_gradients_by_finite_differences(rng, norm_first, activation, use_bias):
    block = _block(norm_first, activation, use_bias)
    results = check_gradients(block, rng.standard_normal((2, 4, 6)), rng)
    assert all(r.passed for r in results), results
    assert sorted(block.grads) == sorted(block.params)


def test_scratch_refuses_dropout_in_training():
    block = TransformerEncoder(2, 5, dropout=0.1, name="enc")
    block.build((4, 6))
    block.init(np.random.default_rng(0))
    block.forward(np.zeros((1, 4, 6)))  # inference: dropout is the identity
    block.training = True
    with pytest.raises(ValueError, match="dropout=0.1 in training") as error:
        block.forward(np.zeros((1, 4, 6)))
    assert len(str(error.value).splitlines()) == 1


def test_torch_fast_path_computes_the_python_path():
    """In inference without gradients torch takes the fused torch._transformer_encoder_layer_fwd; the
    harness always asks for gradients, so it runs the Python path. Both compute the same block."""
    torch.manual_seed(0)
    for norm_first, activation in ((False, "relu"), (True, "gelu")):
        module = nn.TransformerEncoderLayer(
            8, 2, 16, activation=activation, norm_first=norm_first, batch_first=True
        ).double()
        module.eval()
        x = torch.randn(3, 5, 8, dtype=torch.float64)
        with torch.no_grad():
            fused = module(x)
        python_path = module(x)  # parameters require grad: the fast path is refused
        assert python_path.requires_grad
        torch.testing.assert_close(fused, python_path.detach(), rtol=tolerance("float64"), atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", ["transformer_encoder", "transformer_encoder_norm_first"])
def test_encoder_cases_on_every_implementation(name, dtype):
    records = check_case(name, {}, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@settings(
    max_examples=3,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],  # a failing block is reported as drawn: shrinking one takes many minutes
)
@given(
    num_heads=st.sampled_from([1, 2, 4]),
    # E >= 4: a layer norm over one feature outputs beta, over two it outputs about +-1 whatever the input,
    # and the gradients through it are eps-sized differences that float32 cannot resolve
    head_size=st.integers(4, 5),
    steps=st.integers(1, 5),
    dim_feedforward=st.integers(1, 9),
    activation=st.sampled_from(["relu", "gelu"]),
    norm_first=st.booleans(),
    use_bias=st.booleans(),
    layer_norm_eps=st.sampled_from([1e-5, 1e-3, 1e-6]),
    training=st.booleans(),
    batch=st.integers(1, 3),
    seed=st.integers(0, 2**16),
)
def test_random_encoders(
    num_heads,
    head_size,
    steps,
    dim_feedforward,
    activation,
    norm_first,
    use_bias,
    layer_norm_eps,
    training,
    batch,
    seed,
):
    config = {
        "num_heads": num_heads,
        "dim_feedforward": dim_feedforward,
        "activation": activation,
        "norm_first": norm_first,
        "use_bias": use_bias,
        "layer_norm_eps": layer_norm_eps,
        "training": training,
        "input_shape": [steps, num_heads * head_size],
        "batch": batch,
    }
    records = check_case("transformer_encoder", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    strict = [r for r in records if r.dtype == "float64" and r.tolerance == tolerance("float64")]
    assert strict and all(r.max_rel_err <= FLOAT64_WORST for r in strict), failures(strict)


def test_bad_configurations_are_refused_in_one_line():
    case = get_case("transformer_encoder")
    for config, message in (
        ({"num_heads": 3}, "divisible by num_heads=3"),
        ({"dim_feedforward": 0}, "dim_feedforward must be a positive integer"),
        ({"dropout": 1.0}, "dropout must be a rate"),
        ({"layer_norm_eps": -1.0}, "layer_norm_eps must be a positive number"),
        ({"activation": "tanh"}, "activation must be 'relu' or 'gelu'"),
        ({"norm_first": "yes"}, "norm_first must be true or false"),
        ({"input_shape": [8]}, "input_shape must be"),
    ):
        with pytest.raises(CaseError, match=message) as error:
            case.configure(config)
        assert len(str(error.value).splitlines()) == 1


def test_converter_names_layer_and_parameter_on_a_wrong_shape():
    block = _block()
    state = TransformerEncoderConverter().to_torch(block, block.params)
    state["linear1.weight"] = state["linear1.weight"].T  # (E, F) where torch has (F, E)
    with pytest.raises(ConversionError, match="layer 'enc.ff1', parameter 'weight': expected shape \\(5, 6\\)"):
        TransformerEncoderConverter().from_torch(block, state)


@pytest.mark.parametrize("use_bias", [True, False])
def test_converter_round_trips_through_torch_and_keras(use_bias):
    block = _block(use_bias=use_bias)
    converter = TransformerEncoderConverter()
    state = converter.to_torch(block, block.params)
    module = nn.TransformerEncoderLayer(6, 2, 5, bias=use_bias, batch_first=True).double()
    assert sorted(state) == sorted(module.state_dict())  # every torch array, named as torch names it
    for back in (
        converter.from_torch(block, state),
        converter.from_keras(block, converter.to_keras(block, block.params)),
    ):
        assert sorted(back) == sorted(block.params)
        for key, value in back.items():
            np.testing.assert_array_equal(value, block.params[key])


def test_torch_importer_reads_the_module_and_its_dropout():
    module = nn.TransformerEncoderLayer(
        6, 3, 10, dropout=0.25, activation="gelu", layer_norm_eps=1e-6, batch_first=True, norm_first=True
    )
    spec = import_torch(module, (4, 6))
    assert [n.kind for n in spec.nodes] == ["transformer_encoder"]
    assert spec.nodes[0].config == {
        "num_heads": 3,
        "dim_feedforward": 10,
        "dropout": 0.25,
        "activation": "gelu",
        "layer_norm_eps": 1e-6,
        "norm_first": True,
        "use_bias": True,
    }
    ported = import_torch(transformer_encoder((4, 6), 2, 8, use_bias=False), (4, 6))
    assert ported.nodes[0].config["use_bias"] is False


def test_torch_importer_refuses_what_the_kind_does_not_cover_in_one_line():
    for module, message in (
        (nn.TransformerEncoderLayer(6, 2, 8), "batch_first=False"),
        (nn.TransformerEncoderLayer(6, 2, 8, activation=nn.GELU(approximate="tanh"), batch_first=True), "activation"),
    ):
        with pytest.raises(SpecError, match=message) as error:
            import_torch(module, (4, 6))
        assert len(str(error.value).splitlines()) == 1


def test_keras_importer_reads_the_block():
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    kwargs = {
        "input_shape": (4, 6),
        "num_heads": 3,
        "dim_feedforward": 7,
        "dropout": 0.2,
        "activation": "gelu",
        "layer_norm_eps": 1e-3,
    }
    (spec,) = worker.call(
        "parity.sources:specs_of_builders", [("framework.keras3.models.transformer:transformer_encoder", kwargs)]
    )
    assert [n.kind for n in spec.nodes] == ["transformer_encoder"]
    assert spec.nodes[0].config == {
        "num_heads": 3,
        "dim_feedforward": 7,
        "dropout": 0.2,
        "activation": "gelu",
        "layer_norm_eps": 1e-3,
        "norm_first": False,
        "use_bias": True,
    }


# Each check can fail ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "param", ["transformer_encoder_0.Wq", "transformer_encoder_0.W2", "transformer_encoder_0.gamma2"]
)
def test_a_corrupted_weight_is_caught(param):
    records = check_case("transformer_encoder", {}, impls=["torch"], dtypes=["float64"], corrupt=param)
    assert any(not r.passed for r in records), failures(records)


@pytest.mark.parametrize("rule", ["mha_packed_in_proj", "dense_transpose", "encoder_batch_first"])
def test_a_forgotten_rule_is_caught(rule):
    torch_side = Side("torch", disabled_rules=(rule,))
    config = {"dim_feedforward": 8}  # a square feed-forward kernel: a forgotten transpose still loads
    divergence = dataclasses.replace(get_divergence("transformer_encoder_defaults"), config=config)
    records = run_variant(divergence, Variant(Side("scratch"), torch_side))
    assert any(not r.passed for r in records), failures(records)


@pytest.mark.parametrize("impl", ["keras-jax", "keras-tensorflow"])
def test_the_float64_attention_rules_matter_inside_the_block(impl):
    rule = "mha_jax_float32_softmax" if impl == "keras-jax" else "mha_tf_float32_scale"
    divergence = dataclasses.replace(
        get_divergence("transformer_encoder_defaults"), config={"num_heads": 4}
    )  # key_dim 2
    records = run_variant(divergence, Variant(Side("scratch"), Side(impl, disabled_rules=(rule,))))
    assert any(not r.passed for r in records), failures(records)
    records = run_variant(divergence, Variant(Side("scratch"), Side(impl)))
    assert all(r.passed for r in records), failures(records)


@pytest.mark.parametrize(
    "keras,torch_side",
    [
        (Side("keras-jax"), Side("torch", config={"dropout": None})),  # torch's 0.1, active in training
        (Side("keras-jax", config={"layer_norm_eps": None}), Side("torch")),  # the Keras block's 1e-3, torch's 1e-5
        (Side("keras-jax"), Side("torch", disabled_rules=("encoder_batch_first",))),
    ],
    ids=["dropout", "layer_norm_eps", "batch_first"],
)
def test_each_default_alone_is_caught(keras, torch_side):
    records = run_variant(get_divergence("transformer_encoder_defaults"), Variant(keras, torch_side))
    assert any(not r.passed for r in records), failures(records)


@pytest.mark.xdist_group("divergences")  # shares conftest.divergence_outcome with test_divergences
def test_encoder_defaults_divergence_naive_caught_converted_passes(divergence_outcome):
    outcome = divergence_outcome("transformer_encoder_defaults")  # shared with test_divergences
    assert outcome.result is not None, outcome.error
    result = outcome.result
    assert result.naive_caught, failures(result.naive)
    assert result.converted_passes, failures(result.converted)
