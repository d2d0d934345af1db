"""Divergence cases of every family register themselves on import."""

from parity.divergences import dense  # noqa: F401
from parity.divergences import recurrent  # noqa: F401
from parity.divergences import conv  # noqa: F401
from parity.divergences import training  # noqa: F401
