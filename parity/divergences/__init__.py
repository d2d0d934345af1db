"""Divergence cases of every family register themselves on import."""

from parity.divergences import (
    conv,  # noqa: F401
    dense,  # noqa: F401
    recurrent,  # noqa: F401
    training,  # noqa: F401
)
