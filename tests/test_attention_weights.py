"""A model that reads the attention weights (return_scores): by hand, by finite differences, through the
harness on every implementation, what the importers refuse, and torch's head-averaged default caught."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.divergences import get_divergence
from parity.divergences.base import run_divergence
from parity.gradcheck import check_gradients
from parity.tolerance import tolerance
from scratch.attention import MultiHeadAttention
from tests.conftest import FRAMEWORK_IMPLS, failures


def _layer(h: int, d: int, E: int, causal: bool = False, average_heads: bool = False, seed: int = 0):
    layer = MultiHeadAttention(h, d, causal=causal, return_scores=True, average_heads=average_heads)
    layer.build((3, E))
    rng = np.random.default_rng(seed)
    layer.params = {k: rng.standard_normal(s) for k, s in layer.weight_shapes().items()}
    return layer


def test_attention_weights_by_hand():
    """One head of size 1, identity projections: the weights of step t are softmax(x_t x_s) over s; two
    identical heads averaged are that one head."""
    X = np.array([[[1.0], [2.0]]])  # (B=1, T=2, E=1)
    p = np.exp(2.0) / (np.exp(1.0) + np.exp(2.0))  # step 0: scores (1, 2)
    q = np.exp(4.0) / (np.exp(2.0) + np.exp(4.0))  # step 1: scores (2, 4)
    expected = [[1 - p, p], [1 - q, q]]
    layer = MultiHeadAttention(1, 1, use_bias=False, return_scores=True)
    layer.build((2, 1))
    layer.params = {k: np.ones(s) for k, s in layer.weight_shapes().items()}
    P = layer.forward(X)
    assert P.shape == (1, 1, 2, 2) and layer.output_shape((2, 1)) == (1, 2, 2)
    np.testing.assert_allclose(P[0, 0], expected, rtol=1e-15)
    two = MultiHeadAttention(2, 1, use_bias=False, return_scores=True, average_heads=True)
    two.build((2, 1))
    two.params = {k: np.ones(s) for k, s in two.weight_shapes().items()}
    two.params["Wq"] = np.ones((1, 2, 1)) * np.array([1.0, 0.0])[None, :, None]  # head 1: zero scores, uniform
    A = two.forward(X)
    assert A.shape == (1, 2, 2) and two.output_shape((2, 1)) == (2, 2)
    np.testing.assert_allclose(A[0], (np.array(expected) + 0.5) / 2, rtol=1e-15)


@pytest.mark.parametrize("causal,average_heads", [(False, False), (True, False), (False, True), (True, True)])
def test_attention_weights_gradients_by_finite_differences(rng, causal, average_heads):
    layer = _layer(2, 3, 6, causal, average_heads)
    results = check_gradients(layer, rng.standard_normal((2, 4, 6)), rng)
    assert all(r.passed for r in results), results
    assert np.all(layer.grads["Wo"] == 0) and np.all(layer.grads["Wv"] == 0)  # V and Wo do not reach the weights


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "config", [{"return_scores": True}, {"return_scores": True, "average_heads": True, "causal": True}]
)
def test_attention_weights_on_every_implementation(dtype, config):
    records = check_case("multi_head_attention", config, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)
    assert {r.impl_b for r in records} >= set(FRAMEWORK_IMPLS)


@settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    num_heads=st.integers(1, 3),
    key_dim=st.integers(1, 3),
    steps=st.integers(1, 5),
    causal=st.booleans(),
    average_heads=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_attention_weights(num_heads, key_dim, steps, causal, average_heads, seed):
    config = {
        "num_heads": num_heads,
        "key_dim": key_dim,
        "causal": causal,
        "return_scores": True,
        "average_heads": average_heads,
        "input_shape": [steps, num_heads * key_dim],
    }
    records = check_case("multi_head_attention", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= tolerance("float64") for r in records if r.dtype == "float64"), failures(records)


def test_averaging_without_returning_the_weights_is_refused_in_one_line():
    with pytest.raises(CaseError, match="average_heads=True .* needs return_scores=True") as error:
        get_case("multi_head_attention").configure({"average_heads": True})
    assert len(str(error.value).splitlines()) == 1


def test_the_importers_refuse_a_model_reading_the_weights_in_one_line():
    """Neither importer reads the weights yet: torch's element 1 of the module's tuple (its shape is not the
    output's), Keras' return_attention_scores=True; each says so in one line instead of importing the output."""
    from torch import nn

    from parity.layers import REGISTRY
    from parity.spec.model import SpecError
    from parity.spec.torch_import import import_torch

    class Weights(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(6, 2, batch_first=True)

        def forward(self, x):
            return self.attn(x, x, x, need_weights=True, average_attn_weights=False)[1]

    with pytest.raises(SpecError, match="layer 'attn' .*torch computes shape \\(2, 4, 4\\).* not supported") as error:
        import_torch(Weights(), (4, 6))
    assert len(str(error.value).splitlines()) == 1
    with pytest.raises(ValueError, match="return_attention_scores=True") as error:
        REGISTRY["multi_head_attention"].keras.read_call({"return_attention_scores": True})
    assert len(str(error.value).splitlines()) == 1


def test_torch_averaging_over_heads_is_caught_and_per_head_weights_pass():
    """The naive port keeps average_attn_weights=True: (B, T, S) against Keras' (B, h, T, S)."""
    result = run_divergence(get_divergence("mha_average_attn_weights"))
    assert result.naive_caught, failures(result.naive)
    assert any(r.quantity == "output" and r.passed is False for r in result.naive)
    assert result.converted_passes, failures(result.converted)
