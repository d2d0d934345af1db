"""The implementations every model is written in, and the dtypes every comparison runs in."""

IMPLEMENTATIONS = ("scratch", "torch", "keras-torch", "keras-jax", "keras-tensorflow")
DTYPES = ("float32", "float64")
