"""One experiment end to end: a plain function of a spec that returns its summary.

Sweeps call `train_run` in worker processes, so nothing here touches the terminal: progress
goes through a `Reporter`, problems through `NnctlError`.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nnctl import __version__
from nnctl.config import Spec, dump_spec
from nnctl.data import Dataset, load_dataset
from nnctl.errors import DataError, DivergedError
from nnctl.network import initialize_parameters, predict_proba
from nnctl.plots import plot_costs, plot_decision_boundary
from nnctl.runs import (
    METRICS,
    PARAMS,
    atomic_write,
    create_run_dir,
    save_params,
    update_latest,
    write_costs_csv,
    write_json,
)
from nnctl.training import Reporter, gradient_descent


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
    train_accuracy: float | None = None
    test_accuracy: float | None = None
    train_rmse: float | None = None
    test_rmse: float | None = None
    message: str | None = None
    extra: dict = field(default_factory=dict)


def make_rng(spec: Spec):
    """The generator for initial weights: the course's legacy RandomState, or a modern Generator."""
    if spec.model.init_rng == "legacy":
        return np.random.RandomState(spec.train.seed)  # same stream as np.random.seed(seed); randn
    return np.random.default_rng(spec.train.seed)


def load_data(spec: Spec):
    """(train, test or None) checked against each other and against model.layers."""
    task = spec.model.task
    train = load_dataset(spec.data.train, task)
    test = load_dataset(spec.data.test, task, role="test") if spec.data.test else None
    if test is not None and test.n_x != train.n_x:
        raise DataError(
            f"{spec.data.test}: examples have {test.n_x} features but the training data's have "
            f"{train.n_x} (input shape {train.preprocessing['input_shape']}); use a test file of the same layout"
        )
    if spec.model.layers is not None and spec.model.layers[0] != train.n_x:
        raise DataError(
            f"model.layers starts with {spec.model.layers[0]} but {spec.data.train} holds examples of "
            f"{train.n_x} features (input shape {train.preprocessing['input_shape']}); set model.layers[0] "
            f"to {train.n_x}, or give model.hidden and let the data decide"
        )
    return train, test


def evaluate_dataset(params, activations, data: Dataset, task: str, dtype) -> dict:
    """Accuracy (%) for classification, RMSE for regression."""
    AL = predict_proba(data.X.astype(dtype, copy=False), params, activations)
    if task == "classification":
        return {"accuracy": float(np.mean((AL > 0.5) == (data.Y > 0.5)) * 100)}
    return {"rmse": float(np.sqrt(np.mean((AL - data.Y) ** 2)))}


def reproduce_info(spec: Spec, train: Dataset, test: Dataset | None, command: list) -> dict:
    import h5py

    data = {"train": {"source": train.source, "sha256": train.sha256}}
    if test is not None:
        data["test"] = {"source": test.source, "sha256": test.sha256}
    return {
        "seed": spec.train.seed,
        "init_rng": spec.model.init_rng,
        "data": data,
        "versions": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "h5py": h5py.__version__,
            "nnctl": __version__,
        },
        "platform": platform.platform(),
        "command": command,
        "rerun": f"nnctl train {Path('config.resolved.yaml')}",
    }


def train_run(
    spec: Spec,
    *,
    config_text: str | None = None,
    runs_root=None,
    run_dir=None,
    reporter: Reporter | None = None,
    command: list | None = None,
) -> Summary:
    """Load data, create the run directory, train, write every file; return the summary.

    A diverged run keeps its files (last finite parameters, costs so far) and then raises
    `DivergedError` naming the run.
    """
    train, test = load_data(spec)
    layer_dims = spec.layer_dims(train.n_x)
    resolved = spec.resolved(layer_dims)
    activations = resolved.model.activations
    loss, task = resolved.model.loss, resolved.model.task
    dtype = np.dtype(spec.train.dtype)

    own_dir = run_dir is None  # a sweep's trial gets its directory from the sweep; `latest` stays
    if own_dir:
        run_dir = create_run_dir(runs_root or spec.runs_dir, spec.name or "run")
    else:
        run_dir = Path(run_dir)
        run_dir.mkdir(parents=True)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if config_text is not None:
        atomic_write(run_dir / "spec.yaml", config_text)
    atomic_write(run_dir / "config.resolved.yaml", dump_spec(resolved))
    write_json(run_dir / "reproduce.json", reproduce_info(spec, train, test, command or sys.argv))
    write_json(run_dir / METRICS, {"status": "running", "started": started, "pid": os.getpid(), "host": platform.node()})

    X, Y = train.X.astype(dtype, copy=False), train.Y.astype(dtype)
    params = initialize_parameters(layer_dims, spec.model.init, spec.model.init_scale, make_rng(spec), dtype)
    result = gradient_descent(
        params,
        X,
        Y,
        activations,
        loss,
        spec.train.learning_rate,
        spec.train.iterations,
        spec.train.record_every,
        reporter=reporter,
    )

    meta = {
        "layer_dims": layer_dims,
        "activations": activations,
        "loss": loss,
        "task": task,
        "classes": train.classes,
        "preprocessing": train.preprocessing,
        "dtype": spec.train.dtype,
        "iterations": result.iterations,
    }
    save_params(run_dir / PARAMS, params, meta)
    write_costs_csv(run_dir / "costs.csv", result.costs)
    plot_costs(run_dir / "costs.png", {spec.name or "run": result.costs}, spec.name or "", spec.train.learning_rate)

    metrics = {"status": result.status, "started": started}
    if result.status != "diverged":
        for label, data in (("train", train), ("test", test)):
            if data is not None:
                for key, value in evaluate_dataset(params, activations, data, task, dtype).items():
                    metrics[f"{label}_{key}"] = value
        if train.n_x == 2:
            plot_decision_boundary(
                run_dir / "decision_boundary.png",
                lambda P: predict_proba(P, params, activations),
                X,
                train.Y,
                f"{spec.name}: decision boundary",
            )
    final_cost = result.costs[-1][1] if result.costs else None
    its_per_s = (result.iterations / result.seconds) if result.seconds > 0 else 0.0
    metrics.update(
        {
            "final_cost": final_cost,
            "iterations": result.iterations,
            "seconds": round(result.seconds, 6),
            "iterations_per_second": round(its_per_s, 3),
            "layers": layer_dims,
            "message": result.message,
        }
    )
    write_json(run_dir / METRICS, metrics)
    if own_dir:
        update_latest(run_dir.parent, run_dir)

    summary = Summary(
        name=spec.name or "run",
        run_dir=str(run_dir),
        status=result.status,
        layers=layer_dims,
        task=task,
        iterations=result.iterations,
        final_cost=final_cost,
        seconds=result.seconds,
        iterations_per_second=its_per_s,
        train_accuracy=metrics.get("train_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        train_rmse=metrics.get("train_rmse"),
        test_rmse=metrics.get("test_rmse"),
        message=result.message,
    )
    if result.status == "diverged":
        raise DivergedError(f"{result.message}. Run kept at {run_dir} (status: diverged)")
    return summary


def summary_dict(summary: Summary) -> dict:
    return asdict(summary)
