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

import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from nnctl import __version__
from nnctl.atomic import atomic_path, atomic_write
from nnctl.errors import RunError

from nnctl.layout import CHECKPOINT, LATEST, METRICS, PARAMS  # the names live in one place


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


def write_json(path, obj) -> Path:
    return atomic_write(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise RunError(f"{path}: cannot be read ({exc})") from None


def write_costs_csv(path, costs) -> Path:
    lines = ["iteration,cost"] + [f"{i},{c!r}" for i, c in costs]
    return atomic_write(path, "\n".join(lines) + "\n")


def read_costs_csv(path) -> list:
    rows = Path(path).read_text().splitlines()[1:]
    # the first two columns: iteration (or epoch) and cost; later ones (learning rate, ...) are not read here
    return [(int(r[0]), float(r[1])) for r in (line.split(",") for line in rows if line)]


def save_arrays(path, arrays: dict, meta: dict) -> Path:
    """Arrays in HDF5 ("state/C" makes a group), `meta` as JSON attributes; written atomically."""
    import h5py

    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for key, value in arrays.items():
            f.create_dataset(key, data=value)
        for key, value in {**meta, "nnctl_version": __version__}.items():
            f.attrs[key] = json.dumps(value)
    return Path(path)


def save_params(path, params, meta: dict) -> Path:
    """Parameters in HDF5, with everything prediction needs as attributes."""
    return save_arrays(path, params, meta)


def load_params(path, groups=False):
    """(params, meta) from a file written by `save_arrays`: the top-level W1, b1, ...

    With `groups`, also the arrays inside groups, keyed "group/name".
    """
    import h5py

    try:
        with h5py.File(path, "r") as f:
            params = {key: f[key][()] for key in f.keys() if isinstance(f[key], h5py.Dataset)}
            if groups:
                for g in (k for k in f.keys() if isinstance(f[k], h5py.Group)):
                    params.update({f"{g}/{k}": f[g][k][()] for k in f[g].keys()})
            meta = {key: json.loads(value) for key, value in f.attrs.items()}
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(f"{path}: cannot read the parameters ({exc.__class__.__name__}); the file is damaged") from None
    return params, meta


def update_latest(root, run_dir) -> None:
    """Point `<root>/latest` at the newest run, replacing the link atomically."""
    root, run_dir = Path(root), Path(run_dir)
    tmp = root / f".{LATEST}.{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(run_dir.name, target_is_directory=True)
        os.replace(tmp, root / LATEST)
    except OSError:
        tmp.unlink(missing_ok=True)
        atomic_write(root / f"{LATEST}.txt", run_dir.name + "\n")  # where links are not allowed


@dataclass
class Run:
    path: Path
    params: dict
    meta: dict
    metrics: dict
    note: str | None = None  # set when the run is unfinished and its parameters are partial

    @property
    def activations(self) -> list:
        return self.meta["activations"]


def resolve_run_path(path) -> Path:
    """The run a path names; `runs/latest` becomes the run it links to, so messages name it."""
    path = Path(path)
    if path.is_symlink():
        return path.parent / os.readlink(path)
    if path.name == LATEST and not path.exists() and (path.parent / f"{LATEST}.txt").exists():
        path = path.parent / (path.parent / f"{LATEST}.txt").read_text().strip()
    return path


def load_run(path) -> Run:
    """A run's parameters and metadata; an unfinished run's last checkpoint, with a note saying so."""
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; train one with `nnctl train CONFIG` or pass --run")
    metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
    status = run_status(metrics) if metrics else "unknown"
    params_file, checkpoint = path / PARAMS, path / CHECKPOINT
    note = None
    if params_file.exists():
        params, meta = load_params(params_file)
        if status == "interrupted" and checkpoint.exists():
            note = f"unfinished run ({status} at iteration {meta.get('iterations')}): using its parameters so far"
    elif checkpoint.exists():
        params, meta = load_params(checkpoint)
        note = (
            f"unfinished run ({status}): using its last checkpoint, iteration {meta.get('iterations')}; "
            f"resume with: nnctl train --resume {path}"
        )
    else:
        raise RunError(f"{path}: the run has no {PARAMS} and no {CHECKPOINT} (unfinished or failed run); train it again")
    return Run(path=path, params=params, meta=meta, metrics=metrics, note=note)


def run_status(metrics: dict) -> str:
    """A 'running' run whose process is gone on this host was interrupted or killed."""
    status = metrics.get("status", "unknown")
    if status == "running" and metrics.get("pid"):
        import platform

        if metrics.get("host") == platform.node():
            try:
                os.kill(int(metrics["pid"]), 0)
            except ProcessLookupError:
                return "interrupted"
            except (PermissionError, ValueError):
                pass
    return status


RESULT_KEYS = ("layers", "train_accuracy", "test_accuracy", "train_rmse", "test_rmse", "final_cost", "seconds")


def result_fields(metrics: dict) -> dict:
    """The columns that run listings and sweep summaries show, from one metrics.json."""
    return {k: metrics.get(k) for k in RESULT_KEYS}


def list_runs(root) -> list:
    """Every run under `root` (sweep trials included), oldest first, from metrics.json alone."""
    root = Path(root)
    if not root.is_dir():
        raise RunError(f"{root}: no runs directory; train a run first, or pass --runs-dir")
    rows = []
    for metrics_path in sorted(root.glob(f"*/{METRICS}")) + sorted(root.glob(f"sweep-*/*/{METRICS}")):
        run = metrics_path.parent
        if run.is_symlink() or run.parent.is_symlink():
            continue
        try:
            m = json.loads(metrics_path.read_text())
        except (OSError, ValueError):
            m = {"status": "unreadable"}
        rows.append(
            {
                "run": str(run.relative_to(root)),
                "started": m.get("started"),
                **result_fields(m),
                "status": run_status(m),
            }
        )
    rows.sort(key=lambda r: (r["started"] or "", r["run"]))
    return rows


def _flatten(d, prefix=""):
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, key + "."))
        else:
            out[key] = v
    return out


def compare_runs(a, b) -> dict:
    """{'spec': {key: (a, b)} for keys that differ, 'metrics': {key: (a, b)} for all}."""
    import yaml

    sides = []
    for path in (resolve_run_path(a), resolve_run_path(b)):
        resolved = path / "config.resolved.yaml"
        if not resolved.exists():
            raise RunError(f"{path}: no config.resolved.yaml; is this a run directory?")
        spec = _flatten(yaml.safe_load(resolved.read_text()) or {})
        metrics = read_json(path / METRICS) if (path / METRICS).exists() else {}
        sides.append((spec, metrics))
    (sa, ma), (sb, mb) = sides
    spec = {k: (sa.get(k), sb.get(k)) for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)}
    keys = ["status", "train_accuracy", "test_accuracy", "train_rmse", "test_rmse", "final_cost", "iterations", "seconds", "iterations_per_second"]
    metrics = {k: (ma.get(k), mb.get(k)) for k in keys if k in ma or k in mb}
    return {"spec": spec, "metrics": metrics}
