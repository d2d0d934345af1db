"""The layer registry: every layer kind, declared once (see ``parity.layers.base``).

Adding a kind is one entry in a family module, plus its scratch, torch and Keras code.
"""

from parity.layers import (
    attention,
    conv,
    dense,
    embedding,
    merge,
    norm,
    pooling,
    preprocessing,
    recurrent,
    tensor_ops,
    transformer,
)
from parity.layers.base import (
    CANONICAL,
    CHANNELS_FIRST,
    FLAT_CHANNELS_FIRST,
    Constant,
    KerasSide,
    LayerKind,
    Registry,
    Source,
    TorchSide,
    Traits,
)

REGISTRY = Registry(
    [
        *dense.KINDS,
        *conv.KINDS,
        *recurrent.KINDS,
        *merge.KINDS,
        *norm.KINDS,
        *pooling.KINDS,
        *attention.KINDS,
        *transformer.KINDS,
        *embedding.KINDS,
        *tensor_ops.KINDS,
        *preprocessing.KINDS,
    ]
)

__all__ = [
    "CANONICAL",
    "CHANNELS_FIRST",
    "Constant",
    "FLAT_CHANNELS_FIRST",
    "REGISTRY",
    "KerasSide",
    "LayerKind",
    "Registry",
    "Source",
    "TorchSide",
    "Traits",
]
