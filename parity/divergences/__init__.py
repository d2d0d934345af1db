"""Divergence cases of every family register themselves on import."""

from parity.divergences import dense  # noqa: F401
