"""Model specs: read from real models, generated back into scratch, torch and Keras, and proven equal.

A spec imported from a user's model, loaded with that model's own weights, must compute what
the model computes (outputs and every gradient, float64), and the models generated from it
must agree with scratch. Each agreement is also shown able to fail.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from parity.agreement.records import compare_arrays, compare_runs
from parity.cli import main
from parity.runners import RunRequest, run
from parity.sources import run_original, spec_from_source
from parity.spec.generate import build_scratch
from parity.spec.model import INPUT, ModelSpec, Node, SpecError, chain
from parity.tolerance import tolerance

ROOT = Path(__file__).resolve().parents[1]
KERAS_RESIDUAL = str(ROOT / "examples" / "residual_keras.py") + ":build"


def draw(spec: ModelSpec, seed: int = 0):
    rng = np.random.default_rng(seed)
    out_shape = build_scratch(spec).output_shape
    X = rng.standard_normal((2, *spec.input_shape))
    G = rng.standard_normal((2, *out_shape))
    return X, G


def scratch_request(spec, weights, X, G, dtype="float64") -> RunRequest:
    return RunRequest(spec.name, {}, dtype, weights, X, np.zeros_like(G), G, trace=True, spec=spec)


def agreement(spec: ModelSpec, original: dict, weights: dict, X, G) -> list:
    """Records of scratch (run from the spec with ``weights``) against the original model."""
    result = run("scratch", scratch_request(spec, weights, X, G))
    records = [compare_arrays(spec.name, "original", "scratch", "float64", "output", original["output"], result.output)]
    for name, value in original["grads"].items():
        records.append(
            compare_arrays(spec.name, "original", "scratch", "float64", f"grad:{name}", value, result.grads[name])
        )
    return records


def test_spec_roundtrips_through_json():
    spec = ModelSpec(
        "res",
        (6, 6, 3),
        (
            Node("conv", "conv2d", {"filters": 3, "kernel_size": [3, 3], "padding": "same"}),
            Node("add", "add", {}, ("conv", INPUT)),
        ),
    )
    assert ModelSpec.from_json(spec.to_json()) == spec
    assert not spec.is_chain and chain("c", (3,), [("d", "dense", {"units": 2})]).is_chain


def test_bad_specs_are_refused_in_one_line():
    with pytest.raises(SpecError, match="reads 'nowhere', which no earlier layer produces"):
        ModelSpec("m", (3,), (Node("d", "dense", {"units": 2}, ("nowhere",)),))
    with pytest.raises(SpecError, match="unknown layer kind 'teleport'"):
        build_scratch(ModelSpec("m", (3,), (Node("t", "teleport", {}),)))


def test_parity_spec_prints_a_keras_functional_model_with_a_residual_add(capsys, tmp_path):
    path = tmp_path / "spec.json"
    code = main(["spec", KERAS_RESIDUAL, "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 0
    assert "residual" in out and "add" in out
    spec = ModelSpec.from_json(path.read_text())
    assert spec.node("residual").inputs == ("stem_relu", "bn")  # the skip connection is an edge
    assert spec.node("stem_relu").kind == "relu"  # Conv2D(activation="relu") is two layers
    assert json.loads(path.read_text())["input_shape"] == [8, 8, 3]


def test_parity_spec_bad_source_is_one_line_exit_2(capsys, tmp_path):
    for argv, fragment in (
        (["spec", "nowhere.py:build"], "no such file"),
        (["spec", str(tmp_path)], "expected path/to/file.py:factory"),
    ):
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_keras_residual_model_equals_its_spec_in_float64():
    spec = spec_from_source(KERAS_RESIDUAL)
    X, G = draw(spec)
    original = run_original(KERAS_RESIDUAL, None, X, G)
    weights = original["weights"]
    records = agreement(spec, original, weights, X, G)
    assert {r.quantity for r in records} >= {"output", "grad:input", "grad:stem.W", "grad:bn.gamma", "grad:logits.W"}
    assert all(r.passed for r in records), [(r.quantity, r.max_rel_err) for r in records if not r.passed]
    assert max(r.max_rel_err for r in records) <= tolerance("float64")
    # ... and the harness can fail: one wrong entry in one weight is caught.
    bad = {k: v.copy() for k, v in weights.items()}
    bad["conv.W"].reshape(-1)[0] += 0.5
    assert not all(r.passed for r in agreement(spec, original, bad, X, G))


@pytest.mark.parametrize("impl", ["torch", "keras-jax"])
def test_models_generated_from_an_imported_spec_agree_with_scratch(impl):
    spec = spec_from_source(KERAS_RESIDUAL)
    X, G = draw(spec)
    weights = run_original(KERAS_RESIDUAL, None, X, G)["weights"]
    targets = np.random.default_rng(1).standard_normal(G.shape)
    request = RunRequest(
        spec.name, {}, "float64", weights, X, targets, G, spec=spec, loss="mean_squared_error", training=True
    )
    records = compare_runs(spec.name, "float64", run("scratch", request), run(impl, request))
    assert all(r.passed for r in records), [(r.quantity, r.max_rel_err) for r in records if not r.passed]
    corrupted = RunRequest(**{**request.__dict__, "weights": {**weights, "logits.b": weights["logits.b"] + 1.0}})
    assert not all(r.passed for r in compare_runs(spec.name, "float64", run("scratch", request), run(impl, corrupted)))


TORCH_MNIST = str(ROOT / "examples" / "mnist_torch.py") + ":Net"


def test_parity_spec_reads_a_torch_cnn_written_with_functional_calls(capsys):
    code = main(["spec", TORCH_MNIST, "--input-shape", "1,28,28"])
    out = capsys.readouterr().out
    assert code == 0
    for layer in ("conv1", "max_pool2d", "flatten", "fc2", "log_softmax"):
        assert layer in out


def test_torch_functional_cnn_equals_its_spec_in_float64():
    spec = spec_from_source(TORCH_MNIST, (1, 28, 28))
    assert spec.input_shape == (28, 28, 1)  # canonical: channels last
    X, G = draw(spec)
    original = run_original(TORCH_MNIST, (1, 28, 28), X, G)
    records = agreement(spec, original, original["weights"], X, G)
    assert {r.quantity for r in records} >= {"output", "grad:input", "grad:conv1.W", "grad:fc1.W", "grad:fc2.b"}
    assert all(r.passed for r in records), [(r.quantity, r.max_rel_err) for r in records if not r.passed]
    # fc1 reads a flattened NCHW map: the same model's weights read without the flatten_order rule disagree.
    naive = run_original(TORCH_MNIST, (1, 28, 28), X, G, rules_off=["flatten_order"])
    assert np.array_equal(naive["weights"]["conv1.W"], original["weights"]["conv1.W"])  # the same model
    failed = {r.quantity for r in agreement(spec, original, naive["weights"], X, G) if not r.passed}
    assert "output" in failed and "grad:fc1.W" in failed
