"""``python -m parity``: the `parity` command, as ``python -m parity.cli`` and the installed ``parity``."""

import sys

from parity.cli import main

sys.exit(main())
