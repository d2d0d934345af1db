"""The scratch runner: NumPy forward, hand-derived backward."""

from __future__ import annotations

import numpy as np

from parity.cases import get_case
from parity.runners.base import LayerTrace, RunRequest, RunResult, target_array, training_mode
from scratch import losses


def run_scratch(request: RunRequest) -> RunResult:
    case = get_case(request.case)
    dtype = np.dtype(request.dtype)
    model = case.build("scratch", request.config)
    model.set_weights({k: v.astype(dtype) for k, v in request.weights.items()})
    model.train(training_mode(request.config))
    for layer in model.layers:
        if type(layer).__name__ == "Dropout" and request.dropout_masks and layer.name in request.dropout_masks:
            layer.mask = request.dropout_masks[layer.name].astype(dtype)

    X = request.inputs.astype(dtype)
    G = request.cotangent.astype(dtype)
    outputs = []
    A = X
    for layer in model.layers:
        A = layer.forward(A)
        outputs.append(A)
    Y = A

    loss_fn = losses.get(case.loss, **case.loss_kwargs(request.config))
    loss = float(loss_fn.forward(Y, target_array(request.targets, request.dtype)))
    dY_loss = loss_fn.backward()

    upstream = []
    dA = G
    for layer in reversed(model.layers):
        upstream.append(dA)
        dA = layer.backward(dA)
    grads = {"input": dA, **{k: v.copy() for k, v in model.gradients().items()}}

    model.backward(dY_loss)
    loss_grads = {k: v.copy() for k, v in model.gradients().items()}

    trace = []
    if request.trace:
        trace = [LayerTrace(layer.name, out, dout) for layer, out, dout in zip(model.layers, outputs, reversed(upstream))]
    return RunResult(
        impl="scratch",
        output=Y,
        loss=loss,
        grads=grads,
        loss_grads=loss_grads,
        weights={k: v.copy() for k, v in model.weights().items()},
        computed_dtype=str(Y.dtype),
        trace=trace,
    )
