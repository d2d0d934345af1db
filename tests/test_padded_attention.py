"""Key-padded self-attention in a model (case ``padded_attention``): integer ids with 0 as padding,
the attention masking padded keys (torch ``key_padding_mask=(ids == 0)``, Keras the mask of
``Embedding(mask_zero=True)``), a mean over the tokens. By hand, by finite differences, through the
harness on every implementation and on hypothesis-drawn padding lengths, and shown to fail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.gradcheck import check_gradients
from parity.spec.generate import build_scratch, build_torch
from parity.tolerance import tolerance
from scratch.attention import MultiHeadAttention
from scratch.global_pooling import MaskedGlobalAvgPool
from tests.conftest import FRAMEWORK_IMPLS, failures


def test_masked_mean_by_hand():
    """Sequence 0 keeps two tokens of three: the mean of rows 0 and 1; sequence 1 keeps all three."""
    pool = MaskedGlobalAvgPool("pool")
    pool.build([(3, 2), (3,)])
    X = np.arange(12, dtype=float).reshape(2, 3, 2)  # (B, T, C)
    ids = np.array([[4, 5, 0], [1, 2, 3]])
    np.testing.assert_array_equal(pool.forward(X, ids), [[1.0, 2.0], [8.0, 9.0]])
    dX, dids = pool.backward(np.array([[2.0, 4.0], [3.0, 6.0]]))
    np.testing.assert_array_equal(dX[0], [[1.0, 2.0], [1.0, 2.0], [0.0, 0.0]])  # dZ / 2 on the tokens, 0 on the pad
    np.testing.assert_array_equal(dX[1], [[1.0, 2.0]] * 3)
    assert dids is None  # integer ids: no gradient


def test_key_padded_tokens_see_the_unpadded_sequence(rng):
    """With the same weights, the tokens' outputs equal those of the sequence without its padding; a
    padded query still attends the tokens (as torch's key_padding_mask does)."""
    layer = MultiHeadAttention(2, 3, key_padding=True, name="attn")
    layer.build([(5, 6), (5,)])
    layer.init(rng)
    alone = MultiHeadAttention(2, 3, name="attn")
    alone.build((2, 6))
    alone.params = layer.params
    X = rng.standard_normal((1, 5, 6))
    Z = layer.forward(X, np.array([[7, 3, 0, 0, 0]]))
    np.testing.assert_allclose(Z[:, :2], alone.forward(X[:, :2]), rtol=1e-14, atol=1e-15)
    assert np.all(layer.attention.P[0, :, :, 2:] == 0.0)  # every query, padded ones too, gives pads weight 0


def test_the_case_graph_by_finite_differences(rng):
    """Normal weights (Keras' embedding init, U(-0.05, 0.05), leaves the scores near 0 and dWq, dWk tiny)."""
    case = get_case("padded_attention")
    config = case.configure({"causal": True})
    model = build_scratch(case.model_spec(config))
    model.init(rng)
    for W in model.parameters().values():
        W[...] = rng.standard_normal(W.shape)  # in place: parameters() shares the model's arrays
    results = check_gradients(model, case.draw_inputs(config, 0), rng)
    assert results and all(r.passed for r in results), results


def test_the_torch_model_passes_key_padding_mask_true_on_padding(rng):
    """The generated torch model calls nn.MultiheadAttention with key_padding_mask = (ids == 0): a
    padded key changes no token's output, whatever its embedding."""
    import torch

    case = get_case("padded_attention")
    config = case.configure({})
    model = build_torch(case.model_spec(config)).double()
    ids = torch.tensor([[3, 5, 0, 0, 0, 0], [3, 5, 1, 0, 0, 0]])
    y = model(ids)
    assert torch.isfinite(y).all()
    with torch.no_grad():
        model.module("embedding_0").weight[0] += 100.0  # the padding row: seen by no token
    torch.testing.assert_close(model(ids), y, rtol=1e-14, atol=1e-14)


def test_the_draws_pad_the_end_of_each_sequence_and_keep_tokens():
    case = get_case("padded_attention")
    config = case.configure({"batch": 50, "min_tokens": 1})
    ids = case.draw_inputs(config, 3)
    tokens = ids != 0
    assert tokens.sum(axis=1).min() == 1 and not tokens.all()  # some padding, never a sequence of pads only
    assert np.all(np.diff(tokens.astype(int), axis=1) <= 0)  # tokens first, then padding


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", [{}, {"causal": True, "use_bias": False, "min_tokens": 1}])
def test_padded_attention_on_every_implementation(dtype, config):
    records = check_case("padded_attention", config, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)
    if dtype == "float64":
        assert all(r.max_rel_err <= tolerance("float64") for r in records), failures(records)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    num_heads=st.integers(1, 3),
    key_dim=st.integers(1, 3),
    steps=st.integers(1, 7),
    min_tokens=st.integers(1, 7),
    causal=st.booleans(),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_padding_lengths(num_heads, key_dim, steps, min_tokens, causal, batch, seed):
    config = {
        "num_heads": num_heads,
        "key_dim": key_dim,
        "causal": causal,
        "min_tokens": min(min_tokens, steps),
        "input_shape": [steps],
        "batch": batch,
    }
    records = check_case("padded_attention", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= tolerance("float64") for r in records if r.dtype == "float64"), failures(records)


def test_a_corrupted_weight_fails():
    records = check_case("padded_attention", {}, impls=["torch"], corrupt="multi_head_attention_0.Wk")
    assert any(not r.passed for r in records), failures(records)


def test_bad_configurations_are_refused_in_one_line():
    case = get_case("padded_attention")
    for config, message in (
        ({"min_tokens": 7}, "min_tokens=7 exceeds the steps 6"),
        ({"min_tokens": 0}, "min_tokens must be a positive integer"),
        ({"input_dim": 1}, "input_dim must be at least 2"),
        ({"causal": 1}, "causal must be true or false"),
        ({"input_shape": [6, 2]}, "input_shape must be \\[steps\\]"),
    ):
        with pytest.raises(CaseError, match=f"model 'padded_attention': {message}") as error:
            case.configure(config)
        assert len(str(error.value).splitlines()) == 1


# Divergence key_padding_query_mask ----------------------------------------------------------------


def test_the_check_fails_without_the_rule_every_position_compared():
    """Naive: every query's attention output compared (pooled=False): Keras masks the padded queries too,
    so it is caught; converted: the mean over the tokens agrees in float64."""
    from parity.divergences import get_divergence
    from parity.divergences.base import run_divergence

    result = run_divergence(get_divergence("key_padding_query_mask"))
    assert result.naive_caught and result.converted_passes, (result.naive_error, result.converted_error)
    assert result.converted_error <= tolerance("float64") < result.naive_error


def test_only_the_padded_positions_differ():
    """The naive outputs, position by position: the tokens' agree to float64 rounding, the padded ones do not."""
    from parity.divergences import get_divergence
    from parity.divergences.base import variant_requests
    from parity.runners import run
    from parity.tolerance import relative_error

    divergence = get_divergence("key_padding_query_mask")
    request_keras, request_torch = variant_requests(divergence, divergence.naive)
    Y_keras, Y_torch = run("keras-jax", request_keras).output, run("torch", request_torch).output  # (B, T, E)
    tokens = request_torch.inputs != 0  # (B, T)
    assert relative_error(Y_torch[tokens], Y_keras[tokens]) <= tolerance("float64")
    assert relative_error(Y_torch[~tokens], Y_keras[~tokens]) > 1e-3


# Importers -------------------------------------------------------------------------------------------


def _padded_torch_model(padding_id: int = 0):
    import torch
    from torch import nn

    class Padded(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = nn.Embedding(12, 8)
            self.attention = nn.MultiheadAttention(8, 2, batch_first=True)

        def forward(self, tokens: torch.Tensor) -> torch.Tensor:
            x = self.embedding(tokens)  # (B, T, 8)
            return self.attention(x, x, x, key_padding_mask=(tokens == padding_id), need_weights=False)[0]

    return Padded()


def test_torch_importer_reads_key_padding_mask_computed_in_forward():
    """key_padding_mask=(tokens == 0) of the integer input: the attention reads the ids as its second edge."""
    from parity.spec.model import INPUT
    from parity.spec.torch_import import import_torch

    spec = import_torch(_padded_torch_model(), (6,))
    assert spec.input_dtype == "int" and [n.kind for n in spec.nodes] == ["embedding", "multi_head_attention"]
    attention = spec.nodes[1]
    assert attention.inputs == ("embedding", INPUT)
    assert attention.config["key_padding"] is True and attention.config["num_heads"] == 2


def test_torch_importer_refuses_other_padding_masks_in_one_line():
    from parity.spec.model import SpecError
    from parity.spec.torch_import import import_torch

    with pytest.raises(SpecError, match="aten.eq.Scalar") as error:
        import_torch(_padded_torch_model(padding_id=1), (6,))
    assert len(str(error.value).splitlines()) == 1


def test_keras_importer_reads_the_mask_embedding_mask_zero_propagates():
    """The hand-written Keras port (Embedding(mask_zero=True) -> MultiHeadAttention -> GlobalAveragePooling1D
    -> Dense) imports as the case's spec: the propagated mask becomes the ids' second edges."""
    from parity.runners.pool import ImplementationUnavailable, keras_worker
    from parity.spec.model import same_structure

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    case = get_case("padded_attention")
    config = case.configure({"causal": True})
    kwargs = {k: config[k] for k in ("input_dim", "num_heads", "key_dim", "num_classes", "use_bias", "causal")}
    (spec,) = worker.call(
        "parity.sources:specs_of_builders", [("framework.keras3.models.attention:padded_attention", {"input_shape": (6,), **kwargs})]
    )
    assert same_structure(spec, case.model_spec(config)) == []
