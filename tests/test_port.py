"""`parity port`: the frameworks' tutorial models ported both ways, each port agreeing with its source,
its model.py running on its own in a fresh process, the failures it must catch, and every kind's
``source`` giving the same spec as its ``build``.

What to port is data (``PORTS``); how is the generic code below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from parity.cli import main
from parity.layers import REGISTRY
from parity.runners.pool import keras_worker
from parity.spec.codegen import model_source
from parity.spec.model import ModelSpec, Node, SpecError, same_structure
from parity.tolerance import TRAJECTORY_FLOAT64_REL, tolerance

ROOT = Path(__file__).resolve().parents[1]
TOL = tolerance("float64")
# one pytest-xdist worker for this file (with --dist loadgroup): the eight ports of ``ported`` are made once
pytestmark = pytest.mark.xdist_group("port")


@dataclass(frozen=True)
class Case:
    source: str  # relative to the repository root
    to: str
    input_shape: tuple[int, ...] | None  # a torch source's sample, NCHW
    why: str


PORTS = [
    Case("examples/mnist_torch.py:Net", "keras", (1, 28, 28), "functional calls (F.relu, F.max_pool2d, torch.flatten)"),
    Case("examples/bn_torch.py:Net", "keras", (3, 6, 6), "BatchNorm: eps and momentum carried over"),
    Case("examples/convnet_keras.py:build", "torch", None, "Sequential, activation= strings, Dropout"),
    Case("examples/residual_keras.py:build", "torch", None, "a residual Add with BatchNorm"),
    Case("examples/pool_twice_torch.py:Net", "keras", (3, 16, 16), "one pooling module called twice"),
    Case("examples/residual_torch.py:Net", "keras", (4, 6, 6), "a residual block with BatchNorm, both modes"),
    Case("examples/decoder_torch.py:Net", "keras", (2, 8, 8), "ConvTranspose2d(padding=1): Keras' 'same'"),
    Case("examples/decoder_keras.py:build", "torch", None, "Conv2DTranspose 'same' (odd row cut at the end)"),
    Case("examples/causal_attention_keras.py:build", "torch", None, "use_causal_mask=True: torch's inverted attn_mask"),
    Case("examples/causal_attention_torch.py:Net", "keras", (6, 8), "a causal attn_mask buffer: use_causal_mask"),
]


def _shape_arg(case: Case) -> list[str]:
    return ["--input-shape", ",".join(map(str, case.input_shape))] if case.input_shape else []


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> dict[str, Path]:
    """Each case ported once, through the command line; the folder of each."""
    folders = {}
    for case in PORTS:
        out = tmp_path_factory.mktemp("ports") / case.source.split("/")[-1].replace(".py:", "_")
        code = main(["port", f"{ROOT}/{case.source}", "--to", case.to, "--out", str(out), *_shape_arg(case)])
        assert code == 0, (case, (out / "parity.md").read_text() if out.exists() else "nothing written")
        folders[case.source] = out
    return folders


@pytest.mark.parametrize("case", PORTS, ids=[f"{c.source.split('/')[-1]}->{c.to}" for c in PORTS])
def test_the_port_agrees_with_its_source(case, ported):
    """Outputs, every gradient and every weight within float64's tolerance; the files in the target's format."""
    folder = ported[case.source]
    weights = "model.weights.h5" if case.to == "keras" else "model.pt"
    assert sorted(p.name for p in folder.iterdir()) == sorted(["model.py", weights, "parity.json", "parity.md"])
    verdict = json.loads((folder / "parity.json").read_text())
    result, result32 = verdict["comparisons"]
    assert verdict["agree"] and result["agree"] and result["dtype"] == "float64"
    assert result32["agree"] and result32["dtype"] == "float32"
    static = [r for r in result["records"] if r.get("step") is None]
    quantities = {r["quantity"] for r in static}
    assert {"output", "grad:input"} <= quantities
    assert any(q.startswith("weight:") for q in quantities) and any(
        q.startswith("grad:") and "." in q for q in quantities
    )
    assert max(r["max_rel_err"] for r in static) <= TOL
    # five optimiser steps (BatchNorm in training mode there): source and port against scratch, and each other
    trained = [r for r in result["records"] if r.get("step") is not None]
    assert {r["step"] for r in trained} == {1, 2, 3, 4, 5}
    assert {(r["impl_a"], r["impl_b"]) for r in trained} >= {("scratch", "a"), ("scratch", "b")}
    assert {"loss"} < {r["quantity"] for r in trained}
    assert max(r["max_rel_err"] for r in trained) <= TRAJECTORY_FLOAT64_REL
    if "BatchNorm" in case.why:  # the running statistics, updated in training mode, compared step by step
        assert any(r["quantity"].endswith("moving_mean") for r in trained)
    assert "agrees with" in (folder / "parity.md").read_text()
    if case.to == "torch":  # torch's own loader, with nothing but tensors
        state = torch.load(folder / weights, weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())


RUN_ALONE = """
import importlib.util, json, sys, traceback
import numpy as np
runs = json.loads(sys.argv[1])
if any(target == "keras" for _, target, _, _ in runs):
    import keras
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
for i, (path, target, x_path, y_path) in enumerate(runs):
    try:
        spec = importlib.util.spec_from_file_location(f"model_{i}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.build_with_weights()
        X = np.load(x_path)
        if target == "torch":
            import torch
            with torch.no_grad():
                Y = model.eval()(torch.from_numpy(X)).numpy()
        else:
            Y = keras.ops.convert_to_numpy(model(X, training=False))
        np.save(y_path, Y)
    except Exception:
        open(y_path + ".error", "w").write(traceback.format_exc())
"""


@pytest.fixture(scope="module")
def run_alone(ported, tmp_path_factory) -> dict[str, tuple[np.ndarray | str, np.ndarray]]:
    """Each generated model.py imported and run in one fresh process (no PYTHONPATH, outside the repository):
    per source, the port's output (or the traceback) and the source's own output on the same input.

    One process for the eight models, not one each: what is tested is that a model.py needs nothing of
    the repository (the process has neither PYTHONPATH nor the repository as its folder, and each file is
    imported on its own); starting Python, Keras and TensorFlow eight times tested nothing more.
    """
    folder = tmp_path_factory.mktemp("alone")
    runs, sources = [], {}
    for i, case in enumerate(PORTS):
        spec = keras_worker("torch").call("parity.sources:describe", f"{ROOT}/{case.source}", case.input_shape)[1]
        X = np.random.default_rng(0).standard_normal((3, *spec.input_shape))  # canonical, channels-last
        G = np.zeros((3, *_output_shape(spec)))
        sources[case.source] = keras_worker("torch").call(
            "parity.sources:run_source", f"{ROOT}/{case.source}", case.input_shape, X, G, None, 0, "float64"
        )["output"]
        target_X = np.moveaxis(X, -1, 1) if case.to == "torch" and X.ndim == 4 else X  # NCHW for torch
        np.save(folder / f"x{i}.npy", target_X)
        runs.append((str(ported[case.source] / "model.py"), case.to, f"x{i}.npy", f"y{i}.npy"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    # TensorFlow computes float64 in float64; Keras 3.15 on torch demotes matmuls to float32 (keras-team/keras
    # issue #23704; the workers patch it, parity.runners.worker.keep_float64), which a fresh process must not need
    env["KERAS_BACKEND"] = "tensorflow"
    done = subprocess.run(
        [sys.executable, "-c", RUN_ALONE, json.dumps(runs)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    outputs = {}
    for i, case in enumerate(PORTS):
        error = folder / f"y{i}.npy.error"
        outputs[case.source] = (error.read_text() if error.exists() else np.load(folder / f"y{i}.npy"), sources[case.source])
    return outputs


@pytest.mark.parametrize("case", PORTS, ids=[f"{c.source.split('/')[-1]}->{c.to}" for c in PORTS])
def test_the_generated_model_runs_on_its_own(case, run_alone):
    """model.py imported in a fresh process (no PYTHONPATH, not in the repository): the source's outputs."""
    Y, source = run_alone[case.source]
    assert not isinstance(Y, str), Y[-2000:]
    if case.to == "torch" and Y.ndim == 4:  # an image out of torch is NCHW; the source's is channels-last
        Y = np.moveaxis(Y, 1, -1)
    assert Y.shape == source.shape
    np.testing.assert_allclose(Y, source, rtol=TOL, atol=TOL)


def _output_shape(spec: ModelSpec) -> tuple[int, ...]:
    from parity.spec.generate import build_scratch

    return tuple(build_scratch(spec).output_shape)


# What it must catch --------------------------------------------------------------------------------


def test_a_corrupted_weights_file_disagrees(ported, tmp_path, capsys):
    """One weight changed in model.pt: compare (each its own weights) exits 1 and names the layer."""
    case = PORTS[3]
    copy = tmp_path / "corrupted"
    copy.mkdir()
    (copy / "model.py").write_text((ported[case.source] / "model.py").read_text())
    state = torch.load(ported[case.source] / "model.pt", weights_only=True)
    state["conv.weight"] = state["conv.weight"] * (1 + 1e-6)
    torch.save(state, copy / "model.pt")
    path = tmp_path / "compare.json"
    code = main(
        ["compare", f"{ROOT}/{case.source}", f"{copy}/model.py:build_with_weights", "--weights-from", "own"]
        + ["--json", str(path)]
    )
    assert code == 1, capsys.readouterr().out
    (result,) = json.loads(path.read_text())
    assert result["first_divergence"] == "conv"
    failed = {r["quantity"] for r in result["records"] if not r["passed"]}
    assert "weight:conv.W" in failed and "output" in failed


def test_a_port_that_loads_wrong_weights_exits_1(monkeypatch, tmp_path, capsys):
    """A generator whose build_with_weights scales one kernel: the port is written, and says it disagrees."""
    import parity.porting

    original = parity.porting.model_source

    def tampered(spec, target, origin):
        text = original(spec, target, origin)
        line = '    model.load_weights(Path(__file__).with_name("model.weights.h5"))\n'
        assert line in text
        return text.replace(line, line + '    model.get_layer("fc").kernel.assign(model.get_layer("fc").kernel * 2)\n')

    monkeypatch.setattr(parity.porting, "model_source", tampered)
    out = tmp_path / "port"
    code = main(
        ["port", f"{ROOT}/examples/bn_torch.py:Net", "--to", "keras", "--input-shape", "3,6,6", "--out", str(out)]
        + ["--dtype", "float64", "--steps", "0"]
    )
    assert code == 1, capsys.readouterr().out
    verdict = json.loads((out / "parity.json").read_text())
    assert verdict["agree"] is False and verdict["comparisons"][0]["first_divergence"] == "fc"
    assert "DISAGREES" in (out / "parity.md").read_text()


def test_steps_and_optimizer_reach_the_training_runs(monkeypatch, tmp_path):
    """`--steps 2 --optimizer adam --dtype float64`: every training run (source, port, scratch for each)
    takes two batches with Adam, and the verdict holds steps 1 and 2 only, in float64 only."""
    import parity.train

    seen = []
    original = parity.train.run_training

    def recording(impl, request, **options):
        seen.append((impl, request.optimizer["kind"], len(request.batches)))
        return original(impl, request, **options)

    monkeypatch.setattr(parity.train, "run_training", recording)
    out = tmp_path / "port"
    argv = ["port", f"{ROOT}/examples/bn_torch.py:Net", "--to", "keras", "--input-shape", "3,6,6", "--out", str(out)]
    assert main([*argv, "--steps", "2", "--optimizer", "adam", "--dtype", "float64"]) == 0
    assert sorted(seen) == sorted(
        [("torch", "adam", 2), ("keras-torch", "adam", 2), ("scratch", "adam", 2), ("scratch", "adam", 2)]
    )
    (result,) = json.loads((out / "parity.json").read_text())["comparisons"]
    assert result["dtype"] == "float64"
    assert {r["step"] for r in result["records"]} - {None} == {1, 2}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--to", "jax"], "--to must be keras or torch"),
        ([], "needs --input-shape"),
        (["--to", "keras", "--input-shape", "1,28"], "input"),
        (["--input-shape", "1,28,28", "--steps", "-1"], "--steps must be 0 or more"),
        (["--input-shape", "1,28,28", "--optimizer", "lion"], "unknown optimizer 'lion'"),
    ],
    ids=["unknown-target", "torch-without-input-shape", "wrong-input-shape", "negative-steps", "unknown-optimizer"],
)
def test_bad_input_exits_2_in_one_line_and_writes_nothing(argv, message, tmp_path, capsys):
    out = tmp_path / "port"
    argv = argv if "--to" in argv else ["--to", "keras", *argv]
    code = main(["port", f"{ROOT}/examples/mnist_torch.py:Net", "--out", str(out), *argv])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_failed_port_leaves_an_existing_folder_as_it_was(tmp_path, capsys):
    out = tmp_path / "port"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code = main(["port", f"{ROOT}/examples/mnist_torch.py:Net", "--to", "keras", "--out", str(out)])
    assert code == 2
    assert [p.name for p in tmp_path.iterdir()] == ["port"] and (out / "keep.txt").read_text() == "mine"


def test_a_kind_without_source_is_one_line(monkeypatch):
    import dataclasses

    from parity.layers import base

    kind = REGISTRY["relu"]
    monkeypatch.setitem(REGISTRY.kinds, "relu", dataclasses.replace(kind, keras=base.KerasSide(build=kind.keras.build)))
    spec = ModelSpec("m", (4,), (Node("fc", "dense", {"units": 3}), Node("act", "relu", {}, ("fc",))))
    with pytest.raises(SpecError, match="layer kind 'relu' has no Keras source"):
        model_source(spec, "keras", "m.py:m")


# source and build agree, for every kind ------------------------------------------------------------


def _image_spec() -> ModelSpec:
    n = Node
    return ModelSpec(
        "images",
        (8, 8, 3),
        (
            n("c1", "conv2d", {"filters": 4, "kernel_size": [3, 3], "padding": "same"}),
            n("bn", "batch_norm", {"epsilon": 1e-5, "momentum": 0.9}, ("c1",)),
            n("r", "relu", {}, ("bn",)),
            n("c2", "conv2d", {"filters": 4, "kernel_size": [3, 3], "padding": "same", "use_bias": False}, ("r",)),
            n("sum", "add", {}, ("r", "c2")),
            n("cat", "concatenate", {"axis": -1}, ("sum", "c1")),
            n("pad", "zero_padding2d", {"padding": [[1, 0], [0, 1]]}, ("cat",)),
            n("mp", "max_pool2d", {"pool_size": [2, 2], "strides": [2, 2], "padding": "same"}, ("pad",)),
            n("ap", "avg_pool2d", {"pool_size": [2, 2], "strides": [1, 1]}, ("mp",)),
            n("c3", "conv2d", {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}, ("ap",)),
            n("flat", "flatten", {}, ("c3",)),
            n("sm", "softmax", {}, ("flat",)),  # over an NCHW map's channels torch's importer reads no nn.Softmax
            n("fc", "dense", {"units": 6}, ("sm",)),
            n("leaky", "leaky_relu", {"negative_slope": 0.1}, ("fc",)),
            n("drop", "dropout", {"rate": 0.25}, ("leaky",)),
            n("bn1", "batch_norm", {"epsilon": 1e-3, "momentum": 0.99}, ("drop",)),
            n("sig", "sigmoid", {}, ("bn1",)),
            n("th", "tanh", {}, ("sig",)),
            n("ge", "gelu", {"approximate": False}, ("th",)),
            n("r6", "relu6", {}, ("ge",)),
            n("si", "silu", {}, ("r6",)),
            n("hsig", "hard_sigmoid", {}, ("si",)),
            n("hsw", "hard_swish", {}, ("hsig",)),
            n("lin", "linear", {}, ("hsw",)),
            n("ls", "log_softmax", {}, ("lin",)),
        ),
    )


def _sequence_spec() -> ModelSpec:
    n = Node
    return ModelSpec(
        "sequences",
        (5, 3),
        (
            n("rnn", "simple_rnn", {"units": 4, "return_sequences": True}),
            n("lstm", "lstm", {"units": 4, "return_sequences": True}, ("rnn",)),
            n("gru_before", "gru", {"units": 3, "return_sequences": True, "reset_after": False}, ("lstm",)),
            n("bi", "bidirectional", {"units": 2, "return_sequences": True}, ("gru_before",)),
            n("gru", "gru", {"units": 3, "use_bias": False}, ("bi",)),
            n("ls", "layer_scale", {"init_values": 0.5, "projection_dim": 3}, ("gru",)),
            n("fc", "dense", {"units": 2}, ("ls",)),
        ),
    )


def _attention_spec() -> ModelSpec:
    """Norms and attention on (T, E) sequences, then nn.Conv1d's (B, C, L) between them and an nn.LSTM:
    the written forward permutes where the generated SpecModel does."""
    n = Node
    return ModelSpec(
        "attention",
        (6, 8),
        (
            n("ln", "layer_norm", {"epsilon": 1e-5}),
            n("mha", "multi_head_attention", {"num_heads": 2, "key_dim": 4}, ("ln",)),
            n("ln_plain", "layer_norm", {"axis": [-2, -1], "scale": False, "center": False}, ("mha",)),
            n("ln_scale", "layer_norm", {"scale": True, "center": False, "epsilon": 1e-3}, ("ln_plain",)),
            n("mha_nobias", "multi_head_attention", {"num_heads": 4, "key_dim": 2, "use_bias": False}, ("ln_scale",)),
            n("mha_causal", "multi_head_attention", {"num_heads": 2, "key_dim": 4, "causal": True}, ("mha_nobias",)),
            n("enc", "transformer_encoder", {"num_heads": 2, "dim_feedforward": 6}, ("mha_causal",)),
            n(
                "enc_pre",
                "transformer_encoder",
                {"num_heads": 4, "activation": "gelu", "norm_first": True, "use_bias": False, "layer_norm_eps": 1e-3},
                ("enc",),
            ),
            n("rms", "rms_norm", {"epsilon": 1e-6}, ("enc_pre",)),
            n("rms2", "rms_norm", {"axis": [-2, -1], "epsilon": 1e-5}, ("rms",)),
            n("c1", "conv1d", {"filters": 4, "kernel_size": 3, "padding": "causal", "dilation_rate": 2}, ("rms2",)),
            n("c2", "conv1d", {"filters": 4, "kernel_size": 3, "padding": "same"}, ("c1",)),
            n(
                "c3",
                "conv1d",
                {"filters": 4, "kernel_size": 2, "strides": 2, "padding": "same", "use_bias": False},
                ("c2",),
            ),
            n("c4", "conv1d", {"filters": 3, "kernel_size": 2}, ("c3",)),
            n("lstm", "lstm", {"units": 4, "return_sequences": True}, ("c4",)),
            n("steps_avg", "global_avg_pool1d", {}, ("lstm",)),
            n("steps_max", "global_max_pool1d", {}, ("lstm",)),
            n("cat", "concatenate", {"axis": -1}, ("steps_avg", "steps_max")),
            n("fc", "dense", {"units": 2}, ("cat",)),
        ),
    )


def _token_spec() -> ModelSpec:
    n = Node
    return ModelSpec(
        "tokens",
        (6,),
        (n("emb", "embedding", {"input_dim": 11, "output_dim": 4}), n("fc", "dense", {"units": 2}, ("emb",))),
        input_dtype="int",
    )


def _depthwise_spec() -> ModelSpec:
    """Chains only: a Keras functional model lists parallel branches in its own order."""
    n = Node
    return ModelSpec(
        "depthwise",
        (8, 8, 3),
        (
            n("dw", "depthwise_conv2d", {"padding": "same", "depth_multiplier": 2}),
            n("dw2", "depthwise_conv2d", {"strides": [2, 2], "padding": "same", "use_bias": False}, ("dw",)),
            n("dw3", "depthwise_conv2d", {"kernel_size": [2, 3], "dilation_rate": [2, 1]}, ("dw2",)),
            n("avg_keep", "global_avg_pool2d", {"keepdims": True}, ("dw3",)),
            n("max_keep", "global_max_pool2d", {"keepdims": True}, ("avg_keep",)),
            n("pixels_max", "global_max_pool2d", {}, ("max_keep",)),
            n("fc", "dense", {"units": 4}, ("pixels_max",)),
        ),
    )


def _pooled_spec() -> ModelSpec:
    n = Node
    return ModelSpec(
        "pooled",
        (6, 6, 2),
        (
            n("dw", "depthwise_conv2d", {}),
            n("pixels_avg", "global_avg_pool2d", {}, ("dw",)),
            n("fc", "dense", {"units": 3}, ("pixels_avg",)),
        ),
    )


def _inception_spec() -> ModelSpec:
    """Xception's separable convolution, NASNet's cropping and InceptionResNetV2's scaled residual
    (``CustomScaleLayer``: x + scale * branch), in one small chain with a skip."""
    n = Node
    return ModelSpec(
        "inception",
        (8, 8, 3),
        (
            n("sep", "separable_conv2d", {"filters": 4, "padding": "same", "depth_multiplier": 2}),
            n("crop", "cropping2d", {"cropping": [[1, 1], [0, 1]]}, ("sep",)),
            n("up", "conv2d", {"filters": 4, "kernel_size": [1, 1]}, ("crop",)),
            n("res", "scaled_add", {"scale": 0.17}, ("crop", "up")),
            n("pool", "global_avg_pool2d", {}, ("res",)),
            n("fc", "dense", {"units": 3}, ("pool",)),
        ),
    )


def _conv_head_spec() -> ModelSpec:
    """MobileNet's classifier head: a 1x1 Conv2D over a pooled map and a Reshape to the classes. The
    torch port permutes before each reshape ((B, 5, 1, 1) -> (B, 1, 1, 5) -> (B, 5)), which the importer
    must read back as the reshape it is, not as a flatten of the channels-first map."""
    n = Node
    return ModelSpec(
        "conv_head",
        (6, 6, 3),
        (
            n("features", "conv2d", {"filters": 8, "kernel_size": [3, 3]}),
            n("pool", "global_avg_pool2d", {}, ("features",)),
            n("map", "reshape", {"target_shape": [1, 1, 8]}, ("pool",)),
            n("preds", "conv2d", {"filters": 5, "kernel_size": [1, 1]}, ("map",)),
            n("logits", "reshape", {"target_shape": [5]}, ("preds",)),
            n("probs", "softmax", {}, ("logits",)),
        ),
    )


def _decoder_spec() -> ModelSpec:
    """Down with a Conv2D, back up with Conv2DTranspose: nn.ConvTranspose2d where its padding and
    output_padding express Keras' crops, framework.pytorch.conv.ConvTranspose2d where they do not. (An
    output_padding equal to Keras' default reads back from torch as None, the default.)"""
    n = Node
    return ModelSpec(
        "decoder",
        (6, 6, 2),
        (
            n("down", "conv2d", {"filters": 4, "kernel_size": [3, 3], "strides": [2, 2], "padding": "same"}),
            n("up", "conv2d_transpose", {"filters": 3, "strides": [2, 2], "padding": "same"}, ("down",)),
            n(
                "up2",
                "conv2d_transpose",
                {"filters": 2, "kernel_size": [4, 4], "strides": [2, 2], "padding": "same"},
                ("up",),
            ),
            n(
                "out",
                "conv2d_transpose",
                {"filters": 2, "kernel_size": [2, 3], "strides": [3, 2], "output_padding": [2, 1], "use_bias": False},
                ("up2",),
            ),
        ),
    )


def _raw_ops_spec() -> ModelSpec:
    """Attention written out of tensor operations (parity/layers/tensor_ops.py)."""
    n = Node
    causal = [[j > i for j in range(4)] for i in range(4)]
    return ModelSpec(
        "raw_ops",
        (4, 6),
        (
            n("pos", "add_table", {"shape": [4, 6]}),
            n("first", "slice", {"start": 0, "stop": 4}, ("pos",)),
            n("heads", "reshape", {"target_shape": [4, 2, 2]}, ("first",)),
            n("by_head", "permute", {"dims": [2, 1, 3]}, ("heads",)),
            n("kt", "permute", {"dims": [1, 3, 2]}, ("by_head",)),
            n("scores", "matmul", {}, ("by_head", "kt")),
            n("scaled", "scale", {"factor": 2.0, "divide": True}, ("scores",)),
            n("masked", "masked_fill", {"mask": causal, "value": float("-inf")}, ("scaled",)),
            n("weights", "softmax", {}, ("masked",)),
            n("mixed", "matmul", {}, ("weights", "by_head")),
            n("back", "permute", {"dims": [2, 1, 3]}, ("mixed",)),
            n("merged", "reshape", {"target_shape": [4, 4]}, ("back",)),
            n("tripled", "scale", {"factor": 3.0}, ("merged",)),
            n("fc", "dense", {"units": 2}, ("tripled",)),
        ),
    )


def _preprocessing_spec() -> ModelSpec:
    """EfficientNet's stem and a squeeze-and-excitation block: pixels rescaled (per channel too) and
    standardised, a convolution, its (1, 1, C) gate (the channel means reshaped, two 1x1 convolutions,
    a sigmoid) times the map."""
    n = Node
    return ModelSpec(
        "preprocessing",
        (6, 6, 3),
        (
            n("scaled", "rescaling", {"scale": 1 / 127.5, "offset": -1.0}),
            n("per_channel", "rescaling", {"scale": [0.5, 1.0, 2.0], "offset": 0.0}, ("scaled",)),
            n("standardised", "normalization", {}, ("per_channel",)),
            n("restored", "normalization", {"invert": True}, ("standardised",)),
            n("stem", "conv2d", {"filters": 4, "kernel_size": [3, 3]}, ("restored",)),
            n("squeeze", "global_avg_pool2d", {}, ("stem",)),
            n("se_reshape", "reshape", {"target_shape": [1, 1, 4]}, ("squeeze",)),
            n("se_reduce", "conv2d", {"filters": 2, "kernel_size": [1, 1]}, ("se_reshape",)),
            n("se_expand", "conv2d", {"filters": 4, "kernel_size": [1, 1]}, ("se_reduce",)),
            n("se_gate", "sigmoid", {}, ("se_expand",)),
            n("excite", "multiply", {}, ("stem", "se_gate")),
            n("drop_path", "dropout", {"rate": 0.2, "noise_shape": [1, 1, 1]}, ("excite",)),
        ),
    )


SPECS = [
    _decoder_spec(),
    _preprocessing_spec(),
    _image_spec(),
    _sequence_spec(),
    _attention_spec(),
    _depthwise_spec(),
    _pooled_spec(),
    _token_spec(),
    _raw_ops_spec(),
    _conv_head_spec(),
    _inception_spec(),
]


def test_the_specs_cover_every_kind():
    assert {node.kind for spec in SPECS for node in spec.nodes} == set(REGISTRY.names())


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@pytest.mark.parametrize("target", ["torch", "keras"])
def test_source_builds_what_build_builds(spec, target, tmp_path):
    """The generated model.py's build() and the registry's build give the same spec, and both the spec itself."""
    from parity.ports import _torch_shape

    path = tmp_path / "model.py"
    path.write_text(model_source(spec, target, "test"))
    torch_shape = _torch_shape(spec.input_shape) if target == "torch" else None
    builder = f"parity.spec.generate:build_{target}"
    worker = keras_worker("torch")
    built = worker.call("parity.sources:spec_of_builder", builder, {"spec": spec}, torch_shape)
    written = worker.call("parity.sources:spec_in_worker", f"{path}:build", torch_shape)
    assert same_structure(built, written) == [], path.read_text()
    assert same_structure(_readable(spec, target), written) == []


def _readable(spec: ModelSpec, target: str) -> ModelSpec:
    """The spec as the importers read it back: nn.Identity and Activation("linear") compute nothing, so
    torch.export sees no linear layer and the Keras importer makes none."""
    nodes, skipped = [], {}
    for node in spec.nodes:
        inputs = tuple(skipped.get(i, i) for i in node.inputs)
        if node.kind == "linear":
            skipped[node.name] = inputs[0]
            continue
        nodes.append(Node(node.name, node.kind, node.config, inputs, node.shares))
    return ModelSpec(spec.name, spec.input_shape, tuple(nodes), skipped.get(spec.output, spec.output), spec.input_dtype)


def test_the_python_api_ports_too(tmp_path):
    import parity

    # float64 without training steps: the API's path is what is tested; the full verdict (float32, five
    # steps) of this same source goes through the command line in ``ported``
    result = parity.port(
        f"{ROOT}/examples/bn_torch.py:Net",
        to="keras",
        out=tmp_path / "port",
        input_shape=(3, 6, 6),
        dtypes=("float64",),
        steps=0,
    )
    assert result.agree and (tmp_path / "port" / "model.py").is_file()


def _count_imports(start: bool) -> dict:
    """In the worker: from ``start``, count ``parity.sources.import_model`` calls by the model's framework;
    with ``start`` False, the counts so far, and the function restored."""
    import parity.sources as sources

    if start:
        original = sources.import_model
        counts = {"torch": 0, "keras": 0}

        def counted(model, *args, **kwargs):
            counts["torch" if sources._is_torch(model) else "keras"] += 1
            return original(model, *args, **kwargs)

        counted.original, counted.counts = original, counts
        sources.import_model = counted
        return counts
    counted = sources.import_model
    sources.import_model = counted.original
    return counted.counts


def _fresh_spec(source: str, input_shape) -> tuple[ModelSpec, ModelSpec]:
    """In the worker: (the spec ``describe`` gives, the spec of a new build imported afresh)."""
    from parity.runners.precision import set_keras_precision
    from parity.sources import describe, import_model, load_model

    described = describe(source, input_shape)[1]
    set_keras_precision("float64")
    torch.manual_seed(0)
    return described, import_model(load_model(source), input_shape)


def test_a_port_is_imported_once_and_its_build_with_weights_has_its_spec(tmp_path):
    """Importing a torch model is a ``torch.export`` capture: a port to torch is imported once (its
    ``build``, to write its weights), and its ``build_with_weights`` has that spec (``remember_spec``)
    through the comparison, and again when the worker has let go of its builds (parity zoo's round trip)."""
    from parity.porting import port
    from parity.ports import compare

    source = f"{ROOT}/examples/convnet_keras.py:build"
    worker = keras_worker("torch")
    worker.call("tests.test_port:_count_imports", True)
    try:
        result = port(source, "torch", tmp_path / "torch", dtypes=("float64",), steps=0)
        worker.call("parity.sources:forget_built")
        again = compare(source, f"{tmp_path}/torch/model.py:build_with_weights", weights_from="own")
    finally:
        counts = worker.call("tests.test_port:_count_imports", False)
    assert result.agree and again.agree
    assert counts["torch"] == 1, counts
    described, fresh = worker.call("tests.test_port:_fresh_spec", f"{tmp_path}/torch/model.py:build_with_weights", (1, 28, 28))
    assert described == fresh
