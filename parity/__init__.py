"""The parity harness: cases, conversion, runners, comparison, reports and the `parity` command.

The Python API for your own models: ``parity.compare(model_a, model_b, ...)`` (``parity.ports``).
"""

from parity.implementations import DTYPES, IMPLEMENTATIONS

__all__ = ["DTYPES", "IMPLEMENTATIONS", "compare", "port"]


def compare(model_a, model_b, **options):
    """Two models meant to be the same, compared (``parity.ports.compare``): a ``Comparison`` with
    ``.agree``, ``.records`` (a DataFrame), ``.first_divergence``, ``.diagnosis``, ``.assert_agree()``."""
    from parity.ports import compare as compare_ports

    return compare_ports(model_a, model_b, **options)


def port(source, to: str, out="port", **options):
    """Port a model (``path/to/file.py:factory`` or a ``.keras`` file) to ``to`` ("keras" or "torch")
    into the folder ``out``: readable ``model.py``, converted weights and the verdict
    (``parity.porting.port``; options: ``input_shape``, ``dtypes``, ``seed``, ``batch``)."""
    from parity.porting import port as port_model

    return port_model(str(source), to, out, **options)
