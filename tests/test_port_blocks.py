"""A Keras model whose layers are named by block (``conv2_block1_1_conv``, as keras.applications
names them) ported to torch: the generated model nests the blocks as submodules
(``self.conv2.block1.conv1``, state_dict key ``conv2.block1.conv1.weight``), its weights load, it
agrees with its source, runs alone in a fresh process, and ports back to Keras agreeing too.
How blocks are read off names is ``parity.spec.blocks``; its rules are tested here on
keras.applications' own names."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from parity.cli import main
from parity.spec.blocks import attributes
from parity.spec.codegen import identifier
from parity.tolerance import tolerance

ROOT = Path(__file__).resolve().parents[1]
SOURCE = f"{ROOT}/examples/blocks_keras.py:build"


def _paths(names: list[str]) -> dict[str, tuple[str, ...]]:
    return attributes(names, lambda name: identifier(name.replace(".", "_")))


@pytest.mark.parametrize(
    "names, expected",
    [
        (  # ResNet50V2
            ["conv1_conv", "conv1_pad", "conv2_block1_preact_bn", "conv2_block1_preact_relu", "conv2_block1_1_conv",
             "conv2_block1_0_conv", "conv2_block2_1_conv", "conv2_block2_2_conv", "post_bn", "post_relu",
             "predictions"],
            [("conv1", "conv"), ("conv1", "pad"), ("conv2", "block1", "preact", "bn"),
             ("conv2", "block1", "preact", "relu"), ("conv2", "block1", "conv1"), ("conv2", "block1", "conv0"),
             ("conv2", "block2", "conv1"), ("conv2", "block2", "conv2"), ("post", "bn"), ("post", "relu"),
             ("predictions",)],
        ),
        (  # MobileNetV2: a number joins a word without digits (block_3); a layer and its _BN stay two members
            ["Conv1", "bn_Conv1", "Conv1_relu", "expanded_conv_depthwise", "expanded_conv_project",
             "expanded_conv_project_BN", "block_3_expand", "block_3_expand_BN", "Conv_1", "Conv_1_bn"],
            [("Conv1",), ("bn_Conv1",), ("Conv1_relu",), ("expanded_conv", "depthwise"),
             ("expanded_conv", "project"), ("expanded_conv", "project_BN"), ("block_3", "expand"),
             ("block_3", "expand_BN"), ("Conv_1",), ("Conv_1_bn",)],
        ),
        (  # DenseNet121
            ["conv3_block1_0_bn", "conv3_block1_1_conv", "conv3_block2_0_bn", "pool3_bn", "pool3_conv"],
            [("conv3", "block1", "bn0"), ("conv3", "block1", "conv1"), ("conv3", "block2_0_bn"), ("pool3", "bn"),
             ("pool3", "conv")],
        ),
        (  # torch names stay flat: nothing here is a block
            ["features.0", "features.3", "classifier"],
            [("features_0",), ("features_3",), ("classifier",)],
        ),
        (  # Keras' automatic names are layers of one type numbered, not blocks
            ["conv2d", "conv2d_1", "max_pooling2d", "max_pooling2d_1", "batch_normalization",
             "batch_normalization_1", "dense"],
            [("conv2d",), ("conv2d_1",), ("max_pooling2d",), ("max_pooling2d_1",), ("batch_normalization",),
             ("batch_normalization_1",), ("dense",)],
        ),
        (  # two members of one block would share an attribute (conv1): nothing is nested
            ["blk1_1_conv", "blk1_conv1", "other"],
            [("blk1_1_conv",), ("blk1_conv1",), ("other",)],
        ),
    ],
    ids=["resnet50v2", "mobilenetv2", "densenet", "torch-names", "keras-names", "clash"],
)  # fmt: skip
def test_blocks_are_read_off_the_names(names, expected):
    assert _paths(names) == dict(zip(names, expected, strict=True))


@pytest.fixture(scope="module")
def ported(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("blocks") / "torch"
    code = main(["port", SOURCE, "--to", "torch", "--out", str(out), "--steps", "1"])
    assert code == 0, (out / "parity.md").read_text() if out.exists() else "nothing written"
    return out


def test_the_torch_port_nests_the_blocks_and_agrees(ported):
    import importlib.util

    import torch
    from torch import nn

    text = (ported / "model.py").read_text()
    assert "self.conv2 = nn.ModuleDict({" in text and "self.conv2.block1.conv1(" in text, text
    # imported as a user would (parity.sources.load_model also resets Keras' layer names: it imports Keras here)
    spec = importlib.util.spec_from_file_location("nested_port", ported / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_with_weights()
    assert isinstance(model.get_submodule("conv2.block1.conv1"), nn.Conv2d)
    assert isinstance(model.get_submodule("conv2.block2.bn1"), nn.BatchNorm2d)
    assert "conv2.block1.conv1.weight" in model.state_dict()
    saved = torch.load(ported / "model.pt", weights_only=True)
    assert set(saved) == set(model.state_dict())
    verdict = json.loads((ported / "parity.json").read_text())
    assert verdict["agree"] and [c["dtype"] for c in verdict["comparisons"]] == ["float64", "float32"]
    worst = max(r["max_rel_err"] for r in verdict["comparisons"][0]["records"] if r["passed"] is not None)
    assert worst <= tolerance("float64")


RUN_ALONE = """
import importlib.util, sys
import numpy as np
import torch
spec = importlib.util.spec_from_file_location("model", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
model = module.build_with_weights().eval()
with torch.no_grad():
    np.save(sys.argv[3], model(torch.from_numpy(np.load(sys.argv[2]))).numpy())
"""


def test_the_nested_port_runs_on_its_own(ported, tmp_path):
    """model.py in a fresh process (no PYTHONPATH, outside the repository): the source's outputs."""
    from parity.runners.pool import keras_worker

    X = np.random.default_rng(0).standard_normal((3, 8, 8, 3))  # canonical, channels-last
    source = keras_worker("torch").call("parity.sources:run_source", SOURCE, None, X, np.zeros((3, 3)), None, 0, "float64")
    np.save(tmp_path / "x.npy", np.moveaxis(X, -1, 1))  # NCHW for torch
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", RUN_ALONE, str(ported / "model.py"), "x.npy", "y.npy"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), source["output"], rtol=tolerance("float64"), atol=0)


def test_the_nested_port_ports_back_to_keras(ported, tmp_path):
    """The round trip: the generated torch model, its nested names and all, imported and ported back."""
    from parity.ports import compare

    back = tmp_path / "keras"
    code = main(["port", f"{ported}/model.py:build_with_weights", "--to", "keras", "--out", str(back),
                 "--input-shape", "3,8,8", "--dtype", "float64", "--steps", "0"])  # fmt: skip
    assert code == 0, (back / "parity.md").read_text() if back.exists() else "nothing written"
    assert "conv2_block1_conv1" in (back / "model.py").read_text()
    trip = compare(SOURCE, f"{back}/model.py:build_with_weights", dtype="float64", weights_from="own")
    assert trip.agree, trip.diagnosis
