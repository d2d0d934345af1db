"""Keras model -> model spec, through the model's own layer graph and each layer's configuration.

``Sequential``, functional and nested models (a model used as a layer is inlined, its layers
named ``outer.inner``). A layer used twice becomes two calls, the second sharing the first's
weights (``Node.shares``). ``Dense(..., activation="relu")`` becomes a dense layer followed by
a relu layer named ``<dense>_relu``: the registry's kinds are single operations, and a torch
port writes the activation separately. Imports Keras: runs in a Keras worker process.
"""

from __future__ import annotations

from parity.layers import REGISTRY
from parity.spec.model import INPUT, ModelSpec, Node, SpecError

MASK = "<ids != 0>"  # the mask Embedding(mask_zero=True) computes, as an edge: read as the model input's ids


def import_keras(model, name: str | None = None) -> ModelSpec:
    """The spec of a built Keras model (it must know its input shape)."""
    name = name or model.name
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise SpecError(
            f"model {name!r}: {len(model.inputs)} inputs and {len(model.outputs)} outputs (one of each is supported)"
        )
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise SpecError(
            f"model {name!r}: input shape {shape} has unknown sizes; build the model with keras.Input(shape=...)"
        )
    reader = _Reader(name)
    output = reader.walk(model, [INPUT], prefix="")
    dtype = "int" if "int" in str(model.inputs[0].dtype) else "float"
    return ModelSpec(name, shape, tuple(reader.nodes), output, dtype)


def _activation_name(function) -> str:
    import keras

    # A built-in activation is named by a lookup: keras.activations.get(name) reads the table of built-ins
    # (keras/src/activations/__init__.py), and its name there is what serialize returns for it. serialize
    # asks whether TensorFlow is available (keras/src/saving/serialization_lib.py), which imports
    # TensorFlow into a process on another backend: seconds of CPU and hundreds of MiB.
    name = getattr(function, "__name__", None)
    if isinstance(name, str):
        try:
            if keras.activations.get(name) is function:
                return name
        except ValueError:
            pass
    try:
        serialized = keras.activations.serialize(function)
    except (ValueError, TypeError):
        serialized = None
    if isinstance(serialized, str):
        return serialized
    if isinstance(serialized, dict) and isinstance(serialized.get("config"), str):
        return serialized["config"]
    return getattr(function, "__name__", repr(function))


class _Reader:
    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.nodes: list[Node] = []
        self.calls: dict[int, str] = {}  # id(layer) -> the first call's node name
        self.names: set[str] = set()
        self.masked: set[str] = set()  # nodes whose output carries the mask Embedding(mask_zero=True) made

    def fail(self, where: str, message: str):
        raise SpecError(f"model {self.model_name!r}, layer {where!r}: {message}")

    def walk(self, model, input_names: list[str], prefix: str) -> str:
        """Append the nodes of ``model`` reading ``input_names``; return the output's node name."""
        import keras

        if isinstance(model, keras.Sequential):
            current = input_names[0]
            for layer in model.layers:
                current = self.emit(layer, [current], prefix)
            return current
        names = {id(t): n for t, n in zip(model.inputs, input_names)}
        for knode in _call_order(model):
            if knode.is_input or isinstance(knode.operation, keras.layers.InputLayer):
                continue
            inputs = [names[id(t)] for t in knode.input_tensors]
            if not isinstance(knode.operation, keras.layers.Layer):  # x + 3.0: a keras.ops call, no layer
                out = self.emit_op(knode, inputs, prefix)
            else:
                out = self.emit(knode.operation, inputs, prefix, dict(knode.arguments.kwargs))
            for tensor in knode.output_tensors:
                names[id(tensor)] = out
        return names[id(model.outputs[0])]

    def emit(self, layer, inputs: list[str], prefix: str, call_kwargs: dict | None = None) -> str:
        import keras

        where = prefix + layer.name
        if isinstance(layer, keras.Model):
            return self.walk(layer, inputs, prefix=where + ".")
        cls = type(layer).__name__
        if cls == "Activation":
            activation = _activation_name(layer.activation)
            if activation == "linear":
                # Activation("linear") computes nothing (ConvNeXt's "_identity" when drop_path_rate is 0),
                # as nn.Identity, which torch.export does not see: neither importer makes it a layer.
                return inputs[0]
            kind = REGISTRY.for_keras_activation(activation)
            if kind is None:
                self.fail(where, f"unsupported activation {activation!r}; supported: {', '.join(_activations())}")
            return self.add(layer, where, kind, kind.keras.activation_config(activation), inputs)
        kind = REGISTRY.for_keras_class(cls)
        if kind is None:
            self.fail(where, f"unsupported Keras layer {cls}; supported: {', '.join(REGISTRY.keras_class_names())}")
        try:
            kind, config = REGISTRY.read_keras_layer(layer)
            if kind.keras.read_call is not None:
                config.update(kind.keras.read_call(call_kwargs or {}))
        except ValueError as error:
            self.fail(where, f"{cls}: {error}")
        if kind.arity == 1 and len(inputs) > 1 and len(set(inputs)) == 1:
            inputs = inputs[:1]  # layer(x, x): self-attention reads one tensor
        mask_edges = [i for i in inputs if i == MASK]  # mask=(ids != 0), passed explicitly by Keras
        inputs = [i for i in inputs if i != MASK]
        inputs, config, masked = self.read_mask(where, cls, kind, config, inputs, bool(mask_edges))
        out = self.add(layer, where, kind, config, inputs)
        if masked:
            self.masked.add(out)
        if kind.keras.splits_activation:
            activation = _activation_name(layer.activation)
            if activation != "linear":
                act = REGISTRY.for_keras_activation(activation)
                if act is None:
                    self.fail(where, f"unsupported activation {activation!r}; supported: {', '.join(_activations())}")
                out = self.add(None, f"{where}_{activation}", act, act.keras.activation_config(activation), [out])
        return out

    def read_mask(
        self, where: str, cls: str, kind, config, inputs: list[str], given: bool = False
    ) -> tuple[list[str], dict, bool]:
        """The mask ``Embedding(mask_zero=True)`` propagates (ids != 0 of the model's input), as spec edges:
        a kind with ``key_padding`` (self-attention: keys, and Keras' queries) or ``masked`` (a mean over
        the tokens) reads the ids as a second input from the model input. Returns (inputs, config,
        whether the output still carries the mask: Embedding's, and MultiHeadAttention's query mask)."""
        if config.get("mask_zero"):
            if inputs != [INPUT]:
                self.fail(where, f"{cls}(mask_zero=True) reading {inputs[0]!r} (only the model's integer input is supported)")
            return inputs, config, True
        if not given and not any(i in self.masked for i in inputs):
            return inputs, config, False
        if len(inputs) == 1 and "key_padding" in kind.defaults:
            return [*inputs, INPUT], {**config, "key_padding": True}, True
        if len(inputs) == 1 and "masked" in kind.defaults and not config.get("keepdims"):
            return [*inputs, INPUT], {**config, "masked": True}, False
        self.fail(where, f"{cls} reads a tensor masked by Embedding(mask_zero=True) (not supported for {kind.name})")

    def emit_op(self, knode, inputs: list[str], prefix: str) -> str:
        """A keras.ops call on a symbolic tensor (MobileNetV3's ``x + 3.0``, ``x * (1.0 / 6.0)``): the first
        kind listing the operation's class (``keras.ops``) whose ``read_op`` takes its arguments."""
        import keras

        operation, cls = knode.operation, type(knode.operation).__name__
        where = prefix + operation.name
        symbolic = lambda a: isinstance(a, keras.KerasTensor)  # noqa: E731
        args = [None if symbolic(a) else a for a in knode.arguments.args]
        if cls == "NotEqual" and args == [None, 0] and inputs == [INPUT]:
            return MASK  # Embedding(mask_zero=True)'s compute_mask, handed to a layer as its mask=
        for kind in REGISTRY:
            if cls in kind.keras.ops and kind.keras.read_op is not None:
                config = kind.keras.read_op(args, cls)
                if config is not None:
                    return self.add(None, where, kind, config, inputs)
        self.fail(where, f"unsupported Keras operation {cls} with arguments {args}")

    def add(self, layer, name: str, kind, config, inputs: list[str]) -> str:
        shares = None
        if layer is not None and id(layer) in self.calls:
            shares = self.calls[id(layer)]
            count = 1
            while f"{shares}@{count}" in self.names:
                count += 1
            name = f"{shares}@{count}"
        elif layer is not None:
            self.calls[id(layer)] = name
        if name in self.names:
            self.fail(name, "two layers have this name")
        self.names.add(name)
        if not kind.accepts(len(inputs)):
            most = kind.arity + kind.optional_inputs
            reads = "one input" if most == 1 else f"{kind.arity} to {most} inputs"
            self.fail(name, f"{kind.name} reads {reads}, received {len(inputs)}")
        self.nodes.append(Node(name, kind.name, kind.configure(config), tuple(inputs), shares))
        return name


def _activations() -> list[str]:
    return sorted({a for kind in REGISTRY for a in kind.keras.activations})


def _call_order(model) -> list:
    """The functional model's nodes in the order the code calls them, as far as the graph tells it:
    depth first from the output, each node after its inputs, visited in argument order.

    ``Add()([out, shortcut])`` thus lists the main branch, then the shortcut, then the add, the
    order a torch ``forward`` computing ``out + self.shortcut(x)`` runs them in. Keras' own
    ``_nodes_by_depth`` interleaves two branches of different lengths by their distance from the output.
    """
    network = {id(knode) for knodes in model._nodes_by_depth.values() for knode in knodes}
    order, done = [], set()
    for tensor in model.outputs:
        operation, node_index, _ = tensor._keras_history
        stack = [(operation._inbound_nodes[node_index], False)]
        while stack:
            knode, expanded = stack.pop()
            if id(knode) in done:
                continue
            if expanded:
                done.add(id(knode))
                order.append(knode)
                continue
            stack.append((knode, True))
            parents = [p for p in knode.parent_nodes if id(p) in network]
            stack.extend((parent, False) for parent in reversed(parents))  # the first input is visited first
    return order
