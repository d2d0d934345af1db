"""ConvNeXt's pieces: LayerNorm and Dense on channels-last 4-D maps (torch permutes to NHWC and back),
a merge of an NCHW and an NHWC tensor, Conv2D(groups=C) read as depthwise_conv2d (rule
grouped_conv_kernel), Activation("linear") and nested Sequential sub-models in the Keras importer, and
the convnext_block case: by finite differences, on every implementation, on drawn configurations, with
checks that fail."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from parity import DTYPES
from parity.agreement.records import compare_runs
from parity.cases import get_case
from parity.check import check_case, make_request
from parity.convert.base import disabled_rules
from parity.gradcheck import check_gradients
from parity.runners import run
from parity.runners.pool import keras_worker
from parity.spec.codegen import torch_source
from parity.spec.generate import build_torch
from parity.spec.model import SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import MODEL_FLOAT64_WORST
from tests.conftest import FRAMEWORK_IMPLS, failures

SETTINGS = settings(max_examples=2, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def test_block_gradients_by_finite_differences(rng):
    case = get_case("convnext_block")
    config = case.configure({"kernel_size": 3, "input_shape": [4, 4, 3]})
    model = case.build("scratch", config)
    model.init(rng)
    results = check_gradients(model, case.draw_inputs(config, 0), rng)
    assert results and all(r.passed for r in results), [r for r in results if not r.passed]


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_on_every_implementation(dtype):
    records = check_case("convnext_block", impls=FRAMEWORK_IMPLS, dtypes=[dtype])
    assert records and all(r.passed for r in records), failures(records)
    if dtype == "float64":
        assert max(r.max_rel_err for r in records) <= MODEL_FLOAT64_WORST, failures(records)


@st.composite
def block_configs(draw):
    return {
        "kernel_size": draw(st.sampled_from([1, 3, 7])),
        "expansion": draw(st.integers(1, 4)),
        "layer_scale_init_value": draw(st.sampled_from([0.5, -1.0, 1e-6])),
        "input_shape": [draw(st.integers(2, 5)), draw(st.integers(2, 5)), draw(st.integers(3, 5))],
        "batch": draw(st.integers(1, 2)),
    }


@SETTINGS
@given(config=block_configs(), seed=st.integers(0, 2**16))
def test_random_blocks(config, seed):
    records = check_case("convnext_block", config, FRAMEWORK_IMPLS, ["float64"], seed)
    records += check_case("convnext_block", config, FRAMEWORK_IMPLS, ["float32"], seed)
    assert records and all(r.passed for r in records), failures(records)
    assert all(r.max_rel_err <= MODEL_FLOAT64_WORST for r in records if r.dtype == "float64"), failures(records)


def test_two_channels_are_refused_in_one_line():
    from parity.case import CaseError

    with pytest.raises(CaseError) as error:
        get_case("convnext_block").configure({"input_shape": [4, 4, 2]})
    assert len(str(error.value).splitlines()) == 1 and "C must be >= 3" in str(error.value)


def test_the_torch_model_permutes_to_nhwc_and_back():
    spec = get_case("convnext_block").spec(get_case("convnext_block").configure())
    model = build_torch(spec)
    assert model.permutes["layernorm"] == ("channels_first", "canonical")
    assert model.joins == {"add": {1: ("canonical", "channels_first")}}  # the branch back to NCHW for x + branch
    source = torch_source(spec, "test")
    assert "self.layernorm(depthwise_conv.permute(0, 2, 3, 1))" in source
    assert "add = x + layer_scale.permute(0, 3, 1, 2)" in source


def test_a_wrong_join_is_caught():
    """The branch added without its permute back (only possible where H == W == C) fails the check."""
    case = get_case("convnext_block")
    config = case.configure({"kernel_size": 3, "input_shape": [4, 4, 4]})
    request = make_request(case, config, "float64", 0)
    assert all(r.passed for r in compare_runs(case.name, "float64", run("scratch", request), run("torch", request)))
    model = build_torch(request.spec)
    model.joins = {}  # the naive port: x (NCHW) + branch (NHWC), same shape, wrong sum
    import torch

    X = torch.tensor(np.moveaxis(request.inputs, -1, 1))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for module in model.layers.values():
            for p in module.parameters():
                p.copy_(torch.randn(p.shape, generator=generator))  # every channel different
        naive = model.double()(X.double())
        model.joins = build_torch(request.spec).joins
        joined = model(X.double())
    assert not torch.allclose(naive, joined)


class TorchBlock(nn.Module):
    def __init__(self, permute: bool = True) -> None:
        super().__init__()
        self.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.norm = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 4)
        self.permute = permute

    def forward(self, x):
        y = self.dw(x)
        y = y.permute(0, 2, 3, 1) if self.permute else y
        y = self.fc(self.norm(y))
        return x + (y.permute(0, 3, 1, 2) if self.permute else y)


def test_torch_importer_reads_the_permuted_block_and_refuses_the_unpermuted_one():
    spec = import_torch(TorchBlock(), (4, 5, 5))
    assert [n.kind for n in spec.nodes] == ["depthwise_conv2d", "layer_norm", "dense", "add"]
    assert spec.nodes[1].config["axis"] == [-1]
    with pytest.raises(SpecError) as error:  # LayerNorm(4) over an NCHW map's W axis (W == 5 != 4)
        import_torch(TorchBlock(permute=False), (4, 5, 4))
    assert len(str(error.value).splitlines()) == 1


def _keras_convnext_pieces() -> dict:
    """In the Keras worker: a nested Sequential, Conv2D(groups=C), Activation("linear") and x + y."""
    import keras
    from keras import layers

    from parity.spec.keras_import import import_keras

    inputs = keras.Input((5, 5, 4))
    stem = keras.Sequential([layers.Conv2D(4, 1, name="conv"), layers.LayerNormalization(name="ln")], name="stem")
    x = stem(inputs)
    y = layers.Conv2D(4, 3, padding="same", groups=4, name="dw")(x)
    y = layers.Conv2D(8, 1, groups=2, name="grouped")(y)
    y = layers.Dense(4, name="fc")(y)
    y = layers.Activation("linear", name="identity")(y)
    model = keras.Model(inputs, x + y)
    spec = import_keras(model)
    return {
        "nodes": [(n.name, n.kind, n.config.get("groups", n.config.get("depth_multiplier")), n.inputs) for n in spec.nodes],
        "kernel": tuple(model.get_layer("dw").kernel.shape),
    }


def test_keras_importer_reads_convnext_pieces():
    out = keras_worker("torch").call("tests.test_convnext:_keras_convnext_pieces")
    assert out["kernel"] == (3, 3, 1, 4)  # Conv2D(groups=C)'s kernel: one input channel per group
    assert out["nodes"] == [
        ("stem.conv", "conv2d", 1, ("input",)),
        ("stem.ln", "layer_norm", None, ("stem.conv",)),
        ("dw", "depthwise_conv2d", 1, ("stem.ln",)),  # groups = C: depthwise
        ("grouped", "conv2d", 2, ("dw",)),
        ("fc", "dense", None, ("grouped",)),
        ("add", "add", None, ("stem.ln", "fc")),  # Activation("linear") computes nothing: no layer
    ]


def test_grouped_conv_kernel_rule():
    """Conv2D(groups=C)'s kernel (kh, kw, 1, C*m) is depthwise's (kh, kw, C, m) reshaped; without the
    rule it is refused, naming the layer, the weight and both shapes."""
    from parity.layers import REGISTRY
    from scratch.depthwise_conv2d import DepthwiseConv2D

    layer = DepthwiseConv2D(3, depth_multiplier=2, name="dw")
    layer.build((5, 5, 3))
    kernel = np.arange(3 * 3 * 6.0).reshape(3, 3, 1, 6)
    converter = REGISTRY["depthwise_conv2d"].converter
    W = converter.from_keras(layer, [kernel, np.zeros(6)])["W"]
    assert W.shape == (3, 3, 3, 2) and W[1, 2, 2, 1] == kernel[1, 2, 0, 2 * 2 + 1]  # output channel c*m + k
    back = converter.fit_keras(layer, converter.to_keras(layer, {"W": W, "b": np.zeros(6)}), [(3, 3, 1, 6), (6,)])
    np.testing.assert_array_equal(back[0], kernel)  # loading into the Conv2D(groups=C) again: its own layout
    with disabled_rules(("grouped_conv_kernel",)), pytest.raises(Exception, match="dw") as error:
        converter.from_keras(layer, [kernel, np.zeros(6)])
    assert "(3, 3, 1, 6)" in str(error.value) and len(str(error.value).splitlines()) == 1
