"""One keras.applications architecture per family, at its smallest input, ported to torch and back:
outputs, the input gradient and every parameter gradient in float64 (``parity zoo NAME --dtype
float64 --steps 0``: inference mode, Keras on torch, no float32, no training steps, the cheapest
configuration that still exercises every layer both ways).

Each costs minutes of CPU (README: the zoo's timings), so the tests are marked ``zoo`` and run with
``pytest -m zoo tests/test_zoo_families.py``."""

from __future__ import annotations

import pytest

from parity.tolerance import tolerance
from parity.zoo import run_architecture

FAMILIES = {
    "vgg": "VGG16",
    "resnet": "ResNet50V2",
    "densenet": "DenseNet121",
    "mobilenet": "MobileNetV2",
}


@pytest.mark.zoo
@pytest.mark.parametrize("name", list(FAMILIES.values()), ids=list(FAMILIES))
def test_the_family_agrees_both_ways(name, tmp_path):
    row = run_architecture(name, tmp_path, None, ("float64",), ("torch", "keras"), steps=0, seed=0)
    assert row.status == "agree", row.detail
    assert {(c["stage"], c["dtype"]) for c in row.comparisons} == {("torch", "float64"), ("keras", "float64")}
    for comparison in row.comparisons:
        assert comparison["gradients"] == 1 + row.arrays, comparison  # the input's and every parameter's
        assert comparison["worst"] <= tolerance("float64"), comparison
