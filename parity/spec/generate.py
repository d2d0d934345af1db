"""Generators: a model spec -> the scratch model, the torch module, the Keras model.

The torch module is what a practitioner writes: the registry's idiomatic torch.nn modules,
images NCHW, no wrapper around any layer. The only layout change is at the model's
boundary (NHWC data in, NCHW to the first module) and in how each activation maps back to
the canonical layout (``torch_layouts``), which a per-layer trace uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from parity.layers import CANONICAL, CHANNELS_FIRST, FLAT_CHANNELS_FIRST, REGISTRY
from parity.spec.model import INPUT, ModelSpec, Node, SpecError

Shape = tuple[int, ...]


# Shapes and layouts ---------------------------------------------------------------------


def build_scratch(spec: ModelSpec):
    """The scratch model: a ``scratch.graph.Graph`` of the registry's scratch layers, built (shapes known)."""
    from scratch.graph import Graph

    nodes = []
    for node in spec.nodes:
        kind = _kind(spec, node)
        try:
            layer = kind.scratch(kind.configure(node.config), node.name)
        except (KeyError, ValueError, TypeError) as error:
            raise SpecError(f"model {spec.name!r}, layer {node.name!r} ({node.kind}): {error}") from None
        nodes.append((layer, node.inputs))
    try:
        return Graph(nodes, spec.input_shape, spec.output)
    except ValueError as error:
        raise SpecError(f"model {spec.name!r}: {error}") from None


def node_shapes(spec: ModelSpec, scratch_model=None) -> dict[str, Shape]:
    """One sample's canonical output shape of every node (and of ``input``)."""
    model = scratch_model or build_scratch(spec)
    shapes: dict[str, Shape] = {INPUT: spec.input_shape}
    for layer in model.layers:
        shapes[layer.name] = tuple(layer.output_shape(layer.input_shape))
    return shapes


@dataclass(frozen=True)
class Layout:
    """How a torch activation is laid out against the canonical one.

    ``tag`` is CANONICAL, CHANNELS_FIRST or FLAT_CHANNELS_FIRST; for the last, ``source`` is the
    canonical shape of the map that was flattened (torch flattens (C, H, W), scratch (H, W, C)).
    """

    tag: str
    source: Shape = ()

    def to_canonical(self, A: np.ndarray) -> np.ndarray:
        if self.tag == CHANNELS_FIRST:
            return np.moveaxis(A, 1, -1)  # (B, C, *S) -> (B, *S, C)
        if self.tag == FLAT_CHANNELS_FIRST:
            *S, C = self.source
            A = A.reshape(A.shape[0], C, *S)  # (B, C, *S)
            return np.moveaxis(A, 1, -1).reshape(A.shape[0], -1)  # (B, prod(S) * C), channel fastest
        return A

    def from_canonical(self, A: np.ndarray) -> np.ndarray:
        if self.tag == CHANNELS_FIRST:
            return np.moveaxis(A, -1, 1)  # (B, *S, C) -> (B, C, *S)
        if self.tag == FLAT_CHANNELS_FIRST:
            *S, C = self.source
            A = A.reshape(A.shape[0], *S, C)
            return np.moveaxis(A, -1, 1).reshape(A.shape[0], -1)
        return A


def input_layout(spec: ModelSpec) -> Layout:
    """torch reads images channels-first: a (H, W, C) input is (B, C, H, W) to the torch model."""
    return Layout(CHANNELS_FIRST if len(spec.input_shape) == 3 else CANONICAL)


def torch_layouts(spec: ModelSpec, shapes: dict[str, Shape] | None = None) -> dict[str, Layout]:
    """The layout of every torch activation, from each kind's declared ``torch.layout``."""
    shapes = shapes or node_shapes(spec)
    layouts = {INPUT: input_layout(spec)}
    for node in spec.nodes:
        rule = REGISTRY[node.kind].torch.layout
        first = layouts[node.inputs[0]]
        if rule == "follow":
            layouts[node.name] = first
        elif rule == "flatten":
            source = shapes[node.inputs[0]]
            layouts[node.name] = (
                Layout(FLAT_CHANNELS_FIRST, source) if first.tag == CHANNELS_FIRST else Layout(CANONICAL)
            )
        else:
            layouts[node.name] = Layout(rule if len(shapes[node.name]) >= 2 else CANONICAL)
    return layouts


def layout_source(spec: ModelSpec, node: Node) -> str:
    """The node that fixes the layout of ``node``'s input: walk back through kinds that keep their
    input's layout (an activation, a dropout) to the one that made it (a Flatten, say). A weight
    converter whose rule depends on what feeds it (``flatten_order``) looks at that node."""
    name = node.inputs[0]
    while name != INPUT:
        producer = spec.node(name)
        if REGISTRY[producer.kind].torch.layout != "follow":
            return name
        name = producer.inputs[0]
    return INPUT


def keras_name(name: str) -> str:
    return name.replace(".", "_").replace("/", "_")


def _kind(spec: ModelSpec, node: Node):
    if node.kind not in REGISTRY:
        raise SpecError(
            f"model {spec.name!r}, layer {node.name!r}: unknown layer kind {node.kind!r}; supported: {', '.join(REGISTRY.names())}"
        )
    kind = REGISTRY[node.kind]
    if node.shares is not None and kind.converter.rules:
        raise SpecError(
            f"model {spec.name!r}, layer {node.name!r}: a {node.kind} layer called twice (shared weights) is not supported yet"
        )
    return kind


# torch ---------------------------------------------------------------------------------------


def build_torch(spec: ModelSpec):
    """The torch module (NCHW images): ``SpecModel``, its submodules named after the spec's layers."""
    from parity.spec.torch_model import SpecModel

    shapes = node_shapes(spec)
    layouts = torch_layouts(spec, shapes)
    modules = {}
    for node in spec.nodes:
        kind = _kind(spec, node)
        config = kind.configure(node.config)
        try:
            modules[node.name] = kind.torch.build(config, [shapes[i] for i in node.inputs], layouts[node.inputs[0]].tag)
        except (ValueError, TypeError) as error:
            raise SpecError(f"model {spec.name!r}, layer {node.name!r} ({node.kind}): {error}") from None
    return SpecModel(spec, modules)


# Keras ----------------------------------------------------------------------------------------


def build_keras(spec: ModelSpec):
    """The Keras functional model; layers are named after the spec's (``keras_name``). Imports Keras."""
    import keras

    inputs = keras.Input(shape=spec.input_shape, dtype="int32" if spec.input_dtype == "int" else None, name="input")
    values: dict[str, Any] = {INPUT: inputs}
    layers = {}
    for node in spec.nodes:
        kind = _kind(spec, node)
        layer = kind.keras.build(kind.configure(node.config), keras_name(node.name))
        layers[node.name] = layer
        args, kwargs = kind.keras.arguments(kind.configure(node.config), [values[i] for i in node.inputs], kind.arity)
        values[node.name] = kind.keras.output(layer(*args, **kwargs))
    model = keras.Model(inputs, values[spec.output], name=keras_name(spec.name))
    model.spec_layers = layers  # node name -> Keras layer
    return model
