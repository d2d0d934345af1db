"""A pytest plugin (entry point ``pytest11``): guard a port in your own test suite.

    def test_port(parity_compare):
        parity_compare(TorchNet(), keras_model, input_shape=(1, 28, 28))

``parity_compare(a, b, **options)`` runs ``parity.agreement`` and fails the test with the table of
disagreeing quantities, the first diverging layer and the diagnosis when the two models part.
It returns the comparison for further checks.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def parity_compare():
    def check(model_a, model_b, **options):
        import parity

        result = parity.compare(model_a, model_b, **options)
        result.assert_agree()
        return result

    return check
