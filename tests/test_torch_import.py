"""The PyTorch importer (parity.spec.torch_import): idiomatic nn.Modules -> specs that run.

Each model is imported, its own weights are converted to canonical weights with each node's
converter, and then (1) the original model, run as written (float64, eval mode, NCHW), gives the
same output and input gradient as the scratch run of the spec, and (2) scratch, the generated
torch model and Keras (JAX) agree on the output and every gradient. Each comparison is shown
to fail when a converted weight is wrong.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from parity.agreement.records import compare_runs
from parity.convert.base import NO_WEIGHTS
from parity.layers import REGISTRY
from parity.runners import RunRequest, run
from parity.spec.generate import build_scratch, input_layout, layout_source, torch_layouts
from parity.spec.model import INPUT, SpecError
from parity.spec.torch_import import import_torch
from parity.tolerance import relative_error, tolerance

DTYPE = "float64"
TOL = tolerance(DTYPE)


# The models: what a PyTorch user writes --------------------------------------------------


class FunctionalCNN(nn.Module):
    """The MNIST tutorial's shape: modules for the weights, functional calls for the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc1 = nn.Linear(4 * 2 * 2, 5)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        return F.log_softmax(self.fc2(x), dim=1)


class ViewDropoutCNN(nn.Module):
    """``x.view(x.size(0), -1)``, an ``nn.Dropout`` and ``F.dropout(training=self.training)``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.dropout = nn.Dropout(0.25)
        self.fc1 = nn.Linear(4 * 2 * 2, 5)
        self.fc2 = nn.Linear(5, 3)

    def forward(self, x):
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2(x), 2))
        x = self.dropout(x)
        x = x.view(x.size(0), -1)
        x = F.dropout(F.relu(self.fc1(x)), 0.5, training=self.training)
        return F.log_softmax(self.fc2(x), dim=1)


class SharedPool(nn.Module):
    """One nn.MaxPool2d module called after each of two convolutions."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(2, 3, 3, padding=1)
        self.conv2 = nn.Conv2d(3, 4, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc(torch.flatten(x, 1))


class Residual(nn.Module):
    """conv -> BatchNorm -> relu, plus the block's input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.fc = nn.Linear(3 * 4 * 4, 2)

    def forward(self, x):
        y = F.relu(self.bn(self.conv(x)))
        return self.fc(torch.flatten(x + y, 1))


class LastStepLSTM(nn.Module):
    """An LSTM whose last step feeds a classifier: ``out[:, -1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.fc(out[:, -1])


def sequential():
    return nn.Sequential(
        nn.Conv2d(2, 3, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 4),
        nn.Tanh(),
        nn.Linear(4, 2),
    )


def with_statistics(model: nn.Module) -> nn.Module:
    """Running statistics that are not the defaults (0, 1), so eval-mode BatchNorm is checked."""
    generator = torch.Generator().manual_seed(3)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            with torch.no_grad():
                module.running_mean.copy_(0.3 * torch.randn(module.num_features, generator=generator))
                module.running_var.copy_(0.5 + torch.rand(module.num_features, generator=generator))
                module.weight.copy_(1 + 0.2 * torch.randn(module.num_features, generator=generator))
                module.bias.copy_(0.2 * torch.randn(module.num_features, generator=generator))
    return model


MODELS = {
    "functional_cnn": (FunctionalCNN, (1, 8, 8)),
    "view_dropout_cnn": (ViewDropoutCNN, (1, 8, 8)),
    "shared_pool": (SharedPool, (2, 8, 8)),
    "residual": (lambda: with_statistics(Residual()), (3, 4, 4)),
    "lstm_last_step": (LastStepLSTM, (5, 3)),
    "sequential": (sequential, (2, 6, 6)),
}


def make(case: str):
    factory, shape = MODELS[case]
    torch.manual_seed(0)
    return factory(), shape


# Helpers ----------------------------------------------------------------------------------


def canonical_weights(model: nn.Module, spec, previous_of=layout_source) -> dict[str, np.ndarray]:
    """The original model's own state_dict, through each node's converter."""
    layers = {layer.name: layer for layer in build_scratch(spec).layers}
    weights = {}
    for node in spec.nodes:
        kind = REGISTRY[node.kind]
        if node.shares is not None or kind.converter is NO_WEIGHTS:
            continue  # a call of a shared module, or a parameter-free call
        state = {k: v.detach().numpy() for k, v in model.get_submodule(node.name).state_dict().items()}
        source = previous_of(spec, node)
        previous = None if source in (None, INPUT) else layers[source]
        for key, value in kind.converter.from_torch(layers[node.name], state, previous).items():
            weights[f"{node.name}.{key}"] = np.asarray(value, dtype=np.float64)
    return weights


def data(spec, seed: int = 1):
    scratch = build_scratch(spec)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((2, *spec.input_shape))
    G = rng.standard_normal((2, *scratch.output_shape))
    T = rng.standard_normal((2, *scratch.output_shape))
    return X, G, T


def request(spec, weights, X, G, T) -> RunRequest:
    return RunRequest(spec.name, {}, DTYPE, weights, X, T, G, spec=spec, loss="mean_squared_error", training=False)


def original_run(model: nn.Module, spec, X: np.ndarray, G: np.ndarray):
    """The original model as written: float64, eval mode, its own layout; results made canonical."""
    model = copy.deepcopy(model).double().eval()
    layouts = torch_layouts(spec)
    x_nchw = input_layout(spec).from_canonical(X)
    # standard strides: a moved axis of size 1 would leave channels-last strides, which conv keeps
    x = torch.tensor(x_nchw.ravel()).reshape(x_nchw.shape).requires_grad_()
    y = model(x)
    g = torch.tensor(layouts[spec.output].from_canonical(G))
    (y * g).sum().backward()
    return (
        layouts[spec.output].to_canonical(y.detach().numpy()),
        input_layout(spec).to_canonical(x.grad.numpy()),
    )


def original_errors(model, spec, weights, X, G, T) -> tuple[float, float]:
    scratch = run("scratch", request(spec, weights, X, G, T))
    output, grad = original_run(model, spec, X, G)
    return relative_error(output, scratch.output), relative_error(grad, scratch.grads["input"])


# Parity -------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", sorted(MODELS))
def test_imported_model_matches_the_original_and_every_framework(case):
    model, shape = make(case)
    spec = import_torch(model, shape, name=case)
    assert model.training, "import_torch must put the training flag back"
    weights = canonical_weights(model, spec)
    X, G, T = data(spec)

    out_err, grad_err = original_errors(model, spec, weights, X, G, T)
    assert out_err <= TOL and grad_err <= TOL, (out_err, grad_err)

    scratch = run("scratch", request(spec, weights, X, G, T))
    for impl in ("torch", "keras-jax"):
        records = compare_runs(case, DTYPE, scratch, run(impl, request(spec, weights, X, G, T)))
        assert len(records) > 3
        failed = [(r.quantity, r.max_rel_err, r.detail) for r in records if not r.passed]
        assert not failed, (impl, failed)


@pytest.mark.parametrize("case", sorted(MODELS))
def test_a_wrong_weight_fails_both_comparisons(case):
    model, shape = make(case)
    spec = import_torch(model, shape, name=case)
    weights = canonical_weights(model, spec)
    X, G, T = data(spec)
    wrong = dict(weights)
    key = next(k for k in wrong if k.endswith((".W", ".kernel", ".b")))
    wrong[key] = wrong[key] + 0.05 * np.sign(wrong[key] + 1e-3)

    out_err, grad_err = original_errors(model, spec, wrong, X, G, T)
    assert out_err > TOL

    scratch = run("scratch", request(spec, weights, X, G, T))
    records = compare_runs(case, DTYPE, scratch, run("torch", request(spec, wrong, X, G, T)))
    assert any(not r.passed for r in records if r.quantity == "output")


def test_the_flatten_order_matters():
    """Converting fc1 without the Flatten that feeds it (torch's (C, H, W) row order) is wrong."""
    model, shape = make("functional_cnn")
    spec = import_torch(model, shape)
    weights = canonical_weights(model, spec, previous_of=lambda spec, node: None)
    X, G, T = data(spec)
    out_err, _ = original_errors(model, spec, weights, X, G, T)
    assert out_err > TOL


# What the importer reads ----------------------------------------------------------------------


def test_the_specs_read_the_model():
    spec = import_torch(*make("functional_cnn"))
    assert spec.name == "FunctionalCNN"
    assert spec.input_shape == (8, 8, 1)
    assert [(n.name, n.kind) for n in spec.nodes] == [
        ("conv1", "conv2d"),
        ("relu", "relu"),
        ("max_pool2d", "max_pool2d"),
        ("conv2", "conv2d"),
        ("relu_1", "relu"),
        ("max_pool2d_1", "max_pool2d"),
        ("flatten", "flatten"),
        ("fc1", "dense"),
        ("relu_2", "relu"),
        ("fc2", "dense"),
        ("log_softmax", "log_softmax"),
    ]
    assert spec.node("conv1").config["padding"] == "same"
    assert spec.output == "log_softmax"

    spec = import_torch(*make("view_dropout_cnn"))
    assert [n.config["rate"] for n in spec.nodes if n.kind == "dropout"] == [0.25, 0.5]

    spec = import_torch(*make("shared_pool"))
    assert spec.node("pool@1").shares == "pool" and spec.node("pool@1").inputs == ("relu_1",)

    spec = import_torch(*make("residual"))
    assert sorted(spec.node("add").inputs) == ["input", "relu"]

    spec = import_torch(*make("lstm_last_step"))
    assert spec.node("lstm").config["return_sequences"] is False
    assert spec.node("fc").inputs == ("lstm",)

    assert import_torch(*make("sequential")).is_chain


def test_a_whole_sequence_keeps_return_sequences():
    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(3, 4, batch_first=True)
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            out, _ = self.gru(x)
            return self.fc(out)

    spec = import_torch(Seq(), (5, 3))
    assert spec.node("gru").config["return_sequences"] is True
    assert spec.node("gru").config["reset_after"] is True


# What the importer refuses, in one line -------------------------------------------------------


def refusal(model, shape) -> str:
    with pytest.raises(SpecError) as error:
        import_torch(model, shape)
    message = str(error.value)
    assert "\n" not in message, message
    return message


def test_an_unsupported_module_is_named():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Upsample(scale_factor=2), nn.Flatten())
    message = refusal(model, (1, 4, 4))
    assert "layer '1'" in message and "unsupported torch module Upsample" in message
    assert "supported: " in message and "conv2d" in message

    message = refusal(nn.Sequential(nn.Conv2d(4, 4, 1), nn.PixelShuffle(2)), (4, 4, 4))
    assert "layer '1'" in message and "PixelShuffle" in message


def test_an_unsupported_operator_is_named_with_its_module():
    class Scale(nn.Module):
        def forward(self, x):
            return torch.cumsum(x, dim=1)

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = Scale()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(self.block(x))

    message = refusal(Net(), (3,))
    assert "layer 'block' (Scale)" in message and "aten.cumsum.default" in message


def test_data_dependent_control_flow_cannot_be_traced():
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            if x.sum() > 0:
                return self.fc(x)
            return -self.fc(x)

    model = Branchy()
    message = refusal(model, (3,))
    assert message.startswith("model 'Branchy': cannot trace the forward pass: ")
    assert model.training


def test_a_module_read_error_names_the_layer():
    class Grouped(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1 = nn.Conv2d(4, 4, 3, groups=2, padding=1, padding_mode="reflect")  # grouped: read; reflect: refused

        def forward(self, x):
            return self.conv1(x)

    message = refusal(Grouped(), (4, 5, 5))
    assert message.startswith("model 'Grouped', layer 'conv1' (Conv2d): padding_mode='reflect'")


def test_a_shared_module_with_weights_is_refused():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)

        def forward(self, x):
            return self.fc(self.fc(x))

    assert "layer 'fc' (Linear)" in refusal(Twice(), (3,))


def test_dropout_that_ignores_eval_mode_is_refused():
    class AlwaysDrop(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 2)

        def forward(self, x):
            return self.fc(F.dropout(x, 0.5))

    assert "train=True" in refusal(AlwaysDrop(), (3,))


def test_the_hidden_state_is_refused():
    class LastHidden(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(3, 4, batch_first=True)

        def forward(self, x):
            _, (h, c) = self.lstm(x)
            return c[0]

    assert "layer 'lstm' (LSTM)" in refusal(LastHidden(), (5, 3))
