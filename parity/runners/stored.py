"""A run's named arrays (weights, gradients) kept as ``.npy`` files, each read when it is asked for.

A Keras worker answers over a pipe; an answer holding every weight and every gradient of a large
model is two copies of it at once in the worker while it is written and two in the parent once
read (parity zoo: ConvNeXtXLarge has 350M parameters, 2.6 GiB per float64 copy). Instead the
parent names a folder (``RunFolder``), the worker writes each array there as soon as it has it and
lets it go, and answers with the names; the parent reads them through ``StoredArrays``, a mapping
that loads one array from its file each time it is indexed and keeps none. A comparison that goes
one parameter at a time then holds one parameter of each side at a time.

``np.save`` / ``np.load`` (``allow_pickle=False``) keep each array's dtype, shape and every bit.
An array is read by mapping its file (``mmap_mode="c"``): reading a file into a new array makes
the kernel find and zero fresh memory for it, and on a virtual machine that gives its free memory
back to the host, fault it in from the host too. Measured on the 2-core machine (a Firecracker VM)
for the VGG16 family test: the test process spent 6% of the CPU samples zeroing the pages
``np.load`` read the arrays into; a mapped file's pages are the ones already written.

The folder is in shared memory (``/dev/shm``, a tmpfs, where Linux has one; as joblib keeps the
arrays it hands to its workers) rather than the system's temporary folder, usually on a disk: the
files live for one comparison, and on a disk's file system the kernel also journals them and writes
them out while they are read (measured on a 2-core machine with ext4 ``/tmp``: the VGG16 and ResNet50V2
family tests took 52-59 s with the folder there, 39-41 s in shared memory). Shared memory cannot be
written out under pressure, so an array whose file would leave less than a quarter of the machine's
memory available, or not fit in the shared memory's size, is written to the temporary folder instead
and linked from the run's folder (``ArrayWriter``): a zoo model of gigabytes still runs where it ran before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import tempfile
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np

# Where run folders are made when it exists and this process may write there (``RunFolder``).
SHARED_MEMORY = Path("/dev/shm")


def memory_available() -> tuple[int, int]:
    """(bytes the kernel can still give without swapping, the machine's bytes): ``MemAvailable`` and
    ``MemTotal`` of ``/proc/meminfo``; (0, 0) where there is none."""
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        return int(fields["MemAvailable"].split()[0]) * 1024, int(fields["MemTotal"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return 0, 0


def in_shared_memory(path: Path) -> bool:
    return Path(path).resolve().is_relative_to(SHARED_MEMORY.resolve())


def _remove(path: str) -> None:
    """A run folder and the files its links point to (arrays written to disk, ``ArrayWriter``)."""
    for link in Path(path).rglob("*.npy"):
        if link.is_symlink():
            Path(os.readlink(link)).unlink(missing_ok=True)
    shutil.rmtree(path, ignore_errors=True)


class RunFolder:
    """A temporary folder for one run's arrays, removed when the last mapping reading it is let go:
    in shared memory where there is one (the module's docstring), else in the temporary folder."""

    def __init__(self) -> None:
        memory = SHARED_MEMORY if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK | os.X_OK) else None
        self.path = Path(tempfile.mkdtemp(prefix="parity-run-", dir=memory))
        self._remove = weakref.finalize(self, _remove, str(self.path))

    def arrays(self, part: str, names: list[str]) -> StoredArrays:
        """The arrays a worker wrote under ``part`` (``ArrayWriter``), as a mapping that keeps this folder."""
        return StoredArrays(self.path / part, names, keep=self)


class ArrayWriter(dict):
    """Where a run puts its arrays (a dict's ``update`` and item assignment): each is written to
    ``folder`` as it comes and not kept. ``names`` lists them in order.

    In shared memory, an array whose file would leave less than a quarter of the machine's memory
    available (or not fit) is written to the temporary folder instead, and ``folder`` holds a link to
    it (removed with the folder, ``RunFolder``)."""

    def __init__(self, folder: str | Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.names: list[str] = []
        self.memory = in_shared_memory(self.folder)

    def __setitem__(self, name: str, value) -> None:
        if name in self.names:
            raise KeyError(f"array {name!r} is written twice")
        value = np.asarray(value)
        path = self.folder / f"{len(self.names)}.npy"
        if self.memory and self._too_large(value.nbytes):
            handle, disk = tempfile.mkstemp(prefix="parity-array-", suffix=".npy")
            path.symlink_to(disk)  # first, so that the folder's removal finds it whatever happens next
            with os.fdopen(handle, "wb") as file:
                np.save(file, value, allow_pickle=False)
        else:
            np.save(path, value, allow_pickle=False)
        self.names.append(name)

    def _too_large(self, nbytes: int) -> bool:
        """Whether a file of ``nbytes`` would leave less than a quarter of the memory available, or
        not fit in the shared memory's own size (a container's is often 64 MiB)."""
        available, total = memory_available()
        return available - nbytes < total // 4 or shutil.disk_usage(self.folder).free < nbytes + 2**20

    def update(self, items=(), **more) -> None:
        for name, value in dict(items, **more).items():
            self[name] = value


class StoredArrays(Mapping):
    """Named arrays in ``folder`` (``0.npy``, ``1.npy``, ... in the order of ``names``), each loaded
    afresh when indexed. ``keep``: what must stay alive while this mapping is read (its ``RunFolder``)."""

    def __init__(self, folder: str | Path, names: list[str], keep=None, files: dict[str, int] | None = None) -> None:
        self.folder = Path(folder)
        self._files = files if files is not None else {name: i for i, name in enumerate(names)}
        self._keep = keep

    def __getitem__(self, name: str) -> np.ndarray:
        # Mapped, not read (see the module's docstring): the array is the file's own pages, copy-on-write,
        # so a caller that changes it (a scratch model's training step, in place) changes its own copy of
        # the pages it writes, never the file. A plain ndarray, not np.memmap, so that what is computed
        # from it, or sent to another process, is an ordinary array.
        return np.load(self.folder / f"{self._files[name]}.npy", mmap_mode="c", allow_pickle=False).view(np.ndarray)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)

    def __len__(self) -> int:
        return len(self._files)

    @property
    def nbytes(self) -> int:
        """The bytes of the files (each array's data and its ``.npy`` header), none of them read."""
        return sum((self.folder / f"{i}.npy").stat().st_size for i in self._files.values())

    def renamed(self, rename: Callable[[str], str]) -> StoredArrays:
        """The same files under ``rename(name)``, nothing read."""
        files = {rename(name): i for name, i in self._files.items()}
        return StoredArrays(self.folder, [], keep=self._keep, files=files)

    def __reduce__(self):
        # Sent to another process (a worker reading weights): the files and names, not the folder's
        # owner, so only the process that made the folder removes it.
        return StoredArrays, (str(self.folder), [], None, dict(self._files))


def nbytes(arrays: Mapping) -> int:
    """The bytes of a mapping of arrays; of a ``StoredArrays``, its files' sizes, nothing read."""
    if isinstance(arrays, StoredArrays):
        return arrays.nbytes
    return sum(np.asarray(value).nbytes for value in arrays.values())


# A model whose weights reach this size is collected as soon as it is let go (``let_go``): parity zoo's
# largest hold gigabytes per copy. A full collection walks every object the process holds (~330,000 with
# torch, pandas and the CLI imported: 0.21 s of CPU each, measured), and a port of examples/mnist_torch.py
# ran ten of them, 1.8 of the 2.4 s of CPU its port took in this process; in a report's JAX worker, one
# after each of its training runs took a sixth of the worker's time (``parity.training.runners.train_keras``).
# A small model's arrays are freed by their reference counts, or later by Python's own collector.
LARGE_MODEL_BYTES = 64 * 2**20


def collect_if_large(model_bytes: int) -> None:
    """A full garbage collection now, where a model of ``model_bytes`` of weights was let go (``LARGE_MODEL_BYTES``)."""
    if model_bytes >= LARGE_MODEL_BYTES:
        gc.collect()


def let_go(weights: Mapping) -> None:
    """A full garbage collection now, where the model of these weights is large (``LARGE_MODEL_BYTES``)."""
    collect_if_large(nbytes(weights))  # of stored weights: their files' sizes, none read


@contextlib.contextmanager
def collecting_only_new_objects() -> Iterator[None]:
    """Inside the block, a full collection walks only the objects made inside it.

    What the process held before (the libraries it imported, the test modules of a test process, the
    models of earlier work) is frozen for the block (``gc.freeze``: moved out of the collector's
    generations, in constant time) and given back to the oldest generation at its end (``gc.unfreeze``).
    A large model's garbage is made inside the block, so ``let_go`` still frees it; garbage among the
    frozen objects waits for Python's own next collection after the block. Measured in a test process of
    ``make test`` (860,000 objects: torch, Keras and the test modules): 0.6-1.0 s of CPU per full
    collection, 57 of them in the zoo tests (``let_go`` and the collection after each architecture).

    Where objects are frozen already (a Keras worker freezes what its imports made), the block changes
    nothing: unfreezing at its end would give those back too.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
