"""Optimizers and learning-rate schedules: one table row each, no branch on a name elsewhere.

Backward computes the gradients; an optimizer's `step(params, grads)` applies them in place and
owns its state, named after the parameter it belongs to ("v/W1", "s/b2", ...) so that
checkpoints save it with `state()` and resume restores it with `load_state()`.
`step` may overwrite `grads` (the Trainer's buffer, recomputed every step): no temporary array
is allocated per step. The arithmetic is the course's, in the course's order:

  gd        W = W - alpha dW
  momentum  v = beta v + (1 - beta) dW;  W = W - alpha v
  rmsprop   s = beta2 s + (1 - beta2) dW^2;  W = W - alpha dW / (sqrt(s) + epsilon)
  adam      v = beta1 v + (1 - beta1) dW;  s = beta2 s + (1 - beta2) dW^2;  t = t + 1 (per mini-batch)
            W = W - alpha v_hat / (sqrt(s_hat) + epsilon),  v_hat = v / (1 - beta1^t),  s_hat = s / (1 - beta2^t)

A schedule gives the learning rate of each epoch from alpha_0 (`rate(epoch)`).
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, NamedTuple

import numpy as np
import numpy.typing as npt

from nnctl.core.backend import Array, NumpyBackend, namespace


class Optimizer:
    """Gradient descent, and the base of the others.

    `bind(layout)` names the pieces of the parameter vector the optimizer will step, in order:
    [("W1", shape), ("b1", shape), ...]; its state is one vector per moment, of the same layout,
    saved piece by piece ("v/W1", ...). `step(params, grads)` takes the parameter and gradient
    vectors (the Trainer keeps every parameter as a view of one vector, so an update is a few
    whole-vector operations, whatever the depth) and may overwrite `grads`.
    """

    name = "gd"
    moments: tuple = ()  # the state kept per parameter
    scratch = False  # one extra vector for in-place arithmetic
    linear = True  # the update is a fixed linear map of the gradients (the dual path's condition)
    dtype: np.dtype  # the parameters', set by bind

    def __init__(self, learning_rate: float, beta: float = 0.9, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate = learning_rate
        self.beta, self.beta1, self.beta2, self.epsilon = beta, beta1, beta2, epsilon
        self.t = 0  # steps applied
        self.layout: list = []
        self.m: dict = {}
        self._tmp: Array | None = None
        self.be, self.xp = NumpyBackend(), np
        self._fused: Callable | None = None

    def bind(self, layout: Iterable[tuple[str, tuple[int, ...]]], dtype: npt.DTypeLike = np.float64, backend: NumpyBackend | None = None) -> "Optimizer":
        """Allocate the state, zeros, for a parameter vector made of `layout` [(name, shape), ...],
        where `backend` (nnctl.core.backend; default NumPy) keeps its arrays."""
        self.layout, offset = [], 0
        for name, shape in layout:
            size = int(np.prod(shape))
            self.layout.append((name, offset, offset + size, tuple(shape)))
            offset += size
        self.be = be = backend or NumpyBackend()
        self.xp, self.dtype = be.xp, np.dtype(dtype)
        self.m = {k: be.asarray(np.zeros(offset, dtype)) for k in self.moments}
        self._tmp = be.empty(offset, dtype) if self.scratch else None
        self._fused = be.fused_optimizer(self.name)  # one kernel for the whole update, where the device has one
        return self

    def step(self, params: Array, grads: Array) -> None:
        self.t += 1
        grads *= self.learning_rate  # W = W - alpha dW, with dW's buffer as the scratch
        params -= grads

    def state(self) -> dict:
        """Every array and number the next steps depend on, named after the parameters."""
        host = {k: self.be.to_host(vec) for k, vec in self.m.items()}  # NumPy arrays, whatever the device
        out = {f"{k}/{name}": vec[a:b].reshape(shape) for k, vec in host.items() for name, a, b, shape in self.layout}
        out["t"] = np.array(self.t, dtype=np.int64)
        return out

    def load_state(self, state: dict) -> None:
        for k, vec in self.m.items():
            for name, a, b, shape in self.layout:
                key = f"{k}/{name}"
                if key not in state or tuple(np.shape(state[key])) != shape:
                    raise ValueError(f"optimizer state {key!r} missing or of the wrong shape")
                vec[a:b] = self.be.asarray(np.asarray(state[key], dtype=vec.dtype).ravel())
        self.t = int(state.get("t", 0))

    def extra_arrays(self) -> int:
        """Vectors of the parameters' size the optimizer holds (for the memory estimate)."""
        return len(self.moments) + int(self.scratch)


class Momentum(Optimizer):
    name = "momentum"
    moments = ("v",)

    def step(self, params: Array, grads: Array) -> None:
        self.t += 1
        v = self.m["v"]
        v *= self.beta
        grads *= 1 - self.beta
        v += grads  # v = beta v + (1 - beta) dW
        self.xp.multiply(v, self.learning_rate, out=grads)
        params -= grads  # W = W - alpha v


class RMSprop(Optimizer):
    name = "rmsprop"
    moments = ("s",)
    scratch = True
    linear = False

    def step(self, params: Array, grads: Array) -> None:
        self.t += 1
        s, tmp = self.m["s"], self._tmp
        assert tmp is not None  # scratch: bind allocated it
        _squared_average(s, grads, self.beta2, tmp)
        self.xp.sqrt(s, out=tmp)
        tmp += self.epsilon
        grads *= self.learning_rate
        grads /= tmp
        params -= grads  # W = W - alpha dW / (sqrt(s) + epsilon)


def _squared_average(s: Array, grads: Array, beta2: float, tmp: Array) -> None:
    """s = beta2 s + (1 - beta2) dW^2, in place (RMSprop's and Adam's second moment)."""
    s *= beta2
    namespace(grads).multiply(grads, grads, out=tmp)
    tmp *= 1 - beta2
    s += tmp


class Adam(Optimizer):
    name = "adam"
    moments = ("v", "s")
    scratch = True
    linear = False

    def step(self, params: Array, grads: Array) -> None:
        self.t += 1  # t counts mini-batch steps, from 1
        v, s, tmp, xp = self.m["v"], self.m["s"], self._tmp, self.xp
        if self._fused is not None:  # the same arithmetic in one kernel (nnctl.core.backend._ADAM)
            T = self.dtype.type
            c1, c2 = 1 - float(self.beta1) ** self.t, 1 - float(self.beta2) ** self.t
            self._fused(
                grads, T(self.learning_rate), T(self.beta1), T(self.beta2), T(1 - self.beta1), T(1 - self.beta2), T(c1), T(c2), T(self.epsilon), params, v, s
            )
            return
        assert tmp is not None  # scratch: bind allocated it
        _squared_average(s, grads, self.beta2, tmp)
        v *= self.beta1
        grads *= 1 - self.beta1
        v += grads  # v = beta1 v + (1 - beta1) dW
        # Python floats: an np.float64 scalar would make a float32 update compute in float64
        xp.divide(v, 1 - float(self.beta1) ** self.t, out=grads)  # v_hat
        xp.divide(s, 1 - float(self.beta2) ** self.t, out=tmp)  # s_hat
        xp.sqrt(tmp, out=tmp)
        tmp += self.epsilon
        grads *= self.learning_rate
        grads /= tmp
        params -= grads  # W = W - alpha v_hat / (sqrt(s_hat) + epsilon)


class OptimizerRow(NamedTuple):
    make: type[Optimizer]
    hyper: tuple  # the spec keys it reads
    summary: str
    learning_rate: float = 0.001  # train.learning_rate when the spec gives none (docs/tables.md: how it was chosen)


OPTIMIZERS: dict[str, OptimizerRow] = {
    "gd": OptimizerRow(Optimizer, (), "gradient descent: W = W - alpha dW", 0.1),
    "momentum": OptimizerRow(Momentum, ("beta",), "velocity v = beta v + (1 - beta) dW; W = W - alpha v", 0.1),
    "rmsprop": OptimizerRow(RMSprop, ("beta2", "epsilon"), "W = W - alpha dW / (sqrt(s) + epsilon)", 0.001),
    "adam": OptimizerRow(Adam, ("beta1", "beta2", "epsilon"), "bias-corrected moments; W = W - alpha v_hat / (sqrt(s_hat) + epsilon)", 0.001),
}
OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def make_optimizer(name: str, learning_rate: float, **hyper: float) -> Optimizer:
    row = OPTIMIZERS[name]
    return row.make(learning_rate, **{k: v for k, v in hyper.items() if k in row.hyper})


# ---------------------------------------------------------------- learning-rate schedules


def _constant(alpha0: float, k: int, total: int) -> float:
    return alpha0


def _inverse_time(alpha0: float, k: int, total: int, decay_rate: float, time_interval: int) -> float:
    """alpha_0 / (1 + decay_rate * floor(epoch / time_interval)): the course's `update_lr` with
    time_interval 1, its `schedule_lr_decay` otherwise."""
    return alpha0 / (1 + decay_rate * math.floor(k / time_interval))


def _cos_between(start: float, end: float, pct: float) -> float:
    return end + (start - end) / 2 * (math.cos(math.pi * pct) + 1)


def _one_cycle(alpha0: float, k: int, total: int, one_cycle_warmup: float, one_cycle_div: float, one_cycle_final_div: float) -> float:
    """Warm-up then annealing, PyTorch's OneCycleLR (cosine, two phases) stepped once per epoch:
    from alpha_0 / div up to alpha_0 over the first `warmup` of the epochs, then down to
    alpha_0 / (div * final_div) at the last epoch."""
    start = alpha0 / one_cycle_div
    end1, end2 = one_cycle_warmup * total - 1, total - 1
    if k <= end1:
        return _cos_between(start, alpha0, k / end1 if end1 > 0 else 1.0)
    return _cos_between(alpha0, start / one_cycle_final_div, (k - end1) / (end2 - end1) if end2 > end1 else 1.0)


class Schedule(NamedTuple):
    rate: Callable  # (alpha_0, k, total epochs, **keys) -> the learning rate
    varies: bool  # False: the loop leaves the rate alone and costs.csv has no rate column
    summary: str
    keys: tuple = ()  # the train.* keys it reads
    lag: bool = True  # the course's loop: epoch e >= 1 runs at rate(e - 1) (it updates after each epoch)


SCHEDULES: dict[str, Schedule] = {
    "none": Schedule(_constant, False, "alpha_0 throughout"),
    "inverse_time": Schedule(_inverse_time, True, "alpha_0 / (1 + decay_rate * floor(k / time_interval))", ("decay_rate", "time_interval")),
    "one_cycle": Schedule(
        _one_cycle,
        True,
        "cosine warm-up from alpha_0 / div to alpha_0, then cosine annealing to alpha_0 / (div * final_div)",
        ("one_cycle_warmup", "one_cycle_div", "one_cycle_final_div"),
        lag=False,
    ),
}
SCHEDULE_NAMES = tuple(SCHEDULES)


def epoch_rate(name: str, alpha0: float, epoch: int, decay_rate: float = 1.0, time_interval: int = 1, total: int = 1, **keys: float) -> float:
    """The learning rate used during `epoch` (0-based) of `total`. The course's schedules lag, as its
    loop sets the rate after epoch i from i: epochs 0 and 1 both run at alpha_0 and epoch e >= 1 at
    rate(e - 1); one_cycle does not (epoch e at rate(e), as PyTorch's scheduler stepped each epoch)."""
    row = SCHEDULES[name]
    given = {"decay_rate": decay_rate, "time_interval": time_interval, **keys}
    return row.rate(alpha0, max(epoch - 1, 0) if row.lag else epoch, total, **{k: given[k] for k in row.keys})
