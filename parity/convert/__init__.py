"""Converters between canonical (scratch) weights and each framework's layout."""

from parity.convert import (
    conv,  # noqa: F401
    dense,  # noqa: F401
    recurrent,  # noqa: F401
)
from parity.convert.base import CONVERTERS, ConversionError, Converter, converter_for, layer_weights

__all__ = ["CONVERTERS", "ConversionError", "Converter", "converter_for", "layer_weights"]
