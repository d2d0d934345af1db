"""A model spec -> readable source code: a Keras ``build()`` or a torch ``nn.Module``.

What ``parity port`` writes into ``model.py``: the model as a person writes it in the target
framework, each layer's constructor from its registry entry's ``source`` (the code twin of its
``build``), a comment on each line where a conversion rule applied, and a
``build_with_weights()`` that loads the converted weights saved beside the file.

The port takes inputs in the target framework's own convention: channels-last images for
Keras, NCHW for torch. The channels-last / channels-first difference is then entirely in the
weights (a kernel transposed, the rows after a Flatten permuted) and in a dim argument
(softmax, concatenation over the channels). ``forward`` permutes only where the generated
``SpecModel`` does (``parity.spec.generate.layouts_of``): right before a module that reads the
other layout (``x.transpose(1, 2)`` from an nn.LSTM's (B, L, C) to an nn.Conv1d's (B, C, L)).
"""

from __future__ import annotations

import keyword

from parity.layers import CANONICAL, CHANNELS_FIRST, REGISTRY
from parity.spec.blocks import attributes, tree_of
from parity.spec.generate import keras_name, layouts_of, node_shapes, torch_layouts
from parity.spec.model import INPUT, ModelSpec, SpecError

KERAS_WEIGHTS = "model.weights.h5"
TORCH_WEIGHTS = "model.pt"
_RESERVED = {"x", "inputs", "out", "keras", "layers", "torch", "nn", "self", "model", "state", "build", "Path"}
_MODULE_ATTRIBUTES = {"training", "forward", "cuda", "cpu", "float", "double", "eval", "train", "type", "to"}


def identifier(name: str) -> str:
    """A layer name as a Python name: ``features.0`` -> ``features_0``, ``0`` -> ``layer_0``."""
    text = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    if not text.isidentifier() or keyword.iskeyword(text) or text in _RESERVED | _MODULE_ATTRIBUTES:
        text = f"layer_{text}"
    return text


def _source(spec: ModelSpec, node, side: str):
    kind = REGISTRY[node.kind] if node.kind in REGISTRY else None
    writer = getattr(kind, side).source if kind else None
    if writer is None:
        framework = "PyTorch" if side == "torch" else "Keras"
        raise SpecError(f"model {spec.name!r}, layer {node.name!r}: layer kind {node.kind!r} has no {framework} source")
    if node.shares is not None and kind.converter.rules:
        raise SpecError(
            f"model {spec.name!r}, layer {node.name!r}: a {node.kind} layer called twice (shared weights) is not supported"
        )
    return kind, writer


def _comment(comments) -> str:
    return f"  # {'; '.join(comments)}" if comments else ""


def _shape(shape) -> str:
    return "(" + ", ".join(["B", *(str(d) for d in shape)]) + ")"


def _docstring(spec: ModelSpec, origin: str, framework: str, sample: tuple, weights: str, extra: str) -> str:
    images = "images are channels-last, as Keras reads them" if framework == "Keras" else "images are NCHW"
    owner = "Keras'" if framework == "Keras" else "PyTorch's"
    return f'''"""{spec.name}, ported to {framework} from {origin} by `parity port`.

Inputs in {owner} own convention ({images}): one sample is {sample},
a batch {_shape(sample)}.{extra}

build() makes the model; build_with_weights() also loads {weights}, saved beside this
file: the source's weights, converted. A comment marks each line where a conversion rule
applied. parity.md beside it is the verdict of comparing this port with its source.
"""
'''


def _layer_error(spec: ModelSpec, node, error: Exception) -> SpecError:
    return SpecError(f"model {spec.name!r}, layer {node.name!r} ({node.kind}): {error}")


# Keras ---------------------------------------------------------------------------------------


def keras_source(spec: ModelSpec, origin: str) -> str:
    """``model.py`` of a Keras functional model with the spec's layers, named after them."""
    shapes = node_shapes(spec)
    layouts = torch_layouts(spec, shapes)
    chain = spec.is_chain
    names = {INPUT: "inputs", **{node.name: "x" if chain else identifier(node.name) for node in spec.nodes}}
    imports: list[str] = []
    dtype = ', dtype="int32"' if spec.input_dtype == "int" else ""
    lines = [f'    inputs = keras.Input(shape={tuple(spec.input_shape)!r}{dtype}, name="input")']
    shared = {node.shares for node in spec.nodes if node.shares is not None}
    for node in spec.nodes:
        kind, writer = _source(spec, node, "keras")
        try:
            source = writer(
                kind.configure(node.config),
                keras_name(node.name),
                [shapes[i] for i in node.inputs],
                layouts[node.inputs[0]].tag,
            )
        except (ValueError, TypeError) as error:
            raise _layer_error(spec, node, error) from None
        imports += [i for i in source.imports if i not in imports]
        args = [names[i] for i in node.inputs]
        argument = f"[{', '.join(args)}]" if kind.arity == 0 else args[0]
        call = source.call or "{y} = {m}({x})"
        layer = source.expression
        if node.shares is not None:  # the same layer object called again, as a Keras user reuses a layer
            layer = f"{identifier(node.shares)}_layer"
        elif node.name in shared:
            lines.append(f"    {identifier(node.name)}_layer = {layer}  # called again below")
            layer = f"{identifier(node.name)}_layer"
        fields = {"y": names[node.name], "m": layer, "x": argument, **{f"x{i}": a for i, a in enumerate(args)}}
        lines.append(f"    {call.format(**fields)}{_comment(source.comments)}")
    lines.append(f'    return keras.Model(inputs, {names[spec.output]}, name="{keras_name(spec.name)}")')
    header = [
        _docstring(spec, origin, "Keras", tuple(spec.input_shape), KERAS_WEIGHTS, ""),
        "from pathlib import Path",
        "",
        "import keras",
        "from keras import layers",
        *imports,
        "",
        "",
        "def build() -> keras.Model:",
    ]
    footer = [
        "",
        "",
        "def build_with_weights() -> keras.Model:",
        "    model = build()",
        f'    model.load_weights(Path(__file__).with_name("{KERAS_WEIGHTS}"))',
        "    return model",
    ]
    return "\n".join([*header, *lines, *footer]) + "\n"


# torch ---------------------------------------------------------------------------------------


def _torch_shape(shape, layout: str) -> tuple:
    return (shape[-1], *shape[:-1]) if layout == CHANNELS_FIRST else tuple(shape)


def _permute(name: str, permute: tuple[str, str], shape) -> tuple[str, str]:
    """``name`` moved from one layout to the other, as code, and the comment saying so."""
    given, wanted = permute
    canonical = _shape(shape)
    first = _shape(_torch_shape(shape, CHANNELS_FIRST))
    if len(shape) == 2:
        return f"{name}.transpose(1, 2)", (
            f"permuted {canonical} -> {first}" if wanted == CHANNELS_FIRST else f"permuted {first} -> {canonical}"
        )
    if len(shape) == 3:  # images, as ConvNeXt's torch code writes it
        if (given, wanted) == (CANONICAL, CHANNELS_FIRST):
            return f"{name}.permute(0, 3, 1, 2)", f"permuted {canonical} -> {first}"
        return f"{name}.permute(0, 2, 3, 1)", f"permuted {first} -> {canonical}"
    if (given, wanted) == (CANONICAL, CHANNELS_FIRST):
        return f"{name}.movedim(-1, 1)", f"permuted {canonical} -> {first}"
    return f"{name}.movedim(1, -1)", f"permuted {first} -> {canonical}"


def _init_lines(tree, modules: dict[str, tuple[str, str]]) -> list[str]:
    """``self.<attribute> = <module>`` per top-level member; a block is an nn.ModuleDict of its members."""

    def block(level, indent: str) -> list[str]:
        lines = []
        for attribute, member in level.items():
            if isinstance(member, dict):
                lines += [f'{indent}"{attribute}": nn.ModuleDict({{', *block(member, indent + "    "), f"{indent}}}),"]
            else:
                expression, comment = modules[member]
                lines.append(f'{indent}"{attribute}": {expression},{comment}')
        return lines

    lines = []
    for attribute, member in tree.items():
        if isinstance(member, dict):
            lines += [f"        self.{attribute} = nn.ModuleDict({{", *block(member, " " * 12), "        })"]
        else:
            expression, comment = modules[member]
            lines.append(f"        self.{attribute} = {expression}{comment}")
    return lines


def torch_source(spec: ModelSpec, origin: str) -> str:
    """``model.py`` of an ``nn.Module``: submodules named after the spec's layers, applied in ``forward``.

    Layers named by block (``conv2_block1_1_conv``) are nested in ``nn.ModuleDict`` blocks
    (``self.conv2.block1.conv1``; ``parity.spec.blocks``): the state_dict keys follow the blocks,
    and ``forward`` stays one sequence of calls. A ModuleDict rather than a class per block:
    Keras' blocks of one stage differ (the first projects its shortcut and strides), so a class
    per block would be a class per variant, and a block's calls would leave the one ``forward``
    a reader follows; a ModuleDict is plain torch, prints as the hierarchy and loads any
    state_dict with those keys."""
    shapes = node_shapes(spec)
    relayouts = layouts_of(spec, shapes)
    layouts = relayouts.out
    chain = spec.is_chain
    names = {INPUT: "x", **{node.name: "x" if chain else identifier(node.name) for node in spec.nodes}}
    imports: list[str] = []
    forward: list[str] = []
    sources = {}
    for node in spec.nodes:
        kind, writer = _source(spec, node, "torch")
        layout = relayouts.read[node.name].tag
        try:
            sources[node.name] = writer(kind.configure(node.config), [shapes[i] for i in node.inputs], layout)
        except (ValueError, TypeError) as error:
            raise _layer_error(spec, node, error) from None
    owners = [n.name for n in spec.nodes if sources[n.name].expression is not None and n.shares is None]
    paths = attributes(owners, lambda name: identifier(name.replace(".", "_")))
    modules = {}  # layer -> (constructor, comment)
    for node in spec.nodes:
        source = sources[node.name]
        imports += [i for i in source.imports if i not in imports]
        args = [names[i] for i in node.inputs]
        comments = list(source.comments)
        permuted = []
        call = source.call or "{y} = {m}({x})"
        if node.name in relayouts.permutes:  # the permute SpecModel makes (parity.spec.torch_model.PERMUTES)
            moved, why = _permute(args[0], relayouts.permutes[node.name], shapes[node.inputs[0]])
            if call.count("{x0}") + call.count("{x}") > 1:  # x.reshape(x.size(0), 10) reads x twice: permute once
                args[0] = "x" if chain else f"{identifier(node.name)}_input"
                forward.append(f"        {args[0]} = {moved}  # {why}")
            else:
                args[0] = moved
                permuted.append(why)
        for i, relayout in relayouts.joins.get(node.name, {}).items():  # a merge's input, to the first's layout
            args[i], why = _permute(args[i], relayout, shapes[node.inputs[i]])
            permuted.append(why)
        fields = {"y": names[node.name], "x": ", ".join(args), **{f"x{i}": a for i, a in enumerate(args)}}
        if source.expression is not None and node.shares is not None:  # the same module, called again
            fields["m"] = "self." + ".".join(paths[node.shares])
            comments = []
        elif source.expression is not None:
            modules[node.name] = (source.expression, _comment(comments))
            fields["m"] = "self." + ".".join(paths[node.name])
            comments = []
        comments = permuted + comments
        steps = call.format(**fields).split("\n")
        shape = _shape(_torch_shape(shapes[node.name], layouts[node.name].tag))
        if len(steps) == 1 and "#" not in steps[0]:
            comments.append(shape)
        last = (
            f"{steps[-1]}; {'; '.join(comments)}" if comments and "#" in steps[-1] else steps[-1] + _comment(comments)
        )
        forward += [f"        {step}" for step in steps[:-1]] + [f"        {last}"]
    forward.append(f"        return {names[spec.output]}")
    cls = identifier(spec.name)
    cls = cls[0].upper() + cls[1:]
    sample = _torch_shape(spec.input_shape, layouts[INPUT].tag)
    extra = ""
    if relayouts.permutes or relayouts.joins:
        extra = (
            "\nforward permutes only right before a module that reads the other layout (nn.Conv1d\n"
            "reads (B, C, L), the batch-first recurrent modules and attention (B, L, C))."
        )
    elif layouts[INPUT].tag == CHANNELS_FIRST:
        extra = (
            "\nThe source's channels-last layout lives in the weights (kernels transposed, the rows\n"
            "after a Flatten permuted) and in dim=1 arguments, so forward needs no permute."
        )
    header = [
        _docstring(spec, origin, "PyTorch", sample, TORCH_WEIGHTS, extra),
        "from pathlib import Path",
        "",
        "import torch",
        "from torch import nn",
        *imports,
        "",
        "",
        f"class {cls}(nn.Module):",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *_init_lines(tree_of(paths), modules),
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
    ]
    footer = [
        "",
        "",
        f"def build() -> {cls}:",
        f"    return {cls}()",
        "",
        "",
        f"def build_with_weights() -> {cls}:",
        "    model = build()",
        f'    state = torch.load(Path(__file__).with_name("{TORCH_WEIGHTS}"), weights_only=True)',
        "    model.load_state_dict(state, assign=True)  # the saved float64 tensors, not copies into float32",
        "    return model",
    ]
    return "\n".join([*header, *forward, *footer]) + "\n"


def model_source(spec: ModelSpec, target: str, origin: str) -> str:
    """``keras_source`` or ``torch_source``."""
    if target == "keras":
        return keras_source(spec, origin)
    if target == "torch":
        return torch_source(spec, origin)
    raise SpecError(f"unknown target framework {target!r}; choose keras or torch")
