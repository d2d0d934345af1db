"""The parity harness: cases, conversion, runners, comparison, reports and the `parity` command.

The Python API for your own models: ``parity.agreement(model_a, model_b, ...)`` (``parity.ports``).
"""

from parity.implementations import DTYPES, IMPLEMENTATIONS

__all__ = ["DTYPES", "IMPLEMENTATIONS", "compare"]


def compare(model_a, model_b, **options):
    """Two models meant to be the same, compared (``parity.ports.compare``): a ``Comparison`` with
    ``.agree``, ``.records`` (a DataFrame), ``.first_divergence``, ``.diagnosis``, ``.assert_agree()``."""
    from parity.ports import compare as compare_ports

    return compare_ports(model_a, model_b, **options)
