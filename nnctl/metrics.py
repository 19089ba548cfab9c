"""What a run reports: its summary, metrics.json, costs.csv, reproduce.json."""

from __future__ import annotations

import platform
from dataclasses import dataclass

import numpy as np

from nnctl import __version__
from nnctl.atomic import atomic_write
from nnctl.data import Dataset
from nnctl.layout import RESOLVED
from nnctl.network import predict_proba
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
    sessions: list | None = None  # seconds of each process the run took (more than one after a resume)
    warnings: list | None = None  # a degenerate model: what it does and the likely cause


def evaluate_dataset(params, activations, data: Dataset, task: str) -> dict:
    """Accuracy (%) for classification, RMSE for regression."""
    AL = predict_proba(data.X, params, activations)
    if task == "classification":
        return {"accuracy": float(np.mean((AL > 0.5) == (data.Y > 0.5)) * 100)}
    return {"rmse": float(np.sqrt(np.mean((AL - data.Y) ** 2)))}


def cost_columns(mini_batch: bool, decay: bool) -> list:
    """costs.csv's columns: full-batch training keeps `iteration,cost` (an iteration is an epoch);
    mini-batches add the iterations done before the epoch; a decay adds the epoch's learning rate."""
    cols = ["epoch", "cost", "iteration"] if mini_batch else ["iteration", "cost"]
    return cols + (["learning_rate"] if decay else [])


def write_costs_csv(path, costs, mini_batch: bool, decay: bool):
    """Rows (epoch, cost, iteration, learning_rate) as the columns of `cost_columns` say."""
    cols = cost_columns(mini_batch, decay)
    lines = [",".join(cols)]
    for epoch, cost, iteration, rate in costs:
        row = [str(epoch), repr(cost)] + ([str(iteration)] if mini_batch else []) + ([repr(rate)] if decay else [])
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
