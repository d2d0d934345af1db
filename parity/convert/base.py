"""The converter contract: one scratch layer type <-> one framework layer, both directions.

Canonical weights are the scratch layer's own ``params`` and ``state`` (its names,
its shapes). A converter for a layer type maps them

- to and from a PyTorch module's ``state_dict`` entries (keys relative to the module), and
- to and from a Keras layer's ``get_weights()`` list (in ``layer.weights`` order),

and maps the framework's gradients back to the canonical layout. For a bijective
rule (a transpose, a permutation) gradients convert exactly like weights; for a
rule that splits one canonical array into several framework arrays (a bias
b = b_ih + b_hh) the gradient of each part equals the gradient of the whole, so
``grads_from_*`` differs from ``from_*``.

Every layout difference lives in exactly one converter, whose docstring says
what changes and why: the converters are the migration guide in code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np

Arrays = dict[str, np.ndarray]


class ConversionError(ValueError):
    """A weight of the wrong shape or name, with the layer and parameter involved."""

    def __init__(self, layer: str, param: str, expected, received, model: str | None = None, detail: str = "") -> None:
        self.layer, self.param, self.expected, self.received, self.model = layer, param, expected, received, model
        where = f"model {model!r}, " if model else ""
        message = f"{where}layer {layer!r}, parameter {param!r}: expected shape {tuple(expected) if expected is not None else None}, received {tuple(received) if received is not None else None}"
        super().__init__(message + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        # Crosses the pipe from a Keras worker intact.
        return (type(self), (self.layer, self.param, self.expected, self.received, self.model))

    def in_model(self, model: str) -> ConversionError:
        return ConversionError(self.layer, self.param, self.expected, self.received, model)


def expect(layer, param: str, array: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``array`` if it has ``shape``; otherwise raise a ConversionError naming both."""
    if array is None:
        raise ConversionError(layer.name, param, shape, None, detail="missing")
    array = np.asarray(array)
    if tuple(array.shape) != tuple(shape):
        raise ConversionError(layer.name, param, shape, array.shape)
    return array


_DISABLED: ContextVar[frozenset[str]] = ContextVar("disabled_rules", default=frozenset())


def enabled(rule: str) -> bool:
    """Whether a named conversion rule applies. Divergence cases switch rules off to
    show the naive port, in which that rule is forgotten."""
    return rule not in _DISABLED.get()


def disabled_now() -> frozenset[str]:
    """The rules switched off in the current context (a model built now keeps them for its forward pass)."""
    return _DISABLED.get()


@contextmanager
def disabled_rules(rules) -> Iterator[None]:
    token = _DISABLED.set(frozenset(rules))
    try:
        yield
    finally:
        _DISABLED.reset(token)


_CONTEXT: ContextVar[dict | None] = ContextVar("conversion_context", default=None)


@contextmanager
def conversion_context(**facts) -> Iterator[None]:
    """Facts about the run that a conversion back from a framework may need besides the
    arrays themselves: ``loaded`` (the canonical weights loaded before the forward pass)
    and ``batch`` (its batch size). torch's BatchNorm running variance after a
    training-mode pass is not a function of the array alone (parity.convert.conv)."""
    token = _CONTEXT.set(dict(facts))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def context(key: str):
    """One fact of the current ``conversion_context``; None outside one."""
    return (_CONTEXT.get() or {}).get(key)


class Converter:
    """Identity conversion for a layer whose framework twins store the same arrays.

    Subclasses override the maps. ``layer`` is always the scratch layer (built, so its
    configuration and parameter shapes are known); ``previous`` is the scratch layer
    before it (None for the first), for rules that depend on what feeds the layer
    (a Dense layer after Flatten). Each rule a converter applies has a name, listed
    in ``rules`` and tested with ``enabled(name)``.
    """

    rules: tuple[str, ...] = ()

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        return {}

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        return {}

    def grads_from_torch(self, layer, grads: Arrays, previous=None) -> Arrays:
        return self.from_torch(layer, grads, previous)

    def torch_frozen(self, layer) -> list[str]:
        """torch parameters (state_dict keys) a faithful port must not train (none by default)."""
        return []

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        return []

    def fit_keras(self, layer, values: list[np.ndarray], shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
        """``to_keras``'s arrays for a Keras layer whose weights have ``shapes``, when the registry reads
        two Keras classes as this kind and they store a weight differently (unchanged by default)."""
        return values

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        return {}

    def grads_from_keras(self, layer, grads: list[np.ndarray | None], previous=None) -> Arrays:
        return self.from_keras(layer, grads, previous)


class KernelBiasConverter(Converter):
    """A kernel ``W`` and, with ``layer.use_bias``, a bias ``b``: Dense and the convolutions.

    Keras holds ``[kernel, bias]`` in the canonical layout; torch holds ``weight``, the kernel
    in its own layout, and ``bias``, the same vector. A subclass says what the kernel is
    (``_shapes``: the canonical shapes of ``W`` and ``b``) and how torch lays it out
    (``torch_weight_shape``, ``weight_to_torch``, ``weight_from_torch``), with its rules.
    """

    def _shapes(self, layer) -> tuple[tuple[int, ...], tuple[int, ...]]:
        raise NotImplementedError

    def torch_weight_shape(self, w_shape: tuple[int, ...]) -> tuple[int, ...]:
        raise NotImplementedError

    def weight_to_torch(self, W: np.ndarray, previous=None) -> np.ndarray:
        raise NotImplementedError

    def weight_from_torch(self, weight: np.ndarray, w_shape: tuple[int, ...], previous=None) -> np.ndarray:
        """The canonical ``W``, always read back correctly: a wrongly loaded kernel then shows as a
        wrong ``weight:<layer>.W`` instead of cancelling out in the round trip."""
        raise NotImplementedError

    def kernel_from_keras(self, kernel: np.ndarray, w_shape: tuple[int, ...]) -> np.ndarray:
        """The Keras kernel as it is read (a subclass reading another Keras class's layout overrides it)."""
        return kernel

    def to_torch(self, layer, weights: Arrays, previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        W = expect(layer, "W", weights.get("W"), w_shape)
        out = {"weight": self.weight_to_torch(W, previous)}
        if layer.use_bias:
            out["bias"] = expect(layer, "b", weights.get("b"), b_shape)
        return out

    def from_torch(self, layer, state: Arrays, previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        weight = expect(layer, "weight", state.get("weight"), self.torch_weight_shape(w_shape))
        out = {"W": self.weight_from_torch(weight, w_shape, previous)}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", state.get("bias"), b_shape)
        return out

    def to_keras(self, layer, weights: Arrays, previous=None) -> list[np.ndarray]:
        w_shape, b_shape = self._shapes(layer)
        out = [expect(layer, "W", weights.get("W"), w_shape)]
        if layer.use_bias:
            out.append(expect(layer, "b", weights.get("b"), b_shape))
        return out

    def from_keras(self, layer, values: list[np.ndarray], previous=None) -> Arrays:
        w_shape, b_shape = self._shapes(layer)
        out = {"W": expect(layer, "kernel", self.kernel_from_keras(values[0], w_shape), w_shape)}
        if layer.use_bias:
            out["b"] = expect(layer, "bias", values[1], b_shape)
        return out


NO_WEIGHTS = Converter()  # the converter of every kind without weights


def layer_weights(layer, weights: Arrays) -> Arrays:
    """The canonical arrays of one layer, keyed without the layer prefix."""
    prefix = layer.name + "."
    # by name first: a mapping that loads each array when indexed (parity.runners.stored) reads only this layer's
    return {k[len(prefix):]: weights[k] for k in weights if k.startswith(prefix)}
