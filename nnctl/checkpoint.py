"""Checkpoints: every piece of state that changes during training, saved and restored.

checkpoint.h5 holds the parameters at the top level (so `predict` can use an unfinished run),
the first layer's state (`first_layer/W1_0`, `first_layer/C` on the dual path), the optimizer's
moments and step count (`optimizer/v.W1`, ..., `optimizer/t`), this epoch's order of the examples
(`loop/order`) and the cost curve; its attributes hold the position (epoch, batch within it,
iterations, the partial epoch cost), the learning rate, the shuffling and dropout generators' states and a
fingerprint of the spec it belongs to. Read back, it is input like any other: checked.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import RunError
from nnctl.layout import CHECKPOINT
from nnctl.runs import load_params, save_arrays
from nnctl.training import Batches, Position, Trainer

COST_COLUMNS = 4  # epoch, cost, iteration, learning rate


def fingerprint(spec) -> str:
    """SHA-256 of the model and training settings: a checkpoint resumes only the spec that wrote it."""
    text = json.dumps({"model": spec.model.model_dump(mode="json"), "train": spec.train.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Checkpoint:
    params: dict
    first_layer: dict  # W1_0, C on the dual path
    optimizer: dict  # "v/W1", ..., "t"
    order: np.ndarray | None
    position: Position
    costs: list
    meta: dict
    monitor: dict | None = None  # "validation" rows, "best/W1", ...


def save(run_dir: Path, trainer: Trainer, batches: Batches, result, meta: dict, spec_fingerprint: str,
         monitor=None, normalization=None) -> None:
    params = trainer.materialize()
    arrays = dict(params)
    monitor_attrs = None
    if monitor is not None:  # validation rows, early stopping's best parameters and patience
        monitor_arrays, monitor_attrs = monitor.state()
        arrays.update(monitor_arrays)
    if normalization is not None:
        arrays.update(normalization.arrays())
    arrays.update({f"first_layer/{k}": v for k, v in trainer.state().items()})
    arrays.update({f"optimizer/{k.replace('/', '.')}": v for k, v in trainer.optimizer.state().items()})
    if not batches.full:
        arrays["loop/order"] = batches.order
    arrays["costs"] = np.array([(*c, *s) for c, s in zip(result.costs, result.steps)], dtype=np.float64).reshape(-1, COST_COLUMNS)
    pos = result.position
    save_arrays(
        Path(run_dir) / CHECKPOINT,
        arrays,
        {
            **meta,
            "iterations": pos.steps,
            "epoch": pos.epoch,
            "batch": pos.batch,
            "cost_sum": pos.cost_sum,
            "learning_rate": trainer.learning_rate,
            "first_layer": trainer.path,
            "batches": batches.state(),
            "dropout": trainer.dropout_state(),
            "monitor": monitor_attrs,
            "fingerprint": spec_fingerprint,
        },
    )


def load(run_dir: Path, spec_fingerprint: str | None = None) -> Checkpoint:
    path = Path(run_dir) / CHECKPOINT
    arrays, meta = load_params(path, groups=True)
    if spec_fingerprint is not None and meta.get("fingerprint", spec_fingerprint) != spec_fingerprint:
        raise RunError(f"{path}: the checkpoint was written for other model or train settings than the run's spec; train it again")
    try:
        steps = int(meta["iterations"])
        epoch = int(meta.get("epoch", steps))
        position = Position(epoch=epoch, batch=int(meta.get("batch", 0)), steps=steps, cost_sum=float(meta.get("cost_sum", 0.0)))
        raw = np.asarray(arrays.get("costs", np.zeros((0, COST_COLUMNS))), dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] not in (2, COST_COLUMNS):
            raise ValueError("costs")
        costs = [(int(r[0]), float(r[1]), int(r[2]), float(r[3])) if len(r) == COST_COLUMNS else (int(r[0]), float(r[1]), int(r[0]), np.nan) for r in raw]
    except (KeyError, TypeError, ValueError) as exc:
        raise RunError(f"{path}: the checkpoint is damaged ({exc.__class__.__name__}: {exc}); train the run again") from None
    if min(position.epoch, position.batch, position.steps) < 0:
        raise RunError(f"{path}: the checkpoint's position is negative; train the run again")
    first = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(("first_layer/", "state/"))}
    optimizer = {k.split("/", 1)[1].replace(".", "/"): v for k, v in arrays.items() if k.startswith("optimizer/")}
    params = {k: v for k, v in arrays.items() if k[0] in "Wb" and "/" not in k}
    monitor = {k: v for k, v in arrays.items() if k == "validation" or k.startswith("best/")}
    return Checkpoint(params, first, optimizer, arrays.get("loop/order"), position, costs, meta, monitor)


def check(ckpt: Checkpoint, batches: Batches, path) -> None:
    """Refuse a checkpoint whose position or learning rate cannot belong to this run's batches."""
    pos, rate = ckpt.position, ckpt.meta.get("learning_rate", 1.0)
    if pos.batch >= batches.count or (batches.full and pos.steps != pos.epoch) or not (isinstance(rate, (int, float)) and 0 < rate < float("inf")):
        raise RunError(f"{path}: the checkpoint's position or learning rate does not fit the run's spec; train the run again")


def restore(ckpt: Checkpoint, trainer: Trainer, batches: Batches, path, monitor=None) -> None:
    """Put a checkpoint's optimizer and generator state back into a trainer built from its params
    (`path`, the checkpoint's file, names it in messages)."""
    check(ckpt, batches, path)
    try:
        trainer.optimizer.load_state(ckpt.optimizer)
        batches.load_state(ckpt.meta.get("batches") or {}, ckpt.order if ckpt.position.batch else None)
        if trainer.dropout is not None:
            trainer.dropout.load_state(ckpt.meta.get("dropout") or {})
        if monitor is not None:
            monitor.load_state(ckpt.monitor or {}, ckpt.meta.get("monitor") or {})
        trainer.learning_rate = float(ckpt.meta.get("learning_rate", trainer.learning_rate))
    except (ValueError, TypeError, KeyError) as exc:
        raise RunError(f"{path}: the checkpoint does not fit the run's spec ({exc}); train the run again") from None
