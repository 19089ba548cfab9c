"""Datasets: HDF5 layouts, flattening and scaling, and the built-in generators.

Two layouts are read. The course's: `train_set_x` (m, 64, 64, 3) uint8, `train_set_y` (m,),
`list_classes` (or `test_set_*`). The plain one: `x` (m, ...) and `y` (m,), optional `classes`.
Both keep one example per row on disk, as the course's files do; loading flattens them the
course's way into X (n_x, m), one example per column.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from nnctl.atomic import atomic_path
from nnctl.errors import DataError

BUILTIN_PREFIX = "builtin:"
COURSE_PREFIXES = ("train_set_", "test_set_")


@dataclass
class Dataset:
    X: np.ndarray  # (n_x, m)
    Y: np.ndarray  # (1, m)
    classes: list = field(default_factory=list)
    preprocessing: dict = field(default_factory=dict)
    source: str = ""
    sha256: str = ""

    @property
    def m(self) -> int:
        return self.X.shape[1]

    @property
    def n_x(self) -> int:
        return self.X.shape[0]


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
    y = np.hstack([np.zeros(n_out, dtype=np.uint8), np.ones(n_in, dtype=np.uint8)])
    order = np.arange(m)
    rs.shuffle(order)
    x, y = x[order], y[order]
    if noise:
        x += rs.normal(scale=noise, size=x.shape)
    return x, y


def make_circles(m: int = 400, seed: int = 1, noise: float = 0.1, factor: float = 0.5):
    """A ring around a disc, like the course's extra 'noisy_circles' dataset."""
    rs = np.random.RandomState(seed)
    n_out = m // 2
    n_in = m - n_out
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n_in, endpoint=False)
    x = np.r_[np.c_[np.cos(t_out), np.sin(t_out)], factor * np.c_[np.cos(t_in), np.sin(t_in)]]
    x += rs.randn(m, 2) * noise
    y = np.r_[np.zeros(n_out, dtype=np.uint8), np.ones(n_in, dtype=np.uint8)]
    return x, y


GENERATORS = {
    "planar": (make_planar, ["red", "blue"]),
    "moons": (make_moons, ["upper", "lower"]),
    "circles": (make_circles, ["outer", "inner"]),
}


def generate(name: str, **kwargs):
    """Run a built-in generator: returns (x, y, classes) in the plain on-disk orientation."""
    if name not in GENERATORS:
        raise DataError(f"unknown built-in dataset {name!r}; valid: {', '.join(GENERATORS)}")
    func, classes = GENERATORS[name]
    try:
        x, y = func(**kwargs)
    except TypeError as exc:
        raise DataError(f"built-in dataset {name!r}: {exc}") from None
    return x, y, classes


def _parse_builtin(source: str):
    spec = source[len(BUILTIN_PREFIX):]
    name, _, query = spec.partition("?")
    kwargs = {}
    for key, value in parse_qsl(query, strict_parsing=bool(query)):
        try:
            kwargs[key] = int(value)
        except ValueError:
            try:
                kwargs[key] = float(value)
            except ValueError:
                raise DataError(f"{source}: {key}={value!r} is not a number") from None
    return name, kwargs


def write_dataset(path, x, y, classes=None) -> Path:
    """Write the plain layout (`x`, `y`, `classes`) atomically."""
    import h5py

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("x", data=x)
        f.create_dataset("y", data=y)
        if classes:
            f.create_dataset("classes", data=np.array([c.encode() for c in classes]))
    return path


# ---------------------------------------------------------------- reading files


def describe_h5(f) -> str:
    """What an HDF5 file holds, for error messages: 'x (400, 2) float64, y (400,) uint8'."""
    import h5py

    items = []

    def visit(name, obj):
        if isinstance(obj, h5py.Dataset):
            items.append(f"{name} {obj.shape} {obj.dtype}")

    f.visititems(visit)
    return ", ".join(items) if items else "nothing"


def _find_layout(f, path, role="train"):
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


def _decode(names) -> list:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in np.asarray(names).ravel()]


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_raw(source: str, role: str = "train"):
    """Read (x, y, classes, sha256) from a file or a `builtin:` source, one example per row."""
    if source.startswith(BUILTIN_PREFIX):
        name, kwargs = _parse_builtin(source)
        x, y, classes = generate(name, **kwargs)
        digest = hashlib.sha256(np.ascontiguousarray(x).tobytes() + y.tobytes()).hexdigest()
        return x, y, classes, digest
    path = Path(source)
    if not path.exists():
        raise DataError(f"{path}: no such data file; check the path (relative paths are read from the config file's folder)")
    if path.is_dir():
        raise DataError(f"{path}: is a directory, not an HDF5 data file")
    f = open_h5(path)
    with f:
        x_key, y_key, classes_key = _find_layout(f, path, role)
        try:
            x, y = f[x_key][()], f[y_key][()]
            classes = _decode(f[classes_key][()]) if classes_key else []
        except (OSError, KeyError, ValueError):
            raise DataError(f"{path}: the file is damaged (its arrays cannot be read); write it again") from None
    return x, y, classes, file_sha256(path)


HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_h5(path):
    """h5py.File for reading, or a DataError that tells a damaged HDF5 file from another kind."""
    import h5py

    try:
        return h5py.File(path, "r")
    except OSError:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if head == HDF5_SIGNATURE:
            raise DataError(f"{path}: damaged HDF5 file (truncated or partly written); write or download it again") from None
        raise DataError(f"{path}: not an HDF5 file; give a .h5 file in the course or plain layout") from None


def load_dataset(source: str, task: str = "classification", role: str = "train", dtype=np.float64) -> Dataset:
    """Load a dataset as X (n_x, m) scaled to [0, 1] for integer pixels, and Y (1, m).

    `task` is "classification" (labels must be 0 or 1) or "regression" (any finite value).
    `role` ("train" or "test") picks the split of a file that holds both; X comes in `dtype`.
    """
    x, y, classes, digest = read_raw(source, role)
    if x.ndim < 1 or x.shape[0] == 0:
        raise DataError(f"{source}: holds zero examples (x has shape {x.shape}); a dataset needs at least one")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise DataError(f"{source}: x has dtype {x.dtype}; expected numbers (uint8 pixels or floats)")
    m = x.shape[0]
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if y.ndim != 1 or y.shape[0] != m:
        raise DataError(
            f"{source}: x holds {m} examples but y has shape {y.shape}; "
            f"y needs one label per example, shape ({m},)"
        )
    if not np.issubdtype(y.dtype, np.number) and y.dtype != bool:
        raise DataError(f"{source}: y has dtype {y.dtype}; expected numeric labels")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{source}: x holds NaN or infinite values; clean the data first")
    if not np.isfinite(y.astype(np.float64)).all():
        raise DataError(f"{source}: y holds NaN or infinite values; clean the data first")
    if task == "classification":
        bad = np.setdiff1d(np.unique(y), [0, 1])
        if bad.size:
            raise DataError(
                f"{source}: labels {bad[:5].tolist()} are outside the task: a sigmoid output "
                f"needs labels 0 or 1 (for regression use a linear output)"
            )
    input_shape = list(x.shape[1:])
    if np.issubdtype(x.dtype, np.integer):
        scale = float(np.iinfo(x.dtype).max)  # 255 for uint8 pixels, as the course divides by 255
    else:
        scale = 1.0
    preprocessing = {
        "flatten": "example-per-column",
        "input_shape": input_shape,
        "x_dtype": str(x.dtype),
        "scale": scale,
    }
    X = flatten(x, preprocessing, dtype)
    return Dataset(X=X, Y=y.reshape(1, m), classes=classes, preprocessing=preprocessing, source=str(source), sha256=digest)


def flatten(x, preprocessing, dtype=np.float64):
    """(m, ...) on disk -> X (n_x, m) scaled the recorded way: the course's reshape(m, -1).T / 255."""
    m = x.shape[0]
    X = x.reshape(m, -1).T.astype(dtype)
    if preprocessing["scale"] != 1.0:
        X /= preprocessing["scale"]
    return X


def peek_n_x(source: str) -> int | None:
    """The input size of a data source without loading it (None where it cannot be read)."""
    try:
        if source.startswith(BUILTIN_PREFIX):
            return int(np.prod(read_raw(source)[0].shape[1:]))
        with open_h5(source) as f:
            x_key, _, _ = _find_layout(f, source)
            return int(np.prod(f[x_key].shape[1:]))
    except (DataError, OSError):
        return None
