"""`parity port` and `parity compare` count an agreement with a registered divergence's rule as agreement,
as `parity zoo` does, and say which rule; without the measurement that applies the rule they disagree."""

from __future__ import annotations

import json

import pytest

from parity.cli import main

ONE_PASS = "keras_torch_batchnorm_one_pass_variance"

# A BatchNormalization of 2 values per channel (batch 2, features) whose inputs sit near 1e4: Keras' torch
# backend takes their variance in one pass, mean(X**2) - mean**2 (keras/src/backend/torch/nn.py `moments`),
# the torch port and scratch in two; after one training step the weights part beyond the trajectory tolerance.
SOURCE = '''
import keras


def build():
    inputs = keras.Input((6,))
    x = keras.layers.Dense(8, bias_initializer=keras.initializers.Constant(1e4), name="dense")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="predictions")(x))
'''


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "offset_bn.py"
    path.write_text(SOURCE)
    return f"{path}:build"


@pytest.mark.parametrize("measured", [True, False], ids=["two-pass-rerun", "rerun-as-shipped"])
def test_an_agreement_with_a_rule_exits_0_and_names_the_rule(measured, source, tmp_path, capsys, monkeypatch):
    """With the source's step re-run with two-pass variances the port agrees with the rule applied: exit 0,
    the verdict names the rule in what is printed, parity.json and parity.md, and `parity compare` of the
    source with the generated model says the same. With the rerun done as shipped (one pass), nothing
    explains the steps: exit 1 and "disagree" from both commands."""
    import parity.ports

    if not measured:
        retrain = parity.ports._retrain
        monkeypatch.setattr(
            parity.ports, "_retrain", lambda side, request, inputs, two_pass: retrain(side, request, inputs, False)
        )
    out = tmp_path / "port"
    code = main(["port", source, "--to", "torch", "--out", str(out), "--dtype", "float64", "--steps", "1"])
    printed = capsys.readouterr().out
    verdict = json.loads((out / "parity.json").read_text())
    (comparison,) = verdict["comparisons"]
    assert not verdict["agree"] and not comparison["agree"], comparison["verdict"]
    assert comparison["rule"] == ONE_PASS, comparison
    if measured:
        assert code == 0, printed
        assert comparison["agree_with_rule"] and verdict["explained"], comparison
        assert comparison["verdict"] == f"agree with rule {ONE_PASS}"
        assert f"port and source agree with rule {ONE_PASS} in float64" in " ".join(printed.split())
        assert "agrees, with a registered divergence's rule applied, with" in (out / "parity.md").read_text()
    else:
        assert code == 1, printed
        assert not comparison["agree_with_rule"] and not verdict["explained"], comparison
        assert comparison["verdict"] == "disagree"
        assert "port and source disagree in float64" in " ".join(printed.split())
    report = tmp_path / "compare.json"
    code = main(["compare", source, f"{out}/model.py:build_with_weights", "--weights-from", "own", "--steps", "1", "--json", str(report)])
    (compared,) = json.loads(report.read_text())
    assert compared["rule"] == ONE_PASS, compared
    assert compared["verdict"] == (f"agree with rule {ONE_PASS}" if measured else "disagree"), compared
    assert code == (0 if measured else 1), capsys.readouterr().out
