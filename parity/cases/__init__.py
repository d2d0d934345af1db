"""Every family's cases register themselves on import."""

from parity.cases import (
    conv,  # noqa: F401
    dense,  # noqa: F401
    recurrent,  # noqa: F401
)
