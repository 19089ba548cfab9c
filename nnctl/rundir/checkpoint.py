"""Checkpoints: every piece of state that changes during training, saved and restored.

checkpoint.h5 holds the parameters at the top level (so `predict` can use an unfinished run),
the first layer's state (`first_layer/W1_0`, `first_layer/C` on the dual path), the optimizer's
moments and step count (`optimizer/v.W1`, ..., `optimizer/t`), this epoch's order of the examples
(`loop/order`) and the cost curve (with a classifier's training accuracy at each record); its
attributes hold the position (epoch, batch within it, iterations, the partial epoch cost and right
answers), the learning rate, the shuffling and dropout generators' states, a
fingerprint of the spec it belongs to (and the settings themselves, to name what differs), the id
of the run that wrote it and the seconds of each session so far. Read back, it is input like any
other: `load` checks its types and `check` that it belongs to the run being resumed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nnctl.errors import RunError
from nnctl.core.layers import layer_arrays, network_arrays
from nnctl.rundir.layout import CHECKPOINT, REPRODUCE
from nnctl.rundir.runs import array_digest, compare_digests, load_params, save_arrays  # noqa: F401  (array_digest: named here before runs.py had it)
from nnctl.core.training import Batches, Position, Trainer
from nnctl.util.text import quoted, shell_quote
from nnctl.core.firstlayer import FIRST_LAYERS

COST_COLUMNS = 5  # epoch, cost, iteration, learning rate, training accuracy (NaN: a regression's, or not counted)
OLD_COST_COLUMNS = (2, 4)  # checkpoints of earlier nnctl versions: without the accuracy (and the iteration and rate)


MACHINE_KEYS = {"device", "fused"}  # where the arithmetic runs, not what it is: a run may move between devices


def settings(spec) -> dict:
    """The model and training settings of a resolved spec: what a checkpoint belongs to."""
    return {"model": spec.model.model_dump(mode="json"), "train": spec.train.model_dump(mode="json", exclude=MACHINE_KEYS)}


def fingerprint(spec) -> str:
    """SHA-256 of the model and training settings: a checkpoint resumes only the spec that wrote it."""
    return _hash(settings(spec))


def _hash(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differences(stored, now: dict, limit: int = 3) -> str:
    """'model.layers is [2, 5, 1] here but [2, 4, 1] in ...' for the keys that differ."""
    if not isinstance(stored, dict):
        return ""
    a, b = _flat(now), _flat(stored)
    keys = [k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    said = [f"{k}: {quoted(a.get(k)):.60} in the spec, {quoted(b.get(k)):.60} when the run started" for k in keys[:limit]]
    return "; ".join(said) + (f"; and {len(keys) - limit} more" if len(keys) > limit else "")


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
    digests: dict | None = None  # {key: SHA-256} of every array as read, to compare with meta["digests"]


def save(
    run_dir: Path,
    trainer: Trainer,
    batches: Batches,
    result,
    meta: dict,
    spec_fingerprint: str,
    monitor=None,
    normalization=None,
    extra: dict | None = None,
    target=None,
) -> None:
    """Write checkpoint.h5 atomically; `extra` (the run's id, its spec's settings, the seconds of
    each session so far) goes into the attributes as it is."""
    params = trainer.materialize()
    arrays = dict(params)
    monitor_attrs = None
    if monitor is not None:  # validation rows, early stopping's best parameters and patience
        monitor_arrays, monitor_attrs = monitor.state()
        arrays.update(monitor_arrays)
    if normalization is not None:
        arrays.update(normalization.arrays())
    if target is not None:  # a regression's target scaling: predict on an unfinished run turns its outputs back too
        arrays.update(target.arrays())
    arrays.update({f"first_layer/{k}": v for k, v in trainer.state().items()})
    arrays.update({f"optimizer/{k.replace('/', '.')}": v for k, v in trainer.optimizer.state().items()})
    if not batches.full:
        arrays["loop/order"] = batches.order
    accuracy = list(result.accuracy) + [np.nan] * (len(result.costs) - len(result.accuracy))
    arrays["costs"] = np.array([(*c, *s, a) for c, s, a in zip(result.costs, result.steps, accuracy)], dtype=np.float64).reshape(-1, COST_COLUMNS)
    pos = result.position
    save_arrays(
        Path(run_dir) / CHECKPOINT,
        arrays,
        {
            # every array's SHA-256: a value changed in the file (W2 = 1e300: finite, and it trained on
            # to "completed" with every unit dead) is refused on resume, not continued from
            "digests": {key: array_digest(value) for key, value in arrays.items()},
            **meta,
            "iterations": pos.steps,
            "epoch": pos.epoch,
            "batch": pos.batch,
            "cost_sum": pos.cost_sum,
            "correct": None if pos.correct != pos.correct else pos.correct,  # NaN is not JSON: null
            "learning_rate": trainer.learning_rate,
            "first_layer": trainer.path,
            "batches": batches.state(),
            "dropout": trainer.dropout_state(),
            "monitor": monitor_attrs,
            "fingerprint": spec_fingerprint,
            **(extra or {}),
        },
    )


def restart_hint(path: Path) -> str:
    return f"delete {path} to restart the run from the beginning (nnctl train --resume {shell_quote(path.parent)} then starts over, same spec and data)"


def load(run_dir: Path) -> Checkpoint:
    """checkpoint.h5 read back, its types checked; `check` then says whether it fits the run."""
    path = Path(run_dir) / CHECKPOINT
    try:
        arrays, meta = load_params(path, groups=True)
    except RunError:
        raise RunError(f"{path}: cannot be read (truncated or damaged); {restart_hint(path)}") from None
    try:
        # the loop's position is required whole: a default would resume somewhere else without a word
        steps = _whole(meta["iterations"], "iterations")
        position = Position(
            epoch=_whole(meta["epoch"], "epoch"),
            batch=_whole(meta["batch"], "batch"),
            steps=steps,
            cost_sum=_number(meta["cost_sum"], "cost_sum"),
            correct=_correct(meta),
        )
        raw = np.asarray(arrays.get("costs", np.zeros((0, COST_COLUMNS))), dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] not in (*OLD_COST_COLUMNS, COST_COLUMNS):
            raise ValueError(f"costs: expected rows of {COST_COLUMNS} numbers (got shape {raw.shape})")
        if raw.shape[1] == 2:
            raw = np.column_stack([raw, raw[:, 0], np.full(len(raw), np.nan)])
        if raw.shape[1] == 4:
            raw = np.column_stack([raw, np.full(len(raw), np.nan)])  # recorded before training accuracy was: not known
        costs = [(int(r[0]), float(r[1]), int(r[2]), float(r[3]), float(r[4])) for r in raw]
        if not all(np.isfinite(c[1]) for c in costs):
            raise ValueError("costs: a recorded cost is not a finite number")
        if not all(np.isnan(c[4]) or 0 <= c[4] <= 100 for c in costs):
            raise ValueError("costs: a recorded training accuracy is not a percentage")
        _number(meta["learning_rate"], "learning_rate")
        if not isinstance(meta["batches"], dict):
            raise ValueError("batches: expected an object")
        if "optimizer/t" not in arrays:
            raise KeyError("optimizer/t")
        for key in [k for k in arrays if k.startswith(("first_layer/", "state/", "optimizer/", "loop/", "best/", "normalize/", "normalize_target/"))]:
            if arrays[key].dtype.kind not in "fiu":
                raise ValueError(f"{key}: expected numbers (got {arrays[key].dtype})")
            if arrays[key].dtype.kind == "f" and not np.isfinite(arrays[key]).all():
                # NaN in a stored moment is a damaged file, not a diverged run: training never stores one
                raise ValueError(f"{key} holds values that are not finite numbers, which training never stores")
            if key.startswith("optimizer/s.") and (arrays[key] < 0).any():
                # RMSprop's and Adam's s is a mean of squared gradients: negative only in a damaged file
                raise ValueError(f"{key} holds negative values, but a second moment (a mean of squared gradients) never is")
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        what = f"{exc.args[0]} missing" if isinstance(exc, KeyError) else str(exc)
        raise RunError(f"{path}: the checkpoint is damaged ({what}); {restart_hint(path)}") from None
    first = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith(("first_layer/", "state/"))}
    optimizer = {k.split("/", 1)[1].replace(".", "/"): v for k, v in arrays.items() if k.startswith("optimizer/")}
    params = network_arrays(arrays)
    monitor = {k: v for k, v in arrays.items() if k == "validation" or k.startswith("best/")}
    digests = {key: array_digest(value) for key, value in arrays.items()}
    return Checkpoint(params, first, optimizer, arrays.get("loop/order"), position, costs, meta, monitor, digests)


def _whole(value, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{key}: expected a whole number >= 0 (got {quoted(value):.40})")
    return value


def _correct(meta: dict) -> float:
    """The position's right answers so far in its epoch: a whole number >= 0; NaN (not counted) when
    a checkpoint of an earlier nnctl stopped in the middle of an epoch without them, or null."""
    value = meta.get("correct", 0.0 if meta.get("batch") == 0 else None)
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 <= value < 2**53) or value != int(value):
        raise ValueError(f"correct: expected a whole number >= 0 (got {quoted(value):.40})")
    return float(value)


def _number(value, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{key}: expected a finite number (got {quoted(value):.40})")
    return float(value)


def position_problem(pos, total_epochs: int, batches_per_epoch: int) -> str | None:
    """What is wrong with a checkpoint's position (its attributes epoch, batch and iterations) in a run
    of `total_epochs` epochs of `batches_per_epoch` batches, naming the attribute; None if nothing."""
    per = max(batches_per_epoch, 1)
    if pos.epoch > total_epochs:
        return f"epoch is {pos.epoch}, beyond the run's {total_epochs} epochs"
    if pos.batch >= per:
        return f"batch is {pos.batch}, but the run's epochs have {per} batch{'es' if per != 1 else ''} (0 to {per - 1})"
    if pos.epoch == total_epochs and pos.batch:
        return f"epoch {pos.epoch}, batch {pos.batch} is past the run's end (epoch {total_epochs}, batch 0)"
    if pos.steps != pos.epoch * per + pos.batch:
        at = f"epoch {pos.epoch}, batch {pos.batch}" if per > 1 else f"epoch {pos.epoch}"
        return (
            f"iterations is {pos.steps}, but {at} is iteration {pos.epoch * per + pos.batch} in the run's epochs of "
            f"{per} batch{'es' if per != 1 else ''}: its position's attributes disagree"
        )
    return None


def check(
    ckpt: Checkpoint,
    path: Path,
    *,
    settings_now: dict,
    run_id,
    layer_dims,
    dtype,
    total_epochs: int,
    batches_per_epoch: int,
    m: int,
    record_every: int,
    normalised=(),
    rate=None,
    shuffled: bool = False,
) -> None:
    """Refuse a checkpoint that does not belong to this run, naming what differs: the spec's
    fingerprint, the run it was written by, the parameters' shapes and dtype, the position, and
    that its parts agree: the optimizer's t is the steps taken, a mid-epoch position has its order,
    the learning rate is the one the spec's schedule gives there (`rate(epoch)`)."""
    meta, hint = ckpt.meta, restart_hint(path)
    fp = meta.get("fingerprint")
    if not isinstance(fp, str):
        raise RunError(f"{path}: holds no fingerprint of the spec it was written for, so nothing says it belongs to this run; {hint}")
    if fp != _hash(settings_now):
        diffs = differences(meta.get("settings"), settings_now)
        raise RunError(f"{path}: was written for other settings than the run's spec ({diffs or 'model or train differ'}); {hint}")
    if run_id is None and meta.get("run_id") is not None:
        raise RunError(
            f"{path}: belongs to a run whose id is in its {REPRODUCE}, but {path.parent / REPRODUCE} is missing or has none; "
            f"put the run's {REPRODUCE} back, or {hint}"
        )
    if run_id is not None and meta.get("run_id") != run_id:
        raise RunError(
            f"{path}: belongs to another run (its run id is not the one in {path.parent / 'reproduce.json'}); put this run's own checkpoint back, or {hint}"
        )

    first = meta.get("first_layer", "primal")
    if first not in FIRST_LAYERS:
        raise RunError(f"{path}: first_layer: expected one of {', '.join(FIRST_LAYERS)} (got {quoted(first):.40}); {hint}")
    n = layer_dims
    want = {key: shape for key, (shape, _) in layer_arrays(n, normalised).items()}
    if first == "dual":
        want |= {"first_layer/W1_0": (n[1], n[0]), "first_layer/C": (n[1], m)}
    arrays = dict(ckpt.params) | {f"first_layer/{k}": v for k, v in ckpt.first_layer.items()}
    for key, shape in want.items():
        value = arrays.get(key)
        if value is None:
            raise RunError(f"{path}: {key} is missing (layers {list(n)} need it); {hint}")
        if value.shape != shape:
            raise RunError(f"{path}: {key} has shape {value.shape} but layers {list(n)} need {shape}; {hint}")
        if value.dtype != np.dtype(dtype):
            raise RunError(f"{path}: {key} is {value.dtype} but train.dtype is {np.dtype(dtype)}; {hint}")
        if not np.isfinite(value).all():
            raise RunError(f"{path}: {key} holds values that are not finite; {hint}")
        if key.startswith("running_var") and not (value >= 0).all():
            raise RunError(f"{path}: {key} holds negative variances; {hint}")
    extra = sorted(k for k in ckpt.params if k not in want)
    if extra:
        raise RunError(f"{path}: holds {extra[0]}, which layers {list(n)} do not have; {hint}")
    pos = ckpt.position
    problem = position_problem(pos, total_epochs, batches_per_epoch)
    if problem:
        raise RunError(f"{path}: {problem}; {hint}")
    if pos.correct == pos.correct and pos.correct > m * n[-1]:
        raise RunError(f"{path}: says {pos.correct:.0f} right answers so far in epoch {pos.epoch}, more than its {m} examples can give; {hint}")
    last = total_epochs - 1
    want_epochs = [e for e in range(0, pos.epoch, record_every)] + ([last] if last < pos.epoch and last % record_every else [])
    if [c[0] for c in ckpt.costs] != want_epochs:
        got = [c[0] for c in ckpt.costs]
        raise RunError(
            f"{path}: its cost curve (recorded at epochs {got[:3]}{'...' if len(got) > 3 else ''}, {len(got)} in all) does not "
            f"match its position, epoch {pos.epoch}, recording every {record_every}; {hint}"
        )
    t = ckpt.optimizer.get("t")
    if t is None or np.ndim(t) != 0 or int(t) != pos.steps:
        raise RunError(
            f"{path}: the optimizer's step count t is {None if t is None else np.asarray(t).tolist()!r:.40} but the checkpoint is "
            f"at step {pos.steps}: they are saved together, so the file was edited or damaged (Adam's bias correction "
            f"depends on t); {hint}"
        )
    if batches_per_epoch > 1 and pos.batch:  # in the middle of an epoch: its order of the examples is needed
        order = ckpt.order
        if order is None or np.ndim(order) != 1 or order.shape[0] != m or order.dtype.kind not in "iu" or not np.array_equal(np.sort(order), np.arange(m)):
            raise RunError(
                f"{path}: loop/order: expected this epoch's order of the {m} examples (a permutation of 0 to {m - 1}) "
                f"to resume at batch {pos.batch} of epoch {pos.epoch}; {hint}"
            )
    if batches_per_epoch > 1 and shuffled and not (ckpt.meta.get("batches") or {}):
        raise RunError(f"{path}: batches: the shuffling generator's state is missing, so the next epochs' orders would differ; {hint}")
    _check_digests(ckpt, path, hint)
    if rate is not None:
        epoch = pos.epoch if pos.batch or pos.epoch == 0 else pos.epoch - 1  # the epoch whose rate was in use
        want, got = rate(epoch), ckpt.meta["learning_rate"]
        if not abs(got - want) <= 1e-12 * abs(want):
            raise RunError(f"{path}: learning_rate is {got:g} but the run's spec gives {want:g} at epoch {epoch}: the checkpoint was edited; {hint}")


def _check_digests(ckpt: Checkpoint, path: Path, hint: str) -> None:
    """Every array must be the one training saved: its SHA-256 is recorded beside it.

    Values that pass every other check can still be ones training never wrote: parameters or moments
    set to 1e300 are finite, and a run resumed from them trained on to "completed" with every unit
    dead. Any change to an array is refused, whatever its size, as a damaged or edited file. A
    checkpoint without digests was written by an earlier nnctl: it resumes on the other checks, so that
    upgrading never strands an interrupted run.
    """
    compare_digests(path, ckpt.digests or {}, ckpt.meta.get("digests"), hint)


def restore(ckpt: Checkpoint, trainer: Trainer, batches: Batches, path: Path = Path(CHECKPOINT), monitor=None) -> None:
    """Put a checkpoint's optimizer, generator and monitor state back into a trainer built from its params."""
    rate = ckpt.meta.get("learning_rate", 1.0)
    if not (isinstance(rate, (int, float)) and 0 < rate < float("inf")):
        raise RunError(f"{path}: learning_rate: expected a positive finite number (got {quoted(rate):.40}); {restart_hint(path)}")
    try:
        trainer.optimizer.load_state(ckpt.optimizer)
        batches.load_state(ckpt.meta.get("batches") or {}, ckpt.order if ckpt.position.batch else None)
        if trainer.dropout is not None:
            trainer.dropout.load_state(ckpt.meta.get("dropout") or {})
        if monitor is not None:
            monitor.load_state(ckpt.monitor or {}, ckpt.meta.get("monitor") or {})
        trainer.learning_rate = float(ckpt.meta.get("learning_rate", trainer.learning_rate))
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:  # a generator state out of range: OverflowError
        raise RunError(f"{path}: the checkpoint does not fit the run's spec ({exc}); {restart_hint(path)}") from None
