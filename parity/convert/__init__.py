"""Converters between canonical (scratch) weights and each framework's layout.

Each family module registers its converters in ``parity.convert.base.CONVERTERS`` by the
scratch layer's class name; importing this package imports every family, so
``converter_for`` finds them all.
"""

from parity.convert import (
    conv,  # noqa: F401
    dense,  # noqa: F401
    recurrent,  # noqa: F401
)
from parity.convert.base import CONVERTERS, NO_WEIGHTS, ConversionError, Converter, layer_weights

__all__ = ["CONVERTERS", "ConversionError", "Converter", "converter_for", "layer_weights"]


def converter_for(layer) -> Converter:
    """The converter of a scratch layer; parameter-free layers need none."""
    kind = type(layer).__name__
    if kind in CONVERTERS:
        return CONVERTERS[kind]
    if layer.params or layer.state:
        raise KeyError(f"no converter for layer {layer.name!r} of type {kind}")
    return NO_WEIGHTS
