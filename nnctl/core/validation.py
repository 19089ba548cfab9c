"""The validation set and early stopping: a listener of the training loop (its `monitor`).

At every recorded cost the network runs on the validation set without dropout; the validation
cost is the data cost alone (cross-entropy or squared error, no L2 term: the penalty does not
depend on the data, so it would hide over-fitting) and, for a classifier, the accuracy (%).
Early stopping watches one of them and stops when it has not improved by `min_delta` for
`patience` records; the best parameters are kept (copies) and restored at the end.
"""

from __future__ import annotations

import numpy as np

from nnctl.core.layers import BATCH_NORM_EPSILON
from nnctl.core.network import HEADS, LOSSES, compute_cost, forward

MONITORS = {"validation_cost": -1.0, "validation_accuracy": 1.0}  # the sign that makes larger better


def data_cost(params: dict, data, loss: str, activations, epsilon: float = BATCH_NORM_EPSILON) -> float:
    """The validation cost of `params` as the monitor computes it (the data cost alone, inference mode,
    labels encoded as the head encodes them), on the CPU: metrics.json's validation_cost is this of the
    parameters saved in params.h5, whichever record they come from."""
    labels = np.asarray(data.Y).reshape(1, -1)
    with np.errstate(all="ignore"):
        ZL, AL = last_layer(params, data.X, activations, epsilon)
        return compute_cost(ZL, AL, HEADS[loss].encode(labels, AL.shape[0], AL.dtype), loss)


def last_layer(params: dict, X, activations, epsilon: float) -> tuple:
    """(Z[L], A[L]), each (units, m), on the CPU: X in memory at once, a streamed file block by block."""
    blocks = [(0, X)] if isinstance(X, np.ndarray) else X.blocks()
    outs = [forward(Xb, params, activations, epsilon=epsilon) for _, Xb in blocks]
    return np.concatenate([Zs[-1] for Zs, _ in outs], axis=1), np.concatenate([As[-1] for _, As in outs], axis=1)


class ValidationMonitor:
    def __init__(self, trainer, data, loss: str, activations, task: str, listeners=(), early=None, unit="iteration", epsilon: float = BATCH_NORM_EPSILON):
        self.trainer, self.data, self.loss, self.activations, self.task = trainer, data, loss, activations, task
        self.epsilon = epsilon  # batch norm's: the validation set goes through in inference mode
        self.listeners, self.early, self.unit = list(listeners), early, unit  # the loop's: each gets on_validation
        self.rows: list = []  # (epoch, cost, accuracy or nan)
        self.best_value: float | None = None  # in the monitored quantity's own units
        self.best_epoch: int | None = None
        self.best_steps: int | None = None
        self.wait = 0
        self.best_params: dict | None = None
        self._on_device: tuple | None = None  # the validation set copied to the trainer's device, once

    def evaluate(self) -> tuple:
        """(cost, accuracy % or nan) on the validation set: labels encoded as the head encodes them
        (one-hot (k, m) for softmax); on a device where the parameters are, a streamed file in blocks."""
        X, labels = self.data.X, np.asarray(self.data.Y).reshape(1, -1)
        be = getattr(self.trainer, "be", None)
        with np.errstate(all="ignore"):
            if be is not None and be.device and isinstance(X, np.ndarray):  # where the parameters are: no copy back per record
                if self._on_device is None:
                    Y = HEADS[self.loss].encode(labels, self.trainer.n[-1], X.dtype)
                    self._on_device = be.asarray(X), be.asarray(Y), be.asarray(labels)
                params, (X, Y, labels) = self.trainer.device_params(), self._on_device
                Zs, As = forward(X, params, self.activations, epsilon=self.epsilon)
                ZL, AL = Zs[-1], As[-1]
            else:
                ZL, AL = last_layer(self.trainer.materialize(), X, self.activations, self.epsilon)
                Y = HEADS[self.loss].encode(labels, AL.shape[0], AL.dtype)  # labels (1, m), or one-hot (k, m) for softmax
            cost = compute_cost(ZL, AL, Y, self.loss)
            # the predicted class (A[L] > 0.5, or the most probable of k) against the label
            acc = LOSSES[self.loss].score(AL, labels)["accuracy"] if self.task == "classification" else float("nan")
        return cost, acc

    def on_record(self, epoch: int, steps: int) -> str | None:
        cost, acc = self.evaluate()
        self.rows.append((epoch, cost, acc))
        for x in self.listeners:
            x.on_validation(epoch, cost, None if np.isnan(acc) else acc)
        if self.early is None:
            return None
        value = cost if self.early.monitor == "validation_cost" else acc
        sign = MONITORS[self.early.monitor]
        if np.isfinite(value) and (self.best_value is None or sign * (value - self.best_value) > self.early.min_delta):
            self.best_value, self.best_epoch, self.best_steps, self.wait = value, epoch, steps, 0
            self.best_params = {k: v.copy() for k, v in self.trainer.materialize().items()}
            return None
        self.wait += 1
        if self.wait >= self.early.patience:
            return (
                f"early stopping at {self.unit} {epoch}: {self.early.monitor} did not improve by more than "
                f"{self.early.min_delta:g} in {self.early.patience} records; best {self.best_value:.6g} at {self.unit} {self.best_epoch}"
            )
        return None

    # ---------------------------------------------------------------- checkpoints

    def state(self) -> tuple[dict, dict]:
        """(arrays, attributes) a checkpoint needs to continue as if never stopped."""
        arrays = {"validation": np.array(self.rows, dtype=np.float64).reshape(-1, 3)}
        if self.best_params is not None:
            arrays.update({f"best/{k}": v for k, v in self.best_params.items()})
        attrs = {"best_value": self.best_value, "best_epoch": self.best_epoch, "best_steps": self.best_steps, "wait": self.wait}
        return arrays, attrs

    def load_state(self, arrays: dict, attrs: dict) -> None:
        raw = np.asarray(arrays.get("validation", np.zeros((0, 3))), dtype=np.float64)
        if raw.ndim != 2 or raw.shape[1] != 3:
            raise ValueError("validation rows")
        self.rows = [(int(r[0]), float(r[1]), float(r[2])) for r in raw]
        best = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("best/")}
        self.best_params = best or None
        attrs = attrs or {}
        self.best_value = attrs.get("best_value")
        self.best_epoch = attrs.get("best_epoch")
        self.best_steps = attrs.get("best_steps")
        self.wait = int(attrs.get("wait", 0))
