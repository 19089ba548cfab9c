"""Resuming a run: whether its folder can go on, and whether what is on disk belongs to it.

A resume trains the run's own config.resolved.yaml again in its own folder (nnctl.experiment.run's
train_run with `resume=True`), starting from the checkpoint where there is one. Before a step is
taken, this module checks what the folder holds against the spec and the data:

    resumable(path)   the folder is a run (not a sweep), not completed or diverged, held by no other
                      process (its lock, kept for the whole resume); a damaged metrics.json is a note
    recorded(run_dir) reproduce.json's types: the BLAS threads, the data's SHA-256, the run's id
    check_belongs     the spec's fingerprint, the checkpoint's settings, shapes, position, sessions
    check_table       a table run's table.json, which predict and evaluate will need, is there and its own
    check_same_data   the training and test files are those the run started with

Each refusal is one line naming the file and what to do (put it back, or train the run again).
"""

from __future__ import annotations

import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.core.backend import DEVICE_NAMES
from nnctl.core.optimizers import SCHEDULES, epoch_rate
from nnctl.core.training import Batches
from nnctl.data.dataset import Dataset
from nnctl.errors import DataError, RunError
from nnctl.rundir import checkpoint
from nnctl.rundir.layout import CHECKPOINT, METRICS, PARAMS, REPRODUCE, RESOLVED, TABLE, Status
from nnctl.rundir.lock import run_lock
from nnctl.data.dataset import file_kind
from nnctl.rundir.runs import (
    check_outputs,
    is_sweep_dir,
    json_digest,
    json_kind,
    load_params,
    parse_json,
    read_json,
    read_json_object,
    read_text_capped,
    resolve_run_path,
    sweep_instead,
)
from nnctl.spec.config import Spec, load_config
from nnctl.util.text import quoted


@dataclass
class Resumed:
    """What the run's earlier sessions left to this one (a fresh run: `Resumed()`, nothing)."""

    active: bool = False  # this process continues a run in its own folder
    run_id: str | None = None  # reproduce.json's id of the run; its checkpoints carry it too
    ckpt: checkpoint.Checkpoint | None = None  # None: no checkpoint yet, the run starts over (seeded)
    sessions: list = field(default_factory=list)  # seconds of each earlier process that led to the checkpoint
    started: str | None = None  # when the run first began (metrics.json), kept across sessions
    steps: int = 0  # iterations done before this process (the checkpoint's position, which the loop then moves on)


@contextmanager
def resumable(path, device: str | None = None) -> Iterator[tuple[Path, Spec, list]]:
    """(run folder, its spec, notes) of a run that can be resumed, with the folder's lock held for the
    whole `with` block; `device` moves the run (cpu, gpu: the checkpoint is NumPy's either way)."""
    if device is not None and device not in DEVICE_NAMES:
        raise RunError(f"--device: {quoted(device):.40} is not a device; use one of {', '.join(DEVICE_NAMES)}")
    run_dir = resolve_run_path(path)
    if run_dir.is_dir() and is_sweep_dir(run_dir):
        raise sweep_instead(run_dir, resume=True)
    if not run_dir.is_dir() or not (run_dir / RESOLVED).exists():
        raise RunError(f"{run_dir}: not a run directory (no {RESOLVED}); give a runs/... directory to --resume")
    try:
        peek = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    except RunError:
        peek = {}
    pid = peek.get("pid") if isinstance(peek, dict) else None
    holder = f" (pid {pid})" if isinstance(pid, int) and not isinstance(pid, bool) else ""
    with run_lock(run_dir, holder):  # taken before the status is read: of two resumes, one refuses here
        # read first and written again: a folder in their place is named before anything reads it (train_run checks the rest)
        check_outputs([run_dir / METRICS, run_dir / CHECKPOINT], resume_then(run_dir))
        status, damaged = status_for_resume(run_dir)
        notes = [_without_metrics(run_dir, damaged)] if damaged else []
        if status == Status.COMPLETED:
            raise RunError(f"{run_dir}: the run already completed; nothing to resume")
        if status == Status.DIVERGED:
            raise RunError(f"{run_dir}: the run diverged; resuming would diverge again, so train it again with a smaller learning_rate")
        # `running` with the lock free: the process that wrote it is gone (killed, out of memory, machine down)
        spec = load_config(run_dir / RESOLVED)
        if "normalize_target" not in spec.data.model_fields_set:
            # a run begun before data.normalize_target existed trained on its targets as given: it goes on so
            spec = spec.model_copy(update={"data": spec.data.model_copy(update={"normalize_target": "none"})})
        if device is not None:
            spec = spec.model_copy(update={"train": spec.train.model_copy(update={"device": device})})
        yield run_dir, spec, notes


def resume_then(run_dir: Path) -> str:
    """What a refusal of a resume says to do once its cause is gone."""
    return f"resume: nnctl train --resume {run_dir}"


def check_table(run_dir: Path, encoding: dict) -> None:
    """A resumed run trained on a table has its table.json, the encoding its data gives it (the same
    data: check_same_data): predict and evaluate need it once the run ends, so a run without it is
    refused before training, not trained to the end and left unusable. It is not rebuilt: the
    encoding a resume fits could be checked only against the digest params.h5 and the checkpoint keep
    of it, and a missing file means the folder lost files nnctl cannot vouch for."""
    file = run_dir / TABLE
    fix = f"put the run's {TABLE} back from a copy, or train the run again: nnctl train {run_dir / RESOLVED}"
    try:
        st = file.stat()
    except FileNotFoundError:
        raise RunError(f"{file}: missing, but the run trains on a table and predict and evaluate need its encoding; {fix}") from None
    except OSError as exc:
        raise RunError(f"{file}: cannot be read ({exc.strerror}); check its permissions, then {resume_then(run_dir)}") from None
    if not stat.S_ISREG(st.st_mode):
        raise RunError(f"{file}: is {file_kind(st)}, not the table encoding the run needs; move it away and {fix}")
    try:
        same = json_digest(read_json_object(file, fix=fix)) == json_digest(encoding)
    except ValueError:
        same = False
    if not same:
        raise RunError(f"{file}: is not the encoding of the run's table (its columns, classes or fill values differ); {fix}")


def status_for_resume(run_dir: Path) -> tuple:
    """(the run's status, why metrics.json is damaged or None). A resume needs nothing else of
    metrics.json: the checkpoint holds the run's position and history, and the file is written anew."""
    path = run_dir / METRICS
    if not path.exists():
        return Status.INTERRUPTED, None
    text = read_text_capped(path)  # a FIFO, a folder, no permission, gigabytes: refused, with their own fix
    try:
        metrics = parse_json(text)
    except (OSError, ValueError) as exc:
        return Status.INTERRUPTED, f"cannot be read ({exc})"
    if not isinstance(metrics, dict):
        return Status.INTERRUPTED, f"holds {json_kind(metrics)}, not the JSON object nnctl writes"
    status = metrics.get("status", Status.INTERRUPTED)
    if status not in tuple(Status):
        return Status.INTERRUPTED, f"status: expected one of {', '.join(map(str, Status))} (got {status!r:.40})"
    return status, None


def _without_metrics(run_dir: Path, damaged: str) -> str:
    """The note of a resume whose metrics.json is damaged. Refused (RunError) where the run has ended,
    which only metrics.json said: its params.h5 and no checkpoint (a finished run's is removed; a stopped
    one keeps its own), or a params.h5 of all its epochs."""
    path, params, ckpt = run_dir / METRICS, run_dir / PARAMS, run_dir / CHECKPOINT
    meta = {}
    if params.exists():
        try:
            meta = load_params(params)[1]
        except (RunError, OSError, ValueError, KeyError):
            meta = {}  # a damaged params.h5 is rebuilt by the resume
    done, total = meta.get("epochs"), meta.get("total_iterations")
    if params.exists() and not ckpt.exists() or isinstance(done, int) and isinstance(total, int) and 0 < total <= done:
        unit = "iterations" if meta.get("iterations") == done else "epochs"  # full batch: one iteration an epoch
        why = f"all its {total} {unit}" if isinstance(total, int) and total == done else "its final parameters and no checkpoint"
        raise RunError(
            f"{path}: {damaged}; the run has ended ({PARAMS} holds {why}), so there is nothing to resume: delete {path} "
            f"to evaluate or predict with the run without it, or train it again: nnctl train {run_dir / RESOLVED}"
        )
    start = f"its checkpoint ({CHECKPOINT})" if (run_dir / CHECKPOINT).exists() else "the start (it has no checkpoint)"
    return f"{METRICS} was damaged ({damaged[:200]}); resumed from {start}, which holds all a resume needs, and {METRICS} written anew"


def recorded(run_dir: Path) -> dict:
    """reproduce.json of a run being resumed, its types checked ({} where there is none)."""
    path = run_dir / REPRODUCE
    if not path.exists():
        return {}
    rec = read_json(path)

    def bad(key, want, got):
        return RunError(f"{path}: {key}: expected {want} (got {quoted(got):.60}); the file is damaged or was edited, so train the run again")

    if not isinstance(rec, dict):
        raise RunError(f"{path}: holds {json_kind(rec)}, not the JSON object nnctl writes; the file is damaged, so train the run again")
    blas = rec.get("blas", {})
    if not isinstance(blas, dict):
        raise bad("blas", "an object", blas)
    threads = blas.get("threads")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= 4096):
        raise bad("blas.threads", "a whole number of threads from 1 to 4096", threads)
    data = rec.get("data", {})
    if not isinstance(data, dict) or not all(
        role in ("train", "test") and isinstance(v, dict) and isinstance(v.get("sha256"), str) for role, v in data.items()
    ):
        raise bad("data", "train and test entries, each with its sha256", data)
    for key in ("run_id", "fingerprint"):
        if key in rec and not (isinstance(rec[key], str) and 0 < len(rec[key]) <= 64 and rec[key].isalnum()):
            raise bad(key, "a hexadecimal id", rec[key])
    if "settings" in rec and not isinstance(rec["settings"], dict):
        raise bad("settings", "an object", rec["settings"])
    return rec


def check_belongs(run_dir: Path, spec: Spec, resolved: Spec, layer_dims: list, train: Dataset, mini_batch: bool, target_method: str) -> Resumed:
    """The spec, reproduce.json and the checkpoint must be of one run; refuse naming what differs.
    Returns what the earlier sessions left: the run's id, its checkpoint and their seconds."""
    rec = recorded(run_dir)
    settings_now = checkpoint.settings(resolved)
    if "fingerprint" in rec and rec["fingerprint"] != checkpoint.fingerprint(resolved):
        diffs = checkpoint.differences(rec.get("settings"), settings_now) or "model or train settings differ"
        raise RunError(
            f"{run_dir / RESOLVED}: is not the spec the run started with ({diffs}); put it back as it was, "
            f"or train the edited spec as a new run: nnctl train {run_dir / RESOLVED}"
        )
    resumed = Resumed(active=True, run_id=rec.get("run_id"), started=_started(run_dir))
    path = run_dir / CHECKPOINT
    if not path.exists():
        return resumed
    resumed.ckpt = ckpt = checkpoint.load(run_dir)
    scaled = (ckpt.meta.get("preprocessing") or {}).get("normalize_target", "none")
    if scaled != target_method:
        raise RunError(
            f"{path}: was written for a run whose targets were {'standardised' if scaled == 'standardize' else 'not scaled'} "
            f"(normalize_target: {str(scaled)[:40]}), but {run_dir / RESOLVED} says data.normalize_target: {target_method}; "
            f"put the spec back as it was, or {checkpoint.restart_hint(path)}"
        )
    t = spec.train
    batches = Batches(train.m, t.batch_size if mini_batch else None)
    checkpoint.check(
        ckpt,
        path,
        settings_now=settings_now,
        run_id=resumed.run_id,
        layer_dims=layer_dims,
        dtype=np.dtype(t.dtype),
        total_epochs=t.epoch_count,
        batches_per_epoch=batches.count,
        m=train.m,
        record_every=t.record_every,
        normalised=resolved.model.normalised_layers,
        rate=lambda e: epoch_rate(t.decay, t.learning_rate, e, total=t.epoch_count, **{k: getattr(t, k) for k in SCHEDULES[t.decay].keys}),
        shuffled=t.shuffle == "generator",
    )
    sessions = ckpt.meta.get("sessions", [])
    if not (
        isinstance(sessions, list)
        and len(sessions) <= 100_000
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1e12 for x in sessions)
    ):
        raise RunError(f"{path}: sessions: expected a list of seconds (got {quoted(sessions):.60}); {checkpoint.restart_hint(path)}")
    resumed.sessions = [float(x) for x in sessions]
    resumed.steps = ckpt.position.steps
    return resumed


def _started(run_dir: Path) -> str | None:
    """When the run first began, from metrics.json (None where it is missing or damaged: it is written anew)."""
    try:
        old = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    except RunError:
        old = {}  # damaged: written anew (resumable said so)
    started = old.get("started") if isinstance(old, dict) else None
    return started if isinstance(started, str) and len(started) <= 64 else None


def check_same_data(run_dir: Path, train: Dataset, test: Dataset | None) -> None:
    """The training and test files hash as they did when the run began."""
    if not (run_dir / REPRODUCE).exists():
        return
    known = recorded(run_dir).get("data", {})
    for role, data in (("train", train), ("test", test)):
        if data is not None and role in known and known[role]["sha256"] != data.sha256:
            raise DataError(
                f"{data.source}: the {role} data changed since the run started (SHA-256 differs from "
                f"{run_dir / REPRODUCE}); resuming would not reproduce the run, so train it again"
            )
