"""Two ports of one model compared: the user's own models, the diagnosis, the Python API and the pytest plugin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import parity
from parity.cli import main
from parity.ports import compare, pair
from parity.tolerance import tolerance

ROOT = Path(__file__).resolve().parents[1]
TORCH_NET = f"{ROOT}/examples/bn_torch.py:Net"
HURRIED = f"{ROOT}/examples/bn_keras.py:hurried"
CAREFUL = f"{ROOT}/examples/bn_keras.py:careful"


def test_a_hurried_keras_port_is_caught_and_diagnosed(capsys, tmp_path):
    """Keras' BatchNorm defaults kept: exit 1, the BatchNorm layer named, both rules in the diagnosis."""
    path = tmp_path / "compare.json"
    code = main(["compare", TORCH_NET, HURRIED, "--input-shape", "3,6,6", "--json", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    (result,) = json.loads(path.read_text())
    assert result["agree"] is False
    assert result["first_divergence"].startswith("bn")
    diagnosis = "\n".join(result["diagnosis"])
    assert "batchnorm_epsilon" in diagnosis and "batchnorm_momentum" in diagnosis
    assert "epsilon to Net (torch)'s value makes them agree" in diagnosis
    assert "disagree" in out


def test_the_careful_port_agrees(capsys):
    code = main(["compare", TORCH_NET, CAREFUL, "--input-shape", "3,6,6", "--dtype", "both"])
    assert code == 0, capsys.readouterr().out


def test_comparison_records_every_gradient_and_both_against_scratch():
    result = compare(TORCH_NET, CAREFUL, input_shape=(3, 6, 6))
    quantities = set(result.records["quantity"])
    assert {
        "output",
        "grad:input",
        "grad:conv.W",
        "grad:bn.gamma",
        "grad:bn.beta",
        "grad:fc.W",
        "grad:fc.b",
    } <= quantities
    scratch = result.records[result.records["impl_a"] == "scratch"]
    assert set(scratch["impl_b"]) == {"a", "b"} and scratch["passed"].all()
    assert result.records["max_rel_err"].max() <= tolerance("float64")
    result.assert_agree()


def test_weights_from_b_compares_the_same_way():
    assert compare(TORCH_NET, CAREFUL, input_shape=(3, 6, 6), weights_from="b").agree


def test_assert_agree_raises_a_readable_table():
    result = parity.compare(TORCH_NET, HURRIED, input_shape=(3, 6, 6))
    with pytest.raises(AssertionError) as error:
        result.assert_agree()
    text = str(error.value)
    assert "first diverging layer: bn" in text and "grad:bn.gamma" in text and "epsilon" in text


class Mlp(nn.Module):
    def __init__(self, slope: float) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(5, 6), nn.LeakyReLU(slope), nn.Linear(6, 3)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def test_two_torch_modules_as_objects():
    """Objects, not files: the slope differs, the static diagnosis names the registered case."""
    torch.manual_seed(0)
    same = parity.compare(Mlp(0.25), Mlp(0.25), input_shape=(5,))
    assert same.agree
    different = parity.compare(Mlp(0.25), Mlp(0.01), input_shape=(5,))
    assert not different.agree and different.first_divergence == "act"
    assert any("negative_slope" in line and "leaky_relu" in line for line in different.diagnosis)
    assert different.fixes == {"act.negative_slope": True}


def test_structural_differences_stop_the_pairing():
    a = parity.compare(Mlp(0.25), nn.Sequential(nn.Linear(5, 6), nn.Linear(6, 3)), input_shape=(5,))
    assert not a.agree and a.structural and not len(a.records)


def test_pair_lists_config_differences():
    from parity.spec.model import stack

    a = stack("a", (4,), [("dense", {"units": 3}), ("batch_norm", {"epsilon": 1e-5})])
    b = stack("b", (4,), [("dense", {"units": 3}), ("batch_norm", {"epsilon": 1e-3})])
    structural, differences = pair(a, b)
    assert not structural and [(d.key, d.value_a, d.value_b) for d in differences] == [("epsilon", 1e-5, 1e-3)]
    assert differences[0].divergences == ["batchnorm_epsilon"]
    np.testing.assert_equal(pair(a, a), ([], []))


PLUGIN_TEST = """
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, slope):
        super().__init__()
        self.fc, self.act = nn.Linear(4, 3), nn.LeakyReLU(slope)
        # every pre-activation negative, whatever the unseeded initial weights draw, so the slope always
        # shows (when all 6 of the batch's were positive, about 1 run in 64, the two read as agreeing)
        nn.init.constant_(self.fc.bias, -10.0)

    def forward(self, x):
        return self.act(self.fc(x))


def test_port_agrees(parity_compare):
    result = parity_compare(Net(0.25), Net(0.25), input_shape=(4,))
    assert result.agree


def test_port_disagrees(parity_compare):
    parity_compare(Net(0.25), Net(0.5), input_shape=(4,))
"""


def test_pytest_plugin_from_a_separate_project(pytester):
    """Registered through the pytest11 entry point: a project with only the public API uses the fixture."""
    pytester.makepyfile(test_user_port=PLUGIN_TEST)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*first diverging layer: act*", "*negative_slope*"])


def test_weights_files_are_loaded_safely_and_checked(tmp_path):
    """A torch state_dict loads with weights_only=True; a pickled object is refused; wrong keys are named."""
    from parity.spec.model import SpecError

    torch.manual_seed(3)
    net = torch.nn.Module()
    source = tmp_path / "net.py"
    source.write_text(
        "import torch\nfrom torch import nn\n\n\ndef build():\n    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))\n"
    )
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    good = tmp_path / "good.pt"
    torch.save(model.state_dict(), good)
    own = compare(f"{source}:build", f"{source}:build", input_shape=(4,), weights_a=str(good))
    assert own.agree
    # The loaded weights are the file's, not the factory's: scratch of A ran with them.
    X = np.ones((1, 4))
    with torch.no_grad():
        expected = model.double()(torch.tensor(X)).numpy()
    from parity.ports import load

    side = load(f"{source}:build", "a", (4,), 0, str(good))
    np.testing.assert_allclose(
        side.run(X, np.ones((1, 2)), None, "float64")["output"], expected, rtol=tolerance("float64")
    )

    wrong = tmp_path / "wrong.pt"
    torch.save({"0.weight": torch.zeros(3, 5), "9.bias": torch.zeros(2)}, wrong)
    with pytest.raises(
        SpecError,
        match=r"missing \[.*'0.bias'.*unexpected \['9.bias'\].*0.weight: expected \(3, 4\), received \(3, 5\)",
    ):
        compare(f"{source}:build", f"{source}:build", input_shape=(4,), weights_a=str(wrong))

    pickled = tmp_path / "pickled.pt"
    torch.save({"model": net}, pickled)  # a whole module: unpickling it needs code
    with pytest.raises(SpecError, match="refused to load"):
        compare(f"{source}:build", f"{source}:build", input_shape=(4,), weights_a=str(pickled))


MOMENTUM_ONLY = """
import keras
from keras import layers


def build():
    return keras.Sequential([keras.Input((6, 6, 3)), layers.Conv2D(8, 3, padding="same", use_bias=False),
                             layers.BatchNormalization(epsilon=1e-5), layers.ReLU(), layers.Flatten(), layers.Dense(4)])
"""


def test_a_momentum_difference_shows_only_in_training_steps(tmp_path):
    """Epsilon converted, momentum left at Keras' 0.99: one pass agrees, training steps part on the moving statistics."""
    source = tmp_path / "momentum_only.py"
    source.write_text(MOMENTUM_ONLY)
    one_pass = compare(TORCH_NET, f"{source}:build", input_shape=(3, 6, 6))
    assert one_pass.agree
    assert [d.key for d in one_pass.differences] == ["momentum"]  # named statically all the same
    trained = compare(TORCH_NET, f"{source}:build", input_shape=(3, 6, 6), steps=2, batch=4)
    failed = set(trained.records.loc[~trained.records["passed"].astype(bool), "quantity"])
    assert {"weight:bn.moving_mean", "weight:bn.moving_var"} <= failed
    assert "weight:conv.W" not in failed  # the first step's update of the kernel still agrees
    assert compare(TORCH_NET, CAREFUL, input_shape=(3, 6, 6), steps=2, batch=4).agree


def test_a_large_model_is_collected_at_once_and_a_small_one_is_left_to_python(monkeypatch):
    """``let_go``: a full collection (0.21 s of CPU each) only where the weights reach LARGE_MODEL_BYTES,
    by a port and after a Keras worker's training run."""
    import parity.runners.stored as stored
    import parity.training.runners as training
    from parity.training.spec import TrainResult

    collected = []
    monkeypatch.setattr(stored.gc, "collect", lambda *args: collected.append(args))
    monkeypatch.setattr(stored, "LARGE_MODEL_BYTES", 800)
    stored.let_go({"fc.W": np.zeros((10, 9)), "fc.b": np.zeros(9)})  # 792 bytes
    assert collected == []
    stored.let_go({"fc.W": np.zeros((10, 9)), "fc.b": np.zeros(10)})  # 800 bytes
    assert collected == [()]
    for bias, expected in ((9, 1), (10, 2)):
        weights = [{}, {"fc.W": np.zeros((10, 9)), "fc.b": np.zeros(bias)}]  # judged by the last step's
        result = TrainResult("keras-jax", np.zeros(2), weights)
        monkeypatch.setattr(training, "_keras_steps", lambda request: result)
        assert training.train_keras(None) is result
        assert len(collected) == expected, bias


def _collections_when_forgotten(source: str, input_shape) -> tuple[int, int, int]:
    """In the worker, ``source`` alone built in float64: (the bytes of its weights as its framework counts
    them, forget_built's full collections with LARGE_MODEL_BYTES at those bytes, and at one byte more)."""
    import gc

    import parity.runners.stored as stored
    from parity.sources import _built, forget_built

    forget_built()  # whatever earlier requests left
    model = _built(source, input_shape, 0, "float64")[0]
    if hasattr(model, "count_params"):  # Keras: every weight, trainable or not, 8 bytes in float64
        counted = model.count_params() * 8
    else:  # torch: parameters and buffers (BatchNorm's num_batches_tracked is int64, 8 bytes too)
        counted = sum(t.numel() for t in model.state_dict().values()) * 8
    collections, collect, limit = [], gc.collect, stored.LARGE_MODEL_BYTES
    gc.collect = lambda *args: collections.append(args)
    try:
        for stored.LARGE_MODEL_BYTES in (counted, counted + 1):
            _built(source, input_shape, 0, "float64")
            forget_built()
        return counted, collections.count(()), len(collections)
    finally:
        gc.collect, stored.LARGE_MODEL_BYTES = collect, limit


@pytest.mark.parametrize("source, input_shape", [(TORCH_NET, (3, 6, 6)), (CAREFUL, None)], ids=["torch", "keras"])
def test_forgetting_built_models_collects_only_where_they_are_large(source, input_shape):
    """``forget_built`` (in the worker): a full collection where the models it lets go reach
    LARGE_MODEL_BYTES, by their weights' bytes (a torch module's parameters and buffers, a Keras model's
    variables); none after a smaller one, whose garbage Python's own collector frees."""
    from parity.runners.pool import keras_worker

    counted, at_limit, calls = keras_worker("torch").call("tests.test_ports:_collections_when_forgotten", source, input_shape)
    assert counted > 0
    assert (at_limit, calls) == (1, 1), "collected below the limit, or not at it"


def test_a_comparison_collects_only_what_it_made(monkeypatch):
    """``compare`` runs inside ``collecting_only_new_objects``: its ``let_go`` walks the objects the
    comparison made, not the whole process (frozen meanwhile), and everything is given back after."""
    import gc

    import parity.ports as ports

    frozen = []
    monkeypatch.setattr(ports, "let_go", lambda weights: frozen.append(gc.get_freeze_count()))
    torch.manual_seed(0)
    assert parity.compare(Mlp(0.25), Mlp(0.25), input_shape=(5,)).agree
    assert frozen and min(frozen) > 0, frozen
    assert gc.get_freeze_count() == 0
