"""Experiment tracking in MLflow: a run's spec, curves, scores and files where teams already look.

Two ways in, one writer:
- `MlflowListener`, a listener of the training loop (`nnctl train --log mlflow`): each recorded cost,
  training accuracy and validation score goes into a list (the loop pays one append); a background thread creates the
  MLflow run and sends what has gathered every FLUSH_SECONDS, so the loop never waits on MLflow;
  `finish(run_dir)` then logs the parameters, the learning rate per record, the final scores and
  the run's files, and closes the MLflow run with the run's status.
- `log_run_folder(run_dir)` (`nnctl runs log RUN`, and each trial of `nnctl sweep --log mlflow`):
  the same, read from a finished run folder.

A tracking server that cannot be reached never costs the local run: the first failure is reported
once through `warn` and nothing more is sent. The tracking URI is MLflow's own
(MLFLOW_TRACKING_URI, else MLflow's default: `./mlruns` in MLflow 2, `sqlite:///mlflow.db` from 3.7);
the experiment is MLFLOW_EXPERIMENT_NAME, else "nnctl".

mlflow is imported lazily, inside the functions that talk to it: importing it takes 2-3 s of CPU
(measured: `python3 -c "import mlflow"`), which no command without --log mlflow should pay.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import tempfile
import threading
import time
from pathlib import Path

import yaml

from nnctl import __version__
from nnctl.errors import NnctlError
from nnctl.rundir.layout import CHECKPOINT, COSTS_CSV, METRICS, REPRODUCE, RESOLVED, Status
from nnctl.rundir.runs import kept_metrics, read_costs_columns, read_json_object, read_text_capped, run_status
from nnctl.core.training import Listener
from nnctl.errors import RunError
from nnctl.experiment.export import export_run
from nnctl.rundir.runs import load_run

TRACKERS = ("mlflow",)
FLUSH_SECONDS = 5.0  # the background thread sends gathered metrics this often
DEFAULT_EXPERIMENT = "nnctl"
STATUSES = {
    Status.COMPLETED: "FINISHED",
    Status.INTERRUPTED: "KILLED",
    "pruned": "KILLED",
    Status.DIVERGED: "FAILED",
    "failed": "FAILED",
    Status.RUNNING: "RUNNING",
}
# metrics.json key -> the MLflow metric logged once, at the last step: each of the parameters saved (the
# best ones where early stopping restored them). The final parameters' training accuracy is
# final_train_accuracy: train_accuracy is the curve (below), one value per record, as cost is the curve
# beside final_cost; so the validation scores are final_validation_accuracy and final_validation_cost
# beside their curves, whose latest value is the last record's (parameters early stopping may have dropped).
FINAL_METRICS = {
    "train_accuracy": "final_train_accuracy",
    "test_accuracy": "test_accuracy",
    "train_rmse": "train_rmse",
    "test_rmse": "test_rmse",
    "validation_accuracy": "final_validation_accuracy",
    "validation_cost": "final_validation_cost",
    "validation_rmse": "validation_rmse",
    "final_cost": "final_cost",
    "seconds": "seconds",
    "iterations": "iterations",
    "epochs": "epochs",
    "iterations_per_second": "iterations_per_second",
}
# costs.csv column -> the MLflow metric logged at each recorded epoch (the file's first column is the step)
CURVES = {
    "cost": "cost",
    "train_accuracy": "train_accuracy",
    "validation_cost": "validation_cost",
    "validation_accuracy": "validation_accuracy",
    "learning_rate": "learning_rate",
}
SKIPPED_FILES = (CHECKPOINT,)  # the resumable state of an unfinished run is not a result


class TrackingError(NnctlError):
    """`--log` with a tracker nnctl does not have, or without its package."""


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None  # found without importing it


def check_tracker(name: str | None, option: str = "--log") -> None:
    """`--log NAME` before any work: a tracker nnctl has, its package installed."""
    if name is None:
        return
    if name not in TRACKERS:
        raise TrackingError(f"{option} {name}: not a tracker nnctl logs to; give {option} {' or '.join(TRACKERS)}")
    if not _installed("mlflow"):
        raise TrackingError("--log mlflow needs the mlflow package; install it with: pip install 'nnctl[mlflow]'")


def _client():
    """(MlflowClient, experiment id) at MLflow's own tracking URI; network calls fail fast, not after minutes of retries."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
    from mlflow.tracking import MlflowClient  # lazy: see the module's docstring

    client = MlflowClient()
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment is not None else client.create_experiment(name)
    return client, experiment_id


def flatten(spec, prefix: str = "") -> dict:
    """The resolved spec as MLflow parameters: nested keys joined by dots, values as text."""
    out = {}
    for key, value in spec.items():
        if isinstance(value, dict):
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, (list, bool)) or value is None else str(value)
    return out


def _read_folder(run_dir: Path) -> dict:
    """What a run folder holds for MLflow, each file checked as input (a damaged one: a RunError naming it)."""
    resolved = run_dir / RESOLVED
    try:
        spec = yaml.safe_load(read_text_capped(resolved))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        raise RunError(f"{resolved}: cannot be read as YAML; the run's files are damaged") from None
    if not isinstance(spec, dict):
        raise RunError(f"{resolved}: holds no spec mapping; the run's files are damaged")
    metrics = kept_metrics(read_json_object(run_dir / METRICS))  # of the parameters saved, whichever version wrote it
    reproduce = read_json_object(run_dir / REPRODUCE) if (run_dir / REPRODUCE).exists() else {}
    try:
        costs = read_costs_columns(run_dir / COSTS_CSV) if (run_dir / COSTS_CSV).exists() else {}
    except ValueError as exc:
        raise RunError(f"{run_dir / COSTS_CSV}: {exc}; the run's files are damaged") from None
    return {"spec": spec, "metrics": metrics, "reproduce": reproduce, "costs": costs}


def _tags(run_dir: Path, folder: dict) -> dict:
    tags = {"nnctl.version": __version__, "nnctl.run_dir": str(run_dir.resolve()), "mlflow.runName": run_dir.name}
    data = folder["reproduce"].get("data")
    for role, entry in data.items() if isinstance(data, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("sha256"), str):
            tags[f"nnctl.data.{role}.sha256"] = entry["sha256"]
    if isinstance(folder["reproduce"].get("run_id"), str):
        tags["nnctl.run_id"] = folder["reproduce"]["run_id"]
    return tags


def _curve_metrics(costs: dict, learning_rate, skip=()) -> list:
    """[(key, value, step)] of every recorded epoch in costs.csv but the (key, step) pairs in `skip`
    (sent already); the learning rate from the spec when the file has no column for it: it did not change."""
    if not costs:
        return []
    steps = next(iter(costs.values()))
    columns = {**costs}
    if "learning_rate" not in columns and isinstance(learning_rate, (int, float)):
        columns["learning_rate"] = [float(learning_rate)] * len(steps)
    out = []
    for column, key in CURVES.items():
        if column in columns:
            out += [(key, float(v), int(s)) for s, v in zip(steps, columns[column]) if not math.isnan(v) and (key, int(s)) not in skip]  # NaN: not recorded
    return out


class _Sender:
    """One MLflow run, written by whoever calls it; after the first failure it only counts what it drops."""

    def __init__(self, warn):
        self.warn, self.failed, self.client, self.run_id = warn, False, None, None
        self.lock = threading.Lock()

    def attempt(self, what: str, func) -> bool:
        if self.failed:
            return False
        try:
            func()
            return True
        except Exception as exc:  # noqa: BLE001 - any failure of the tracking server or store: the local run goes on
            self.failed = True
            uri = os.environ.get("MLFLOW_TRACKING_URI") or "MLflow's default tracking URI"
            self.warn(
                f"MLflow: {what} failed at {uri} ({exc.__class__.__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}); "
                "nothing more is logged to it, the run folder is complete; import it later with: nnctl runs log RUN"
            )
            return False

    def open(self, name: str, tags: dict, parent: str | None = None, run_id: str | None = None) -> bool:
        def start():
            self.client, experiment_id = _client()
            all_tags = {**tags, **({"mlflow.parentRunId": parent} if parent else {})}
            self.run_id = self.client.create_run(experiment_id, run_name=name, tags=all_tags).info.run_id

        return self.attempt("creating the run", start)

    def metrics(self, rows) -> None:
        from mlflow.entities import Metric  # optional (the mlflow extra) and slow to load: see the module's docstring

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, s) for k, v, s in rows]
        for i in range(0, len(items), 1000):  # MLflow takes at most 1000 metrics a call
            self.attempt("logging metrics", lambda chunk=items[i : i + 1000]: self.client.log_batch(self.run_id, metrics=chunk))

    def params(self, params: dict) -> None:
        from mlflow.entities import Param  # optional (the mlflow extra) and slow to load: see the module's docstring

        items = [Param(k, v[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):  # and at most 100 parameters
            self.attempt("logging parameters", lambda chunk=items[i : i + 100]: self.client.log_batch(self.run_id, params=chunk))

    def tags(self, tags: dict) -> None:
        for k, v in tags.items():
            self.attempt("setting tags", lambda k=k, v=v: self.client.set_tag(self.run_id, k, v))

    def files(self, run_dir: Path, extra=()) -> None:
        for path in sorted(run_dir.iterdir()) + list(extra):
            if path.is_file() and not path.is_symlink() and path.name not in SKIPPED_FILES and not path.name.startswith("."):
                self.attempt(f"uploading {path.name}", lambda p=path: self.client.log_artifact(self.run_id, str(p)))

    def close(self, status: str) -> None:
        self.attempt("closing the run", lambda: self.client.set_terminated(self.run_id, STATUSES.get(status, "FAILED")))


def _finish(sender: _Sender, run_dir: Path, folder: dict, onnx: bool, skip_curves=()) -> None:
    """Parameters, curves not yet sent, final scores, files (and model.onnx), status: from the run folder."""
    sender.params(flatten(folder["spec"]))
    sender.tags(_tags(run_dir, folder))
    lr = (folder["spec"].get("train") or {}).get("learning_rate")
    final_step = folder["metrics"].get("epochs") if isinstance(folder["metrics"].get("epochs"), int) else 0
    finals = [
        (name, float(folder["metrics"][k]), final_step)
        for k, name in FINAL_METRICS.items()
        if isinstance(folder["metrics"].get(k), (int, float)) and not isinstance(folder["metrics"].get(k), bool)
    ]
    sender.metrics(_curve_metrics(folder["costs"], lr, skip_curves) + finals)
    with tempfile.TemporaryDirectory() as tmp:
        extra = []
        if onnx:
            extra.append(_onnx_file(run_dir, Path(tmp), sender.warn))
        sender.files(run_dir, [p for p in extra if p is not None])
    sender.close(str(run_status(folder["metrics"], run_dir)))  # `running` only while its lock is held: a dead run is KILLED


def _onnx_file(run_dir: Path, tmp: Path, warn) -> Path | None:
    """model.onnx of the run in `tmp`, or None (said through `warn`) when the run cannot be exported."""
    try:
        return export_run(load_run(run_dir), tmp / "model.onnx", "onnx")
    except NnctlError as exc:
        warn(f"MLflow: model.onnx not logged: {exc}")
        return None


def log_run_folder(run_dir, warn, onnx: bool = False, parent: str | None = None) -> str | None:
    """Import a run folder into MLflow as one run (a nested one under `parent`); its MLflow run id,
    or None when the tracking server failed (said once through `warn`)."""
    run_dir = Path(run_dir)
    folder = _read_folder(run_dir)
    sender = _Sender(warn)
    if not sender.open(run_dir.name, {"nnctl.imported": "true"}, parent):
        return None
    _finish(sender, run_dir, folder, onnx)
    return None if sender.failed else sender.run_id


def log_sweep(sweep_dir, trial_dirs, warn, onnx: bool = False) -> str | None:
    """A sweep as a parent MLflow run (its plan's files) with one nested run per trial folder."""
    sweep_dir = Path(sweep_dir)
    sender = _Sender(warn)
    if not sender.open(sweep_dir.name, {"nnctl.version": __version__, "nnctl.sweep_dir": str(sweep_dir.resolve())}):
        return None
    for trial in trial_dirs:
        if sender.failed:
            break
        nested = _Sender(sender.warn)
        if (Path(trial) / METRICS).exists() and nested.open(Path(trial).name, {}, parent=sender.run_id):
            _finish(nested, Path(trial), _read_folder(Path(trial)), onnx)
        sender.failed = sender.failed or nested.failed
    sender.files(sweep_dir)
    sender.close(Status.COMPLETED)
    return None if sender.failed else sender.run_id


class MlflowListener(Listener):
    """Training events into an MLflow run. The loop's cost: one list append per recorded epoch."""

    def __init__(self, name: str, warn, onnx: bool = False, flush_seconds: float = FLUSH_SECONDS):
        self.name, self.onnx, self.flush_seconds = name, onnx, flush_seconds
        self.sender = _Sender(warn)
        self.pending: list = []  # (key, value, step) not yet sent
        self.sent: set = set()  # (key, step) sent live: finish sends the rest of the curve (a resumed run's earlier part)
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def connect(self) -> bool:
        """Import mlflow and create the MLflow run, before training: done during the loop, the import's
        seconds of CPU (and the GIL it holds) doubled a short run's training time. False (said once) if it failed."""
        if self.sender.run_id is None and not self.sender.failed and self.sender.open(self.name, {"nnctl.version": __version__}):
            from mlflow.entities import Metric  # noqa: F401  (lazy, as above: here, not in the loop's first flush)
        return self.sender.run_id is not None

    def on_start(self, total: int, start: int) -> None:
        if self.thread is None and self.connect():
            self.thread = threading.Thread(target=self._send, name="nnctl-mlflow", daemon=True)
            self.thread.start()

    def on_cost(self, iteration: int, cost: float) -> None:
        self.pending.append(("cost", float(cost), int(iteration)))

    def on_train_accuracy(self, iteration: int, accuracy: float) -> None:
        self.pending.append(("train_accuracy", float(accuracy), int(iteration)))

    def on_validation(self, iteration: int, cost: float, accuracy: float | None) -> None:
        self.pending.append(("validation_cost", float(cost), int(iteration)))
        if accuracy is not None:
            self.pending.append(("validation_accuracy", float(accuracy), int(iteration)))

    def _flush(self) -> None:
        n = len(self.pending)
        rows = self.pending[:n]
        del self.pending[:n]  # the loop may append meanwhile: only what was taken goes
        rows = [r for r in rows if not math.isnan(r[1])]  # a NaN (a diverging run's cost, an uncounted accuracy) is not a number MLflow can plot
        if rows and self.sender.run_id is not None:
            self.sender.metrics(rows)
            self.sent.update((k, step) for k, _, step in rows)

    def _send(self) -> None:
        while not self.done.wait(self.flush_seconds):
            self._flush()
        self._flush()

    def abandon(self) -> None:
        """Training failed before its folder was complete: what was gathered is sent and the MLflow run
        marked failed; refused before training began (bad data, a completed run given to --resume), the
        MLflow run is deleted: it holds nothing."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if self.sender.run_id is not None and self.thread is None:
            self.sender.attempt("deleting the empty run", lambda: self.sender.client.delete_run(self.sender.run_id))
        elif self.sender.run_id is not None:
            self.sender.close("failed")

    def finish(self, run_dir) -> str | None:
        """After the run folder is written (report.html included): the rest, from the folder. The MLflow run id, or None."""
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if self.sender.run_id is None or self.sender.failed:
            return None
        self._flush()  # what the loop recorded after the thread's last send
        run_dir = Path(run_dir)
        _finish(self.sender, run_dir, _read_folder(run_dir), self.onnx, skip_curves=self.sent)
        return None if self.sender.failed else self.sender.run_id
