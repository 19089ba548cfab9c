"""One experiment end to end, as a short script of named steps:

    load data -> choose the first layer -> preflight -> open the run directory -> initialise
    -> train -> save -> evaluate -> report

`train_run` is a plain function of a spec that returns its summary. Sweeps call it in worker
processes, so nothing here touches the terminal: progress goes through a `Reporter`, problems
through `NnctlError`. Resources (resources.py), checkpoints (checkpoint.py), reports
(metrics.py) and the run directory's names (layout.py) live in their own modules.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nnctl import checkpoint
from nnctl.config import Spec, dump_spec, load_config
from nnctl.data import Dataset, load_dataset
from nnctl.errors import DataError, DivergedError, RunError
from nnctl.firstlayer import choose_first_layer
from nnctl.layout import BOUNDARY_PNG, CHECKPOINT, COSTS_CSV, COSTS_PNG, METRICS, PARAMS, REPRODUCE, RESOLVED, SPEC, Status
from nnctl.metrics import Summary, evaluate_dataset, reproduce_info, write_costs_csv
from nnctl.network import initialize_parameters, predict_proba
from nnctl.optimizers import OPTIMIZERS, SCHEDULES, epoch_rate, make_optimizer
from nnctl.plots import plot_costs, plot_decision_boundary
from nnctl.resources import available_memory, memory_estimate, preflight  # noqa: F401 (memory_estimate re-exported)
from nnctl.runs import atomic_write, create_run_dir, read_json, resolve_run_path, run_status, save_params, update_latest, write_json
from nnctl.training import Batches, CheckpointEvery, Reporter, StopWhen, Trainer, gradient_descent

__all__ = ["train_run", "resume_run", "Summary", "available_memory", "memory_estimate", "evaluate_dataset", "make_rng", "load_data"]


INIT_RNGS = {
    "legacy": np.random.RandomState,  # the same stream as the course's np.random.seed(seed); randn
    "generator": np.random.default_rng,
}


def make_rng(spec: Spec):
    """The generator for initial weights: the course's legacy RandomState, or a modern Generator."""
    return INIT_RNGS[spec.model.init_rng](spec.train.seed)


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


@dataclass
class _Run:
    """What the steps share."""

    spec: Spec
    train: Dataset
    test: Dataset | None
    layer_dims: list
    resolved: Spec
    run_dir: Path | None = None
    own_dir: bool = True
    resume: bool = False
    ckpt: checkpoint.Checkpoint | None = None
    path: str = "primal"
    path_reason: str = ""
    started: str | None = None
    previous_seconds: float = 0.0
    meta: dict = field(default_factory=dict)  # written into params.h5 and checkpoint.h5
    root: Path | None = None  # where a new run directory goes
    resumed_from: int = 0  # iterations done before this process
    setup_seconds: float = 0.0  # building the Trainer (the dual path's Gram matrix is paid here, once)

    @property
    def activations(self):
        return self.resolved.model.activations

    @property
    def dtype(self):
        return np.dtype(self.spec.train.dtype)

    @property
    def mini_batch(self) -> bool:
        return self.spec.train.batch_size is not None and self.spec.train.batch_size < self.train.m


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
        run = _load(spec, run_dir, resume)
        _choose_first_layer(run)
        _preflight(run, runs_root)
        _open_run_dir(run, config_text, runs_root, command)
        trainer, batches = _initialise(run)
        result = _train(run, trainer, batches, reporter, should_stop)
        params = _save(run, trainer, batches, result)
        metrics = _evaluate(run, params, result)
        return _report(run, result, metrics)


# ---------------------------------------------------------------- the steps


def _load(spec: Spec, run_dir, resume: bool) -> _Run:
    train, test = load_data(spec)
    layer_dims = spec.layer_dims(train.n_x)
    run = _Run(spec, train, test, layer_dims, spec.resolved(layer_dims), resume=resume)
    run.own_dir = run_dir is None  # a sweep's trial gets its directory from the sweep; `latest` stays
    run.run_dir = None if run_dir is None else Path(run_dir)
    if resume and (run.run_dir / CHECKPOINT).exists():
        run.ckpt = checkpoint.load(run.run_dir, checkpoint.fingerprint(run.resolved))
        checkpoint.check(run.ckpt, Batches(train.m, spec.train.batch_size), run.run_dir / CHECKPOINT)  # before anything is written
        run.resumed_from = run.ckpt.position.steps
    return run


def _choose_first_layer(run: _Run) -> None:
    """Continue on the path a resumed run was trained on; else the dual path wherever it is exact."""
    if run.ckpt is not None:
        run.path = run.ckpt.meta.get("first_layer", "primal")
        run.path_reason = run.ckpt.meta.get("first_layer_reason", f"{run.path}: the path the run started on")
        return
    t = run.spec.train
    run.path, run.path_reason = choose_first_layer(
        t.first_layer, run.train.n_x, run.train.m, run.dtype.itemsize, 0.25 * available_memory(),
        optimizer_linear=OPTIMIZERS[t.optimizer].make.linear, full_batch=not run.mini_batch,
    )


def _optimizer_arrays(spec: Spec) -> int:
    return make_optimizer(spec.train.optimizer, spec.train.learning_rate).extra_arrays()


def _batch_sizes(run: _Run) -> tuple:
    return Batches(run.train.m, run.spec.train.batch_size).sizes if run.mini_batch else ()


def _preflight(run: _Run, runs_root) -> None:
    run.root = root = Path(runs_root or run.spec.runs_dir) if run.own_dir else run.run_dir.parent
    # X is already loaded, in the training dtype
    preflight(run.layer_dims, run.train.m, run.dtype, run.path, root, available_memory(), _optimizer_arrays(run.spec), _batch_sizes(run))


def _open_run_dir(run: _Run, config_text, runs_root, command) -> None:
    spec, root = run.spec, run.root
    run.meta = {
        "layer_dims": run.layer_dims,
        "activations": run.activations,
        "loss": run.resolved.model.loss,
        "task": run.resolved.model.task,
        "classes": run.train.classes,
        "preprocessing": run.train.preprocessing,
        "dtype": spec.train.dtype,
        "total_iterations": spec.train.epoch_count,
    }
    if run.resume:
        _check_same_data(run.run_dir, run.train, run.test)
        old = read_json(run.run_dir / METRICS) if (run.run_dir / METRICS).exists() else {}
        run.previous_seconds = float(old.get("seconds") or 0.0)
        run.started = old.get("started")
    else:
        run.run_dir = create_run_dir(root, spec.name or "run") if run.own_dir else run.run_dir
        if not run.own_dir:
            run.run_dir.mkdir(parents=True)
        run.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if config_text is not None:
            atomic_write(run.run_dir / SPEC, config_text)
        atomic_write(run.run_dir / RESOLVED, dump_spec(run.resolved))
        write_json(run.run_dir / REPRODUCE, reproduce_info(spec, run.train, run.test, command or sys.argv))
    write_json(
        run.run_dir / METRICS,
        {"status": Status.RUNNING, "started": run.started, "pid": os.getpid(), "host": platform.node(), "layers": run.layer_dims},
    )


def _fresh_params(run: _Run) -> dict:
    m = run.spec.model
    return initialize_parameters(run.layer_dims, m.init, m.init_scale, make_rng(run.spec), run.dtype)


def _initialise(run: _Run):
    t = run.spec.train
    X, Y = run.train.X, run.train.Y.astype(run.dtype)  # load_data gave X in the training dtype already
    ckpt = run.ckpt
    params = ckpt.params if ckpt is not None else _fresh_params(run)
    optimizer = make_optimizer(t.optimizer, t.learning_rate, **t.hyper())
    batch_size = t.batch_size if run.mini_batch else None
    t0 = time.perf_counter()
    trainer = Trainer(params, X, Y, run.activations, run.resolved.model.loss, path=run.path,
                      dual_state=ckpt.first_layer if ckpt else None, optimizer=optimizer, batch_size=batch_size)
    run.setup_seconds = time.perf_counter() - t0
    batches = Batches(run.train.m, batch_size, t.shuffle, t.seed)
    if ckpt is not None:
        checkpoint.restore(ckpt, trainer, batches, run.run_dir / CHECKPOINT)
    return trainer, batches


def _train(run: _Run, trainer: Trainer, batches: Batches, reporter, should_stop):
    t = run.spec.train
    rate = (lambda e: epoch_rate(t.decay, t.learning_rate, e, t.decay_rate, t.time_interval)) if SCHEDULES[t.decay].varies else None
    fp = checkpoint.fingerprint(run.resolved)
    meta = {**run.meta, "first_layer_reason": run.path_reason}
    ckpt = run.ckpt
    save = lambda res: checkpoint.save(run.run_dir, trainer, batches, res, meta, fp)  # noqa: E731
    listeners = [reporter or Reporter(), CheckpointEvery(t.checkpoint_every, t.epoch_count, save)]
    if should_stop is not None:
        listeners.append(StopWhen(should_stop))
    result = gradient_descent(
        trainer,
        t.epoch_count,
        t.record_every,
        listeners=listeners,
        batches=batches,
        rate=rate,
        position=ckpt.position if ckpt else None,
        costs=ckpt.costs if ckpt else None,
    )
    if result.status == Status.INTERRUPTED:
        save(result)
    return result


def _save(run: _Run, trainer: Trainer, batches: Batches, result) -> dict:
    """params.h5 (the last finite parameters), costs.csv and costs.png."""
    t = run.spec.train
    if result.status == Status.DIVERGED and not trainer.params_finite():
        # the update itself overflowed: fall back to the last checkpoint, which is finite
        if (run.run_dir / CHECKPOINT).exists():
            back = checkpoint.load(run.run_dir)
            params, result.position = back.params, back.position
        else:
            params = _fresh_params(run)
            result.position.steps = result.position.epoch = 0
    else:
        params = trainer.materialize()
    save_params(run.run_dir / PARAMS, params, {**run.meta, "iterations": result.iterations, "epochs": result.epochs, "first_layer": run.path})
    rows = [(*c, *s) for c, s in zip(result.costs, result.steps)]
    write_costs_csv(run.run_dir / COSTS_CSV, rows, run.mini_batch, SCHEDULES[t.decay].varies)
    plot_costs(run.run_dir / COSTS_PNG, {run.spec.name or "run": result.costs}, run.spec.name or "", t.learning_rate)
    return params


def _evaluate(run: _Run, params, result) -> dict:
    metrics = {"status": result.status, "started": run.started}
    if result.status == Status.DIVERGED:
        return metrics
    for label, data in (("train", run.train), ("test", run.test)):
        if data is not None:
            for key, value in evaluate_dataset(params, run.activations, data, run.resolved.model.loss).items():
                metrics[f"{label}_{key}"] = value
    if run.train.n_x == 2:
        plot_decision_boundary(
            run.run_dir / BOUNDARY_PNG,
            lambda P: predict_proba(P, params, run.activations),
            run.train.X,
            run.train.Y,
            f"{run.spec.name}: decision boundary",
        )
    return metrics


def _report(run: _Run, result, metrics: dict) -> Summary:
    t, setup_seconds = run.spec.train, run.setup_seconds
    start = run.resumed_from
    final_cost = result.costs[-1][1] if result.costs else None
    seconds = run.previous_seconds + setup_seconds + result.seconds
    its_per_s = ((result.iterations - start) / result.seconds) if result.seconds > 0 else 0.0
    batches_per_epoch = Batches(run.train.m, t.batch_size if run.mini_batch else None).count
    metrics.update(
        {
            "final_cost": final_cost,
            "iterations": result.iterations,
            "total_iterations": t.epoch_count * batches_per_epoch,
            "epochs": result.epochs,
            "total_epochs": t.epoch_count,
            "batch_size": t.batch_size if run.mini_batch else None,
            "batches_per_epoch": batches_per_epoch,
            "optimizer": t.optimizer,
            "learning_rate": result.steps[-1][1] if result.steps else t.learning_rate,
            "seconds": round(seconds, 6),
            "setup_seconds": round(setup_seconds, 6),
            "iterations_per_second": round(its_per_s, 3),
            "layers": run.layer_dims,
            "first_layer": run.path,
            "first_layer_reason": run.path_reason,
            "message": result.message,
        }
    )
    if run.resume:
        metrics["resumed_from"] = start
    write_json(run.run_dir / METRICS, metrics)
    if result.status == Status.COMPLETED:
        (run.run_dir / CHECKPOINT).unlink(missing_ok=True)  # params.h5 holds the final state
    if run.own_dir and not run.resume:
        update_latest(run.run_dir.parent, run.run_dir)
    summary = Summary(
        name=run.spec.name or "run",
        run_dir=str(run.run_dir),
        status=str(result.status),
        layers=run.layer_dims,
        task=run.resolved.model.task,
        iterations=result.iterations,
        final_cost=final_cost,
        seconds=seconds,
        iterations_per_second=its_per_s,
        first_layer=run.path,
        train_accuracy=metrics.get("train_accuracy"),
        test_accuracy=metrics.get("test_accuracy"),
        train_rmse=metrics.get("train_rmse"),
        test_rmse=metrics.get("test_rmse"),
        message=result.message,
        resumed_from=start if run.resume else None,
        epochs=result.epochs,
    )
    if result.status == Status.DIVERGED:
        raise DivergedError(f"{result.message}. Run kept at {run.run_dir} (status: diverged)")
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
    status = run_status(metrics) if metrics else Status.INTERRUPTED
    if status == Status.COMPLETED:
        raise RunError(f"{run_dir}: the run already completed; nothing to resume")
    if status == Status.DIVERGED:
        raise RunError(f"{run_dir}: the run diverged; resuming would diverge again, so train it again with a smaller learning_rate")
    if status == Status.RUNNING:
        raise RunError(f"{run_dir}: the run is still running (pid {metrics.get('pid')}); stop it first")
    spec = load_config(run_dir / RESOLVED)
    return train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=should_stop, resume=True)
