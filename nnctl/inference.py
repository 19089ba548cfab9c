"""Using a trained run: predict on picture files, evaluate on a dataset."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from nnctl.data import flatten, load_dataset
from nnctl.errors import DataError, NnctlError, RunError
from nnctl.images import image_geometry, load_image, shown
from nnctl.network import predict_proba
from nnctl.runs import Run, write_json


@dataclass
class Prediction:
    file: str
    probability: float | None = None  # classification: the network's output A[L], P(probability_of)
    probability_of: str | None = None  # the class that probability is for (label 1)
    label: int | None = None
    class_name: str | None = None
    value: float | None = None  # regression: the predicted value
    notes: list = field(default_factory=list)
    error: str | None = None

    def fields(self, task: str) -> dict:
        """The same names in JSON and CSV: file, class, label, probability, probability_of (or value), notes, error."""
        if task == "regression":
            return {"file": self.file, "value": self.value, "notes": self.notes, "error": self.error}
        return {
            "file": self.file, "class": self.class_name, "label": self.label, "probability": self.probability,
            "probability_of": self.probability_of, "notes": self.notes, "error": self.error,
        }


def task_of(run: Run) -> str:
    return run.meta.get("task", "classification")


def class_names(run: Run) -> list:
    names = run.meta.get("classes") or []
    return names if len(names) == 2 else ["0", "1"]


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
    """A[L] (m,) for X (n_x, m), the same number for an example whatever else is in the batch.

    A BLAS product rounds a column differently depending on how many columns it has (one picture
    alone takes a matrix-vector kernel, a batch a matrix-matrix one), so every example goes through
    a product of exactly BLOCK columns (the last block padded with zeros), from one buffer of one
    layout: predict on one file and evaluate on a whole test set give the same bits.
    """
    n_x, m = X.shape
    out = np.empty(m, dtype=np.float64)
    block = np.zeros((n_x, BLOCK), dtype=_dtype(run), order="F")
    with np.errstate(all="ignore"):  # a diverged run's outputs are checked, not warned about
        for start in range(0, m, BLOCK):
            k = min(BLOCK, m - start)
            block[:, :k] = X[:, start : start + k]
            block[:, k:] = 0
            out[start : start + k] = predict_proba(block, run.params, run.activations)[0, :k]
    return out


def normalized(run: Run, X):
    """X (n_x, m), flattened and scaled, with the run's normalisation (its training set's mean and
    std) applied in place, as training did."""
    return run.normalization.apply(X) if run.normalization is not None else X


def probabilities(run: Run, x) -> np.ndarray:
    """A[L] (m,) for raw examples x (m, ...) as stored on disk, preprocessed the recorded way.

    The same step as training and evaluation: flatten and scale in the run's dtype, normalise.
    """
    X = flatten(np.asarray(x), run.meta["preprocessing"], _dtype(run))
    return outputs(run, normalized(run, X))


def predict_files(run: Run, files, max_pixels: int | None = None, on_item=None) -> list[Prediction]:
    """One Prediction per file; a file that cannot be read carries its error, the rest go on.

    Pictures over `max_pixels` (default images.MAX_PIXELS) are refused as possible decompression bombs.
    `on_item(k, n)` is called after each file is read (for a progress bar).
    """
    size, mode = model_input(run)
    names = class_names(run)
    results, pixels = [], []
    files = list(files)
    for k, path in enumerate(files, 1):
        try:
            img = load_image(path, size, mode, max_pixels)
        except NnctlError as exc:
            results.append(Prediction(file=shown(path), error=str(exc)))
        else:
            results.append(Prediction(file=shown(path), notes=img.notes))
            pixels.append(img.pixels)
        if on_item:
            on_item(k, len(files))
    if pixels:
        x = np.stack(pixels).reshape(len(pixels), *run.meta["preprocessing"]["input_shape"])
        values = iter(probabilities(run, x))
        for pred in results:
            if pred.error is not None:
                continue
            v = float(next(values))
            if not np.isfinite(v):
                pred.error = f"{pred.file}: the network's output is not a finite number (the run diverged); train it again"
            elif task_of(run) == "regression":
                pred.value = v
            else:
                pred.probability, pred.label = v, int(v > 0.5)
                pred.class_name, pred.probability_of = names[pred.label], names[1]
    return results


# ---------------------------------------------------------------- rows (models that do not take pictures)


def is_image_model(run: Run) -> bool:
    return image_geometry(run.meta["preprocessing"]["input_shape"]) is not None


def read_rows(path, n_x: int) -> np.ndarray:
    """Examples, one per row, (m, n_x) as float64: a CSV file (its first line is a header naming the
    features when it is not all numbers) or a data file (HDF5 plain or course layout, MATLAB 5),
    whose labels, if any, are not needed."""
    from nnctl.data import check_data_file, h5_array, is_mat, open_h5, read_array, read_mat

    path = check_data_file(path)
    if path.suffix.lower() in (".csv", ".txt"):
        x = _read_csv(path, n_x)
    elif is_mat(path):
        x = read_mat(path, "train")[0]
    else:
        with open_h5(path) as f:
            key = next((k for k in ("x", "train_set_x", "test_set_x") if k in f), None)
            if key is None:
                from nnctl.data import describe_h5

                raise DataError(f"{path}: no examples to predict: expected an array 'x' (plain layout); the file holds: {describe_h5(f)}")
            h5_array(f, key, path)
            x = read_array(f, key, path, np.float64)
    x = np.asarray(x)
    if x.dtype.kind not in "iufb":
        raise DataError(f"{path}: the examples have dtype {x.dtype}; expected numbers")
    x = x.reshape(x.shape[0], -1) if x.ndim > 1 else x.reshape(-1, 1)
    if x.shape[1] != n_x:
        raise DataError(f"{path}: rows of {x.shape[1]} values, but the model takes {n_x} features; give rows laid out like the training data")
    return x


def _read_csv(path, n_x: int) -> np.ndarray:
    import csv as csv_module

    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv_module.reader(fh) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv_module.Error) as exc:
        raise DataError(f"{path}: cannot be read as CSV text ({exc}); save it as UTF-8 CSV") from None

    def numbers(row):
        try:
            return [float(c) for c in row]
        except ValueError:
            return None

    if rows and numbers(rows[0]) is None:
        rows = rows[1:]  # a header naming the features
    values = []
    for k, row in enumerate(rows, 1):
        parsed = numbers(row)
        if parsed is None or len(parsed) != n_x:
            what = "values that are not numbers" if parsed is None else f"{len(parsed)} values"
            raise DataError(f"{path}: data row {k} has {what}; the model takes {n_x} numbers per row")
        values.append(parsed)
    if not values:
        raise DataError(f"{path}: no rows of numbers to predict")
    x = np.array(values, dtype=np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: holds NaN or infinite values; clean the data first")
    return x


def predict_rows(run: Run, files) -> list[Prediction]:
    """One Prediction per row of each file (its `file` is FILE:ROW, rows counted from 1)."""
    from nnctl.images import IMAGE_SUFFIXES

    n_x = run.meta["layer_dims"][0]
    names = class_names(run)
    results = []
    for path in files:
        if Path(path).suffix.lower() in IMAGE_SUFFIXES or Path(path).is_dir():
            model_input(run)  # says this model takes features, not pictures
        x = read_rows(path, n_x)
        pre = run.meta["preprocessing"]
        x = x.reshape(x.shape[0], *pre["input_shape"])
        for k, v in enumerate(probabilities(run, x), 1):
            pred = Prediction(file=f"{shown(path)}:{k}")
            v = float(v)
            if not np.isfinite(v):
                pred.error = f"{pred.file}: the network's output is not a finite number (the run diverged); train it again"
            elif task_of(run) == "regression":
                pred.value = v
            else:
                pred.probability, pred.label = v, int(v > 0.5)
                pred.class_name, pred.probability_of = names[pred.label], names[1]
            results.append(pred)
    return results


# ---------------------------------------------------------------- evaluate


def default_test_source(run: Run) -> str:
    resolved = run.path / "config.resolved.yaml"
    try:
        data = yaml.safe_load(resolved.read_text())["data"]
    except (OSError, KeyError, TypeError, yaml.YAMLError):
        raise RunError(f"{resolved}: missing or unreadable; pass the data with --data") from None
    if not data.get("test"):
        raise RunError(f"{run.path}: the run has no test file; pass one with --data FILE.h5")
    return data["test"]


def confusion(y_true, y_pred) -> list:
    """[[TN, FP], [FN, TP]]: rows are the true class, columns the predicted one."""
    m = np.zeros((2, 2), dtype=int)
    np.add.at(m, (y_true.astype(int), y_pred.astype(int)), 1)
    return m.tolist()


def check_classes(run: Run, data, source) -> None:
    """The data's class names, in label order, must be the run's: else every label means the other class."""
    trained = run.meta.get("classes") or []
    given = list(data.classes or [])
    if not trained or not given or given == trained:
        return
    if sorted(given) == sorted(trained):
        raise DataError(
            f"{source}: classes in the order [{', '.join(given)}] (label 0 first), but {run.path} was trained on "
            f"[{', '.join(trained)}]: every label would mean the other class; re-import the pictures with "
            f"--classes {','.join(trained)}"
        )
    raise DataError(
        f"{source}: classes [{', '.join(given)}], but {run.path} was trained on [{', '.join(trained)}]; "
        "evaluate with data of the run's classes"
    )


def _same_source(a: str, b: str) -> bool:
    if a.startswith("builtin:") or b.startswith("builtin:"):
        return a == b
    try:
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError):
        return False


def check_own_data(run: Run, data, source) -> None:
    """A file the run was trained or tested on must be the same bytes (SHA-256 in reproduce.json)."""
    from nnctl.runs import read_json_object

    path = run.path / "reproduce.json"
    if not path.exists():
        return
    recorded = read_json_object(path).get("data", {})
    if not isinstance(recorded, dict):
        raise RunError(f"{path}: data: expected an object of data files and their SHA-256; the run's files are damaged")
    for role, entry in recorded.items():
        if not (isinstance(entry, dict) and isinstance(entry.get("source"), str)) or not _same_source(entry["source"], source):
            continue
        digest = entry.get("sha256")
        if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            raise RunError(f"{path}: data.{role}.sha256: expected 64 hexadecimal digits; the run's files are damaged")
        if digest != data.sha256:
            raise DataError(
                f"{source}: the file changed since {run.path} was trained on it (its SHA-256 differs from the one in "
                f"{path}); a new import or split may have moved training examples into the test split or relabelled "
                "them, so its scores would mislead; train the run again on the new file"
            )


def _rms(err) -> float:
    """sqrt(mean(err²)) without overflow: scaled by the largest error first."""
    scale = float(np.max(np.abs(err)))
    if scale == 0.0:
        return 0.0
    return scale * float(np.sqrt(np.mean(np.square(err / scale))))


def evaluate(run: Run, source: str | None = None):
    """(metrics, dataset): the run on a dataset (default: its test file), with per-example outputs."""
    source = source or default_test_source(run)
    task = task_of(run)
    data = load_dataset(source, task, role="test", dtype=_dtype(run))
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
    check_own_data(run, data, source)
    data.X = normalized(run, data.X.astype(_dtype(run), copy=False))
    A = outputs(run, data.X)
    y = data.Y.ravel().astype(np.float64)
    if not np.isfinite(A).all():
        raise RunError(
            f"{run.path}: the network's outputs on {source} are not finite numbers (the run diverged), so there is "
            "nothing to score; train it again with a smaller learning_rate"
        )
    result = {"run": str(run.path), "data": source, "m": int(data.m), "task": task}
    if task == "regression":
        with np.errstate(all="ignore"):
            err = A - y
        if not np.isfinite(err).all():
            raise RunError(f"{run.path}: the outputs on {source} are too large to score (the run diverged); train it again with a smaller learning_rate")
        result.update(rmse=_rms(err), mae=float(np.mean(np.abs(err))))
        result["outputs"] = A.tolist()
        return result, data
    pred = (A > 0.5).astype(int)
    (tn, fp), (fn, tp) = cm = confusion(y, pred)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result.update(
        classes=class_names(run),
        accuracy=float(np.mean(pred == y) * 100),
        precision=float(precision),
        recall=float(recall),
        f1=float(f1),
        confusion_matrix=cm,
        probabilities=A.tolist(),
        misclassified=np.flatnonzero(pred != y).tolist(),
    )
    return result, data


def _quiet_proba(P, run):
    with np.errstate(all="ignore"):
        return predict_proba(P, run.params, run.activations)


def write_evaluation(run: Run, result: dict, data, source_given: bool) -> dict:
    """evaluation.json (or evaluation-<data>.json for --data) and its pictures, in the run."""
    from nnctl.plots import plot_decision_boundary, plot_misclassified

    suffix = f"-{Path(result['data']).stem}" if source_given else ""
    files = {"json": str(run.path / f"evaluation{suffix}.json")}
    shape = run.meta["preprocessing"]["input_shape"]
    if result["task"] == "classification" and image_geometry(shape) is not None and result["misclassified"]:
        files["misclassified"] = str(
            plot_misclassified(
                run.path / f"misclassified{suffix}.png",
                data.X, data.Y.ravel(), np.array(result["probabilities"]), result["misclassified"],
                run.meta["preprocessing"], result["classes"],
            )
        )
    if data.n_x == 2:
        files["decision_boundary"] = str(
            plot_decision_boundary(
                run.path / f"evaluation{suffix}-boundary.png",
                lambda P: _quiet_proba(P.astype(_dtype(run)), run),
                data.X, data.Y, f"{run.path.name} on {Path(result['data']).name}",
                classes=class_names(run),
            )
        )
    result["files"] = files
    write_json(files["json"], result)
    return result


def save_evaluation(run: Run, result: dict, data, source_given: bool) -> dict:
    """write_evaluation, or a RunError naming the folder that cannot be written (read-only, full)."""
    try:
        return write_evaluation(run, result, data, source_given)
    except OSError as exc:
        result["files"] = {}
        raise RunError(
            f"{run.path}: cannot write the evaluation there ({exc.strerror or exc}); the scores above were not saved; "
            "make the run folder writable (or copy the run) and evaluate again"
        ) from None
