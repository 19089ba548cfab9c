"""One experiment end to end: a plain function of a spec that returns its summary.

Sweeps call `train_run` in worker processes, so nothing here touches the terminal: progress
goes through a `Reporter`, problems through `NnctlError`.
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nnctl import __version__
from nnctl.config import Spec, dump_spec, load_config
from nnctl.data import Dataset, load_dataset
from nnctl.errors import DataError, DivergedError, RunError
from nnctl.network import initialize_parameters, predict_proba
from nnctl.plots import plot_costs, plot_decision_boundary
from nnctl.runs import (
    CHECKPOINT,
    METRICS,
    PARAMS,
    run_status,
    atomic_write,
    create_run_dir,
    load_params,
    read_json,
    resolve_run_path,
    save_arrays,
    save_params,
    update_latest,
    write_costs_csv,
    write_json,
)
from nnctl.training import Reporter, Trainer, choose_path, gradient_descent

RESOLVED = "config.resolved.yaml"
REPRODUCE = "reproduce.json"


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


def make_rng(spec: Spec):
    """The generator for initial weights: the course's legacy RandomState, or a modern Generator."""
    if spec.model.init_rng == "legacy":
        return np.random.RandomState(spec.train.seed)  # same stream as np.random.seed(seed); randn
    return np.random.default_rng(spec.train.seed)


def load_data(spec: Spec):
    """(train, test or None) checked against each other and against model.layers."""
    task, dtype = spec.model.task, np.dtype(spec.train.dtype)
    train = load_dataset(spec.data.train, task, dtype=dtype)
    test = load_dataset(spec.data.test, task, role="test", dtype=dtype) if spec.data.test else None
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


def evaluate_dataset(params, activations, data: Dataset, task: str) -> dict:
    """Accuracy (%) for classification, RMSE for regression."""
    AL = predict_proba(data.X, params, activations)
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
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "h5py": h5py.__version__, "nnctl": __version__},
        "blas": blas_info(),
        "platform": platform.platform(),
        "command": command,
        "rerun": f"nnctl train {RESOLVED}",
    }


# ---------------------------------------------------------------- before the work


def available_memory() -> int:
    """Bytes of memory available now (MemAvailable), or the physical total where unknown."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def memory_estimate(layer_dims, m: int, itemsize: int, path: str) -> dict:
    """Bytes the training arrays take, by kind: what `Trainer` allocates, from the shapes alone."""
    n = layer_dims
    weights = sum(n[l] * n[l - 1] + n[l] for l in range(1, len(n)))
    est = {
        "parameters and gradients": 2 * weights * itemsize,
        "activations and dZ": (2 * sum(n[1:]) + n[-1]) * m * itemsize,  # A[l], dZ[l] and Z[L]
    }
    if path == "dual":
        est["dual path (G, P, C, W1_0)"] = (m * m + 2 * n[1] * m + n[1] * n[0]) * itemsize
    return est


def preflight(layer_dims, m: int, dtype, path: str, root: Path) -> None:
    """Refuse, before anything is written, a run that cannot fit in memory or on disk."""
    itemsize = np.dtype(dtype).itemsize
    est = memory_estimate(layer_dims, m, itemsize, path)
    need, free = sum(est.values()), available_memory()
    if need > free:
        parts = ", ".join(f"{k}: {_size(v)}" for k, v in est.items())
        raise RunError(
            f"the network's arrays need about {_size(need)} ({parts}) but only {_size(free)} of memory is "
            f"available; use train.dtype: float32, fewer examples or smaller layers"
        )
    weights = sum(layer_dims[l] * layer_dims[l - 1] + layer_dims[l] for l in range(1, len(layer_dims)))
    extra = (layer_dims[1] * (layer_dims[0] + m)) if path == "dual" else 0
    disk = 3 * (weights + extra) * itemsize + (2 << 20)  # params.h5, checkpoint.h5 and its temporary, pictures
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free_disk = shutil.disk_usage(probe).free
    except OSError:
        return
    if disk > free_disk:
        raise RunError(
            f"{root}: the run's files need about {_size(disk)} but only {_size(free_disk)} is free on that disk; "
            "free some space or choose another place with --runs-dir"
        )


# ---------------------------------------------------------------- training


def _save_checkpoint(run_dir: Path, trainer: Trainer, iteration: int, costs, meta: dict) -> None:
    params = trainer.materialize()
    arrays = {**params, **{f"state/{k}": v for k, v in trainer.state().items()}}
    arrays["costs"] = np.array(costs, dtype=np.float64).reshape(-1, 2)
    save_arrays(run_dir / CHECKPOINT, arrays, {**meta, "iterations": iteration, "first_layer": trainer.path})


def _load_checkpoint(run_dir: Path):
    """(params, dual state, iteration, costs) from a run's checkpoint."""
    arrays, meta = load_params(run_dir / CHECKPOINT, groups=True)
    state = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("state/")}
    params = {k: v for k, v in arrays.items() if k[0] in "Wb" and "/" not in k}
    costs = [(int(i), float(c)) for i, c in arrays.get("costs", np.zeros((0, 2)))]
    return params, state, int(meta["iterations"]), costs, meta


def blas_info() -> dict:
    """The BLAS library and its thread count now: products round differently with other counts."""
    from threadpoolctl import threadpool_info

    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return {}
    return {"library": blas[0].get("internal_api"), "version": blas[0].get("version"), "threads": blas[0].get("num_threads")}


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
) -> Summary:
    """Load data, check resources, create the run directory, train, write every file.

    With `resume`, continue `run_dir` from its checkpoint (or from the start, seeded, if it has
    none): the final parameters equal those of an uninterrupted run. A diverged run keeps its
    files (last finite parameters, costs so far) and then raises `DivergedError`.
    Training runs with `train.blas_threads` BLAS threads (a resumed run: those it started with).
    """
    from threadpoolctl import threadpool_limits

    threads = spec.train.blas_threads
    if resume and threads is None and (Path(run_dir) / REPRODUCE).exists():
        threads = read_json(Path(run_dir) / REPRODUCE).get("blas", {}).get("threads")
    with threadpool_limits(threads, user_api="blas"):
        return _train_run(spec, config_text, runs_root, run_dir, reporter, command, should_stop, resume)


def _train_run(spec, config_text, runs_root, run_dir, reporter, command, should_stop, resume) -> Summary:
    train, test = load_data(spec)
    layer_dims = spec.layer_dims(train.n_x)
    resolved = spec.resolved(layer_dims)
    activations = resolved.model.activations
    loss, task = resolved.model.loss, resolved.model.task
    dtype = np.dtype(spec.train.dtype)
    m = train.m
    checkpoint = _load_checkpoint(Path(run_dir)) if resume and (Path(run_dir) / CHECKPOINT).exists() else None
    if checkpoint is not None:
        path = checkpoint[4].get("first_layer", "primal")  # continue on the path the run was trained on
    else:
        path = choose_path(spec.train.first_layer, train.n_x, m, dtype.itemsize, 0.25 * available_memory())
    own_dir = run_dir is None  # a sweep's trial gets its directory from the sweep; `latest` stays
    root = Path(runs_root or spec.runs_dir) if own_dir else Path(run_dir).parent
    preflight(layer_dims, m, dtype, path, root)  # X is already loaded, in the training dtype

    meta = {
        "layer_dims": layer_dims,
        "activations": activations,
        "loss": loss,
        "task": task,
        "classes": train.classes,
        "preprocessing": train.preprocessing,
        "dtype": spec.train.dtype,
        "total_iterations": spec.train.iterations,
    }
    previous_seconds, start, costs, state, params = 0.0, 0, [], None, None
    if resume:
        run_dir = Path(run_dir)
        _check_same_data(run_dir, train, test)
        old = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
        previous_seconds = float(old.get("seconds") or 0.0)
        started = old.get("started")
        if checkpoint is not None:
            params, state, start, costs, _ = checkpoint
    else:
        run_dir = create_run_dir(root, spec.name or "run") if own_dir else Path(run_dir)
        if not own_dir:
            run_dir.mkdir(parents=True)
        started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if config_text is not None:
            atomic_write(run_dir / "spec.yaml", config_text)
        atomic_write(run_dir / RESOLVED, dump_spec(resolved))
        write_json(run_dir / REPRODUCE, reproduce_info(spec, train, test, command or sys.argv))
    write_json(run_dir / METRICS, {"status": "running", "started": started, "pid": os.getpid(), "host": platform.node(), "layers": layer_dims})

    X, Y = train.X, train.Y.astype(dtype)  # load_data gave X in the training dtype already
    if params is None:
        params = initialize_parameters(layer_dims, spec.model.init, spec.model.init_scale, make_rng(spec), dtype)
    t0 = time.perf_counter()
    trainer = Trainer(params, X, Y, activations, loss, spec.train.learning_rate, path, state)
    setup_seconds = time.perf_counter() - t0  # the dual path's Gram matrix is paid here, once
    result = gradient_descent(
        trainer,
        spec.train.iterations,
        spec.train.record_every,
        start=start,
        costs=costs,
        reporter=reporter,
        should_stop=should_stop,
        checkpoint_every=spec.train.checkpoint_every,
        on_checkpoint=lambda i, c: _save_checkpoint(run_dir, trainer, i, c, meta),
    )
    if result.status == "diverged" and not trainer.params_finite():
        # the update itself overflowed: fall back to the last checkpoint, which is finite
        if (run_dir / CHECKPOINT).exists():
            params, _, result.iterations, _, _ = _load_checkpoint(run_dir)
        else:
            params = initialize_parameters(layer_dims, spec.model.init, spec.model.init_scale, make_rng(spec), dtype)
            result.iterations = 0
    else:
        params = trainer.materialize()
    if result.status == "interrupted":
        _save_checkpoint(run_dir, trainer, result.iterations, result.costs, meta)

    save_params(run_dir / PARAMS, params, {**meta, "iterations": result.iterations, "first_layer": path})
    write_costs_csv(run_dir / "costs.csv", result.costs)
    plot_costs(run_dir / "costs.png", {spec.name or "run": result.costs}, spec.name or "", spec.train.learning_rate)

    metrics = {"status": result.status, "started": started}
    if result.status != "diverged":
        for label, data in (("train", train), ("test", test)):
            if data is not None:
                for key, value in evaluate_dataset(params, activations, data, task).items():
                    metrics[f"{label}_{key}"] = value
        if train.n_x == 2:
            plot_decision_boundary(
                run_dir / "decision_boundary.png",
                lambda P: predict_proba(P, params, activations),
                X,
                train.Y,
                f"{spec.name}: decision boundary",
                classes=train.classes,
            )
    final_cost = result.costs[-1][1] if result.costs else None
    seconds = previous_seconds + setup_seconds + result.seconds
    its_per_s = ((result.iterations - start) / result.seconds) if result.seconds > 0 else 0.0
    metrics.update(
        {
            "final_cost": final_cost,
            "iterations": result.iterations,
            "total_iterations": spec.train.iterations,
            "seconds": round(seconds, 6),
            "setup_seconds": round(setup_seconds, 6),
            "iterations_per_second": round(its_per_s, 3),
            "layers": layer_dims,
            "first_layer": path,
            "message": result.message,
        }
    )
    if resume:
        metrics["resumed_from"] = start
    write_json(run_dir / METRICS, metrics)
    if result.status == "completed":
        (run_dir / CHECKPOINT).unlink(missing_ok=True)  # params.h5 holds the final state
    if own_dir and not resume:
        update_latest(run_dir.parent, run_dir)

    summary = Summary(
        name=spec.name or "run",
        run_dir=str(run_dir),
        status=result.status,
        layers=layer_dims,
        task=task,
        iterations=result.iterations,
        final_cost=final_cost,
        seconds=seconds,
        iterations_per_second=its_per_s,
        first_layer=path,
        train_accuracy=metrics.get("train_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        train_rmse=metrics.get("train_rmse"),
        test_rmse=metrics.get("test_rmse"),
        message=result.message,
        resumed_from=start if resume else None,
    )
    if result.status == "diverged":
        raise DivergedError(f"{result.message}. Run kept at {run_dir} (status: diverged)")
    return summary


def _check_same_data(run_dir: Path, train: Dataset, test: Dataset | None) -> None:
    if not (run_dir / REPRODUCE).exists():
        return
    recorded = read_json(run_dir / REPRODUCE).get("data", {})
    for role, data in (("train", train), ("test", test)):
        if data is not None and role in recorded and recorded[role]["sha256"] != data.sha256:
            raise DataError(
                f"{data.source}: the {role} data changed since the run started (SHA-256 differs from "
                f"{run_dir / REPRODUCE}); resuming would not reproduce the run, so train it again"
            )


def resume_run(path, *, reporter: Reporter | None = None, should_stop=None) -> Summary:
    """Continue an interrupted, killed or crashed run in its own directory."""
    run_dir = resolve_run_path(path)
    if not (run_dir / RESOLVED).exists():
        raise RunError(f"{run_dir}: not a run directory (no {RESOLVED}); give a runs/... directory to --resume")
    metrics = read_json(run_dir / METRICS) if (run_dir / METRICS).exists() else {}
    status = run_status(metrics) if metrics else "interrupted"
    if status == "completed":
        raise RunError(f"{run_dir}: the run already completed; nothing to resume")
    if status == "diverged":
        raise RunError(f"{run_dir}: the run diverged; resuming would diverge again, so train it again with a smaller learning_rate")
    if status == "running":
        raise RunError(f"{run_dir}: the run is still running (pid {metrics.get('pid')}); stop it first")
    spec = load_config(run_dir / RESOLVED)
    return train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=should_stop, resume=True)
