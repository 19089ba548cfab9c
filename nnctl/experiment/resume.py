"""Resuming a run: whether its folder can go on, and whether what is on disk belongs to it.

A resume trains the run's own config.resolved.yaml again in its own folder (nnctl.experiment.run's
train_run with `resume=True`), starting from the checkpoint where there is one. Before a step is
taken, this module checks what the folder holds against the spec and the data:

    resumable(path)   the folder is a run (not a sweep), not completed or diverged, held by no other
                      process (its lock, kept for the whole resume); a damaged metrics.json is a note
    recorded(run_dir) reproduce.json's types: the BLAS threads, the data's SHA-256, the run's id
    check_data_first  before the data are read: the training, test and validation files hash as they
                      did when the run began (a changed file is named as such, not by what it then
                      breaks: a table's encoding, the layers, the checkpoint's shapes or count of
                      examples), and data.normalize and data.validation are those it began with
    check_belongs     a table run's table.json (check_table), then the spec's fingerprint, the
                      checkpoint's settings, shapes, position, sessions
    check_table       a table run's table.json, which predict and evaluate will need, is there, is the
                      one training wrote, and is the encoding the spec's data settings give
    check_same_data   the training, test and validation data are still those the run started with (as read)

Each refusal is one line naming the file and what to do (put it back, or train the run again), in
the order of causes: the folder, its record, the data, table.json, the spec, the checkpoint.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.util.text import shell_quote
from nnctl.core.backend import DEVICE_NAMES
from nnctl.core.optimizers import SCHEDULES, epoch_rate
from nnctl.core.training import Batches
from nnctl.data.dataset import BUILTIN_PREFIX, Dataset, file_sha256, source_path
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
    TABLE_DIGEST,
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
    return f"resume: nnctl train --resume {shell_quote(run_dir)}"


def check_table(run_dir: Path, encoding: dict, digest: str | None = None) -> None:
    """A resumed run trained on a table has its table.json, the encoding its data gives it (the same
    data: check_data_first): predict and evaluate need it once the run ends, so a run without it is
    refused before training, not trained to the end and left unusable. It is not rebuilt: the
    encoding a resume fits could be checked only against the digest params.h5 and the checkpoint keep
    of it, and a missing file means the folder lost files nnctl cannot vouch for.

    `digest` is the checkpoint's record of the table.json training wrote: with it, an encoding that
    differs is told apart as an edited table.json or as edited data settings in the spec (the
    data file itself is checked before)."""
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
    stored = read_json_object(file, fix=fix)
    try:
        kept, now = json_digest(stored), json_digest(encoding)
    except ValueError:
        kept, now = None, json_digest(encoding)
    if kept == now:
        return
    if not (run_dir / REPRODUCE).exists():  # the data file went unchecked: the data, not the settings, may have changed
        raise RunError(
            f"{run_dir / REPRODUCE}: missing, so the data the run started with (its SHA-256) cannot be checked, and the table "
            f"encoding the data and settings give now is not the run's {TABLE}; put the run's {REPRODUCE} back from a copy "
            f"(and its data file as it was), or train the run again: nnctl train {run_dir / RESOLVED}"
        )
    if digest is not None and kept != digest:
        raise RunError(f"{file}: is not the file training wrote (its digest, recorded in {CHECKPOINT}, differs); {fix}")
    if digest is not None:  # table.json is the run's own: the spec's data settings give another encoding now
        raise settings_changed(run_dir, _table_differences(stored, encoding))
    raise RunError(f"{file}: is not the encoding of the run's table (its columns, classes or fill values differ); {fix}")


def settings_changed(run_dir: Path, diffs: str) -> RunError:
    return RunError(
        f"{run_dir / RESOLVED}: its data settings are not those the run started with ({diffs}); "
        f"put them back as they were, or train the edited spec as a new run: nnctl train {run_dir / RESOLVED}"
    )


def _table_differences(stored: dict, now: dict) -> str:
    """What differs between the table.json the run started with and the encoding of the spec now, by
    the data setting that decides it (the data file being the same)."""
    said = []
    for key in ("target", "missing", "unseen"):
        if stored.get(key) != now.get(key):
            said.append(f"data.{key}: {quoted(now.get(key)):.40} in the spec, {quoted(stored.get(key)):.40} when the run started")
    header = lambda d: _header_word(d.get("header", "auto"))  # noqa: E731  (absent: auto, a run of before data.header)
    if header(stored) != header(now):
        said.append(f"data.header: {header(now)} in the spec, {header(stored)} when the run started")
    columns = lambda d: [*(d.get("numeric") or []), *(d.get("categorical") or [])]  # noqa: E731
    if not said and columns(stored) != columns(now):
        said.append(f"data.features or data.drop: features {quoted(columns(now)):.60} in the spec, {quoted(columns(stored)):.60} when the run started")
    return "; ".join(said) or "the rows its fill values and categories come from: data.validation"


def _header_word(value) -> str:
    """data.header as a spec writes it: auto, true or false."""
    return "true" if value is True else "false" if value is False else str(value)


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
    if not isinstance(data, dict) or not all(role in DATA_ROLES and isinstance(v, dict) and isinstance(v.get("sha256"), str) for role, v in data.items()):
        raise bad("data", "train, test and validation entries, each with its sha256", data)
    if DATA_SETTINGS in rec:
        settings = rec[DATA_SETTINGS]
        if not isinstance(settings, dict):
            raise bad(DATA_SETTINGS, "an object", settings)
        if settings.get("normalize") not in NORMALIZED:
            raise bad(f"{DATA_SETTINGS}.normalize", " or ".join(NORMALIZED), settings.get("normalize"))
        v = settings.get("validation")
        if not (v is None or isinstance(v, str) and v or isinstance(v, float) and 0 < v < 1):
            raise bad(f"{DATA_SETTINGS}.validation", "null, a fraction between 0 and 1 or a file", v)
    for key in ("run_id", "fingerprint"):
        if key in rec and not (isinstance(rec[key], str) and 0 < len(rec[key]) <= 64 and rec[key].isalnum()):
            raise bad(key, "a hexadecimal id", rec[key])
    if "settings" in rec and not isinstance(rec["settings"], dict):
        raise bad("settings", "an object", rec["settings"])
    return rec


def check_belongs(
    run_dir: Path, spec: Spec, resolved: Spec, layer_dims: list, train: Dataset, mini_batch: bool, target_method: str, table: dict | None = None
) -> Resumed:
    """The spec, reproduce.json and the checkpoint must be of one run; refuse naming what differs.
    A table run's `table` (its encoding now) is checked first (check_table): edited data settings
    change the layers too, and are named as themselves. Returns what the earlier sessions left: the
    run's id, its checkpoint and their seconds."""
    rec = recorded(run_dir)
    path = run_dir / CHECKPOINT
    ckpt = checkpoint.load(run_dir) if path.exists() else None
    if table is not None:
        digest = ckpt.meta.get(TABLE_DIGEST) if ckpt is not None else None
        check_table(run_dir, table, digest if isinstance(digest, str) else None)
    settings_now = checkpoint.settings(resolved)
    if "fingerprint" in rec and rec["fingerprint"] != checkpoint.fingerprint(resolved):
        diffs = checkpoint.differences(rec.get("settings"), settings_now) or "model or train settings differ"
        raise RunError(
            f"{run_dir / RESOLVED}: is not the spec the run started with ({diffs}); put it back as it was, "
            f"or train the edited spec as a new run: nnctl train {run_dir / RESOLVED}"
        )
    check_settings(run_dir, resolved.data.normalize, resolved.data.validation, ckpt.meta if ckpt is not None else None)
    resumed = Resumed(active=True, run_id=rec.get("run_id"), started=_started(run_dir))
    if ckpt is None:
        return resumed
    resumed.ckpt = ckpt
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


DATA_ROLES = ("train", "test", "validation")  # reproduce.json's data entries: every source a spec reads (DataSpec)
ROLE_NAMES = {"train": "training", "test": "test", "validation": "validation"}
DATA_SETTINGS = "data_settings"  # reproduce.json: data.normalize (as resolved) and data.validation when the run began
NORMALIZED = ("none", "standardize")  # what data.normalize resolves to (auto chooses one of them from the data)


def data_settings(resolved: Spec) -> dict:
    """What reproduce.json records of a new run's data settings that neither its fingerprint (model
    and train) nor a table's table.json holds: data.normalize as resolved, data.validation."""
    return {"normalize": resolved.data.normalize, "validation": resolved.data.validation}


def data_changed(run_dir: Path, role: str, source) -> DataError:
    """The refusal of a resume whose training, test or validation file is not the one the run began on."""
    return DataError(
        f"{source}: the {ROLE_NAMES.get(role, role)} data file changed since the run began (its SHA-256 differs from the one in {run_dir / REPRODUCE}); "
        f"resuming would train on other data: put the file back as it was, or start a new run on it: nnctl train {run_dir / RESOLVED}"
    )


def check_data_first(run_dir: Path, spec: Spec) -> list:
    """Before the data are read: each training, test and validation file on disk hashes as
    reproduce.json recorded it when the run began, and data.normalize and data.validation are those
    it began with (check_settings). A changed file or setting would otherwise be refused for what it
    breaks (a table's encoding, the layers, the checkpoint's shapes or count of examples), trained on
    without a word (data.normalize), or not read at all. A source that is not a file (built-in,
    arrays), or one that cannot be read, is left to reading and to check_same_data.

    Returns the notes of what cannot be checked: a validation file of a run begun before
    reproduce.json recorded its SHA-256 (the resume goes on with the file as it is, as it did)."""
    if not (run_dir / REPRODUCE).exists():
        return []
    rec = recorded(run_dir)
    known, notes = rec.get("data", {}), []
    d = spec.data
    for role, source in (("train", d.train), ("test", d.test), ("validation", d.validation)):
        if not isinstance(source, str) or source.startswith(BUILTIN_PREFIX):
            continue
        if role not in known:
            if role == "validation" and DATA_SETTINGS not in rec and os.path.isfile(source):
                notes.append(
                    f"{source}: the validation file's SHA-256 is not in {run_dir / REPRODUCE} (the run began before nnctl recorded it), "
                    "so the resume cannot tell whether it changed since; resumed with the file as it is"
                )
            continue
        if not os.path.isfile(source):
            continue
        try:
            digest = file_sha256(source)
        except OSError:
            continue  # reading it says why
        if digest != known[role]["sha256"]:
            raise data_changed(run_dir, role, source)
    check_settings(run_dir, d.normalize if d.normalize != "auto" else None, d.validation)
    check_data_settings(run_dir, spec)
    return notes


def _setting(value) -> str:
    """A data setting's value as a message shows it: none, a fraction, a quoted file."""
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else quoted(str(value))[:80]


def check_settings(run_dir: Path, normalize: str | None, validation, ckpt_meta: dict | None = None) -> None:
    """data.normalize (None: auto, not yet resolved: not compared) and data.validation against
    reproduce.json's data_settings, what the run began with. A run begun before reproduce.json
    recorded them is compared where its checkpoint (`ckpt_meta`) says: the normalisation its
    parameters were trained on; its validation setting is not known (an edited fraction is then
    refused by the checkpoint's count of training examples). A validation file given for another is
    not a setting changed: its SHA-256 is compared (check_data_first)."""
    rec = recorded(run_dir)
    said = rec.get(DATA_SETTINGS)
    if isinstance(said, dict):
        old_normalize, known_validation, old_validation = said.get("normalize"), True, said.get("validation")
    else:
        pre = (ckpt_meta or {}).get("preprocessing")
        old_normalize = pre.get("normalize") if isinstance(pre, dict) else None
        known_validation, old_validation = False, None
    diffs = []
    if normalize is not None and old_normalize in NORMALIZED and normalize != old_normalize:
        diffs.append(f"data.normalize: {normalize} in the spec, {old_normalize} when the run started")
    if known_validation:
        kind = lambda v: "file" if isinstance(v, str) else v  # noqa: E731  (a file: its bytes are compared, not its path)
        if kind(validation) != kind(old_validation):
            diffs.append(f"data.validation: {_setting(validation)} in the spec, {_setting(old_validation)} when the run started")
    if diffs:
        raise settings_changed(run_dir, "; ".join(diffs))


def _recorded_table_digest(run_dir: Path) -> str | None:
    """The checkpoint's record of the table.json training wrote (its attributes alone; None where
    there is none or it cannot be read: check_belongs then reads the whole file and says why)."""
    import h5py  # start-up: as runs.load_params

    try:
        with h5py.File(run_dir / CHECKPOINT, "r") as f:
            digest = parse_json(f.attrs[TABLE_DIGEST]) if TABLE_DIGEST in f.attrs else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return digest if isinstance(digest, str) else None


def check_data_settings(run_dir: Path, spec: Spec) -> None:
    """Before the data are read: a table run's data settings in its spec (data.target, missing,
    unseen, header, features, drop) against its own table.json (the one its checkpoint records). Edited, they
    would be refused for what they break (model.layers against the table's features, the checkpoint's
    shapes, table.json), not as themselves. What cannot be told without the data is left to check_table."""
    file = run_dir / TABLE
    digest = _recorded_table_digest(run_dir) if (run_dir / CHECKPOINT).is_file() else None
    if digest is None or not file.is_file():
        return
    try:
        stored = read_json_object(file)
        if json_digest(stored) != digest:
            return  # not the file training wrote: check_table says so
    except (RunError, ValueError):
        return
    d = spec.data
    now = {"target": d.target if d.target is not None else stored.get("target"), "missing": d.missing, "unseen": d.unseen}
    if stored.get("header", "auto") != d.header:  # table.json holds data.header where it is not auto
        now["header"] = d.header
    columns = [*(stored.get("numeric") or []), *(stored.get("categorical") or [])]
    if d.features and sorted(d.features) != sorted(columns) or any(c in columns for c in d.drop or ()):
        now["numeric"], now["categorical"] = list(d.features or [c for c in columns if c not in set(d.drop or ())]), []
    else:
        now["numeric"], now["categorical"] = stored.get("numeric"), stored.get("categorical")
    if any(stored.get(k) != now[k] for k in now):
        raise settings_changed(run_dir, _table_differences(stored, now))


def check_same_data(run_dir: Path, train: Dataset, test: Dataset | None, validation: Dataset | None = None) -> None:
    """The training, test and validation data, as read, hash as they did when the run began
    (check_data_first checked the files before: this is what a built-in source, or a file changed
    since, is checked by). A validation part of the training file has no entry of its own."""
    if not (run_dir / REPRODUCE).exists():
        return
    known = recorded(run_dir).get("data", {})
    for role, data in (("train", train), ("test", test), ("validation", validation)):
        if data is not None and role in known and known[role]["sha256"] != data.sha256:
            raise data_changed(run_dir, role, source_path(data.source))
