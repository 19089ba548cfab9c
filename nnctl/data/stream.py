"""Training data larger than memory: mini-batches read from the HDF5 file while the last one trains.

`open_streamed` checks a file as `load_dataset` does (shapes, dtypes, labels, finite values, read
in blocks) and returns a `Dataset` whose X is a `StreamedX`: the labels are in memory (one number
per example), the examples stay on disk. The Trainer asks it for each mini-batch
(`next_batch(idx)`); a background thread has already read it.

Exact shuffling: batch k of an epoch holds the examples `order[k*b:(k+1)*b]`, as in memory. The
thread reads them in sorted order (forward through the file), then puts them in the batch's order
and converts them as loading does (the stored values cast to the training dtype, then divided
by 255 for uint8 pixels; numeric inputs of a float32 run that are normalised, a streamed validation
or test set's, read in float64, normalised and then cast): the batches, and so the trained parameters, are bit for bit those of
the same spec trained from memory.

Reading: a contiguous, uncompressed dataset (what nnctl writes) is mapped into memory, whole
where a quarter of the available memory (address space included) holds it, else a window at a
time (at most `WINDOW_BYTES`) and its rows
gathered with np.take, without the GIL, so reading overlaps the products of the training step.
Chunked or compressed datasets are read through h5py's selections, exact but slower (a chunk is
decompressed once per example read from it).
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from nnctl.util import memory
from nnctl.data.dataset import (
    Dataset,
    Normalization,
    decode_names,
    read_dtype,
    find_layout,
    check_examples,
    file_sha256,
    h5_array,
    open_h5,
    read_array,
    read_block,
)
from nnctl.errors import DataError
from nnctl.data.dataset import BUILTIN_PREFIX
from nnctl.data.dataset import is_mat, pixel_scale
from nnctl.core.optimizers import make_optimizer
from nnctl.core.resources import memory_estimate
from nnctl.core.training import Batches

WINDOW_BYTES = 64 << 20  # a mapping of the file at a time, where the whole file is not mapped at once
CHECK_BLOCK_BYTES = 32 << 20  # the block read at a time when the file is checked
RING = 3  # batch buffers per size: one training, one ready, one being read


def block_rows(row_bytes: int) -> int:
    """Examples per block when a file is read through in blocks: CHECK_BLOCK_BYTES, or less where
    the memory available is short (a block is held twice, as stored and converted)."""
    return max(1, min(CHECK_BLOCK_BYTES, memory.available_memory() // 8) // max(row_bytes, 1))


def identity(path) -> tuple:
    """What tells a file from a changed or replaced one without reading it: device, inode, size, mtime."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class StreamedX:
    """X (n_x, m) left on disk: `shape`, `dtype`, and the batches the Trainer trains on."""

    def __init__(self, path: Path, key: str, shape, stored_dtype, dtype, scale: float, offset):
        self.path, self.key = Path(path), key
        self.identity = identity(self.path)  # checked before every read: the file must not change under a run
        self.m = int(shape[0])
        self.n_x = int(np.prod(shape[1:]))
        self.shape = (self.n_x, self.m)
        self.stored = np.dtype(stored_dtype)
        self.dtype = np.dtype(dtype)
        self.scale = scale
        self.norm = Normalization()  # the training set's normalisation, applied to every block read (Normalization.finish sets it)
        self.offset = offset  # byte offset of a contiguous dataset in the file; None: read through h5py
        self.row_bytes = self.n_x * self.stored.itemsize
        room = memory.available_memory() // 4  # mappings count against RLIMIT_AS (ulimit -v)
        self.whole = offset is not None and self.m * self.row_bytes <= room
        self.window_rows = max(1, min(WINDOW_BYTES, room) // self.row_bytes)
        self._map: np.ndarray | None = None  # the whole file's mapping, kept where it fits
        self._work: tuple = (None, None)  # (norm's method, the dtype convert works in for it): worked out once
        self._scratch: dict = {}  # convert's float64 rows, one buffer per reading thread (by its id), reused
        self._rings: dict = {}
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # what the Trainer reads of an X
    ndim = 2
    flags = SimpleNamespace(f_contiguous=True, c_contiguous=False)  # batches come as rows of the file

    @property
    def nbytes(self) -> int:
        return self.n_x * self.m * self.dtype.itemsize

    def __repr__(self) -> str:
        return f"StreamedX({self.path}:{self.key}, n_x={self.n_x}, m={self.m}, {self.dtype})"

    # ---------------------------------------------------------------- reading rows

    def check(self) -> None:
        """A DataError when the file is no longer the one opened: truncated, rewritten or replaced.

        Before every mapped read this is what keeps a file truncated under the mapping from
        killing the process with SIGBUS; at each batch and at the end of training it keeps a run
        from training on two data sets and recording the first one's SHA-256."""
        try:
            now: tuple | str = identity(self.path)
        except OSError as exc:
            now = exc.strerror or ""  # a message: removed or cannot be read
        if now != self.identity:
            raise DataError(
                f"{self.path}: the file changed while the run was reading it (it was "
                + ("removed or cannot be read" if isinstance(now, str) else "truncated" if now[2] < self.identity[2] else "rewritten or replaced")
                + "); the run would mix two data sets: keep the data file unchanged while training, and train again"
            )

    def _rows(self, start: int, stop: int):
        """A read-only (rows, n_x) mapping of examples start..stop-1 as stored, after checking that
        the file still holds them (a read past the end of a truncated file would be SIGBUS)."""
        self.check()
        return np.memmap(self.path, self.stored, "r", offset=self.offset + start * self.row_bytes, shape=(stop - start, self.n_x))

    def read_sorted(self, idx, out, h5=None) -> None:
        """Examples `idx` (increasing) as stored, into the rows of `out` (len(idx), n_x)."""
        if self.offset is None:
            self.check()
            out[...] = h5[idx].reshape(len(idx), self.n_x)  # h5py's selection: increasing indices
            return
        if self.whole:
            if self._map is None:
                self._map = self._rows(0, self.m)
            else:
                self.check()
            np.take(self._map, idx, axis=0, out=out, mode="clip")
            return
        per = self.window_rows  # examples per window
        bounds = np.searchsorted(idx, np.arange(0, self.m + per, per))
        for w in np.flatnonzero(bounds[1:] > bounds[:-1]):  # a loop over the windows the batch touches
            a, b = bounds[w], bounds[w + 1]
            start = w * per
            window = self._rows(start, min(start + per, self.m))
            np.take(window, idx[a:b] - start, axis=0, out=out[a:b], mode="clip")
            del window

    def convert(self, stored_rows, out, keep: bool = True) -> None:
        """`prepared`'s arithmetic on rows (b, n_x), into `out` in the training dtype: the stored
        values in `read_dtype` (float64 for numeric inputs of a float32 run, where they are
        normalised), then / scale, normalised (`norm`, the training set's, given by
        Normalization.finish) and cast: a block's numbers are those of the same rows in memory. `keep`:
        the float64 rows are a buffer kept for the next call (a batch's; an evaluation block's is not kept)."""
        method, work = self._work
        if method != self.norm.method:  # the first block, or a normalisation given since
            work = read_dtype({"x_dtype": str(self.stored), "scale": self.scale}, self.dtype, self.norm.method)
            self._work = (self.norm.method, work)
        rows = out
        if work != self.dtype:  # a buffer kept per thread, as the batch ring keeps its own: no allocation per batch
            rows = self._scratch.get(threading.get_ident()) if keep else None
            if rows is None or rows.shape != out.shape or rows.dtype != work:
                rows = np.empty(out.shape, work)
                if keep:
                    self._scratch[threading.get_ident()] = rows
        np.copyto(rows, stored_rows, casting="unsafe")
        if self.scale != 1.0:
            rows /= self.scale
        self.norm.apply(rows.T)
        if rows is not out:
            np.copyto(out, rows, casting="same_kind")

    def blocks(self, rows: int | None = None):
        """X in blocks of examples, in file order: (start, X_block (n_x, b)), for evaluation."""
        rows = rows or block_rows(self.n_x * max(self.dtype.itemsize, self.stored.itemsize, 8 if self.scale == 1.0 else 0))
        with open_h5(self.path) as f:
            ds = f[self.key]
            for start in range(0, self.m, rows):
                stop = min(start + rows, self.m)
                self.check()
                raw = read_block(ds, start, stop, self.path, self.key).reshape(stop - start, self.n_x)
                out = np.empty((stop - start, self.n_x), self.dtype)
                self.convert(raw, out, keep=False)
                yield start, out.T

    # ---------------------------------------------------------------- the prefetching thread

    def _ring(self, size: int):
        if size not in self._rings:
            self._rings[size] = {
                "rows": [np.empty((size, self.n_x), self.dtype) for _ in range(RING)],
                "sorted": np.empty((size, self.n_x), self.stored),
                "batch": np.empty((size, self.n_x), self.stored),
                "next": 0,
            }
        return self._rings[size]

    def start_epoch(self, order, size: int, first: int, count: int) -> None:
        """Start reading batches first..count-1 of this epoch (`order`: its order of the examples)."""
        self.end_epoch()
        order = np.array(order)  # this epoch's order, the thread's own copy
        self._stop.clear()
        self._queue = queue.Queue(maxsize=1)
        self._thread = threading.Thread(target=self._read_epoch, args=(order, size, first, count), daemon=True, name="nnctl-prefetch")
        self._thread.start()

    def _read_epoch(self, order, size, first, count) -> None:
        h5 = open_h5(self.path) if self.offset is None else None
        try:
            ds = h5[self.key] if h5 is not None else None
            for k in range(first, count):
                idx = order[k * size : (k + 1) * size]
                ring = self._ring(len(idx))
                rows = ring["rows"][ring["next"]]
                ring["next"] = (ring["next"] + 1) % RING
                where = np.argsort(idx)  # sorted position -> batch position
                self.read_sorted(idx[where], ring["sorted"], ds)
                batch = ring["batch"]
                batch[where] = ring["sorted"]  # back into the batch's order
                self.convert(batch, rows)
                if not self._put((k, rows)):
                    return
        except Exception as exc:  # noqa: BLE001  (handed to the training thread, which raises it)
            self._put((None, exc))
        finally:
            if h5 is not None:
                h5.close()

    def _put(self, item) -> bool:
        assert self._queue is not None  # start_epoch made it before the thread; end_epoch clears it after
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def next_batch(self, idx):
        """X (n_x, len(idx)) of the next batch, read ahead: a view of a ring buffer, valid until
        the batch after next is read."""
        if self._queue is None:
            raise RuntimeError("next_batch before start_epoch")
        k, rows = self._queue.get()
        if k is None:
            exc = rows
            if isinstance(exc, DataError):
                raise exc
            raise DataError(f"{self.path}: reading the training examples failed ({exc}); check the file and the disk") from exc
        if rows.shape[0] != len(idx):
            raise RuntimeError(f"streamed batch {k} has {rows.shape[0]} examples, the loop expected {len(idx)}")
        return rows.T

    def end_epoch(self) -> None:
        """Stop the reading thread (at the end of an epoch, or when training stops in its middle)."""
        if self._thread is None:
            return
        self._stop.set()
        assert self._queue is not None  # made with the thread
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()
        self._thread = self._queue = None

    def close(self) -> None:
        self.end_epoch()
        self._map = None


def x_layout(source, role: str = "train"):
    """(n_x, m, bytes as stored, dtype as stored) of a data file's x without reading it; None for a built-in source."""
    if str(source).startswith(BUILTIN_PREFIX):
        return None
    path = Path(source)
    with open_h5(path) as f:
        x_key, _, _ = find_layout(f, path, role)
        ds = h5_array(f, x_key, path)
        if ds.ndim < 1:
            return None
        m = int(ds.shape[0])
        n_x = int(np.prod(ds.shape[1:])) if ds.ndim > 1 else 1
        return n_x, m, m * n_x * ds.dtype.itemsize, ds.dtype


def open_streamed(
    source, task: str = "classification", role: str = "train", dtype=np.float64, max_classes: int | None = None, check_finite: bool = True
) -> Dataset:
    """A Dataset whose examples stay in the file (X a StreamedX), checked as `load_dataset` checks
    (labels as `max_classes` says). `check_finite=False` leaves the examples' finite check to the
    caller, who reads them anyway (evaluate checks each block as it reads it)."""
    path = Path(source)
    with open_h5(path) as f:
        x_key, y_key, classes_key = find_layout(f, path, role)
        ds = h5_array(f, x_key, path)
        y = read_array(f, y_key, path)
        classes = decode_names(read_array(f, classes_key, path)) if classes_key else []

        def finite() -> bool:
            rows = block_rows(ds.dtype.itemsize * int(np.prod(ds.shape[1:])))
            return all(np.isfinite(read_block(ds, i, i + rows, path, x_key)).all() for i in range(0, ds.shape[0], rows))

        y, preprocessing = check_examples(source, ds, y, task, finite if check_finite else lambda: True, classes, max_classes=max_classes)
        plain = ds.chunks is None and ds.compression is None and not ds.dtype.hasobject
        offset = ds.id.get_offset() if plain else None
        X = StreamedX(path, x_key, ds.shape, ds.dtype, dtype, preprocessing["scale"], offset)
    m = X.m
    digest = file_sha256(path)
    X.check()  # the SHA-256 is of the file the run streams, not of one that changed since it was opened
    return Dataset(X=X, Y=y.reshape(1, m), classes=classes, preprocessing=preprocessing, source=str(source), sha256=digest)


def stream_choice(spec, source, role: str = "train") -> bool:
    """Whether `source` is streamed: `data.stream` always or never; auto where reading it into
    memory (as stored, plus X in the training dtype, plus X in float64 where it is read so to be
    normalised) and training on it would not fit in the
    memory available (nnctl.util.memory.available_memory: the machine, rlimits, cgroup)."""
    mode, batch_size = spec.data.stream, spec.train.batch_size
    if mode == "never":
        return False
    builtin = str(source).startswith(BUILTIN_PREFIX)
    if builtin or is_mat(source):
        if mode == "always":
            what = "a data file, and a built-in dataset is generated in memory" if builtin else "an HDF5 file, and a MATLAB file is read whole"
            raise DataError(f"{source}: data.stream: always reads the examples from {what}; use stream: auto, or a file")
        return False
    layout = x_layout(source, role)
    if layout is None:
        return False  # let the loader say what is wrong with the file
    n_x, m, stored, stored_dtype = layout
    if role == "train" and (batch_size is None or batch_size >= m):  # full batch: every example at once
        if mode == "always":
            raise DataError(
                f"{source}: data.stream: always reads mini-batches from the file, so it needs a train.batch_size "
                f"below the {m} examples; set train.batch_size, or use stream: auto"
            )
        return False
    if mode == "always":
        return True
    itemsize = np.dtype(spec.train.dtype).itemsize
    need = stored + n_x * m * itemsize
    work = read_dtype({"x_dtype": str(stored_dtype), "scale": pixel_scale(stored_dtype)}, spec.train.dtype, spec.data.normalize)
    if work != np.dtype(spec.train.dtype):  # read in float64 to be normalised, then cast (read_dtype)
        need += n_x * m * work.itemsize
    if role == "train":
        optimizer = make_optimizer(spec.train.optimizer, spec.train.learning_rate)
        need += sum(memory_estimate(spec.layer_dims(n_x), m, itemsize, "primal", optimizer.extra_arrays(), Batches(m, batch_size).sizes).values())
    return need > memory.available_memory()
