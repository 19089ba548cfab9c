"""Datasets: HDF5 layouts, flattening and scaling, and the built-in generators.

Two layouts are read. The course's: `train_set_x` (m, 64, 64, 3) uint8, `train_set_y` (m,),
`list_classes` (or `test_set_*`). The plain one: `x` (m, ...) and `y` (m,), optional `classes`.
MATLAB files (.mat, version 5, read with scipy.io) hold `X`/`y` for training and `Xval`/`yval`
for test, as the course's Regularization "football" data does (or `x`/`y`).
Both keep one example per row on disk, as the course's files do; loading flattens them the
course's way into X (n_x, m), one example per column.
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import math
import os
import re
import stat
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from nnctl.util.atomic import atomic_path
from nnctl.util import memory
from nnctl.errors import ConfigError, DataError
from nnctl.util.text import quoted
from fnmatch import fnmatch
from nnctl.rundir.layout import RUN_FILE_PATTERNS, RUN_FILES, RUN_MARKERS

if TYPE_CHECKING:
    from nnctl.data.stream import StreamedX

BUILTIN_PREFIX = "builtin:"
ARRAY_PREFIX = "array:"  # arrays handed to nnctl.fit in Python: named in the spec, never stored in the run
COURSE_PREFIXES = ("train_set_", "test_set_")


@dataclass
class Dataset:
    X: np.ndarray | StreamedX  # (n_x, m); a StreamedX: left in its file (nnctl.data.stream)
    Y: np.ndarray  # (1, m)
    classes: list = field(default_factory=list)
    preprocessing: dict = field(default_factory=dict)
    source: str = ""
    sha256: str = ""
    kept: np.ndarray | None = None  # a table's: the row of the table each example came from (messages name its line)

    @property
    def m(self) -> int:
        return self.X.shape[1]

    @property
    def n_x(self) -> int:
        return self.X.shape[0]

    @property
    def k(self) -> int:
        """Classes: as many as the class list names, else the largest label + 1 (at least 2)."""
        top = int(self.Y.max()) + 1 if self.Y.size else 0
        return max(len(self.classes), top, 2)


# ---------------------------------------------------------------- built-in generators


def make_planar(m: int = 400, seed: int = 1, noise: float = 0.2):
    """The course's week-3 'flower': two interleaved classes of petals in the plane.

    Drawn exactly as the course's `load_planar_dataset` did with `np.random.seed(seed)`.
    Returns x (m, 2) and y (m,) uint8, one example per row as stored on disk.
    """
    rs = np.random.RandomState(seed)
    N, a = m // 2, 4  # points per class, maximum ray of the flower
    x = np.zeros((2 * N, 2))
    y = np.zeros(2 * N, dtype=np.uint8)
    for j in range(2):  # one pass per class, vectorized over its points
        ix = slice(N * j, N * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, N) + rs.randn(N) * noise  # theta
        r = a * np.sin(4 * t) + rs.randn(N) * noise  # radius
        x[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
    return x, y


def make_moons(m: int = 300, seed: int = 3, noise: float = 0.2):
    """Two interleaved half-circles: scikit-learn's `make_moons(n_samples=m, noise=noise)` drawn
    after `np.random.seed(seed)`, bit for bit. The defaults are the course's "Optimization
    methods" data (m = 300, seed 3, noise 0.2). The algorithm: the two arcs, then the examples
    shuffled by one `shuffle` of their indices, then Gaussian noise `normal(scale=noise)` over
    the (m, 2) array, all from that one generator."""
    rs = np.random.RandomState(seed)
    n_out = m // 2
    n_in = m - n_out
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n_in)
    outer_x, outer_y = np.cos(t_out), np.sin(t_out)
    inner_x, inner_y = 1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5  # scikit-learn's expression, for its digits
    x = np.vstack([np.append(outer_x, inner_x), np.append(outer_y, inner_y)]).T
    return _shuffled_with_noise(rs, x, n_out, n_in, noise)


def _shuffled_with_noise(rs, x, n_out: int, n_in: int, noise: float):
    """scikit-learn's ending of make_moons and make_circles: labels 0 for the first n_out points, 1 for
    the rest; one `shuffle` of the indices; then `normal(scale=noise)` over the (m, 2) array."""
    y = np.hstack([np.zeros(n_out, dtype=np.uint8), np.ones(n_in, dtype=np.uint8)])
    order = np.arange(n_out + n_in)
    rs.shuffle(order)
    x, y = x[order], y[order]
    if noise:
        x += rs.normal(scale=noise, size=x.shape)
    return x, y


def make_circles(m: int = 300, seed: int = 1, noise: float = 0.05, factor: float = 0.8):
    """A circle inside a circle: scikit-learn's `make_circles(n_samples=m, noise=noise, factor=factor)`
    drawn after `np.random.seed(seed)`, bit for bit. The defaults are the course's "Initialization"
    training data (m = 300, seed 1, noise 0.05; its test set is m=100, seed=2). The algorithm: m // 2
    points on the unit circle (label 0) and the rest on the circle of radius `factor` (label 1), at
    angles 2 pi k / n without the endpoint; the examples shuffled by one `shuffle` of their indices;
    then Gaussian noise `normal(scale=noise)` over the (m, 2) array, all from that one generator.
    (scikit-learn before 0.24 took the angles as linspace(0, 2 pi, n + 1)[:-1], the same numbers.)"""
    rs = np.random.RandomState(seed)
    n_out = m // 2
    n_in = m - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.vstack([np.append(np.cos(t_out), np.cos(t_in) * factor), np.append(np.sin(t_out), np.sin(t_in) * factor)]).T
    return _shuffled_with_noise(rs, x, n_out, n_in, noise)


def make_spiral(m: int = 300, k: int = 3, seed: int = 1, noise: float = 0.2):
    """k interleaved spiral arms, one class each (the CS231n spiral): class j's points run out
    from the centre, radius r from 0 to 1, at angle t from 4j to 4(j+1) radians plus
    Gaussian noise `noise` (radians). m examples, split as evenly as can be (the first
    m mod k arms one longer), drawn after `np.random.seed(seed)` one arm at a time."""
    rs = np.random.RandomState(seed)
    x = np.zeros((m, 2))
    y = np.zeros(m, dtype=np.uint8 if k <= 256 else np.int64)
    start = 0
    for j in range(k):  # one pass per arm, vectorized over its points
        n = m // k + (j < m % k)
        ix = slice(start, start + n)
        r = np.linspace(0.0, 1.0, n)
        t = np.linspace(j * 4.0, (j + 1) * 4.0, n) + rs.randn(n) * noise
        x[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
        y[ix] = j
        start += n
    return x, y


GENERATORS: dict[str, tuple[Callable[..., tuple], list[str] | Callable[..., list[str]]]] = {
    "planar": (make_planar, ["red", "blue"]),
    "moons": (make_moons, ["upper", "lower"]),
    "circles": (make_circles, ["outer", "inner"]),
    "spiral": (make_spiral, lambda k=3, **_: [f"arm{j}" for j in range(k)]),
}
OPTION_RANGES = {"m": (2, None), "seed": (0, 2**32 - 1), "k": (2, 1000)}


def generate(name: str, **kwargs):
    """Run a built-in generator: returns (x, y, classes) in the plain on-disk orientation."""
    if name not in GENERATORS:
        raise DataError(f"unknown built-in dataset {quoted(name)}; valid: {', '.join(GENERATORS)}")
    func, classes = GENERATORS[name]
    check_builtin_options(f"{BUILTIN_PREFIX}{name}", name, kwargs)
    _check_generator_memory(f"{BUILTIN_PREFIX}{name}", name, kwargs)
    try:
        x, y = func(**kwargs)
    except TypeError as exc:
        raise DataError(f"built-in dataset {quoted(name)}: {exc}") from None
    return x, y, classes(**kwargs) if callable(classes) else classes


def _options(name: str) -> dict:
    """A generator's options and their defaults, from its signature."""
    return {k: p.default for k, p in inspect.signature(GENERATORS[name][0]).parameters.items()}


def check_builtin_options(source: str, name: str, kwargs: dict) -> None:
    """Each option of a built-in generator known and in range, and its arrays small enough to hold."""
    options = _options(name)
    for key, value in kwargs.items():
        if key not in options:
            raise DataError(f"{source}: unknown option {quoted(key)}; {name} takes {', '.join(options)}")
        default = options[key]
        if isinstance(default, int) and not isinstance(default, bool):
            low, high = OPTION_RANGES.get(key, (0, None))
            if not isinstance(value, int) or value < low or (high is not None and value > high):
                span = f"from {low} to {high}" if high is not None else f"of at least {low}"
                raise DataError(f"{source}: {key} must be a whole number {span} (got {quoted(value)})")
        elif isinstance(default, float):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise DataError(f"{source}: {key} must be a number of at least 0 (got {quoted(value)})")
    if "k" in options and kwargs.get("m", options["m"]) < kwargs.get("k", options["k"]):
        raise DataError(f"{source}: m={kwargs.get('m', options['m'])} examples cannot fill k={kwargs.get('k', options['k'])} classes; give m of at least k")


def _check_generator_memory(source: str, name: str, kwargs: dict) -> None:
    """A generator's arrays (x, y, its draws and the flattened copy, 8-byte floats) must fit in memory."""
    m = kwargs.get("m", _options(name).get("m"))
    if isinstance(m, int):
        need, free = 64 * m, memory.available_memory()
        if need > free:
            raise DataError(
                f"{source}: m={m:,} examples need about {memory.format_bytes(need)} of memory but only "
                f"{memory.format_bytes(free)} is available; use a smaller m"
            )


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def parse_builtin(source: str):
    """`builtin:NAME?key=value&...` as (NAME, {key: number}), every option checked."""
    spec = source[len(BUILTIN_PREFIX) :]
    name, sep, query = spec.partition("?")
    if name not in GENERATORS:
        raise DataError(f"{source}: unknown built-in dataset {quoted(name)}; valid: {', '.join(GENERATORS)}")
    kwargs = {}
    for item in query.split("&") if sep else []:
        key, eq, value = item.partition("=")
        if not eq or not key or not value:
            raise DataError(f"{source}: {quoted(item)} is not key=value; write the options as {BUILTIN_PREFIX}{name}?m=400&seed=1")
        if key in kwargs:
            raise DataError(f"{source}: {key} is given twice; keep one")
        kwargs[key] = _number(value)
    check_builtin_options(source, name, kwargs)
    return name, kwargs


def write_dataset(path, x, y, classes=None, force: bool = False) -> Path:
    """Write the plain layout (`x`, `y`, `classes`) atomically; an existing file only with `force`."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    path = prepare_output(path, force)
    with writing(path), atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=x)
        f.create_dataset("y", data=y)
        if classes:
            f.create_dataset("classes", data=np.array([c.encode() for c in classes]))
    return path


# ---------------------------------------------------------------- files in and out


def file_kind(st) -> str:
    """'a named pipe (FIFO)', 'a character device', ... for a stat result that is not a regular file."""
    mode = st.st_mode
    for test, kind in (
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return kind
    return "not a regular file"


def is_anonymous_pipe(path, st) -> bool:
    """A pipe that is already connected (/dev/stdin fed by `|`, or `<(...)`): reading it cannot block in open."""
    return stat.S_ISFIFO(st.st_mode) and "pipe:[" in os.path.realpath(path)


def regular_file(path, error, *, missing: str, unreadable: str, directory: str, other: str, name=None, pipe_ok: bool = False):
    """The stat of `path` if it is a regular file (or, with `pipe_ok`, an already connected pipe);
    else `error` with the matching message, before anything opens it: opening a FIFO or a device can
    block for ever. Messages are formats of {name} (default: the path), {reason} and {kind}."""
    name = path if name is None else name
    try:
        st = Path(path).stat()
    except FileNotFoundError:
        raise error(missing.format(name=name)) from None
    except OSError as exc:
        raise error(unreadable.format(name=name, reason=exc.strerror)) from None
    if stat.S_ISDIR(st.st_mode):
        raise error(directory.format(name=name, kind=file_kind(st)))
    if not stat.S_ISREG(st.st_mode) and not (pipe_ok and is_anonymous_pipe(path, st)):
        raise error(other.format(name=name, kind=file_kind(st)))
    return st


def check_data_file(path) -> Path:
    """`path` if it is a regular file; a DataError (not a hang) for a FIFO, a device or a folder."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet"):  # the path says what it should be: name that format
        want = "a table file (.csv, .tsv or .parquet)"
    elif suffix == ".mat":
        want = "a MATLAB data file (.mat)"
    else:
        want = "an HDF5 data file (.h5)"
    regular_file(
        path,
        DataError,
        missing="{name}: no such data file; check the path (relative paths are read from the config file's folder)",
        unreadable="{name}: cannot be read ({reason}); check the path and its permissions",
        directory="{name}: is a directory, not a data file; give " + want,
        other="{name}: is {kind}, not a regular file; give " + want,
    )
    return path


def run_file(path) -> str | None:
    """'a file of the run in FOLDER (its NAME)' when `path` names a file nnctl keeps in a run, sweep or lr-find
    folder (params.h5, metrics.json, an evaluation, the report, ...), else None. Whether it exists
    or not: a checkpoint.h5 written into a finished run would make it look interrupted."""

    path = Path(path)
    try:
        folder = path.parent.resolve()
    except (OSError, RuntimeError):
        return None
    if not any((folder / m).exists() for m in RUN_MARKERS):
        return None
    if path.name in RUN_FILES or any(fnmatch(path.name, p) for p in RUN_FILE_PATTERNS):
        return f"a file of the run in {folder} (its {path.name})"
    return None


def prepare_output(path, force: bool = False, option: str = "-o", suffix: str = ".h5") -> Path:
    """Check where a new file goes, before any work: not a folder, not a device, not a file of a run
    (even with `force`), not an existing file (unless `force`), its folder creatable. Every command
    that writes a file the user names (or one derived from a name) checks it here first."""
    path = Path(path)
    own = run_file(path)
    if own is not None:
        raise DataError(f"{path}: is {own}; nnctl never writes over a run's own files, not even with --force; choose another {option}")
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise DataError(f"{path}: cannot write here ({exc.strerror}); choose another {option}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise DataError(f"{path}: is a directory; give a file name for {option}, e.g. {path / ('data' + suffix)}")
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path}: is {file_kind(st)}, not a regular file; choose another {option}")
        if not force:
            raise DataError(f"{path}: already exists; pass --force to replace it, or choose another {option}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot create its folder {path.parent} ({exc.strerror}); choose another {option}") from None
    try:  # a real probe: root passes os.access everywhere, yet cannot write in /proc or on a read-only disk
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".probe")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(f"{path}: cannot write in {path.parent} ({exc.strerror}); choose another {option}") from None
    return path


class writing:
    """Turn an OSError while writing `path` into a DataError that names it (the temporary file is gone)."""

    def __init__(self, path, option: str = "-o"):
        self.path, self.option = Path(path), option

    def __enter__(self):
        return self

    def __exit__(self, kind, exc, tb):
        if kind is not None and issubclass(kind, OSError):
            reason = exc.strerror or str(exc)
            fix = "free some space or choose another" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "choose another"
            raise DataError(f"{self.path}: cannot be written ({reason}); {fix} {self.option}") from None
        return False


# ---------------------------------------------------------------- reading files


def describe_h5(f) -> str:
    """What an HDF5 file holds, for error messages: 'x (400, 2) float64, y (400,) uint8'."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    items = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            items.append(f"{name} {obj.shape} {obj.dtype}")

    f.visititems(visit)
    return ", ".join(items) if items else "nothing"


def find_layout(f, path, role="train"):
    """The (x, y, classes) keys; a file holding both splits gives `role`'s first."""
    keys = set(f.keys())
    prefixes = COURSE_PREFIXES if role == "train" else COURSE_PREFIXES[::-1]
    for prefix in prefixes:
        if f"{prefix}x" in keys and f"{prefix}y" in keys:
            return f"{prefix}x", f"{prefix}y", "list_classes" if "list_classes" in keys else None
    if "x" in keys and "y" in keys:
        return "x", "y", "classes" if "classes" in keys else None
    raise DataError(
        f"{path}: no known layout: expected 'train_set_x'/'train_set_y' or 'test_set_x'/"
        f"'test_set_y' (course) or 'x'/'y' (plain); the file holds: {describe_h5(f)}"
    )


def h5_array(f, key: str, path):
    """f[key] as an h5py Dataset; a DataError that says what `key` is instead (a group, a broken link)."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    link = f.get(key, getlink=True)
    try:
        obj = f[key]
    except (KeyError, OSError, ValueError):
        if isinstance(link, h5py.ExternalLink):
            raise DataError(
                f"{path}: '{key}' is an external link to '{link.path}' in {link.filename}, which cannot be opened "
                f"(that file or the array in it is missing); put {link.filename} back beside {Path(path).name}, "
                f"or write the array into {Path(path).name} itself"
            ) from None
        if isinstance(link, h5py.SoftLink):
            raise DataError(f"{path}: '{key}' is a link to '{link.path}', which does not exist in the file; write the array under '{key}'") from None
        raise DataError(f"{path}: '{key}' cannot be opened (the file is damaged); write or download it again") from None
    if not isinstance(obj, h5py.Dataset):
        raise DataError(f"{path}: '{key}' is a group (a folder of {len(obj)} items), not an array; store the data as one array under '{key}'")
    return obj


def check_fits(path, key: str, ds, *copies) -> None:
    """Refuse, before reading, an array that would not fit in memory: its size comes from the shape
    the file declares (a tiny file can declare terabytes), once as stored plus each copy's dtype."""
    count = math.prod(ds.shape)
    need = count * ds.dtype.itemsize + sum(count * np.dtype(c).itemsize for c in copies)
    free = memory.available_memory()
    if need > free:
        shape = "×".join(map(str, ds.shape))
        steps = " + ".join(
            [f"{memory.format_bytes(count * ds.dtype.itemsize)} of {ds.dtype} as stored"]
            + [f"{memory.format_bytes(count * np.dtype(c).itemsize)} as {np.dtype(c)}" for c in copies]
        )
        raise DataError(
            f"{path}: '{key}' declares {shape} values; reading it takes about {memory.format_bytes(need)} "
            f"({steps}) but only {memory.format_bytes(free)} of memory is available; use fewer examples or smaller pictures"
        )


def read_array(f, key: str, path, *copies) -> np.ndarray:
    """The whole array `key`, checked to be an array that fits in memory first."""
    ds = h5_array(f, key, path)
    check_fits(path, key, ds, *copies)
    try:
        return ds[()]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: the array '{key}' cannot be read ({reason}); the file is damaged, write it again") from None


def read_block(ds, start: int, stop: int, path, key: str) -> np.ndarray:
    """Rows start..stop-1 of an HDF5 array; a chunk that cannot be read (a damaged gzip chunk, a
    truncated file) is a DataError naming the array and the rows, never a traceback."""
    stop = min(stop, ds.shape[0])
    try:
        return np.asarray(ds[start:stop])
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: the array '{key}' cannot be read at rows {start} to {stop - 1} ({reason}); the file is damaged, write it again") from None


def decode_names(names) -> list:
    """Class names as text; bytes that are not UTF-8 are shown as \\xNN rather than failing."""
    return [n.decode("utf-8", "backslashreplace") if isinstance(n, bytes) else str(n) for n in np.asarray(names).ravel()]


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_identity(path) -> tuple:
    """What tells a file from a changed or replaced one without reading it: device, inode, size, mtime."""
    st = os.stat(path)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def check_unchanged(path, before: tuple, then: str = "keep it unchanged while nnctl reads it, and run again") -> None:
    """A DataError when `path` is no longer the file whose `file_identity` was `before` (truncated,
    grown, rewritten, replaced or removed while it was read): what was read is no one version of it."""
    try:
        now: tuple | None = file_identity(path)
    except OSError:
        now = None
    if now == before:
        return
    how = (
        "it was removed or cannot be read"
        if now is None
        else "it was truncated"
        if now[2] < before[2]
        else "it grew"
        if now[2] > before[2] and now[:2] == before[:2]
        else "it was rewritten or replaced"
    )
    raise DataError(f"{path}: the file changed while it was read ({how}); {then}")


def read_raw(source: str, role: str = "train", dtype=np.float64, normalize: str | None = None):
    """Read (x, y, classes, sha256) from a file or a `builtin:` source, one example per row.

    The memory check counts x as stored plus the copies flattening makes: X in `dtype`, and before
    it X in float64 where `normalize` (the method to come, see `load_dataset`) reads it so.
    """
    if source.startswith(BUILTIN_PREFIX):
        name, kwargs = parse_builtin(source)
        x, y, classes = generate(name, **kwargs)
        return x, y, classes, arrays_sha256(x, y)
    if source.startswith(ARRAY_PREFIX):
        raise DataError(
            f"{source}: arrays given to nnctl.fit in Python, which a run does not keep; "
            "call nnctl.fit(spec, X, y) again, or give the data as a file (data.train: FILE.h5)"
        )
    path = Path(source)
    try:
        before: tuple | None = file_identity(path)  # the file must stay one version while it is read and hashed
    except OSError:
        before = None  # reading it says why (no such file, a directory)
    if is_mat(path):
        x, y = read_mat(path, role)
        digest = file_sha256(path)
        if before is not None:
            check_unchanged(path, before)
        return x, y, [], digest
    f = open_h5(path)
    with f:
        x_key, y_key, classes_key = find_layout(f, path, role)
        stored = h5_array(f, x_key, path).dtype
        work = read_dtype({"x_dtype": str(stored), "scale": pixel_scale(stored)}, dtype, normalize) if normalize else np.dtype(dtype)
        x = read_array(f, x_key, path, *dict.fromkeys((work, np.dtype(dtype))))
        y = read_array(f, y_key, path)
        classes = decode_names(read_array(f, classes_key, path)) if classes_key else []
    digest = file_sha256(path)
    if before is not None:
        check_unchanged(path, before)
    return x, y, classes, digest


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAT_SIGNATURE = b"MATLAB 5.0 MAT-file"
MAT_LAYOUTS = {"train": (("X", "y"), ("x", "y")), "test": (("Xval", "yval"), ("X", "y"), ("x", "y"))}


def is_mat(path) -> bool:
    """A MATLAB 5 file (its 128-byte text header), whatever its name; a v7.3 .mat is HDF5 and read as such."""
    path = check_data_file(path)
    with open(path, "rb") as fh:
        return fh.read(len(MAT_SIGNATURE)) == MAT_SIGNATURE


def read_mat(path, role: str = "train"):
    """(x, y) from a MATLAB 5 file: X/y for training, Xval/yval for test (X/y where it has no Xval)."""
    import scipy.io  # start-up: ~0.25 s, and only MATLAB files need it

    try:
        arrays = scipy.io.loadmat(str(path))
    except (ValueError, TypeError, OSError, NotImplementedError, MemoryError, EOFError, IndexError, zlib.error) as exc:
        # zlib.error: a damaged compressed variable (save -v7 compresses)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: cannot be read as a MATLAB file ({reason}); save it again (MATLAB: save -v7)") from None
    for x_key, y_key in MAT_LAYOUTS[role]:
        if x_key in arrays and y_key in arrays:
            x, y = _mat_array(path, x_key, arrays[x_key]), _mat_array(path, y_key, arrays[y_key])
            if x.ndim == 1:
                x = x.reshape(-1, 1)
            if x.ndim != 2:
                raise DataError(
                    f"{path}: {x_key}: {x.ndim}-D, shape {x.shape}; {x_key} must be 2-D, examples × features: "
                    f"reshape it to one example per row (MATLAB: {x_key} = reshape({x_key}, size({x_key}, 1), []); save -v7)"
                )
            if x.shape[0] == 0 or x.shape[1] == 0:
                what = "no examples" if x.shape[0] == 0 else "no features"
                raise DataError(f"{path}: {x_key}: {x.shape}, {what}; expected a matrix of one example per row")
            if y.size != x.shape[0]:
                raise DataError(f"{path}: {y_key}: {y.size} labels for the {x.shape[0]} rows of {x_key}; expected one label per row")
            return x, y
    held = ", ".join(f"{k} {np.shape(v)}" for k, v in arrays.items() if not k.startswith("__")) or "nothing"
    raise DataError(f"{path}: no known MATLAB layout: expected 'X'/'y' (training) and optionally 'Xval'/'yval' (test); the file holds: {held}")


def _mat_array(path, key: str, value) -> np.ndarray:
    """A variable of a MATLAB file as a dense array of numbers, or a DataError naming it."""
    import scipy.sparse  # start-up: ~0.25 s, and only MATLAB files need it

    if scipy.sparse.issparse(value):
        raise DataError(f"{path}: {key}: a sparse matrix; save it as a full one (MATLAB: {key} = full({key}); save -v7)")
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "iufb":
        what = f"a {value.dtype} array" if isinstance(value, np.ndarray) else type(value).__name__
        what = {"O": "a cell array or struct", "U": "text", "S": "text", "V": "a struct"}.get(getattr(value, "dtype", np.dtype("O")).kind, what)
        raise DataError(f"{path}: {key}: {what}, not numbers; save {key} as a numeric matrix")
    return value


def open_h5(path):
    """h5py.File for reading, or a DataError that tells a damaged HDF5 file from another kind."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    path = check_data_file(path)  # a FIFO or a device would block in open, deaf to Ctrl-C
    try:
        return h5py.File(path, "r")
    except OSError:
        try:
            with open(path, "rb") as fh:
                head = fh.read(8)
        except OSError as exc:
            raise DataError(f"{path}: cannot be read ({exc.strerror}); check the file's permissions") from None
        if head == HDF5_SIGNATURE:
            raise DataError(f"{path}: damaged HDF5 file (truncated or partly written); write or download it again") from None
        raise DataError(f"{path}: not an HDF5 file; give a .h5 file in the course or plain layout") from None


def arrays_sha256(x, y) -> str:
    """The SHA-256 of examples held in memory (a built-in generator's, arrays given in Python)."""
    return hashlib.sha256(np.ascontiguousarray(x).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()


def load_dataset(
    source: str, task: str = "classification", role: str = "train", dtype=np.float64, max_classes: int | None = 2, normalize: str | None = None
) -> Dataset:
    """Load a dataset as X (n_x, m) scaled to [0, 1] for integer pixels, and Y (1, m) the labels.

    `task` is "classification" (labels 0 or 1; with `max_classes` None, the class numbers
    0, 1, ..., k-1, below the class list's length if the file has one) or "regression" (any
    finite value). `role` ("train" or "test") picks the split of a file that holds both; X comes in `dtype`,
    or, where `normalize` names the normalisation still to come (data.normalize, a run's method), in
    `read_dtype` for it (float64 for numeric inputs of a float32 run): `Normalization.finish` then
    normalises X and casts it to `dtype`.
    """
    x, y, classes, digest = read_raw(source, role, dtype, normalize)
    return dataset_from_arrays(source, x, y, classes, digest, task, dtype, max_classes, normalize)


def dataset_from_arrays(
    source: str,
    x,
    y,
    classes=(),
    digest: str = "",
    task: str = "classification",
    dtype=np.float64,
    max_classes: int | None = 2,
    normalize: str | None = None,
) -> Dataset:
    """A Dataset from examples one per row, x (m, ...) and y (m,) as a file stores them (or as
    nnctl.fit is given them), checked as `load_dataset` checks a file's: X (n_x, m), Y (1, m), X in
    `dtype` or, with `normalize`, in `read_dtype` (as `load_dataset` says)."""
    classes = list(classes)
    y, preprocessing = check_examples(source, x, y, task, lambda: np.isfinite(x).all(), classes, max_classes)
    X = flatten(x, preprocessing, read_dtype(preprocessing, dtype, normalize) if normalize else dtype)
    m = x.shape[0]
    return Dataset(X=X, Y=y.reshape(1, m), classes=classes, preprocessing=preprocessing, source=str(source), sha256=digest)


def check_examples(source, x, y, task: str, x_finite, classes=(), max_classes: int | None = 2):
    """(y as a vector, preprocessing): x (an array, or an h5py Dataset not yet read: only its shape
    and dtype are used) and y checked against each other and the task; `x_finite()` is asked only
    for floating x (a streamed file's answer reads it in blocks). Labels as `load_dataset` says."""
    if x.ndim < 1 or x.shape[0] == 0:
        raise DataError(f"{source}: holds zero examples (x has shape {x.shape}); a dataset needs at least one")
    if 0 in x.shape[1:]:
        raise DataError(f"{source}: x has shape {x.shape}: its examples have no features; store at least one value per example, shape ({x.shape[0]}, n)")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.dtype.kind == "c":
        raise DataError(f"{source}: x has dtype {x.dtype}; expected numbers (uint8 pixels or floats)")
    m = x.shape[0]
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != m:
        raise DataError(f"{source}: x holds {m} examples but y has shape {y.shape}; y needs one label per example, shape ({m},)")
    if (not np.issubdtype(y.dtype, np.number) and y.dtype != bool) or y.dtype.kind == "c":
        raise DataError(f"{source}: y has dtype {y.dtype}; expected numeric labels")
    if np.issubdtype(x.dtype, np.floating) and not x_finite():
        raise DataError(f"{source}: x holds NaN or infinite values; clean the data first")
    if not np.isfinite(y.astype(np.float64)).all():
        raise DataError(f"{source}: y holds NaN or infinite values; clean the data first")
    if task == "regression":
        big = too_large_targets(y)
        if big.size:
            raise DataError(f"{source}: y: example {int(big[0])}: {target_size_problem(float(y[big[0]]))}")
    if task == "classification" and max_classes is None:
        check_class_labels(source, y, classes)
    elif task == "classification":
        bad = np.setdiff1d(np.unique(y), [0, 1])
        if bad.size:
            raise DataError(
                f"{source}: labels {bad[:5].tolist()} are outside the task: a sigmoid output needs labels 0 or 1 (for regression use a linear output)"
            )
    input_shape = list(x.shape[1:]) or [1]  # x (m,): one feature per example, as x (m, 1)
    scale = pixel_scale(x.dtype)
    preprocessing = {
        "flatten": "example-per-column",
        "input_shape": input_shape,
        "x_dtype": str(x.dtype),
        "scale": scale,
    }
    return y, preprocessing


# A regression's targets must keep their squared errors (the cost, RMSE) finite in float64, summed
# over up to 2**40 examples: |y| at most sqrt(float64's largest) / 2**20, about 1.3e148
TARGET_LIMIT = math.sqrt(np.finfo(np.float64).max) / 2.0**20


def too_large_targets(y) -> np.ndarray:
    """Indices of the regression targets in y (a vector) beyond ±TARGET_LIMIT."""
    with np.errstate(all="ignore"):
        return np.flatnonzero(~(np.abs(np.asarray(y, dtype=np.float64)) <= TARGET_LIMIT))


def target_size_problem(value: float) -> str:
    """Why a regression target is refused, and the fix (for `<where>: <this>`)."""
    return (
        f"{value:g} is too large for a regression target: beyond ±{TARGET_LIMIT:.3g} its squared error overflows "
        "float64 (training's cost, evaluation's RMSE); correct or remove that value, or rescale the target"
    )


FEW_CLASSES = 1000  # labels up to this many classes are class numbers even in a file of fewer examples ...
MAX_CLASSES = 100_000  # ... and beyond this many, never (without a class list naming them)


def check_class_labels(source, y, classes) -> None:
    """Labels are class numbers 0, 1, ..., each below the length of the class list if there is one."""
    values = np.unique(y)
    bad = values[(values < 0) | (values != np.floor(values))]
    if bad.size:
        raise DataError(f"{source}: labels {bad[:5].tolist()} are not class numbers: classes are numbered 0, 1, 2, ... (for regression use a linear output)")
    top = float(values[-1]) + 1 if values.size else 0
    if not classes and top > min(max(y.size, FEW_CLASSES), MAX_CLASSES):
        # k = the largest label + 1 one-hot rows per example: refused before anything that size is made
        raise DataError(
            f"{source}: y: labels up to {values[-1]:.12g} would make {top:.12g} classes for {y.size} examples, so they are "
            "not class numbers (0, 1, 2, ...); if y holds values to predict, train a regression: model.task: regression "
            "(a linear output, model.output_activation: linear)"
        )
    if classes and values.size and values[-1] >= len(classes):
        beyond = values[values >= len(classes)]
        raise DataError(
            f"{source}: labels {beyond[:5].tolist()} have no class: the file's class list names {len(classes)} "
            f"({', '.join(classes[:5])}{', ...' if len(classes) > 5 else ''}), labels 0 to {len(classes) - 1}; "
            "add the missing names to the class list"
        )


def pixel_scale(dtype) -> float:
    """255 for uint8 (pixels, divided as the course does); 1 for everything else.

    Other integers (counts, ids, int64 columns) are features like floats, used as they are:
    dividing them by their dtype's maximum (2**63 - 1 for int64) would squash them to zero.
    """
    return 255.0 if np.dtype(dtype) == np.uint8 else 1.0


def flatten(x, preprocessing, dtype=np.float64):
    """(m, ...) on disk -> X (n_x, m) scaled the recorded way: the course's reshape(m, -1).T / 255."""
    m = x.shape[0]
    X = x.reshape(m, -1).T.astype(dtype)
    if preprocessing["scale"] != 1.0:
        X /= preprocessing["scale"]
    return X


def read_dtype(preprocessing: dict, dtype, method: str | None = "standardize") -> np.dtype:
    """The dtype inputs are flattened into before `method` (none, standardize, auto) normalises them,
    for a run in `dtype`; `Normalization.finish` then casts the result to `dtype`.

    float64 for numeric inputs: normalisation statistics are fitted and applied in float64 and only
    the result is cast (in float32 a timestamp column of 1.7e9 ± 1e5 would first be rounded to
    float32's spacing there, 128, and lose most of its variation). The run's dtype for uint8 pixels
    (preprocessing scale 255: exact in any float, and kept cheap), and where nothing is normalised
    and casting straight gives the same numbers (method none; not for 8-byte integers, which
    float32 would round twice)."""
    dtype = np.dtype(dtype)
    if dtype == np.float64 or preprocessing["scale"] != 1.0:
        return dtype
    stored = np.dtype(preprocessing.get("x_dtype", "float64"))
    if method == "none" and not (stored.kind in "iu" and stored.itemsize > 4):
        return dtype
    return np.dtype(np.float64)


def prepared(x, preprocessing, dtype, norm: Normalization | None) -> np.ndarray:
    """X (n_x, m) in `dtype` for raw examples x (m, ...) as training saw them: flattened, scaled and
    normalised (`norm`, None for none), in float64 for numeric inputs and cast after (`read_dtype`)."""
    norm = norm if norm is not None else Normalization()
    return norm.finish(flatten(x, preprocessing, read_dtype(preprocessing, dtype, norm.method)), dtype)


def split_indices(m: int, fraction: float, seed: int, labels=None) -> tuple:
    """(kept, held) sorted indices of m examples: `fraction` held out, drawn from a generator seeded
    from `seed` (its own stream), per class of `labels` when given (each class keeps its share)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3,)))
    groups = [np.flatnonzero(labels == c) for c in np.unique(labels)] if labels is not None else [np.arange(m)]
    held = np.sort(np.concatenate([rng.permutation(g)[: int(round(fraction * g.size))] for g in groups]))
    return np.setdiff1d(np.arange(m), held), held


PART_SUFFIX = re.compile(r" \((training|validation) part(, \d+ of \d+)?\)$")  # what split_validation and a table's split add to a source


def source_path(source: str) -> str:
    """The file a dataset's `source` names, without the part a validation split adds ('a.csv (training
    part, 30 of 40)' is a.csv): reproduce.json records the training part's source."""
    return PART_SUFFIX.sub("", str(source))


def split_validation(data: Dataset, fraction: float, seed: int, stratified: bool = True) -> tuple:
    """(train, validation): `fraction` of the examples held out, drawn from a generator seeded from
    `seed` (its own stream), per class when `stratified` (each class keeps its share); both keep
    the stored order."""
    keep, held = split_indices(data.m, fraction, seed, data.Y.ravel() if stratified else None)
    if held.size == 0 or keep.size == 0:
        raise DataError(
            f"{data.source}: data.validation: {fraction:g} of its {data.m} examples leaves "
            f"{'no validation' if held.size == 0 else 'no training'} examples; use a fraction between "
            f"{1 / data.m:.3g} and {1 - 1 / data.m:.3g}, or give a validation file"
        )

    def part(idx, label):
        return Dataset(
            X=np.ascontiguousarray(data.X[:, idx]),
            Y=data.Y[:, idx],
            classes=data.classes,
            preprocessing=data.preprocessing,
            source=f"{data.source} ({label})",
            sha256=data.sha256,
        )

    return part(keep, f"training part, {keep.size} of {data.m}"), part(held, f"validation part, {held.size} of {data.m}")


# ---------------------------------------------------------------- normalising inputs

NORMALIZE = ("auto", "none", "standardize")
UNIT_STD = (0.1, 10.0)  # auto leaves features alone whose spreads are all within this range ...
UNIT_MEAN = 10.0  # ... and whose means are within +-this


@dataclass
class Normalization:
    """What was done to the inputs: `method` none or standardize, and for standardize the training
    set's per-feature mean and standard deviation (n_x, 1); a constant feature's std is taken as 1."""

    method: str = "none"
    reason: str = ""
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def apply(self, X) -> np.ndarray:
        """X (n_x, m) standardised in place: (X - mean) / std, in X's dtype."""
        if self.method == "standardize":
            assert self.mean is not None and self.std is not None  # standardize: the training set's statistics
            X -= self.mean.astype(X.dtype, copy=False)
            X /= self.std.astype(X.dtype, copy=False)
        return X

    def finish(self, X, dtype):
        """X (n_x, m) as flattened for normalising (in `read_dtype`: float64 for numeric inputs, the
        run's dtype for pixels) normalised in place, then cast to `dtype`, the array a run uses: the
        float64 copy lives only until the cast. A streamed X (nnctl.data.stream.StreamedX) is
        given the normalisation, which it applies to each block it reads in the same way."""
        if not isinstance(X, np.ndarray):
            X.norm = self
            return X
        return self.apply(X).astype(dtype, copy=False)

    def describe(self) -> dict:
        """For metrics.json and `config show`."""
        out: dict[str, str | int] = {"method": self.method, "reason": self.reason}
        if self.method == "standardize":
            assert self.mean is not None  # standardize: the training set's statistics
            out["features"] = int(self.mean.shape[0])
        return out

    def arrays(self) -> dict:
        return {"normalize/mean": self.mean, "normalize/std": self.std} if self.method == "standardize" else {}


def feature_statistics(X, source: str = "the training data") -> tuple:
    """Per-feature mean and standard deviation (n_x, 1) of X (n_x, m) in float64, without overflow.

    Each feature is first divided by its largest |x| (so values of 1e300 are squared as numbers of
    order one), and the statistics scaled back. Data whose statistics are still not finite (a
    value of inf or nan, or a spread beyond float64's range) is refused (DataError naming `source`)."""
    X64 = np.asarray(X, dtype=np.float64)
    with np.errstate(all="ignore"):
        scale = np.max(np.abs(X64), axis=1, keepdims=True) if X64.shape[1] else np.ones((X64.shape[0], 1))
        finite = np.isfinite(scale[:, 0])
        scale = np.where(finite[:, None] & (scale > 0), scale, 1.0)
        unit = X64 / scale
        mean_u = unit.mean(axis=1, keepdims=True)
        std_u = unit.std(axis=1, keepdims=True)
        mean, std = mean_u * scale, std_u * scale
    bad = ~(finite & np.isfinite(mean[:, 0]) & np.isfinite(std[:, 0]))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        what = (
            "holds values that are not finite (inf or nan)"
            if not finite[i] or not np.isfinite(mean_u[i, 0])
            else "spreads beyond float64's range, so its standard deviation is not finite"
        )
        raise DataError(
            f"{source}: feature {i} {what} ({int(bad.sum())} of {bad.size} features); "
            "rescale the inputs (e.g. divide by their largest |x|) and replace non-finite values before training"
        )
    return mean, std


def fit_normalization(requested: str, X, x_dtype: str, source: str = "the training data") -> Normalization:
    """The normalisation the training inputs X (n_x, m) get, from the training set alone.

    none: as stored (uint8 pixels are always divided by 255, the course's scaling); standardize: per
    feature, (x - mean) / std with the training set's mean and std (float64); auto: none for uint8
    pixels and for features already of order one (every non-constant feature's std within
    [0.1, 10] and every feature's |mean| <= 10, a constant one's value included: the course's 2-D
    data sets stay exactly as the course used them), standardize otherwise. Standardised, a
    constant feature is centred to 0 (its std, 0, taken as 1).
    """
    if requested == "none":
        return Normalization("none", "data.normalize: none")
    if requested == "auto" and np.dtype(x_dtype) == np.uint8:
        return Normalization("none", "auto: uint8 pixels, divided by 255")
    mean, std = feature_statistics(X, source)
    varying = std[:, 0] > 0
    if requested == "auto":
        # a constant feature has std 0, but its value is an input like any other: 1e6 is not of order one
        s, mu, constant = std[varying, 0], np.abs(mean[:, 0]), int((~varying).sum())
        if (s.size == 0 or (s.min() >= UNIT_STD[0] and s.max() <= UNIT_STD[1])) and (mu.size == 0 or mu.max() <= UNIT_MEAN):
            if not constant:
                return Normalization("none", "auto: every feature already of order one (std within [0.1, 10], |mean| <= 10)")
            others = "; the others' std within [0.1, 10], |mean| <= 10" if s.size else ""
            return Normalization("none", f"auto: every feature already of order one ({_features(constant)} constant, |value| <= 10{others})")
        spread = f"feature std from {s.min():.3g} to {s.max():.3g}, " if s.size else "every feature constant, "
        centred = f"; {_features(constant)} constant, centred to 0" if constant else ""
        reason = f"auto: {spread}|mean| up to {mu.max():.3g}; standardised{centred}"
    else:
        reason = "data.normalize: standardize"
    std[~varying] = 1.0  # a constant feature becomes 0, not NaN
    return Normalization("standardize", reason, mean, std)


def _features(k: int) -> str:
    return f"{k} feature" if k == 1 else f"{k} features"


def normalization_from_arrays(method: str, arrays: dict) -> Normalization:
    """The normalisation stored with a run's parameters (params.h5, checkpoint.h5)."""
    if method != "standardize":
        return Normalization(method)
    return Normalization("standardize", "", np.asarray(arrays["normalize/mean"], np.float64), np.asarray(arrays["normalize/std"], np.float64))


# ---------------------------------------------------------------- a regression's target

NORMALIZE_TARGET = ("auto", "none", "standardize")
# outputs that take every real value: a standardised target (mean 0, std 1, negative half the time) fits them
UNBOUNDED_OUTPUTS = ("linear", "leaky_relu")
OUTPUT_RANGES = {"relu": "values >= 0", "tanh": "values in (-1, 1)", "sigmoid": "values in (0, 1)", "softmax": "probabilities"}


@dataclass
class TargetScaling:
    """What was done to a regression's targets for training: `method` none or standardize, and for
    standardize the training rows' mean and standard deviation per output (n_y, 1), float64 (a
    constant target's std is taken as 1). The network learns z = (y - mean) / std; every
    prediction that leaves it is turned back, a std + mean (`invert`)."""

    method: str = "none"
    reason: str = ""
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @property
    def active(self) -> bool:
        return self.method == "standardize"

    def apply(self, Y, dtype) -> np.ndarray:
        """Y (n_y, m) as training sees it, a new array in `dtype`: (Y - mean) / std, computed in float64."""
        assert self.mean is not None and self.std is not None  # standardize: fitted before use
        return ((np.asarray(Y, np.float64) - self.mean) / self.std).astype(dtype)

    def invert(self, A) -> np.ndarray:
        """The network's outputs A[L] (n_y, m) in the target's own units: A std + mean in float64
        (A itself, untouched, where the target was not scaled)."""
        if not self.active:
            return A
        assert self.mean is not None and self.std is not None  # standardize: fitted before use
        return np.asarray(A, np.float64) * self.std + self.mean

    def describe(self) -> dict:
        """For metrics.json and `config show`."""
        out = {"method": self.method, "reason": self.reason}
        if self.active and self.mean is not None and self.std is not None:
            out.update(mean=self.mean.ravel().tolist(), std=self.std.ravel().tolist())
        return out

    def arrays(self) -> dict:
        """What params.h5 and checkpoint.h5 store beside the parameters."""
        return {"normalize_target/mean": self.mean, "normalize_target/std": self.std} if self.active else {}

    def preprocessing(self) -> dict:
        """params.h5's preprocessing entry: present only where the target was scaled (older runs have none)."""
        return {"normalize_target": self.method} if self.active else {}


def fit_target_scaling(requested: str, task: str, output: str, Y, source: str = "the training data") -> TargetScaling:
    """How a regression's targets Y (n_y, m) are scaled for training, from the training rows alone.

    standardize: per output, (y - mean) / std with the training rows' mean and std (float64; a
    constant target's std is 1); auto: standardize for a regression whose output takes every real
    value (linear, leaky_relu), none otherwise (a classifier's labels are classes; a bounded output
    keeps the range its targets were chosen for); none: the targets as given (as every run before this key had them).
    `standardize` where it cannot apply is refused (ConfigError naming the key)."""
    if task != "regression":
        if requested == "standardize":
            raise ConfigError(
                f"{source}: data.normalize_target: standardize scales a regression's target values, and this data trains a "
                "classifier (its labels are classes); use normalize_target: auto or none"
            )
        return TargetScaling("none", "auto: a classifier's labels are classes" if requested == "auto" else "data.normalize_target: none")
    if requested == "none":
        return TargetScaling("none", "data.normalize_target: none")
    if output not in UNBOUNDED_OUTPUTS:
        if requested == "standardize":
            raise ConfigError(
                f"{source}: data.normalize_target: standardize makes targets of mean 0 and std 1, which a {output} output cannot "
                f"reach ({OUTPUT_RANGES.get(output, 'a bounded range')}); use output_activation: linear, or normalize_target: none"
            )
        return TargetScaling("none", f"auto: a {output} output ({OUTPUT_RANGES.get(output, 'a bounded range')}), so the targets keep their range")
    try:
        mean, std = feature_statistics(Y, source)
    except DataError:
        raise DataError(
            f"{source}: the target values spread beyond float64's range, so their standard deviation is not finite; "
            "rescale them (e.g. divide by their largest |y|), or use data.normalize_target: none"
        ) from None
    std[std == 0] = 1.0  # a constant target becomes 0, not NaN
    said = ", ".join(f"mean {mu:.6g}, std {s:.6g}" for mu, s in zip(mean[:, 0], std[:, 0]))
    reason = f"{'auto' if requested == 'auto' else 'data.normalize_target: standardize'}: {said}, from the training rows"
    return TargetScaling("standardize", reason, mean, std)


CONSTANT_TARGET = "the target is constant"  # the note's words (nnctl.fit and the estimators warn with it)


def constant_target_note(Y, source: str, standardised: bool) -> str | None:
    """A note where a regression's training targets Y (n_y, m) hold one value (per output): the
    network can learn nothing from X but that value; standardising takes its std, 0, as 1."""
    Y = np.asarray(Y)
    if Y.size == 0 or not (Y.min(axis=1) == Y.max(axis=1)).any():
        return None
    value = float(Y[np.flatnonzero(Y.min(axis=1) == Y.max(axis=1))[0], 0])
    scaled = " (standardised with std 1 in place of its std, 0)" if standardised else ""
    return (
        f"{source}: {CONSTANT_TARGET}: every training row has y = {value:g}{scaled}, so there is nothing to learn "
        "from X and every prediction is about that value; check the target column (or the rows chosen)"
    )


def target_scaling_from_arrays(method: str, arrays: dict) -> TargetScaling:
    """The target scaling stored with a run's parameters (params.h5, checkpoint.h5)."""
    if method != "standardize":
        return TargetScaling("none")
    return TargetScaling("standardize", "", np.asarray(arrays["normalize_target/mean"], np.float64), np.asarray(arrays["normalize_target/std"], np.float64))


def peek_n_x(source: str) -> int | None:
    """The input size of a data source without loading it (None where it cannot be read).

    A FIFO or a device is refused (DataError), not opened: opening one would block."""
    if not source.startswith(BUILTIN_PREFIX) and os.path.exists(source) and not os.path.isdir(source):
        check_data_file(source)
    try:
        if source.startswith(BUILTIN_PREFIX) or is_mat(source):
            return int(np.prod(read_raw(source)[0].shape[1:]))
        with open_h5(source) as f:
            x_key, _, _ = find_layout(f, source)
            return int(np.prod(h5_array(f, x_key, source).shape[1:]))
    except (DataError, OSError):
        return None


def peek_classes(source: str) -> int:
    """k, the classes of a data source (its class list's length, else the largest label + 1, at
    least 2), read without X; 2 where it cannot be read or holds no whole-number labels."""
    try:
        if source.startswith(BUILTIN_PREFIX):
            _, y, classes, _ = read_raw(source)
        else:
            with open_h5(source) as f:
                _, y_key, classes_key = find_layout(f, source)
                y = read_array(f, y_key, source)
                classes = decode_names(read_array(f, classes_key, source)) if classes_key else []
        y = np.asarray(y).ravel()
        whole = y.size and np.issubdtype(y.dtype, np.number) and np.all(np.isfinite(y)) and np.all(y == np.floor(y)) and y.min() >= 0
        top = int(y.max()) + 1 if whole else 0
        return max(len(classes), top if top <= min(max(y.size, FEW_CLASSES), MAX_CLASSES) else 0, 2)
    except (DataError, OSError, ValueError, TypeError):
        return 2
