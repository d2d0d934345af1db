"""Transformer models (parity/cases/models.py): transformer_classifier and char_transformer.

By hand (with the block's branches zeroed the model is embedding + positions -> Dense, and the
causal model's earlier logits never read later ids), by finite differences through the scratch
graph, on every implementation in both dtypes, on hypothesis-drawn configurations, trained step by
step, through the torch importer's reading of a causal ``attn_mask``, and with a conversion rule
switched off or a weight corrupted, to show each check can fail.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.case import CaseError
from parity.cases import get_case
from parity.check import check_case, corrupt_weights, make_request
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.base import RunRequest
from parity.spec.torch_import import ImportError_, import_torch
from parity.tolerance import MODEL_FLOAT64_WORST, TRAJECTORY_FLOAT64_REL, tolerance
from parity.train import train_case
from tests.conftest import FRAMEWORK_IMPLS, failures

MODELS = ["transformer_classifier", "seq_transformer", "char_transformer"]
SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


# Scratch: by hand and by finite differences ---------------------------------------------------


def _zero_branches(model, weights: dict) -> dict:
    """Every attention and feed-forward weight zero: each residual branch adds nothing."""
    out = {}
    for name, value in weights.items():
        branch = any(part in name for part in ("attention.", "ff1.", "ff2."))
        out[name] = np.zeros_like(value) if branch else value
    return out


def test_char_transformer_with_zero_branches_is_embedding_plus_positions_then_dense(rng):
    case = get_case("char_transformer")
    config = case.configure({"input_dim": 3, "d_model": 2, "num_heads": 1, "dim_feedforward": 2, "input_shape": [2]})
    model = case.build("scratch", config)
    model.init(rng)
    weights = _zero_branches(model, model.weights())
    weights["embedding.W"] = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 1.0]])
    weights["positions.W"] = np.array([[0.5, 0.0], [0.0, -1.0]])
    weights["logits.W"] = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    weights["logits.b"] = np.array([0.0, 0.0, 10.0])
    model.set_weights(weights)
    Z = model.forward(np.array([[2, 1]]))
    # step 0: E[2] + P[0] = [3.5, 1] -> [3.5, 1, 14.5]; step 1: E[1] + P[1] = [0, 1] -> [0, 1, 11]
    np.testing.assert_array_equal(Z, [[[3.5, 1.0, 14.5], [0.0, 1.0, 11.0]]])


def test_char_transformer_logits_never_read_later_ids(rng):
    case = get_case("char_transformer")
    config = case.configure({})
    model = case.build("scratch", config)
    model.init(rng)
    X = case.draw_inputs(config, 0)  # (B, T)
    changed = X.copy()
    changed[:, -1] = (changed[:, -1] + 1) % config["input_dim"]
    before, after = model.forward(X), model.forward(changed)
    np.testing.assert_array_equal(before[:, :-1], after[:, :-1])  # causal: steps before T-1 are untouched
    assert not np.allclose(before[:, -1], after[:, -1])  # the last step reads its own id


def test_transformer_classifier_is_a_function_of_the_bag_of_ids_without_positions(rng):
    """Without positions (a zero table) self-attention and the mean are permutation-equivariant / invariant:
    reversing the ids leaves the logits unchanged; with positions it does not."""
    case = get_case("transformer_classifier")
    config = case.configure({})
    model = case.build("scratch", config)
    model.init(rng)
    X = case.draw_inputs(config, 0)
    weights = model.weights()
    weights["add_table_0.W"] = rng.standard_normal(weights["add_table_0.W"].shape)
    model.set_weights(weights)
    assert not np.allclose(model.forward(X), model.forward(X[:, ::-1]))
    weights["add_table_0.W"] = np.zeros_like(weights["add_table_0.W"])
    model.set_weights(weights)
    np.testing.assert_allclose(model.forward(X), model.forward(X[:, ::-1]), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", MODELS)
def test_scratch_model_gradients_by_finite_differences(name, rng):
    case = get_case(name)
    config = case.configure({"batch": 2})
    model = case.build("scratch", config)
    model.init(rng)
    X = case.draw_inputs(config, 0)
    results = check_gradients(model, X, rng)  # L = sum(Z * G), G seeded: every output element matters
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]


# Every implementation -------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_model_on_every_implementation(name, dtype):
    records = check_case(name, impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert records and all(r.passed for r in records), failures(records)
    if dtype == "float64":  # keras-tensorflow's GELU against scratch with its constants (tf_gelu_float64_constants)
        assert max(r.max_rel_err for r in records) <= MODEL_FLOAT64_WORST, failures(records)


def test_post_norm_float32_is_judged_against_the_noise_floors():
    """Post-norm blocks amplify float32 rounding in every implementation alike: the second block's query/key
    gradients sit past the fixed float32 tolerance (512 eps) for scratch against its own float64 result too
    (~600 eps), and each framework agrees with scratch within NOISE_FLOOR_MULTIPLE of the two floors."""
    records = check_case("transformer_classifier", {"norm_first": False}, FRAMEWORK_IMPLS, ["float32"])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert records and all(r.passed for r in records), failures(records)
    floored = [r for r in records if "noise floors" in r.detail]
    assert floored and all(r.max_rel_err > tolerance("float32") for r in floored)
    assert {r.quantity for r in floored} & {"grad:transformer_encoder_1.Wq", "grad:transformer_encoder_1.Wk"}


def test_post_norm_float32_noise_floors_still_catch_a_corrupted_weight():
    """A wrong weight in what torch receives is far beyond three floors: the re-judging cannot hide it."""
    records = check_case(
        "transformer_classifier", {"norm_first": False}, ["torch"], ["float32"], corrupt="transformer_encoder_1.Wq"
    )
    failed = {r.quantity for r in records if r.passed is False}
    assert {"output", "weight:transformer_encoder_1.Wq"} <= failed, failures(records)


@st.composite
def model_configs(draw):
    heads = draw(st.integers(1, 2))
    # d_model >= 4, as in tests/test_transformer.py: a layer norm over 1 feature outputs beta whatever its
    # input, so the maths' gradients upstream are exactly 0 and the frameworks' rounding noise reads as an
    # infinite relative error; over 2 features it is almost all cancellation. The cases accept both.
    common = {
        "d_model": heads * draw(st.integers(4 // heads, 3 if heads == 2 else 6)),
        "num_heads": heads,
        "dim_feedforward": draw(st.integers(1, 8)),
        "input_shape": [draw(st.integers(1, 5))],
        "batch": draw(st.integers(1, 3)),
    }
    classifier = {
        **common,
        "input_dim": draw(st.integers(1, 9)),
        "num_layers": draw(st.integers(1, 2)),
        "num_classes": draw(st.integers(2, 4)),
    }
    # GELU too: keras-tensorflow's float64 GELU (float32-rounded constants, tf_gelu_float64_constants) is judged
    # against scratch with the same constants, so a gradient summed with cancellation stays within 1e-10.
    char = {**common, "input_dim": draw(st.integers(2, 9)), "activation": draw(st.sampled_from(["relu", "gelu"]))}
    return {"transformer_classifier": classifier, "char_transformer": char}


@SETTINGS
@given(configs=model_configs(), seed=st.integers(0, 2**16))
def test_random_model_configurations(configs, seed):
    for name, config in configs.items():
        records = check_case(name, config, FRAMEWORK_IMPLS, DTYPES, seed)
        assert records and all(r.passed for r in records), failures(records)
        assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


@pytest.mark.parametrize("name", MODELS)
def test_models_train_identically(name):
    # SGD with momentum: Keras-TF's Adam differs on Embedding rows (divergence tf_embedding_sparse_adam);
    # GELU on keras-tensorflow trains against scratch with its float32-rounded constants (tf_gelu_float64_constants)
    records, results = train_case(name, "momentum", steps=3, impls=FRAMEWORK_IMPLS, dtypes=["float64"])
    assert {r.impl_b for r in records} == set(FRAMEWORK_IMPLS)
    assert all(r.passed for r in records), failures(records)
    assert max(r.max_rel_err for r in records if r.step == 3) <= TRAJECTORY_FLOAT64_REL


# Bad configurations: one line, naming the model and the key ------------------------------------


@pytest.mark.parametrize(
    "name, overrides, fragment",
    [
        (
            "transformer_classifier",
            {"input_shape": [3, 2]},
            "input_shape must be [steps] (integer ids), received [3, 2]",
        ),
        ("transformer_classifier", {"d_model": 6, "num_heads": 4}, "d_model=6 must be divisible by num_heads=4"),
        ("transformer_classifier", {"num_layers": 0}, "num_layers must be an integer >= 1, received 0"),
        ("transformer_classifier", {"norm_first": "yes"}, "norm_first must be true or false, received 'yes'"),
        ("char_transformer", {"input_dim": 1}, "input_dim must be an integer >= 2, received 1"),
        ("char_transformer", {"dim_feedforward": 0}, "dim_feedforward must be an integer >= 1, received 0"),
        ("char_transformer", {"activation": "tanh"}, "activation must be 'gelu' or 'relu', received 'tanh'"),
    ],
)
def test_bad_configurations_are_refused_in_one_line(name, overrides, fragment):
    with pytest.raises(CaseError) as error:
        get_case(name).configure(overrides)
    message = str(error.value)
    assert message.startswith(f"model {name!r}: ") and fragment in message and "\n" not in message


# The torch importer reads a causal attn_mask --------------------------------------------------


class _Masked(nn.Module):
    """Self-attention with a mask buffer (True = may NOT attend, torch's polarity)."""

    def __init__(self, mask: torch.Tensor) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)
        self.register_buffer("mask", mask)

    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask, need_weights=False)[0]


def test_torch_importer_reads_the_causal_mask_boolean_or_float():
    upper = torch.ones(3, 3, dtype=torch.bool).triu(1)
    for mask in (upper, torch.zeros(3, 3).masked_fill(upper, float("-inf"))):
        (node,) = import_torch(_Masked(mask), (3, 4)).nodes
        assert node.kind == "multi_head_attention" and node.config["causal"] is True
    (node,) = import_torch(_Masked(torch.zeros(3, 3, dtype=torch.bool)), (3, 4)).nodes  # nothing masked
    assert node.config["causal"] is False
    with pytest.raises(ImportError_, match="other than the causal one"):
        import_torch(_Masked(upper.T), (3, 4))  # Keras' polarity: divergence mha_mask_polarity


# Each check can fail ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, rule, parameter",
    [
        ("transformer_classifier", "encoder_batch_first", "transformer_encoder_0.Wv"),
        ("char_transformer", "mha_mask_polarity", "attention.Wq"),
    ],
)
def test_a_forgotten_rule_or_a_corrupted_weight_is_caught(name, rule, parameter):
    case = get_case(name)
    config = case.configure({})
    request = make_request(case, config, "float64", 0)
    reference = run("scratch", request)
    assert all(r.passed for r in compare_runs(name, "float64", reference, run("torch", request)))
    naive = RunRequest(**{**request.__dict__, "disabled_rules": (rule,)})
    failed = {r.quantity for r in compare_runs(name, "float64", reference, run("torch", naive)) if not r.passed}
    assert "output" in failed, f"{rule} switched off went unnoticed"
    bad = make_request(case, config, "float64", 0, weights=corrupt_weights(request.weights, parameter, name))
    failed = {r.quantity for r in compare_runs(name, "float64", reference, run("torch", bad)) if not r.passed}
    assert {"output", f"weight:{parameter}"} <= failed


# The examples on real data, a few steps --------------------------------------------------------


@pytest.mark.parametrize("name, metric", [("digits_transformer", "accuracy"), ("pydoc_char_transformer", "perplexity")])
def test_transformer_example_agrees_everywhere_on_a_few_steps(name, metric):
    from dataclasses import replace

    from parity.examples import EXAMPLES, _pydoc_windows, run_example

    example = EXAMPLES[name]
    if name == "pydoc_char_transformer":
        example = replace(example, load=lambda: _pydoc_windows(limit=64 * 32 + 1))
    records, rows, losses, _ = run_example(example, FRAMEWORK_IMPLS, ["float64"], steps=3)
    assert {row["impl"] for row in rows} == {"scratch", *FRAMEWORK_IMPLS}
    assert all(r.passed for r in records) and {r.impl_b for r in records} == set(FRAMEWORK_IMPLS), failures(records)
    assert max(r.max_rel_err for r in records) <= TRAJECTORY_FLOAT64_REL
    values = np.array([row[metric] for row in rows])
    assert np.all(np.isfinite(values))
    if metric == "accuracy":  # whole samples: equal to the sample
        assert np.ptp(values) == 0
    else:
        assert np.ptp(values) <= TRAJECTORY_FLOAT64_REL * values[0]
