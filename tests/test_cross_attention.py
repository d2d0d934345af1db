"""Cross-attention (queries from one node, keys and values from another): by hand, by finite
differences on both inputs, through both importers, through the harness on random
configurations, and a check shown to fail when the context's gradient is lost."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from framework.pytorch.models.attention import CrossAttention
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case
from parity.convert.attention import MultiHeadAttentionConverter
from parity.convert.base import ConversionError
from parity.gradcheck import check_gradients, numerical_gradient
from parity.spec.generate import build_scratch
from parity.spec.model import INPUT
from parity.spec.torch_import import import_torch
from parity.tolerance import FINITE_DIFFERENCE, relative_error, tolerance
from scratch.attention import MultiHeadAttention
from tests.conftest import FRAMEWORK_IMPLS, failures


def _cross_layer(h: int, d: int, E: int, Ec: int, use_bias: bool = True, causal: bool = False, seed: int = 0):
    layer = MultiHeadAttention(h, d, use_bias=use_bias, causal=causal, name="attn")
    layer.build([(3, E), (4, Ec)])
    rng = np.random.default_rng(seed)
    layer.params = {k: rng.standard_normal(s) for k, s in layer.weight_shapes().items()}
    return layer


def test_cross_attention_by_hand():
    """One head of size 1, identity projections: Q = x, K = V = c, so step t mixes the c_s with
    weights softmax(x_t c_s); causal, step 0 sees c_0 only."""
    layer = MultiHeadAttention(1, 1, use_bias=False)
    layer.build([(2, 1), (2, 1)])
    layer.params = {k: np.ones(s) for k, s in layer.weight_shapes().items()}
    X = np.array([[[1.0], [2.0]]])  # (B=1, T=2, E=1): queries
    C = np.array([[[0.0], [1.0]]])  # (B=1, S=2, E_c=1): keys = values
    p = np.exp(1.0) / (1.0 + np.exp(1.0))  # step 0: scores (0, 1) -> weight of c_1
    q = np.exp(2.0) / (1.0 + np.exp(2.0))  # step 1: scores (0, 2)
    np.testing.assert_allclose(layer.forward(X, C)[0, :, 0], [p, q], rtol=1e-15)
    layer.causal = True
    np.testing.assert_allclose(layer.forward(X, C)[0, :, 0], [0.0, q], rtol=1e-15)


def test_weight_shapes_follow_the_context():
    layer = _cross_layer(2, 3, 6, 5)
    shapes = layer.weight_shapes()
    assert shapes["Wq"] == (6, 2, 3) and shapes["Wk"] == shapes["Wv"] == (5, 2, 3) and shapes["Wo"] == (2, 3, 6)
    assert layer.output_shape([(3, 6), (4, 5)]) == (3, 6)


@pytest.mark.parametrize("use_bias,causal", [(True, False), (False, True)])
def test_both_input_gradients_by_finite_differences(rng, use_bias, causal):
    """dX (the queries' branch) and dC (the keys' and values' branch), each against central differences."""
    layer = _cross_layer(2, 3, 6, 5, use_bias, causal)
    X, C = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 4, 5))
    G = rng.standard_normal((2, 3, 6))
    layer.forward(X, C)
    dX, dC = layer.backward(G)
    for name, A, dA in (("X", X, dX), ("C", C, dC)):
        numeric = numerical_gradient(lambda: float((layer.forward(X, C) * G).sum()), A)
        assert relative_error(numeric, dA) <= FINITE_DIFFERENCE, f"d{name}"  # parity.gradcheck's criterion
    for key in layer.params:  # and every weight
        layer.forward(X, C)
        layer.backward(G)
        numeric = numerical_gradient(lambda: float((layer.forward(X, C) * G).sum()), layer.params[key])
        assert relative_error(numeric, layer.grads[key]) <= FINITE_DIFFERENCE, key


def test_the_case_graph_by_finite_differences(rng):
    """The case's graph: x feeds the queries and the dense context; dX sums both branches."""
    model = build_scratch(get_case("cross_attention").spec(get_case("cross_attention").configure({})))
    model.init(rng)
    results = check_gradients(model, rng.standard_normal((2, 5, 8)), rng)
    assert all(r.passed for r in results), results


def test_self_attention_is_cross_attention_with_c_equal_x(rng):
    """Same weights, C = X: the outputs agree and the self-attention dX is dX + dC."""
    cross = _cross_layer(2, 3, 6, 6)
    single = MultiHeadAttention(2, 3)
    single.build((3, 6))
    single.params = cross.params
    X, G = rng.standard_normal((2, 3, 6)), rng.standard_normal((2, 3, 6))
    np.testing.assert_array_equal(cross.forward(X, X), single.forward(X))
    dX, dC = cross.backward(G)
    np.testing.assert_allclose(single.backward(G), dX + dC, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "config", [{}, {"context_dim": 8, "causal": True}, {"use_bias": False, "num_heads": 4, "key_dim": 2}]
)
def test_cross_attention_case_on_every_implementation(dtype, config):
    records = check_case("cross_attention", config, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)
    if dtype == "float64":
        assert all(r.max_rel_err <= tolerance("float64") for r in records), failures(records)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    num_heads=st.integers(1, 3),
    key_dim=st.integers(1, 4),
    context_dim=st.integers(1, 7),
    steps=st.integers(1, 6),
    use_bias=st.booleans(),
    causal=st.booleans(),
    batch=st.integers(1, 4),
    seed=st.integers(0, 2**16),
)
def test_random_cross_attention(num_heads, key_dim, context_dim, steps, use_bias, causal, batch, seed):
    config = {
        "num_heads": num_heads,
        "key_dim": key_dim,
        "context_dim": context_dim,
        "use_bias": use_bias,
        "causal": causal,
        "input_shape": [steps, num_heads * key_dim],
        "batch": batch,
    }
    records = check_case("cross_attention", config, FRAMEWORK_IMPLS, ["float64", "float32"], seed)
    assert all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= tolerance("float64") for r in records if r.dtype == "float64"), failures(records)


def test_bad_configurations_are_refused_in_one_line():
    case = get_case("cross_attention")
    for config, message in (
        ({"num_heads": 3}, "num_heads \\* key_dim"),
        ({"context_dim": 0}, "context_dim must be a positive integer"),
        ({"context_dim": True}, "context_dim must be a positive integer"),
    ):
        with pytest.raises(CaseError, match=f"model 'cross_attention': {message}") as error:
            case.configure(config)
        assert len(str(error.value).splitlines()) == 1


def test_converter_round_trips_separate_projections():
    """E_c != E: torch keeps q/k/v_proj_weight, (h d, E) and (h d, E_c); E_c == E: packed."""
    converter = MultiHeadAttentionConverter()
    for Ec, keys in ((5, {"q_proj_weight", "k_proj_weight", "v_proj_weight"}), (6, {"in_proj_weight"})):
        layer = _cross_layer(2, 3, 6, Ec)
        state = converter.to_torch(layer, layer.params)
        assert keys <= set(state) and "in_proj_bias" in state
        for back in (
            converter.from_torch(layer, state),
            converter.from_keras(layer, converter.to_keras(layer, layer.params)),
        ):
            assert sorted(back) == sorted(layer.params)
            for key, value in back.items():
                np.testing.assert_array_equal(value, layer.params[key])


def test_converter_names_layer_and_parameter_on_a_wrong_shape():
    layer = _cross_layer(2, 3, 6, 5)
    with pytest.raises(ConversionError, match="layer 'attn', parameter 'k_proj_weight': expected shape \\(6, 5\\)"):
        MultiHeadAttentionConverter().from_torch(
            layer, {"q_proj_weight": np.zeros((6, 6)), "k_proj_weight": np.zeros((6, 6))}
        )


def test_torch_importer_reads_the_module_called_with_two_tensors():
    spec = import_torch(CrossAttention(6, 5, 2, use_bias=False), (4, 6))
    assert [n.kind for n in spec.nodes] == ["dense", "multi_head_attention"]
    dense, attn = spec.nodes
    assert attn.inputs == (INPUT, dense.name)  # query, then key = value
    assert attn.config == {
        "num_heads": 2,
        "key_dim": 3,
        "use_bias": False,
        "causal": False,
        "return_scores": False,
        "average_heads": False,
        "key_padding": False,
    }


def test_keras_importer_reads_query_and_value():
    from parity.runners.pool import ImplementationUnavailable, keras_worker

    try:
        worker = keras_worker("torch")
    except ImplementationUnavailable as error:
        pytest.skip(str(error))
    kwargs = {"input_shape": (4, 6), "num_heads": 2, "key_dim": 3, "context_dim": 5, "use_bias": True, "causal": True}
    (spec,) = worker.call(
        "parity.sources:specs_of_builders", [("framework.keras3.models.attention:cross_attention", kwargs)]
    )
    assert [n.kind for n in spec.nodes] == ["dense", "multi_head_attention"]
    assert spec.nodes[1].inputs == (INPUT, spec.nodes[0].name)
    assert spec.nodes[1].config == {
        "num_heads": 2,
        "key_dim": 3,
        "use_bias": True,
        "causal": True,
        "return_scores": False,
        "average_heads": False,
        "key_padding": False,
    }


def test_a_lost_context_gradient_is_caught(monkeypatch):
    """The check can fail: a scratch backward that drops dC (the dense branch's gradient)."""
    backward = MultiHeadAttention.backward

    def without_context(self, dZ):
        grads = backward(self, dZ)
        return (grads[0], np.zeros_like(grads[1])) if self.cross else grads

    monkeypatch.setattr(MultiHeadAttention, "backward", without_context)
    records = check_case("cross_attention", {}, impls=["torch"], dtypes=["float64"])
    failed = {r.quantity for r in records if not r.passed}
    assert any("dense_0" in q for q in failed), failures(records)


def test_port_writes_a_torch_model_that_imports_back_to_the_case():
    """``parity port``'s torch source: the module called with two different tensors, kdim/vdim passed."""
    from parity.spec.codegen import keras_source, torch_source
    from parity.spec.model import same_structure

    case = get_case("cross_attention")
    spec = case.spec(case.configure({}))
    source = torch_source(spec, "the cross_attention case")
    assert "kdim=6, vdim=6" in source and "(x, dense_0, dense_0, need_weights=False)[0]" in source
    assert "(inputs, dense_0)" in keras_source(spec, "the cross_attention case")
    namespace: dict = {"__name__": "ported"}
    exec(compile(source, "model.py", "exec"), namespace)
    assert same_structure(import_torch(namespace["build"](), (5, 8)), spec) == []
