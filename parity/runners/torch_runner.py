"""The PyTorch runner: load canonical weights through the converters, run autograd."""

from __future__ import annotations

import numpy as np
import torch

from parity.cases import get_case
from parity.convert import converter_for
from parity.convert.base import ConversionError, conversion_context, disabled_rules, layer_weights
from parity.runners.base import (
    LayerTrace,
    RunRequest,
    RunResult,
    dropout_mask,
    pair_layers,
    target_array,
    training_mode,
)

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}

# The harness measures agreement, not speed. With several OpenMP threads, torch waits on
# cores that the Keras worker processes (or anything else) occupy, and small models run
# hundreds of times slower on a 2-core machine; one thread keeps every run short.
torch.set_num_threads(1)


def load_torch_weights(model_name: str, pairs, weights, dtype) -> None:
    """Convert canonical weights and load them, checking every key and shape first."""
    previous = None
    for layer, module in pairs:
        try:
            state = converter_for(layer).to_torch(layer, layer_weights(layer, weights), previous)
            current = module.state_dict()
            for key, target in current.items():
                if key not in state:
                    raise ConversionError(layer.name, key, tuple(target.shape), None, detail="the converter produced no value")
                if tuple(np.shape(state[key])) != tuple(target.shape):
                    raise ConversionError(layer.name, key, tuple(target.shape), np.shape(state[key]))
            extra = sorted(set(state) - set(current))
            if extra:
                raise ConversionError(layer.name, extra[0], None, np.shape(state[extra[0]]), detail=f"{type(module).__name__} has no such entry")
        except ConversionError as error:
            raise error.in_model(model_name) from None
        module.load_state_dict(
            {k: torch.as_tensor(np.asarray(v), dtype=current[k].dtype if not current[k].is_floating_point() else dtype) for k, v in state.items()}
        )
        previous = layer


def run_torch(request: RunRequest) -> RunResult:
    case = get_case(request.case)
    dtype = TORCH_DTYPES[request.dtype]
    scratch_model = case.build("scratch", request.config)
    model = case.build("torch", request.config).to(dtype)
    pairs = pair_layers(case.name, scratch_model.layers, list(model), "torch")
    with disabled_rules(request.disabled_rules):
        load_torch_weights(case.name, pairs, request.weights, dtype)
    model.train(training_mode(request.config))

    X = torch.tensor(request.inputs, dtype=dtype, requires_grad=True)
    G = torch.tensor(request.cotangent, dtype=dtype)
    probes, outputs, masks = [], [], {}
    A = X
    for (layer, _), module in zip(pairs, model):
        A = module(A)
        if isinstance(module, torch.nn.Dropout) and module.training:
            masks[layer.name] = dropout_mask(A.detach().numpy())
        if request.trace:
            # dL/dP for a zero P added to a layer's output is dL/d(output).
            P = torch.zeros_like(A, requires_grad=True)
            A = A + P
            probes.append(P)
            outputs.append(A.detach().numpy().copy())
    Y = A

    targets = target_array(request.targets, request.dtype)
    loss_module = _loss(case, request.config)
    loss = loss_module(Y, torch.as_tensor(targets))

    named = [(layer, name, p) for layer, module in pairs for name, p in module.named_parameters()]
    params = [p for _, _, p in named]
    L = (Y * G).sum()
    g_sum = torch.autograd.grad(L, [X, *params, *probes], retain_graph=True, allow_unused=True)
    g_loss = torch.autograd.grad(loss, params, allow_unused=True) if params else []

    grads = {"input": _numpy(g_sum[0], X)}
    # BatchNorm's running_var needs the loaded weights and the batch size to convert back.
    with disabled_rules(request.disabled_rules), conversion_context(loaded=request.weights, batch=len(request.inputs)):
        grads.update(_canonical_grads(pairs, named, g_sum[1 : 1 + len(params)]))
        loss_grads = _canonical_grads(pairs, named, g_loss)
        weights = {}
        previous = None
        for layer, module in pairs:
            state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
            weights.update({f"{layer.name}.{k}": v for k, v in converter_for(layer).from_torch(layer, state, previous).items()})
            previous = layer
    trace = []
    if request.trace:
        probe_grads = g_sum[1 + len(params) :]
        trace = [
            LayerTrace(layer.name, out, _numpy(g, P))
            for (layer, _), out, g, P in zip(pairs, outputs, probe_grads, probes)
        ]
    return RunResult(
        impl="torch",
        output=Y.detach().numpy().copy(),
        loss=float(loss.detach()),
        grads=grads,
        loss_grads=loss_grads,
        weights=weights,
        computed_dtype=str(Y.detach().numpy().dtype),
        trace=trace,
        dropout_masks=masks,
    )


def _loss(case, config):
    from framework.pytorch.losses import loss

    return loss(case.loss, **case.loss_kwargs(config))


def _numpy(grad, like) -> np.ndarray:
    if grad is None:
        return np.zeros(tuple(like.shape), dtype=like.detach().numpy().dtype)
    return grad.detach().numpy().copy()


def _canonical_grads(pairs, named, grads) -> dict[str, np.ndarray]:
    by_layer: dict[str, dict[str, np.ndarray]] = {}
    for (layer, name, p), g in zip(named, grads):
        by_layer.setdefault(layer.name, {})[name] = _numpy(g, p)
    out = {}
    previous = None
    for layer, _ in pairs:
        if layer.name in by_layer:
            converted = converter_for(layer).grads_from_torch(layer, by_layer[layer.name], previous)
            out.update({f"{layer.name}.{k}": v for k, v in converted.items()})
        previous = layer
    return out
