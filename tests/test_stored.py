"""A run's arrays kept as files (parity.runners.stored): read back bit for bit, one at a time, and removed with their folder."""

import gc
import pickle

import numpy as np
import pytest

from parity.agreement.records import compare_arrays
from parity.runners.stored import ArrayWriter, RunFolder, StoredArrays
from parity.tolerance import tolerance


def _written(folder: RunFolder) -> tuple[dict, StoredArrays]:
    rng = np.random.default_rng(0)
    arrays = {"conv.W": rng.standard_normal((3, 3, 2, 4)), "conv.b": rng.standard_normal(4).astype(np.float32)}
    writer = ArrayWriter(folder.path / "weights")
    writer.update(arrays)
    assert len(writer) == 0  # written, not kept
    return arrays, folder.arrays("weights", writer.names)


def test_each_array_reads_back_bit_for_bit_and_compares_equal():
    arrays, stored = _written(RunFolder())
    assert list(stored) == list(arrays)
    for name, value in arrays.items():
        assert stored[name].dtype == value.dtype and np.array_equal(stored[name], value)
        record = compare_arrays("m", "a", "b", "float64", f"weight:{name}", value, stored[name], tolerance("float64"))
        assert record.passed and record.max_abs_err == 0.0


def test_a_changed_array_compares_unequal():
    arrays, stored = _written(RunFolder())
    changed = arrays["conv.W"].copy()
    changed[0, 0, 0, 0] += 1e-6
    record = compare_arrays("m", "a", "b", "float64", "weight:conv.W", changed, stored["conv.W"], tolerance("float64"))
    assert record.passed is False


def test_renamed_and_pickled_read_the_same_files():
    arrays, stored = _written(RunFolder())
    renamed = stored.renamed(lambda name: name.replace("conv", "conv2d"))
    assert np.array_equal(renamed["conv2d.W"], arrays["conv.W"])
    with pytest.raises(KeyError):
        renamed["conv.W"]
    sent = pickle.loads(pickle.dumps(renamed))  # as a worker receives it: the files, not the folder's owner
    assert np.array_equal(sent["conv2d.b"], arrays["conv.b"])


def test_the_folder_goes_with_the_last_mapping_that_reads_it():
    folder = RunFolder()
    path = folder.path
    _, stored = _written(folder)
    sent = pickle.loads(pickle.dumps(stored))
    del folder, sent
    gc.collect()
    assert path.is_dir()  # still read through ``stored``
    del stored
    gc.collect()
    assert not path.exists()


def test_an_array_written_twice_is_refused():
    folder = RunFolder()
    writer = ArrayWriter(folder.path / "grads")
    writer["x"] = np.zeros(2)
    with pytest.raises(KeyError, match="written twice"):
        writer["x"] = np.ones(2)
