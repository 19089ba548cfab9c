"""The Python API: `nnctl.fit(spec, X, y)` trains, `nnctl.load(run_dir)` reads a run; both give a `Model`.

Arrays come in scikit-learn's layout, one example per *row*: X (m, n_x), y (m,). They are turned
into the course's layout (X (n_x, m), one example per column) at this edge only, by the same
`flatten` a data file goes through, and trained by the very same `experiment.train_run` as
`nnctl train`: the same spec and seed give the same parameters, bit for bit.

A fit writes no run folder unless asked (`runs_dir=`): a notebook or a grid search fits many
models, and a folder per fit would fill `runs/`. It trains in a temporary folder that is removed
once the model has read it back; `Model.save(run_dir)` keeps it (a run folder every command
reads), `nnctl.load` reads it or any run `nnctl train` wrote. Errors are the CLI's: `NnctlError`
and its kinds, their messages naming the key and the fix.
"""

from __future__ import annotations

import copy
import functools
import os
import re
import signal
import sys
import tempfile
import threading
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Callable, TypeVar, Union, cast

import numpy as np
import yaml

from nnctl.spec.config import Spec, dump_spec, load_config_text, spec_from_mapping, spec_from_text
from nnctl.data.dataset import ARRAY_PREFIX, CONSTANT_TARGET, check_examples, flatten
from nnctl.errors import ConfigError, DataError, DivergedError, Interrupted, NnctlError, RunError
from nnctl.experiment.run import resume_advice, train_run
from nnctl.core.stopping import StopRequest
from nnctl.experiment.inference import class_names, loss_of, outputs, normalized, read_dtype_of, score, task_of
from nnctl.rundir.layout import BOUNDARY_PNG, CHECKPOINT, COSTS_CSV, COSTS_PNG, METRICS, PARAMS, REPRODUCE, RESOLVED, SPEC
from nnctl.core.network import HEADS
from nnctl.rundir.runs import Run, atomic_write, costs_axis, load_run, parse_costs_columns, read_bytes_capped, resolve_run_path
from nnctl.core.training import Listener
from nnctl.data.tables import Table, filled_notes
from nnctl.util.text import quoted, visible

__all__ = ["fit", "load", "Model", "NnctlWarning", "SpecLike", "TRAIN_ARRAYS"]

SpecLike = Union[Spec, Mapping, str, os.PathLike]
TRAIN_ARRAYS = f"{ARRAY_PREFIX}train"  # data.train of a spec trained on arrays given to fit
RUN_FILES = (SPEC, RESOLVED, REPRODUCE, PARAMS, METRICS, COSTS_CSV, COSTS_PNG, BOUNDARY_PNG, CHECKPOINT)  # what save writes


def _escaped(exc: NnctlError) -> None:
    """An error leaving the API: its message's outside text (a column name, a path) with control
    characters, bidirectional overrides and the like written as escapes, as the CLI shows it; once
    (a method calling another escapes it only where it first leaves). `lines` stay as they were."""
    if getattr(exc, "_escaped", False):
        return
    lines = getattr(exc, "lines", None)
    if lines and len(exc.args) == 1 and isinstance(exc.args[0], str):
        exc.args = ("\n".join(visible(line) for line in lines),)  # a newline between two problems stays one
    else:
        exc.args = tuple(visible(a) if isinstance(a, str) else a for a in exc.args)
    setattr(exc, "_escaped", True)


_F = TypeVar("_F", bound=Callable[..., Any])


def _escaping(func: _F) -> _F:
    """A public function or method of the API: nnctl's errors leave it with their text escaped."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except NnctlError as exc:
            _escaped(exc)
            raise

    return cast(_F, wrapper)


_PACKAGE = os.path.dirname(os.path.abspath(__file__))  # nnctl/: its frames are not where a warning points


def _warn(text: str, category: type[Warning] = UserWarning) -> None:
    """A warning for the API's user: its outside text escaped (as the CLI shows it), pointing at the
    first caller outside nnctl (the user's line, whichever public method it went through)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE + os.sep):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]  # f_back is None at the outermost frame
    warnings.warn(visible(text), category, stacklevel=level)


class NnctlWarning(UserWarning):
    """What a finished run says is degenerate about its model (metrics.json's `warnings`)."""


class _Lines(Listener):
    """Progress as plain lines on stderr (fit(quiet=False)); the API never imports Rich."""

    def __init__(self, name: str):
        self.name = name

    def on_start(self, total: int, start: int) -> None:
        self.total = total

    def on_train_accuracy(self, iteration: int, accuracy: float) -> None:
        self.accuracy = f" accuracy {accuracy:.2f}%" if accuracy == accuracy else ""

    def on_cost(self, iteration: int, cost: float) -> None:
        acc = getattr(self, "accuracy", "")

        print(visible(f"{self.name}: {self.unit} {iteration}/{self.total}  cost {cost:.6f}{acc}"), file=sys.stderr)


# ---------------------------------------------------------------- arrays in scikit-learn's layout


def _rows(X, what: str = "X") -> np.ndarray:
    """X as an array of examples, one per row (m, n_x) or (m, *input_shape): numbers, dense, finite."""
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise DataError(
            f"{what}: a sparse matrix; nnctl trains on dense arrays, so pass {what}.toarray() "
            "(or reduce the features first, e.g. TruncatedSVD, if the dense array would not fit in memory)"
        )
    x = np.asarray(X)
    if x.ndim < 2:
        raise DataError(
            f"{what}: expected examples in rows, shape (m, n_x) (got shape {x.shape}); one feature: {what}.reshape(-1, 1), one example: {what}.reshape(1, -1)"
        )
    if x.dtype == object:
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            raise DataError(f"{what}: holds values that are not numbers (dtype object); encode text columns as numbers first") from None
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.dtype.kind == "c":
        raise DataError(f"{what}: has dtype {x.dtype}; expected numbers (floats, integers, or uint8 pixels)")
    if x.shape[0] == 0:
        raise DataError(f"{what}: holds zero examples (shape {x.shape}); give at least one row")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{what}: holds NaN or infinite values; fill or drop them first (e.g. scikit-learn's SimpleImputer)")
    return x


def _is_frame(X) -> bool:
    """A pandas DataFrame (pandas is not imported for it)."""
    return type(X).__module__.startswith("pandas") and hasattr(X, "columns") and hasattr(X, "dtypes")


def feature_names(X) -> list | None:
    """A DataFrame's column names, where every one is text (as scikit-learn records feature_names_in_);
    None for an array, or a frame whose columns are numbers (taken by position). A name given twice
    is refused: matching columns by name would be ambiguous."""
    if not _is_frame(X):
        return None
    columns = list(X.columns)
    if not columns or not all(isinstance(c, str) for c in columns):
        return None
    twice = next((c for c in columns if columns.count(c) > 1), None)
    if twice is not None:
        raise DataError(f"X: the column {quoted(twice)} is there twice; give each column once (predict and evaluate match columns by name)")
    return columns


def _as_cells(column, name: str) -> np.ndarray:
    """One DataFrame column as a table's text cells: a number as the text that reads back as the very
    same float (repr), a missing value (NaN, None, pd.NA, NaT) as an empty cell, anything else str()."""
    values = column.to_numpy(dtype=object)
    out = np.empty(values.shape, dtype=object)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and v != v) or type(v).__name__ in ("NAType", "NaTType"):
            out[i] = ""
        elif isinstance(v, (bool, np.bool_)):
            out[i] = str(bool(v))
        elif isinstance(v, (int, np.integer)):
            out[i] = str(int(v))
        elif isinstance(v, (float, np.floating)):
            out[i] = repr(float(v))
        elif isinstance(v, (str, np.str_)):
            out[i] = str(v)
        else:
            raise DataError(f"X: column {quoted(name)}: holds a {type(v).__name__} ({quoted(str(v)[:40])}); give numbers or text, as a table file holds")
    return out


class _FrameTable(Table):
    """A DataFrame read as a table: messages name its rows by their index label, not a file line."""

    def __init__(self, source, columns, cells, lines, index):
        super().__init__(source, columns, cells, lines)
        self.index = index

    def where(self, row: int, name: str) -> str:
        return f"{self.source}: row {quoted(self.index[row])}, column {quoted(name)}"


def _class_labels(y, task: str) -> tuple:
    """(y as the network's labels, class names): text or other labels that are not class numbers
    become 0 .. k-1 in sorted order, their names kept; numbers go through as a file's labels do."""
    y = np.asarray(y)
    if y.ndim == 2 and 1 in y.shape:
        y = y.ravel()
    if task != "classification" or y.dtype.kind in "iufb":
        return y, []
    try:
        names, codes = np.unique(y, return_inverse=True)
    except TypeError:
        raise DataError("y: labels of mixed types (e.g. text and numbers); give labels of one type") from None
    return codes.reshape(y.shape), [str(n) for n in names]


def _spec_of(spec: SpecLike, with_arrays: bool) -> tuple:
    """(Spec, the text given); with arrays, data.train names them."""
    if isinstance(spec, Spec):
        text = dump_spec(spec)
    elif isinstance(spec, Mapping):
        raw = copy.deepcopy(dict(spec))
        if with_arrays:
            data = raw.get("data")
            raw["data"] = {**(data if isinstance(data, Mapping) else {}), "train": TRAIN_ARRAYS}
        spec = spec_from_mapping(raw, "spec")
        try:
            text = yaml.safe_dump(raw, sort_keys=False)
        except yaml.YAMLError:
            text = dump_spec(spec)  # values YAML cannot write (numpy scalars): the validated spec instead
    elif isinstance(spec, (str, os.PathLike)):
        spec, text = load_config_text(spec)
    else:
        raise ConfigError(f"spec: expected a dict, a YAML file's path or a nnctl Spec (got {type(spec).__name__})")
    if with_arrays and spec.data.train != TRAIN_ARRAYS:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"train": TRAIN_ARRAYS})})
    return spec, text


@_escaping
def fit(
    spec: SpecLike,
    X: Any = None,
    y: Any = None,
    *,
    runs_dir: str | os.PathLike | None = None,
    quiet: bool = True,
) -> Model:
    """Train a network and return it as a `Model`.

    spec: a dict (the YAML's sections: ``{"model": {"hidden": [8]}, "train": {...}}``), a YAML
        file's path, or a `nnctl.spec.config.Spec`. Relative data paths in a dict are read from the
        working directory, in a file from the file's folder.
    X, y: examples one per row, X (m, n_x) numbers (or (m, *shape): pictures are flattened as a
        file's are; uint8 counts as pixels and is divided by 255), y (m,). They replace the
        spec's `data.train` (its data section may then be left out); `data.test` and
        `data.validation` (a file, or a fraction of X) stay as the spec says. Without them the
        spec's own data is trained on. Class labels may be text: they become classes 0 .. k-1 in
        sorted order and keep their names.
    runs_dir: keep the run folder there (as `nnctl train --runs-dir` does); by default the run
        is trained in a temporary folder and removed (`Model.save` keeps it later).
    quiet: False prints the recorded costs on stderr.

    Raises ConfigError, DataError, RunError (the CLI's messages), DivergedError (exit code 3 in
    the CLI) for a run that diverged.
    """
    if (X is None) != (y is None):
        raise DataError("fit: give X and y together (examples and their labels), or neither to train on the spec's own data")
    resolved, text = _spec_of(spec, X is not None)
    arrays = None
    if X is not None:
        x = _rows(X)
        labels, names = _class_labels(y, resolved.model.resolved_task)
        if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
            raise DataError(f"y: expected one label per row of X, shape ({x.shape[0]},) (got shape {np.shape(y)})")
        arrays = {TRAIN_ARRAYS: (x, labels, names, feature_names(X))}
    model = train_model(resolved, text, arrays, runs_dir, quiet)
    for warning in model.metrics.get("warnings") or ():
        _warn(warning, NnctlWarning)
    return model


def train_model(spec: Spec, text: str | None, arrays: dict | None, runs_dir=None, quiet: bool = True) -> Model:
    """`experiment.train_run` on a checked spec and its arrays ({TRAIN_ARRAYS: (x, y, class names,
    feature names or None)}), in `runs_dir` or a temporary folder; the run read back as a Model (fit
    and nnctl.sklearn). A note that the target is constant is a UserWarning here (the CLI prints it)."""
    model = _train_model(spec, text, arrays, runs_dir, quiet)
    for note in model.metrics.get("notes") or ():
        if isinstance(note, str) and CONSTANT_TARGET in note:  # the arrays are y here, not their source's name
            _warn(re.sub(rf"^{re.escape(TRAIN_ARRAYS)}(?: \([^)]*\))?: ", "y: ", note))
    return model


def _train_model(spec: Spec, text: str | None, arrays: dict | None, runs_dir, quiet: bool) -> Model:
    keep = runs_dir is not None
    reporter = None if quiet else _Lines(spec.name or "fit")
    with tempfile.TemporaryDirectory(prefix="nnctl-fit-") as scratch, _ctrl_c() as stop:
        root = Path(runs_dir) if keep else Path(scratch)
        try:
            summary = train_run(
                spec,
                config_text=text,
                runs_root=root,
                reporter=reporter,
                command=["nnctl.fit"],
                arrays=arrays,
                pictures=keep,
                should_stop=stop if stop.signals else None,
            )
        except DivergedError as exc:
            if keep:
                raise
            message = str(exc)
            cut = message.rfind(". Run kept at ")  # the temporary folder is gone: do not point to it
            raise DivergedError(message[:cut] if cut > 0 else message) from None
        except KeyboardInterrupt:  # before the run folder was made (after it, train_run says what it kept)
            raise Interrupted(f"fit interrupted by {stop.name if stop() else 'KeyboardInterrupt'} before training began; no run folder was made") from None
        except Interrupted as exc:  # a second Ctrl-C: stopped at once, the last checkpoint kept
            raise Interrupted(
                f"fit interrupted: {exc}" if keep else f"fit interrupted: {_stopped_at(exc)}; nothing was kept (no runs_dir): call nnctl.fit again"
            ) from None
        if summary.status == "interrupted":  # the first Ctrl-C: training stopped after an iteration, every file written
            if keep:
                raise Interrupted(
                    f"fit interrupted: {stop.name} at iteration {summary.iterations}: parameters, checkpoint and costs so far are kept "
                    f"in {summary.run_dir} (status interrupted); {resume_advice(spec, summary.run_dir)}"
                )
            raise Interrupted(f"fit interrupted: {stop.name} at iteration {summary.iterations}; nothing was kept (no runs_dir): call nnctl.fit again")
        if stop():  # after the last iteration: the run is complete
            where = (
                f"the run is complete and kept in {summary.run_dir} (nnctl.load reads it)"
                if keep
                else "the run was complete but nothing was kept (no runs_dir)"
            )
            raise Interrupted(f"fit interrupted: {stop.name} after training: {where}")
        return Model._read(Path(summary.run_dir), kept=keep)


def _stopped_at(exc: Interrupted) -> str:
    """`SIGINT twice: stopped at once at iteration N` of train_run's message, without where the run is kept."""
    return str(exc).split(";")[0]


def _ctrl_c():
    """Ctrl-C as `nnctl train` takes it, while fit trains in the main thread under Python's own handler:
    before the run folder at once, then after the current iteration with every file written (a second: at
    once). SIGTERM and a handler of the caller's own stay as they are."""
    stop = StopRequest(raise_at_once=True, signals=(signal.SIGINT,))
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        stop.signals = ()  # nothing handled: stop() stays False
    return stop


@_escaping
def load(run_dir: str | os.PathLike) -> Model:
    """The model of a run folder: one `nnctl train` wrote, `Model.save` wrote, or `runs/latest`.

    Everything is read back as input and checked (RunError naming the file and the fix). An
    unfinished run gives its parameters so far, with `model.note` saying so.
    """
    return Model._read(resolve_run_path(Path(run_dir)), kept=True)


# ---------------------------------------------------------------- the model


class Model:
    """A trained network: predict, predict_proba, evaluate, save.

    Attributes (read-only by convention):
        params: {"W1": (n[1], n[0]), "b1": (n[1], 1), ...}, the course's layout
        layer_dims: [n_x, n[1], ..., n[L]]; activations: one per layer; loss; task
        classes: the class of each label 0 .. k-1 (names where the run has them, else the numbers);
            None for a regression
        feature_names: the column names of the DataFrame it was trained on (predict and evaluate
            match a DataFrame's columns by them), or None (trained on an array: by position)
        history: [(epoch or iteration, cost)], the recorded costs; history_unit says which
        metrics: metrics.json (final_cost, train_accuracy or train_rmse, seconds, status, ...)
        run_dir: the run folder it lives in, or None (fit without runs_dir)
        note: set when the run is unfinished or diverged
    """

    def __init__(self, run: Run, files: dict, run_dir: Path | None):
        self._run, self._files, self.run_dir = run, files, run_dir
        self.params: dict = run.params
        self.layer_dims: list = list(run.meta["layer_dims"])
        self.activations: list = list(run.activations)
        self.loss: str = loss_of(run)
        self.task: str = task_of(run)
        self.metrics: dict = run.metrics
        self.note: str | None = run.note
        names = run.meta.get("classes") or []
        if self.task != "classification":
            self.classes = None
        elif names and len(names) == len(class_names(run)):
            self.classes = np.asarray(names)
        else:
            self.classes = np.arange(len(class_names(run)))
        self.history, self.history_unit = self._history(files.get(COSTS_CSV), run.path / COSTS_CSV)
        names = run.meta["preprocessing"].get("feature_names")
        self.feature_names: list | None = list(names) if names else None

    @staticmethod
    def _history(data: bytes | None, path: Path) -> tuple:
        if data is None:
            return [], "iteration"
        try:
            columns = parse_costs_columns(data.decode("utf-8", "replace").splitlines())
        except ValueError:
            raise RunError(f"{path}: not a {COSTS_CSV} nnctl writes (no 'epoch,cost' or 'iteration,cost' header); train the run again") from None
        unit, xs = costs_axis(columns)
        return [(int(i), float(c)) for i, c in zip(xs, columns["cost"])], unit

    @classmethod
    def _read(cls, run_dir: Path, kept: bool) -> Model:
        run = load_run(run_dir)
        files = {}
        for name in RUN_FILES:
            path = run_dir / name
            if path.is_file():  # a regular file, or a link to one (load_run read it so)
                files[name] = read_bytes_capped(path)  # each no longer than nnctl writes (runs.file_cap)
        if not kept:
            run.path = Path(run_dir.name)  # the temporary folder is about to go: messages name the run only
        return cls(run, files, run_dir if kept else None)

    def __repr__(self) -> str:
        where = f", run_dir={str(self.run_dir)!r}" if self.run_dir else ""
        return f"Model(layers={self.layer_dims}, activations={self.activations}, task={self.task!r}{where})"

    # ------------------------------------------------------------ facts

    @property
    def n_features(self) -> int:
        return self.layer_dims[0]

    @property
    def input_shape(self) -> list:
        return list(self._run.meta["preprocessing"]["input_shape"])

    @property
    @_escaping
    def spec(self) -> Spec | None:
        """The resolved spec (config.resolved.yaml): every choice explicit; None where the run has none."""
        text = self._files.get(RESOLVED)
        if text is None:
            return None
        try:
            return spec_from_text(text.decode("utf-8"), self._run.path / RESOLVED)
        except (UnicodeDecodeError, NnctlError) as exc:
            raise RunError(f"{self._run.path / RESOLVED}: cannot be read back ({str(exc).splitlines()[0]}); train the run again") from None

    # ------------------------------------------------------------ using it

    def _table_rows(self, X) -> np.ndarray:
        """A pandas DataFrame's rows (m, n_x) through the run's table encoding, as `nnctl predict --run RUN
        table.csv` reads a table: the training columns found by name (numbers filled, text one-hot), the
        target column and others ignored (a warning names them)."""
        prep = self._run.table
        assert prep is not None
        columns = [str(c) for c in X.columns]
        if len(set(columns)) != len(columns):
            twice = next(c for c in columns if columns.count(c) > 1)
            raise DataError(f"X: the column {quoted(twice)} is there twice; give each of the training columns once")
        extra = [c for c in columns if c not in prep.columns and c != prep.target]
        if extra:
            _warn(f"X: columns not used in training ignored: {', '.join(map(quoted, extra[:8]))}{', ...' if len(extra) > 8 else ''}")
        if len(X) == 0:
            raise DataError("X: holds zero examples (a DataFrame of 0 rows); give at least one row")
        cells = np.empty((len(X), len(columns)), dtype=object)
        for j, name in enumerate(X.columns):
            cells[:, j] = _as_cells(X[name], str(name))
        table = _FrameTable("X", columns, cells.astype(str), np.arange(1, len(X) + 1), index=list(X.index))
        x, _, kept = prep.transform(table, need_target=False)
        for note in filled_notes(prep, "X", prep.filled_counts(table), len(X)):  # filled cells, as predict's notes say
            _warn(note)
        if kept.size != len(X):
            row = int(np.setdiff1d(np.arange(len(X)), kept)[0])
            raise DataError(
                f"X: row {quoted(table.index[row])}: a value is missing, and the run drops such rows (data.missing: drop); fill it in or leave the row out"
            )
        return x

    def _by_name(self, X):
        """A DataFrame's columns in the order of the run's feature names (recorded where training's X
        had named columns): the same names in another order are put in order, a missing or unknown
        name is refused. An array, or a run without names, is taken by position."""
        if self.feature_names is None or self._run.table is not None or not _is_frame(X):
            return X
        given = feature_names(X)
        if given is None:
            raise DataError(
                f"X: a DataFrame whose columns are not all text names, but the model was trained on columns named "
                f"{_listed(self.feature_names)}; give those columns (they are matched by name), or X.to_numpy() in the training order"
            )
        missing = [c for c in self.feature_names if c not in given]
        unknown = [c for c in given if c not in self.feature_names]
        if missing or unknown:
            said = [f"missing {_listed(missing)}" if missing else "", f"not in training {_listed(unknown)}" if unknown else ""]
            raise DataError(
                f"X: columns {'; '.join(w for w in said if w)}; the model was trained on {_listed(self.feature_names)} "
                "(matched by name, in any order): give exactly those columns"
            )
        return X[self.feature_names]

    def _flat(self, X, normalize: bool = True) -> np.ndarray:
        """X (n_x, m) for rows of examples, preprocessed as training did: flattened, scaled, normalised."""
        X = self._by_name(X)
        if self._run.table is not None and _is_frame(X):
            X = self._table_rows(X)
        elif self._run.table is not None and np.asarray(X).dtype == object:
            prep = self._run.table
            raise DataError(
                f"X: this model was trained on a table; give a pandas DataFrame with its columns ({', '.join(map(quoted, prep.columns[:8]))}"
                f"{', ...' if len(prep.columns) > 8 else ''}), and the run's encoding (text one-hot, missing values filled) is applied"
            )
        x = _rows(X)
        shape = self.input_shape
        if int(np.prod(x.shape[1:])) != self.n_features or (x.ndim > 2 and list(x.shape[1:]) != shape):
            raise DataError(
                f"X: rows of shape {list(x.shape[1:])} ({int(np.prod(x.shape[1:]))} features), but the model takes "
                f"{self.n_features} features{f' (shape {shape})' if len(shape) > 1 else ''}; give rows laid out like the training data"
            )
        # (n_x, m): the one transpose, as for a file; numeric inputs in float64 (read_dtype), and, normalised, cast after
        X = flatten(x, self._run.meta["preprocessing"], read_dtype_of(self._run))
        return normalized(self._run, X) if normalize else X

    def affine_layers(self) -> list:
        """[(W, b)] per layer, the course's layout (W (n[l], n[l-1]), b (n[l], 1)): Z[l] = W A[l-1] + b as
        predict computes it. A batch-normalised layer is folded into that form with its running
        averages: W = gamma W[l] / sqrt(var + epsilon), b = beta - gamma mean / sqrt(var + epsilon)."""
        params, layers = self.params, []
        for l in range(1, len(self.layer_dims)):
            W = params[f"W{l}"]
            if f"gamma{l}" in params:
                scale = params[f"gamma{l}"].astype(np.float64) / np.sqrt(params[f"running_var{l}"].astype(np.float64) + self._run.epsilon)
                b = params[f"beta{l}"].astype(np.float64) - scale * params[f"running_mean{l}"].astype(np.float64)
                layers.append(((scale * W).astype(W.dtype), b.astype(W.dtype)))
            else:
                layers.append((W, params[f"b{l}"]))
        return layers

    @_escaping
    def output(self, X) -> np.ndarray:
        """A[L] as (m, units): the output layer for each row of X (probabilities, or the values)."""
        return outputs(self._run, self._flat(X)).T

    @_escaping
    def predict_labels(self, X) -> np.ndarray:
        """The predicted label 0 .. k-1 of each row (classification), or the value (regression)."""
        A = outputs(self._run, self._flat(X))
        if not np.isfinite(A).all():
            raise RunError(f"{self._run.path}: the network's outputs are not finite numbers (the run diverged); train it again")
        return HEADS[self.loss].predict(A)

    @_escaping
    def predict(self, X) -> np.ndarray:
        """The predicted class of each row of X (m,), as `classes` names it; a regression's values."""
        labels = self.predict_labels(X)
        return labels if self.classes is None else self.classes[labels]

    @_escaping
    def predict_proba(self, X) -> np.ndarray:
        """(m, k): the probability of each class, columns in the order of `classes`."""
        head = HEADS[self.loss]
        if head.proba is None:
            raise RunError(f"{self._run.path}: a regression has no class probabilities; use predict")
        A = outputs(self._run, self._flat(X))
        return head.proba(A).T

    @_escaping
    def evaluate(self, X, y) -> dict:
        """The metrics `nnctl evaluate` prints and writes: accuracy (%), precision, recall, F1, the
        confusion matrix and per-class scores for a classifier; rmse and mae for a regression.
        y holds class names (as `classes`) or the label numbers 0 .. k-1."""
        X = self._by_name(X)
        x = _rows(self._table_rows(X) if self._run.table is not None and _is_frame(X) else X)
        labels = np.asarray(y)
        if labels.ndim == 2 and 1 in labels.shape:
            labels = labels.ravel()
        if self.classes is not None and labels.dtype.kind not in "iufb":
            index = {str(c): i for i, c in enumerate(self.classes)}
            unknown = sorted({str(v) for v in labels.ravel()} - set(index))
            if unknown:
                raise DataError(
                    f"y: classes {unknown[:5]} are not among the model's {[str(c) for c in self.classes][:10]}; "
                    "evaluate with labels of the classes it was trained on"
                )
            labels = np.array([index[str(v)] for v in labels.ravel()], dtype=np.intp)
        if labels.ndim != 1 or labels.shape[0] != x.shape[0]:
            raise DataError(f"y: expected one label per row of X, shape ({x.shape[0]},) (got shape {np.shape(y)})")
        head = HEADS[self.loss]
        labels, _ = check_examples(
            "y", x, labels, self.task, lambda: True, list(class_names(self._run)) if self.classes is not None else [], head.max_classes or None
        )
        if self.task == "classification" and labels.size and int(labels.max()) >= len(class_names(self._run)):
            raise DataError(f"y: labels beyond the model's {len(class_names(self._run))} classes; evaluate with labels of the classes it was trained on")
        data = _Examples(self._flat(x, normalize=False), labels.reshape(1, -1))  # score normalises
        result, _ = score(self._run, data, "X")
        return result

    # ------------------------------------------------------------ keeping it

    @_escaping
    def save(self, run_dir: str | os.PathLike) -> Path:
        """Write the run folder (spec, resolved spec, reproduce.json, params.h5, metrics.json,
        costs.csv, and the pictures a kept run has) into `run_dir`, a new or empty folder;
        `nnctl.load`, `nnctl predict --run`, `nnctl evaluate` and `nnctl report` read it."""
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            what = "a folder that is not empty" if path.is_dir() else "a file"
            raise RunError(f"{path}: is {what}; give a new folder to save the model in")
        try:
            path.mkdir(parents=True, exist_ok=True)
            for name, data in self._files.items():
                atomic_write(path / name, data)
        except OSError as exc:
            raise RunError(f"{path}: cannot be written ({exc.strerror or exc}); choose another folder") from None
        return path


def _listed(names, most: int = 8) -> str:
    return f"({', '.join(map(quoted, names[:most]))}{', ...' if len(names) > most else ''})"


class _Examples:
    """What inference.score reads of a dataset: X (n_x, m) and Y (1, m)."""

    def __init__(self, X, Y):
        self.X, self.Y = X, Y

    @property
    def m(self) -> int:
        return self.X.shape[1]

    @property
    def n_x(self) -> int:
        return self.X.shape[0]
