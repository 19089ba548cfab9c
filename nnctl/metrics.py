"""What a run reports: its summary, metrics.json, costs.csv, reproduce.json."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np

from nnctl import __version__
from nnctl.atomic import atomic_write
from nnctl.data import Dataset
from nnctl.layout import RESOLVED
from nnctl.network import LOSSES, predict_proba
from nnctl.resources import blas_info


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


def evaluate_dataset(params, activations, data: Dataset, loss: str) -> dict:
    """The loss's score: accuracy (%) for classification, RMSE for regression."""
    if not isinstance(data.X, np.ndarray):  # streamed from its file (nnctl.stream): block by block
        AL = np.concatenate([predict_proba(X, params, activations) for _, X in data.X.blocks()], axis=1)
    else:
        AL = predict_proba(data.X, params, activations)
    return LOSSES[loss].score(AL, data.Y)


def cost_columns(mini_batch: bool, decay: bool) -> list:
    """costs.csv's columns: full-batch training keeps `iteration,cost` (an iteration is an epoch);
    mini-batches add the iterations done before the epoch; a decay adds the epoch's learning rate."""
    cols = ["epoch", "cost", "iteration"] if mini_batch else ["iteration", "cost"]
    return cols + (["learning_rate"] if decay else [])


def write_costs_csv(path, costs, mini_batch: bool, decay: bool, validation=None):
    """Rows (epoch, cost, iteration, learning_rate) as the columns of `cost_columns` say; with
    `validation` rows (epoch, cost, accuracy), the columns validation_cost, validation_accuracy."""
    cols = cost_columns(mini_batch, decay) + (["validation_cost", "validation_accuracy"] if validation else [])
    by_epoch = {int(e): (c, a) for e, c, a in validation or []}
    lines = [",".join(cols)]
    for epoch, cost, iteration, rate in costs:
        row = [str(epoch), repr(cost)] + ([str(iteration)] if mini_batch else []) + ([repr(rate)] if decay else [])
        if validation:
            c, a = by_epoch.get(int(epoch), (None, None))
            row += ["" if c is None else repr(c), "" if a is None or a != a else repr(a)]
        lines.append(",".join(row))
    return atomic_write(path, "\n".join(lines) + "\n")


def reproduce_info(spec, train: Dataset, test: Dataset | None, command: list) -> dict:
    import h5py

    data = {"train": {"source": train.source, "sha256": train.sha256}}
    if test is not None:
        data["test"] = {"source": test.source, "sha256": test.sha256}
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
