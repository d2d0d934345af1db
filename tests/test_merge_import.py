"""The Keras importer reads Concatenate's axis counted from either end: DenseNet (keras.applications)
writes ``axis=3`` on 4-D channels-last maps, which is the last axis; any other axis is refused in one line."""

from __future__ import annotations

from parity.runners.pool import keras_worker


def concatenate_axes() -> list:  # in a Keras worker
    import keras
    from keras import layers

    from parity.spec.keras_import import import_keras
    from parity.spec.model import SpecError

    inputs = keras.Input((4, 4, 3))
    a = layers.Conv2D(2, 1, name="a")(inputs)
    b = layers.Conv2D(3, 1, name="b")(inputs)
    c = layers.Conv2D(2, 1, name="c")(inputs)
    found = []
    for axis, pair in ((3, [a, b]), (-1, [a, b]), (1, [a, c])):
        model = keras.Model(inputs, layers.Concatenate(axis=axis)([*pair]))
        try:
            spec = import_keras(model)
            found.append([n.config for n in spec.nodes if n.kind == "concatenate"][0]["axis"])
        except SpecError as error:
            found.append(str(error))
    return found


def test_concatenate_axis_read_from_either_end():
    last_from_front, last, other = keras_worker("torch").call("tests.test_merge_import:concatenate_axes")
    assert last_from_front == -1 and last == -1
    assert "axis=1" in other and "only the last axis" in other and len(other.splitlines()) == 1
