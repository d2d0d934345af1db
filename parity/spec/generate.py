"""Generators: a model spec -> the scratch model, the torch module, the Keras model.

The torch module is what a practitioner writes: the registry's idiomatic torch.nn modules,
images and Conv1d's sequences channels-first, no wrapper around any layer. Layouts change at
the model's boundary (the data is handed over in the layout its first reader declares:
NHWC in, NCHW to nn.Conv2d), where a kind reads another layout than its producer gives (a
permute between nn.Conv1d's (B, C, L) and nn.LSTM's (B, L, C), visible in the module's repr),
and in how each activation maps back to the canonical layout (``torch_layouts``), which a
per-layer trace uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
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
        graph = Graph(nodes, spec.input_shape, spec.output)
    except ValueError as error:
        raise SpecError(f"model {spec.name!r}: {error}") from None
    shapes = node_shapes(spec, graph)
    for node in spec.nodes:  # each kind's own check of its configuration against the shapes it reads
        kind = _kind(spec, node)
        if kind.validate is not None:
            try:
                kind.validate(kind.configure(node.config), [shapes[i] for i in node.inputs])
            except (KeyError, ValueError, TypeError) as error:
                inputs = ", ".join(str(shapes[i]) for i in node.inputs)
                raise SpecError(f"model {spec.name!r}, layer {node.name!r} ({node.kind}, inputs {inputs}): {error}") from None
    # How the generated torch model lays out each layer's input: a converter whose rule depends on
    # what feeds a layer (``flatten_order``: a flattened channels-first map) reads it off ``previous``.
    try:
        reads = layouts_of(spec, shapes).read
    except SpecError:
        reads = {}  # torch cannot build this spec; scratch and Keras still can
    for layer in graph.layers:
        layer.torch_reads = reads.get(layer.name)
    return graph


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
    """The layout the torch model receives its input in: the one its first reader declares
    (``torch.reads``: nn.Conv1d reads (B, C, L), nn.LSTM (B, T, F)); without a declaration,
    images (H, W, C) are channels-first (B, C, H, W) and anything else canonical."""
    for node in spec.nodes:
        if INPUT in node.inputs:
            kind = REGISTRY.kinds.get(node.kind)
            reads = kind.torch.reads if kind is not None else None
            if reads is not None and len(spec.input_shape) >= 2:
                return Layout(reads)
            break
    return Layout(CHANNELS_FIRST if len(spec.input_shape) == 3 else CANONICAL)


@dataclass(frozen=True)
class TorchLayouts:
    """Every torch activation's layout (``out``), the layout each module reads (``read``), and
    the permutes between them: ``permutes[node] = (from, to)`` where the producer's layout is
    not the one the node's kind declares it reads (``torch.reads``); ``joins[node] = {i: (from,
    to)}`` where input i > 0 of a merge reaches torch in another layout than the first input is
    read in (ConvNeXt's ``x + layer_scale(...)``: the block's NCHW input plus its NHWC branch),
    which is then permuted to the first input's layout, as ConvNeXt's torch code permutes back
    before the residual add."""

    out: dict[str, Layout]
    read: dict[str, Layout]
    permutes: dict[str, tuple[str, str]]
    joins: dict[str, dict[int, tuple[str, str]]] = field(default_factory=dict)


def _per_feature_weights(kind) -> bool:
    """A kind with weights over its input's features whose converter does not reorder them after a
    channels-first flatten (``flatten_order``): LayerNorm, BatchNorm1d, LayerScale, ..."""
    from parity.convert.base import NO_WEIGHTS

    return kind.torch.layout == "follow" and kind.converter is not NO_WEIGHTS and "flatten_order" not in kind.converter.rules


def layouts_of(spec: ModelSpec, shapes: dict[str, Shape] | None = None) -> TorchLayouts:
    """Follow each kind's declared ``torch.reads`` and ``torch.layout`` through the spec."""
    shapes = shapes or node_shapes(spec)
    out = {INPUT: input_layout(spec)}
    read: dict[str, Layout] = {}
    permutes: dict[str, tuple[str, str]] = {}
    joins: dict[str, dict[int, tuple[str, str]]] = {}
    for node in spec.nodes:
        kind = REGISTRY[node.kind]
        given = read[node.name] = out[node.inputs[0]]
        wanted = kind.torch.reads
        if wanted is not None and len(shapes[node.inputs[0]]) >= 2 and given.tag != wanted:
            if given.tag == FLAT_CHANNELS_FIRST:
                raise SpecError(
                    f"model {spec.name!r}, layer {node.name!r} ({node.kind}): reads a flattened channels-first "
                    f"map, which no permute makes {wanted}"
                )
            read[node.name] = Layout(wanted)
            permutes[node.name] = (given.tag, wanted)
        if given.tag == FLAT_CHANNELS_FIRST and _per_feature_weights(kind):
            # Found by `parity fuzz` (seed 2026, model 21): Flatten -> LayerNorm. torch's per-feature
            # weights follow the flattened channels-first order (C, *S), scratch's and Keras' (*S, C);
            # only Dense's converter permutes them (rule flatten_order).
            raise SpecError(
                f"model {spec.name!r}, layer {node.name!r} ({node.kind}): its per-feature weights would follow a "
                f"flattened channels-first {given.source} map in torch, which its converter does not reorder "
                "(only dense's rule flatten_order does); apply it before the flatten"
            )
        target = read[node.name]
        for i, name in enumerate(node.inputs[1:], start=1):
            if out[name] == target:
                continue
            if FLAT_CHANNELS_FIRST in (out[name].tag, target.tag) or len(shapes[name]) < 2:
                # Found by `parity fuzz`: a merge whose inputs no permute brings to one layout.
                raise SpecError(
                    f"model {spec.name!r}, layer {node.name!r} ({node.kind}): its inputs reach torch in different "
                    f"layouts ({node.inputs[0]!r}: {target.tag}, {name!r}: {out[name].tag}) that no permute joins"
                )
            joins.setdefault(node.name, {})[i] = (out[name].tag, target.tag)  # Found by `parity fuzz` (Conv1d + LSTM)
        rule = kind.torch.layout
        if callable(rule):  # decided by the shapes (a (C,) vector viewed as a channels-first (C, 1, 1) map)
            out[node.name] = Layout(rule(kind.configure(node.config), read[node.name].tag, shapes[node.inputs[0]]))
        elif rule == "follow":
            out[node.name] = read[node.name]
            source = out[node.name].source
            if out[node.name].tag == FLAT_CHANNELS_FIRST and math.prod(shapes[node.name]) != math.prod(source):
                # Found by `parity fuzz` (seed 2026, model 21): torch.cat of two flattened NCHW maps is
                # two channels-first blocks, a feature order that one flattened source does not describe.
                raise SpecError(
                    f"model {spec.name!r}, layer {node.name!r} ({node.kind}): joins flattened channels-first maps "
                    f"into {shapes[node.name]} features, an order no single flattened {source} map describes"
                )
        elif rule == "flatten":
            source = shapes[node.inputs[0]]
            out[node.name] = (
                Layout(FLAT_CHANNELS_FIRST, source) if read[node.name].tag == CHANNELS_FIRST else Layout(CANONICAL)
            )
        else:
            out[node.name] = Layout(rule if len(shapes[node.name]) >= 2 else CANONICAL)
    return TorchLayouts(out, read, permutes, joins)


def torch_layouts(spec: ModelSpec, shapes: dict[str, Shape] | None = None) -> dict[str, Layout]:
    """The layout of every torch activation, from each kind's declared ``torch.layout``."""
    return layouts_of(spec, shapes).out


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
    layouts = layouts_of(spec, shapes)
    modules = {}
    for node in spec.nodes:
        kind = _kind(spec, node)
        config = kind.configure(node.config)
        try:
            modules[node.name] = kind.torch.build(config, [shapes[i] for i in node.inputs], layouts.read[node.name].tag)
        except (ValueError, TypeError) as error:
            raise SpecError(f"model {spec.name!r}, layer {node.name!r} ({node.kind}): {error}") from None
    return SpecModel(spec, modules, layouts.permutes, layouts.joins)


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
        config = kind.configure(node.config)
        args, kwargs = kind.keras.arguments(config, [values[i] for i in node.inputs], kind.arity)
        values[node.name] = kind.keras.output(layer(*args, **kwargs), config)
    model = keras.Model(inputs, values[spec.output], name=keras_name(spec.name))
    model.spec_layers = layers  # node name -> Keras layer
    return model
