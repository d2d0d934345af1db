"""A run's arrays kept as files (parity.runners.stored): read back bit for bit, one at a time, and removed with their folder."""

import gc
import pickle
import tempfile

import numpy as np
import pytest

from parity.agreement.records import compare_arrays
from parity.runners.stored import ArrayWriter, RunFolder, StoredArrays
from parity.tolerance import tolerance
from tests.conftest import linux


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


@pytest.mark.parametrize("impl", ["scratch", "torch", "keras-torch"])
def test_a_stored_trajectory_is_the_trajectory_and_goes_with_its_last_reader(impl):
    """``run_training(stored=True)`` writes the weights after each step as the run reads them: read back
    they are the held trajectory to the last bit (every record passes with error 0), a trajectory from
    other weights compares unequal to it, and its folder goes once the result is let go."""
    from parity.cases import get_case
    from parity.train import compare_trajectories, make_train_request, optimizer_spec, run_training
    from parity.training.spec import TrainRequest

    case = get_case("mlp")
    config = case.configure({})
    request = make_train_request(case, config, "float64", 0, optimizer_spec("momentum", {}), 3, 8)
    held, stored = run_training(impl, request), run_training(impl, request, stored=True)
    assert len(stored.weights) == len(held.weights) == 3
    assert all(isinstance(snapshot, StoredArrays) for snapshot in stored.weights)
    assert np.array_equal(held.losses, stored.losses)
    records = compare_trajectories("mlp", "float64", held, stored)
    assert len(records) == 3 * (1 + len(held.weights[0]))
    assert all(r.passed and r.max_abs_err == 0.0 for r in records)

    moved = {name: value * (1 + 1e-6) for name, value in request.weights.items()}
    other = run_training(impl, TrainRequest(**{**request.__dict__, "weights": moved}), stored=True)
    assert any(r.passed is False for r in compare_trajectories("mlp", "float64", other, stored))

    folder = stored.weights[0].folder.parent
    assert folder.is_dir()
    del stored, records
    gc.collect()
    assert not folder.exists()


def test_weights_changed_one_array_at_a_time_into_files_are_the_weights_changed_whole():
    """parity.ports moves a model's weights by one ulp, and varies its constant arrays before training, one
    array at a time into files (``_stored_each``): the same draws in the same order as for the whole set,
    so the same bits, and every array changed."""
    from parity.fuzz.conditioning import one_ulp
    from parity.ports import _stored_each
    from parity.weights import vary_constants

    rng = np.random.default_rng(0)
    weights = {"conv.W": rng.standard_normal((3, 3, 2, 4)), "conv.b": np.zeros(4), "bn.mean": np.ones(4)}
    changes = {
        "one ulp": lambda generator: lambda arrays: one_ulp(arrays, generator, "float32"),
        "varied constants": lambda generator: lambda arrays: vary_constants(arrays, generator),
    }
    for what, change in changes.items():
        whole = change(np.random.default_rng([0, 3]))(weights)
        stored = _stored_each(weights, change(np.random.default_rng([0, 3])))
        assert isinstance(stored, StoredArrays) and list(stored) == list(weights), what
        for name, value in whole.items():
            assert stored[name].dtype == value.dtype and np.array_equal(stored[name], value), (what, name)
        assert not np.array_equal(stored["bn.mean"], weights["bn.mean"]), what  # a constant array is changed


def test_the_size_of_stored_arrays_is_read_from_their_files_without_loading_them(monkeypatch):
    """``nbytes`` of a stored mapping: its files' sizes (data plus each .npy header), no array loaded;
    of an in-memory mapping, its arrays' bytes."""
    import parity.runners.stored as stored_module

    arrays, stored = _written(RunFolder())
    data = sum(value.nbytes for value in arrays.values())
    monkeypatch.setattr(stored_module.np, "load", lambda *a, **k: pytest.fail("an array was loaded"))
    size = stored_module.nbytes(stored)
    assert data < size <= data + 256 * len(arrays), (size, data)  # a .npy header is at most a few hundred bytes
    assert stored_module.nbytes(arrays) == data


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_scratch_model_keeps_the_arrays_read_from_files_and_copies_a_callers(monkeypatch, dtype):
    """The scratch runners load weights through ``CastOnRead`` into ``set_weights(copy=False)``: an array
    read from a file is new, so the model keeps it (cast where the dtype differs) and no second copy is
    made; an array the caller holds is copied, so that a training step, which changes the model's
    arrays in place, leaves the caller's as they were."""
    from parity.runners.scratch_runner import CastOnRead
    from scratch.dense import Dense
    from scratch.sequential import Sequential

    def model():
        return Sequential([Dense(4, name="conv")], input_shape=(3,))

    rng = np.random.default_rng(0)
    held = {"conv.W": rng.standard_normal((3, 4)), "conv.b": rng.standard_normal(4)}
    folder = RunFolder()
    writer = ArrayWriter(folder.path / "weights")
    writer.update(held)
    stored = folder.arrays("weights", writer.names)
    read = {}
    load = StoredArrays.__getitem__

    def remembered(self, name):
        read[name] = load(self, name)
        return read[name]

    monkeypatch.setattr(StoredArrays, "__getitem__", remembered)
    from_files = model()
    from_files.set_weights(CastOnRead(stored, np.dtype(dtype)), copy=False)
    for name, value in from_files.weights().items():
        assert value.dtype == dtype and np.array_equal(value, held[name].astype(dtype)), name
        assert (value is read[name]) == (dtype == np.float64), name  # the array as read, unless cast

    from_caller = model()
    from_caller.set_weights(CastOnRead(held, np.dtype(dtype)), copy=False)
    before = {name: value.copy() for name, value in held.items()}
    for value in from_caller.weights().values():
        value += 1.0  # a step's in-place update
    for name, value in held.items():
        assert np.array_equal(value, before[name]), name


@pytest.fixture
def places(monkeypatch, tmp_path):
    """A stand-in for shared memory and one for the temporary folder, both under ``tmp_path``."""
    import parity.runners.stored as stored_module

    memory, disk = tmp_path / "shm", tmp_path / "disk"
    memory.mkdir()
    disk.mkdir()
    monkeypatch.setattr(stored_module, "SHARED_MEMORY", memory)
    monkeypatch.setattr(tempfile, "tempdir", str(disk))
    return memory, disk


def test_a_run_folder_is_in_shared_memory_where_there_is_one(monkeypatch, places):
    import parity.runners.stored as stored_module

    memory, disk = places
    folder = RunFolder()
    assert folder.path.parent == memory
    monkeypatch.setattr(stored_module, "SHARED_MEMORY", memory / "absent")
    assert RunFolder().path.parent == disk


@pytest.mark.parametrize("short", ["memory", "shared memory's size"])
def test_an_array_that_would_leave_too_little_memory_is_written_to_disk_and_removed_with_its_folder(
    monkeypatch, places, short
):
    """In shared memory, an array whose file would leave less than a quarter of the machine's memory
    available, or that does not fit in the shared memory's size, goes to the temporary folder, linked
    from the run's folder: read back bit for bit through the link, and removed with the folder."""
    import shutil

    import parity.runners.stored as stored_module

    memory, disk = places
    small, large = np.arange(4.0), np.random.default_rng(0).standard_normal(1000)
    gib = 2**30
    if short == "memory":  # 16 GiB machine: 4 GiB + 4 KiB available leaves room for 32 bytes, not for 8000
        monkeypatch.setattr(stored_module, "memory_available", lambda: (4 * gib + 4096, 16 * gib))
    else:  # plenty of memory, but shared memory has 2**20 + 4000 bytes free
        monkeypatch.setattr(stored_module, "memory_available", lambda: (15 * gib, 16 * gib))
        usage = shutil.disk_usage(memory)
        monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=2**20 + 4000))
    folder = RunFolder()
    writer = ArrayWriter(folder.path / "weights")
    writer.update({"small": small, "large": large})
    written = {name: folder.path / "weights" / f"{i}.npy" for i, name in enumerate(writer.names)}
    assert not written["small"].is_symlink() and written["large"].is_symlink()
    target = written["large"].resolve()
    assert target.parent == disk
    stored = folder.arrays("weights", writer.names)
    assert np.array_equal(stored["small"], small) and np.array_equal(stored["large"], large)
    assert stored["large"].tobytes() == large.tobytes()
    del folder, stored
    gc.collect()
    assert not written["large"].parent.exists() and not target.exists()
    assert list(disk.iterdir()) == []


class _Node:
    """An object in a reference cycle with itself: only the collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_inside_the_block_a_collection_frees_what_the_block_made_and_leaves_the_rest_for_later():
    import weakref

    from parity.runners.stored import collecting_only_new_objects

    assert gc.get_freeze_count() == 0
    old = _Node()
    old_ref = weakref.ref(old)
    with collecting_only_new_objects():
        new = _Node()
        new_ref = weakref.ref(new)
        del old, new
        gc.collect()
        assert new_ref() is None, "garbage made inside the block was not collected"
        assert old_ref() is not None, "the collection walked objects made before the block"
    assert gc.get_freeze_count() == 0, "the frozen objects were not given back"
    gc.collect()
    assert old_ref() is None, "garbage made before the block was never collected"


def test_where_objects_are_frozen_already_the_block_leaves_them_frozen():
    """A Keras worker freezes what its imports made: the block must not unfreeze those at its end. (Judged by
    an object, not by ``gc.get_freeze_count``, which drops whenever a frozen object is freed.)"""
    import weakref

    from parity.runners.stored import collecting_only_new_objects

    old = _Node()
    old_ref = weakref.ref(old)
    gc.freeze()
    try:
        with collecting_only_new_objects():
            pass
        del old
        gc.collect()
        assert old_ref() is not None, "the block unfroze what was frozen before it"
    finally:
        gc.unfreeze()
    gc.collect()
    assert old_ref() is None


def test_an_array_is_its_file_mapped_and_a_change_to_it_leaves_the_file_as_it_was():
    """Read by mapping the file (no copy into new memory), as a plain ndarray; changed in place (a
    scratch model's training step), the reader's pages change and a second read still gets the file's."""
    import mmap

    arrays, stored = _written(RunFolder())
    value = stored["conv.W"]
    assert type(value) is np.ndarray and value.flags.writeable
    base = value
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.base
    assert isinstance(base, mmap.mmap), "read into new memory, not mapped"
    value += 1.0
    assert np.array_equal(value, arrays["conv.W"] + 1.0)
    assert np.array_equal(stored["conv.W"], arrays["conv.W"])


@linux
def test_a_fresh_scratch_model_learns_its_shapes_without_drawing_values():
    """``set_weights`` on a model with no arrays yet learns their names and shapes from each layer's
    ``init``; no value is drawn or written for that (a zoo model's would be hundreds of megabytes).
    Weights read from files are mapped and kept as read (``copy=False``): the process's resident
    high-water mark moves by far less than the 64 MiB kernel that drawing it would write."""
    from benchmarks.memory import _status_kib
    from scratch.dense import Dense
    from scratch.sequential import Sequential

    held = {"fc.W": np.ones((2048, 4096)), "fc.b": np.zeros(4096)}  # 64 MiB of float64
    folder = RunFolder()
    writer = ArrayWriter(folder.path / "weights")
    writer.update(held)
    del held
    stored = folder.arrays("weights", writer.names)
    model = Sequential([Dense(4096, name="fc")], input_shape=(2048,))
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the high-water mark from here
    before = _status_kib("VmRSS") * 1024
    model.set_weights(stored, copy=False)
    grown = _status_kib("VmHWM") * 1024 - before
    assert grown < 16 * 2**20, f"{grown / 2**20:.1f} MiB written to learn the shapes"
    assert model.weights()["fc.W"].shape == (2048, 4096)
