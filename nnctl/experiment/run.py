"""One experiment end to end, as a short script of named steps:

    load data -> choose the first layer -> preflight -> open the run directory -> initialise
    -> train -> save -> evaluate -> report

`train_run` is a plain function of a spec that returns its summary. Sweeps call it in worker
processes, so nothing here touches the terminal: progress goes through a `Reporter`, problems
through `NnctlError`. Resources (resources.py), checkpoints (checkpoint.py), reports
(metrics.py) and the run directory's names (layout.py) live in their own modules.
"""

from __future__ import annotations

import errno
import os
import platform
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nnctl.rundir import checkpoint
from nnctl.core.backend import DEVICE_NAMES, DeviceUnavailable, NumpyBackend, make_backend
from nnctl.spec.config import Spec, dump_spec, load_config, spec_warnings
from nnctl.data.dataset import (
    ARRAY_PREFIX,
    Dataset,
    Normalization,
    TargetScaling,
    arrays_sha256,
    read_raw,
    dataset_from_arrays,
    fit_normalization,
    fit_target_scaling,
    load_dataset,
    split_indices,
    split_validation,
)
from nnctl.errors import ConfigError, DataError, DivergedError, Interrupted, RunError
from nnctl.data.tables import Preprocessor, is_table, read_table, table_dataset
from nnctl.core.firstlayer import choose_first_layer
from nnctl.rundir.layout import BOUNDARY_PNG, CHECKPOINT, COSTS_CSV, COSTS_PNG, METRICS, PARAMS, REPRODUCE, RESOLVED, SPEC, TABLE, Status
from nnctl.core.layers import batch_norm_meta
from nnctl.rundir.metrics import Summary, evaluate_dataset, model_warnings, reproduce_info, write_costs_csv
from nnctl.core.network import HEADS, initialize_parameters, predict_proba
from nnctl.core.optimizers import OPTIMIZERS, SCHEDULES, epoch_rate, make_optimizer
from nnctl.core.regularization import Dropout, keep_probs_per_layer
from nnctl.core.validation import ValidationMonitor
from nnctl.util.plots import plot_costs, plot_decision_boundary
from nnctl.core.resources import _size, available_memory, blas_info, choose_blas_threads, memory_estimate, preflight  # noqa: F401 (re-exported)
from nnctl.rundir.lock import run_lock
from nnctl.core.stopping import blown_up, signals_held, worsened
from nnctl.rundir.runs import (
    _kind,
    _sweep_instead,
    is_sweep_dir,
    atomic_write,
    PARAMS_DIGESTS,
    TABLE_DIGEST,
    create_run_dir,
    json_digest,
    read_json,
    resolve_run_path,
    save_params,
    update_latest,
    write_json,
)
from nnctl.core.training import Batches, CheckpointEvery, Position, Reporter, StopAtEpoch, StopWhen, Trainer, gradient_descent
from nnctl.util.text import quoted

__all__ = ["train_run", "resume_run", "Summary", "available_memory", "memory_estimate", "evaluate_dataset", "make_rng", "load_data"]


INIT_RNGS = {
    "legacy": np.random.RandomState,  # the same stream as the course's np.random.seed(seed); randn
    "generator": np.random.default_rng,
}


def make_rng(spec: Spec):
    """The generator for initial weights: the course's legacy RandomState, or a modern Generator."""
    return INIT_RNGS[spec.model.init_rng](spec.train.seed)


def load_data(spec: Spec):
    """(train, test or None) checked against each other and against model.layers, normalised."""
    inputs = load_inputs(spec)
    return inputs.train, inputs.test


@dataclass
class Inputs:
    train: Dataset
    test: Dataset | None
    validation: Dataset | None
    normalization: Normalization
    spec: Spec | None = None  # the spec with the task a table's target chose
    table: Preprocessor | None = None  # a table's fitted column encoding (stored in the run as table.json)
    notes: list = field(default_factory=list)  # what was chosen from the data and why
    target: TargetScaling = field(default_factory=TargetScaling)  # a regression's targets as training sees them


def _table_inputs(spec: Spec, dtype) -> tuple:
    """(spec for the target's task, train, test, validation, preprocessor, notes) of a spec whose data are
    tables: the classes from the whole training file, every other statistic (categories, fill values)
    from its training rows alone (after a validation fraction is held out)."""
    d, model = spec.data, spec.model
    request = model.task if model.task != "auto" or not model.output_chosen else model.resolved_task
    table = read_table(d.train)
    fit = lambda rows=None: Preprocessor.fit(table, d.target, d.features, d.drop, d.missing, d.unseen, request, rows)  # noqa: E731
    prep = fit()
    validation = None
    if isinstance(d.validation, float):
        y, kept = prep.target_rows(table)
        keep, held = split_indices(kept.size, d.validation, spec.train.seed, y if prep.task == "classification" else None)
        if held.size == 0 or keep.size == 0:
            raise DataError(
                f"{d.train}: data.validation: {d.validation:g} of its {kept.size} rows leaves "
                f"{'no validation' if held.size == 0 else 'no training'} rows; use a larger fraction or give a validation file"
            )
        notes = prep.notes
        prep = fit(kept[keep])
        prep.notes = notes + [n for n in prep.notes if n not in notes]
        train = table_dataset(prep, table.rows(kept[keep]), dtype)
        validation = table_dataset(prep, table.rows(kept[held]), dtype)
        train.source, validation.source = f"{d.train} (training part, {keep.size} of {kept.size})", f"{d.train} (validation part, {held.size} of {kept.size})"
    else:
        train = table_dataset(prep, table, dtype)
        if isinstance(d.validation, str):
            validation = table_dataset(prep, read_table(d.validation), dtype)
    test = table_dataset(prep, read_table(d.test), dtype) if d.test else None
    try:
        spec = spec.model_copy(update={"model": model.for_task(prep.task)})
    except ValueError as exc:
        raise ConfigError(f"{d.train}: {exc}") from None
    stopping = spec.train.early_stopping
    if prep.task == "regression" and stopping is not None and stopping.monitor == "validation_accuracy":
        # the spec's own check cannot know: the table's target decided the task
        raise ConfigError(
            f"{d.train}: train.early_stopping.monitor: the target {quoted(prep.target)} is a regression, which has no accuracy; use validation_cost"
        )
    return spec, train, test, validation, prep, list(prep.notes)


def load_inputs(spec: Spec, arrays: dict | None = None) -> Inputs:
    """The training, test and validation sets, checked, with the training set's normalisation
    (its statistics from the training examples alone, after any validation split) applied to all.
    Each is read into memory, or left in its file and streamed (nnctl.data.stream) where `data.stream`
    says so. `arrays` maps a source the spec names (`array:train`) to examples held in memory,
    (x (m, ...), y (m,), class names), one example per row: nnctl.fit's arrays."""
    from nnctl.data.stream import open_streamed, stream_choice

    dtype = np.dtype(spec.train.dtype)
    if is_table(spec.data.train):
        if spec.data.stream == "always":
            raise DataError(f"{spec.data.train}: data.stream: always reads mini-batches from an HDF5 file, and a table is read whole; use stream: auto")
        spec, train, test, validation, prep, notes = _table_inputs(spec, dtype)
        return _checked_inputs(spec, train, test, validation, prep, notes)
    task = spec.model.resolved_task

    def load(source, role):
        if source.startswith(ARRAY_PREFIX):
            if not arrays or source not in arrays:
                read_raw(source)  # says the arrays were nnctl.fit's and are not kept
            if spec.data.stream == "always":
                raise DataError(f"{source}: data.stream: always reads mini-batches from a file, and these arrays are in memory; use stream: auto")
            x, y, classes = arrays[source]
            return dataset_from_arrays(source, x, y, classes, arrays_sha256(x, y), task, dtype, max_classes=None)
        if stream_choice(spec, source, role):
            return open_streamed(source, task, role=role, dtype=dtype)
        return load_dataset(source, task, role=role, dtype=dtype, max_classes=None)

    train = load(spec.data.train, "train")
    test = load(spec.data.test, "test") if spec.data.test else None
    validation = None
    streamed = not isinstance(train.X, np.ndarray)
    if isinstance(spec.data.validation, str):
        validation = load(spec.data.validation, "test")
    elif spec.data.validation is not None:
        if streamed:
            raise DataError(
                f"{spec.data.train}: data.validation as a fraction splits examples held in memory, and this file is "
                "streamed (data.stream); give data.validation a file, or use data.stream: never"
            )
        train, validation = split_validation(train, spec.data.validation, spec.train.seed, stratified=task == "classification")
    return _checked_inputs(spec, train, test, validation, None, [])


def _checked_inputs(spec: Spec, train: Dataset, test, validation, prep, notes) -> Inputs:
    """The sets checked against each other and the model, normalised by the training set's statistics."""
    task = spec.model.resolved_task
    streamed = not isinstance(train.X, np.ndarray)
    if streamed and spec.data.normalize == "standardize":
        raise DataError(
            f"{spec.data.train}: data.normalize: standardize needs the training set in memory, and this file is "
            "streamed (data.stream); standardise the file beforehand and use normalize: none, or data.stream: never"
        )
    if task == "classification":
        _check_classes(spec, train, test)
        if validation is not None:
            _check_classes(spec, train, validation)
    for key, other in (("test", test), ("validation", validation)):
        if other is not None and other.n_x != train.n_x:
            raise DataError(
                f"{other.source}: examples have {other.n_x} features but the training data's have "
                f"{train.n_x} (input shape {train.preprocessing['input_shape']}); use a {key} file of the same layout"
            )
    if spec.model.layers is not None and spec.model.layers[0] != train.n_x:
        raise DataError(
            f"model.layers starts with {spec.model.layers[0]} but {spec.data.train} holds examples of "
            f"{train.n_x} features (input shape {train.preprocessing['input_shape']}); set model.layers[0] "
            f"to {train.n_x}, or give model.hidden and let the data decide"
        )
    if streamed and np.dtype(train.preprocessing["x_dtype"]) != np.uint8 and spec.data.normalize == "auto":
        norm = Normalization("none", "auto: streamed from its file, so used as stored (standardise the file beforehand if its features differ in scale)")
    else:
        norm = fit_normalization(spec.data.normalize, train.X, train.preprocessing["x_dtype"], train.source)
    for data in (train, test, validation):
        if data is not None:
            norm.apply(data.X)
            data.preprocessing = {**data.preprocessing, "normalize": norm.method}
    # the targets keep their own units in every Dataset; the trainer and the validation cost see them scaled
    target = fit_target_scaling(spec.data.normalize_target, task, spec.model.layer_activations[-1], train.Y, train.source)
    if target.active:
        notes = [
            *notes,
            f"target standardised for training ({target.reason.split(': ', 1)[1]}): costs are in standardised "
            "units, predictions and RMSE in the target's own (data.normalize_target: none trains on the targets as given)",
        ]
    return Inputs(train, test, validation, norm, spec, prep, notes, target)


def _check_classes(spec: Spec, train: Dataset, test: Dataset | None) -> None:
    """The head fits the training data's k classes, and the test labels are among them."""
    k, labels = train.k, np.unique(train.Y)
    if k > 2 and not train.classes and labels.size < k:
        missing = np.setdiff1d(np.arange(k), labels)
        raise DataError(
            f"{train.source}: labels {labels[:8].tolist()} leave out classes {missing[:5].tolist()}: number the classes "
            f"0 to {labels.size - 1} with none left out, or store a class list ('classes') that names all {k}; "
            "if y holds values to predict rather than classes, train a regression: model.output_activation: linear (loss mse)"
        )
    model = spec.for_classes(k).model
    head = HEADS[model.resolved_loss]
    if head.max_classes is not None and k > head.max_classes:
        beyond = labels[labels >= head.max_classes]
        named = f" ({', '.join(train.classes[:5])}{', ...' if k > 5 else ''})" if train.classes else ""
        raise DataError(
            f"{train.source}: {k} classes{named}, labels {beyond[:5].tolist()} beyond 0 and 1, but a "
            f"{model.layer_activations[-1]} output tells two apart; use output_activation: softmax "
            "(or leave output_activation out: more than two classes pick it)"
        )
    units = head.units(k)
    if model.layers is not None and model.layers[-1] != units:
        raise DataError(
            f"model.layers ends with {model.layers[-1]} but {spec.data.train} holds {k} classes: a "
            f"{model.layer_activations[-1]} output has one unit per class; set model.layers[-1] to {units}, "
            "or give model.hidden and let the data decide"
        )
    if test is not None and train.classes and test.classes and list(test.classes) != list(train.classes):
        raise DataError(
            f"{test.source}: classes [{', '.join(test.classes[:10])}] (label 0 first), but the training data's are "
            f"[{', '.join(train.classes[:10])}]: labels would mean other classes; use data of the same classes in the same order"
        )
    if test is not None and test.Y.size and int(test.Y.max()) >= k:
        beyond = np.unique(test.Y[test.Y >= k])
        raise DataError(
            f"{test.source}: labels {beyond[:5].tolist()} are beyond the training data's {k} classes (labels 0 to {k - 1}); use a test file of the same classes"
        )


@dataclass
class _Run:
    """What the steps share."""

    spec: Spec
    train: Dataset
    test: Dataset | None
    layer_dims: list
    resolved: Spec
    run_dir: Path | None = None
    own_dir: bool = True
    resume: bool = False
    ckpt: checkpoint.Checkpoint | None = None
    path: str = "primal"
    path_reason: str = ""
    started: str | None = None
    meta: dict = field(default_factory=dict)  # written into params.h5 and checkpoint.h5
    root: Path | None = None  # where a new run directory goes
    resumed_from: int = 0  # iterations done before this process
    setup_seconds: float = 0.0  # building the Trainer (the dual path's Gram matrix is paid here, once)
    validation: Dataset | None = None
    normalization: Normalization = field(default_factory=Normalization)
    target: TargetScaling = field(default_factory=TargetScaling)  # a regression's targets: scaled for training, turned back after
    monitor: ValidationMonitor | None = None
    run_id: str | None = None  # reproduce.json's id of the run; its checkpoints carry it too
    sessions: list = field(default_factory=list)  # seconds of each earlier process that led to the checkpoint
    session_t0: float | None = None  # when this process began its training work
    position: Position | None = None  # the loop's position, live (the loop updates it in place)
    saved: int | None = None  # the iteration of the newest checkpoint on disk
    saved_sessions: list | None = None  # the session seconds that checkpoint holds
    table: Preprocessor | None = None  # a table's column encoding, written as table.json
    notes: list = field(default_factory=list)  # what was chosen from the data (a table's target, encodings)
    backend: NumpyBackend | None = None  # nnctl.core.backend: where the math runs (train.device)
    pictures: bool = True  # costs.png and decision_boundary.png (nnctl.fit leaves them out: matplotlib is most of a tiny fit)

    @property
    def activations(self):
        return self.resolved.model.activations

    @property
    def dtype(self):
        return np.dtype(self.spec.train.dtype)

    @property
    def epsilon(self) -> float:
        """Batch norm's epsilon (the default where no layer is normalised)."""
        return self.resolved.model.batch_norm_epsilon

    @property
    def mini_batch(self) -> bool:
        return self.spec.train.batch_size is not None and self.spec.train.batch_size < self.train.m


def train_run(
    spec: Spec,
    *,
    config_text: str | None = None,
    runs_root=None,
    run_dir=None,
    reporter: Reporter | None = None,
    command: list | None = None,
    should_stop=None,
    resume: bool = False,
    listeners: tuple = (),
    arrays: dict | None = None,
    pictures: bool = True,
    stop_at_epoch: int | None = None,
    notes: Sequence[str] = (),
) -> Summary:
    """Load data, check resources, create the run directory, train, write every file.

    `arrays` holds examples given in memory for the sources the spec names `array:...`
    (load_inputs); `pictures=False` leaves out costs.png and decision_boundary.png.

    With `resume`, continue `run_dir` from its checkpoint (or from the start, seeded, if it has
    none): the final parameters equal those of an uninterrupted run. A diverged run keeps its
    files (last finite parameters, costs so far) and then raises `DivergedError`.
    Training runs with `train.blas_threads` BLAS threads (a resumed run: those it started with).
    `stop_at_epoch` stops it after that epoch as an interruption would (successive halving's budget).
    """
    from threadpoolctl import threadpool_limits

    threads = spec.train.blas_threads
    if resume and threads is None:
        threads = _recorded(Path(run_dir)).get("blas", {}).get("threads")
    with threadpool_limits(threads, user_api="blas"), ExitStack() as held:
        if resume:
            held.enter_context(run_lock(run_dir))  # one process per run: a second resume refuses
        try:
            run = _load(spec, run_dir, resume, arrays)
            run.pictures = pictures
            run.notes = [*run.notes, *notes]
        except MemoryError:
            raise RunError(
                f"out of memory while loading {spec.data.train} ({_size(available_memory())} available to this process); "
                "use train.dtype: float32 or fewer examples"
            ) from None
        batch = run.spec.train.batch_size if run.mini_batch else run.train.m
        assert batch is not None  # mini_batch: train.batch_size is given
        if threads is None and choose_blas_threads(run.layer_dims, batch) == 1:
            # a small step's work single-threaded (nnctl.core.resources.choose_blas_threads); else the
            # cores, or a sweep worker's share; reproduce.json records the count, resume reuses it
            held.enter_context(threadpool_limits(1, user_api="blas"))
        run.backend = _backend(spec)
        _choose_first_layer(run)
        _preflight(run, runs_root)
        if hasattr(should_stop, "gently"):  # a StopRequest: from the run folder on, a first signal lets every file be written
            should_stop.gently()
        try:
            with signals_held():  # the run folder whole, with metrics.json; a signal meanwhile is seen just after
                _open_run_dir(run, config_text, runs_root, command, held)
        except OSError as exc:  # a read-only file system, a full disk: before any training, nothing is lost
            raise RunError(
                f"{run.run_dir}: cannot write the run's files there ({exc.strerror or exc}); "
                + (
                    "resuming writes into the run folder: make it writable, or copy the run (cp -r) somewhere writable and resume the copy"
                    if resume
                    else "choose another --runs-dir"
                )
            ) from None
        except KeyboardInterrupt as exc:  # a second signal, held until metrics.json said `running`
            raise _stopped(run, exc, should_stop) from None
        try:
            trainer, batches = _initialise(run)
            try:
                result = _train(run, trainer, batches, reporter, should_stop, stop_at_epoch, listeners)
                if trainer.stream is not None:
                    trainer.stream.check()  # the examples trained on are the file hashed when the run began
            finally:
                if trainer.stream is not None:
                    trainer.stream.close()
            params = _save(run, trainer, batches, result)
            metrics = _evaluate(run, params, result)
            with signals_held():  # metrics.json, then the checkpoint's removal: never one without the other
                return _report(run, result, metrics)
        except (KeyboardInterrupt, MemoryError, OSError) as exc:
            raise _stopped(run, exc, should_stop) from None
        except DivergedError:
            raise  # metrics.json says diverged already
        except Exception as exc:  # found wrong during training (input, or a bug): the run says why, never "running"
            _failed(run, exc)
            raise


def prepare_trainer(spec: Spec):
    """(trainer, batches, layer_dims) for `spec`, initialised as `train` would, no run folder:
    for tools that drive the loop themselves (nnctl.experiment.lrfind)."""
    run = _load(spec, None, False)
    _choose_first_layer(run)
    trainer, batches = _initialise(run)
    return trainer, batches, run.layer_dims


# ---------------------------------------------------------------- the steps


def _load(spec: Spec, run_dir, resume: bool, arrays: dict | None = None) -> _Run:
    inputs = load_inputs(spec, arrays)
    train, test, spec = inputs.train, inputs.test, inputs.spec or spec
    if spec.model.resolved_task == "classification":
        spec = spec.for_classes(train.k)  # over two classes, a softmax output unless the spec chose one
    layer_dims = spec.layer_dims(train.n_x, train.k)
    resolved = spec.resolved(layer_dims)  # with data.normalize: what auto chose, explicit
    resolved = resolved.model_copy(
        update={"data": resolved.data.model_copy(update={"normalize": inputs.normalization.method, "normalize_target": inputs.target.method})}
    )
    run = _Run(
        spec,
        train,
        test,
        layer_dims,
        resolved,
        resume=resume,
        validation=inputs.validation,
        normalization=inputs.normalization,
        target=inputs.target,
        table=inputs.table,
        notes=inputs.notes,
    )
    _check_batch_norm(run)
    run.own_dir = run_dir is None  # a sweep's trial gets its directory from the sweep; `latest` stays
    run.run_dir = None if run_dir is None else Path(run_dir)
    if resume:
        _check_belongs(run)
    return run


def _check_batch_norm(run: _Run) -> None:
    """A batch of one example has variance 0: refuse a spec whose batches (the last one too) can be that."""
    if not run.resolved.model.normalised_layers:
        return
    m, size = run.train.m, run.spec.train.batch_size if run.mini_batch else run.train.m
    assert size is not None  # mini_batch: train.batch_size is given
    if m % size == 1:
        which = "the training set is one example" if m == 1 else f"the last mini-batch of {m} examples in batches of {size} is one example"
        near = [s for s in (size - 1, size + 1, size - 2, size + 2) if 2 <= s < m and m % s != 1][:2]
        fix = (
            "use more examples" if m == 1 else "use train.batch_size: " + " or ".join(map(str, near)) if near else f"use train.batch_size: {m} (the full batch)"
        )
        raise DataError(f"{run.spec.data.train}: model.batch_norm: {which}, whose variance is 0, so batch norm cannot normalise it; {fix}")


def _recorded(run_dir: Path) -> dict:
    """reproduce.json of a run being resumed, its types checked ({} where there is none)."""
    path = run_dir / REPRODUCE
    if not path.exists():
        return {}
    rec = read_json(path)

    def bad(key, want, got):
        return RunError(f"{path}: {key}: expected {want} (got {quoted(got):.60}); the file is damaged or was edited, so train the run again")

    if not isinstance(rec, dict):
        raise RunError(f"{path}: holds {_kind(rec)}, not the JSON object nnctl writes; the file is damaged, so train the run again")
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


def _check_belongs(run: _Run) -> None:
    """On resume: the spec, reproduce.json and the checkpoint must be of one run; refuse naming what differs."""
    assert run.run_dir is not None  # resume: the run's own folder
    rec = _recorded(run.run_dir)
    settings_now = checkpoint.settings(run.resolved)
    if "fingerprint" in rec and rec["fingerprint"] != checkpoint.fingerprint(run.resolved):
        diffs = checkpoint.differences(rec.get("settings"), settings_now) or "model or train settings differ"
        raise RunError(
            f"{run.run_dir / RESOLVED}: is not the spec the run started with ({diffs}); put it back as it was, "
            f"or train the edited spec as a new run: nnctl train {run.run_dir / RESOLVED}"
        )
    run.run_id = rec.get("run_id")
    path = run.run_dir / CHECKPOINT
    if not path.exists():
        return
    run.ckpt = ckpt = checkpoint.load(run.run_dir)
    scaled = (ckpt.meta.get("preprocessing") or {}).get("normalize_target", "none")
    if scaled != run.target.method:
        raise RunError(
            f"{path}: was written for a run whose targets were {'standardised' if scaled == 'standardize' else 'not scaled'} "
            f"(normalize_target: {str(scaled)[:40]}), but {run.run_dir / RESOLVED} says data.normalize_target: {run.target.method}; "
            f"put the spec back as it was, or {checkpoint.restart_hint(path)}"
        )
    t = run.spec.train
    batches = Batches(run.train.m, run.spec.train.batch_size if run.mini_batch else None)
    checkpoint.check(
        ckpt,
        path,
        settings_now=settings_now,
        run_id=run.run_id,
        layer_dims=run.layer_dims,
        dtype=run.dtype,
        total_epochs=run.spec.train.epoch_count,
        batches_per_epoch=batches.count,
        m=run.train.m,
        record_every=run.spec.train.record_every,
        normalised=run.resolved.model.normalised_layers,
        rate=lambda e: epoch_rate(t.decay, t.learning_rate, e, total=t.epoch_count, **{k: getattr(t, k) for k in SCHEDULES[t.decay].keys}),
        shuffled=run.spec.train.shuffle == "generator",
    )
    sessions = ckpt.meta.get("sessions", [])
    if not (
        isinstance(sessions, list)
        and len(sessions) <= 100_000
        and all(isinstance(x, (int, float)) and not isinstance(x, bool) and 0 <= x < 1e12 for x in sessions)
    ):
        raise RunError(f"{path}: sessions: expected a list of seconds (got {quoted(sessions):.60}); {checkpoint.restart_hint(path)}")
    run.sessions = run.saved_sessions = [float(x) for x in sessions]
    run.resumed_from = ckpt.position.steps
    run.saved = ckpt.position.steps


def _backend(spec: Spec):
    """train.device's backend, before anything is written; a missing CUDA or CuPy is one line."""
    try:
        return make_backend(spec.train.device, spec.train.fused)
    except DeviceUnavailable as exc:
        raise RunError(
            f"train.device: {spec.train.device}: {exc}; install CuPy for your CUDA (pip install 'nnctl[gpu]') "
            "on a machine with an NVIDIA GPU, or use device: cpu (--device cpu)"
        ) from None


def _choose_first_layer(run: _Run) -> None:
    """Continue on the path a resumed run was trained on; else the dual path wherever it is exact
    (on the CPU: a device always takes the primal path)."""
    device = run.spec.train.device
    if run.ckpt is not None:
        run.path = run.ckpt.meta.get("first_layer", "primal")
        run.path_reason = run.ckpt.meta.get("first_layer_reason", f"{run.path}: the path the run started on")
        if run.path != "primal" and device != "cpu":
            raise RunError(f"{run.run_dir}: was trained on the {run.path} first layer, which runs on the CPU only; resume it with --device cpu")
        return
    t = run.spec.train
    if device != "cpu":
        run.path, run.path_reason = "primal", f"primal: device {device} computes W[1] X itself"
        return
    run.path, run.path_reason = choose_first_layer(
        t.first_layer,
        run.train.n_x,
        run.train.m,
        run.dtype.itemsize,
        0.25 * available_memory(),
        optimizer_linear=OPTIMIZERS[t.optimizer].make.linear,
        full_batch=not run.mini_batch,
        l2=t.l2 > 0,
    )


def _optimizer_arrays(spec: Spec) -> int:
    return make_optimizer(spec.train.optimizer, spec.train.learning_rate).extra_arrays()


def _batch_sizes(run: _Run) -> tuple:
    return Batches(run.train.m, run.spec.train.batch_size).sizes if run.mini_batch else ()


def _preflight(run: _Run, runs_root) -> None:
    run.root = root = Path(runs_root or run.spec.runs_dir) if run.own_dir or run.run_dir is None else run.run_dir.parent
    # X is already loaded, in the training dtype
    t = run.spec.train
    dropout = Dropout(keep_probs_per_layer(t.keep_prob, len(run.layer_dims) - 1), t.dropout_masks, t.seed).layers if t.dropout else ()
    in_memory = [d.m for d in (run.train, run.test, run.validation) if d is not None and isinstance(d.X, np.ndarray)]
    preflight(
        run.layer_dims,
        run.train.m,
        run.dtype,
        run.path,
        root,
        available_memory(),
        _optimizer_arrays(run.spec),
        _batch_sizes(run),
        resume=run.resume,
        dropout_layers=dropout,
        l2=t.l2 > 0,
        initial=True,
        eval_m=max(in_memory, default=0),
        batch_norm_layers=run.resolved.model.normalised_layers,
        stages=_later_stages(run),
    )


def _later_stages(run: _Run) -> list:
    """The forward passes after training that are not over the data (the preflight counts those):
    the decision boundary of 2-D classification, in decision_boundary.png and in report.html."""
    from nnctl.util.plots import BOUNDARY_GRID, REPORT_GRID

    if run.train.n_x != 2 or run.resolved.model.resolved_task != "classification":
        return []
    fix = "use fewer or narrower layers, or train.dtype: float32"
    stages = [("the report's decision boundary (nnctl report)", REPORT_GRID**2, fix)]
    if run.pictures and isinstance(run.train.X, np.ndarray):
        stages.insert(0, (f"the decision-boundary picture ({BOUNDARY_PNG})", BOUNDARY_GRID**2, fix))
    return stages


def _open_run_dir(run: _Run, config_text, runs_root, command, held: ExitStack) -> None:
    spec, root = run.spec, run.root
    run.meta = {
        "layer_dims": run.layer_dims,
        "activations": run.activations,
        "loss": run.resolved.model.loss,
        "task": run.resolved.model.resolved_task,
        "classes": run.train.classes,
        "preprocessing": {**run.train.preprocessing, **run.target.preprocessing()},
        "dtype": spec.train.dtype,
        "total_iterations": spec.train.epoch_count,
        **batch_norm_meta(run.resolved.model),
    }
    if run.table is not None:  # params.h5 and checkpoint.h5 record table.json's digest: the two are read back together
        run.meta[TABLE_DIGEST] = json_digest(run.table.to_dict())
    if run.resume:
        assert run.run_dir is not None  # resume: the run's own folder
        _check_same_data(run.run_dir, run.train, run.test)
        try:
            old = read_json(run.run_dir / METRICS) if (run.run_dir / METRICS).exists() else {}
        except RunError:
            old = {}  # damaged: written anew (resume_run said so)
        started = old.get("started") if isinstance(old, dict) else None
        run.started = started if isinstance(started, str) and len(started) <= 64 else None
    else:
        run.run_dir = create_run_dir(root, spec.name or "run") if run.own_dir else run.run_dir
        assert run.run_dir is not None  # a sweep's trial comes with its folder
        if not run.own_dir:
            run.run_dir.mkdir(parents=True)
        held.enter_context(run_lock(run.run_dir))  # held until the run's files are written
        run.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        run.run_id = uuid.uuid4().hex
        if config_text is not None:
            atomic_write(run.run_dir / SPEC, config_text)
        atomic_write(run.run_dir / RESOLVED, dump_spec(run.resolved))
        if run.table is not None:
            write_json(run.run_dir / TABLE, run.table.to_dict())
        rec = reproduce_info(spec, run.train, run.test, command or sys.argv)
        rec.update(run_id=run.run_id, fingerprint=checkpoint.fingerprint(run.resolved), settings=checkpoint.settings(run.resolved))
        rec[PARAMS_DIGESTS] = True  # its params.h5 carries digests: one without them is not the file training wrote
        write_json(run.run_dir / REPRODUCE, rec)
        if run.own_dir:  # now, not only at the end: after a kill -9, `--resume runs/latest` is this run
            update_latest(run.run_dir.parent, run.run_dir)
    write_json(
        run.run_dir / METRICS,
        {"status": Status.RUNNING, "started": run.started, "pid": os.getpid(), "host": platform.node(), "layers": run.layer_dims},
    )


def _fresh_params(run: _Run) -> dict:
    m = run.spec.model
    return initialize_parameters(run.layer_dims, m.init, m.init_scale, make_rng(run.spec), run.dtype, run.resolved.model.normalised_layers)


def _initialise(run: _Run):
    t = run.spec.train
    loss = run.resolved.model.loss
    X = run.train.X  # load_data gave X in the training dtype already
    # labels (1, m), or one-hot (k, m); a regression's targets standardised where data.normalize_target says so
    Y = run.target.apply(run.train.Y, run.dtype) if run.target.active else HEADS[loss].encode(run.train.Y, run.layer_dims[-1], run.dtype)
    ckpt = run.ckpt
    params = ckpt.params if ckpt is not None else _fresh_params(run)
    optimizer = make_optimizer(t.optimizer, t.learning_rate, **t.hyper())
    batch_size = t.batch_size if run.mini_batch else None
    t0 = time.perf_counter()
    dropout = Dropout(keep_probs_per_layer(t.keep_prob, len(run.layer_dims) - 1), t.dropout_masks, t.seed) if t.dropout else None
    trainer = Trainer(
        params,
        X,
        Y,
        run.activations,
        run.resolved.model.loss,
        path=run.path,
        dual_state=ckpt.first_layer if ckpt else None,
        optimizer=optimizer,
        batch_size=batch_size,
        l2=t.l2,
        dropout=dropout,
        batch_norm_momentum=run.resolved.model.batch_norm_momentum,
        batch_norm_epsilon=run.epsilon,
        backend=run.backend,
    )
    run.setup_seconds = time.perf_counter() - t0
    batches = Batches(run.train.m, batch_size, t.shuffle, t.seed)
    if run.validation is not None:
        # the validation cost in the units the training cost is in: the targets scaled as the trainer's are
        held = replace(run.validation, Y=run.target.apply(run.validation.Y, np.float64)) if run.target.active else run.validation
        run.monitor = ValidationMonitor(
            trainer,
            held,
            run.resolved.model.loss,
            run.activations,
            run.resolved.model.resolved_task,
            early=t.early_stopping,
            epsilon=run.epsilon,
            unit="epoch" if run.mini_batch else "iteration",
        )
    if ckpt is not None:
        assert run.run_dir is not None  # a checkpoint: the run's folder, resumed
        checkpoint.restore(ckpt, trainer, batches, run.run_dir / CHECKPOINT, run.monitor)
    return trainer, batches


def _session_seconds(run: _Run) -> float:
    return time.perf_counter() - run.session_t0 if run.session_t0 is not None else 0.0


def _save_checkpoint(run: _Run, trainer, batches, result, meta, fp) -> None:
    assert run.run_dir is not None  # made by _open_run_dir
    sessions = run.sessions + [round(_session_seconds(run), 6)]
    extra = {"run_id": run.run_id, "settings": checkpoint.settings(run.resolved), "sessions": sessions}
    checkpoint.save(run.run_dir, trainer, batches, result, meta, fp, run.monitor, run.normalization, extra, target=run.target)
    run.saved, run.saved_sessions = result.position.steps, sessions


def _train(run: _Run, trainer: Trainer, batches: Batches, reporter, should_stop, stop_at_epoch=None, extra=()):
    t = run.spec.train
    keys = {k: getattr(t, k) for k in SCHEDULES[t.decay].keys}
    rate = (lambda e: epoch_rate(t.decay, t.learning_rate, e, total=t.epoch_count, **keys)) if SCHEDULES[t.decay].varies else None
    fp = checkpoint.fingerprint(run.resolved)
    meta = {**run.meta, "first_layer_reason": run.path_reason}
    ckpt = run.ckpt
    run.session_t0 = time.perf_counter() - run.setup_seconds  # this process's training time: setup, then the loop
    run.position = ckpt.position if ckpt else Position()  # the loop moves it in place: where a hard stop left off
    save = lambda res: _save_checkpoint(run, trainer, batches, res, meta, fp)  # noqa: E731
    listeners = [reporter or Reporter(), CheckpointEvery(t.checkpoint_every, t.epoch_count, save)]
    if should_stop is not None:
        listeners.append(StopWhen(should_stop))
    if stop_at_epoch is not None:
        listeners.append(StopAtEpoch(stop_at_epoch))
    listeners += extra  # e.g. nnctl.experiment.tracking's MlflowListener
    if run.monitor is not None:
        run.monitor.listeners = listeners  # each gets the validation scores of a record
    result = gradient_descent(
        trainer,
        t.epoch_count,
        t.record_every,
        listeners=listeners,
        batches=batches,
        rate=rate,
        position=run.position,
        costs=ckpt.costs if ckpt else None,
        monitor=run.monitor,
    )
    if result.status == Status.INTERRUPTED:
        save(result)
    elif result.status == Status.COMPLETED and (why := worsened(result.costs) or blown_up(trainer.largest_parameter(), trainer.dtype)):
        result.status = Status.DIVERGED  # finite but worse than where it started: as wrong as a NaN
        rate_text = f"learning_rate={t.learning_rate:g}" + (f" ({t.optimizer})" if t.optimizer != "gd" else "")
        result.message = f"training diverged: {why}, with {rate_text}; try a smaller learning_rate"
    return result


def _save(run: _Run, trainer: Trainer, batches: Batches, result) -> dict:
    """params.h5 (the last finite parameters), costs.csv and costs.png."""
    assert run.run_dir is not None  # made by _open_run_dir
    t = run.spec.train
    if result.status == Status.DIVERGED and not trainer.params_finite():
        # the update itself overflowed: fall back to the last checkpoint, which is finite
        if (run.run_dir / CHECKPOINT).exists():
            back = checkpoint.load(run.run_dir)
            params, result.position = back.params, back.position
        else:
            params = _fresh_params(run)
            result.position.steps = result.position.epoch = 0
    else:
        params = trainer.materialize()
    best = _best(run)
    if best is not None and result.status != Status.INTERRUPTED:
        params = best  # early stopping keeps the best parameters it saw
    extra = {"best_iteration": run.monitor.best_steps} if best is not None and run.monitor is not None else {}
    save_params(
        run.run_dir / PARAMS,
        {**params, **run.normalization.arrays(), **run.target.arrays()},
        {**run.meta, "run_id": run.run_id, "iterations": result.iterations, "epochs": result.epochs, "first_layer": run.path, **extra},
    )
    rows = [(*c, *s) for c, s in zip(result.costs, result.steps)]
    validation = run.monitor.rows if run.monitor is not None else None
    accuracy = result.accuracy if trainer.counts else None  # a classifier's, counted from its batches
    write_costs_csv(run.run_dir / COSTS_CSV, rows, run.mini_batch, SCHEDULES[t.decay].varies, validation, accuracy)
    curves = {run.spec.name or "run": result.costs}
    if validation:
        curves["validation"] = [(e, c) for e, c, _ in validation]
    if run.pictures:
        plot_costs(run.run_dir / COSTS_PNG, curves, run.spec.name or "", t.learning_rate)
    return params


def _best(run: _Run):
    """The best parameters early stopping saw, where it keeps them (train.early_stopping.restore_best)."""
    m = run.monitor
    if m is None or m.early is None or not m.early.restore_best or m.best_params is None:
        return None
    return m.best_params


def _evaluate(run: _Run, params, result) -> dict:
    assert run.run_dir is not None  # made by _open_run_dir
    metrics = {"status": result.status, "started": run.started}
    in_memory = isinstance(run.train.X, np.ndarray)  # a streamed file is not read whole again for these checks
    warnings = (
        model_warnings(params, run.activations, run.train, run.resolved.model.resolved_task, run.spec.train.learning_rate, run.epsilon, run.target)
        if in_memory
        else []
    )
    if warnings:
        metrics["warnings"] = warnings
    if result.status == Status.DIVERGED:
        return metrics
    for label, data in (("train", run.train), ("test", run.test), ("validation", run.validation)):
        if data is not None:
            # RMSE in the target's own units: the outputs turned back (run.target), the targets as given
            for key, value in evaluate_dataset(params, run.activations, data, run.resolved.model.loss, run.epsilon, run.target).items():
                metrics[f"{label}_{key}"] = value
    if run.pictures and run.train.n_x == 2 and run.resolved.model.resolved_task == "classification" and isinstance(run.train.X, np.ndarray):
        plot_decision_boundary(
            run.run_dir / BOUNDARY_PNG,
            lambda P: HEADS[run.resolved.model.loss].predict(predict_proba(P, params, run.activations, run.epsilon)),
            run.train.X,
            run.train.Y,
            f"{run.spec.name}: decision boundary",
            classes=run.train.classes,
        )
    return metrics


def _report(run: _Run, result, metrics: dict) -> Summary:
    assert run.run_dir is not None  # made by _open_run_dir
    t, setup_seconds = run.spec.train, run.setup_seconds
    start = run.resumed_from
    final_cost = result.costs[-1][1] if result.costs else None  # the last recorded cost: every record_every epochs and the last
    final_epoch = int(result.costs[-1][0]) if result.costs else None  # ... recorded in this epoch
    final_at = int(result.steps[-1][0]) if result.steps else None  # ... with this many iterations done (before the epoch's batches)
    if result.status == Status.INTERRUPTED and run.saved_sessions:
        sessions = run.saved_sessions  # what its checkpoint holds: a resume adds to exactly this
    else:
        sessions = run.sessions + [setup_seconds + result.seconds]
    seconds = sum(sessions)
    its_per_s = ((result.iterations - start) / result.seconds) if result.seconds > 0 else 0.0
    batches_per_epoch = Batches(run.train.m, t.batch_size if run.mini_batch else None).count
    metrics.update(
        {
            "final_cost": final_cost,
            "final_cost_iteration": final_at,
            "final_cost_epoch": final_epoch,
            "iterations": result.iterations,
            "total_iterations": t.epoch_count * batches_per_epoch,
            "epochs": result.epochs,
            "total_epochs": t.epoch_count,
            "batch_size": t.batch_size if run.mini_batch else None,
            "batches_per_epoch": batches_per_epoch,
            "optimizer": t.optimizer,
            "learning_rate": result.steps[-1][1] if result.steps else t.learning_rate,
            "seconds": round(seconds, 6),
            "sessions": [round(x, 6) for x in sessions],
            "setup_seconds": round(setup_seconds, 6),
            "iterations_per_second": round(its_per_s, 3),
            "layers": run.layer_dims,
            "first_layer": run.path,
            "first_layer_reason": run.path_reason,
            "message": result.message,
            "normalize": run.normalization.describe(),
            "normalize_target": run.target.describe(),
            "regularization": {"l2": t.l2, "keep_prob": t.keep_prob, "dropout_masks": t.dropout_masks if t.dropout else None},
        }
    )
    if run.monitor is not None:
        m = run.monitor
        assert run.validation is not None  # what the monitor watches
        metrics["validation"] = {"source": run.validation.source, "m": run.validation.m}
        if m.rows:
            metrics["validation_cost"] = m.rows[-1][1]  # at the last record, beside final_cost
        if m.early is not None:
            metrics["early_stopping"] = {
                "monitor": m.early.monitor,
                "stopped_early": result.stopped_early,
                "best_value": m.best_value,
                "best_iteration": m.best_steps,
                "best_epoch": m.best_epoch,
                "restored_best": _best(run) is not None and result.status != Status.INTERRUPTED,
            }
    warnings = spec_warnings(run.spec)
    if warnings:  # beside the model's own (_evaluate), not instead of them
        metrics["warnings"] = [*warnings, *metrics.get("warnings", [])]
    if run.notes:
        metrics["notes"] = run.notes
    if run.resume:
        metrics["resumed_from"] = start
    write_json(run.run_dir / METRICS, metrics)
    if result.status == Status.COMPLETED:
        (run.run_dir / CHECKPOINT).unlink(missing_ok=True)  # params.h5 holds the final state
    summary = Summary(
        name=run.spec.name or "run",
        run_dir=str(run.run_dir),
        status=str(result.status),
        layers=run.layer_dims,
        task=run.resolved.model.resolved_task,
        iterations=result.iterations,
        final_cost=final_cost,
        final_cost_iteration=final_at,
        final_cost_epoch=final_epoch,
        seconds=seconds,
        iterations_per_second=its_per_s,
        first_layer=run.path,
        train_accuracy=metrics.get("train_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        train_rmse=metrics.get("train_rmse"),
        test_rmse=metrics.get("test_rmse"),
        message=result.message,
        resumed_from=start if run.resume else None,
        epochs=result.epochs,
        validation_accuracy=metrics.get("validation_accuracy"),
        best_iteration=run.monitor.best_steps if run.monitor is not None and _best(run) is not None and result.status != Status.INTERRUPTED else None,
        sessions=sessions,
        warnings=metrics.get("warnings"),
        notes=run.notes,
    )
    if result.status == Status.DIVERGED:
        raise DivergedError(f"{result.message}. Run kept at {run.run_dir} (status: diverged)")
    return summary


def _stopped(run: _Run, exc: KeyboardInterrupt | MemoryError | OSError, should_stop) -> Exception:
    """A hard stop in the middle of training (a second Ctrl-C, out of memory, a full disk): the
    state in memory may be half updated, so the newest checkpoint is what is kept. metrics.json
    says `interrupted` (written atomically, with Ctrl-C held off), and the error says where the run
    is and how to resume it."""
    assert run.run_dir is not None  # made by _open_run_dir, before training
    at = run.position.steps if run.position is not None else run.resumed_from
    if (run.run_dir / CHECKPOINT).exists():  # the stop can land between a checkpoint's rename and our note of it
        try:
            disk = checkpoint.load(run.run_dir)
            run.saved, run.saved_sessions = disk.position.steps, [float(x) for x in disk.meta.get("sessions", [])]
        except (RunError, OSError, TypeError, ValueError):
            pass  # a damaged checkpoint: the resume names it
    kept = (
        f"the run is kept in {run.run_dir} with its last checkpoint (iteration {run.saved})"
        if run.saved is not None and (run.run_dir / CHECKPOINT).exists()
        else f"the run is kept in {run.run_dir} but no checkpoint was written yet, so resuming starts it over"
    )
    again = f"resume with: nnctl train --resume {run.run_dir}"
    metrics = {
        "status": Status.INTERRUPTED,
        "started": run.started,
        "iterations": run.saved or 0,
        "layers": run.layer_dims,
        "sessions": run.saved_sessions or [],
        "seconds": round(sum(run.saved_sessions or []), 6),
    }
    if isinstance(exc, KeyboardInterrupt):
        name = getattr(should_stop, "name", "SIGINT")
        out: Exception = Interrupted(f"{name} twice: stopped at once at iteration {at}; {kept}; {again}", exit_code=getattr(should_stop, "exit_code", 130))
    elif isinstance(exc, MemoryError):
        out = RunError(
            f"out of memory at iteration {at} ({_size(available_memory())} available to this process); {kept}; "
            f"free memory, or use train.dtype: float32 or smaller layers in a new run; to go on: {again}"
        )
    else:
        where, code, reason = _write_failure(exc, run.run_dir)
        fix = "free some space on that disk" if code in (errno.ENOSPC, errno.EDQUOT) else "make the run folder writable"
        out = RunError(f"{where}: cannot be written ({reason}) at iteration {at}; {kept}; {fix}, then {again}")
    metrics["message"] = str(out)
    try:
        with signals_held():  # a third Ctrl-C waits for this write
            write_json(run.run_dir / METRICS, metrics)
    except OSError:
        pass  # a full disk: metrics.json says `running`, which `nnctl runs` shows as interrupted once this process is gone
    return out


def _failed(run: _Run, exc: Exception) -> None:
    """metrics.json of a run stopped by an error: `interrupted`, with the error as its message (the
    last checkpoint, if any, is what a resume continues from)."""
    assert run.run_dir is not None  # made by _open_run_dir, before training
    at = run.position.steps if run.position is not None else run.resumed_from
    what = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    metrics = {
        "status": Status.INTERRUPTED,
        "started": run.started,
        "iterations": run.saved or 0,
        "layers": run.layer_dims,
        "sessions": run.saved_sessions or [],
        "seconds": round(sum(run.saved_sessions or []), 6),
        "message": f"stopped by an error at iteration {at}: {what}",
    }
    try:
        with signals_held():
            write_json(run.run_dir / METRICS, metrics)
    except OSError:
        pass  # the error that stopped the run is the one to report


def _write_failure(exc: OSError, run_dir: Path) -> tuple:
    """(the file, errno, the reason in words) of a failed write; HDF5 puts errno and the file in its text."""
    import re

    text = str(exc)
    code = exc.errno
    if code is None and (found := re.search(r"errno = (\d+)", text)):
        code = int(found.group(1))
    name = exc.filename
    if name is None and (found := re.search(r"filename = '([^']*)'", text)):
        name = found.group(1)
    where = Path(name) if name else run_dir
    if (tmp := re.fullmatch(r"\.(.+)\.[^.]+\.tmp", where.name)) is not None:  # atomic_path's temporary: name its target
        where = where.with_name(tmp.group(1))
    if where.parent.resolve() == run_dir.resolve():
        where = run_dir / where.name
    reason = os.strerror(code) if code else (exc.strerror or text.splitlines()[0][:120])
    return where, code, reason


def _check_same_data(run_dir: Path, train: Dataset, test: Dataset | None) -> None:
    if not (run_dir / REPRODUCE).exists():
        return
    recorded = _recorded(run_dir).get("data", {})
    for role, data in (("train", train), ("test", test)):
        if data is not None and role in recorded and recorded[role]["sha256"] != data.sha256:
            raise DataError(
                f"{data.source}: the {role} data changed since the run started (SHA-256 differs from "
                f"{run_dir / REPRODUCE}); resuming would not reproduce the run, so train it again"
            )


def resume_run(path, *, reporter: Reporter | None = None, should_stop=None, listeners: tuple = (), device: str | None = None) -> Summary:
    """Continue an interrupted, killed or crashed run in its own directory; `device` moves it
    (cpu, gpu: the checkpoint is NumPy's either way)."""
    if device is not None and device not in DEVICE_NAMES:
        raise RunError(f"--device: {quoted(device):.40} is not a device; use one of {', '.join(DEVICE_NAMES)}")
    run_dir = resolve_run_path(path)
    if run_dir.is_dir() and is_sweep_dir(run_dir):
        raise _sweep_instead(run_dir, resume=True)
    if not run_dir.is_dir() or not (run_dir / RESOLVED).exists():
        raise RunError(f"{run_dir}: not a run directory (no {RESOLVED}); give a runs/... directory to --resume")
    try:
        peek = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    except RunError:
        peek = {}
    pid = peek.get("pid") if isinstance(peek, dict) else None
    holder = f" (pid {pid})" if isinstance(pid, int) and not isinstance(pid, bool) else ""
    with run_lock(run_dir, holder):  # taken before the status is read: of two resumes, one refuses here
        status, damaged = _status_for_resume(run_dir)
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
        return train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=should_stop, resume=True, listeners=listeners, notes=notes)


def _status_for_resume(run_dir: Path) -> tuple:
    """(the run's status, why metrics.json is damaged or None). A resume needs nothing else of
    metrics.json: the checkpoint holds the run's position and history, and the file is written anew."""
    path = run_dir / METRICS
    if not path.exists():
        return Status.INTERRUPTED, None
    from nnctl.rundir.runs import parse_json, read_text_capped

    text = read_text_capped(path)  # a FIFO, a folder, no permission, gigabytes: refused, with their own fix
    try:
        metrics = parse_json(text)
    except (OSError, ValueError) as exc:
        return Status.INTERRUPTED, f"cannot be read ({exc})"
    if not isinstance(metrics, dict):
        return Status.INTERRUPTED, f"holds {_kind(metrics)}, not the JSON object nnctl writes"
    status = metrics.get("status", Status.INTERRUPTED)
    if status not in tuple(Status):
        return Status.INTERRUPTED, f"status: expected one of {', '.join(map(str, Status))} (got {status!r:.40})"
    return status, None


def _without_metrics(run_dir: Path, damaged: str) -> str:
    """The note of a resume whose metrics.json is damaged. Refused (RunError) where the run has ended,
    which only metrics.json said: its params.h5 and no checkpoint (a finished run's is removed; a stopped
    one keeps its own), or a params.h5 of all its epochs."""
    from nnctl.rundir.runs import load_params

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
