"""The parity harness: cases, conversion, runners, comparison, reports and the `parity` command."""

IMPLEMENTATIONS = ("scratch", "torch", "keras-torch", "keras-jax", "keras-tensorflow")
DTYPES = ("float32", "float64")
