"""What a layer kind declares, once: the registry entry.

An entry says everything the harness needs to know about one kind of layer:

- the scratch layer it is (``scratch``), and how to build the idiomatic torch module and
  Keras layer from the canonical configuration (``torch.build``, ``keras.build``);
- how to recognise the frameworks' own layers and calls and read their configuration
  (``torch.modules`` / ``torch.ops`` and their readers, ``keras.classes`` and
  ``keras.activations``), which is what the importers use;
- the weight converter both ways (``converter``, with its named rules);
- how the torch activation is laid out against the canonical one (``torch.layout``), so a
  per-layer trace of an NCHW torch model compares with the NHWC scratch trace;
- what is special about it, as data (``traits``): running statistics, stochastic masks,
  regularisers;
- how a person writes it (``torch.source``, ``keras.source``): the constructor as source code,
  with a comment for each conversion rule that shaped it, next to the ``build`` it mirrors
  (``parity port`` writes these into a model.py; a test checks both give the same spec).

Nothing in this module imports torch or Keras: the callables do, when called, so the parent
process never imports Keras (each backend lives in its own worker process).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from parity.convert.base import NO_WEIGHTS, Converter

Config = dict[str, Any]
Shape = tuple[int, ...]

# Layouts of a torch activation relative to the canonical (channels-last) one.
CANONICAL = "canonical"  # the same array
CHANNELS_FIRST = "channels_first"  # (B, C, *spatial) for a canonical (B, *spatial, C)
FLAT_CHANNELS_FIRST = "flat_channels_first"  # a flattened channels-first map: (C, *spatial) order


class NotThisKind(ValueError):
    """Raised by a ``read_module`` whose class matches but whose configuration is another kind's
    (an ``nn.Conv2d`` with groups == in_channels is a depthwise convolution, not a conv2d): the
    registry then tries the next kind that lists the class."""


@dataclass(frozen=True)
class Source:
    """A layer as a person writes it: the constructor expression and why it reads as it does.

    Attributes:
        expression: the constructor (``nn.Linear(784, 32)``, ``layers.Dense(32, name="fc1")``);
            None for a torch operation written in ``forward`` only (``x + y``).
        comments: one line per conversion rule that shaped the call (``eps carried over: ...``).
        imports: import lines the expression needs besides ``torch`` / ``nn`` / ``keras`` / ``layers``.
        call: how torch's ``forward`` (or Keras' ``build()``) applies it, lines with ``{y}`` (the
            result), ``{m}`` (the module, ``self.conv1``; in Keras the constructor expression) and
            ``{x}`` (its inputs, comma-separated, a list for a Keras merge; ``{x0}``, ``{x1}``, ...);
            None for ``{y} = {m}({x})``. Keras self-attention is ``{y} = {m}({x0}, {x0})``.
    """

    expression: str | None
    comments: tuple[str, ...] = ()
    imports: tuple[str, ...] = ()
    call: str | None = None


@dataclass(frozen=True)
class TorchSide:
    """The PyTorch half of an entry.

    Attributes:
        build: (config, input shapes, input layout) -> nn.Module; shapes are canonical and
            one per input, the layout is that of the torch tensors the module receives.
        call: how a generated model applies the module to its inputs; ``module(*xs)`` when None.
            (A recurrent module returns a tuple: its ``call`` keeps what Keras returns.)
        modules: torch.nn classes this kind stands for, as import paths (``"torch.nn.Linear"``).
        read_module: (module, canonical input shape) -> config, for the importer; raises
            ``NotThisKind`` when the module is another kind listing the same class.
        ops: ATen operators this kind stands for in a captured graph (``"aten.relu.default"``).
        read_op: (args, kwargs, canonical input shapes, input layout) -> config, for the importer;
            may return None when the call is not one this kind covers. ``kwargs`` also carries
            ``"_op"`` (the operator's name, for a kind listing several) and, for one piece of an
            operator returning several tensors (``x.chunk(3, -1)``), ``"_item"`` (its index).
        layout: the layout of the output: "follow" (the layout the module read), or one of
            CANONICAL, CHANNELS_FIRST, or "flatten" (what a flatten makes of its input); or a
            function (config, layout read, canonical input shape) -> layout, for a kind whose
            output layout depends on its configuration (``reshape``: a (C,) vector to (1, 1, C)).
        source: (config, input shapes, input layout) -> ``Source``: what ``build`` builds, as code.
        reads: the layout the module needs its input in (CHANNELS_FIRST for nn.Conv1d and
            nn.Conv2d, CANONICAL for the batch-first recurrent modules), or None for any (an
            activation reads what it gets). Where the producer's layout differs, the generated
            model permutes between the two (``parity.spec.generate.relayouts``); the model's
            input is handed over in the layout its first reader needs.
        integer_input: the module reads integer ids (nn.Embedding): a model whose input it reads
            has ``input_dtype == "int"``, and the importer traces it with integer ids.
        constants: the operator may read a parameter, buffer or constant tensor outside any
            registered module (``x + self.pos``, ``s.masked_fill(self.mask, v)``): the importer
            hands ``read_op`` each such argument as a ``Constant``. A kind reading a parameter
            has that one weight, and its node is named after the parameter (``pos``).
        read_constants: (config from read_module, the ``Constant`` tensors one call of the module
            reads: its parameters, and buffers or constants passed to it, an ``attn_mask``) -> config.
    """

    build: Callable[..., Any]
    call: Callable[..., Any] | None = None
    modules: tuple[str, ...] = ()
    read_module: Callable[..., Config] | None = None
    ops: tuple[str, ...] = ()
    read_op: Callable[..., Config | None] | None = None
    layout: str | Callable[..., str] = "follow"
    source: Callable[..., Source] | None = None
    reads: str | None = None
    integer_input: bool = False
    constants: bool = False
    read_constants: Callable[..., Config] | None = None


@dataclass(frozen=True)
class Constant:
    """A parameter, buffer or constant tensor an operator reads (``TorchSide.constants``).

    Attributes:
        name: where the model holds it (``pos``, ``blocks.0.mask``); "" for a constant computed in forward.
        value: its value (NumPy).
        parameter: it trains (an ``nn.Parameter``), so it is a weight, never a constant of the config.
    """

    name: str
    value: Any
    parameter: bool


@dataclass(frozen=True)
class KerasSide:
    """The Keras half of an entry.

    Attributes:
        build: (config, name) -> a keras.layers.Layer.
        classes: Keras layer class names this kind stands for (``"Dense"``).
        read: (layer) -> config, for the importer; returns the kind's config only (an
            ``activation=`` argument is read separately, through ``activations``).
        activations: ``activation=`` strings that are this kind (``"relu"``), and
            ``activation_config`` maps such a string to the kind's config.
        splits_activation: the layer takes an ``activation=`` argument, which the importer
            reads as a separate activation layer after it (Dense, Conv2D; not the recurrent
            layers, whose ``activation`` is part of the cell).
        call: (config, inputs) -> (args, kwargs) the layer is called with; ``layer(inputs[0])``
            (``layer(inputs)`` for arity 0) when None. Self-attention is ``layer(x, x,
            use_causal_mask=...)``.
        read_call: (the call's keyword arguments) -> config entries, for the importer (what a
            Keras model fixes when it calls the layer rather than when it builds it).
        keep: (what the call returns, config) -> the output the model keeps; the value itself when None
            (MultiHeadAttention asked for its scores returns (output, scores)).
        source: (config, name) -> ``Source``: what ``build`` builds, as code (``layers.`` is
            ``keras.layers``).
        ops: class names of Keras operations (not layers) this kind stands for when a functional
            model applies them to a symbolic tensor (``x + 3.0`` is ``keras.src.ops.numpy.Add``,
            MobileNetV3's hard_sigmoid), and ``read_op`` (the call's positional arguments, with
            the symbolic tensors as None; the operation's class name) -> config, or None when the
            call is not this kind's.
    """

    build: Callable[..., Any]
    classes: tuple[str, ...] = ()
    read: Callable[..., Config] | None = None
    activations: tuple[str, ...] = ()
    activation_config: Callable[[str], Config] | None = None
    splits_activation: bool = False
    source: Callable[..., Source] | None = None
    call: Callable[..., tuple[tuple, dict]] | None = None
    read_call: Callable[[dict], Config] | None = None
    keep: Callable[[Any, Config], Any] | None = None
    ops: tuple[str, ...] = ()
    read_op: Callable[[list, str], Config | None] | None = None

    def arguments(self, config: Config, inputs: list, arity: int) -> tuple[tuple, dict]:
        """The positional and keyword arguments the layer is applied to."""
        if self.call is not None:
            return self.call(config, inputs)
        return ((inputs if arity == 0 else inputs[0]),), {}

    def output(self, value, config: Config):
        """What the model keeps of the layer's return value."""
        return value if self.keep is None else self.keep(value, config)


@dataclass(frozen=True)
class Traits:
    """What is special about a kind, as data the runners read (never its name).

    Attributes:
        running_statistics: canonical names of state a training-mode pass updates
            (BatchNorm's moving mean and variance).
        stochastic: draws a random mask in training mode; scratch takes the mask the
            framework drew (read off the layer's output: ``mask = output != 0``).
        regularizer: the config key of an L2 factor on the kernel ``W``, or None; ``torch_kernel``
            names that kernel among the torch module's parameters (torch layers carry no
            regulariser: the training loop adds the penalty to the loss).
        training_flag: the layer behaves differently in training mode.
    """

    running_statistics: tuple[str, ...] = ()
    stochastic: bool = False
    regularizer: str | None = None
    torch_kernel: str = "weight"
    training_flag: bool = False


@dataclass(frozen=True)
class LayerKind:
    """One registry entry. See the module docstring."""

    name: str
    family: str
    summary: str
    scratch: Callable[[Config, str], Any]
    torch: TorchSide
    keras: KerasSide
    converter: Converter = NO_WEIGHTS
    traits: Traits = field(default_factory=Traits)
    arity: int = 1  # inputs it reads; 0 for any number >= 2 (add, concatenate)
    optional_inputs: int = 0  # inputs it may read beyond arity (multi_head_attention: the key/value sequence)
    defaults: Config = field(default_factory=dict)  # canonical config keys and their defaults
    validate: Callable[[Config, list[Shape]], None] | None = None

    def accepts(self, count: int) -> bool:
        """Whether a call of this kind may read ``count`` inputs."""
        if self.arity == 0:
            return count >= 2
        return self.arity <= count <= self.arity + self.optional_inputs

    def configure(self, config: Config) -> Config:
        unknown = sorted(set(config) - set(self.defaults))
        if unknown:
            raise KeyError(
                f"layer kind {self.name!r} has no key(s) {', '.join(unknown)}; keys: {', '.join(sorted(self.defaults))}"
            )
        return {**self.defaults, **config}


class Registry:
    """Every layer kind by name, and the lookups the importers need."""

    def __init__(self, kinds: Iterable[LayerKind]) -> None:
        self.kinds: dict[str, LayerKind] = {}
        for kind in kinds:
            if kind.name in self.kinds:
                raise ValueError(f"layer kind {kind.name!r} registered twice")
            self.kinds[kind.name] = kind

    def __getitem__(self, name: str) -> LayerKind:
        if name not in self.kinds:
            raise KeyError(f"unknown layer kind {name!r}; registered: {', '.join(sorted(self.kinds))}")
        return self.kinds[name]

    def __contains__(self, name: str) -> bool:
        return name in self.kinds

    def __iter__(self):
        return iter(self.kinds.values())

    def names(self) -> list[str]:
        return sorted(self.kinds)

    def for_torch_module(self, module) -> LayerKind | None:
        """The first kind whose ``torch.modules`` lists the module's exact class."""
        kinds = self.torch_module_kinds(module)
        return kinds[0] if kinds else None

    def torch_module_kinds(self, module) -> list[LayerKind]:
        """Every kind whose ``torch.modules`` lists the module's exact class, in registry order."""
        path = f"{type(module).__module__}.{type(module).__qualname__}"
        return [
            kind
            for kind in self
            if any(candidate == path or _resolve(candidate) is type(module) for candidate in kind.torch.modules)
        ]

    def read_torch_module(self, module, shape) -> tuple[LayerKind, Config]:
        """(kind, config) of a torch module: the first kind listing its class whose ``read_module``
        does not answer ``NotThisKind``. Raises ValueError (the first reason) when none takes it."""
        reasons = []
        for kind in self.torch_module_kinds(module):
            try:
                return kind, dict(kind.torch.read_module(module, shape))
            except NotThisKind as reason:
                reasons.append(str(reason))
        raise ValueError(reasons[0] if reasons else f"no registered kind reads {type(module).__name__}")

    def for_torch_op(self, op: str) -> list[LayerKind]:
        return [kind for kind in self if op in kind.torch.ops]

    def for_keras_class(self, class_name: str) -> LayerKind | None:
        kinds = self.keras_class_kinds(class_name)
        return kinds[0] if kinds else None

    def keras_class_kinds(self, class_name: str) -> list[LayerKind]:
        """Every kind whose ``keras.classes`` lists ``class_name``, in registry order."""
        return [kind for kind in self if class_name in kind.keras.classes]

    def read_keras_layer(self, layer) -> tuple[LayerKind, Config]:
        """(kind, config) of a Keras layer: the first kind listing its class whose ``read`` does not
        answer ``NotThisKind`` (a ReLU with max_value=6 is relu6, not relu). Raises ValueError (the
        first reason) when none takes it."""
        reasons = []
        for kind in self.keras_class_kinds(type(layer).__name__):
            try:
                return kind, dict(kind.keras.read(layer))
            except NotThisKind as reason:
                reasons.append(str(reason))
        raise ValueError(reasons[0] if reasons else f"no registered kind reads {type(layer).__name__}")

    def for_keras_activation(self, name: str) -> LayerKind | None:
        for kind in self:
            if name in kind.keras.activations:
                return kind
        return None

    def torch_module_names(self) -> list[str]:
        return sorted({m.rsplit(".", 1)[-1] for kind in self for m in kind.torch.modules})

    def keras_class_names(self) -> list[str]:
        return sorted({c for kind in self for c in kind.keras.classes})


def _resolve(path: str):
    """``"torch.nn.Linear"`` -> the class (imports its module)."""
    import importlib

    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# Writing constructors as code ---------------------------------------------------------------


def literal(value: Any) -> str:
    """A Python literal as a person types it: double-quoted strings, tuples, short floats."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        short = f"{value:.12g}"  # 1 - 0.99 is 0.010000000000000009: written 0.01
        if abs(float(short) - value) > 1e-14 * abs(value):
            short = repr(value)  # 1 / 6 is not 0.166666666667: a constant written shorter than it is changes the model
        return short if any(c in short for c in ".en") else short + ".0"
    if isinstance(value, (list, tuple)):
        items = [literal(v) for v in value]
        return f"({items[0]},)" if len(items) == 1 else "(" + ", ".join(items) + ")"
    return repr(value)


def code(callee: str, *args: Any, **kwargs: Any) -> str:
    """``callee(arg, ..., key=value, ...)`` with every value a ``literal``."""
    parts = [literal(a) for a in args] + [f"{k}={literal(v)}" for k, v in kwargs.items()]
    return f"{callee}({', '.join(parts)})"


def size(value) -> int | tuple[int, ...]:
    """A pair written as one number when both are equal (``3`` for (3, 3)), as people write kernel sizes."""
    value = tuple(int(v) for v in value) if isinstance(value, (list, tuple)) else int(value)
    return value[0] if isinstance(value, tuple) and len(set(value)) == 1 else value


@contextlib.contextmanager
def tensorflow_left_unimported():
    """Keras told that TensorFlow is not installed while it is not imported yet, for one call.

    Keras asks whether TensorFlow is installed by importing it (``LazyModule.available``,
    keras/src/utils/module_utils.py): ``keras.utils.set_random_seed`` does, to seed it too
    (keras/src/utils/rng_utils.py), and so does ``serialize_keras_object``
    (keras/src/saving/serialization_lib.py), which ``keras.layers.Bidirectional`` calls on the layer it
    wraps, to ask whether an argument is a ``tf.TensorShape``, ``tf.DType`` or ``tf.TypeSpec``. In a
    keras-torch or keras-jax worker no object can be one, and the import costs about 5 s of CPU and
    hundreds of MiB. Under TensorFlow, or once it is imported (or asked about), nothing changes;
    afterwards Keras asks again (and imports it) if anything else needs it.
    """
    from keras.src.utils import module_utils

    tensorflow = module_utils.tensorflow
    if "tensorflow" in sys.modules or tensorflow._available is not None:
        yield
        return
    tensorflow._available = False
    try:
        yield
    finally:
        tensorflow._available = None
