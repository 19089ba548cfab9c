"""The run directory: created once, written atomically, read back by predict and evaluate.

runs/<YYYYmmdd-HHMMSS>-<name>/
    spec.yaml             the spec as given (bytes of the config file)
    config.resolved.yaml  every choice explicit; `nnctl train` accepts it as it is
    reproduce.json        seed, SHA-256 of the data, versions, the command line
    params.h5             W1, b1, ... with layer sizes, activations, classes, preprocessing
    costs.csv, costs.png  the cost curve
    metrics.json          accuracies, final cost, iterations, seconds, status
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import math
import os
import stat
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nnctl import __version__
from nnctl.util.atomic import atomic_path, atomic_write
from nnctl.errors import RunError
from nnctl.core.layers import batch_norm_epsilon, layer_arrays, network_arrays

from nnctl.rundir.layout import (  # the names live in one place
    CHECKPOINT,
    EVALUATIONS,
    LATEST,
    METRICS,
    PARAMS,
    REPRODUCE,
    RESOLVED,
    COSTS_CSV,
    SUMMARY_JSON,
    SWEEP_PID,
    SWEEP_PLAN,
    TABLE,
    Status,
    TrialStatus,
)
from nnctl.util.text import quoted, shell_quote
from nnctl.data.dataset import file_kind, regular_file
import io
import csv
from nnctl.util.memory import available_memory
from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.core.network import HEADS
from nnctl.rundir.lock import held_elsewhere, is_training
from nnctl.data.tables import Preprocessor
from nnctl.data.dataset import Normalization, normalization_from_arrays
from nnctl.data.dataset import TargetScaling, target_scaling_from_arrays
import platform
import yaml

if TYPE_CHECKING:
    from nnctl.data.dataset import Normalization, TargetScaling
    from nnctl.data.tables import Preprocessor


def create_run_dir(root, name: str, now: datetime | None = None, prefix: str = "") -> Path:
    """A new directory `<root>/<prefix><time>-<name>`; one started in the same second gets `-2`, `-3`."""
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{root}: cannot create the runs directory ({exc.strerror}); choose another with --runs-dir") from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RunError(f"{root}: the runs directory is not writable; choose another with --runs-dir")
    stem = f"{prefix}{(now or datetime.now()):%Y%m%d-%H%M%S}-{name}"
    for k in range(1, 10_000):
        path = root / (stem if k == 1 else f"{stem}-{k}")
        try:
            path.mkdir()  # atomic: exactly one process gets each name
            return path
        except FileExistsError:
            continue
        except OSError as exc:
            raise RunError(f"{path}: cannot create the run directory ({exc.strerror})") from None
    raise RunError(f"{root}: too many runs named {stem}")


def json_safe(obj):
    """`obj` with every number that is not finite (inf, -inf, NaN) as None: JSON has no such numbers
    (Python would write Infinity and NaN, which no other reader takes), so a file nnctl writes holds
    null there, read back as "no value". Containers are copied; anything else is returned as it is."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def json_text(obj, **kwargs) -> str:
    """json.dumps of json_safe(obj), refusing (ValueError) anything that is still not valid JSON."""
    return json.dumps(json_safe(obj), allow_nan=False, **kwargs)


def write_json(path, obj) -> Path:
    """`obj` as indented JSON, written atomically a piece at a time: the text of a large object (an
    evaluation's outputs of every example) is never held whole in memory. Valid JSON always: a number
    that is not finite is written as null (json_safe), never Infinity or NaN."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(json_safe(obj), fh, indent=2, sort_keys=False, allow_nan=False)
        fh.write("\n")
    return Path(path)


def readable_file(path) -> Path:
    """`path` if it is a regular file (a symlink to one is fine), checked before anything opens it: a
    FIFO, a device or a folder in a run or sweep folder would block the read or be read forever.
    Every file read back from a run or sweep folder goes through here."""
    path = Path(path)
    other = "{name}: is {kind}, not a regular file nnctl wrote; remove it and train the run again"
    regular_file(
        path,
        RunError,
        directory=other,
        other=other,
        missing="{name}: no such file; train the run again (or give another run)",
        unreadable="{name}: cannot be read ({reason}); check its permissions",
    )
    return path


def check_outputs(paths, then: str) -> None:
    """Each file a command is about to write (atomically: a new file renamed over the path) can take its
    place: a directory there (or a FIFO, a device, a socket) would fail the write only after all the
    work, training or scoring; refused before any, naming the path. `then` says what to do next
    ("resume: nnctl train --resume RUN"). A file or a link there is replaced as always."""
    for path in map(Path, paths):
        try:
            st = path.lstat()
        except OSError:
            continue  # not there (or its folder is not): the write makes it, or names what stops it
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            continue
        raise RunError(f"{path}: is {file_kind(st)}, where nnctl writes its {path.name}; move it away (or delete it), then {then}")


# ---------------------------------------------------------------- sizes read back
# A file read back from a run or sweep folder is read only up to a cap of its kind: far above what
# nnctl writes, far below what would exhaust memory (a sparse 20 GB metrics.json was a MemoryError).
MAX_JSON_BYTES = 16 << 20  # metrics.json, reproduce.json, summary.json, lr_find.json: a few KiB written
MAX_TABLE_BYTES = 64 << 20  # table.json: one entry per column and category
MAX_EVALUATION_BYTES = 1 << 30  # evaluation*.json: a few numbers per example evaluated
MAX_YAML_BYTES = 4 << 20  # spec.yaml (a spec is at most 1 MiB), config.resolved.yaml (every choice spelled out)
MAX_CSV_BYTES = 256 << 20  # costs.csv, summary.csv, lr_find.csv: one row of at most ~200 bytes per recorded epoch, over a million rows
MAX_HDF5_BYTES = 64 << 30  # params.h5, checkpoint.h5 whole (nnctl.Model keeps their bytes); their arrays are checked apart (load_params)


def file_cap(path) -> int:
    """The most bytes nnctl reads back of the run file `path`, by its kind (its name)."""
    name = Path(path).name
    if name == TABLE:
        return MAX_TABLE_BYTES
    if fnmatch.fnmatch(name, EVALUATIONS):
        return MAX_EVALUATION_BYTES
    if name.endswith((".yaml", ".yml")):
        return MAX_YAML_BYTES
    if name.endswith(".csv"):
        return MAX_CSV_BYTES
    if name.endswith(".h5"):
        return MAX_HDF5_BYTES
    return MAX_JSON_BYTES


def _size(n: int) -> str:
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} bytes"


def read_bytes_capped(path, limit: int | None = None) -> bytes:
    """The bytes of a file in a run or sweep folder (runs.readable_file's checks first), refused with a
    RunError when it is longer than `limit` (by default `file_cap`, by its kind): its size is looked at
    before anything is read, and no more than `limit` + 1 bytes are ever read (a file that grows meanwhile)."""
    path = readable_file(path)
    limit = file_cap(path) if limit is None else limit

    def too_long(size: str) -> RunError:
        return RunError(
            f"{path}: is {size} long, over the {_size(limit)} nnctl reads back of such a file (it writes far less); "
            f"the file is damaged or not nnctl's: remove it, or train the run again"
        )

    try:
        size = path.stat().st_size
        if size > limit:
            raise too_long(_size(size))
        with open(path, "rb") as fh:  # a piece at a time: read(limit + 1) would set aside limit bytes at once
            pieces, got = [], 0
            while got <= limit and (piece := fh.read(min(1 << 20, limit + 1 - got))):
                pieces.append(piece)
                got += len(piece)
            data = b"".join(pieces)
    except OSError as exc:
        raise RunError(f"{path}: cannot be read ({exc.strerror or exc}); check its permissions") from None
    if len(data) > limit:
        raise too_long(f"over {_size(limit)}")
    return data


def read_text_capped(path, limit: int | None = None, errors: str = "strict") -> str:
    """read_bytes_capped as UTF-8 text; bytes that are not UTF-8 are a RunError (with errors="strict")."""
    data = read_bytes_capped(path, limit)
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise RunError(f"{path}: is not UTF-8 text (byte {exc.start}), so not a file nnctl wrote; remove it, or train the run again") from None


MAX_INT_DIGITS = 40  # nnctl writes no whole number longer than 2**128 (a generator state: 39 digits)


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"a whole number of {len(text.lstrip('-'))} digits, longer than any nnctl writes")
    return int(text)


def parse_json(text: str):
    """JSON read back from a run or sweep folder: a whole number of hundreds of digits (beyond any
    float: every later comparison or format would overflow) is damage, refused with ValueError, and
    so is nesting deeper than Python's decoder can follow (nnctl writes three levels at most)."""
    try:
        return json.loads(text, parse_int=_int)
    except RecursionError:
        raise ValueError("nested too deeply to be a file nnctl wrote") from None


def read_json(path, fix: str | None = None) -> dict:
    """A JSON file of a run or sweep; one that does not parse is refused, with `fix` where given."""
    text = read_text_capped(path)
    try:
        return parse_json(text)
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})" + (f"; the file is damaged: {fix}" if fix else "")) from None


def json_kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")


def read_json_object(path, fix: str = "train the run again") -> dict:
    """A JSON file that must hold an object (metrics.json, reproduce.json, evaluation.json); one that
    is not JSON at all (empty, cut short) is refused with `fix` as well."""
    data = read_json(path, fix)
    if not isinstance(data, dict):
        raise RunError(f"{path}: holds {json_kind(data)}, not the JSON object nnctl writes; {fix}")
    return data


def _is_number(v) -> bool:
    """A finite int or float (NaN and inf, which JSON cannot hold, count as missing)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def write_costs_csv(path, costs) -> Path:
    lines = ["iteration,cost"] + [f"{i},{c!r}" for i, c in costs]
    return atomic_write(path, "\n".join(lines) + "\n")


COST_AXES = ("epoch", "iteration")
FINITE = ("cost", "learning_rate", "lr")  # never inf or nan in a row nnctl writes (an empty validation cell reads as nan: no record)
NON_NEGATIVE = (
    "cost",
    "validation_cost",
    "val_cost",
    "learning_rate",
    "lr",
)  # costs.csv columns that are never below 0  # costs.csv's first column: mini-batch runs per epoch, full-batch per iteration


def read_costs_columns(path) -> dict:
    """costs.csv as columns, in every layout nnctl writes (nnctl.rundir.metrics.cost_columns): `epoch,cost,
    iteration[,learning_rate]` for mini-batches, `iteration,cost[,learning_rate]` for full batch, maybe
    with `train_accuracy` (a classifier's; files written before it existed lack it) and validation
    columns; columns are found by name. The first column is the curve's x axis (`costs_axis`); an
    empty cell (not recorded) reads as NaN.

    Rows that do not parse are skipped; a file without an epoch or iteration column then cost raises ValueError.
    """
    return parse_costs_columns(io.StringIO(read_text_capped(path, errors="replace"), newline=""))


def parse_costs_columns(lines) -> dict:
    """read_costs_columns of costs.csv's lines (a file, or its bytes held in memory by nnctl.Model)."""
    reader = csv.reader(lines)
    header = [h.strip().lower() for h in next(reader, [])]
    if len(header) < 2 or header[0] not in COST_AXES or header[1] != "cost" or len(set(header)) != len(header):
        raise ValueError("no 'epoch,cost' or 'iteration,cost' header")
    columns: dict[str, list] = {h: [] for h in header}
    for row in reader:
        if len(row) != len(header):
            continue
        try:
            values = [int(row[0])] + [float(v) if v.strip() else float("nan") for v in row[1:]]
        except ValueError:
            continue
        if not 0 <= values[0] < 2**63 or any(v < 0 or (h in FINITE and not math.isfinite(v)) for h, v in zip(header[1:], values[1:]) if h in NON_NEGATIVE):
            continue  # not a step nnctl counts, a negative cost or rate, or an inf or nan one: a damaged row
        if any(h in PERCENT_KEYS and not math.isnan(v) and not 0 <= v <= 100 for h, v in zip(header[1:], values[1:])):
            continue  # an accuracy outside 0 to 100 (NaN, an empty cell, is no record at that epoch)
        for h, v in zip(header, values):
            columns[h].append(v)
    return columns


def costs_axis(costs: dict) -> tuple:
    """(name, values) of the x axis of columns read by `read_costs_columns`: epoch or iteration."""
    for name in COST_AXES:
        if name in costs and list(costs)[0] == name:
            return name, costs[name]
    return "iteration", costs.get("iteration") or []


def read_costs_csv(path) -> list:
    """[(epoch or iteration, cost)]: the curve costs.csv holds, against its first column."""
    columns = read_costs_columns(path)
    return list(zip(costs_axis(columns)[1], columns["cost"]))


def array_digest(value) -> str:
    """SHA-256 of an array as HDF5 gives it back: its dtype, shape and bytes."""
    a = np.ascontiguousarray(np.asarray(value))
    h = hashlib.sha256(f"{a.dtype.str}{a.shape}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def compare_digests(path, now: dict, recorded, fix: str) -> None:
    """Every array named in `now` (name -> array_digest) is the one training saved, as the digests
    recorded beside them (a checkpoint's `digests`) say; a RunError naming the first array that was
    changed, added or removed. Nothing recorded (a checkpoint of an nnctl that wrote none): passes."""
    if recorded is None:
        return
    if not (isinstance(recorded, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in recorded.items())):
        raise RunError(f"{path}: digests: expected an object of array names and SHA-256 (got {type(recorded).__name__}); {fix}")
    for key in sorted(set(now) | set(recorded)):
        if key not in recorded:
            raise RunError(f"{path}: holds {key}, which training did not save there (it has no digest); the file was edited; {fix}")
        if key not in now:
            raise RunError(f"{path}: {key} is missing (training saved it: its digest is recorded); the file was edited or damaged; {fix}")
        if now[key] != recorded[key]:
            raise RunError(
                f"{path}: {key} holds other values than training saved (their SHA-256 differs from the one recorded beside them): "
                f"the file was edited or damaged; {fix}"
            )


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", errors="surrogatepass")).hexdigest()


def json_digest(obj) -> str:
    """SHA-256 of a JSON value in one canonical spelling (keys sorted): the same for the value nnctl
    wrote (a table.json) and for that file read back, however it was indented."""
    return text_digest(json.dumps(json_safe(obj), sort_keys=True, separators=(",", ":"), allow_nan=False))


# params.h5's attribute holding the SHA-256 of every array and of every other attribute as training
# wrote them (the file's own metadata: names, dtypes, shapes, values). Every read checks it (load_params).
INTEGRITY = "integrity"


def save_arrays(path, arrays: dict, meta: dict, integrity: bool = False) -> Path:
    """Arrays in HDF5 ("state/C" makes a group), `meta` as JSON attributes; written atomically.
    With `integrity`, also the attribute INTEGRITY: every array's and every attribute's SHA-256."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    texts = {key: json_text(value) for key, value in {**meta, "nnctl_version": __version__}.items()}
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        for key, text in texts.items():
            f.attrs[key] = text
        if integrity:
            digests = {
                "arrays": {key: array_digest(f[key][()]) for key in arrays},  # as HDF5 gives them back
                "attributes": {key: text_digest(text) for key, text in texts.items()},
            }
            f.attrs[INTEGRITY] = json_text(digests)
    return Path(path)


def save_params(path, params, meta: dict) -> Path:
    """Parameters in HDF5, with everything prediction needs as attributes, and the digests of them all
    (INTEGRITY), checked on every read: an edited or damaged file is refused, never used."""
    return save_arrays(path, params, meta, integrity=True)


def _datasets(f) -> dict:
    """{key: h5py.Dataset} of a file nnctl wrote: the top level's and its groups' ("normalize/mean")."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    out = {}
    for key in f.keys():
        item = f.get(key)
        if isinstance(item, h5py.Dataset):
            out[key] = item
        elif isinstance(item, h5py.Group):
            out.update({f"{key}/{k}": v for k, v in item.items() if isinstance(v, h5py.Dataset)})
    return out


def _check_declared(path: Path, datasets: dict, meta: dict) -> None:
    """Refuse, before reading any, a dataset whose declared size nnctl could not have written: larger
    than the layers' own array (layer_dims), than what the file stores of it (a chunked dataset of
    unallocated chunks reads as gigabytes of fill), than the file, or than the memory there is."""
    damaged = "the file is damaged or not written by nnctl, so train the run again"
    dims, bn = meta.get("layer_dims"), meta.get("batch_norm")
    want: dict = {}
    if isinstance(dims, list) and len(dims) >= 2 and all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**31 for n in dims):
        layers = bn.get("layers") if isinstance(bn, dict) else []
        if isinstance(layers, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in layers):
            want = {k: shape for k, (shape, _) in layer_arrays(dims, layers).items()}
    try:
        file_size = path.stat().st_size
    except OSError:
        file_size = 0
    total = 0
    for key, ds in datasets.items():
        try:
            shape, nbytes = tuple(ds.shape or ()), int(ds.size or 0) * int(ds.dtype.itemsize)
            stored = int(ds.id.get_storage_size())
        except (TypeError, ValueError, OSError):
            raise RunError(f"{path}: {key}: cannot be read as an array; {damaged}") from None
        if key in want and int(np.prod(shape, dtype=np.float64)) > int(np.prod(want[key], dtype=np.float64)):
            raise RunError(f"{path}: {key}: declares shape {shape}, larger than layers {dims} give it ({want[key]}); {damaged}")
        if nbytes > max(stored, 0) or nbytes > file_size:
            raise RunError(f"{path}: {key}: declares shape {shape} ({_size(nbytes)}) but the file stores {_size(min(stored, file_size))} of it; {damaged}")
        total += nbytes

    room = available_memory()
    if room is not None and total > room:
        raise RunError(
            f"{path}: its arrays take {_size(total)}, more than the {_size(room)} of memory this process may take; free memory, or train a smaller run"
        )


def _attribute(path, key, value):
    """One attribute of params.h5 or checkpoint.h5: JSON text, as save_arrays writes every one. Other
    text (an attribute edited by hand, `task` set to plain `regression`) is named with its key."""
    try:
        return parse_json(value)
    except (ValueError, TypeError):  # TypeError: not text at all
        raise RunError(
            f"{path}: attribute {quoted(str(key))}: {quoted(str(value)[:60])} is not the JSON text nnctl writes there; "
            "the file was edited or damaged; restore it from a copy, or train the run again"
        ) from None


def load_params(path, groups=False):
    """(params, meta) from a file written by `save_arrays`: the top-level W1, b1, ...

    With `groups`, also the arrays inside groups, keyed "group/name". Every dataset's declared size is
    checked before it is read (_check_declared); a file with digests (INTEGRITY: params.h5) is checked
    against them (verify_integrity), so an edited array or attribute is refused with the one it is.
    """
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    path = readable_file(path)
    try:
        with h5py.File(path, "r") as f:
            texts = dict(f.attrs.items())
            meta = {key: _attribute(path, key, value) for key, value in texts.items()}
            datasets = _datasets(f)
            _check_declared(path, datasets, meta)
            arrays = {key: ds[()] for key, ds in datasets.items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:  # TypeError: an attribute that is not JSON text
        raise RunError(f"{path}: cannot read the parameters ({exc.__class__.__name__}); the file is damaged") from None
    verify_integrity(path, arrays, texts, meta)
    params = {k: v for k, v in arrays.items() if groups or "/" not in k}
    return params, meta


def integrity_fix(path) -> str:
    return f"the file was edited or damaged; train the run again (nnctl train {Path(path).parent / RESOLVED}) or restore the file from a copy"


def verify_integrity(path, arrays: dict, texts: dict, meta: dict) -> None:
    """Every array and attribute of a file with digests (INTEGRITY) as training wrote it; a RunError
    naming the first that is not, or that was added or removed. A file without them (params.h5 of an
    nnctl before 0.x had none) passes: the other checks are all it gets, as before.

    Where a change also breaks what the file must hold (a shape that does not fit layer_dims, an
    activation nnctl does not know), that is said instead (validate_run_files): it names the fix better."""
    recorded = meta.get(INTEGRITY)
    if recorded is None:
        return
    fix = integrity_fix(path)

    def table(name):
        t = recorded.get(name) if isinstance(recorded, dict) else None
        if not (isinstance(t, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in t.items())):
            raise RunError(f"{path}: {INTEGRITY}: expected the SHA-256 of every array and attribute (no {name}); {fix}")
        return t

    want_arrays, want_attrs = table("arrays"), table("attributes")
    problem = None
    for key in sorted(set(arrays) | set(want_arrays)):
        if key not in want_arrays:
            problem = f"{key}: an array training did not write there (no digest is recorded for it); {fix}"
        elif key not in arrays:
            problem = f"{key}: missing, but training wrote it (its digest is recorded); {fix}"
        elif array_digest(arrays[key]) != want_arrays[key]:
            problem = f"{key} does not match what training wrote (digest); {fix}"
        if problem:
            break
    if problem is None:
        for key in sorted((set(texts) | set(want_attrs)) - {INTEGRITY}):
            if key not in want_attrs:
                problem = f"attribute {key}: not one training wrote (no digest is recorded for it); {fix}"
            elif key not in texts:
                problem = f"attribute {key}: missing, but training wrote it (its digest is recorded); {fix}"
            elif text_digest(str(texts[key])) != want_attrs[key]:
                problem = f"attribute {key} does not match what training wrote (digest); {fix}"
            if problem:
                break
    if problem is None:
        return
    try:
        validate_run_files(path, {k: v for k, v in arrays.items() if "/" not in k}, meta)
    except (KeyError, TypeError, ValueError, AttributeError):
        pass
    raise RunError(f"{path}: {problem}")


def rerun_command(run_dir, reproduce: dict, quote=shell_quote) -> str:
    """How to train the run again: `nnctl train RUN/config.resolved.yaml`, or, for a run nnctl.fit
    trained on arrays (a data source `array:...`, not kept in the run), the call that does."""
    data = reproduce.get("data") if isinstance(reproduce, dict) else None
    sources = [d.get("source") for d in data.values() if isinstance(d, dict)] if isinstance(data, dict) else []
    if any(isinstance(s, str) and s.startswith("array:") for s in sources):
        return "nnctl.fit(spec, X, y) in Python, with the same arrays (their SHA-256 above; a run does not keep them)"
    return f"nnctl train {quote(str(Path(run_dir) / RESOLVED))}"


def update_latest(root, run_dir) -> None:
    """Point `<root>/latest` at the newest run, replacing the link atomically. The temporary link's
    name is this call's own: two trainings starting at once (in two processes or two threads of
    one) never remove or rename each other's."""
    root, run_dir = Path(root), Path(run_dir)
    tmp = root / f".{LATEST}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, root / LATEST)
    except OSError:
        tmp.unlink(missing_ok=True)
        atomic_write(root / f"{LATEST}.txt", run_dir.name + "\n")  # where links are not allowed


def validate_run_files(path, params: dict, meta: dict) -> None:
    """What predict and evaluate rely on in params.h5 (or checkpoint.h5): types, names and shapes.

    The file is input like any other: a damaged or foreign file gets one line naming the key.
    """

    def bad(key, problem):
        return RunError(f"{path}: {key}: {problem}; the file is damaged or not written by nnctl, so train the run again")

    dims = meta.get("layer_dims")
    if not (isinstance(dims, list) and len(dims) >= 2 and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in dims)):
        raise bad("layer_dims", f"expected a list of at least two positive whole numbers (got {quoted(dims):.80})")
    L = len(dims) - 1
    acts = meta.get("activations")
    if not (isinstance(acts, list) and len(acts) == L and all(a in ACTIVATION_NAMES for a in acts)):
        raise bad("activations", f"expected {L} of {', '.join(ACTIVATION_NAMES)} (got {quoted(acts):.80})")
    if meta.get("task", "classification") not in ("classification", "regression"):
        raise bad("task", f"expected classification or regression (got {quoted(meta.get('task')):.40})")

    loss = meta.get("loss")
    if loss is not None and (loss not in HEADS or HEADS[loss].units(max(2, dims[-1])) != dims[-1]):
        raise bad("loss", f"expected one of {', '.join(HEADS)} that fits an output layer of {dims[-1]} units (got {quoted(loss):.40})")
    if meta.get("dtype", "float64") not in ("float32", "float64"):
        raise bad("dtype", f"expected float32 or float64 (got {quoted(meta.get('dtype')):.40})")
    classes = meta.get("classes", [])
    if not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise bad("classes", f"expected a list of class names (got {quoted(classes):.80})")
    pre = meta.get("preprocessing")
    shape = pre.get("input_shape") if isinstance(pre, dict) else None
    if not (isinstance(shape, list) and shape and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in shape)):
        raise bad("preprocessing.input_shape", f"expected a list of positive whole numbers (got {quoted(shape):.80})")
    size = 1
    for n in shape:
        size *= n
    if size != dims[0]:
        raise bad("preprocessing.input_shape", f"{shape} holds {size} values but the first layer takes {dims[0]}")
    assert isinstance(pre, dict)  # else shape is None, refused above
    if not (_is_number(pre.get("scale")) and pre["scale"] > 0):
        raise bad("preprocessing.scale", f"expected a positive number (got {quoted(pre.get('scale')):.40})")
    names = pre.get("feature_names")
    if names is not None and not (
        isinstance(names, list) and len(names) == dims[0] and len(set(names)) == len(names) and all(isinstance(n, str) for n in names)
    ):
        raise bad("preprocessing.feature_names", f"expected {dims[0]} different column names (got {quoted(names):.80})")
    bn = meta.get("batch_norm", {"layers": []})
    if not (
        isinstance(bn, dict) and isinstance(bn.get("layers"), list) and all(isinstance(l, int) and not isinstance(l, bool) and 1 <= l < L for l in bn["layers"])
    ):
        raise bad("batch_norm.layers", f"expected a list of hidden layer numbers 1 to {L - 1} (got {quoted(bn):.80})")
    if bn["layers"] and not (_is_number(bn.get("epsilon")) and bn["epsilon"] > 0):
        raise bad("batch_norm.epsilon", f"expected a positive number (got {quoted(bn.get('epsilon')):.40})")
    want_arrays = layer_arrays(dims, bn["layers"])
    for key, (want, row) in want_arrays.items():
        value = params.get(key)
        if value is None:
            raise bad(key, "missing")
        if value.shape != want or value.dtype.kind != "f":
            raise bad(key, f"expected a float array of shape {want} (got {value.dtype} {value.shape})")
        if not np.isfinite(value).all():  # training never writes one (a diverged run keeps its last finite parameters)
            raise bad(key, "holds values that are not finite (NaN or inf), which training never writes: the parameters are damaged")
        if row.name == "running_var" and not (value >= 0).all():
            raise bad(key, "expected variances, numbers >= 0")
    extra = sorted(set(network_arrays(params)) - set(want_arrays))
    if extra:
        raise bad(extra[0], f"not an array of layers {dims}{' with batch norm on ' + str(bn['layers']) if bn['layers'] else ''}")


@dataclass
class Run:
    path: Path
    params: dict
    meta: dict
    metrics: dict
    note: str | None = None  # set when the run is unfinished and its parameters are partial
    normalization: Normalization | None = None  # nnctl.data.dataset.Normalization: what evaluate and predict apply to inputs
    table: Preprocessor | None = None  # nnctl.data.tables.Preprocessor of a run trained on a table (table.json)
    target: TargetScaling | None = None  # nnctl.data.dataset.TargetScaling: how a regression's outputs turn back into the target's units

    @property
    def activations(self) -> list:
        return self.meta["activations"]

    @property
    def epsilon(self) -> float:
        """Batch norm's epsilon, for inference with the running averages."""
        return batch_norm_epsilon(self.meta)


def resolve_run_path(path) -> Path:
    """The run a path names; `runs/latest` becomes the run it links to, so messages name it."""
    path = Path(path)
    if path.is_symlink():
        return path.parent / os.readlink(path)
    if path.name == LATEST and not path.exists() and (path.parent / f"{LATEST}.txt").exists():
        path = path.parent / read_text_capped(path.parent / f"{LATEST}.txt", 4096, errors="replace").strip()
    return path


def is_run_dir(path) -> bool:
    """A run's folder: its metrics.json beside its parameters (params.h5, or an unfinished run's checkpoint)."""
    path = Path(path)
    return path.is_dir() and (path / METRICS).is_file() and ((path / PARAMS).is_file() or (path / CHECKPOINT).is_file())


def is_sweep_dir(path) -> bool:
    """A sweep's folder, by what it holds, never by its name (a sweep folder renamed is still one): its
    plan (sweep.json); or, where the plan is lost, no metrics.json of its own beside the summary
    (summary.json) or the lock file (.lock) that only a sweep writes into its folder."""
    path = Path(path)
    if (path / SWEEP_PLAN).exists() or (path / SWEEP_PLAN).is_symlink():
        return True
    return path.is_dir() and not (path / METRICS).exists() and any((path / n).exists() for n in (SUMMARY_JSON, SWEEP_PID))


RUN_EVIDENCE = (METRICS, RESOLVED, PARAMS, CHECKPOINT, REPRODUCE, COSTS_CSV)  # a run's own files: any one makes a folder a run's, however damaged


def check_run_folder(path) -> Path:
    """`path` (runs/latest resolved) if it is a folder holding a run's files or a sweep's; a RunError
    naming it otherwise (a missing path, a file, an empty or unrelated folder, ""). The one check of
    every command that is given a run or a sweep (runs show, report, evaluate, predict, export)."""
    path = resolve_run_path(path)
    if not path.exists():
        raise RunError(f"{path}: no such run or sweep directory; see `nnctl runs` for the runs there are")
    if not path.is_dir():
        raise RunError(f"{path}: not a directory; give a run or sweep folder such as runs/latest")
    if not is_sweep_dir(path) and not any((path / n).exists() or (path / n).is_symlink() for n in RUN_EVIDENCE):
        raise RunError(f"{path}: not a run or sweep directory (no {METRICS}, {RESOLVED} or {SWEEP_PLAN}); give a folder that `nnctl runs` lists")
    return path


def sweep_trials(path: Path) -> dict:
    """{trial name: status} of a sweep folder, read tolerantly: the trials its plan (sweep.json) names,
    and any trial folder with a metrics.json. A trial without one is `pending` (not started), one whose
    metrics.json cannot be read or is not nnctl's `damaged`; `completed` only beside its parameters.
    Interrupted, failed and diverged trials are what they say, never completed."""
    names: list[str] = []
    try:
        trials = read_json_object(path / SWEEP_PLAN).get("trials") if (path / SWEEP_PLAN).is_file() else None
        names = [t["name"] for t in trials or () if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]]
    except (RunError, TypeError, AttributeError):
        pass
    try:
        names += sorted(p.parent.name for p in path.glob(f"*/{METRICS}") if p.parent.is_dir() and not p.parent.is_symlink())
    except OSError:
        pass
    out: dict[str, str] = {}
    for name in dict.fromkeys(names):
        folder = path / name
        if "/" in name or name in (".", "..") or not (folder / METRICS).exists():
            out[name] = TrialStatus.PENDING
            continue
        try:
            m = read_json_object(folder / METRICS)
            status = "damaged" if metrics_problem(m) else run_status(m, folder)
        except RunError:
            status = "damaged"
        if status == Status.COMPLETED and not (folder / PARAMS).is_file():
            status = "damaged"
        out[name] = status
    return out


def said_statuses(statuses) -> str:
    """ "2 interrupted, 1 not started": how many trials are in each state, in the order first seen."""
    counts: dict[str, int] = {}
    for s in statuses:
        word = "not started" if s == TrialStatus.PENDING else str(s)
        counts[word] = counts.get(word, 0) + 1
    return ", ".join(f"{n} {word}" for word, n in counts.items())


def sweep_instead(path: Path, resume: bool = False) -> RunError:
    """A sweep folder given where a run is expected: name it, and point to its best completed trial
    (`resume`: to `nnctl sweep --resume`, which continues every unfinished trial). Only completed
    trials are counted and offered: an interrupted, failed or diverged one is no result to use."""
    if resume:
        return RunError(f"{path}: is a sweep, not a run; resume it with: nnctl sweep --resume {shell_quote(path)}")
    statuses = sweep_trials(path)
    completed = [name for name, s in statuses.items() if s == Status.COMPLETED]
    if not completed:
        if not statuses and not (path / SWEEP_PLAN).exists():
            return RunError(f"{path}: is a sweep, not a run, with no trial and no plan ({SWEEP_PLAN}) to resume; start the sweep again: nnctl sweep CONFIG ...")
        if not statuses:
            return RunError(f"{path}: is a sweep, not a run, and has no trials yet; resume it with: nnctl sweep --resume {shell_quote(path)}")
        if Status.RUNNING in statuses.values():
            return RunError(
                f"{path}: is a sweep, not a run, and none of its {len(statuses)} trials has completed yet "
                f"({said_statuses(statuses.values())}); wait for the sweep to finish, then pass one of its trials"
            )
        return RunError(
            f"{path}: is a sweep, not a run, and none of its {len(statuses)} trials completed "
            f"({said_statuses(statuses.values())}); resume it with: nnctl sweep --resume {shell_quote(path)}"
        )
    best = None
    try:
        rows = read_json_object(path / SUMMARY_JSON).get("trials")
        best = next((r["trial"] for r in rows or () if isinstance(r, dict) and r.get("status") == Status.COMPLETED and r.get("trial") in completed), None)
    except (RunError, TypeError, AttributeError):
        pass
    which = f"e.g. the best: {path / best}" if best else f"e.g. {path / completed[0]}"
    if len(completed) == len(statuses):
        return RunError(
            f"{path}: is a sweep of {len(completed)} completed trials, not a run; pass one of its trials, {which} (all of them: nnctl runs --runs-dir {path.parent})"
        )
    others = said_statuses(s for s in statuses.values() if s != Status.COMPLETED)
    return RunError(
        f"{path}: is a sweep of {len(statuses)} trials, {len(completed)} of them completed ({others}), not a run; "
        f"pass one of its completed trials, {which} (all of them: nnctl runs --runs-dir {path.parent})"
    )


def _run_metrics(path: Path) -> dict:
    """A run's metrics.json, checked; {} where there is none. Damaged: refused with the fix (the
    parameters do not need it: without it the run's status is only unknown)."""
    file = path / METRICS
    if not file.exists():
        return {}
    fix = (
        f"the file is damaged: resume the unfinished run (nnctl train --resume {shell_quote(path)}), which writes it anew"
        if (path / CHECKPOINT).exists()
        else f"the file is damaged: delete it to use the run's {PARAMS} without it (its status then unknown)"
    )
    text = read_text_capped(file)  # a FIFO, a device, a file of gigabytes: refused with their own fix
    try:
        data = parse_json(text)
    except (OSError, ValueError) as exc:
        raise RunError(f"{file}: cannot be read ({exc}); {fix}") from None
    if not isinstance(data, dict):
        raise RunError(f"{file}: holds {json_kind(data)}, not the JSON object nnctl writes; {fix}")
    return check_metrics(data, file)


def load_run(path) -> Run:
    """A run's parameters and metadata; an unfinished run's last checkpoint, with a note saying so.

    Everything read back is checked (metrics.json an object, params.h5's names, types and shapes);
    a diverged run carries a note too.
    """
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; give a run folder that `nnctl runs` lists, or train one with `nnctl train CONFIG`")
    check_run_folder(path)  # a folder that is no run at all is named so, as runs show and report name it
    if is_sweep_dir(path) and not (path / METRICS).exists():
        raise sweep_instead(path)
    metrics = _run_metrics(path)
    status = run_status(metrics, path) if metrics else "unknown"
    params_file, checkpoint = path / PARAMS, path / CHECKPOINT
    note = None
    other = held_elsewhere(path)  # the lock says whether another process trains it (None: it cannot tell)
    training_now = bool(other) or (other is None and status == Status.RUNNING)

    # `train --resume` would be refused while another process trains the run (it holds the run's lock)
    training = "the run is being trained by another process now: using its {what}; they will change, so predict or evaluate again when that training ends"
    if params_file.exists():
        source = params_file
        params, meta = load_params(params_file)
        if training_now:
            note = training.format(what=f"parameters of iteration {meta.get('iterations')}")
        elif status == Status.INTERRUPTED and checkpoint.exists():
            note = f"unfinished run ({status} at iteration {meta.get('iterations')}): using its parameters so far"
        elif status == Status.DIVERGED:
            note = f"diverged run ({metrics.get('message') or 'training diverged'}): these are its last finite parameters and its outputs may be meaningless"
    elif checkpoint.exists():
        source = checkpoint
        arrays, meta = load_params(checkpoint, groups=True)
        # the checkpoint's digests, as resume checks them: an edited W is refused here too, not predicted with
        compare_digests(
            checkpoint,
            {k: array_digest(v) for k, v in arrays.items()},
            meta.get("digests"),
            f"restore it from a copy, or train the run again (nnctl train {path / RESOLVED})",
        )
        params = {k: v for k, v in arrays.items() if "/" not in k}
        if training_now:
            note = training.format(what=f"last checkpoint, iteration {meta.get('iterations')}")
        else:
            note = f"unfinished run ({status}): using its last checkpoint, iteration {meta.get('iterations')}; resume with: nnctl train --resume {shell_quote(path)}"
    elif (path / SWEEP_PLAN).exists():
        raise sweep_instead(path)
    else:
        raise RunError(f"{path}: the run has no {PARAMS} and no {CHECKPOINT} (unfinished or failed run); train it again")
    validate_run_files(source, params, meta)
    _check_belongs(path, source, meta)
    return Run(
        path=path,
        params=network_arrays(params),
        meta=meta,
        metrics=metrics,
        note=note,
        normalization=load_normalization(source, meta),
        table=load_table_encoding(path, meta, source.name),
        target=load_target_scaling(source, meta),
    )


def _check_belongs(path: Path, source: Path, meta: dict) -> None:
    """params.h5 (or checkpoint.h5) is the run's own: the run id it records is reproduce.json's, and a
    run whose reproduce.json says its params.h5 has digests (INTEGRITY) is refused one without them: a
    file dropped in from elsewhere (another run's, another tool's with the right keys)."""
    file = path / REPRODUCE
    if not file.exists():
        return
    try:
        rec = read_json_object(file)
    except RunError:
        return  # a damaged reproduce.json: predict and evaluate do not need it (resume refuses it)
    recorded = rec.get("run_id")
    if isinstance(recorded, str) and isinstance(meta.get("run_id"), str) and meta["run_id"] != recorded:
        raise RunError(
            f"{source}: belongs to another run (its run_id is not the one in {file}); put this run's own {source.name} back, "
            f"or train the run again (nnctl train {path / RESOLVED})"
        )
    if source.name == PARAMS and rec.get(PARAMS_DIGESTS) is True and INTEGRITY not in meta:
        raise RunError(
            f"{source}: has no digests ({INTEGRITY}), but {file} says training wrote them: it is not the file training wrote "
            f"(another run's or another tool's); {integrity_fix(source)}"
        )


PARAMS_DIGESTS = "params_digests"  # reproduce.json: true where training writes params.h5 with its digests (INTEGRITY)


def load_table_encoding(path: Path, meta: dict, holder: str = PARAMS):
    """The Preprocessor of a run trained on a table (None for other runs), checked against `holder`,
    the file `meta` is from (params.h5, or an unfinished run's checkpoint.h5): its digest (table_sha256,
    recorded there by training) first, then its features, task, classes and outputs."""

    file = path / TABLE
    recorded = meta.get(TABLE_DIGEST)
    if not file.exists() and not file.is_symlink():
        if recorded is not None:
            raise RunError(
                f"{file}: missing, but the run was trained on a table ({holder} records its digest); restore the file from a copy, or train the run again"
            )
        return None
    data = read_json_object(file)
    prep = Preprocessor.from_dict(data, str(file), error=RunError)  # a value no encoding holds is named as such
    if recorded is not None and json_digest(data) != recorded:
        # before the model's checks: an edited file is said to be edited, not by the feature count or classes it then gets wrong
        raise RunError(f"{file}: does not match what training wrote (digest, recorded in {holder}); {integrity_fix(file)}")
    fix = "the file is damaged or from another run, so train the run again"
    if prep.n_x != meta["layer_dims"][0]:
        raise RunError(f"{file}: encodes {prep.n_x} features but the first layer takes {meta['layer_dims'][0]}; {fix}")
    if prep.task != meta.get("task", "classification"):
        raise RunError(f"{file}: task: {prep.task}, but {holder} holds a {meta.get('task')} model; {fix}")
    if prep.task == "classification" and prep.classes != meta.get("classes"):
        raise RunError(f"{file}: classes: {quoted(prep.classes):.80} differ from {holder}'s; {fix}")
    loss, out = meta.get("loss"), meta["layer_dims"][-1]
    if prep.task == "classification" and loss in HEADS and HEADS[loss].units(len(prep.classes)) != out:
        raise RunError(f"{file}: classes: {len(prep.classes)} classes, but the output layer has {out} unit{'s' if out != 1 else ''}; {fix}")
    if recorded is None and INTEGRITY in meta:
        raise RunError(f"{file}: {holder} records no table, so training did not write this one (another run's?); remove it, or train the run again")
    return prep


TABLE_DIGEST = "table_sha256"  # params.h5's (and checkpoint.h5's) attribute: json_digest of the table.json training wrote


def load_normalization(path, meta: dict):
    """The inputs' normalisation stored in params.h5 or checkpoint.h5 (normalize/mean, normalize/std), checked."""
    method = (meta.get("preprocessing") or {}).get("normalize", "none")
    if method not in ("none", "standardize"):
        raise RunError(f"{path}: preprocessing.normalize: expected none or standardize (got {quoted(method):.40}); the file is damaged, so train the run again")
    if method == "none":
        return Normalization("none")
    arrays, _ = load_params(path, groups=True)
    n_x = meta["layer_dims"][0]
    for key in ("normalize/mean", "normalize/std"):
        value = arrays.get(key)
        if value is None or value.shape != (n_x, 1) or value.dtype.kind != "f" or not np.isfinite(value).all():
            raise RunError(f"{path}: {key}: expected {n_x} finite numbers, shape ({n_x}, 1); the file is damaged, so train the run again")
    if (arrays["normalize/std"] <= 0).any():
        raise RunError(f"{path}: normalize/std: a standard deviation is not positive; the file is damaged, so train the run again")
    return normalization_from_arrays(method, arrays)


def load_target_scaling(path, meta: dict):
    """A regression's target scaling stored in params.h5 or checkpoint.h5 (normalize_target/mean and
    /std), checked; a run without one (every run before data.normalize_target) has none."""
    method = (meta.get("preprocessing") or {}).get("normalize_target", "none")
    damaged = "the file is damaged, so train the run again"
    if method not in ("none", "standardize"):
        raise RunError(f"{path}: preprocessing.normalize_target: expected none or standardize (got {quoted(method):.40}); {damaged}")
    if method == "none":
        return TargetScaling("none")
    if meta.get("task", "classification") != "regression":
        raise RunError(f"{path}: preprocessing.normalize_target: standardize, but the model is a {meta.get('task', 'classification')}; {damaged}")
    arrays, _ = load_params(path, groups=True)
    n_y = meta["layer_dims"][-1]
    for key in ("normalize_target/mean", "normalize_target/std"):
        value = arrays.get(key)
        if value is None or value.shape != (n_y, 1) or value.dtype.kind != "f" or not np.isfinite(value).all():
            raise RunError(f"{path}: {key}: expected {n_y} finite number{'s' if n_y > 1 else ''}, shape ({n_y}, 1); {damaged}")
    if (arrays["normalize_target/std"] <= 0).any():
        raise RunError(f"{path}: normalize_target/std: a standard deviation is not positive; {damaged}")
    return target_scaling_from_arrays(method, arrays)


def run_status(metrics: dict, run_dir=None) -> str:
    """The run's status. A `running` run is running only while a process holds its folder's lock
    (nnctl.rundir.lock: the kernel lets go of it however the process ends); with the lock free it was
    interrupted or killed, whatever pid metrics.json records (alive but another program's, or another
    host's). The pid and host are looked at only where the lock cannot tell (no `run_dir`, a
    filesystem without locks)."""
    status = metrics.get("status", "unknown")
    if status != Status.RUNNING:
        return status
    if run_dir is not None:
        training = is_training(run_dir)
        if training is not None:
            return Status.RUNNING if training else Status.INTERRUPTED
    pid = metrics.get("pid")
    # a stored pid is input: only a positive process id is looked up (0 or -1 would name a group)
    if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**31 and metrics.get("host") == platform.node():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return Status.INTERRUPTED
        except (PermissionError, OSError):
            pass
    return status


RESULT_KEYS = ("layers", "train_accuracy", "test_accuracy", "train_rmse", "test_rmse", "final_cost", "seconds")


RUN_STATUSES = (*Status, "failed")  # what nnctl writes: the loop's statuses (layout.Status) and a sweep trial's failed


def metrics_problem(metrics) -> str | None:
    """Why a metrics.json object is not one nnctl wrote (no status nnctl writes, a result of the
    wrong type), or None. A foreign or hand-edited file is named, never shown as a run."""
    if not isinstance(metrics, dict):
        return f"holds {json_kind(metrics)}, not the metrics object nnctl writes"
    status = metrics.get("status")
    if status is None:
        return "has no status"
    if status not in RUN_STATUSES:
        # the whole value (a status cut short could hide what follows a \r), only a long one shortened, saying so
        if isinstance(status, str):
            cut = "" if len(status) <= 120 else f"... ({len(status)} characters)"
            shown = f"{quoted(status[:120])}{cut} is not"
        else:
            shown = f"is {json_kind(status)}, not"
        return f"status {shown} one nnctl writes ({', '.join(RUN_STATUSES)})"
    for k in RESULT_KEYS + ("iterations",):
        v = metrics.get(k)
        if v is None:
            continue
        if k == "layers":
            ok = isinstance(v, list) and all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in v)
        else:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
        if not ok:
            return f"{k} is {json_kind(v)}, not {'a list of layer sizes' if k == 'layers' else 'a number'}"
    return range_problem(metrics)


PERCENT_KEYS = ("train_accuracy", "test_accuracy", "validation_accuracy", "val_accuracy")
NON_NEGATIVE_KEYS = (
    "train_rmse",
    "test_rmse",
    "validation_rmse",
    "val_rmse",
    "final_cost",
    "validation_cost",
    "val_cost",
    "seconds",
    "iterations",
    "total_iterations",
    "epochs",
    "total_epochs",
)


def range_problem(metrics: dict) -> str | None:
    """A number of metrics.json outside what nnctl writes: an accuracy outside 0 to 100 (a percentage),
    a cost, RMSE, time or count below 0, any of them not finite (JSON's 1e999 reads as inf). A diverged
    run records its last finite cost, however large, or null: never inf, NaN or a negative one."""
    for k in PERCENT_KEYS + NON_NEGATIVE_KEYS:
        v = metrics.get(k)
        if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
            continue  # absent, or of another type: the type check above names it
        if not math.isfinite(v):
            return f"{k} is {v!r}, not a finite number (nnctl writes none)"
        if k in PERCENT_KEYS and not 0 <= v <= 100:
            return f"{k} is {v:g}, outside 0 to 100 (a percentage)"
        if k in NON_NEGATIVE_KEYS and v < 0:
            return f"{k} is {v:g}, but {'a cost' if 'cost' in k else 'an RMSE' if 'rmse' in k else 'a count or a time'} is never negative"
    return None


def check_metrics(metrics, path) -> dict:
    """`metrics` if nnctl wrote it; a RunError naming the file and the fix otherwise."""
    problem = metrics_problem(metrics)
    if problem:
        raise RunError(f"{path}: {problem}; not an nnctl run's metrics: train the run again, or remove the folder")
    return metrics


def kept_metrics(metrics):
    """metrics.json with every metric of the parameters params.h5 holds, whatever version wrote it.

    Where early stopping restored its best parameters, earlier versions wrote validation_cost and
    final_cost of the last record (parameters that were thrown away) beside the best parameters'
    accuracies. Such a file (restored_best, no `last` record) is read as this version writes it: the
    last record's values move to `last`; validation_cost becomes the best value early stopping saw
    when it watched the validation cost (that of the parameters kept), and is left out otherwise;
    final_cost is left out unless it was recorded at the best epoch. Anything else is returned as it is."""
    if not isinstance(metrics, dict) or "last" in metrics:
        return metrics
    early = metrics.get("early_stopping")
    if not isinstance(early, dict):
        return metrics
    best, at = early.get("best_epoch"), metrics.get("final_cost_epoch")
    out = dict(metrics)
    if "stopped_epoch" not in early and early.get("stopped_early") is True and _is_number(at):
        out["early_stopping"] = early = {**early, "stopped_epoch": at}  # an older file: it stopped at its last record
    if early.get("restored_best") is not True or (_is_number(best) and _is_number(at) and at == best):
        return out  # nothing restored, or the last record was the best one: nothing was mixed
    last = {k: out.pop(f"final_cost{suffix}") for k, suffix in (("cost", ""), ("epoch", "_epoch"), ("iteration", "_iteration")) if f"final_cost{suffix}" in out}
    if "validation_cost" in out:
        last["validation_cost"] = out.pop("validation_cost")
        if early.get("monitor") == "validation_cost" and _is_number(early.get("best_value")):
            out["validation_cost"] = early["best_value"]
    out["last"] = last
    return out


def result_fields(metrics: dict) -> dict:
    """The columns that run listings and sweep summaries show, from one metrics.json (kept_metrics:
    of the parameters saved).

    A value of the wrong type (a hand-edited or foreign file) shows as missing, never as a crash.
    """
    metrics = kept_metrics(metrics)
    out = {}
    for k in RESULT_KEYS:
        v = metrics.get(k)
        if k == "layers":
            ok = isinstance(v, list) and all(isinstance(n, int) and not isinstance(n, bool) for n in v)
        else:
            ok = _is_number(v)
        out[k] = v if ok else None
    return out


def validation_fields(metrics: dict) -> dict:
    """validation_accuracy and validation_rmse of the parameters saved (None: no validation set, or
    not a number), for the listing's `val` column."""
    metrics = kept_metrics(metrics)
    return {k: metrics.get(k) if _is_number(metrics.get(k)) else None for k in ("validation_accuracy", "validation_rmse")}


def list_runs(root, skipped: list | None = None) -> list:
    """Every run under `root` (sweep trials included), oldest first, from metrics.json alone.

    A folder whose metrics.json is unreadable or not a metrics object is left out and, when
    `skipped` is given, appended to it as (folder, reason).
    """
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: no runs directory; train a run first, or pass --runs-dir")
    rows = []
    for metrics_path in _metrics_files(root):
        run = metrics_path.parent
        if run.is_symlink() or run.parent.is_symlink():
            continue
        try:
            m = parse_json(read_text_capped(metrics_path))
            if not isinstance(m, dict):
                raise ValueError(f"{METRICS} holds {json_kind(m)}, not a metrics object")
            if metrics_problem(m):
                raise ValueError(f"{METRICS}: {metrics_problem(m)}; not an nnctl run's metrics")
            status = run_status(m, run)
        except RunError as exc:  # a FIFO or a device: named, never opened
            if skipped is not None:
                skipped.append((run, str(exc).split(": ", 1)[-1]))
            continue
        except (OSError, ValueError) as exc:
            if skipped is not None:
                skipped.append((run, str(exc) if isinstance(exc, ValueError) and METRICS in str(exc) else f"{METRICS} cannot be read ({exc})"))
            continue
        started = m.get("started")
        warnings = m.get("warnings")
        rows.append(
            {
                "run": str(run.relative_to(root)),
                "started": started if isinstance(started, str) else None,
                **result_fields(m),
                **validation_fields(m),
                "status": status,
                # a degenerate model (metrics.json `warnings`): a list of sentences, anything else left out
                "warnings": [w for w in warnings if isinstance(w, str)][:10] if isinstance(warnings, list) else [],
            }
        )
    rows += _empty_sweeps(root, {r["run"].split("/", 1)[0] for r in rows})
    rows.sort(key=lambda r: (r["started"] or "", r["run"]))
    return rows


def _empty_sweeps(root: Path, listed: set) -> list:
    """A row for each sweep folder under `root` (by what it holds, whatever its name) none of whose
    trials has a metrics.json yet: stopped before any trial began, or running its first ones. Without
    it such a sweep was missing from the listing. `trials` (0) says it is a sweep."""
    out: list[dict] = []
    try:
        tops = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink() and p.name not in listed)
    except OSError:
        return out
    for p in tops:
        if not is_sweep_dir(p) or (p / METRICS).exists() or any(p.glob(f"*/{METRICS}")):
            continue
        try:
            made = datetime.fromtimestamp((p / SWEEP_PLAN if (p / SWEEP_PLAN).is_file() else p).stat().st_mtime).isoformat(timespec="seconds")
        except OSError:
            made = None
        status = Status.RUNNING if held_elsewhere(p) else Status.INTERRUPTED
        out.append({"run": p.name, "started": made, **result_fields({}), "status": str(status), "warnings": [], "trials": 0})
    return out


def _metrics_files(root: Path) -> list:
    """The metrics.json of every run under `root`: its folders' own, then those of the trials of each
    folder that is a sweep by what it holds (is_sweep_dir), whatever it is called (a sweep renamed)."""
    try:
        tops = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError as exc:
        raise RunError(f"{root}: cannot be listed ({exc.strerror}); check its permissions, or pass --runs-dir") from None
    own = [p / METRICS for p in tops if (p / METRICS).exists() or (p / METRICS).is_symlink()]
    trials = [m for p in tops if is_sweep_dir(p) for m in sorted(p.glob(f"*/{METRICS}"))]
    return own + trials


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def spec_name(run_dir) -> str | None:
    """The `name` in a run's config.resolved.yaml (what its progress is labelled with), if readable."""
    try:
        spec = yaml.safe_load(read_text_capped(resolve_run_path(run_dir) / RESOLVED))
    except (OSError, ValueError, yaml.YAMLError, RunError):
        return None
    name = spec.get("name") if isinstance(spec, dict) else None
    return name if isinstance(name, str) and name else None


def find_run(name, runs_root="runs") -> Path:
    """A run given as a path, or as the name `nnctl runs` prints (relative to the runs folder), or an
    unambiguous start of that name (the table cuts long names with an ellipsis, "…")."""
    path = Path(name)
    if not path.exists() and not path.is_symlink() and not path.is_absolute():
        candidate = Path(runs_root) / path
        if candidate.exists() or candidate.is_symlink():
            path = candidate
        else:
            path = _run_by_prefix(str(name), Path(runs_root)) or path
    return resolve_run_path(path)


def _run_by_prefix(name: str, root: Path) -> Path | None:
    """The one run (or sweep trial) under `root` whose name starts with `name`; an error naming
    the candidates when several do; None when none does."""
    if "…" in name.rstrip("…"):  # cut in the middle by `nnctl runs`: its start and its end
        return _run_by_ends(name, root)
    prefix = name.rstrip("…").rstrip(".") if name.endswith(("…", "...")) else name
    if not prefix or not root.is_dir() or prefix.count("/") > 1 or ".." in prefix.split("/"):
        return None
    parent, _, stem = prefix.rpartition("/")
    folder = root / parent if parent else root
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.startswith(stem) and p.is_dir() and not p.is_symlink()) if stem else []
    except OSError:
        return None
    if len(names) > 1:
        shown = ", ".join(f"{parent + '/' if parent else ''}{n}" for n in names[:8]) + (", …" if len(names) > 8 else "")
        raise RunError(f"{name}: names {len(names)} runs in {root} ({shown}); give more of the name")
    return folder / names[0] if names else None


def _run_by_ends(name: str, root: Path) -> Path | None:
    """The one run or sweep trial (`sweep-.../NN-label`) under `root` whose name, as `nnctl runs` prints
    it, starts and ends as `name` does around its "…"."""
    head, _, tail = name.partition("…")
    tail = tail.rstrip("…")
    if not root.is_dir():
        return None
    try:
        tops = [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()]
        names = [p.name for p in tops] + [f"{p.name}/{q.name}" for p in tops if is_sweep_dir(p) for q in p.iterdir() if q.is_dir() and not q.is_symlink()]
    except OSError:
        return None
    found = sorted(n for n in names if n.startswith(head) and n.endswith(tail) and len(n) >= len(head) + len(tail))
    if len(found) > 1:
        raise RunError(f"{name}: names {len(found)} runs in {root} ({', '.join(found[:8])}{', …' if len(found) > 8 else ''}); give more of the name")
    return root / found[0] if found else None


def run_labels(a: Path, b: Path, root=None) -> tuple:
    """Names for two runs, as `nnctl runs` prints them; the shortest tails that tell them apart."""

    def rel(p):
        try:
            return str(p.resolve().relative_to(Path(root).resolve())) if root else None
        except ValueError:
            return None

    la, lb = rel(a) or a.name, rel(b) or b.name
    if la == lb:
        la, lb = str(a), str(b)
    return la, lb


def compare_runs(a, b, runs_root="runs") -> dict:
    """{'spec': {key: (a, b)} for keys that differ, 'metrics': {key: (a, b)} for all, 'labels': (a, b)}."""
    sides, paths = [], []
    for name in (a, b):
        path = find_run(name, runs_root)
        if not path.is_dir():
            raise RunError(f"{name}: no such run, as a path or in {runs_root}; `nnctl runs` lists the runs (or pass --runs-dir)")
        check_run_folder(path)  # a folder that is no run at all is named so, as every command names it
        if is_sweep_dir(path) and not (path / METRICS).exists():
            raise sweep_instead(path)
        resolved = path / RESOLVED
        if not resolved.exists():
            raise RunError(f"{path}: no {RESOLVED}, which runs compare reads the spec from; the run's files are damaged, so train it again")
        text = read_text_capped(resolved)
        try:
            spec = yaml.safe_load(text)
        except (OSError, yaml.YAMLError, ValueError):
            raise RunError(f"{resolved}: cannot be read as YAML; the run's files are damaged") from None
        if not isinstance(spec, dict):
            raise RunError(f"{resolved}: holds {json_kind(spec)}, not the spec mapping nnctl writes; the run's files are damaged")
        metrics = check_metrics(read_json_object(path / METRICS), path / METRICS) if (path / METRICS).exists() else {}
        sides.append((_flatten(spec), metrics))
        paths.append(path)
    (sa, ma), (sb, mb) = sides
    ma, mb = _compared(ma), _compared(mb)
    spec = {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}
    metrics = {k: (ma.get(k), mb.get(k)) for k in COMPARED_KEYS if k in ma or k in mb}
    same = paths[0].resolve() == paths[1].resolve()
    return {"spec": spec, "metrics": metrics, "labels": run_labels(paths[0], paths[1], runs_root), "same": same}


# what `nnctl runs compare` sets side by side: each of the parameters saved (kept_metrics), then how
# early stopping went (the record it stopped at, the one whose parameters were kept)
COMPARED_KEYS = (
    "status",
    "train_accuracy",
    "validation_accuracy",
    "test_accuracy",
    "train_rmse",
    "validation_rmse",
    "test_rmse",
    "final_cost",
    "validation_cost",
    "stopped early",
    "stopped at",
    "best at",
    "restored best",
    "iterations",
    "seconds",
    "iterations_per_second",
)


def _compared(metrics: dict) -> dict:
    """One side of runs compare: metrics.json (kept_metrics) with early stopping's facts at the top level."""
    out = dict(kept_metrics(metrics))
    early = out.get("early_stopping")
    if isinstance(early, dict):
        stopped = early.get("stopped_early")
        out["stopped early"] = stopped if isinstance(stopped, bool) else None
        out["stopped at"] = early.get("stopped_epoch") if _is_number(early.get("stopped_epoch")) else None
        out["best at"] = early.get("best_epoch") if _is_number(early.get("best_epoch")) else None
        out["restored best"] = early.get("restored_best") if isinstance(early.get("restored_best"), bool) else None
    return out


def read_evaluation(path) -> dict:
    """evaluation*.json read back whole: check_evaluation's verdict on it."""
    return check_evaluation(path, read_json_object(path, fix="run `nnctl evaluate` again"))


def check_evaluation(path, result: dict) -> dict:
    """`result`, an evaluation*.json `nnctl evaluate` wrote (nnctl.experiment.inference), or a RunError
    naming the key that is not what it writes: the scores, a k×k confusion matrix of counts adding up to
    m, and the outputs listed for the first `listed` examples (all m in files written before the cap)."""

    def bad(key, want):
        return RunError(f"{path}: {key}: expected {want}; run `nnctl evaluate` again")

    def number(v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    def count(v):
        return isinstance(v, int) and not isinstance(v, bool) and v >= 0

    for key in ("run", "data"):
        if not isinstance(result.get(key), str):
            raise bad(key, "a path")
    m = result.get("m")
    if not (isinstance(m, int) and not isinstance(m, bool) and m > 0):
        raise bad("m", "a positive whole number")
    task = result.get("task")
    if task not in ("classification", "regression"):
        raise bad("task", "classification or regression")
    files = result.get("files", {})
    if not (isinstance(files, dict) and all(isinstance(v, str) for v in files.values())):
        raise bad("files", "an object of file paths")
    listed = result.get("listed", m)  # the examples whose outputs are listed: the first ones
    if not (isinstance(listed, int) and not isinstance(listed, bool) and 0 <= listed <= m):
        raise bad("listed", f"a whole number from 0 to m = {m}")
    if task == "regression":
        for key in ("rmse", "mae"):
            if not number(result.get(key)):
                raise bad(key, "a finite number")
        outputs = result.get("outputs")
        if not (isinstance(outputs, list) and len(outputs) == listed and all(map(number, outputs))):
            raise bad("outputs", f"{listed} finite numbers")
        return result
    for key in ("accuracy", "precision", "recall", "f1"):
        if not number(result.get(key)):
            raise bad(key, "a finite number")
    classes = result.get("classes")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) for c in classes)):
        raise bad("classes", "a list of two class names or more")
    k = len(classes)
    cm = result.get("confusion_matrix")
    if not (isinstance(cm, list) and len(cm) == k and all(isinstance(r, list) and len(r) == k and all(map(count, r)) for r in cm) and sum(map(sum, cm)) == m):
        raise bad("confusion_matrix", f"{k}×{k} counts adding up to m = {m}")

    def probability(p):  # P(label 1) of a sigmoid output, or the k classes' of a softmax one
        if isinstance(p, list):
            return len(p) == k and all(number(q) and 0 <= q <= 1 for q in p)
        return k == 2 and number(p) and 0 <= p <= 1

    probs = result.get("probabilities")
    if not (isinstance(probs, list) and len(probs) == listed and all(map(probability, probs))):
        raise bad("probabilities", f"{listed} probabilities (numbers between 0 and 1)")
    wrong = result.get("misclassified")
    if not (isinstance(wrong, list) and all(count(i) and i < listed for i in wrong)):
        raise bad("misclassified", f"example indices from 0 to {listed - 1}")
    return result
