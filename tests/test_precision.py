"""``parity.runners.precision``: floatx and the global dtype policy set together, and put back."""

from __future__ import annotations

from parity.runners.pool import keras_worker


def precision_in_worker(steps: list[str]) -> list[tuple[str, str, str]]:
    """In a Keras worker: after each step ("set float32", "with float64"), floatx, the dtype policy, and
    the dtype of a Dense layer's kernel built then."""
    import keras

    from parity.runners.precision import keras_precision, set_keras_precision

    def seen() -> tuple[str, str, str]:
        layer = keras.layers.Dense(2)
        layer.build((None, 3))
        return keras.config.floatx(), keras.config.dtype_policy().name, str(layer.kernel.dtype).removeprefix("torch.")

    out = []
    for step in steps:
        how, dtype = step.split()
        if how == "set":
            set_keras_precision(dtype)
            out.append(seen())
        else:
            with keras_precision(dtype):
                out.append(seen())
            out.append(seen())
    return out


def test_a_float64_request_after_a_float32_one_builds_float64_layers():
    """The policy Keras derived from floatx on first use does not outlive a change of precision; with
    ``set_floatx`` alone the Dense of the second step is float32 (checked)."""
    out = keras_worker("torch").call(
        "tests.test_precision:precision_in_worker", ["set float32", "set float64", "with float32", "set float64"]
    )
    assert out[0] == ("float32", "float32", "float32")
    assert out[1] == ("float64", "float64", "float64")
    assert out[2] == ("float32", "float32", "float32")  # inside the block
    assert out[3] == ("float64", "float64", "float64")  # put back after it
    assert out[4] == ("float64", "float64", "float64")
