"""The Keras runner for a model spec. It runs inside a worker process whose backend is fixed at start.

Each layer is applied with ``layer.stateless_call`` (keras/src/layers/layer.py), in the spec's
order, so the same code differentiates any graph on JAX, TensorFlow and PyTorch: trainable
values are plain tensors passed in, and updated non-trainable values (running
statistics) come back out instead of being written in place.
"""

from __future__ import annotations

import inspect
import pickle
from collections import OrderedDict
from contextlib import contextmanager

import numpy as np

from parity.convert.base import NO_WEIGHTS, ConversionError, disabled_now, disabled_rules, layer_weights
from parity.layers import REGISTRY
from parity.runners.autodiff import traced_shapes, two_gradients
from parity.runners.base import LayerTrace, RunRequest, RunResult, dropout_mask, integer_input, target_array
from parity.runners.precision import set_keras_precision
from parity.spec.generate import build_keras, build_scratch, layout_source
from parity.spec.model import INPUT


@contextmanager
def weights_to_come():
    """Layers built inside hold zeros, from NumPy, where their initialisers would draw: for a model whose
    every weight is loaded right after (``KerasGraph.load``, which fails unless it fills each one).

    Every layer's weight is made by ``Layer.add_weight`` (keras/src/layers/layer.py), which hands the
    initialiser to the backend's ``Variable``; its draw then runs as the backend's own operations, and on
    JAX each new shape is traced, lowered and compiled (``_initialize_with_initializer``,
    keras/src/backend/jax/core.py): measured, 14% of a report's JAX float64 worker and 22% of its float32
    one, for values that ``load`` overwrites at once. The initialiser is still made as ``add_weight``
    makes it (a random one made there takes its seed from Python's generator, ``make_default_seed`` in
    keras/src/random/seed_generator.py), so what is drawn later (a Dropout's seed) is unchanged. Variables
    made otherwise (a ``SeedGenerator``'s state) keep their initialisers.

    On the torch backend the initialisers still run: there a variable keeps, through ``set_weights``, the
    memory layout its initialiser gave it (the Orthogonal recurrent kernel of a SimpleRNN is a transposed
    view), and a product's rounding follows the layout: built from zeros, the SimpleRNN cases' float64
    errors moved by an ulp (3.1e-16 to 4.2e-16), no longer what a user's model, built then loaded,
    computes. A JAX or TensorFlow array has no such layout.
    """
    import keras

    if keras.backend.backend() == "torch":
        yield
        return
    layer = keras.layers.Layer
    add_weight = layer.add_weight

    def zeros(shape, dtype=None):
        return np.zeros(shape, dtype=keras.backend.standardize_dtype(dtype))

    def add_loaded_weight(self, *args, **kwargs):
        positional = len(args) > 1
        given = args[1] if positional else kwargs.get("initializer")
        if given is None:  # add_weight's own default: Glorot for a float weight, zeros for any other
            dtype = args[2] if len(args) > 2 else kwargs.get("dtype")
            float_weight = "float" in keras.backend.standardize_dtype(dtype or self.variable_dtype)
            given = "glorot_uniform" if float_weight else "zeros"
        keras.initializers.get(given)  # made, as add_weight makes it, and never called
        if positional:
            args = (args[0], zeros, *args[2:])
        else:
            kwargs["initializer"] = zeros
        return add_weight(self, *args, **kwargs)

    layer.add_weight = add_loaded_weight
    try:
        yield
    finally:
        layer.add_weight = add_weight


class KerasGraph:
    """A spec's Keras model, its layers paired with the scratch layers the converters read."""

    def __init__(self, spec) -> None:
        self.spec = spec
        self.scratch = build_scratch(spec)
        self.layers = {layer.name: layer for layer in self.scratch.layers}
        self.model = build_keras(spec)
        self.keras = [self.model.spec_layers[node.name] for node in spec.nodes]
        self.rules = disabled_now()  # the rules a call may read (parity.layers.attention) stay off in forward

    def previous(self, node):
        source = layout_source(self.spec, node)
        return None if source == INPUT else self.layers[source]

    def load(self, weights) -> None:
        for node, klayer in zip(self.spec.nodes, self.keras):
            kind, layer = REGISTRY[node.kind], self.layers[node.name]
            if kind.converter is NO_WEIGHTS:
                continue  # nothing to load (a stochastic layer's only variable is its seed state)
            try:
                values = kind.converter.to_keras(layer, layer_weights(layer, weights), self.previous(node))
                expected = [tuple(v.shape) for v in klayer.weights]
                if len(values) != len(expected):
                    raise ConversionError(
                        layer.name,
                        "weights",
                        None,
                        None,
                        detail=f"{type(klayer).__name__} holds {len(expected)} arrays {expected}, the converter produced {len(values)}",
                    )
                for variable, value in zip(klayer.weights, values):
                    if tuple(np.shape(value)) != tuple(variable.shape):
                        raise ConversionError(layer.name, variable.name, tuple(variable.shape), np.shape(value))
            except ConversionError as error:
                raise error.in_model(self.spec.name) from None
            klayer.set_weights([np.asarray(v).astype(variable.dtype) for v, variable in zip(values, klayer.weights)])
            if hasattr(klayer, "finalize_state"):
                # Keras' own loading (Layer.load_own_variables) does this too: Normalization computes
                # its mean/variance tensors from the weights there, and set_weights alone leaves them stale.
                klayer.finalize_state()

    def forward(self, X, trainable, non_trainable, training: bool, probes=None, return_losses: bool = False):
        """Apply every layer with explicit variable values: (Y, outputs by node, new states[, losses])."""
        values, states, losses = {INPUT: X}, [], []
        for i, (node, klayer) in enumerate(zip(self.spec.nodes, self.keras)):
            kwargs = {"training": training} if "training" in inspect.signature(klayer.call).parameters else {}
            kind = REGISTRY[node.kind]
            with disabled_rules(self.rules):
                args, call_kwargs = kind.keras.arguments(
                    kind.configure(node.config), [values[name] for name in node.inputs], kind.arity
                )
            kwargs.update(call_kwargs)
            if return_losses:
                A, new_state, layer_losses = klayer.stateless_call(
                    trainable[i], non_trainable[i], *args, return_losses=True, **kwargs
                )
                losses.extend(layer_losses)
            else:
                A, new_state = klayer.stateless_call(trainable[i], non_trainable[i], *args, **kwargs)
            A = kind.keras.output(A, kind.configure(node.config))
            if probes:
                A = _probed(A, probes[i])
            values[node.name] = A
            states.append(new_state)
        Y = values[self.spec.output]
        if return_losses:
            return Y, values, states, losses
        return Y, values, states

    def read(self, states, npy, into=None) -> dict[str, np.ndarray]:
        """The canonical weights, into ``into`` when given (an ``ArrayWriter`` writes each layer's as it comes)."""
        weights = {} if into is None else into
        for node, klayer, new_state in zip(self.spec.nodes, self.keras, states):
            kind, layer = REGISTRY[node.kind], self.layers[node.name]
            if kind.converter is NO_WEIGHTS:
                continue
            current = {id(v): npy(v.value) for v in klayer.weights}
            if new_state is not None:
                current.update({id(v): npy(s) for v, s in zip(klayer.non_trainable_variables, new_state)})
            values = [current[id(v)] for v in klayer.weights]
            weights.update(
                {
                    f"{layer.name}.{k}": v
                    for k, v in kind.converter.from_keras(layer, values, self.previous(node)).items()
                }
            )
        return weights

    def grads(self, grads_per_layer, npy, dtype) -> dict[str, np.ndarray]:
        out = {}
        for node, klayer, grads in zip(self.spec.nodes, self.keras, grads_per_layer):
            if klayer.trainable_variables:
                by_id = {
                    id(v): _zeros_if_none(g, tuple(v.shape), dtype, npy)
                    for v, g in zip(klayer.trainable_variables, grads)
                }
                aligned = [by_id.get(id(v)) for v in klayer.weights]  # None for non-trainable entries
                layer = self.layers[node.name]
                converted = REGISTRY[node.kind].converter.grads_from_keras(layer, aligned, self.previous(node))
                out.update({f"{layer.name}.{k}": v for k, v in converted.items()})
        return out


# Built models, kept for the next request of the same model in this worker: a report runs each case
# again in its divergence cases and their layer-by-layer inspection, and building a Keras model
# (layers, symbolic call, variables) costs more than running it. A kept model is exactly a fresh
# one once ``load`` has set every weight; a model with a random layer is built afresh each time (a
# fresh model draws a fresh seed), and so is a large one (a zoo architecture), which no worker
# should keep in memory.
KEPT_GRAPHS: OrderedDict[bytes, KerasGraph] = OrderedDict()
KEEP_GRAPHS = 64
KEEP_PARAMETERS = 100_000  # at most this many weight elements per kept model


def graph_for(request: RunRequest) -> KerasGraph:
    """The request's model, built or kept (``KEPT_GRAPHS``), its weights loaded from the request."""
    spec = request.spec
    keep = (
        not any(REGISTRY[node.kind].traits.stochastic for node in spec.nodes)
        and sum(np.size(w) for w in request.weights.values()) <= KEEP_PARAMETERS
    )
    # The model depends on the spec, the dtype (the policy it is built under) and the disabled rules.
    key = pickle.dumps((spec, request.dtype, tuple(request.disabled_rules))) if keep else b""
    with disabled_rules(request.disabled_rules):
        graph = KEPT_GRAPHS.get(key) if keep else None
        if graph is None:
            with weights_to_come():
                graph = KerasGraph(spec)
        graph.load(request.weights)
    if keep:
        KEPT_GRAPHS[key] = graph
        KEPT_GRAPHS.move_to_end(key)
        while len(KEPT_GRAPHS) > KEEP_GRAPHS:
            KEPT_GRAPHS.popitem(last=False)
    return graph


def _probed(A, P):
    """A + P, with a zero P, so that dL/dP is dL/d(layer output); the probe must not change the loss.

    TensorFlow's sigmoid and softmax attach their input to their output (``_keras_logits``), and its
    cross-entropies compute the loss from that tensor instead (``_get_logits``,
    keras/src/backend/tensorflow/nn.py); A + P would drop the attribute, and a traced run would
    compute another loss than an untraced one (see the tf_from_logits_after_activation divergence).
    """
    probed = A + P
    logits = getattr(A, "_keras_logits", None)
    if logits is not None:
        probed._keras_logits = logits
    return probed


def run_keras(request: RunRequest) -> RunResult:
    import keras

    backend = keras.backend.backend()
    set_keras_precision(request.dtype)
    spec = request.spec
    graph = graph_for(request)
    ops, npy = keras.ops, keras.ops.convert_to_numpy

    integer = integer_input(spec)  # integer ids: a constant of the computation, no gradient
    X = ops.convert_to_tensor(request.inputs.astype("int32" if integer else request.dtype))
    G = ops.convert_to_tensor(request.cotangent.astype(request.dtype))
    trainable = [[v.value for v in klayer.trainable_variables] for klayer in graph.keras]
    counts = [len(t) for t in trainable]
    non_trainable = [[v.value for v in klayer.non_trainable_variables] for klayer in graph.keras]
    loss_object = None
    if request.loss is not None:
        from framework.keras3.losses import loss

        loss_object = loss(request.loss, **request.loss_kwargs)
        targets = ops.convert_to_tensor(target_array(request.targets, request.dtype))

    probes = []
    if request.trace:
        outputs = traced_shapes(backend, lambda: graph.forward(X, trainable, non_trainable, request.training)[1])
        shapes = [tuple(outputs[node.name].shape) for node in spec.nodes]
        probes = [ops.zeros(s, dtype=request.dtype) for s in shapes]

    def unflatten(flat):
        out, k = [], 0
        for n in counts:
            out.append(flat[k : k + n])
            k += n
        return out

    k = 0 if integer else 1  # where the parameters start among the differentiated arguments

    # Integer state (a SeedGenerator's seed, drawn afresh for each new model: every recurrent cell
    # has one, keras/src/layers/rnn/lstm.py) comes back among the new states: closed over, it would be
    # written into the compiled program, whose persistent-cache key then changed on every run. As an
    # argument it is the same value; the float state stays a constant of the program, as before.
    seeds = []
    if backend == "jax":
        seeds = [(i, j) for i, layer in enumerate(non_trainable) for j, v in enumerate(layer) if _is_integer(v)]

    def scalars(args, constants):
        state = [list(layer) for layer in non_trainable]
        for (i, j), value in zip(seeds, constants):
            state[i][j] = value
        x = X if integer else args[0]
        flat, p = args[k : k + sum(counts)], args[k + sum(counts) :]
        Y, values, states = graph.forward(x, unflatten(list(flat)), state, request.training, list(p))
        l2 = loss_object(targets, Y) if loss_object is not None else ops.sum(Y * 0)
        return ops.sum(Y * G), l2, (Y, values, states)

    flat_trainable = [t for layer_values in trainable for t in layer_values]
    _, loss_value, (Y, values, states), g_sum, g_loss = two_gradients(
        backend,
        scalars,
        [*([] if integer else [X]), *flat_trainable, *probes],
        [non_trainable[i][j] for i, j in seeds],
    )
    n = sum(counts)
    grads = {} if integer else {"input": _zeros_if_none(g_sum[0], request.inputs.shape, request.dtype, npy)}
    with disabled_rules(request.disabled_rules):
        grads.update(graph.grads(unflatten(g_sum[k : k + n]), npy, request.dtype))
        loss_grads = graph.grads(unflatten(g_loss[k : k + n]), npy, request.dtype) if loss_object is not None else {}
        weights = graph.read(states, npy)
    trace = []
    if request.trace:
        trace = [
            LayerTrace(node.name, npy(values[node.name]), _zeros_if_none(g, tuple(P.shape), request.dtype, npy))
            for node, g, P in zip(spec.nodes, g_sum[k + n :], probes)
        ]
    output = npy(Y)
    masks = {}
    if request.training:
        masks = {
            node.name: dropout_mask(npy(values[node.name]))
            for node in spec.nodes
            if REGISTRY[node.kind].traits.stochastic
        }
    return RunResult(
        impl=f"keras-{backend}",
        output=output,
        loss=float(npy(loss_value)) if loss_object is not None else float("nan"),
        grads=grads,
        loss_grads=loss_grads,
        weights=weights,
        computed_dtype=str(output.dtype),
        trace=trace,
        dropout_masks=masks,
    )


def _is_integer(value) -> bool:
    return np.issubdtype(np.dtype(value.dtype), np.integer)


def _zeros_if_none(grad, shape, dtype, npy) -> np.ndarray:
    return np.zeros(shape, dtype=dtype) if grad is None else np.array(npy(grad))


def kept_models() -> int:
    """How many built models this worker keeps (``KEPT_GRAPHS``)."""
    return len(KEPT_GRAPHS)
