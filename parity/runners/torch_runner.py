"""The PyTorch runner for a model spec: the generated NCHW module, canonical weights through
each kind's converter, autograd for every gradient, activations mapped back to the canonical
layout for a trace."""

from __future__ import annotations

import threading

import numpy as np
import torch

from parity.convert.base import NO_WEIGHTS, ConversionError, conversion_context, disabled_rules, enabled, layer_weights
from parity.layers import CHANNELS_FIRST, FLAT_CHANNELS_FIRST, REGISTRY
from parity.runners.base import LayerTrace, RunRequest, RunResult, dropout_mask, integer_input, target_array
from parity.spec.generate import (
    Layout,
    build_scratch,
    build_torch,
    input_layout,
    layout_source,
    node_shapes,
    torch_layouts,
)
from parity.spec.model import INPUT

TORCH_DTYPES = {"float32": torch.float32, "float64": torch.float64}
# The harness measures agreement, not speed. With several OpenMP threads, torch waits on
# cores that the Keras worker processes (or anything else) occupy, and small models run
# hundreds of times slower on a 2-core machine; one thread keeps every run short.
torch.set_num_threads(1)
# Every torch run draws from torch's global generator (a module's initial parameters,
# dropout masks; the training runner seeds it inside ``fork_rng``). The report runs cases
# and divergence cases in several threads of one process, so a torch run holds this lock
# for its whole length: no other thread draws from, or reseeds, the generator meanwhile.
GLOBAL_GENERATOR = threading.RLock()


class TorchGraph:
    """A spec's torch module with everything needed to move arrays between layouts."""

    def __init__(self, spec, dtype: str) -> None:
        self.spec = spec
        self.scratch = build_scratch(spec)  # shapes and the layers the converters read
        self.layers = {layer.name: layer for layer in self.scratch.layers}
        self.model = build_torch(spec).to(TORCH_DTYPES[dtype])
        self.dtype = TORCH_DTYPES[dtype]
        # The naive port of ``channels_last_input`` hands NHWC arrays to the NCHW model as they are.
        self.permute = enabled("channels_last_input")
        self.layouts = torch_layouts(spec, node_shapes(spec, self.scratch))

    def previous(self, node):
        source = layout_source(self.spec, node)
        return None if source == INPUT else self.layers[source]

    def weighted(self):
        """(node, kind, scratch layer, torch module) of every node whose kind has weights."""
        for node in self.spec.nodes:
            kind = REGISTRY[node.kind]
            if kind.converter is not NO_WEIGHTS:
                yield node, kind, self.layers[node.name], self.model.module(node.name)

    def load(self, weights) -> None:
        """Convert canonical weights and load them, checking every key and shape first."""
        for node, kind, layer, module in self.weighted():
            try:
                state = kind.converter.to_torch(layer, layer_weights(layer, weights), self.previous(node))
                current = module.state_dict()
                for key, target in current.items():
                    if key not in state:
                        raise ConversionError(
                            layer.name, key, tuple(target.shape), None, detail="the converter produced no value"
                        )
                    if tuple(np.shape(state[key])) != tuple(target.shape):
                        raise ConversionError(layer.name, key, tuple(target.shape), np.shape(state[key]))
                extra = sorted(set(state) - set(current))
                if extra:
                    raise ConversionError(
                        layer.name,
                        extra[0],
                        None,
                        np.shape(state[extra[0]]),
                        detail=f"{type(module).__name__} has no such entry",
                    )
            except ConversionError as error:
                raise error.in_model(self.spec.name) from None
            module.load_state_dict(
                {
                    k: torch.as_tensor(
                        np.asarray(v), dtype=current[k].dtype if not current[k].is_floating_point() else self.dtype
                    )
                    for k, v in state.items()
                }
            )

    def read(self, into=None) -> dict[str, np.ndarray]:
        """The canonical weights, into ``into`` when given (an ``ArrayWriter`` writes each layer's as it comes)."""
        weights = {} if into is None else into
        for node, kind, layer, module in self.weighted():
            state = {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}
            weights.update(
                {
                    f"{layer.name}.{k}": v
                    for k, v in kind.converter.from_torch(layer, state, self.previous(node)).items()
                }
            )
        return weights

    def grads(self, named, grads) -> dict[str, np.ndarray]:
        by_node: dict[str, dict[str, np.ndarray]] = {}
        for (name, key, p), g in zip(named, grads):
            by_node.setdefault(name, {})[key] = _numpy(g, p)
        out = {}
        for node, kind, layer, _ in self.weighted():
            if node.name in by_node:
                converted = kind.converter.grads_from_torch(layer, by_node[node.name], self.previous(node))
                out.update({f"{layer.name}.{k}": v for k, v in converted.items()})
        return out

    def named_parameters(self):
        """Every trainable parameter (a frozen one, BatchNorm's weight for scale=False, has no gradient)."""
        return [
            (node.name, key, p)
            for node, _, _, module in self.weighted()
            for key, p in module.named_parameters()
            if p.requires_grad
        ]

    def to_torch(self, A: np.ndarray, layout: Layout) -> torch.Tensor:
        if np.issubdtype(A.dtype, np.integer):  # integer ids (nn.Embedding reads int64)
            return torch.as_tensor(A, dtype=torch.int64)
        return torch.tensor(layout.from_canonical(A) if self.permute else A, dtype=self.dtype)

    def to_canonical(self, A: torch.Tensor, layout: Layout) -> np.ndarray:
        A = A.detach().numpy()
        return (layout.to_canonical(A) if self.permute else A).copy()


def run_torch(request: RunRequest) -> RunResult:
    spec = request.spec
    with disabled_rules(request.disabled_rules):
        graph = TorchGraph(spec, request.dtype)
        graph.load(request.weights)
    model = graph.model
    model.train(request.training)

    integer = integer_input(spec)  # integer ids: no gradient to ask for
    X = graph.to_torch(request.inputs.astype(np.int64) if integer else request.inputs, input_layout(spec))
    inputs = [] if integer else [X.requires_grad_(True)]
    with disabled_rules(request.disabled_rules):  # rules applied in forward (a causal mask's polarity)
        Y = model(X, probe=request.trace)
    out_layout = graph.layouts[spec.output]
    G = graph.to_torch(request.cotangent, out_layout)
    masks = {
        node.name: dropout_mask(graph.to_canonical(model.values[node.name], graph.layouts[node.name]))
        for node in spec.nodes
        if REGISTRY[node.kind].traits.stochastic and request.training
    }
    named = graph.named_parameters()
    params = [p for _, _, p in named]
    probes = [model.probes[node.name] for node in spec.nodes] if request.trace else []
    L = (Y * G).sum()
    g_sum = torch.autograd.grad(L, [*inputs, *params, *probes], retain_graph=request.loss is not None, allow_unused=True)
    k = len(inputs)
    loss, loss_grads = float("nan"), {}
    with disabled_rules(request.disabled_rules), conversion_context(loaded=request.weights, batch=len(request.inputs)):
        if request.loss is not None:
            from framework.pytorch.losses import loss as torch_loss

            # The loss reads the canonical layout, as the other implementations' losses do.
            Y_canonical = canonical_output(Y, out_layout, graph.permute)
            value = torch_loss(request.loss, **request.loss_kwargs)(
                Y_canonical, torch.as_tensor(target_array(request.targets, request.dtype))
            )
            loss = float(value.detach())
            loss_grads = graph.grads(named, torch.autograd.grad(value, params, allow_unused=True) if params else [])
        grads = {} if integer else {"input": graph.to_canonical(_or_zeros(g_sum[0], X), input_layout(spec))}
        grads.update(graph.grads(named, g_sum[k : k + len(params)]))
        weights = graph.read()
    trace = []
    if request.trace:
        probe_grads = g_sum[k + len(params) :]
        trace = [
            LayerTrace(
                node.name,
                graph.to_canonical(model.values[node.name], graph.layouts[node.name]),
                graph.to_canonical(_or_zeros(g, P), graph.layouts[node.name]),
            )
            for node, g, P in zip(spec.nodes, probe_grads, probes)
        ]
    output = graph.to_canonical(Y, out_layout)
    return RunResult(
        impl="torch",
        output=output,
        loss=loss,
        grads=grads,
        loss_grads=loss_grads,
        weights=weights,
        computed_dtype=str(output.dtype),
        trace=trace,
        dropout_masks=masks,
    )


def canonical_output(Y: torch.Tensor, layout, permute: bool = True) -> torch.Tensor:
    """The model's output in the canonical layout, as a differentiable tensor (what the loss reads).

    A channels-first map moves its channels last; a flattened channels-first map (torch's
    ``nn.Flatten`` of (C, *S)) is put back in the canonical flattening order of (*S, C), else a
    loss whose targets or labels follow the canonical order compares the wrong entries.
    """
    if not permute:
        return Y
    if layout.tag == CHANNELS_FIRST:
        return Y.movedim(1, -1)  # (B, C, *S) -> (B, *S, C)
    if layout.tag == FLAT_CHANNELS_FIRST:
        *S, C = layout.source
        B = Y.shape[0]
        return Y.reshape(B, C, *S).movedim(1, -1).reshape(B, -1)  # (B, C*prod(S)) -> (B, prod(S)*C)
    return Y


def _or_zeros(grad, like) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad


def _numpy(grad, like) -> np.ndarray:
    if grad is None:
        return np.zeros(tuple(like.shape), dtype=like.detach().numpy().dtype)
    return grad.detach().numpy().copy()
