"""The Keras runner. It runs inside a worker process whose backend is fixed at start.

Each layer is applied with ``layer.stateless_call`` (keras/src/layers/layer.py), so the
same code differentiates on JAX, TensorFlow and PyTorch: trainable values are plain
tensors passed in, and updated non-trainable values (BatchNorm's moving statistics)
come back out instead of being written in place.
"""

from __future__ import annotations

import inspect

import numpy as np

from parity.cases import get_case
from parity.convert import converter_for
from parity.convert.base import NO_WEIGHTS, ConversionError, disabled_rules, layer_weights
from parity.runners.autodiff import two_gradients
from parity.runners.base import (
    LayerTrace,
    RunRequest,
    RunResult,
    dropout_mask,
    pair_layers,
    target_array,
    training_mode,
)


def load_keras_weights(model_name: str, pairs, weights, dtype: str) -> None:
    previous = None
    for layer, klayer in pairs:
        if converter_for(layer) is NO_WEIGHTS:
            previous = layer
            continue  # nothing to load (a Keras Dropout's only variable is its random-seed state)
        try:
            values = converter_for(layer).to_keras(layer, layer_weights(layer, weights), previous)
            expected = [tuple(v.shape) for v in klayer.weights]
            if len(values) != len(expected):
                raise ConversionError(layer.name, "weights", None, None, detail=f"{type(klayer).__name__} holds {len(expected)} arrays {expected}, the converter produced {len(values)}")
            for variable, value in zip(klayer.weights, values):
                if tuple(np.shape(value)) != tuple(variable.shape):
                    raise ConversionError(layer.name, variable.name, tuple(variable.shape), np.shape(value))
        except ConversionError as error:
            raise error.in_model(model_name) from None
        klayer.set_weights([np.asarray(v).astype(variable.dtype) for v, variable in zip(values, klayer.weights)])
        previous = layer


def run_keras(request: RunRequest) -> RunResult:
    import keras

    backend = keras.backend.backend()
    keras.config.set_floatx(request.dtype)
    keras.config.set_dtype_policy(request.dtype)  # the policy is cached from floatx on first use
    case = get_case(request.case)
    scratch_model = case.build("scratch", request.config)
    model = case.build("keras", request.config)
    pairs = pair_layers(case.name, scratch_model.layers, list(model.layers), f"keras-{backend}")
    with disabled_rules(request.disabled_rules):
        load_keras_weights(case.name, pairs, request.weights, request.dtype)
    training = training_mode(request.config)
    ops = keras.ops

    X = ops.convert_to_tensor(request.inputs.astype(request.dtype))
    G = ops.convert_to_tensor(request.cotangent.astype(request.dtype))
    targets = ops.convert_to_tensor(target_array(request.targets, request.dtype))
    loss_object = _loss(case, request.config)
    trainable = [[v.value for v in klayer.trainable_variables] for _, klayer in pairs]
    counts = [len(t) for t in trainable]
    non_trainable = [[v.value for v in klayer.non_trainable_variables] for _, klayer in pairs]

    def forward(X, trainable, probes):
        return stateless_forward(pairs, trainable, non_trainable, X, training, probes)

    shapes = [tuple(o.shape) for o in forward(X, trainable, None)[1]]
    probes = [ops.zeros(s, dtype=request.dtype) for s in shapes] if request.trace else []

    def unflatten(flat):
        out, k = [], 0
        for n in counts:
            out.append(flat[k : k + n])
            k += n
        return out

    def scalars(args):
        x, flat, p = args[0], args[1 : 1 + sum(counts)], args[1 + sum(counts) :]
        Y, outputs, states = forward(x, unflatten(list(flat)), list(p))
        return ops.sum(Y * G), loss_object(targets, Y), (Y, outputs, states)

    flat_trainable = [t for layer_values in trainable for t in layer_values]
    _, loss, (Y, outputs, states), g_sum, g_loss = two_gradients(backend, scalars, [X, *flat_trainable, *probes])
    npy = ops.convert_to_numpy

    n = sum(counts)
    grads = {"input": _zeros_if_none(g_sum[0], request.inputs.shape, request.dtype, npy)}
    with disabled_rules(request.disabled_rules):
        grads.update(_canonical_grads(pairs, unflatten(g_sum[1 : 1 + n]), npy, request.dtype))
        loss_grads = _canonical_grads(pairs, unflatten(g_loss[1 : 1 + n]), npy, request.dtype)
        weights = read_weights(pairs, states, npy)

    trace = []
    if request.trace:
        probe_grads = g_sum[1 + n :]
        trace = [
            LayerTrace(layer.name, npy(out), _zeros_if_none(g, s, request.dtype, npy))
            for (layer, _), out, g, s in zip(pairs, outputs, probe_grads, shapes)
        ]
    output = npy(Y)
    masks = {}
    if training:
        for (layer, klayer), out in zip(pairs, outputs):
            if isinstance(klayer, keras.layers.Dropout):
                masks[layer.name] = dropout_mask(npy(out))
    return RunResult(
        impl=f"keras-{backend}",
        output=output,
        loss=float(npy(loss)),
        grads=grads,
        loss_grads=loss_grads,
        weights=weights,
        computed_dtype=str(output.dtype),
        trace=trace,
        dropout_masks=masks,
    )


def stateless_forward(pairs, trainable, non_trainable, X, training: bool, probes=None, return_losses: bool = False):
    """Apply each Keras layer with explicit variable values.

    Returns (Y, per-layer outputs, new states), plus the layers' regularisation losses
    when ``return_losses``.
    """
    A, outputs, states, losses = X, [], [], []
    for i, (_, klayer) in enumerate(pairs):
        kwargs = {"training": training} if "training" in inspect.signature(klayer.call).parameters else {}
        if return_losses:
            A, new_state, layer_losses = klayer.stateless_call(trainable[i], non_trainable[i], A, return_losses=True, **kwargs)
            losses.extend(layer_losses)
        else:
            A, new_state = klayer.stateless_call(trainable[i], non_trainable[i], A, **kwargs)
        if probes:
            A = A + probes[i]  # dL/dP for a zero P is dL/d(layer output)
        outputs.append(A)
        states.append(new_state)
    if return_losses:
        return A, outputs, states, losses
    return A, outputs, states


def read_weights(pairs, states, npy) -> dict[str, np.ndarray]:
    """Every layer's weights in canonical layout; ``states`` are updated non-trainable values (or None)."""
    weights = {}
    previous = None
    for (layer, klayer), new_state in zip(pairs, states):
        if converter_for(layer) is NO_WEIGHTS:
            previous = layer
            continue
        current = {id(v): npy(v.value) for v in klayer.weights}
        if new_state is not None:
            current.update({id(v): npy(s) for v, s in zip(klayer.non_trainable_variables, new_state)})
        values = [current[id(v)] for v in klayer.weights]
        weights.update({f"{layer.name}.{k}": v for k, v in converter_for(layer).from_keras(layer, values, previous).items()})
        previous = layer
    return weights


def _loss(case, config):
    from framework.keras3.losses import loss

    return loss(case.loss, **case.loss_kwargs(config))


def _zeros_if_none(grad, shape, dtype, npy) -> np.ndarray:
    return np.zeros(shape, dtype=dtype) if grad is None else np.array(npy(grad))


def _canonical_grads(pairs, grads_per_layer, npy, dtype) -> dict[str, np.ndarray]:
    out = {}
    previous = None
    for (layer, klayer), grads in zip(pairs, grads_per_layer):
        if klayer.trainable_variables:
            by_id = {id(v): _zeros_if_none(g, tuple(v.shape), dtype, npy) for v, g in zip(klayer.trainable_variables, grads)}
            aligned = [by_id.get(id(v)) for v in klayer.weights]  # None for non-trainable entries
            converted = converter_for(layer).grads_from_keras(layer, aligned, previous)
            out.update({f"{layer.name}.{k}": v for k, v in converted.items()})
        previous = layer
    return out
