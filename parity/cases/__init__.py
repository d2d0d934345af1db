"""Every family's cases register themselves on import."""

from parity.cases import dense  # noqa: F401
from parity.cases import conv  # noqa: F401
from parity.cases import recurrent  # noqa: F401
