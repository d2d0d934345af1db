"""The scratch runner for a model spec: NumPy forward, hand-derived backward, any graph."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from parity.layers import REGISTRY
from parity.runners.base import LayerTrace, RunRequest, RunResult, input_array, integer_input, target_array
from parity.runners.reference import use_constants
from parity.runners.stored import StoredArrays
from parity.spec.generate import build_scratch


class CastOnRead(Mapping):
    """``weights`` with each array cast to ``dtype`` when it is read, as a new array that a model may
    keep (``Sequential.set_weights(..., copy=False)``): the cast of a large model is never held whole
    beside the model's own copies. An array read from a file (``StoredArrays``) is already the reader's
    own (a copy-on-write mapping of the file), so it is kept as it was read when its dtype is ``dtype``:
    copying it again was the largest part of a scratch run of a large model (VGG16 in float64: 3.9 of
    the 17 s its family test spent in the test process, in copies to fresh memory)."""

    def __init__(self, weights: Mapping, dtype: np.dtype) -> None:
        self.weights, self.dtype = weights, dtype

    def __getitem__(self, name: str) -> np.ndarray:
        value = self.weights[name]
        if isinstance(self.weights, StoredArrays):  # mapped afresh: nothing else holds it
            return np.asarray(value, dtype=self.dtype)
        return np.array(value, dtype=self.dtype)  # a copy: the caller keeps its own

    def __iter__(self):
        return iter(self.weights)

    def __len__(self) -> int:
        return len(self.weights)


def run_scratch(request: RunRequest) -> RunResult:
    from scratch import losses

    spec, dtype = request.spec, np.dtype(request.dtype)
    model = build_scratch(spec)
    use_constants(model, request.constants)
    model.set_weights(CastOnRead(request.weights, dtype), copy=False)  # one new array at a time
    model.train(request.training)
    for node, layer in zip(spec.nodes, model.layers):
        if REGISTRY[node.kind].traits.stochastic and request.dropout_masks and node.name in request.dropout_masks:
            layer.mask = request.dropout_masks[node.name].astype(dtype)

    X = input_array(request.inputs, spec, request.dtype)
    Y = model.forward(X)
    outputs = dict(model.outputs)
    grads, upstream = {}, {}
    if request.backward:
        dX = model.backward(request.cotangent.astype(dtype))
        grads = {} if integer_input(spec) else {"input": dX}  # integer ids have no gradient
        # The model ends with this function: its arrays are handed over, copied only where a second
        # backward pass (the loss's, below) would overwrite them.
        again = request.loss is not None
        grads.update({k: v.copy() if again else v for k, v in model.gradients().items()})
        upstream = dict(model.upstream)
    loss, loss_grads = float("nan"), {}
    if request.loss is not None and request.backward:  # a second backward pass over the same forward caches
        loss_fn = losses.get(request.loss, **request.loss_kwargs)
        loss = float(loss_fn.forward(Y, target_array(request.targets, request.dtype)))
        model.backward(loss_fn.backward())
        loss_grads = {k: v.copy() for k, v in model.gradients().items()}
    trace = []
    if request.trace:
        trace = [
            LayerTrace(node.name, outputs[node.name], upstream.get(node.name, np.zeros_like(outputs[node.name])))
            for node in spec.nodes
        ]
    return RunResult(
        impl="scratch",
        output=Y,
        loss=loss,
        grads=grads,
        loss_grads=loss_grads,
        weights=model.weights(),  # this model's own copies (set_weights), which nothing changes after
        computed_dtype=str(Y.dtype),
        trace=trace,
    )
