"""Converters between canonical (scratch) weights and each framework's layout.

Each layer kind's converter is declared in its registry entry (parity.layers).
"""

from parity.convert.base import NO_WEIGHTS, ConversionError, Converter, layer_weights

__all__ = ["NO_WEIGHTS", "ConversionError", "Converter", "layer_weights"]
