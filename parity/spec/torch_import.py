"""The PyTorch importer: an ``nn.Module`` -> a model spec, through ``torch.export``.

The forward pass is captured with PyTorch's own graph capture (``torch.export.export``,
non-strict, static shapes, a batch of two), in eval mode; the model's training flags are
put back afterwards. The captured graph is ATen operator calls, each carrying the stack of
modules it ran inside (``meta["nn_module_stack"]``) and its fake output (``meta["val"]``):

- the calls inside one call of a registered module (``REGISTRY.for_torch_module``; the
  outermost registered module of the stack) become one spec node named after the module's
  path (``features.3``), configured by ``REGISTRY.read_torch_module`` (the first kind listing
  the class whose ``torch.read_module`` takes it). A second call of the
  same parameter-free module is a node ``<path>@1`` that ``shares`` the first;
- every other call maps to the kind that lists its operator (``REGISTRY.for_torch_op``,
  configured by ``torch.read_op``), named after the kind and a counter (``relu_1``); calls
  that compute nothing (``detach``, ``clone``, ``alias``, assertions, an all-covering slice)
  pass their input through;
- a module that returns a tuple (a recurrent module's ``(output, state)``) gives its first
  element; the output of a kind configured with ``return_sequences`` that is only read as
  ``out[:, -1]`` becomes ``return_sequences=False``; so does a bidirectional output read only as
  ``torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1)`` (each direction's final state).

Each value's torch layout (channels-first images, a flattened channels-first map) follows
the kinds' declared ``torch.layout`` rules (``parity.spec.generate.torch_layouts``); the
canonical shapes and the layout reach the readers. At the end the spec is built on scratch
and every node's shape checked against torch's, so a misread call cannot pass silently.

Dropout: captured in eval mode, ``nn.Dropout`` and ``F.dropout(x, p, training=self.training)``
are both ``aten.dropout(x, p, train=False)`` and become dropout nodes. ``F.dropout(x, p)``
(torch's default ``training=True``) drops in eval mode too, which no spec layer does: it is
refused, as is any operator with a ``train=True`` argument outside a registered module.

Everything the importer cannot express raises ``SpecError`` with one line saying where
(the module path, or the operator and the module it ran in), what, and what is supported.
"""

from __future__ import annotations

import logging
import operator
import warnings
from dataclasses import dataclass, replace
from typing import Any

from parity.layers import CANONICAL, CHANNELS_FIRST, REGISTRY, Constant
from parity.spec.generate import Layout, layouts_of, node_shapes
from parity.spec.model import INPUT, ModelSpec, Node, SpecError

Shape = tuple[int, ...]
BATCH = 2  # the example batch; static shapes make ``x.size(0)`` this constant

# Operators that compute nothing: their value is their first argument's.
PASS_THROUGH = {
    "aten.detach.default",
    "aten.clone.default",
    "aten.alias.default",
    "aten.contiguous.default",
    "aten.lift_fresh_copy.default",
}
# Operators with no tensor value to follow (shape assertions, symbolic sizes).
NO_VALUE_PREFIXES = ("aten._assert", "aten.sym_", "aten.sym_size", "aten.sym_constrain")


class ImportError_(SpecError):
    """A PyTorch model the importer cannot turn into a spec (one line: where, what, why)."""


class _LayoutError(ImportError_):
    """A kind would read its input in another layout than torch hands it (``_Importer.add_node``):
    for an operator several kinds read, the next candidate may read it as it is."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class _Value:
    """A torch tensor of the captured graph, as the spec sees it."""

    node: str  # the spec node that produces it ("input" for the model input)
    shape: Shape  # torch's shape, batch excluded
    layout: Layout


def import_torch(
    model, input_shape: tuple[int, ...], name: str | None = None, input_dtype: str | None = None
) -> ModelSpec:
    """The spec of ``model`` for one sample of torch shape ``input_shape`` (batch excluded).

    Images are torch's (C, H, W) and become the canonical (H, W, C); sequences are
    batch-first (T, F). ``input_dtype`` is "float" or "int" (token ids); None reads it off the
    model: "int" when its first registered module reads integer ids (``torch.integer_input``,
    nn.Embedding). Raises ``SpecError`` (one line) for what cannot be imported.
    """
    name = name or type(model).__name__
    input_dtype = input_dtype or _input_dtype(model)
    if input_dtype not in ("float", "int"):
        raise ImportError_(f"model {name!r}: input_dtype must be 'float' or 'int', received {input_dtype!r}")
    program = _capture(model, tuple(int(d) for d in input_shape), name, input_dtype)
    importer = _Importer(model, program, tuple(int(d) for d in input_shape), name)
    importer.integer_input = input_dtype == "int"  # ids == 0 of it may be a key_padding_mask
    spec = _mask_zero(importer.run())
    return ModelSpec(spec.name, spec.input_shape, spec.nodes, spec.output, input_dtype)


def _mask_zero(spec: ModelSpec) -> ModelSpec:
    """Id 0 is padding where a layer reads the ids as a mask (``key_padding``, ``masked``): Keras says so
    on the Embedding (``mask_zero=True``), torch where the mask is used; the spec says it both ways."""
    padded = any(
        INPUT in node.inputs[1:] and (node.config.get("key_padding") or node.config.get("masked")) for node in spec.nodes
    )
    if not padded:
        return spec
    nodes = tuple(
        replace(node, config={**node.config, "mask_zero": True}) if "mask_zero" in node.config and node.inputs == (INPUT,) else node
        for node in spec.nodes
    )
    return ModelSpec(spec.name, spec.input_shape, nodes, spec.output, spec.input_dtype)


def _input_dtype(model) -> str:
    """"int" when the first module (in definition order) that a registered kind lists reads integer ids."""
    for module in model.modules():
        kind = REGISTRY.for_torch_module(module)
        if kind is not None:
            return "int" if kind.torch.integer_input else "float"
    return "float"


# Capture ---------------------------------------------------------------------------------


def _capture(model, input_shape: Shape, name: str, input_dtype: str = "float"):
    import torch

    params = [p for p in model.parameters() if p.is_floating_point()]
    dtype = params[0].dtype if params else torch.float32
    if input_dtype == "int":
        example = torch.zeros(BATCH, *input_shape, dtype=torch.int64)  # id 0 is in every vocabulary
    else:
        example = torch.randn(BATCH, *input_shape, generator=torch.Generator().manual_seed(0)).to(dtype)
    flags = {module: module.training for module in model.modules()}
    model.eval()
    fake_log = logging.getLogger("torch._subclasses.fake_tensor")  # logs a failing op's traceback
    level = fake_log.level
    fake_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.export.export(model, (example,), strict=False)
    except Exception as error:  # noqa: BLE001  any failure of the tracer is the user's forward pass
        raise ImportError_(f"model {name!r}: cannot trace the forward pass: {_first_line(error)}") from None
    finally:
        fake_log.setLevel(level)
        for module, flag in flags.items():
            module.training = flag


def _first_line(error: BaseException) -> str:
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


# The graph walk --------------------------------------------------------------------------


def _op_name(fx_node) -> str:
    """``aten.relu.default`` for an ATen operator; the function's name otherwise (``getitem``)."""
    target = fx_node.target
    return str(target) if hasattr(target, "_schema") else getattr(target, "__name__", str(target))


def _tensor_args(args) -> list:
    """The fx nodes among (possibly nested) arguments, in order."""
    import torch.fx

    found = []
    for arg in args:
        if isinstance(arg, torch.fx.Node):
            found.append(arg)
        elif isinstance(arg, (list, tuple)):
            found.extend(_tensor_args(arg))
        elif isinstance(arg, dict):
            found.extend(_tensor_args(list(arg.values())))
    return found


def _batch_free(fx_node) -> Shape | None:
    """torch's shape of a node's value without the batch axis; None if it is not a batch of tensors."""
    val = fx_node.meta.get("val")
    shape = getattr(val, "shape", None)
    if shape is None or len(shape) == 0:
        return None
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        return None
    return dims[1:] if dims[0] == BATCH else None


def _canonical(shape: Shape, layout: Layout) -> Shape:
    return (*shape[1:], shape[0]) if layout.tag == CHANNELS_FIRST else tuple(shape)


class _Importer:
    def __init__(self, model, program, input_shape: Shape, name: str) -> None:
        self.model, self.program, self.name = model, program, name
        self.graph = program.graph
        self.input_torch_shape = input_shape
        self.input_layout = Layout(CHANNELS_FIRST if len(input_shape) == 3 else CANONICAL)
        self.input_shape = _canonical(input_shape, self.input_layout)
        self.nodes: list[Node] = []
        self.canonical: dict[str, Shape] = {INPUT: self.input_shape}
        self.values: dict[Any, _Value] = {}
        self.constants: set = set()  # parameters, buffers, lifted constants
        self.constant_values: dict[Any, Constant] = {}  # their values, and constants folded from them
        self.pieces: set = set()  # calls returning several tensors (x.chunk(3, -1)), read through getitem
        self.redirect: dict[Any, _Value] = {}  # fx nodes whose value is a spec node's (out[:, -1])
        self.counters: dict[str, int] = {}
        self.calls: dict[str, list[str]] = {}  # module path -> its call keys, in order
        self.module_kinds: dict[str, Any] = {}
        self.integer_input = False  # the input is token ids
        self.padding_masks: dict[Any, _Value] = {}  # (ids == 0) of the integer input: a key_padding_mask

    # Errors ----------------------------------------------------------------------------
    def fail(self, where: str, message: str) -> ImportError_:
        return ImportError_(f"model {self.name!r}{', ' + where if where else ''}: {message}")

    @staticmethod
    def supported() -> str:
        return "supported: " + ", ".join(REGISTRY.names())

    # Module lookups --------------------------------------------------------------------
    def module(self, path: str):
        return self.model if path == "" else self.model.get_submodule(path)

    def kind_of_module(self, path: str):
        if path not in self.module_kinds:
            try:
                self.module_kinds[path] = REGISTRY.for_torch_module(self.module(path))
            except AttributeError:
                self.module_kinds[path] = None
        return self.module_kinds[path]

    def group_of(self, fx_node) -> tuple[str, str] | None:
        """(call key, module path) of the outermost registered module the call ran in."""
        for key, entry in (fx_node.meta.get("nn_module_stack") or {}).items():
            path = entry[0] if isinstance(entry, tuple) else str(entry)
            if self.kind_of_module(path) is not None:
                return key, path
        return None

    def where(self, fx_node) -> str:
        """The innermost module a call ran in, for an error message."""
        stack = list((fx_node.meta.get("nn_module_stack") or {}).values())
        for path, _ in reversed(stack):
            if path:
                return f"layer {path!r} ({type(self.module(path)).__name__})"
        return "forward()"

    # Walk --------------------------------------------------------------------------------
    def run(self) -> ModelSpec:
        user_inputs = set(self.program.graph_signature.user_inputs)
        groups: dict[str, list] = {}
        group_path: dict[str, str] = {}
        member: dict[Any, str] = {}
        for fx_node in self.graph.nodes:
            if fx_node.op == "call_function":
                found = self.group_of(fx_node)
                if found is not None:
                    key, path = found
                    groups.setdefault(key, []).append(fx_node)
                    group_path[key] = path
                    member[fx_node] = key
                    if key not in self.calls.setdefault(path, []):
                        self.calls[path].append(key)

        self.read_input_as(self.first_reader(user_inputs, member, group_path))
        held = self.held_tensors()
        output_value = None
        for fx_node in self.graph.nodes:
            if fx_node.op == "placeholder":
                if fx_node.name in user_inputs:
                    self.values[fx_node] = _Value(INPUT, self.input_torch_shape, self.input_layout)
                else:
                    self.constants.add(fx_node)
                    if fx_node.name in held:
                        self.constant_values[fx_node] = held[fx_node.name]
            elif fx_node.op == "get_attr":
                self.constants.add(fx_node)
            elif fx_node.op == "output":
                output_value = self.output(fx_node)
            elif fx_node in member:
                key = member[fx_node]
                if fx_node is groups[key][-1]:
                    self.module_call(group_path[key], key, groups[key], member)
            elif fx_node in self.redirect:
                self.values[fx_node] = self.redirect[fx_node]
            else:
                self.op_call(fx_node)

        if output_value is None or output_value.node == INPUT:
            raise self.fail("", "the forward pass computes nothing a registered layer covers")
        try:
            spec = ModelSpec(self.name, self.input_shape, tuple(self.nodes), output_value.node)
        except SpecError as error:
            raise ImportError_(str(error)) from None
        self.check_shapes(spec)
        return spec

    def held_tensors(self) -> dict[str, Constant]:
        """Placeholder name -> the parameter, buffer or lifted constant it stands for, with its value."""
        signature = self.program.graph_signature
        state, lifted = self.program.state_dict, getattr(self.program, "constants", {})
        held = {}
        for placeholder, target in signature.inputs_to_parameters.items():
            held[placeholder] = Constant(target, state[target].detach().numpy(), True)
        for placeholder, target in signature.inputs_to_buffers.items():
            value = state[target] if target in state else lifted[target]
            held[placeholder] = Constant(target, value.detach().numpy(), False)
        for placeholder, target in getattr(signature, "inputs_to_lifted_tensor_constants", {}).items():
            held[placeholder] = Constant("", lifted[target].detach().numpy(), False)
        return held

    def first_reader(self, user_inputs, member, group_path):
        """The kind of the first registered module or operator that reads the model's input."""
        for fx_node in self.graph.nodes:
            if fx_node.op != "call_function":
                continue
            if not any(a.op == "placeholder" and a.name in user_inputs for a in _tensor_args((fx_node.args, fx_node.kwargs))):
                continue
            if fx_node in member:
                return self.kind_of_module(group_path[member[fx_node]])
            candidates = REGISTRY.for_torch_op(_op_name(fx_node))
            return candidates[0] if candidates else None
        return None

    def read_input_as(self, kind) -> None:
        """The input's layout is what its first reader declares it reads (nn.Conv1d: (C, L)),
        as ``parity.spec.generate.input_layout`` decides for the generated model."""
        reads = kind.torch.reads if kind is not None else None
        if reads is not None and len(self.input_torch_shape) >= 2:
            self.input_layout = Layout(reads)
            self.input_shape = _canonical(self.input_torch_shape, self.input_layout)
            self.canonical[INPUT] = self.input_shape

    def output(self, fx_node) -> _Value:
        outputs = _tensor_args(fx_node.args)
        if len(outputs) != 1:
            raise self.fail("", f"forward() returns {len(outputs)} tensors (only one output is supported)")
        value = self.values.get(outputs[0])
        if value is None:
            raise self.fail("", f"forward() returns {outputs[0].name}, which no registered layer computes")
        return value

    def input_values(self, fx_nodes, where: str, what: str) -> list[_Value]:
        values = []
        for fx_node in fx_nodes:
            if fx_node in self.constants:
                raise self.fail(
                    where,
                    f"{what} reads a parameter or constant tensor outside a registered module; {self.supported()}",
                )
            if fx_node not in self.values:
                raise self.fail(where, f"{what} reads {fx_node.name!r}, which no registered layer computes")
            values.append(self.values[fx_node])
        return values

    # A registered module's call -------------------------------------------------------
    def module_call(self, path: str, key: str, members: list, member: dict) -> None:
        module = self.module(path)
        kind = self.kind_of_module(path)
        cls = type(module).__name__
        call = self.calls[path].index(key)
        node_name = (path or kind.name) if call == 0 else f"{path or kind.name}@{call}"
        where = f"layer {node_name!r} ({cls})"
        shares = None
        if call > 0:
            if any(True for _ in module.parameters()) or any(True for _ in module.buffers()):
                raise self.fail(
                    f"layer {path!r} ({cls})",
                    "a module with parameters called twice (shared weights) is not supported yet",
                )
            shares = path or kind.name

        inside = set(members)
        inputs = []
        for fx_node in members:
            for arg in _tensor_args((fx_node.args, fx_node.kwargs)):
                if arg not in inside and arg not in self.constants and arg not in inputs:
                    inputs.append(arg)
        if not inputs:
            raise self.fail(where, "reads no tensor the model computes")
        if not kind.accepts(len(inputs)):
            most = kind.arity + kind.optional_inputs
            reads = "one" if most == 1 else f"{kind.arity} to {most}"
            raise self.fail(where, f"reads {len(inputs)} tensors (a {kind.name} layer reads {reads})")
        masks = [self.padding_masks[a] for a in inputs if a in self.padding_masks]
        if masks and ("key_padding" not in kind.defaults or len(masks) > 1):
            raise self.fail(where, f"reads the padding mask (ids == 0), which a {kind.name} layer does not take")
        in_values = self.input_values([a for a in inputs if a not in self.padding_masks], where, "the module")
        if masks and len(in_values) != 1:
            raise self.fail(where, "a key_padding_mask with separate keys and values (only self-attention is supported)")

        try:  # the class may stand for several kinds (nn.Conv2d: conv2d, depthwise_conv2d)
            kind, config = REGISTRY.read_torch_module(module, self.canonical[in_values[0].node])
        except ValueError as error:
            raise self.fail(where, str(error)) from None

        foreign = self.foreign_constants(path, members, inside)
        if foreign and kind.torch.read_constants is None:
            # a mask or table handed to a module whose kind reads none: it cannot be dropped silently
            raise self.fail(
                where,
                f"the call reads the tensor {foreign[0]!r}, which the module does not hold "
                f"(an argument such as attn_mask or key_padding_mask is not supported for {kind.name})",
            )
        if kind.torch.read_constants is not None:  # the buffers and constants the call reads (a mask)
            held = []
            for fx_node in members:
                for arg in _tensor_args((fx_node.args, fx_node.kwargs)):
                    if arg not in inside and arg in self.constant_values and self.constant_values[arg] not in held:
                        held.append(self.constant_values[arg])
            try:
                config = kind.torch.read_constants(config, held)
            except ValueError as error:
                raise self.fail(where, str(error)) from None

        if config.get("masked") and len(in_values) == 2 and in_values[0].node == INPUT:
            in_values.reverse()  # forward reads ids != 0 before x; the ids are the second input
        if masks:  # key_padding_mask=(ids == 0): the ids are the layer's second input
            config["key_padding"] = True
            in_values.append(masks[0])

        # The value the rest of the model reads: one member; a tuple's first element.
        used = [m for m in members if any(u not in inside for u in m.users)]
        for m in used:
            if m.target is operator.getitem and (m.args[0] in inside) and m.args[1] != 0:
                raise self.fail(
                    where,
                    f"the model reads element {m.args[1]} of the tuple the module returns "
                    "(only the first, its output, is supported)",
                )
        if len(used) != 1:
            raise self.fail(where, f"the model reads {len(used)} different values out of one module call")
        out = used[0]

        out_node = out
        readers = [u for u in out.users if u not in inside]
        # out[:, -1] is Keras' last state only where every feature is one direction's (a bidirectional
        # module's reverse half at step -1 is its first step: divergence bidirectional_last_step)
        one_direction = (_batch_free(out) or (None,))[-1] == config.get("units")
        if (
            config.get("return_sequences") is True
            and one_direction
            and readers
            and all(self.last_step(u, out) for u in readers)
        ):
            config["return_sequences"] = False  # out[:, -1]: the last step only
            out_node = readers[0]
        elif config.get("return_sequences") is True and readers:
            pattern = self.final_states(readers, out, config.get("units"))
            if pattern is not None:  # torch.cat of both directions' final states: Keras' return_sequences=False
                config["return_sequences"] = False
                out_node, readers = pattern[-1], pattern

        value = self.add_node(node_name, kind, config, in_values, out_node, where, shares)
        self.values[out] = value
        if out_node is not out:
            for reader in readers:
                self.redirect[reader] = value

    def foreign_constants(self, path: str, members: list, inside: set) -> list[str]:
        """Constant tensors a module call reads that are not its own parameters or buffers: a buffer of
        another module, or a tensor folded from constants in ``forward`` (``torch.ones(T, T).triu(1)``)."""
        prefix = f"{path}." if path else ""
        found = []
        for fx_node in members:
            for arg in _tensor_args((fx_node.args, fx_node.kwargs)):
                if arg in inside or arg not in self.constants:
                    continue
                held = self.constant_values.get(arg)
                folded = arg.op == "call_function"
                if folded or (held is not None and held.name and not held.name.startswith(prefix)):
                    name = (held.name if held is not None else "") or arg.name
                    if name not in found:
                        found.append(name)
        return found

    @staticmethod
    def last_step(fx_node, sequence) -> bool:
        """``sequence[:, -1]``: aten.select.int over the time axis at its last index."""
        if _op_name(fx_node) != "aten.select.int" or fx_node.args[0] is not sequence:
            return False
        dim, index = fx_node.args[1], fx_node.args[2]
        shape = _batch_free(sequence)
        return shape is not None and dim == 1 and index in (-1, shape[0] - 1)

    @staticmethod
    def final_states(readers, sequence, units) -> list | None:
        """``torch.cat([out[:, -1, :H], out[:, 0, H:]], dim=-1)`` on a bidirectional (B, T, 2H) output:
        the forward direction's final state (t = T - 1) and the reverse one's (t = 0), what Keras'
        Bidirectional returns with return_sequences=False. The pattern's fx nodes, the cat last; else None."""
        shape = _batch_free(sequence)
        if shape is None or len(shape) != 2 or shape[1] != 2 * units or len(readers) != 2:
            return None
        halves = {}
        for select in readers:
            if _op_name(select) != "aten.select.int" or select.args[1] != 1 or len(select.users) != 1:
                return None
            index = select.args[2] % shape[0]
            (piece,) = select.users
            args = list(piece.args) + [None] * 4
            if _op_name(piece) != "aten.slice.Tensor" or args[1] not in (1, -1) or len(piece.users) != 1:
                return None
            start, end, step = args[2] or 0, args[3], args[4] or 1
            if step == 1 and index == shape[0] - 1 and start == 0 and end == units:
                halves["forward"] = (select, piece)
            elif step == 1 and index == 0 and start == units and (end is None or end >= 2 * units):
                halves["reverse"] = (select, piece)
            else:
                return None
        if len(halves) != 2:
            return None
        (cat,) = halves["forward"][1].users
        pieces = [halves["forward"][1], halves["reverse"][1]]
        dim = cat.args[1] if len(cat.args) > 1 else cat.kwargs.get("dim", 0)
        if _op_name(cat) != "aten.cat.default" or list(cat.args[0]) != pieces or dim not in (1, -1):
            return None
        return [*halves["forward"], *halves["reverse"], cat]

    # An operator outside registered modules ---------------------------------------------
    def op_call(self, fx_node) -> None:
        op = _op_name(fx_node)
        where = self.where(fx_node)
        if op.startswith(NO_VALUE_PREFIXES):
            return
        args, kwargs = fx_node.args, dict(fx_node.kwargs)
        if op == "aten.eq.Scalar" and args[1] == 0 and self.values.get(args[0]) is not None:
            if self.values[args[0]].node == INPUT and self.integer_input:
                # (ids == 0): the padding of the integer input, read only as a key_padding_mask (module_call)
                self.padding_masks[fx_node] = self.values[args[0]]
                return
        if fx_node.target is operator.getitem and fx_node.args[0] in self.pieces:
            source = fx_node.args[0]  # one piece of x.chunk(3, -1): the kinds read the call that split it
            op, args, kwargs = _op_name(source), source.args, {**source.kwargs, "_item": fx_node.args[1]}
        tensors = _tensor_args((args, kwargs))
        if isinstance(fx_node.meta.get("val"), (tuple, list)) and tensors and not self.all_constant(tensors):
            self.pieces.add(fx_node)
            return
        if self.all_constant(tensors) and self.fold(fx_node):
            return
        if op in PASS_THROUGH or self.full_slice(fx_node, op):
            (value,) = self.input_values(tensors[:1], where, f"call {op}")
            self.values[fx_node] = value
            return
        if op in ("aten.permute.default", "aten.transpose.int", "aten.movedim.int"):
            (value,) = self.input_values(tensors[:1], where, f"call {op}")
            try:
                self.values[fx_node] = self.relayout(fx_node, op, value, where)
                return
            except ImportError_:
                if not REGISTRY.for_torch_op(op):
                    raise  # no kind reorders axes this way either
        stack = list((fx_node.meta.get("nn_module_stack") or {}).values())
        if stack and stack[-1][0]:
            module = self.module(stack[-1][0])
            if type(module).__module__.startswith("torch.nn.modules.") and not _container(module):
                raise self.fail(
                    f"layer {stack[-1][0]!r}", f"unsupported torch module {type(module).__name__}; {self.supported()}"
                )
        candidates = REGISTRY.for_torch_op(op)
        if not candidates:
            raise self.fail(where, f"unsupported torch operator {op}; {self.supported()}")
        if self.train_flag(fx_node):
            raise self.fail(
                where,
                f"{op} with train=True in eval mode (F.dropout's default training=True drops in eval too; "
                "pass training=self.training)",
            )
        held = [t for t in tensors if t in self.constants]
        in_values = self.input_values([t for t in tensors if t not in self.constants], where, f"call {op}")
        if not in_values:
            raise self.fail(where, f"call {op} reads no tensor the model computes")
        shapes = [self.canonical[v.node] for v in in_values]
        layout = in_values[0].layout.tag
        reasons = []
        for kind in candidates:
            if (kind.arity == 1 and len(in_values) != 1) or (kind.arity == 0 and len(in_values) < 2):
                continue
            if kind.arity > 1 and len(in_values) != kind.arity:
                continue
            if held and not kind.torch.constants:
                continue
            try:
                config = kind.torch.read_op(self.with_constants(args), {**kwargs, "_op": op}, shapes, layout)
            except ValueError as error:
                reasons.append(str(error))
                continue
            if config is not None:
                if len({v.layout for v in in_values}) > 1:
                    raise self.fail(where, f"{op} joins tensors of different layouts ({kind.name})")
                parameters = [self.constant_values[t].name for t in held if self.constant_values.get(t, None) and self.constant_values[t].parameter]
                count = self.counters.get(kind.name, 0) + 1
                if parameters:  # a kind with the parameter as its weight: named after it (pos)
                    node_name = self.unique(parameters[0])
                else:
                    node_name = self.unique(kind.name if count == 1 else f"{kind.name}_{count - 1}")
                try:
                    self.values[fx_node] = self.add_node(node_name, kind, dict(config), in_values, fx_node, where)
                except _LayoutError as error:
                    # x.movedim(1, -1).reshape(B, 10) of a (B, 10, 1, 1) map (MobileNet's head) is no
                    # flatten, which the generated model applies to the channels-first map as it is,
                    # but a reshape, which reads the canonical layout the movedim made.
                    reasons.append(error.reason)
                    continue
                if not parameters:
                    self.counters[kind.name] = count
                return
        names = ", ".join(k.name for k in candidates)
        if reasons:
            raise self.fail(where, f"{op} ({names}): {reasons[0]}")
        if held:
            raise self.fail(
                where,
                f"{op} reads a parameter or constant tensor outside a registered module ({names} does not cover "
                f"this use); {self.supported()}",
            )
        raise self.fail(where, f"unsupported call {op}: {names} does not cover it with these arguments")

    def all_constant(self, tensors) -> bool:
        return all(t in self.constants for t in tensors)

    def fold(self, fx_node) -> bool:
        """A call computing from buffers and constants only (``~self.mask``, ``torch.ones(T, T).tril()``)
        is a constant too: computed here, once. A parameter never folds (it trains)."""
        import torch

        tensors = _tensor_args((fx_node.args, fx_node.kwargs))
        if any(t not in self.constant_values or self.constant_values[t].parameter for t in tensors):
            return False
        if not hasattr(fx_node.target, "_schema") or "rand" in str(fx_node.target):
            return False

        def value(arg):
            if isinstance(arg, (list, tuple)):
                return type(arg)(value(a) for a in arg)
            if arg in self.constant_values:
                return torch.as_tensor(self.constant_values[arg].value)
            return arg

        try:
            result = fx_node.target(*value(list(fx_node.args)), **{k: value(v) for k, v in fx_node.kwargs.items()})
        except Exception:  # noqa: BLE001  not computable here: left to the kinds, which refuse it in one line
            return False
        if not isinstance(result, torch.Tensor):
            return False
        names = {self.constant_values[t].name for t in tensors}
        self.constants.add(fx_node)
        self.constant_values[fx_node] = Constant(names.pop() if len(names) == 1 else "", result.numpy(), False)
        return True

    def with_constants(self, args):
        """The call's arguments with each constant tensor as a ``Constant`` (its value, whether it trains)."""
        if isinstance(args, (list, tuple)):
            return type(args)(self.with_constants(a) for a in args)
        if args in self.constant_values if _hashable(args) else False:
            return self.constant_values[args]
        return args

    def relayout(self, fx_node, op: str, value: _Value, where: str) -> _Value:
        """``x.permute(0, 2, 1)`` / ``x.transpose(1, 2)`` / ``x.movedim(1, -1)`` (and the 4-D permutes) move the channel axis
        between the front and the end: the same spec value in the other layout."""
        rank = len(value.shape) + 1
        if op == "aten.transpose.int":
            dims = list(range(rank))
            a, b = (d % rank for d in fx_node.args[1:3])
            dims[a], dims[b] = dims[b], dims[a]
        elif op == "aten.movedim.int":  # x.movedim(1, -1), as parity.spec.torch_model permutes
            dims = list(range(rank))
            source, destination = (d % rank for d in fx_node.args[1:3])
            dims.insert(destination, dims.pop(source))
        else:
            dims = [d % rank for d in fx_node.args[1]]
        to_end, to_front = [0, *range(2, rank), 1], [0, rank - 1, *range(1, rank - 1)]
        if dims == to_end and value.layout.tag == CHANNELS_FIRST:
            layout = Layout(CANONICAL)
        elif dims == to_front and value.layout.tag == CANONICAL and rank >= 3 and not self.read_in_order(fx_node):
            layout = Layout(CHANNELS_FIRST)
        else:
            raise self.fail(
                where,
                f"{op} with dims {dims} on a {value.layout.tag} tensor (only moving the channel axis between "
                "the front and the end is supported)",
            )
        return _Value(value.node, tuple(_batch_free(fx_node) or ()), layout)

    @staticmethod
    def read_in_order(fx_node) -> bool:
        """A reader takes the permuted axes as they are (``k.transpose(1, 2)`` read by a matmul, whose
        kinds all read torch's own order): the permute is then a ``permute`` node, not a relayout."""
        for user in fx_node.users:
            kinds = REGISTRY.for_torch_op(_op_name(user)) if user.op == "call_function" else []
            if kinds and all(kind.torch.reads == CANONICAL for kind in kinds):
                return True
        return False

    @staticmethod
    def train_flag(fx_node) -> bool:
        schema = getattr(fx_node.target, "_schema", None)
        if schema is None:
            return False
        for i, argument in enumerate(schema.arguments):
            if argument.name == "train":
                value = fx_node.args[i] if i < len(fx_node.args) else fx_node.kwargs.get("train")
                return value is True
        return False

    @staticmethod
    def full_slice(fx_node, op: str) -> bool:
        """``x[:, :]``: a slice that keeps every index."""
        if op != "aten.slice.Tensor":
            return False
        args = list(fx_node.args) + [None] * 5
        source = fx_node.args[0]
        val = getattr(source, "meta", {}).get("val")
        if val is None:
            return False
        dim = args[1] if args[1] is not None else 0
        start, end, step = args[2], args[3], args[4] if args[4] is not None else 1
        size = int(val.shape[dim])
        return (start in (None, 0)) and (end is None or end >= size) and step == 1

    # Nodes ---------------------------------------------------------------------------------
    def unique(self, base: str) -> str:
        taken = {n.name for n in self.nodes} | {INPUT} | set(self.calls)
        candidate, i = base, 1
        while candidate in taken:
            candidate, i = f"{base}_{i}", i + 1
        return candidate

    def add_node(self, node_name, kind, config, in_values, out_fx, where, shares=None) -> _Value:
        shape = _batch_free(out_fx)
        if shape is None:
            raise self.fail(where, "its output is not a batch-first tensor (the batch axis must come first)")
        try:
            config = kind.configure(config)
        except KeyError as error:
            raise self.fail(where, str(error.args[0])) from None
        node = Node(node_name, kind.name, config, tuple(v.node for v in in_values), shares)
        nodes = [*self.nodes, node]
        partial = ModelSpec(self.name, self.input_shape, tuple(nodes))
        shapes = {**self.canonical, node_name: shape}  # its rank is all the layout rules read
        layouts = layouts_of(partial, shapes)
        given, read = in_values[0].layout, layouts.read[node_name]
        if given.tag != read.tag and len(self.canonical[in_values[0].node]) >= 2:
            reason = (
                f"reads a {given.tag} tensor where the generated model hands it {read.tag} "
                "(permute only right before a layer that reads the other layout, as a Conv1d -> LSTM model does)"
            )
            raise _LayoutError(str(self.fail(where, reason)), f"{kind.name} {reason}")
        layout = layouts.out[node_name]
        self.nodes.append(node)
        self.canonical[node_name] = _canonical(shape, layout)
        return _Value(node_name, shape, layout)

    def check_shapes(self, spec: ModelSpec) -> None:
        """Every node's scratch shape is torch's, moved to the canonical layout."""
        try:
            shapes = node_shapes(spec)
        except SpecError as error:
            raise ImportError_(str(error)) from None
        for node in spec.nodes:
            if tuple(shapes[node.name]) != tuple(self.canonical[node.name]):
                raise self.fail(
                    f"layer {node.name!r} ({node.kind})",
                    f"torch computes shape {self.canonical[node.name]} (canonical) but the {node.kind} layer "
                    f"gives {tuple(shapes[node.name])}: this use of it is not supported",
                )


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _container(module) -> bool:
    from torch import nn

    return isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict))
