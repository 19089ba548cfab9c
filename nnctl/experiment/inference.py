"""Using a trained run: predict on picture files, evaluate on a dataset."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nnctl.data.dataset import Normalization, load_dataset, prepared, read_dtype
from nnctl.errors import DataError, NnctlError, RunError
from nnctl.data.images import image_geometry, load_image, shown
from nnctl.core.network import HEADS, auto_loss, predict_proba
from nnctl.rundir.layout import REPRODUCE, RESOLVED, confusion_png, evaluation_boundary_png, evaluation_json, misclassified_png
from nnctl.rundir.runs import Run, read_text_capped, write_json
from nnctl.data.tables import MISSING_TOKENS, filled_notes, is_table, missing_mask, quoting_problem, table_chunks, table_preprocessing
from nnctl.util.text import quoted
from nnctl.data.dataset import check_data_file, h5_array, is_mat, open_h5, read_block, read_mat
from nnctl.data.dataset import describe_h5
import csv as csv_module
from nnctl.data.tables import NUMBER, is_lookalike, lookalike_problem
from nnctl.data.images import IMAGE_SUFFIXES
from nnctl.rundir.runs import read_json_object
from nnctl.data.dataset import BUILTIN_PREFIX
from nnctl.data.stream import open_streamed
from nnctl.data.dataset import Dataset, check_unchanged, file_identity, file_sha256, source_path
import re
import hashlib
from nnctl.util.plots import plot_confusion, plot_decision_boundary, plot_misclassified
from nnctl.util.atomic import output_set, remove_with_set


TOP = 3  # predict lists this many most probable classes


@dataclass
class Prediction:
    file: str
    probability: float | None = None  # classification: P(probability_of)
    probability_of: str | None = None  # the class that probability is for: label 1 (sigmoid), the top class (softmax)
    label: int | None = None
    class_name: str | None = None
    value: float | None = None  # regression: the predicted value
    notes: list = field(default_factory=list)
    error: str | None = None
    classes: dict | None = None  # over two classes: {class: probability}, in label order

    def top(self, n: int = TOP) -> list:
        """The n most probable classes, [(class, probability)], most probable first."""
        return sorted((self.classes or {}).items(), key=lambda kv: -kv[1])[:n]

    def fields(self, task: str) -> dict:
        """The same names in JSON and CSV: file, class, label, probability, probability_of (or value), notes, error;
        over two classes also top (the three most probable) and P(class) for every class."""
        if task == "regression":
            return {"file": self.file, "value": self.value, "notes": self.notes, "error": self.error}
        row: dict[str, object] = {
            "file": self.file,
            "class": self.class_name,
            "label": self.label,
            "probability": self.probability,
            "probability_of": self.probability_of,
        }
        if self.classes is not None:
            row["top"] = [{"class": c, "probability": p} for c, p in self.top()]
            row.update({f"P({c})": p for c, p in self.classes.items()})
        return {**row, "notes": self.notes, "error": self.error}


def task_of(run: Run) -> str:
    return run.meta.get("task", "classification")


def loss_of(run: Run) -> str:
    """The run's loss, the key of its head (runs written before the loss was recorded: from the output)."""
    return run.meta.get("loss") or (auto_loss(run.activations[-1]) if task_of(run) == "classification" else "mse")


def class_count(run: Run) -> int:
    """k, from the output layer: 2 for a sigmoid unit, its units for softmax."""
    return HEADS[loss_of(run)].classes(run.meta["layer_dims"][-1])


def class_names(run: Run) -> list:
    names, k = run.meta.get("classes") or [], max(class_count(run), 2)
    return names if len(names) == k else [str(i) for i in range(k)]


def model_input(run: Run):
    """((H, W), mode) for a run whose model takes pictures, else a RunError naming its input."""
    pre = run.meta["preprocessing"]
    geometry = image_geometry(pre["input_shape"])
    if geometry is None:
        raise RunError(
            f"{run.path}: this model takes inputs of shape {pre['input_shape']}, not pictures; "
            "give rows of its features in a CSV or HDF5 file, or use `nnctl evaluate` with an HDF5 file"
        )
    return geometry


def _dtype(run: Run):
    return np.dtype(run.meta.get("dtype", "float64"))


BLOCK = 256  # examples per forward pass: every example goes through a product of this very shape


def outputs(run: Run, X) -> np.ndarray:
    """A[L] (units, m) for X (n_x, m), the same numbers for an example whatever else is in the batch;
    a regression trained on standardised targets gives its values in the target's own units
    (`to_targets`): every prediction that leaves nnctl comes through here.

    A BLAS product rounds a column differently depending on how many columns it has (one picture
    alone takes a matrix-vector kernel, a batch a matrix-matrix one), so every example goes through
    a product of exactly BLOCK columns (the last block padded with zeros), from one buffer of one
    layout: predict on one file and evaluate on a whole test set give the same bits.
    """
    n_x, m = X.shape
    out = np.empty((run.meta["layer_dims"][-1], m), dtype=np.float64)
    block = np.zeros((n_x, BLOCK), dtype=_dtype(run), order="F")
    with np.errstate(all="ignore"):  # a diverged run's outputs are checked, not warned about
        for start in range(0, m, BLOCK):
            k = min(BLOCK, m - start)
            block[:, :k] = X[:, start : start + k]
            block[:, k:] = 0
            out[:, start : start + k] = predict_proba(block, run.params, run.activations, run.epsilon)[:, :k]
        return to_targets(run, out)


def to_targets(run: Run, A) -> np.ndarray:
    """The network's outputs A[L] (units, m) as predictions: a regression whose targets were
    standardised for training (data.normalize_target) turned back, A std + mean, in float64; any
    other output as it is."""
    target = getattr(run, "target", None)
    return target.invert(A) if target is not None and target.active else A


def normalization(run: Run) -> Normalization:
    """The run's normalisation (its training set's mean and std), none where it has none."""
    return run.normalization if run.normalization is not None else Normalization()


def read_dtype_of(run: Run) -> np.dtype:
    """The dtype the run's inputs are flattened into before they are normalised (read_dtype): float64
    for numeric inputs of a float32 run, its own dtype for pixels and for float64 runs."""
    return read_dtype(run.meta["preprocessing"], _dtype(run), normalization(run).method)


def normalized(run: Run, X):
    """X (n_x, m), flattened and scaled in `read_dtype_of(run)`, with the run's normalisation applied
    in place as training did, then cast to the run's dtype."""
    return normalization(run).finish(X, _dtype(run))


def probabilities(run: Run, x) -> np.ndarray:
    """A[L] (units, m) for raw examples x (m, ...) as stored on disk, preprocessed the recorded way.

    The same step as training and evaluation: flatten and scale, normalise (numeric inputs in
    float64), cast to the run's dtype.
    """
    return outputs(run, prepared(np.asarray(x), run.meta["preprocessing"], _dtype(run), run.normalization))


IMAGES_PER_CHUNK = 256  # pictures predicted together: their pixels are all predict holds of a folder


def predict_files(run: Run, files, max_pixels: int | None = None, on_item=None) -> list[Prediction]:
    """One Prediction per file; a file that cannot be read carries its error, the rest go on.

    Pictures over `max_pixels` (default images.MAX_PIXELS) are refused as possible decompression bombs.
    `on_item(k, n)` is called after each file is read (for a progress bar).
    """
    size, mode = model_input(run)
    names = class_names(run)
    results: list[Prediction] = []
    pixels: list = []
    waiting: list[Prediction] = []  # read, not yet predicted: at most IMAGES_PER_CHUNK pictures are held

    def flush():
        if pixels:
            x = np.stack(pixels).reshape(len(pixels), *run.meta["preprocessing"]["input_shape"])
            _fill(waiting, probabilities(run, x), run, names)
            pixels.clear()
            waiting.clear()

    files = list(files)
    for k, path in enumerate(files, 1):
        try:
            img = load_image(path, size, mode, max_pixels)
        except NnctlError as exc:
            results.append(Prediction(file=shown(path), error=str(exc)))
        else:
            results.append(Prediction(file=shown(path), notes=img.notes))
            waiting.append(results[-1])
            pixels.append(img.pixels)
            if len(pixels) == IMAGES_PER_CHUNK:
                flush()
        if on_item:
            on_item(k, len(files))
    flush()
    return results


def _fill(preds, A, run: Run, names) -> None:
    """Each prediction from its column of A[L] (units, m): a value, P(label 1), or the top class and
    the probability of each class, as the run's head reads its output."""
    head = HEADS[loss_of(run)]
    labels = head.predict(A)
    classes = head.proba(A) if head.proba is not None else None  # (k, m)
    for j, pred in enumerate(preds):
        if not np.isfinite(A[:, j]).all():
            pred.error = f"{pred.file}: the network's output is not a finite number (the run diverged); train it again"
        elif classes is None:
            pred.value = float(A[0, j])
        elif A.shape[0] == 1:  # one sigmoid unit: its output is P(label 1)
            pred.probability, pred.label = float(A[0, j]), int(labels[j])
            pred.class_name, pred.probability_of = names[pred.label], names[1]
        else:  # one unit per class: the top class and the probability of each
            pred.label = int(labels[j])
            pred.class_name = pred.probability_of = names[pred.label]
            pred.probability = float(classes[pred.label, j])
            pred.classes = dict(zip(names, map(float, classes[:, j])))


# ---------------------------------------------------------------- rows (models that do not take pictures)


def is_image_model(run: Run) -> bool:
    return image_geometry(run.meta["preprocessing"]["input_shape"]) is not None


ROWS_PER_CHUNK = 8192  # rows read, checked, predicted and written at a time: predict's memory is bounded by this


def row_chunks(path, n_x: int, rows: int | None = None, feature_names=None):
    """Examples of a file in chunks: (first row number, x (b, n_x) float64, column names or None).

    A CSV file (its first line is a header naming the features when it is not all numbers; a
    UTF-8 byte-order mark is not part of it; with `feature_names`, the names a run trained on a
    DataFrame recorded, the header's columns are matched to them by name, in any order) or a data file (HDF5 plain or course layout, read a
    chunk of rows at a time; MATLAB 5, read whole), whose labels, if any, are not needed. Rows
    are counted from 1 (a CSV file's data rows, after its header). Memory: one chunk of rows.
    """
    rows = rows or ROWS_PER_CHUNK
    path = check_data_file(path)
    before = file_identity(path)  # checked before each chunk is given and at the end: a file written while it is read is refused
    scored = 0  # the last row of the chunks given

    def unchanged() -> None:
        done = f"nothing after row {scored} was scored" if scored else "no row was scored"
        check_unchanged(path, before, f"{done}; run again on a file that is not being written")

    try:
        for first, x, names in _row_chunks(path, n_x, rows, feature_names):
            unchanged()  # the chunk is of the file as it was opened (a truncated file's last line is no row of it)
            yield first, x, names
            scored = first + len(x) - 1
    except DataError:
        unchanged()  # a file cut short mid-line is named as changed, not by the broken line it leaves
        raise
    unchanged()


def _row_chunks(path, n_x: int, rows: int, feature_names=None):
    if path.suffix.lower() in (".csv", ".txt"):
        yield from _csv_chunks(path, n_x, rows, feature_names)
        return
    if is_mat(path):
        x = _examples(path, np.asarray(read_mat(path, "train")[0]), n_x)
        yield 1, x.astype(np.float64), None
        return
    with open_h5(path) as f:
        key = next((k for k in ("x", "train_set_x", "test_set_x") if k in f), None)
        if key is None:
            raise DataError(f"{path}: no examples to predict: expected an array 'x' (plain layout); the file holds: {describe_h5(f)}")
        ds = h5_array(f, key, path)
        if ds.ndim == 0 or ds.shape[0] == 0:
            raise DataError(f"{path}: '{key}' holds no rows to predict")
        for start in range(0, ds.shape[0], rows):
            yield start + 1, _examples(path, read_block(ds, start, start + rows, path, key), n_x).astype(np.float64), None


def _examples(path, x, n_x: int) -> np.ndarray:
    if x.dtype.kind not in "iufb":
        raise DataError(f"{path}: the examples have dtype {x.dtype}; expected numbers")
    x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    if x.shape[1] != n_x:
        raise DataError(f"{path}: rows of {x.shape[1]} values, but the model takes {n_x} features; give rows laid out like the training data")
    return x


def header_order(path, header: list, feature_names: list) -> list | None:
    """Where each of the run's features is among a CSV header's columns (None: already in order); a
    header of other names (missing, unknown or repeated) is refused: the run matches columns by name."""
    if header == feature_names:
        return None
    twice = next((c for c in header if header.count(c) > 1), None)
    missing = [c for c in feature_names if c not in header]
    unknown = [c for c in header if c not in feature_names]
    if twice is not None or missing or unknown:

        def listed(names):
            return ", ".join(map(quoted, names[:8])) + (", ..." if len(names) > 8 else "")

        said = [
            f"the column {quoted(twice)} twice" if twice is not None else "",
            f"missing {listed(missing)}" if missing else "",
            f"not in training {listed(unknown)}" if unknown else "",
        ]
        raise DataError(
            f"{path}: the header names columns the run was not trained on ({'; '.join(w for w in said if w)}); the run was trained "
            f"on columns named {listed(feature_names)}, matched by name in any order: give exactly those (or rows without a header, in that order)"
        )
    return [header.index(name) for name in feature_names]


def _csv_chunks(path, n_x: int, rows: int, feature_names=None):

    def numbers(row):
        """The row's numbers, None where a cell is not one (NUMBER: plain ASCII, never '5_0' or '\u0665')."""
        if all(NUMBER.fullmatch(c) for c in row):
            return [float(c) for c in row]
        odd = next((j for j, c in enumerate(row) if is_lookalike(c)), None)
        if odd is not None:
            raise lookalike_problem(f"{path}: data row {k + 1}, column {odd + 1}", row[odd])
        return None

    names, k, values, order, start, reader = None, 0, [], None, 1, None
    try:
        # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name or number
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv_module.reader(fh)
            for row in reader:
                start = reader.line_num + 1  # where the next row begins
                if not row or not any(c.strip() for c in row):
                    continue
                parsed = numbers(row)
                if parsed is None and k == 0 and names is None and not any(c.strip().lower() in MISSING_TOKENS for c in row):
                    # a header naming the features; a first row with an empty, NA, null or ? cell is data
                    # (a missing value is never a name): refused below as data row 1, as any later row would be
                    names = [c.strip() for c in row]  # a header naming the features
                    if feature_names:
                        order = header_order(path, names, list(feature_names))
                        names = list(feature_names)
                    continue
                k += 1
                if parsed is None or len(parsed) != n_x:
                    what = "values that are not numbers" if parsed is None else f"{len(parsed)} values"
                    raise DataError(f"{path}: data row {k} has {what}; the model takes {n_x} numbers per row")
                values.append(parsed if order is None else [parsed[j] for j in order])
                if len(values) == rows:
                    yield k - rows + 1, np.array(values, dtype=np.float64), names
                    values = []
    except csv_module.Error as exc:
        quoting = quoting_problem(path, exc, start, reader.line_num if reader is not None else start)
        if "never closed" in str(quoting):  # a quote opened on line `start` runs on: named there
            raise quoting from None
        raise DataError(f"{path}: cannot be read as CSV text ({exc}); save it as UTF-8 CSV") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as CSV text ({exc}); save it as UTF-8 CSV") from None
    if values:
        yield k - len(values) + 1, np.array(values, dtype=np.float64), names
    elif k == 0:
        raise DataError(f"{path}: no rows of numbers to predict")


def checked_inputs(run: Run, x, path, first: int, names=None, where=None) -> np.ndarray:
    """X (n_x, b) for raw rows x (b, n_x) as the network takes them (flattened, scaled, normalised
    in the run's dtype), or a DataError naming the row and column of a value that is not finite,
    or that overflows there or in the first layer's product (1e308 would give P = 1.0).
    `where(j, c)` names row j's column c (a table's 'FILE: line L, column NAME'); default
    'FILE: row first + j, column c + 1 (its name)'."""
    dtype = _dtype(run)

    def refuse(j, c, problem):
        if where is not None:
            return DataError(f"{where(j, c)}: {float(x[j, c]):g} {problem}; correct or remove that value")
        col = f"column {c + 1}" + (f" ({names[c]})" if names and c < len(names) and names[c] else "")
        return DataError(f"{path}: row {first + j}, {col}: {float(x[j, c]):g} {problem}; correct or remove that value")

    bad = ~np.isfinite(x)
    if bad.any():
        j, c = np.argwhere(bad)[0]
        raise refuse(j, c, "is not a finite number")
    with np.errstate(all="ignore"):
        X = prepared(x.reshape(x.shape[0], *run.meta["preprocessing"]["input_shape"]), run.meta["preprocessing"], dtype, run.normalization)
        bad = ~np.isfinite(X)
        if bad.any():
            c, j = np.argwhere(bad)[0]
            raise refuse(j, c, f"overflows {dtype} after normalisation")
        # the first layer: |Z1| <= max|W1| * sum|x| + max|b1|; an example whose bound reaches a
        # quarter of the dtype's range is refused: its product may overflow (1e308 gave P = 1.0)
        W1, b1 = run.params["W1"], run.params.get("b1", np.zeros(1))  # a batch-normalised first layer has no b1 (beta instead)
        bound = float(np.abs(W1).max(initial=0)) * np.abs(X).sum(axis=0, dtype=np.float64) + float(np.abs(b1).max(initial=0))
        near = np.flatnonzero(~(bound < np.finfo(dtype).max / 4))
        if near.size:
            j = int(near[0])
            c = int(np.argmax(np.abs(X[:, j])))
            raise refuse(j, c, f"is too large: after normalisation ({float(X[c, j]):g}) the network's first layer could overflow {dtype}")
    return X


def predict_table(run: Run, path, notes: list, missing: dict | None = None):
    """Lists of Predictions, one per row of a table (its `file` is FILE:LINE), TABLE_ROWS_PER_CHUNK rows at
    a time (memory is one chunk, whatever the file's size), through the run's column encoding: the
    training columns found by name, the target column optional, other columns ignored (said in `notes`);
    a row that cannot be used (a missing value, data.missing: drop) is not left out: it is listed with
    its error, and counted in `missing` (FILE as shown: rows)."""
    prep = run.table
    assert prep is not None  # a run trained on a table
    names, unseen = class_names(run), 0
    filled: dict = {}  # column: cells filled (data.missing: mean, median, most_frequent)
    total = 0
    for number, table in enumerate(table_chunks(path, TABLE_ROWS_PER_CHUNK, prep.header)):  # data.header as the run was trained
        if number == 0 and (extra := [c for c in table.columns if c not in prep.columns and c != prep.target]):
            notes.append(f"{shown(path)}: columns not used in training ignored: {', '.join(map(quoted, extra[:8]))}{', ...' if len(extra) > 8 else ''}")
        if prep.unseen == "zeros":
            unseen += prep.unseen_count(table)
        for column, n in prep.filled_counts(table).items():
            filled[column] = filled.get(column, 0) + n
        total += table.m
        preds = [Prediction(file=f"{shown(path)}:{int(line)}") for line in table.lines]
        if table.m == 0:
            continue
        x, _, kept = prep.transform(table, need_target=False)
        why = "a value is missing, so no prediction (the run was trained with data.missing: drop); fill it in"
        for i in np.setdiff1d(np.arange(table.m), kept):
            preds[i].error = f"{shown(path)}: line {int(table.lines[i])}: {why}"
        if missing is not None and kept.size < table.m:
            missing[shown(path)] = missing.get(shown(path), 0) + table.m - int(kept.size)
        if kept.size:
            X = checked_inputs(run, x, path, 1, where=table_where(prep, table, kept))  # the guard rows of any file get
            _fill([preds[i] for i in kept], outputs(run, X), run, names)
        yield preds
    notes.extend(filled_notes(prep, shown(path), filled, total))
    if unseen:
        notes.append(f"{shown(path)}: {unseen} categories not seen in training encoded as all zeros (data.unseen: zeros)")


def rows_failed(total: int, failed: int, missing: dict) -> str:
    """predict's last line when rows have no prediction: those with a missing value (a run trained with
    data.missing: drop), by file, and those whose output is not finite (a diverged run)."""
    said, gaps = [], sum(missing.values())
    if gaps:
        said.append(
            f"{', '.join(missing)}: {gaps} of the {total} rows {'has' if gaps == 1 else 'have'} a missing value and no prediction "
            "(listed with their line): the run was trained with data.missing: drop, which leaves such rows out of training and "
            "evaluate, not out of predict's output; fill the values in, or train with data.missing: mean, median or most_frequent"
        )
    if failed > gaps:
        said.append(f"{failed - gaps} of {total} rows have no finite output")
    return "; ".join(said)


def table_where(prep, table, kept):
    """where(j, c) for checked_inputs: row j of the encoded rows (table row kept[j]) and feature c
    (a numeric column, or a text column's one-hot) as 'FILE: line L, column NAME'."""
    columns = list(prep.numeric) + [c for c, cats in zip(prep.categorical, prep.categories) for _ in cats]
    return lambda j, c: table.where(int(kept[j]), columns[c])


def predict_rows(run: Run, files, rows: int | None = None, notes: list | None = None, missing: dict | None = None):
    """Predictions of every row of each file, a chunk at a time (lists of Prediction; `file` is
    FILE:ROW, rows counted from 1; a table's FILE:LINE): memory is one chunk, whatever the files'
    sizes, tables included. Notes on a table's columns are appended to `notes`; a table's rows
    without a prediction for a missing value (data.missing: drop) are counted in `missing`."""
    n_x = run.meta["layer_dims"][0]
    names = class_names(run)
    notes = [] if notes is None else notes
    for path in files:
        given_file(path)
        if run.table is not None:
            if not is_table(path):
                raise DataError(
                    f"{shown(path)}: this run was trained on a table; give rows as a table (.csv, .tsv, .parquet) with its columns "
                    f"({', '.join(run.table.columns[:8])}{', ...' if len(run.table.columns) > 8 else ''})"
                )
            yield from predict_table(run, path, notes, missing)
            continue
        if Path(path).suffix.lower() in IMAGE_SUFFIXES or Path(path).is_dir():
            model_input(run)  # says this model takes features, not pictures
        for first, x, columns in row_chunks(path, n_x, rows, run.meta["preprocessing"].get("feature_names")):
            X = checked_inputs(run, x, path, first, columns)
            preds = [Prediction(file=f"{shown(path)}:{first + j}") for j in range(x.shape[0])]
            _fill(preds, outputs(run, X), run, names)
            yield preds


def given_file(path) -> Path:
    """A file of rows named on the command line (predict's FILES, evaluate --data), checked as such:
    "-" (standard input, which nnctl does not read) and a missing path are named with the fix for a
    command line (a spec's paths are read from its folder, these from the working folder); then
    check_data_file's checks (a FIFO, a device, a folder)."""
    if str(path) == "-":
        raise DataError("-: standard input is not read; save the rows to a file (.csv, or an HDF5 .h5) and give its path")
    if not os.path.lexists(path):
        raise DataError(f"{shown(path)}: no such file; check the path (a relative path is read from the working folder)")
    return check_data_file(path)


# ---------------------------------------------------------------- evaluate


def default_test_source(run: Run) -> str:
    resolved = run.path / RESOLVED
    try:
        data = yaml.safe_load(read_text_capped(resolved))["data"]
    except (OSError, KeyError, TypeError, ValueError, yaml.YAMLError):
        raise RunError(f"{resolved}: missing or unreadable; pass the data with --data") from None
    if not isinstance(data, dict) or not isinstance(data.get("test"), (str, type(None))):
        raise RunError(f"{resolved}: data: expected a mapping with a test file path; pass the data with --data")
    if not data.get("test"):
        raise RunError(f"{run.path}: the run has no test file; pass one with --data FILE (.h5, or a table .csv/.tsv for a run trained on one)")
    return data["test"]


def class_scores(cm, names) -> dict:
    """Per-class precision, recall, F1 and support from a k×k confusion matrix, with their macro
    (the classes' plain mean) and weighted (by support) averages. A class never predicted has
    precision 0; one never present, recall 0."""
    cm = np.asarray(cm)
    rows = []
    for c, name in enumerate(names):
        tp, predicted, support = int(cm[c, c]), int(cm[:, c].sum()), int(cm[c].sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append({"class": name, "precision": float(precision), "recall": float(recall), "f1": float(f1), "support": support})
    total = sum(r["support"] for r in rows)
    avg = {
        kind: {key: float(sum(r[key] * w(r) for r in rows) / (sum(w(r) for r in rows) or 1)) for key in ("precision", "recall", "f1")}
        for kind, w in (("macro", lambda r: 1), ("weighted", lambda r: r["support"]))
    }
    avg["weighted"]["support"] = avg["macro"]["support"] = total
    return {"per_class": rows, "macro": avg["macro"], "weighted": avg["weighted"]}


def check_classes(run: Run, data, source) -> None:
    """The data's class names, in label order, must be the run's: else every label means the other class."""
    trained = run.meta.get("classes") or []
    given = list(data.classes or [])
    if not trained or not given or given == trained:
        return
    if sorted(given) == sorted(trained):
        other = "every label would mean the other class" if len(trained) == 2 else "labels would mean other classes"
        raise DataError(
            f"{source}: classes in the order [{', '.join(given)}] (label 0 first), but {run.path} was trained on "
            f"[{', '.join(trained)}]: {other}; re-import the pictures with "
            f"--classes {','.join(trained)}"
        )
    raise DataError(f"{source}: classes [{', '.join(given)}], but {run.path} was trained on [{', '.join(trained)}]; evaluate with data of the run's classes")


def _same_source(a: str, b: str) -> bool:
    a, b = source_path(a), source_path(b)  # a validation split's training part is its file
    if a.startswith("builtin:") or b.startswith("builtin:"):
        return a == b
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False


def check_own_data(run: Run, data, source) -> None:
    """A file the run was trained or tested on must be the same bytes (SHA-256 in reproduce.json)."""
    check_own_digest(run, data.sha256, source)


def check_own_file(run: Run, source) -> None:
    """check_own_digest before the file is read: a file the run was trained or tested on that changed
    is named as such, not by what it then breaks (a column or category the run does not know, labels
    beyond its classes, another shape)."""
    if str(source).startswith(BUILTIN_PREFIX) or not os.path.isfile(source) or not _recorded_sources(run):
        return
    if any(_same_source(entry["source"], str(source)) for entry in _recorded_sources(run).values()):
        try:
            digest = file_sha256(source)
        except OSError:
            return  # reading it says why
        check_own_digest(run, digest, source)


def _recorded_sources(run: Run) -> dict:
    """reproduce.json's data entries that name a source ({} where there is no reproduce.json)."""
    path = run.path / REPRODUCE
    if not path.exists():
        return {}
    recorded = read_json_object(path, fix="restore it from a copy, or train the run again").get("data", {})
    if not isinstance(recorded, dict):
        raise RunError(f"{path}: data: expected an object of data files and their SHA-256; the run's files are damaged")
    return {role: e for role, e in recorded.items() if isinstance(e, dict) and isinstance(e.get("source"), str)}


def check_own_digest(run: Run, digest_now: str, source) -> None:
    path = run.path / REPRODUCE
    if str(source).startswith("builtin:"):
        return  # a generator and its options name the data; its last bits may differ on another CPU
    for role, entry in _recorded_sources(run).items():
        if not _same_source(entry["source"], source):
            continue
        digest = entry.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise RunError(f"{path}: data.{role}.sha256: expected 64 hexadecimal digits; the run's files are damaged")
        if digest != digest_now:
            raise DataError(
                f"{source}: the file changed since {run.path} was trained on it (its SHA-256 differs from the one in "
                f"{path}); a new import or split may have moved training examples into the test split or relabelled "
                "them, so its scores would mislead; train the run again on the new file"
            )


TABLE_ROWS_PER_CHUNK = 2048  # a table's rows read at a time: its cells are text, several times the size of the numbers
KEPT_MISTAKES = 40  # misclassified examples whose inputs evaluate keeps for their pictures (misclassified.png shows 40, the report 24)


class KeptColumns:
    """X (n_x, m) of which evaluate kept only some columns (the first mistakes, for their pictures):
    `shape` and `X[:, i]` for a kept i, as the pictures read them; the rest was never held."""

    ndim = 2

    def __init__(self, n_x: int, m: int, columns: dict, dtype):
        self.shape, self.columns, self.dtype = (n_x, m), columns, np.dtype(dtype)

    def __getitem__(self, key):
        rows, i = key
        if rows != slice(None) or int(i) not in self.columns:
            raise IndexError(f"example {i}: evaluate keeps the inputs of its first {KEPT_MISTAKES} mistakes only")
        return self.columns[int(i)]


EVALUATION_LISTED = 10_000  # evaluation.json lists the outputs of the first this many examples (the scores count every one)


class _Tally:
    """What an evaluation's scores need of outputs A[L] and labels y given a block at a time: counts,
    the confusion matrix and the mistakes (classification); scaled sums of the errors, their squares
    and the labels' spread, for RMSE, MAE and R² (regression); and the per-example outputs of the first
    EVALUATION_LISTED examples. Memory: a few numbers, whatever the count of examples; the scores equal
    one pass over all of them (to the last bits of a sum's rounding)."""

    def __init__(self, run: Run, source: str):
        self.run, self.source = run, source
        self.task, self.head = task_of(run), HEADS[loss_of(run)]
        self.names = class_names(run) if self.task == "classification" else []
        self.m = 0
        self.cm = np.zeros((len(self.names), len(self.names)), dtype=np.int64)
        self.mistakes = 0
        self.listed: dict[str, list] = {"outputs": [], "probabilities": [], "misclassified": [], "predicted": [], "confidence": []}
        self.scale = self.squares = self.absolute = 0.0  # RMSE and MAE: sums of (err/scale)², |err|/scale
        self.y_mean = self.y_m2 = 0.0  # R²: the labels' mean and sum of squared deviations (Chan et al.'s parallel update)

    def add(self, AL, y) -> None:
        """A[L] (units, b) and y (b,) of the next b examples."""
        A = AL[0] if AL.shape[0] == 1 else AL
        if not np.isfinite(A).all():
            raise RunError(
                f"{self.run.path}: the network's outputs on {self.source} are not finite numbers (the run diverged), so there is "
                "nothing to score; train it again with a smaller learning_rate"
            )
        b, first = int(y.shape[0]), self.m
        room = max(0, min(b, EVALUATION_LISTED - first))  # of these, the examples evaluation.json lists
        if self.task == "regression":
            with np.errstate(all="ignore"):
                err = A - y
            if not np.isfinite(err).all():
                raise RunError(
                    f"{self.run.path}: the outputs on {self.source} are too large to score (the run diverged); train it again with a smaller learning_rate"
                )
            self._errors(err)
            self._labels(np.asarray(y, dtype=np.float64))
            self.listed["outputs"].extend(A[:room].tolist())
        else:
            pred = self.head.predict(AL)
            np.add.at(self.cm, (y.astype(np.int64), pred.astype(np.int64)), 1)
            wrong = np.flatnonzero(pred != y)
            self.mistakes += int(wrong.size)
            assert self.head.proba is not None  # a classifier's head
            self.listed["probabilities"].extend(A.T[:room].tolist())  # P(label 1) (sigmoid), or the k classes' (softmax)
            self.listed["predicted"].extend(pred[:room].tolist())
            self.listed["confidence"].extend(self.head.proba(AL[:, :room]).max(axis=0).tolist())  # the probability of the predicted class
            self.listed["misclassified"].extend((first + wrong[wrong < room]).tolist())
        self.m += b

    def _errors(self, err) -> None:
        """The sums of (err/scale)² and |err|/scale, scale the largest |err| so far: rescaled when it grows, never an overflow."""
        if not err.size:
            return
        top = float(np.max(np.abs(err)))
        if top > self.scale:
            shrink = self.scale / top
            self.squares, self.absolute, self.scale = self.squares * shrink * shrink, self.absolute * shrink, top
        if self.scale > 0:
            e = err / self.scale
            self.squares += float(np.sum(np.square(e)))
            self.absolute += float(np.sum(np.abs(e)))

    def _labels(self, y) -> None:
        """Chan, Golub and LeVeque's update of (count, mean, sum of squared deviations) by a block's own."""
        n, k = self.m, y.size
        if not k:
            return
        mean = float(np.mean(y))
        m2 = float(np.sum(np.square(y - mean)))
        delta = mean - self.y_mean
        total = n + k
        self.y_mean += delta * k / total
        self.y_m2 += m2 + delta * delta * n * k / total

    def result(self) -> dict:
        m = self.m
        result: dict = {"run": str(self.run.path), "data": self.source, "m": m, "task": self.task}
        listed = min(m, EVALUATION_LISTED)
        if listed < m:
            result["listed"] = listed
            result["listed_note"] = (
                f"per-example outputs listed for the first {listed:,} of {m:,} examples (the other {m - listed:,} are not); the scores count every one"
            )
        if self.task == "regression":
            rmse = self.scale * float(np.sqrt(self.squares / m)) if m and self.scale else 0.0
            mae = self.scale * (self.absolute / m) if m and self.scale else 0.0
            r2 = None
            if m and self.y_m2 > 0 and np.isfinite(self.y_m2):
                ratio = self.scale / float(np.sqrt(self.y_m2))  # SSE/SST = (scale/sqrt(SST))² · Σ(err/scale)²
                r2 = 1.0 - ratio * ratio * self.squares
            result.update(rmse=rmse, mae=mae, r2=r2 if r2 is None or np.isfinite(r2) else None)
            result["outputs"] = self.listed["outputs"]
            return result
        cm = self.cm.tolist()
        scores = class_scores(cm, self.names)
        # two classes: the scores of the positive class (label 1); more: their macro averages
        headline = scores["per_class"][1] if len(self.names) == 2 else scores["macro"]
        result.update(
            classes=self.names,
            accuracy=float((m - self.mistakes) / m * 100) if m else float("nan"),
            precision=headline["precision"],
            recall=headline["recall"],
            f1=headline["f1"],
            confusion_matrix=cm,
            mistakes=self.mistakes,
            probabilities=self.listed["probabilities"],
            misclassified=self.listed["misclassified"],  # of the listed examples
            predicted=self.listed["predicted"],
            confidence=self.listed["confidence"],
            **scores,
        )
        return result


class _Outputs:
    """A[L] of examples given a block at a time, in products of ROWS_PER_CHUNK examples counted from the
    first (so the same numbers as one pass over them all), scored as they come (_Tally), and what an
    evaluation's pictures need: the labels and, for two features (the decision boundary), the inputs
    of the first EVALUATION_LISTED examples; the first mistakes' inputs (the gallery). Memory: a chunk
    of inputs and those, whatever the count of examples."""

    def __init__(self, run: Run, n_x: int, keep_all: bool, keep_mistakes: bool, source: str):
        self.run, self.n_x, self.keep_all, self.keep_mistakes = run, n_x, keep_all, keep_mistakes
        self.head = HEADS[loss_of(run)]
        self.tally = _Tally(run, source)
        self.pending: list[tuple[np.ndarray, np.ndarray]] = []
        self.waiting = 0
        self.Y: list[np.ndarray] = []
        self.X: list[np.ndarray] = []
        self.mistakes: dict[int, np.ndarray] = {}
        self.m = 0

    def add(self, X, y) -> None:
        """X (n_x, b) normalised in the run's dtype, y (b,) its labels or values."""
        if X.shape[1]:
            self.pending.append((X, y))
            self.waiting += X.shape[1]
        while self.waiting >= ROWS_PER_CHUNK:
            self._flush(ROWS_PER_CHUNK)

    def _flush(self, count: int) -> None:
        X = self.pending[0][0] if len(self.pending) == 1 else np.concatenate([x for x, _ in self.pending], axis=1)
        y = self.pending[0][1] if len(self.pending) == 1 else np.concatenate([v for _, v in self.pending])
        self.pending = [(X[:, count:], y[count:])] if X.shape[1] > count else []
        self.waiting = X.shape[1] - count
        X, y = X[:, :count], np.asarray(y[:count], dtype=np.float64)
        AL = outputs(self.run, X)
        room = max(0, min(count, EVALUATION_LISTED - self.m))
        if self.keep_all and room:
            self.X.append(X[:, :room])
        if room:
            self.Y.append(y[:room])
        if self.keep_mistakes and len(self.mistakes) < KEPT_MISTAKES:
            wrong = np.flatnonzero(self.head.predict(AL) != y)[: KEPT_MISTAKES - len(self.mistakes)]
            self.mistakes.update({self.m + int(j): X[:, j].copy() for j in wrong})
        self.tally.add(AL, y)
        self.m += count

    def finish(self):
        """(the scores, y of the listed examples, X: (n_x, listed) for two features, else a KeptColumns)."""
        if self.waiting:
            self._flush(self.waiting)
        y = np.concatenate(self.Y) if self.Y else np.empty(0)
        dtype = _dtype(self.run)
        X = np.concatenate(self.X, axis=1) if self.keep_all and self.X else KeptColumns(self.n_x, self.m, self.mistakes, dtype)
        return self.tally, y, X


def evaluate(run: Run, source: str | None = None):
    """(metrics, dataset): the run on a dataset (default: its test file), with per-example outputs.

    An HDF5 file and a table are read and scored a chunk of examples at a time (ROWS_PER_CHUNK,
    TABLE_ROWS_PER_CHUNK): memory is one chunk of inputs plus the few numbers per example that
    evaluation.json keeps (outputs, labels), whatever the file's size; the scores are those of one
    pass over every example. A MATLAB file and a built-in dataset are read whole. The dataset returned
    holds the labels, and of the inputs what the pictures need (`_Outputs`).
    """
    if source and not str(source).startswith(BUILTIN_PREFIX):
        given_file(source)
    source = source or default_test_source(run)
    check_own_file(run, source)  # a changed file first: what it breaks later is not the cause
    task = task_of(run)
    head, k = HEADS[loss_of(run)], class_count(run)
    if run.table is not None or is_table(source):
        if run.table is None:
            raise DataError(f"{source}: {run.path} was trained on an HDF5 file, not a table; evaluate with data of its layout")
        if not is_table(source):
            raise DataError(f"{source}: {run.path} was trained on a table; evaluate with a table (.csv, .tsv, .parquet) of its columns")
        return _evaluate_table(run, source)
    if str(source).startswith(BUILTIN_PREFIX) or is_mat(source):
        data = load_dataset(source, task, role="test", dtype=_dtype(run), max_classes=head.max_classes, normalize=normalization(run).method)
        _check_test_data(run, data, source, k)
        return score(run, data, source)

    data = open_streamed(source, task, role="test", dtype=_dtype(run), max_classes=head.max_classes, check_finite=False)
    data.X = normalized(run, data.X)  # each block read in float64 where normalised, then cast (StreamedX.convert)
    _check_test_data(run, data, source, k)
    return _score_file(run, data, source)


def _check_test_data(run: Run, data, source, k: int) -> None:
    """Labels of the run's classes, examples of its input shape and scale, the class names in its order,
    and a file it was trained or tested on unchanged."""
    check_own_data(run, data, source)  # the file itself changed, before what that breaks (labels, shape, classes)
    task = task_of(run)
    if task == "classification" and data.Y.size and int(data.Y.max()) >= k:
        beyond = np.unique(data.Y[data.Y >= k])
        raise DataError(
            f"{source}: labels {beyond[:5].tolist()} are beyond the {k} classes {run.path} was trained on "
            f"(labels 0 to {k - 1}); evaluate with data of the run's classes"
        )
    pre = run.meta["preprocessing"]
    if data.preprocessing["input_shape"] != pre["input_shape"]:
        raise DataError(
            f"{source}: examples of shape {data.preprocessing['input_shape']}, but the model takes "
            f"{pre['input_shape']}; evaluate with data of the training layout"
        )
    if data.preprocessing["scale"] != pre["scale"]:
        raise DataError(
            f"{source}: x is {data.preprocessing['x_dtype']} (divided by {data.preprocessing['scale']:g}), but the run "
            f"was trained on {pre.get('x_dtype', 'data')} divided by {pre['scale']:g}; evaluate with data stored like the training data"
        )
    check_classes(run, data, source)


def _collector(run: Run, n_x: int, source: str) -> _Outputs:
    pictures = task_of(run) == "classification" and image_geometry(run.meta["preprocessing"]["input_shape"]) is not None
    return _Outputs(run, n_x, keep_all=n_x == 2, keep_mistakes=pictures, source=source)


def _score_file(run: Run, data, source: str):
    """An HDF5 file's examples (data.X a StreamedX) read ROWS_PER_CHUNK rows at a time, each block
    checked finite as stored and converted as loading does (normalised in float64 for numeric
    inputs of a float32 run, then cast), then scored."""
    streamed, dtype = data.X, _dtype(run)
    y = data.Y.ravel()
    collected = _collector(run, streamed.n_x, source)
    with open_h5(streamed.path) as f:
        ds = f[streamed.key]
        for start in range(0, streamed.m, ROWS_PER_CHUNK):
            stop = min(start + ROWS_PER_CHUNK, streamed.m)
            streamed.check()  # the file the run is evaluated on is the one whose SHA-256 was checked
            raw = read_block(ds, start, stop, streamed.path, streamed.key).reshape(stop - start, streamed.n_x)
            if raw.dtype.kind == "f" and not np.isfinite(raw).all():
                raise DataError(f"{source}: x holds NaN or infinite values; clean the data first")
            block = np.empty(raw.shape, dtype)
            streamed.convert(raw, block)  # flattened, scaled and normalised as training did
            collected.add(block.T, y[start:stop])
    streamed.check()
    tally, labels, X = collected.finish()
    data.X, data.Y = X, labels.reshape(1, -1)  # the listed examples' labels, as the pictures read them
    return tally.result(), data


def _evaluate_table(run: Run, source: str):
    """A table's rows through the run's column encoding, TABLE_ROWS_PER_CHUNK at a time (nnctl.data.tables.table_chunks)."""
    prep = run.table
    assert prep is not None  # a run trained on a table (evaluate's caller checks)
    collected = _collector(run, prep.n_x, source)
    digest = ""
    rows = no_target = 0
    filled: dict = {}  # column: cells filled (data.missing: mean, median, most_frequent)
    for table in table_chunks(source, TABLE_ROWS_PER_CHUNK, prep.header):  # data.header as the run was trained
        if not digest:
            check_own_digest(run, table.sha256, source)  # the bytes read: a changed file before a column or category it breaks
        digest = table.sha256
        x, y, kept = prep.transform(table, need_target=True)
        for column, n in prep.filled_counts(table).items():
            filled[column] = filled.get(column, 0) + n
        rows += table.m
        no_target += int(missing_mask(table.column(prep.target)).sum())  # transform checked the column is there
        if kept.size:  # a chunk of rows all left out has nothing to score (a reshape of no rows would fail)
            # normalised as predict does it, and checked as predict checks rows (a value the first layer could overflow on)
            collected.add(checked_inputs(run, x, source, 1, where=table_where(prep, table, kept)), y)
    tally, labels, X = collected.finish()
    dropped = rows - tally.m - no_target  # the others left out: a missing value, under data.missing: drop
    if tally.m == 0:
        fixes = [f"give each row its {quoted(prep.target)}"] if no_target else []
        if dropped:
            fixes.append("fill in the missing values (or train with data.missing: mean, median or most_frequent)")
        raise DataError(f"{source}: no rows left to score: {left_out_reasons(prep, dropped, no_target)}; {' and '.join(fixes) or 'give rows to score'}")
    # the labels of the listed examples only (the pictures'): the scores counted every row's
    data = Dataset(X=X, Y=labels.reshape(1, -1), classes=list(prep.classes), preprocessing=table_preprocessing(prep.n_x), source=str(source), sha256=digest)
    _check_test_data(run, data, source, class_count(run))
    result = tally.result()
    result["rows"] = {"in_file": rows, "scored": tally.m, "left_out_missing_value": dropped, "left_out_no_target": no_target}
    notes = filled_notes(prep, str(source), filled, rows)
    if tally.m < rows:
        notes.append(
            f"{source}: {rows - tally.m} of its {rows} rows left out: {left_out_reasons(prep, dropped, no_target)}; the scores are over the {tally.m} rows kept"
        )
    if notes:
        result["notes"] = notes  # a Warned one is text in evaluation.json, a Warning: on the terminal
    return result, data


def left_out_reasons(prep, dropped: int, no_target: int) -> str:
    """Why evaluate left rows of a table out: '2 with a missing value (data.missing: drop), 1 without a target 'species''."""
    said = []
    if dropped:
        said.append(f"{dropped} with a missing value (data.missing: drop, as the run was trained)")
    if no_target:
        said.append(f"{no_target} without a target {quoted(prep.target)}")
    return ", ".join(said) or "the file has no rows"


def score(run: Run, data, source: str):
    """(metrics, dataset): the run on a loaded, checked dataset (X flattened and scaled in
    `read_dtype_of(run)`, not yet normalised); what nnctl.Model.evaluate reports, and `nnctl evaluate`
    on a file read whole."""
    data.X = normalized(run, data.X.astype(read_dtype_of(run), copy=False))
    AL = outputs(run, data.X)  # (units, m)
    return _scores(run, AL, data.Y.ravel().astype(np.float64), source), data


def _scores(run: Run, AL, y, source: str) -> dict:
    """The metrics of outputs A[L] (units, m) against labels or values y (m,), with the per-example
    outputs evaluation.json keeps (of the first EVALUATION_LISTED examples): a _Tally of one block."""
    tally = _Tally(run, source)
    tally.add(AL, y)
    return tally.result()


def _quiet_predict(P, run):
    """The predicted label of each point (p,)."""
    with np.errstate(all="ignore"):
        return HEADS[loss_of(run)].predict(predict_proba(P, run.params, run.activations, run.epsilon))


MAX_STEM = 60  # characters of the data file's name kept in evaluation-<name>.json


def safe_stem(source) -> str:
    """The data file's name without its suffix, as a file name part: letters, digits and . _ + -
    kept, every other character (a control character, a space, a quote) written as '_', at most
    MAX_STEM characters, never empty."""
    stem = re.sub(r"[^A-Za-z0-9._+-]", "_", Path(str(source)).stem)[:MAX_STEM]
    return stem or "data"


def evaluation_suffix(run: Run, source) -> str:
    """'-<name>' for the files of `nnctl evaluate --data FILE`: evaluation-<name>.json and its pictures.

    <name> is FILE's safe_stem. Evaluating the same file again replaces its evaluation; another file
    of the same name (ea/t.csv after eb/t.csv) never does: it gets '-<name>-<8 hex digits>', the
    start of the SHA-256 of its resolved path, which is always its own. Each evaluation-*.json
    records the resolved path (`data_path`) it was made from."""

    stem = safe_stem(source)
    try:
        resolved = str(Path(str(source)).resolve())
    except (OSError, RuntimeError):
        resolved = str(source)
    plain = run.path / evaluation_json(f"-{stem}")
    if not plain.exists() and not plain.is_symlink():
        return f"-{stem}"
    try:
        if read_json_object(plain).get("data_path") == resolved:
            return f"-{stem}"
    except (OSError, ValueError, RunError, AttributeError):
        pass
    return f"-{stem}-{hashlib.sha256(os.fsencode(resolved)).hexdigest()[:8]}"


def evaluation_files(run: Run, source: str | None) -> list:
    """Every file `nnctl evaluate` may write into the run for `source` (None: the run's test data),
    known before scoring (runs.check_outputs looks at them first): evaluation*.json and its pictures."""
    suffix = evaluation_suffix(run, source) if source is not None else ""
    return [run.path / name(suffix) for name in (evaluation_json, confusion_png, misclassified_png, evaluation_boundary_png)]


def write_evaluation(run: Run, result: dict, data, source_given: bool) -> dict:
    """evaluation.json (or evaluation-<data>.json for --data: evaluation_suffix) and its pictures, in the run."""
    suffix = evaluation_suffix(run, result["data"]) if source_given else ""
    if source_given:
        try:
            result["data_path"] = str(Path(str(result["data"])).resolve())
        except (OSError, RuntimeError):
            pass
    files = {"json": str(run.path / evaluation_json(suffix))}
    shape = run.meta["preprocessing"]["input_shape"]
    if result["task"] == "classification":
        files["confusion"] = str(
            plot_confusion(
                run.path / confusion_png(suffix),
                result["confusion_matrix"],
                result["classes"],
                f"{run.path.name} on {Path(result['data']).name}: {result['accuracy']:.2f}% right",
            )
        )
    if result["task"] == "classification" and image_geometry(shape) is not None and result["misclassified"]:
        files["misclassified"] = str(
            plot_misclassified(
                run.path / misclassified_png(suffix),
                data.X,
                data.Y.ravel(),
                np.array(result["confidence"]),
                result["misclassified"],
                run.meta["preprocessing"],
                result["classes"],
                predicted=result["predicted"],
            )
        )
    if data.n_x == 2 and result["task"] == "classification":
        files["decision_boundary"] = str(
            plot_decision_boundary(
                run.path / evaluation_boundary_png(suffix),
                lambda P: _quiet_predict(P.astype(_dtype(run)), run),
                data.X,
                data.Y,
                f"{run.path.name} on {Path(result['data']).name}",
                classes=class_names(run),
            )
        )
    result["files"] = files
    write_json(files["json"], result)
    written = {Path(f) for f in files.values()}
    for name in (confusion_png, misclassified_png, evaluation_boundary_png):
        if (path := run.path / name(suffix)) not in written:
            remove_with_set(path)  # an older evaluation's picture: it would not match this JSON
    return result


def save_evaluation(run: Run, result: dict, data, source_given: bool, final: bool = False) -> dict:
    """write_evaluation, or a RunError naming the folder that cannot be written (read-only, full).

    The JSON and its pictures are put in place together (nnctl.util.atomic.output_set), and an older
    picture of the same evaluation that this one does not redraw is removed with them: after a stop
    or an error the folder holds the old evaluation whole or the new one, never a mix. `final`: the
    command's last outputs (nnctl evaluate)."""
    try:
        with output_set(final=final):
            return write_evaluation(run, result, data, source_given)
    except OSError as exc:
        result["files"] = {}
        raise RunError(
            f"{run.path}: cannot write the evaluation there ({exc.strerror or exc}); the scores above were not saved; "
            "make the run folder writable (or copy the run) and evaluate again"
        ) from None
