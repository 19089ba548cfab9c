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
    probability: float | None = None  # the network's output A[L]: P(class 1)
    label: int | None = None
    class_name: str | None = None
    notes: list = field(default_factory=list)
    error: str | None = None


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
            "use `nnctl evaluate` with an HDF5 file instead"
        )
    return geometry


def _dtype(run: Run):
    return np.dtype(run.meta.get("dtype", "float64"))


def probabilities(run: Run, x) -> np.ndarray:
    """A[L] (m,) for raw examples x (m, ...) as stored on disk, preprocessed the recorded way.

    The same step as training and evaluation: flatten and scale in the run's dtype.
    """
    X = flatten(np.asarray(x), run.meta["preprocessing"], _dtype(run))
    return predict_proba(X, run.params, run.activations).ravel()


def predict_files(run: Run, files, max_pixels: int | None = None) -> list[Prediction]:
    """One Prediction per file; a file that cannot be read carries its error, the rest go on.

    Pictures over `max_pixels` (default images.MAX_PIXELS) are refused as possible decompression bombs."""
    size, mode = model_input(run)
    names = class_names(run)
    results, pixels = [], []
    for path in files:
        try:
            img = load_image(path, size, mode, max_pixels)
        except NnctlError as exc:
            results.append(Prediction(file=shown(path), error=str(exc)))
            continue
        results.append(Prediction(file=shown(path), notes=img.notes))
        pixels.append(img.pixels)
    if pixels:
        x = np.stack(pixels).reshape(len(pixels), *run.meta["preprocessing"]["input_shape"])
        probs = iter(probabilities(run, x))
        for pred in results:
            if pred.error is None:
                p = float(next(probs))
                pred.probability, pred.label = p, int(p > 0.5)
                pred.class_name = names[pred.label]
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


def evaluate(run: Run, source: str | None = None):
    """(metrics, dataset): the run on a dataset (default: its test file), with per-example outputs."""
    source = source or default_test_source(run)
    task = run.meta.get("task", "classification")
    data = load_dataset(source, task, role="test", dtype=_dtype(run))
    pre = run.meta["preprocessing"]
    if data.preprocessing["input_shape"] != pre["input_shape"]:
        raise DataError(
            f"{source}: examples of shape {data.preprocessing['input_shape']}, but the model takes "
            f"{pre['input_shape']}; evaluate with data of the training layout"
        )
    X = data.X.astype(_dtype(run), copy=False)
    A = predict_proba(X, run.params, run.activations).ravel()
    y = data.Y.ravel()
    result = {"run": str(run.path), "data": source, "m": int(data.m), "task": task}
    if task == "regression":
        err = A - y
        result.update(rmse=float(np.sqrt(np.mean(err**2))), mae=float(np.mean(np.abs(err))))
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
                lambda P: predict_proba(P.astype(_dtype(run)), run.params, run.activations),
                data.X, data.Y, f"{run.path.name} on {Path(result['data']).name}",
            )
        )
    result["files"] = files
    write_json(files["json"], result)
    return result
