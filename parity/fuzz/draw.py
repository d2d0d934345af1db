"""Random valid models: a ``Trial`` is a model spec plus everything needed to rerun it.

Drawing goes layer by layer with the shape propagated: each layer is drawn among the kinds
that accept the current shape (``KINDS``: the ranks each kind reads and a function drawing
its configuration from the shape), the partial model is built (the scratch model and the
torch layouts, which is where a kind refuses a configuration), and with some probability a
merge (``add`` of two equal shapes, ``concatenate`` of shapes equal but for the last axis)
joins the newest layer with an earlier one on the same path, making a residual graph.

All choices go through a ``Chooser``: ``RngChooser`` (a NumPy generator, what a campaign
uses, seeded per model from (seed, index)) here, a hypothesis-backed one in ``shrink``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from parity.layers import REGISTRY
from parity.spec.generate import build_torch, layouts_of, node_shapes
from parity.spec.model import INPUT, ModelSpec, Node, SpecError

Shape = tuple[int, ...]
# parity.training.spec.OPTIMIZERS, by name (drawn for --steps)
OPTIMIZER_NAMES = ("sgd", "momentum", "nesterov", "rmsprop", "rmsprop_centered", "adam", "adamw")
LOSSES = ("mean_squared_error", "binary_crossentropy", "sparse_categorical_crossentropy")


@dataclass(frozen=True)
class Trial:
    """One fuzzed model and its data: enough to rerun it anywhere.

    Attributes:
        spec: the model.
        batch: samples per batch.
        magnitude: the inputs are ``magnitude * standard_normal``.
        data_seed: seeds the weights, inputs, targets and cotangent.
        loss: a ``scratch.losses`` name (always from logits).
        training: the forward pass runs in training mode (batch statistics, running averages).
        optimizer: a ``parity.training.spec.OPTIMIZERS`` name, for ``--steps`` (training trajectories).
    """

    spec: ModelSpec
    batch: int
    magnitude: float
    data_seed: int
    loss: str
    training: bool = False
    optimizer: str = "sgd"

    def as_dict(self) -> dict[str, Any]:
        return {
            "spec": self.spec.as_dict(),
            "batch": self.batch,
            "magnitude": self.magnitude,
            "data_seed": self.data_seed,
            "loss": self.loss,
            "training": self.training,
            "optimizer": self.optimizer,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        if "nodes" in data:  # a bare model spec: default data
            return cls(ModelSpec.from_dict(data), 2, 1.0, 0, "mean_squared_error")
        try:
            return cls(
                ModelSpec.from_dict(data["spec"]),
                int(data["batch"]),
                float(data["magnitude"]),
                int(data["data_seed"]),
                str(data["loss"]),
                bool(data.get("training", False)),
                str(data.get("optimizer", "sgd")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise SpecError(f"not a fuzz trial: missing or malformed {error}") from None

    @property
    def size(self) -> tuple[int, ...]:
        """What shrinking minimises, most important first."""
        return (len(self.spec.nodes), math.prod(self.spec.input_shape), self.batch)


class Chooser:
    """Where the random choices come from."""

    def integer(self, lo: int, hi: int) -> int:  # inclusive
        raise NotImplementedError

    def boolean(self, p: float = 0.5) -> bool:
        raise NotImplementedError

    def element(self, items: Sequence[Any]) -> Any:
        return items[self.integer(0, len(items) - 1)]

    def uniform(self, lo: float, hi: float) -> float:
        raise NotImplementedError


class RngChooser(Chooser):
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def boolean(self, p: float = 0.5) -> bool:
        return bool(self.rng.random() < p)

    def uniform(self, lo: float, hi: float) -> float:
        return float(self.rng.uniform(lo, hi))


def model_rng(seed: int, index: int) -> np.random.Generator:
    """Model ``index`` of a campaign seeded ``seed``: the same model whichever worker draws it."""
    return np.random.default_rng([seed, index])


# Configurations per kind ----------------------------------------------------------------------


def _window(c: Chooser, extent: int, lo: int = 1, hi: int = 3) -> int:
    return c.integer(lo, max(lo, min(hi, extent)))


def _conv2d(c: Chooser, shape: Shape, depthwise: bool = False) -> dict:
    H, W, _ = shape
    dilation = [c.integer(1, 2), c.integer(1, 2)] if c.boolean(0.3) else [1, 1]
    strides = [1, 1] if dilation != [1, 1] else [c.integer(1, 2), c.integer(1, 2)]
    if depthwise:
        # Keras documents DepthwiseConv2D's strides as equal in both dimensions: TensorFlow's
        # DepthwiseConv2dNative refuses others ("Current implementation only supports equal length
        # strides", tensorflow/tensorflow#33005, open; keras-team/keras#17341 documents it).
        # Found by `parity fuzz --seed 2026` (model 13): keras-tensorflow crashed on strides [2, 1].
        strides = [strides[0], strides[0]]
    config = {
        "kernel_size": [_window(c, H), _window(c, W)],
        "strides": strides,
        "padding": c.element(["valid", "same"]),
        "dilation_rate": dilation,
        "use_bias": c.boolean(0.7),
    }
    if depthwise:
        config["depth_multiplier"] = c.integer(1, 2)
    else:
        config["filters"] = c.integer(1, 4)
    return config


def _conv1d(c: Chooser, shape: Shape) -> dict:
    dilation = c.integer(1, 2) if c.boolean(0.3) else 1
    return {
        "filters": c.integer(1, 4),
        "kernel_size": _window(c, shape[0]),
        "strides": 1 if dilation > 1 else c.integer(1, 2),
        "padding": c.element(["valid", "same", "causal"]),
        "dilation_rate": dilation,
        "use_bias": c.boolean(0.7),
    }


def _pool(c: Chooser, shape: Shape) -> dict:
    H, W, _ = shape
    return {"pool_size": [_window(c, H, hi=2), _window(c, W, hi=2)], "strides": [c.integer(1, 2), c.integer(1, 2)]}


def _epsilon(c: Chooser) -> float:
    return float(10 ** c.element([-5, -4, -3, -2]))


def _recurrent(c: Chooser, shape: Shape, gru: bool = False) -> dict:
    config = {"units": c.integer(1, 4), "return_sequences": c.boolean(), "use_bias": c.boolean(0.7)}
    if gru:
        config["reset_after"] = c.boolean(0.7)
    return config


def _bidirectional(c: Chooser, shape: Shape) -> dict:
    layer = c.element(["lstm", "gru", "simple_rnn"])
    return {"layer": layer, **_recurrent(c, shape, gru=True)}


ANY = (1, 2, 3)
# kind -> (ranks of one sample's shape it reads, configuration drawn from that shape)
KINDS: dict[str, tuple[tuple[int, ...], Callable[[Chooser, Shape], dict]]] = {
    "dense": ((1,), lambda c, s: {"units": c.integer(1, 8), "use_bias": c.boolean(0.7)}),
    "linear": (ANY, lambda c, s: {}),
    "sigmoid": (ANY, lambda c, s: {}),
    "tanh": (ANY, lambda c, s: {}),
    "relu": (ANY, lambda c, s: {}),
    # slopes exact in float32 (divergence tf_leaky_relu_float32_slope)
    "leaky_relu": (ANY, lambda c, s: {"negative_slope": c.integer(1, 63) / 64}),
    "softmax": (ANY, lambda c, s: {}),
    "log_softmax": (ANY, lambda c, s: {}),
    "gelu": (ANY, lambda c, s: {"approximate": c.boolean()}),
    "dropout": (ANY, lambda c, s: {"rate": c.element([0.25, 0.5])}),
    "flatten": ((2, 3), lambda c, s: {}),
    "conv2d": ((3,), _conv2d),
    "depthwise_conv2d": ((3,), lambda c, s: _conv2d(c, s, depthwise=True)),
    "conv1d": ((2,), _conv1d),
    "max_pool2d": ((3,), _pool),
    "avg_pool2d": ((3,), _pool),
    "batch_norm": (ANY, lambda c, s: {"epsilon": _epsilon(c), "momentum": c.element([0.5, 0.9, 0.99])}),
    "zero_padding2d": ((3,), lambda c, s: {"padding": [[c.integer(0, 2), c.integer(0, 2)], [c.integer(0, 2), c.integer(0, 2)]]}),
    "simple_rnn": ((2,), _recurrent),
    "lstm": ((2,), _recurrent),
    "gru": ((2,), lambda c, s: _recurrent(c, s, gru=True)),
    "bidirectional": ((2,), _bidirectional),
    "layer_norm": (ANY, lambda c, s: {"epsilon": _epsilon(c), "scale": c.boolean(0.8), "center": c.boolean(0.8)}),
    "rms_norm": (ANY, lambda c, s: {"epsilon": _epsilon(c)}),
    "global_avg_pool2d": ((3,), lambda c, s: {}),
    "global_max_pool2d": ((3,), lambda c, s: {}),
    "global_avg_pool1d": ((2,), lambda c, s: {}),
    "global_max_pool1d": ((2,), lambda c, s: {}),
    "multi_head_attention": (
        (2,),
        lambda c, s: {"num_heads": c.integer(1, 2), "key_dim": c.integer(1, 4), "use_bias": c.boolean(0.7), "causal": c.boolean()},
    ),
}
MERGES = ("add", "concatenate")
# Not drawn: embedding (integer inputs). Its training rule tf_dense_indexed_slices (divergence
# tf_embedding_sparse_adam) is applied by parity.training.runners on every trajectory (--steps)
# like every other conversion rule, unless --disable-rule switches it off.
FUZZABLE = tuple(KINDS) + MERGES


def parse_kinds(names: Sequence[str]) -> tuple[str, ...]:
    """The kinds a campaign may draw; an unknown or undrawable name is a ``SpecError``."""
    for name in names:
        if name not in REGISTRY:
            raise SpecError(f"unknown layer kind {name!r}; registered: {', '.join(REGISTRY.names())}")
        if name not in FUZZABLE:
            raise SpecError(f"layer kind {name!r} is not fuzzed (integer inputs); fuzzable: {', '.join(FUZZABLE)}")
    return tuple(names)


def valid(spec: ModelSpec) -> dict[str, Shape] | None:
    """Every node's shape if scratch and torch can both build ``spec``, else None."""
    try:
        shapes = node_shapes(spec)
        layouts_of(spec, shapes)
        build_torch(spec)  # where torch refuses a layout (a LayerNorm over an NCHW map)
    except (SpecError, ValueError, KeyError, TypeError, ZeroDivisionError, RuntimeError):
        return None
    if any(0 in shape for shape in shapes.values()):
        return None
    return shapes


# Normalisations over fewer values than this are left out: over 1 or 2 values a LayerNorm's or
# RMSNorm's output is (nearly) constant, +-1, and its gradient is nothing but the cancellation of
# terms ~1/sigma (it is epsilon-sized, ~1e-7 of them): a relative error there measures the rounding
# of the cancelling terms (~1e-9 in float64), not the maths. BatchNorm in training mode over
# batch x positions values is the same.
MIN_NORMALISED = 3
NORMALISATIONS = ("layer_norm", "rms_norm")


def well_conditioned(spec: ModelSpec, shapes: dict[str, Shape], batch: int, training: bool) -> bool:
    """No normalisation over fewer than ``MIN_NORMALISED`` values (see there)."""
    for node in spec.nodes:
        shape = shapes[node.inputs[0]]
        if node.kind in NORMALISATIONS and shape[-1] < MIN_NORMALISED:
            return False
        if node.kind == "batch_norm" and training and batch * math.prod(shape[:-1]) < MIN_NORMALISED:
            return False
    return True


# The loss rules (divergence tf_from_logits_after_activation): every loss here is from logits, and
# keras-tensorflow's cross-entropies read the logits behind a final sigmoid or softmax whatever
# from_logits says (keras/src/backend/tensorflow/nn.py, _get_logits). Keras' linear activation and an
# inference-mode Dropout return the very tensor they were given, so the logits survive them too
# (measured: dense -> softmax -> linear and dense -> sigmoid -> dropout both differ by ~30% on the loss).
# The rule a practitioner follows, and so the fuzzer: no cross-entropy on a model ending in one.
CROSS_ENTROPIES = ("binary_crossentropy", "sparse_categorical_crossentropy")
FINAL_ACTIVATIONS = ("sigmoid", "softmax")
PASS_THROUGH = ("linear", "dropout")


def ends_in_activation(spec: ModelSpec) -> bool:
    """The output is a sigmoid's or softmax's, up to layers that return their input tensor itself."""
    name = spec.output
    while name != INPUT:
        node = spec.node(name)
        if node.kind in FINAL_ACTIVATIONS:
            return True
        if node.kind not in PASS_THROUGH:
            return False
        name = node.inputs[0]
    return False


def losses_for(spec: ModelSpec, out: Shape) -> list[str]:
    """The losses a model with output shape ``out`` may be trained with, by the rules (see above)."""
    losses = ["mean_squared_error"]
    if ends_in_activation(spec):
        return losses
    losses.append("binary_crossentropy")
    if len(out) == 1 and out[0] >= 2:
        losses.append("sparse_categorical_crossentropy")
    return losses


def _input_shape(c: Chooser, rank: int) -> Shape:
    if rank == 1:
        return (c.integer(1, 8),)
    if rank == 2:
        return (c.integer(1, 6), c.integer(1, 6))
    return (c.integer(1, 8), c.integer(1, 8), c.integer(1, 3))


def draw_trial(c: Chooser, kinds: Sequence[str] = FUZZABLE, max_layers: int = 4, name: str = "fuzz", data_seed: int = 0) -> Trial:
    """A random valid model of 1..``max_layers`` layers of ``kinds``, and its data."""
    layer_kinds = [k for k in kinds if k in KINDS]
    merges = [k for k in kinds if k in MERGES]
    if not layer_kinds:
        raise SpecError(f"--kinds needs at least one layer kind besides {' and '.join(MERGES)}")
    first = c.element(layer_kinds)
    input_shape = _input_shape(c, c.element(KINDS[first][0]))
    nodes: list[Node] = []
    shapes: dict[str, Shape] = {INPUT: input_shape}
    path = [INPUT]  # the nodes the output depends on, in order
    counts: dict[str, int] = {}
    target = c.integer(1, max_layers)
    attempts = 0
    while len(nodes) < target and attempts < 8 * target:
        attempts += 1
        head = path[-1]
        shape = shapes[head]
        if len(nodes) == 0:
            kind = first
        elif merges and c.boolean(0.25):
            kind = c.element(merges)
        else:
            kind = c.element(layer_kinds)
        if kind in MERGES:
            if kind == "add":
                partners = [p for p in path[:-1] if shapes[p] == shape]
            else:
                partners = [p for p in path[:-1] if len(shapes[p]) == len(shape) and shapes[p][:-1] == shape[:-1]]
            if not partners:
                continue
            inputs, config = (head, c.element(partners)), ({"axis": -1} if kind == "concatenate" else {})
        else:
            ranks, draw = KINDS[kind]
            if len(shape) not in ranks:
                continue
            inputs, config = (head,), draw(c, shape)
        node = Node(f"{kind}_{counts.get(kind, 0)}", kind, config, inputs)
        candidate = ModelSpec(name, input_shape, (*nodes, node))
        new_shapes = valid(candidate)
        if new_shapes is None or not well_conditioned(candidate, new_shapes, 4, False):
            continue
        nodes.append(node)
        shapes = new_shapes
        path.append(node.name)
        counts[kind] = counts.get(kind, 0) + 1
    if not nodes:  # nothing fitted: the first kind on its own always builds on some input
        return draw_trial(c, kinds, max_layers, name, data_seed)
    spec = ModelSpec(name, input_shape, tuple(nodes))
    out = shapes[spec.output]
    losses = losses_for(spec, out)
    stochastic = any(REGISTRY[n.kind].traits.stochastic for n in nodes)
    has_training_flag = any(REGISTRY[n.kind].traits.training_flag for n in nodes)
    batch = c.integer(1, 4)
    # Dropout only in inference mode: two float32/float64 runs would draw different masks.
    training = has_training_flag and not stochastic and c.boolean()
    return Trial(
        spec,
        batch=batch,
        magnitude=float(10 ** c.uniform(-3, 3)),
        data_seed=data_seed,
        loss=c.element(losses),
        training=training and well_conditioned(spec, shapes, batch, True),
        optimizer=c.element(OPTIMIZER_NAMES),
    )


def draw_model(seed: int, index: int, kinds: Sequence[str] = FUZZABLE, max_layers: int = 4) -> Trial:
    """Model ``index`` of the campaign seeded ``seed``."""
    rng = model_rng(seed, index)
    return draw_trial(RngChooser(rng), kinds, max_layers, name=f"fuzz_{seed}_{index}", data_seed=int(rng.integers(2**31)))


def renamed(trial: Trial, name: str) -> Trial:
    return replace(trial, spec=replace(trial.spec, name=name))


# Planting a framework default -------------------------------------------------------------------


def plant(trial: Trial, defaults: Sequence[tuple[str, Sequence[str]]]) -> Trial:
    """``trial`` with each (kind, keys) of ``defaults`` left at None: the framework's own default
    (a divergence case like ``batchnorm_epsilon`` switched off, ``parity.cli.fuzz.framework_defaults``),
    so that scratch and Keras take Keras' default and torch its own, as a naive port does."""
    if not defaults:
        return trial
    nodes = []
    for node in trial.spec.nodes:
        config = dict(node.config)
        for kind, keys in defaults:
            if node.kind == kind:
                config.update({k: None for k in keys})
        nodes.append(replace(node, config=config))
    return replace(trial, spec=replace(trial.spec, nodes=tuple(nodes)))
