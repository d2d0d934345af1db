"""One keras.applications architecture per family, at its smallest input, ported to torch and back:
outputs, the input gradient and every parameter gradient in float64 (``parity zoo NAME --dtype
float64 --steps 0``: inference mode, Keras on torch, no float32, no training steps, the cheapest
configuration that still exercises every layer both ways). The whole zoo is the command
(``parity zoo``), not a test; a port that is wrong by one weight is caught here too."""

from __future__ import annotations

import pytest

from parity.tolerance import tolerance
from parity.zoo import MIN_INPUT, run_architecture

FAMILIES = {
    "mobilenet": "MobileNetV2",
    "efficientnet": "EfficientNetB0",
    "resnet": "ResNet50V2",
    "densenet": "DenseNet121",
    "inception": "InceptionV3",
    "xception": "Xception",
    "vgg": "VGG16",
    "convnext": "ConvNeXtTiny",
}


@pytest.fixture(scope="module", autouse=True)
def one_worker():
    """One Keras worker for the module. ``run_architecture`` ends every worker after each architecture,
    so that a long zoo run gives each one's memory back; here, starting one (importing Keras and torch)
    would be the largest part of the smaller architectures' CPU time. What is compared is unchanged."""
    import parity.runners.pool as pool

    close_all = pool.close_all
    patch = pytest.MonkeyPatch()
    patch.setattr(pool, "close_all", lambda: None)
    yield
    patch.undo()
    close_all()


@pytest.mark.parametrize("name", list(FAMILIES.values()), ids=list(FAMILIES))
def test_the_family_agrees_both_ways(name, tmp_path):
    row = run_architecture(name, tmp_path, MIN_INPUT[name], ("float64",), ("torch", "keras"), steps=0, seed=0)
    assert row.status == "agree", row.detail
    assert row.inference == "agree" and row.training is None, row  # no steps: the inference part is the verdict
    assert {(c["stage"], c["dtype"]) for c in row.comparisons} == {("torch", "float64"), ("keras", "float64")}
    for comparison in row.comparisons:
        assert comparison["gradients"] == 1 + row.arrays, comparison  # the input's and every parameter's
        assert comparison["worst"] <= tolerance("float64"), comparison


def test_a_port_one_weight_off_disagrees(monkeypatch, tmp_path):
    """The torch port's build_with_weights changes its first kernel by one part in a million after
    loading it: both stages (the port, and the round trip that reads the port's weights) disagree,
    and the row names the first convolution as where the port parts from the source, and how it was found."""
    import parity.porting

    original = parity.porting.model_source

    def tampered(spec, target, origin):
        text = original(spec, target, origin)
        if target != "torch":
            return text
        line = "    return model\n"
        assert text.endswith(line)
        return text.removesuffix(line) + "    next(iter(model.parameters())).data.mul_(1 + 1e-6)\n" + line

    monkeypatch.setattr(parity.porting, "model_source", tampered)
    row = run_architecture("MobileNetV2", tmp_path, MIN_INPUT["MobileNetV2"], ("float64",), ("torch", "keras"), steps=0, seed=0)
    assert row.status == "disagree", row
    assert [c["agree"] for c in row.comparisons] == [False, False], row.comparisons
    assert row.detail == "torch float64: first diverging layer Conv1 (by a weight as held)", row.detail
