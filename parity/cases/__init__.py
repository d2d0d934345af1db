"""Every family's cases register themselves on import."""

from parity.cases import dense  # noqa: F401
