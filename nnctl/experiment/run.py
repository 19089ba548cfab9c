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
import re
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from nnctl.rundir import checkpoint
from nnctl.core.backend import DeviceUnavailable, NumpyBackend, make_backend
from nnctl.spec.config import Spec, dump_spec, spec_warnings
from nnctl.data.dataset import (
    ARRAY_PREFIX,
    Dataset,
    Normalization,
    TargetScaling,
    arrays_sha256,
    read_raw,
    dataset_from_arrays,
    fit_normalization,
    constant_target_note,
    fit_target_scaling,
    load_dataset,
    read_dtype,
    split_indices,
    split_validation,
)
from nnctl.errors import ConfigError, DataError, DivergedError, Interrupted, RunError, StoppedBeforeTraining
from nnctl.data.tables import Preprocessor, is_table, missing_note, read_table, table_dataset, table_preprocessing
from nnctl.core.firstlayer import choose_first_layer
from nnctl.rundir.layout import BOUNDARY_PNG, CHECKPOINT, COSTS_CSV, COSTS_PNG, METRICS, PARAMS, REPRODUCE, RESOLVED, SPEC, TABLE, Status
from nnctl.core.layers import batch_norm_meta
from nnctl.rundir.metrics import Summary, evaluate_dataset, model_warnings, reproduce_info, write_costs_csv
from nnctl.core.network import HEADS, initialize_parameters, predict_proba
from nnctl.core.optimizers import OPTIMIZERS, SCHEDULES, epoch_rate, make_optimizer
from nnctl.core.regularization import Dropout, keep_probs_per_layer
from nnctl.core.validation import data_cost, ValidationMonitor
from nnctl.util.plots import BOUNDARY_GRID, REPORT_GRID, plot_costs, plot_decision_boundary
from nnctl.core.resources import available_memory, blas_info, choose_blas_threads, memory_estimate, preflight  # noqa: F401 (re-exported)
from nnctl.experiment.resume import DATA_SETTINGS, Resumed, check_belongs, check_data_first, check_same_data, data_settings, recorded, resumable, resume_then
from nnctl.util.memory import format_bytes
from nnctl.rundir.lock import run_lock
from nnctl.core.stopping import blown_up, interrupt_in, signals_held, worsened
from nnctl.rundir.runs import PARAMS_DIGESTS, TABLE_DIGEST, atomic_write, check_outputs, create_run_dir, json_digest, save_params, update_latest, write_json
from nnctl.core.training import Batches, CheckpointEvery, Position, Reporter, StopAtEpoch, StopWhen, Trainer, gradient_descent
from nnctl.util.text import quoted, shell_quote
from nnctl.data.stream import open_streamed, stream_choice

__all__ = ["train_run", "resume_run", "resume_advice", "Summary", "available_memory", "memory_estimate", "evaluate_dataset", "make_rng", "load_data"]


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
    table = read_table(d.train, d.header)  # data.header: every table of the run is read so (table.json records it for predict and evaluate)
    fit = lambda rows=None: Preprocessor.fit(table, d.target, d.features, d.drop, d.missing, d.unseen, request, rows, d.header)  # noqa: E731
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
        # fitted again on the training part alone: its notes are the ones (the target's, from the whole
        # file, are the same; the features' would otherwise be said twice, of two scopes)
        prep = fit(kept[keep])
        parts = [("training part", table.rows(kept[keep])), ("validation part", table.rows(kept[held]))]
        train, validation = (table_dataset(prep, part, dtype) for _, part in parts)
        train.source, validation.source = f"{d.train} (training part, {keep.size} of {kept.size})", f"{d.train} (validation part, {held.size} of {kept.size})"
        over = "its training part"
        notes = [*prep.notes, missing_note(prep, d.train, parts, over)]
    else:
        train = table_dataset(prep, table, dtype)
        over = "the training file"
        notes = [*prep.notes, missing_note(prep, d.train, [("", table)], over)]
        if isinstance(d.validation, str):
            other = read_table(d.validation, d.header)
            validation = table_dataset(prep, other, dtype)
            notes.append(missing_note(prep, d.validation, [("", other)], over, "the validation file"))
    if d.header != "auto":  # a Parquet file names its columns: it has no first line to take as a header or as data
        named = [s for s in (d.train, d.validation, d.test) if isinstance(s, str) and Path(s).suffix.lower() == ".parquet"]
        if named:
            notes.append(
                f"data.header: {str(d.header).lower()} applies to CSV and TSV files; {', '.join(named)} "
                f"{'names its' if len(named) == 1 else 'name their'} columns as Parquet stores them"
            )
    test = None
    if d.test:
        other = read_table(d.test, d.header)
        test = table_dataset(prep, other, dtype)
        notes.append(
            missing_note(
                prep, d.test, [("", other)], over if validation is None or isinstance(d.validation, str) else f"the training part of {d.train}", "the test file"
            )
        )
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
    return spec, train, test, validation, prep, [n for n in notes if n]


def load_inputs(spec: Spec, arrays: dict | None = None) -> Inputs:
    """The training, test and validation sets, checked, with the training set's normalisation
    (its statistics from the training examples alone, after any validation split) applied to all:
    numeric inputs are read in float64, normalised in float64, and only then cast to train.dtype.
    Each is read into memory, or left in its file and streamed (nnctl.data.stream) where `data.stream`
    says so. `arrays` maps a source the spec names (`array:train`) to examples held in memory,
    (x (m, ...), y (m,), class names[, feature names or None]), one example per row: nnctl.fit's arrays."""
    dtype = np.dtype(spec.train.dtype)
    if is_table(spec.data.train):
        if spec.data.stream == "always":
            raise DataError(f"{spec.data.train}: data.stream: always reads mini-batches from an HDF5 file, and a table is read whole; use stream: auto")
        # a table's columns are float64: read so where normalised, cast after (Normalization.finish)
        work = read_dtype(table_preprocessing(1), dtype, spec.data.normalize)
        spec, train, test, validation, prep, notes = _table_inputs(spec, work)
        return _checked_inputs(spec, train, test, validation, prep, notes)
    task = spec.model.resolved_task

    def load(source, role):
        if source.startswith(ARRAY_PREFIX):
            if not arrays or source not in arrays:
                read_raw(source)  # says the arrays were nnctl.fit's and are not kept
            if spec.data.stream == "always":
                raise DataError(f"{source}: data.stream: always reads mini-batches from a file, and these arrays are in memory; use stream: auto")
            x, y, classes, *names = arrays[source]
            data = dataset_from_arrays(source, x, y, classes, arrays_sha256(x, y), task, dtype, max_classes=None, normalize=spec.data.normalize)
            if names and names[0] is not None:  # a DataFrame's column names: predict and evaluate match columns by them
                data.preprocessing = {**data.preprocessing, "feature_names": [str(n) for n in names[0]]}
            return data
        if stream_choice(spec, source, role):
            return open_streamed(source, task, role=role, dtype=dtype)
        return load_dataset(source, task, role=role, dtype=dtype, max_classes=None, normalize=spec.data.normalize)

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
    dtype = np.dtype(spec.train.dtype)
    for data in (train, test, validation):
        if data is not None:
            # read in float64 where normalised (read_dtype), normalised there, then cast to the run's dtype;
            # a streamed set is given the normalisation for each block it reads
            data.X = norm.finish(data.X, dtype)
            data.preprocessing = {**data.preprocessing, "normalize": norm.method}
    # the targets keep their own units in every Dataset; the trainer and the validation cost see them scaled
    target = fit_target_scaling(spec.data.normalize_target, task, spec.model.layer_activations[-1], train.Y, train.source)
    constant = constant_target_note(train.Y, train.source, target.active) if task == "regression" else None
    if constant:
        notes = [*notes, constant]
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
class Plan:
    """What is trained, decided before anything is written: the spec, its data and the network's shape."""

    spec: Spec
    resolved: Spec  # the spec with what `auto` chose made explicit (config.resolved.yaml)
    layer_dims: list
    data: Inputs
    pictures: bool = True  # costs.png and decision_boundary.png (nnctl.fit leaves them out: matplotlib is most of a tiny fit)
    path: str = "primal"  # the first layer's path (nnctl.core.firstlayer), and why
    path_reason: str = ""
    backend: NumpyBackend | None = None  # nnctl.core.backend: where the math runs (train.device)

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
    def task(self) -> str:
        return self.resolved.model.resolved_task

    @property
    def mini_batch(self) -> bool:
        return self.spec.train.batch_size is not None and self.spec.train.batch_size < self.data.train.m

    @property
    def batch_size(self) -> int | None:
        """The mini-batch size, None for full batch."""
        return self.spec.train.batch_size if self.mini_batch else None

    def meta(self) -> dict:
        """What params.h5 and checkpoint.h5 record of the model and its preprocessing (and table.json's
        digest: the two are read back together)."""
        meta = {
            "layer_dims": self.layer_dims,
            "activations": self.activations,
            "loss": self.resolved.model.loss,
            "task": self.task,
            "classes": self.data.train.classes,
            "preprocessing": {**self.data.train.preprocessing, **self.data.target.preprocessing()},
            "dtype": self.spec.train.dtype,
            "total_iterations": self.spec.train.epoch_count,
            **batch_norm_meta(self.resolved.model),
        }
        if self.data.table is not None:
            meta[TABLE_DIGEST] = json_digest(self.data.table.to_dict())
        return meta


@dataclass
class Folder:
    """The run directory, opened: where every file goes, and the run's identity there."""

    run_dir: Path
    run_id: str | None
    started: str | None


@dataclass
class Progress:
    """This process's training: its time, the loop's position and the newest checkpoint on disk."""

    resumed: Resumed  # what earlier sessions left (nothing for a fresh run)
    setup_seconds: float = 0.0  # building the Trainer (the dual path's Gram matrix is paid here, once)
    session_t0: float | None = None  # when this process began its training work
    position: Position | None = None  # the loop's position, live (the loop updates it in place)
    saved: int | None = None  # the iteration of the newest checkpoint on disk
    saved_sessions: list | None = None  # the session seconds that checkpoint holds
    monitor: ValidationMonitor | None = None  # the validation set's scores and early stopping

    def __post_init__(self) -> None:
        if self.resumed.ckpt is not None:
            self.saved, self.saved_sessions = self.resumed.steps, list(self.resumed.sessions)

    @property
    def at(self) -> int:
        """The iteration the loop has reached (where a hard stop leaves off)."""
        return self.position.steps if self.position is not None else self.resumed.steps

    def session_seconds(self) -> float:
        return time.perf_counter() - self.session_t0 if self.session_t0 is not None else 0.0


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
    given = None if run_dir is None else Path(run_dir)  # a sweep's trial, or the run resumed; else a new folder
    threads = spec.train.blas_threads
    if resume and threads is None:
        assert given is not None  # a resume is of a run's own folder
        threads = recorded(given).get("blas", {}).get("threads")
    if resume:
        assert given is not None
        notes = [*notes, *check_data_first(given, spec)]  # a changed data file or setting, before anything it would break is read or checked
    with threadpool_limits(threads, user_api="blas"), ExitStack() as held:
        if resume:
            held.enter_context(run_lock(given))  # one process per run: a second resume refuses
        plan = _load(spec, arrays, pictures, notes)
        resumed = Resumed()
        if resume:
            assert given is not None
            d = plan.data
            check_outputs([given / name for name in _outputs(plan)], resume_then(given))  # before training, not after it
            table = d.table.to_dict() if d.table is not None else None
            resumed = check_belongs(given, plan.spec, plan.resolved, plan.layer_dims, d.train, plan.mini_batch, d.target.method, table)
        batch = plan.batch_size or plan.data.train.m
        if threads is None and choose_blas_threads(plan.layer_dims, batch) == 1:
            # a small step's work single-threaded (nnctl.core.resources.choose_blas_threads); else the
            # cores, or a sweep worker's share; reproduce.json records the count, resume reuses it
            held.enter_context(threadpool_limits(1, user_api="blas"))
        plan.backend = _backend(spec)
        _choose_first_layer(plan, resumed, given)
        root = Path(runs_root or plan.spec.runs_dir) if given is None else given.parent
        _preflight(plan, root, resume)
        if hasattr(should_stop, "gently"):  # a StopRequest: from the run folder on, a first signal lets every file be written
            should_stop.gently()
        elif getattr(should_stop, "before_training", False) and should_stop():  # a sweep trial's flag, set while the data loaded
            raise StoppedBeforeTraining("stopped while its data loaded, before training began: nothing was trained or written")
        progress, folder = Progress(resumed), None
        try:
            with signals_held():  # the run folder whole, with metrics.json; a signal meanwhile is seen just after
                folder = _open_run_dir(plan, resumed, given, root, config_text, command, held)
        except OSError as exc:  # a read-only file system, a full disk: before any training, nothing is lost
            raise RunError(
                f"{given or root}: cannot write the run's files there ({exc.strerror or exc}); "
                + (
                    "resuming writes into the run folder: make it writable, or copy the run (cp -r) somewhere writable and resume the copy"
                    if resume
                    else "choose another --runs-dir"
                )
            ) from None
        except KeyboardInterrupt as exc:  # a second signal, held until metrics.json said `running`
            if folder is None:
                raise  # not held: the folder was not made
            raise _stopped(plan, folder, progress, exc, should_stop) from None
        try:
            trainer, batches = _initialise(plan, progress, folder.run_dir)
            try:
                result = _train(plan, folder, progress, trainer, batches, reporter, should_stop, stop_at_epoch, listeners)
                if trainer.stream is not None:
                    trainer.stream.check()  # the examples trained on are the file hashed when the run began
            finally:
                if trainer.stream is not None:
                    trainer.stream.close()
            params = _save(plan, folder, progress, trainer, result)
            metrics = _evaluate(plan, folder, params, result)
            with signals_held():  # metrics.json, then the checkpoint's removal: never one without the other
                return _report(plan, folder, progress, result, metrics)
        except (KeyboardInterrupt, MemoryError, OSError) as exc:
            raise _stopped(plan, folder, progress, exc, should_stop) from None
        except DivergedError:
            raise  # metrics.json says diverged already
        except Exception as exc:  # found wrong during training (input, or a bug): the run says why, never "running"
            if (signalled := interrupt_in(exc)) is not None:  # a second Ctrl-C inside a library (matplotlib's import)
                raise _stopped(plan, folder, progress, signalled, should_stop) from None
            _failed(plan, folder, progress, exc)
            raise


def resume_run(path, *, reporter: Reporter | None = None, should_stop=None, listeners: tuple = (), device: str | None = None) -> Summary:
    """Continue an interrupted, killed or crashed run in its own directory (nnctl.experiment.resume checks
    that it can); `device` moves it (cpu, gpu: the checkpoint is NumPy's either way)."""
    with resumable(path, device) as (run_dir, spec, notes):
        return train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=should_stop, resume=True, listeners=listeners, notes=notes)


def prepare_trainer(spec: Spec):
    """(trainer, batches, layer_dims) for `spec`, initialised as `train` would, no run folder:
    for tools that drive the loop themselves (nnctl.experiment.lrfind)."""
    plan = _load(spec, None, True, ())
    _choose_first_layer(plan, Resumed(), None)
    trainer, batches = _initialise(plan, Progress(Resumed()), None)
    return trainer, batches, plan.layer_dims


# ---------------------------------------------------------------- the steps


def _load(spec: Spec, arrays: dict | None, pictures: bool, notes: Sequence[str]) -> Plan:
    """The data, read and checked, and the network they decide (a classifier's output from its classes)."""
    try:
        inputs = load_inputs(spec, arrays)
    except MemoryError:
        raise RunError(
            f"out of memory while loading {spec.data.train} ({format_bytes(available_memory())} available to this process); "
            "use train.dtype: float32 or fewer examples"
        ) from None
    train, spec = inputs.train, inputs.spec or spec
    if spec.model.resolved_task == "classification":
        spec = spec.for_classes(train.k)  # over two classes, a softmax output unless the spec chose one
    layer_dims = spec.layer_dims(train.n_x, train.k)
    resolved = spec.resolved(layer_dims)  # with data.normalize: what auto chose, explicit
    resolved = resolved.model_copy(
        update={"data": resolved.data.model_copy(update={"normalize": inputs.normalization.method, "normalize_target": inputs.target.method})}
    )
    inputs.notes = [*inputs.notes, *notes]
    plan = Plan(spec, resolved, layer_dims, inputs, pictures)
    _check_batch_norm(plan)
    return plan


def _check_batch_norm(plan: Plan) -> None:
    """A batch of one example has variance 0: refuse a spec whose batches (the last one too) can be that."""
    if not plan.resolved.model.normalised_layers:
        return
    m = plan.data.train.m
    size = plan.batch_size or m
    if m % size == 1:
        which = "the training set is one example" if m == 1 else f"the last mini-batch of {m} examples in batches of {size} is one example"
        near = [s for s in (size - 1, size + 1, size - 2, size + 2) if 2 <= s < m and m % s != 1][:2]
        fix = (
            "use more examples" if m == 1 else "use train.batch_size: " + " or ".join(map(str, near)) if near else f"use train.batch_size: {m} (the full batch)"
        )
        raise DataError(f"{plan.spec.data.train}: model.batch_norm: {which}, whose variance is 0, so batch norm cannot normalise it; {fix}")


def _backend(spec: Spec):
    """train.device's backend, before anything is written; a missing CUDA or CuPy is one line."""
    try:
        return make_backend(spec.train.device, spec.train.fused)
    except DeviceUnavailable as exc:
        raise RunError(
            f"train.device: {spec.train.device}: {exc}; install CuPy for your CUDA (pip install 'nnctl[gpu]') "
            "on a machine with an NVIDIA GPU, or use device: cpu (--device cpu)"
        ) from None


def _choose_first_layer(plan: Plan, resumed: Resumed, run_dir: Path | None) -> None:
    """Continue on the path a resumed run was trained on; else the dual path wherever it is exact
    (on the CPU: a device always takes the primal path)."""
    device = plan.spec.train.device
    if resumed.ckpt is not None:
        plan.path = resumed.ckpt.meta.get("first_layer", "primal")
        plan.path_reason = resumed.ckpt.meta.get("first_layer_reason", f"{plan.path}: the path the run started on")
        if plan.path != "primal" and device != "cpu":
            raise RunError(f"{run_dir}: was trained on the {plan.path} first layer, which runs on the CPU only; resume it with --device cpu")
        return
    t = plan.spec.train
    if device != "cpu":
        plan.path, plan.path_reason = "primal", f"primal: device {device} computes W[1] X itself"
        return
    plan.path, plan.path_reason = choose_first_layer(
        t.first_layer,
        plan.data.train.n_x,
        plan.data.train.m,
        plan.dtype.itemsize,
        0.25 * available_memory(),
        optimizer_linear=OPTIMIZERS[t.optimizer].make.linear,
        full_batch=not plan.mini_batch,
        l2=t.l2 > 0,
    )


def _optimizer_arrays(spec: Spec) -> int:
    return make_optimizer(spec.train.optimizer, spec.train.learning_rate).extra_arrays()


def _preflight(plan: Plan, root: Path, resume: bool) -> None:
    """Refuse, before anything is written, a run this machine's memory or disk cannot hold."""
    # X is already loaded, in the training dtype
    t, d = plan.spec.train, plan.data
    dropout = Dropout(keep_probs_per_layer(t.keep_prob, len(plan.layer_dims) - 1), t.dropout_masks, t.seed).layers if t.dropout else ()
    in_memory = [s.m for s in (d.train, d.test, d.validation) if s is not None and isinstance(s.X, np.ndarray)]
    preflight(
        plan.layer_dims,
        d.train.m,
        plan.dtype,
        plan.path,
        root,
        available_memory(),
        _optimizer_arrays(plan.spec),
        Batches(d.train.m, t.batch_size).sizes if plan.mini_batch else (),
        resume=resume,
        dropout_layers=dropout,
        l2=t.l2 > 0,
        initial=True,
        eval_m=max(in_memory, default=0),
        batch_norm_layers=plan.resolved.model.normalised_layers,
        stages=_later_stages(plan),
    )


def _outputs(plan: Plan) -> list:
    """The files training writes (again) into a run's folder: a resume's, after its checkpoints."""
    names = [METRICS, CHECKPOINT, PARAMS, COSTS_CSV]
    if plan.pictures:
        names.append(COSTS_PNG)
        if plan.data.train.n_x == 2 and plan.task == "classification" and isinstance(plan.data.train.X, np.ndarray):
            names.append(BOUNDARY_PNG)  # _evaluate's picture
    return names


def _later_stages(plan: Plan) -> list:
    """The forward passes after training that are not over the data (the preflight counts those):
    the decision boundary of 2-D classification, in decision_boundary.png and in report.html."""
    if plan.data.train.n_x != 2 or plan.task != "classification":
        return []
    fix = "use fewer or narrower layers, or train.dtype: float32"
    stages = [("the report's decision boundary (nnctl report)", REPORT_GRID**2, fix)]
    if plan.pictures and isinstance(plan.data.train.X, np.ndarray):
        stages.insert(0, (f"the decision-boundary picture ({BOUNDARY_PNG})", BOUNDARY_GRID**2, fix))
    return stages


def _open_run_dir(plan: Plan, resumed: Resumed, given: Path | None, root: Path, config_text, command, held: ExitStack) -> Folder:
    """A new run's folder with its spec, resolved spec, table.json and reproduce.json (a resume: the
    run's own folder, its data checked); metrics.json says `running`. Its lock is held until the end."""
    spec, d = plan.spec, plan.data
    if resumed.active:
        assert given is not None  # resume: the run's own folder
        check_same_data(given, d.train, d.test, d.validation)
        folder = Folder(given, resumed.run_id, resumed.started)
        if not (given / REPRODUCE).exists():  # lost, and the run restarted: what it trains on is recorded again
            folder = Folder(given, resumed.run_id or uuid.uuid4().hex, resumed.started)
            _write_reproduce(plan, folder, command)
    else:
        run_dir = create_run_dir(root, spec.name or "run") if given is None else given
        if given is not None:  # a sweep's trial comes with its folder
            run_dir.mkdir(parents=True)
        held.enter_context(run_lock(run_dir))  # held until the run's files are written
        folder = Folder(run_dir, uuid.uuid4().hex, datetime.now(timezone.utc).isoformat(timespec="seconds"))
        if config_text is not None:
            atomic_write(run_dir / SPEC, config_text)
        atomic_write(run_dir / RESOLVED, dump_spec(plan.resolved))
        if d.table is not None:
            write_json(run_dir / TABLE, d.table.to_dict())
        _write_reproduce(plan, folder, command)
        if given is None:  # now, not only at the end: after a kill -9, `--resume runs/latest` is this run
            update_latest(run_dir.parent, run_dir)
    write_json(
        folder.run_dir / METRICS,
        {"status": Status.RUNNING, "started": folder.started, "pid": os.getpid(), "host": platform.node(), "layers": plan.layer_dims},
    )
    return folder


def _write_reproduce(plan: Plan, folder: Folder, command) -> None:
    spec, d = plan.spec, plan.data
    rec = reproduce_info(spec, d.train, d.test, command or sys.argv, d.validation)
    rec.update(run_id=folder.run_id, fingerprint=checkpoint.fingerprint(plan.resolved), settings=checkpoint.settings(plan.resolved))
    rec[DATA_SETTINGS] = data_settings(plan.resolved)  # data.normalize (as resolved) and data.validation: a resume compares them
    rec[PARAMS_DIGESTS] = True  # its params.h5 carries digests: one without them is not the file training wrote
    write_json(folder.run_dir / REPRODUCE, rec)


def _fresh_params(plan: Plan) -> dict:
    m = plan.spec.model
    return initialize_parameters(plan.layer_dims, m.init, m.init_scale, make_rng(plan.spec), plan.dtype, plan.resolved.model.normalised_layers)


def _initialise(plan: Plan, progress: Progress, run_dir: Path | None):
    """The Trainer on the training set (from the checkpoint where the run is resumed), its batches, and
    the validation monitor (progress.monitor)."""
    t, d = plan.spec.train, plan.data
    loss = plan.resolved.model.loss
    X = d.train.X  # load_data gave X in the training dtype already
    # labels (1, m), or one-hot (k, m); a regression's targets standardised where data.normalize_target says so
    Y = d.target.apply(d.train.Y, plan.dtype) if d.target.active else HEADS[loss].encode(d.train.Y, plan.layer_dims[-1], plan.dtype)
    ckpt = progress.resumed.ckpt
    params = ckpt.params if ckpt is not None else _fresh_params(plan)
    optimizer = make_optimizer(t.optimizer, t.learning_rate, **t.hyper())
    t0 = time.perf_counter()
    dropout = Dropout(keep_probs_per_layer(t.keep_prob, len(plan.layer_dims) - 1), t.dropout_masks, t.seed) if t.dropout else None
    trainer = Trainer(
        params,
        X,
        Y,
        plan.activations,
        loss,
        path=plan.path,
        dual_state=ckpt.first_layer if ckpt else None,
        optimizer=optimizer,
        batch_size=plan.batch_size,
        l2=t.l2,
        dropout=dropout,
        batch_norm_momentum=plan.resolved.model.batch_norm_momentum,
        batch_norm_epsilon=plan.epsilon,
        backend=plan.backend,
    )
    progress.setup_seconds = time.perf_counter() - t0
    batches = Batches(d.train.m, plan.batch_size, t.shuffle, t.seed)
    if d.validation is not None:
        # the validation cost in the units the training cost is in: the targets scaled as the trainer's are
        watched = replace(d.validation, Y=d.target.apply(d.validation.Y, np.float64)) if d.target.active else d.validation
        progress.monitor = ValidationMonitor(
            trainer,
            watched,
            loss,
            plan.activations,
            plan.task,
            early=t.early_stopping,
            epsilon=plan.epsilon,
            unit="epoch" if plan.mini_batch else "iteration",
        )
    if ckpt is not None:
        assert run_dir is not None  # a checkpoint: the run's folder, resumed
        checkpoint.restore(ckpt, trainer, batches, run_dir / CHECKPOINT, progress.monitor)
    return trainer, batches


def _save_checkpoint(plan: Plan, folder: Folder, progress: Progress, trainer, batches, result, meta, fp) -> None:
    sessions = progress.resumed.sessions + [round(progress.session_seconds(), 6)]
    extra = {"run_id": folder.run_id, "settings": checkpoint.settings(plan.resolved), "sessions": sessions}
    checkpoint.save(folder.run_dir, trainer, batches, result, meta, fp, progress.monitor, plan.data.normalization, extra, target=plan.data.target)
    progress.saved, progress.saved_sessions = result.position.steps, sessions


def _train(plan: Plan, folder: Folder, progress: Progress, trainer: Trainer, batches: Batches, reporter, should_stop, stop_at_epoch=None, extra=()):
    """The loop, with its listeners: the reporter, checkpoints, stop requests and the caller's own."""
    t = plan.spec.train
    keys = {k: getattr(t, k) for k in SCHEDULES[t.decay].keys}
    rate = (lambda e: epoch_rate(t.decay, t.learning_rate, e, total=t.epoch_count, **keys)) if SCHEDULES[t.decay].varies else None
    fp = checkpoint.fingerprint(plan.resolved)
    meta = {**plan.meta(), "first_layer_reason": plan.path_reason}
    ckpt = progress.resumed.ckpt
    progress.session_t0 = time.perf_counter() - progress.setup_seconds  # this process's training time: setup, then the loop
    progress.position = ckpt.position if ckpt else Position()  # the loop moves it in place: where a hard stop left off
    save = lambda res: _save_checkpoint(plan, folder, progress, trainer, batches, res, meta, fp)  # noqa: E731
    listeners = [reporter or Reporter(), CheckpointEvery(t.checkpoint_every, t.epoch_count, save)]
    if should_stop is not None:
        listeners.append(StopWhen(should_stop))
    if stop_at_epoch is not None:
        listeners.append(StopAtEpoch(stop_at_epoch))
    listeners += extra  # e.g. nnctl.experiment.tracking's MlflowListener
    if progress.monitor is not None:
        progress.monitor.listeners = listeners  # each gets the validation scores of a record
    result = gradient_descent(
        trainer,
        t.epoch_count,
        t.record_every,
        listeners=listeners,
        batches=batches,
        rate=rate,
        position=progress.position,
        costs=ckpt.costs if ckpt else None,
        monitor=progress.monitor,
    )
    if result.status == Status.INTERRUPTED:
        save(result)
        if getattr(should_stop, "signum", None) is not None:  # a StopRequest's first signal, not a halving budget or a sweep's flag
            result.message = (
                f"{should_stop.name} at iteration {result.iterations}: stopped after that iteration; parameters, checkpoint and costs "
                f"so far are kept; {resume_advice(plan.spec, folder.run_dir)}"
            )
    elif result.status == Status.COMPLETED and (why := worsened(result.costs) or blown_up(trainer.largest_parameter(), trainer.dtype)):
        result.status = Status.DIVERGED  # finite but worse than where it started: as wrong as a NaN
        rate_text = f"learning_rate={t.learning_rate:g}" + (f" ({t.optimizer})" if t.optimizer != "gd" else "")
        result.message = f"training diverged: {why}, with {rate_text}; try a smaller learning_rate"
    return result


def _save(plan: Plan, folder: Folder, progress: Progress, trainer: Trainer, result) -> dict:
    """params.h5 (the last finite parameters), costs.csv and costs.png."""
    t, run_dir, monitor = plan.spec.train, folder.run_dir, progress.monitor
    if result.status == Status.DIVERGED and not trainer.params_finite():
        # the update itself overflowed: fall back to the last checkpoint, which is finite
        if (run_dir / CHECKPOINT).exists():
            back = checkpoint.load(run_dir)
            params, result.position = back.params, back.position
        else:
            params = _fresh_params(plan)
            result.position.steps = result.position.epoch = 0
    else:
        params = trainer.materialize()
    best = _best(progress)
    if best is not None and result.status != Status.INTERRUPTED:
        params = best  # early stopping keeps the best parameters it saw
    extra = {"best_iteration": monitor.best_steps} if best is not None and monitor is not None else {}
    save_params(
        run_dir / PARAMS,
        {**params, **plan.data.normalization.arrays(), **plan.data.target.arrays()},
        {**plan.meta(), "run_id": folder.run_id, "iterations": result.iterations, "epochs": result.epochs, "first_layer": plan.path, **extra},
    )
    rows = [(*c, *s) for c, s in zip(result.costs, result.steps)]
    validation = monitor.rows if monitor is not None else None
    accuracy = result.accuracy if trainer.counts else None  # a classifier's, counted from its batches
    write_costs_csv(run_dir / COSTS_CSV, rows, plan.mini_batch, SCHEDULES[t.decay].varies, validation, accuracy)
    curves = {plan.spec.name or "run": result.costs}
    if validation:
        curves["validation"] = [(e, c) for e, c, _ in validation]
    if plan.pictures:
        plot_costs(run_dir / COSTS_PNG, curves, plan.spec.name or "", t.learning_rate)
    return params


def _best(progress: Progress):
    """The best parameters early stopping saw, where it keeps them (train.early_stopping.restore_best)."""
    m = progress.monitor
    if m is None or m.early is None or not m.early.restore_best or m.best_params is None:
        return None
    return m.best_params


def _evaluate(plan: Plan, folder: Folder, params, result) -> dict:
    """Cost and accuracy (or RMSE) on every set, the model's warnings, the decision boundary's picture."""
    d = plan.data
    metrics = {"status": result.status, "started": folder.started}
    in_memory = isinstance(d.train.X, np.ndarray)  # a streamed file is not read whole again for these checks
    warnings = model_warnings(params, plan.activations, d.train, plan.task, plan.spec.train.learning_rate, plan.epsilon, d.target) if in_memory else []
    if warnings:
        metrics["warnings"] = warnings
    if result.status == Status.DIVERGED:
        return metrics
    for label, data in (("train", d.train), ("test", d.test), ("validation", d.validation)):
        if data is not None:
            # RMSE in the target's own units: the outputs turned back (d.target), the targets as given
            for key, value in evaluate_dataset(params, plan.activations, data, plan.resolved.model.loss, plan.epsilon, d.target).items():
                metrics[f"{label}_{key}"] = value
    if d.validation is not None:
        # of the parameters saved (the best ones where early stopping restored them), in the units the
        # monitor's costs are in (costs.csv): the targets scaled as the trainer's are
        watched = replace(d.validation, Y=d.target.apply(d.validation.Y, np.float64)) if d.target.active else d.validation
        cost = data_cost(params, watched, plan.resolved.model.loss, plan.activations, plan.epsilon)
        if np.isfinite(cost):
            metrics["validation_cost"] = cost
    if plan.pictures and d.train.n_x == 2 and plan.task == "classification" and isinstance(d.train.X, np.ndarray):
        plot_decision_boundary(
            folder.run_dir / BOUNDARY_PNG,
            lambda P: HEADS[plan.resolved.model.loss].predict(predict_proba(P, params, plan.activations, plan.epsilon)),
            d.train.X,
            d.train.Y,
            f"{plan.spec.name}: decision boundary",
            classes=d.train.classes,
        )
    return metrics


def _report(plan: Plan, folder: Folder, progress: Progress, result, metrics: dict) -> Summary:
    """metrics.json, whole (and the checkpoint removed once the run completed), and the run's summary."""
    t, setup_seconds, d, resumed = plan.spec.train, progress.setup_seconds, plan.data, progress.resumed
    start = resumed.steps
    restored = _best(progress) is not None and result.status != Status.INTERRUPTED
    m = progress.monitor
    # the record whose parameters params.h5 holds: the last one, or the best one early stopping restored
    kept = len(result.costs) - 1
    if restored and m is not None:
        kept = next((i for i, c in enumerate(result.costs) if int(c[0]) == m.best_epoch), kept)
    final_cost = result.costs[kept][1] if result.costs else None  # that record's training cost: every record_every epochs and the last
    final_epoch = int(result.costs[kept][0]) if result.costs else None  # ... recorded in this epoch
    final_at = int(result.steps[kept][0]) if result.steps else None  # ... with this many iterations done (before the epoch's batches)
    if result.status == Status.INTERRUPTED and progress.saved_sessions:
        sessions = progress.saved_sessions  # what its checkpoint holds: a resume adds to exactly this
    else:
        sessions = resumed.sessions + [setup_seconds + result.seconds]
    seconds = sum(sessions)
    its_per_s = ((result.iterations - start) / result.seconds) if result.seconds > 0 else 0.0
    batches_per_epoch = Batches(d.train.m, plan.batch_size).count
    metrics.update(
        {
            "final_cost": final_cost,
            "final_cost_iteration": final_at,
            "final_cost_epoch": final_epoch,
            "iterations": result.iterations,
            "total_iterations": t.epoch_count * batches_per_epoch,
            "epochs": result.epochs,
            "total_epochs": t.epoch_count,
            "m": d.train.m,  # the training examples (the report's shapes and memory)
            "batch_size": plan.batch_size,
            "batches_per_epoch": batches_per_epoch,
            "optimizer": t.optimizer,
            "learning_rate": result.steps[-1][1] if result.steps else t.learning_rate,
            "seconds": round(seconds, 6),
            "sessions": [round(x, 6) for x in sessions],
            "setup_seconds": round(setup_seconds, 6),
            "iterations_per_second": round(its_per_s, 3),
            "layers": plan.layer_dims,
            "first_layer": plan.path,
            "first_layer_reason": plan.path_reason,
            "message": result.message,
            "normalize": d.normalization.describe(),
            "normalize_target": d.target.describe(),
            "regularization": {"l2": t.l2, "keep_prob": t.keep_prob, "dropout_masks": t.dropout_masks if t.dropout else None},
        }
    )
    if m is not None:
        assert d.validation is not None  # what the monitor watches
        metrics["validation"] = {"source": d.validation.source, "m": d.validation.m}
        if m.early is not None:
            metrics["early_stopping"] = {
                "monitor": m.early.monitor,
                "stopped_early": result.stopped_early,
                "stopped_epoch": int(m.rows[-1][0]) if result.stopped_early and m.rows else None,
                "best_value": m.best_value,
                "best_iteration": m.best_steps,
                "best_epoch": m.best_epoch,
                "restored_best": restored,
            }
    if restored and m is not None and "validation_cost" not in metrics:  # a diverged run, not evaluated: the kept record's
        metrics.update({"validation_cost": c for e, c, _ in m.rows if e == m.best_epoch})
    if restored and result.costs:
        # the last record's values, of parameters that were not kept: apart, so that no metric above mixes them in
        last: dict = {"epoch": int(result.costs[-1][0]), "iteration": int(result.steps[-1][0]), "cost": result.costs[-1][1]}
        if result.accuracy and result.accuracy[-1] == result.accuracy[-1]:
            last["train_accuracy"] = result.accuracy[-1]  # counted from that epoch's batches
        if m is not None and m.rows:
            last["validation_cost"] = m.rows[-1][1]
            if m.rows[-1][2] == m.rows[-1][2]:
                last["validation_accuracy"] = m.rows[-1][2]
        metrics["last"] = last
    warnings = spec_warnings(plan.spec)
    if warnings:  # beside the model's own (_evaluate), not instead of them
        metrics["warnings"] = [*warnings, *metrics.get("warnings", [])]
    if d.notes:
        metrics["notes"] = d.notes
    if resumed.active:
        metrics["resumed_from"] = start
    write_json(folder.run_dir / METRICS, metrics)
    if result.status == Status.COMPLETED:
        (folder.run_dir / CHECKPOINT).unlink(missing_ok=True)  # params.h5 holds the final state
    summary = Summary(
        name=plan.spec.name or "run",
        run_dir=str(folder.run_dir),
        status=str(result.status),
        layers=plan.layer_dims,
        task=plan.task,
        iterations=result.iterations,
        final_cost=final_cost,
        final_cost_iteration=final_at,
        final_cost_epoch=final_epoch,
        seconds=seconds,
        iterations_per_second=its_per_s,
        first_layer=plan.path,
        train_accuracy=metrics.get("train_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        train_rmse=metrics.get("train_rmse"),
        test_rmse=metrics.get("test_rmse"),
        message=result.message,
        resumed_from=start if resumed.active else None,
        epochs=result.epochs,
        validation_accuracy=metrics.get("validation_accuracy"),
        best_iteration=m.best_steps if m is not None and restored else None,
        sessions=sessions,
        warnings=metrics.get("warnings"),
        notes=d.notes,
    )
    if result.status == Status.DIVERGED:
        raise DivergedError(f"{result.message}. Run kept at {folder.run_dir} (status: diverged)")
    return summary


def _stopped(plan: Plan, folder: Folder, progress: Progress, exc: KeyboardInterrupt | MemoryError | OSError, should_stop) -> Exception:
    """A hard stop in the middle of training (a second Ctrl-C, out of memory, a full disk): the
    state in memory may be half updated, so the newest checkpoint is what is kept. metrics.json
    says `interrupted` (written atomically, with Ctrl-C held off), and the error says where the run
    is and how to resume it."""
    run_dir, at = folder.run_dir, progress.at
    if (run_dir / CHECKPOINT).exists():  # the stop can land between a checkpoint's rename and our note of it
        try:
            disk = checkpoint.load(run_dir)
            progress.saved, progress.saved_sessions = disk.position.steps, [float(x) for x in disk.meta.get("sessions", [])]
        except (RunError, OSError, TypeError, ValueError):
            pass  # a damaged checkpoint: the resume names it
    kept = (
        f"the run is kept in {run_dir} with its last checkpoint (iteration {progress.saved})"
        if progress.saved is not None and (run_dir / CHECKPOINT).exists()
        else f"the run is kept in {run_dir} but no checkpoint was written yet, so resuming starts it over"
        if resumable_spec(plan.spec)
        else f"the run is kept in {run_dir}, with no checkpoint yet"
    )
    again = resume_advice(plan.spec, run_dir)
    if isinstance(exc, KeyboardInterrupt):
        # a StopRequest's second signal; without one (nnctl.fit under its caller's own handler) a KeyboardInterrupt, once
        name = f"{should_stop.name} twice" if hasattr(should_stop, "name") else "KeyboardInterrupt"
        out: Exception = Interrupted(f"{name}: stopped at once at iteration {at}; {kept}; {again}", exit_code=getattr(should_stop, "exit_code", 130))
    elif isinstance(exc, MemoryError):
        out = RunError(
            f"out of memory at iteration {at} ({format_bytes(available_memory())} available to this process); {kept}; "
            f"free memory, or use train.dtype: float32 or smaller layers in a new run; to go on: {again}"
        )
    else:
        where, code, reason = _write_failure(exc, run_dir)
        fix = "free some space on that disk" if code in (errno.ENOSPC, errno.EDQUOT) else "make the run folder writable"
        out = RunError(f"{where}: cannot be written ({reason}) at iteration {at}; {kept}; {fix}, then {again}")
    _write_stopped(plan, folder, progress, str(out))
    return out


def resumable_spec(spec: Spec) -> bool:
    """Whether `nnctl train --resume` can read the run's data again: not arrays given to nnctl.fit."""
    return not spec.data.train.startswith(ARRAY_PREFIX)


def resume_advice(spec: Spec, run_dir) -> str:
    """How an unfinished run goes on: `nnctl train --resume`, or, for a run trained on arrays given
    to nnctl.fit (which a run never keeps), that it cannot be resumed and what to do instead."""
    if not resumable_spec(spec):
        return "it cannot be resumed, as it was trained on arrays given to nnctl.fit, which a run does not keep: call nnctl.fit again"
    return f"resume with: nnctl train --resume {shell_quote(run_dir)}"


def _failed(plan: Plan, folder: Folder, progress: Progress, exc: Exception) -> None:
    """metrics.json of a run stopped by an error: `interrupted`, with the error as its message (the
    last checkpoint, if any, is what a resume continues from)."""
    what = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    _write_stopped(plan, folder, progress, f"stopped by an error at iteration {progress.at}: {what}")


def _write_stopped(plan: Plan, folder: Folder, progress: Progress, message: str) -> None:
    """metrics.json says `interrupted`, at the newest checkpoint, with `message` (a full disk leaves it
    `running`, which `nnctl runs` shows as interrupted once this process is gone)."""
    sessions = progress.saved_sessions or []
    metrics = {
        "status": Status.INTERRUPTED,
        "started": folder.started,
        "iterations": progress.saved or 0,
        "m": plan.data.train.m,
        "layers": plan.layer_dims,
        "sessions": sessions,
        "seconds": round(sum(sessions), 6),
        "message": message,
    }
    try:
        with signals_held():  # a third Ctrl-C waits for this write
            write_json(folder.run_dir / METRICS, metrics)
    except OSError:
        pass  # the error that stopped the run is the one to report


def _write_failure(exc: OSError, run_dir: Path) -> tuple:
    """(the file, errno, the reason in words) of a failed write; HDF5 puts errno and the file in its text."""
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
