"""Multi-head self-attention: by hand, by finite differences, through both importers, through the
harness on random configurations, and each divergence caught naive and passing converted."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from framework.pytorch.models.attention import SelfAttention
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.convert.attention import MultiHeadAttentionConverter
from parity.convert.base import ConversionError
from parity.gradcheck import check_gradients
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import tolerance
from scratch.attention import MultiHeadAttention, ScaledDotProductAttention, causal_mask
from tests.conftest import FRAMEWORK_IMPLS, failures


def _layer(h: int, d: int, E: int, use_bias: bool = True, causal: bool = False, seed: int = 0):
    layer = MultiHeadAttention(h, d, use_bias=use_bias, causal=causal)
    layer.build((3, E))
    rng = np.random.default_rng(seed)
    layer.params = {k: rng.standard_normal(s) for k, s in layer.weight_shapes().items()}
    return layer


def test_attention_by_hand():
    """One head of size 1, identity projections: Q = K = V = x, so step t mixes the x_s with
    weights softmax(x_t x_s); causal, step 0 sees only itself."""
    layer = MultiHeadAttention(1, 1, use_bias=False)
    layer.build((2, 1))
    layer.params = {k: np.ones(s) for k, s in layer.weight_shapes().items()}
    X = np.array([[[1.0], [2.0]]])  # (B=1, T=2, E=1)
    p = np.exp(2.0) / (np.exp(1.0) + np.exp(2.0))  # step 0: scores (1, 2) -> weight of x_1
    q = np.exp(4.0) / (np.exp(2.0) + np.exp(4.0))  # step 1: scores (2, 4)
    np.testing.assert_allclose(layer.forward(X)[0, :, 0], [1 + p, 1 + q], rtol=1e-15)
    layer.causal = True
    np.testing.assert_allclose(layer.forward(X)[0, :, 0], [1.0, 1 + q], rtol=1e-15)
    assert causal_mask(2, 2).tolist() == [[True, False], [True, True]]  # True = attend (Keras' polarity)


def test_softmax_rows_sum_to_one_and_masked_keys_get_zero_weight(rng):
    attention = ScaledDotProductAttention()
    Q, K, V = (rng.standard_normal((2, 3, 4, 5)) for _ in range(3))
    attention.forward(Q, K, V, causal_mask(4, 4))
    np.testing.assert_allclose(attention.P.sum(axis=-1), 1.0, rtol=1e-15)
    assert np.all(attention.P[..., ~causal_mask(4, 4)] == 0.0)


@pytest.mark.parametrize("use_bias,causal", [(True, False), (False, True), (True, True)])
def test_attention_gradients_by_finite_differences(rng, use_bias, causal):
    layer = _layer(2, 3, 6, use_bias, causal)
    results = check_gradients(layer, rng.standard_normal((2, 4, 6)), rng)
    assert all(r.passed for r in results), results


@pytest.mark.parametrize("causal", [False, True])
def test_float32_stays_float32(rng, causal):
    """1 / sqrt(d) as a NumPy float64 scalar would promote float32 scores to float64 (NumPy 2's
    scalar rules): the float32 layer would then compute in float64 and hide float32 rounding."""
    layer = MultiHeadAttention(2, 3, causal=causal)
    layer.build((4, 6))
    layer.init(rng, np.float32)
    X = rng.standard_normal((2, 4, 6)).astype(np.float32)
    Z = layer.forward(X)
    dX = layer.backward(rng.standard_normal(Z.shape).astype(np.float32))
    dtypes = {"Z": Z.dtype, "dX": dX.dtype, "P": layer.attention.P.dtype}
    dtypes |= {f"d{k}": g.dtype for k, g in layer.grads.items()}
    assert all(dt == np.float32 for dt in dtypes.values()), dtypes


def test_the_key_bias_changes_nothing():
    """Why the canonical layout has no key bias: torch's output ignores it."""
    torch.manual_seed(0)
    attn = nn.MultiheadAttention(6, 2, batch_first=True).double()
    x = torch.randn(2, 4, 6, dtype=torch.float64)
    before, _ = attn(x, x, x, need_weights=False)
    with torch.no_grad():
        attn.in_proj_bias[6:12] = torch.randn(6, dtype=torch.float64)  # the key block
    after, _ = attn(x, x, x, need_weights=False)
    torch.testing.assert_close(before, after, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", [{}, {"causal": True}, {"use_bias": False, "num_heads": 4, "key_dim": 2}])
def test_attention_case_on_every_implementation(dtype, config):
    records = check_case("multi_head_attention", config, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    num_heads=st.integers(1, 3),
    key_dim=st.integers(1, 4),
    steps=st.integers(1, 6),
    use_bias=st.booleans(),
    causal=st.booleans(),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_attention(num_heads, key_dim, steps, use_bias, causal, batch, seed):
    config = {
        "num_heads": num_heads,
        "key_dim": key_dim,
        "use_bias": use_bias,
        "causal": causal,
        "input_shape": [steps, num_heads * key_dim],
        "batch": batch,
    }
    records = check_case("multi_head_attention", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= tolerance("float64") for r in records if r.dtype == "float64"), failures(records)


def test_bad_configurations_are_refused_in_one_line():
    case = get_case("multi_head_attention")
    for config, message in (
        ({"num_heads": 3}, "num_heads \\* key_dim"),
        ({"key_dim": 0}, "key_dim must be a positive integer"),
        ({"causal": "yes"}, "causal must be true or false"),
        ({"input_shape": [8]}, "input_shape must be"),
    ):
        with pytest.raises(CaseError, match=message) as error:
            case.configure(config)
        assert len(str(error.value).splitlines()) == 1


def test_converter_names_layer_and_parameter_on_a_wrong_shape():
    layer = _layer(2, 3, 6)
    layer.name = "attn"
    with pytest.raises(ConversionError, match="layer 'attn', parameter 'in_proj_weight'"):
        MultiHeadAttentionConverter().from_torch(layer, {"in_proj_weight": np.zeros((6, 6))})


def test_converter_round_trips_through_torch_and_keras():
    layer = _layer(2, 3, 6)
    converter = MultiHeadAttentionConverter()
    for back in (
        converter.from_torch(layer, converter.to_torch(layer, layer.params)),
        converter.from_keras(layer, converter.to_keras(layer, layer.params)),
    ):
        assert sorted(back) == sorted(layer.params)
        for key, value in back.items():
            np.testing.assert_array_equal(value, layer.params[key])


def test_torch_importer_reads_the_module():
    spec = import_torch(SelfAttention(6, 2, use_bias=False), (4, 6))
    assert [n.kind for n in spec.nodes] == ["multi_head_attention"]
    assert spec.nodes[0].config == {"num_heads": 2, "key_dim": 3, "use_bias": False, "causal": False, "return_scores": False, "average_heads": False, "key_padding": False}


def test_torch_importer_refuses_sequence_first_and_masks_in_one_line():
    class SequenceFirst(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(6, 2)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=False)[0]

    class OtherMask(nn.Module):  # a mask that is not the causal one: no kind reads it
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(6, 2, batch_first=True)
            self.register_buffer("mask", torch.eye(4, dtype=torch.bool))

        def forward(self, x):
            return self.attn(x, x, x, attn_mask=self.mask, need_weights=False)[0]

    class PaddingMask(nn.Module):  # a key_padding_mask computed from the input: not supported
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(6, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, key_padding_mask=x[..., 0] > 1.0, need_weights=False)[0]

    for model in (SequenceFirst(), OtherMask(), PaddingMask()):
        with pytest.raises(SpecError) as error:
            import_torch(model, (4, 6))
        assert len(str(error.value).splitlines()) == 1


def test_torch_importer_reads_the_causal_mask():
    """The causal attn_mask (a buffer, folded to a constant by torch.export) becomes causal=True; before it
    was read, it was dropped silently and the model imported as non-causal."""
    spec = import_torch(SelfAttention(6, 2, causal=True), (4, 6))
    assert spec.nodes[0].config["causal"] is True


def test_keras_importer_reads_the_causal_call():
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    kwargs = {"input_shape": (4, 6), "num_heads": 2, "key_dim": 3, "use_bias": True, "causal": True}
    (spec,) = worker.call(
        "parity.sources:specs_of_builders", [("framework.keras3.models.attention:multi_head_attention", kwargs)]
    )
    assert [n.kind for n in spec.nodes] == ["multi_head_attention"]
    assert spec.nodes[0].config == {"num_heads": 2, "key_dim": 3, "use_bias": True, "causal": True, "return_scores": False, "average_heads": False, "key_padding": False}


@pytest.mark.xdist_group("divergences")  # shares conftest.divergence_outcome with test_divergences
@pytest.mark.parametrize("name", ["mha_packed_in_proj", "mha_batch_first", "mha_mask_polarity", "mha_jax_float32_softmax", "mha_tf_float32_scale"])
def test_attention_divergence_naive_caught_converted_passes(name, divergence_outcome):
    result = divergence_outcome(name).result  # run_divergence(get_divergence(name)), shared with test_divergences
    assert result is not None, divergence_outcome(name).error
    assert result.naive_caught, failures(result.naive)
    assert result.converted_passes, failures(result.converted)
