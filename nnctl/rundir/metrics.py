"""What a run reports: its summary, metrics.json, costs.csv, reproduce.json."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np

from nnctl import __version__
from nnctl.util.atomic import atomic_write
from nnctl.data.dataset import Dataset, TargetScaling
from nnctl.core.layers import BATCH_NORM_EPSILON
from nnctl.rundir.layout import RESOLVED
from nnctl.core.network import LOSSES, predict_proba
from nnctl.core.resources import blas_info
from nnctl.core.network import forward

if TYPE_CHECKING:
    from nnctl.spec.config import Spec


@dataclass
class Summary:
    name: str
    run_dir: str
    status: str
    layers: list
    task: str
    iterations: int
    final_cost: float | None
    seconds: float
    iterations_per_second: float
    first_layer: str = "primal"
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    train_rmse: float | None = None
    test_rmse: float | None = None
    message: str | None = None
    resumed_from: int | None = None
    epochs: int | None = None
    validation_accuracy: float | None = None
    best_iteration: int | None = None  # early stopping: the iteration whose parameters were kept
    sessions: list | None = None  # seconds of each process the run took (more than one after a resume)
    warnings: list | None = None  # a degenerate model: what it does and the likely cause
    notes: list | None = None  # what was chosen from the data and why (a table's target, task, encodings)
    final_cost_iteration: int | None = None  # final_cost is the last recorded cost: the iterations done when it was computed
    final_cost_epoch: int | None = None  # ... and its epoch (with mini-batches: the mean cost of that epoch's batches)


def evaluate_dataset(
    params: dict, activations: Sequence[str], data: Dataset, loss: str, epsilon: float = BATCH_NORM_EPSILON, target: TargetScaling | None = None
) -> dict:
    """The loss's score: accuracy (%) for classification, RMSE for regression (batch norm: inference mode).

    `target` (nnctl.data.dataset.TargetScaling): a regression trained on standardised targets has its
    outputs turned back first, so the RMSE is in the units of data.Y, the targets as given."""
    if not isinstance(data.X, np.ndarray):  # streamed from its file (nnctl.data.stream): block by block
        AL = np.concatenate([predict_proba(X, params, activations, epsilon) for _, X in data.X.blocks()], axis=1)
    else:
        AL = predict_proba(data.X, params, activations, epsilon)
    if target is not None:
        AL = target.invert(AL)
    return LOSSES[loss].score(AL, data.Y)


def cost_columns(mini_batch: bool, decay: bool, accuracy: bool = False, validation: bool = False) -> list:
    """costs.csv's columns: full-batch training keeps `iteration,cost` (an iteration is an epoch);
    mini-batches add the iterations done before the epoch; a decay adds the epoch's learning rate; a
    classifier its training accuracy (%, counted from the epoch's batches); a validation set its
    cost and accuracy. Readers go by the names (nnctl.rundir.runs.parse_costs_columns): files written
    before a column existed simply lack it."""
    cols = ["epoch", "cost", "iteration"] if mini_batch else ["iteration", "cost"]
    return (
        cols
        + (["learning_rate"] if decay else [])
        + (["train_accuracy"] if accuracy else [])
        + (["validation_cost", "validation_accuracy"] if validation else [])
    )


def _number(value: float | None) -> str:
    """A cell: repr of a float, empty for NaN or None (not recorded)."""
    return "" if value is None or value != value else repr(value)


def write_costs_csv(
    path: str | os.PathLike,
    costs: Iterable[tuple],
    mini_batch: bool,
    decay: bool,
    validation: Iterable[tuple] | None = None,
    accuracy: Iterable[float] | None = None,
) -> Path:
    """Rows (epoch, cost, iteration, learning_rate) as the columns of `cost_columns` say; with
    `accuracy` (a classifier's training accuracy of each row, NaN where not counted) the column
    train_accuracy; with `validation` rows (epoch, cost, accuracy), the columns validation_cost,
    validation_accuracy."""
    cols = cost_columns(mini_batch, decay, accuracy is not None, bool(validation))
    by_epoch = {int(e): (c, a) for e, c, a in validation or []}
    lines = [",".join(cols)]
    accuracy = list(accuracy) if accuracy is not None else None
    for i, (epoch, cost, iteration, rate) in enumerate(costs):
        row = [str(epoch), repr(cost)] + ([str(iteration)] if mini_batch else []) + ([repr(rate)] if decay else [])
        if accuracy is not None:
            row.append(_number(accuracy[i] if i < len(accuracy) else None))
        if validation:
            c, a = by_epoch.get(int(epoch), (None, None))
            row += ["" if c is None else repr(c), "" if a is None or a != a else repr(a)]
        lines.append(",".join(row))
    return atomic_write(path, "\n".join(lines) + "\n")


def reproduce_info(spec: Spec, train: Dataset, test: Dataset | None, command: list, validation: Dataset | None = None) -> dict:
    """What reproduce.json records of a new run: the seed, every data source it reads with its
    SHA-256 (training, test, and a validation file given as data.validation: FILE; a validation
    fraction is a part of the training file, whose SHA-256 is the training one), versions, the BLAS,
    the command. A resume checks each source against it (nnctl.experiment.resume.check_data_first)."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    data = {"train": {"source": train.source, "sha256": train.sha256}}
    if test is not None:
        data["test"] = {"source": test.source, "sha256": test.sha256}
    if validation is not None and isinstance(spec.data.validation, str):
        data["validation"] = {"source": validation.source, "sha256": validation.sha256}
    return {
        "seed": spec.train.seed,
        "init_rng": spec.model.init_rng,
        "data": data,
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__, "nnctl": __version__},
        "blas": blas_info(),
        "platform": platform.platform(),
        "command": command,
        "rerun": f"nnctl train {RESOLVED}",
    }


# ---------------------------------------------------------------- degenerate models

CONSTANT = 1e-6  # outputs that differ by less than this (relative) across all examples are one constant
UNSCALED = 100.0  # inputs larger than this in magnitude were most likely not scaled


def model_warnings(
    params: dict,
    activations: Sequence[str],
    data: Dataset,
    task: str,
    learning_rate: float,
    epsilon: float = BATCH_NORM_EPSILON,
    target: TargetScaling | None = None,
) -> list:
    """What is degenerate about a trained model, on its training examples, with the likely cause:
    one constant output for every example (dead ReLUs, saturated units), only ever one class,
    a regression no better than the mean of its targets. [] for a healthy model. `target`: a
    regression's target scaling, whose outputs are judged turned back, in the targets' units."""
    assert isinstance(data.X, np.ndarray)  # in memory: a streamed file is not read whole for these checks (experiment._evaluate)

    with np.errstate(all="ignore"):
        _, As = forward(data.X, params, activations, epsilon=epsilon)
        net = As[-1]  # what the network computes: one output or not is judged here (a target of 1e6 +- 1 is not constant)
        AL = net if target is None else target.invert(net)  # in the targets' units: the value said, R²
        if not np.isfinite(AL).all():
            return []
        dead = []
        for l, act in enumerate(activations[:-1], start=1):
            A = As[l]
            if act == "relu" and not A.any(axis=1).any():
                dead.append(f"every ReLU unit of hidden layer {l} ({A.shape[0]} units) outputs 0 for every example (dead)")
            elif act in ("sigmoid", "tanh") and A.shape[1] > 1 and (np.ptp(A, axis=1) < CONSTANT).all():
                dead.append(f"every {act} unit of hidden layer {l} is saturated (the same value for every example)")
        big = float(np.abs(data.X).max()) if data.X.size else 0.0
        if big > UNSCALED:
            cause = f"the inputs are not scaled (values up to {big:.4g}; scale them to about [-1, 1], as the course divides pixels by 255)"
        elif dead:
            cause = f"learning_rate={learning_rate:g} is too large: try a smaller one"
        else:
            cause = f"learning_rate={learning_rate:g} too large or too small, or too few iterations"
        spread = np.ptp(net, axis=1) if net.shape[1] > 1 else np.zeros(net.shape[0])
        out = []
        if net.shape[1] > 1 and (spread <= CONSTANT * (1 + np.abs(net).max(axis=1))).all():
            value = ", ".join(f"{v:.6g}" for v in AL[:, 0])
            why = f": {'; '.join(dead)}" if dead else ""
            out.append(f"the model gives one output, {value}, for every training example{why}; likely cause: {cause}")
            return out
        if task == "classification":
            Y = np.asarray(data.Y)
            pred = (AL > 0.5).astype(int).ravel() if AL.shape[0] == 1 else AL.argmax(axis=0)
            truth = (Y > 0.5).astype(int).ravel() if Y.shape[0] == 1 else Y.argmax(axis=0)
            kinds = np.unique(truth)
            if len(kinds) > 1 and len(np.unique(pred)) == 1:
                k = int(pred[0])
                share = float(np.mean(truth == k)) * 100
                name = data.classes[k] if data.classes and k < len(data.classes) else str(k)
                majority = "the majority class, " if share >= max(float(np.mean(truth == c)) * 100 for c in kinds) else ""
                out.append(
                    f"the model predicts only {name} ({majority}label {k}, {share:.1f}% of the training examples) for every "
                    f"training example; likely cause: {cause}"
                )
        else:
            Y = np.asarray(data.Y, dtype=np.float64)
            sst = float(((Y - Y.mean(axis=1, keepdims=True)) ** 2).sum())
            if sst > 0:
                r2 = 1 - float(((AL - Y) ** 2).sum()) / sst
                if r2 < 0.01:
                    out.append(
                        f"the model does no better than predicting the mean of the targets (R² = {r2:.3f} on the training examples); likely cause: {cause}"
                    )
    return out
