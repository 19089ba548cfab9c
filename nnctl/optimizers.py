"""Optimizers and learning-rate schedules: one table row each, no branch on a name elsewhere.

Backward computes the gradients; an optimizer's `step(params, grads)` applies them in place and
owns its state, named after the parameter it belongs to ("v/W1", "s/b2", ...) so that
checkpoints save it with `state()` and resume restores it with `load_state()`.
`step` may overwrite `grads` (they are the Trainer's buffers, recomputed every step): no
temporary array is allocated per step. The arithmetic is the course's, in the course's order:

  gd        W = W - alpha dW
  momentum  v = beta v + (1 - beta) dW;  W = W - alpha v
  rmsprop   s = beta2 s + (1 - beta2) dW^2;  W = W - alpha dW / (sqrt(s) + epsilon)
  adam      v = beta1 v + (1 - beta1) dW;  s = beta2 s + (1 - beta2) dW^2;  t = t + 1 (per mini-batch)
            W = W - alpha v_hat / (sqrt(s_hat) + epsilon),  v_hat = v / (1 - beta1^t),  s_hat = s / (1 - beta2^t)

A schedule gives the learning rate of each epoch from alpha_0 (`rate(epoch)`).
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np


class Optimizer:
    """Gradient descent, and the base of the others: `step(params, grads)` in place."""

    name = "gd"
    moments: tuple = ()  # the state kept per parameter, each the parameter's shape
    scratch = False  # one extra array per parameter for in-place arithmetic
    linear = True  # the update is a fixed linear map of the gradients (the dual path's condition)

    def __init__(self, learning_rate: float, beta: float = 0.9, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8):
        self.learning_rate = learning_rate
        self.beta, self.beta1, self.beta2, self.epsilon = beta, beta1, beta2, epsilon
        self.t = 0  # steps applied
        self.names: list = []
        self.state_arrays: dict = {}
        self._scratch: list = []

    def bind(self, names, params) -> "Optimizer":
        """Allocate the state, zeros, for parameters named `names` (e.g. ["W1", "b1", ...])."""
        self.names = list(names)
        self.state_arrays = {f"{k}/{n}": np.zeros_like(p) for k in self.moments for n, p in zip(names, params)}
        self._scratch = [np.empty_like(p) for p in params] if self.scratch else []
        return self

    def _moment(self, kind: str, i: int):
        return self.state_arrays[f"{kind}/{self.names[i]}"]

    def step(self, params, grads) -> None:
        self.t += 1
        alpha = self.learning_rate
        for p, g in zip(params, grads):
            g *= alpha  # W = W - alpha dW, with dW's buffer as the scratch
            p -= g

    def state(self) -> dict:
        """Every array and number the next steps depend on."""
        return {**self.state_arrays, "t": np.array(self.t, dtype=np.int64)}

    def load_state(self, state: dict) -> None:
        for key, arr in self.state_arrays.items():
            if key not in state or state[key].shape != arr.shape:
                raise ValueError(f"optimizer state {key!r} missing or of the wrong shape")
            arr[...] = state[key]
        self.t = int(state.get("t", 0))

    def extra_arrays(self) -> int:
        """Arrays of each parameter's size the optimizer holds (for the memory estimate)."""
        return len(self.moments) + int(self.scratch)


class _PerParameter(Optimizer):
    """The others: one `_update` per parameter."""

    def step(self, params, grads) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            self._update(i, p, g)


class Momentum(_PerParameter):
    name = "momentum"
    moments = ("v",)

    def _update(self, i, p, g):
        v = self._moment("v", i)
        v *= self.beta
        g *= 1 - self.beta
        v += g  # v = beta v + (1 - beta) dW
        np.multiply(v, self.learning_rate, out=g)
        p -= g  # W = W - alpha v


class RMSprop(_PerParameter):
    name = "rmsprop"
    moments = ("s",)
    scratch = True
    linear = False

    def _update(self, i, p, g):
        s, tmp = self._moment("s", i), self._scratch[i]
        s *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        s += tmp  # s = beta2 s + (1 - beta2) dW^2
        np.sqrt(s, out=tmp)
        tmp += self.epsilon
        g *= self.learning_rate
        g /= tmp
        p -= g  # W = W - alpha dW / (sqrt(s) + epsilon)


class Adam(_PerParameter):
    name = "adam"
    moments = ("v", "s")
    scratch = True
    linear = False

    def step(self, params, grads) -> None:
        self.t += 1  # t counts mini-batch steps, from 1
        self._c1 = 1 - np.power(self.beta1, self.t)
        self._c2 = 1 - np.power(self.beta2, self.t)
        for i, (p, g) in enumerate(zip(params, grads)):
            self._update(i, p, g)

    def _update(self, i, p, g):
        v, s, tmp = self._moment("v", i), self._moment("s", i), self._scratch[i]
        s *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        s += tmp  # s = beta2 s + (1 - beta2) dW^2
        v *= self.beta1
        g *= 1 - self.beta1
        v += g  # v = beta1 v + (1 - beta1) dW
        np.divide(v, self._c1, out=g)  # v_hat
        np.divide(s, self._c2, out=tmp)  # s_hat
        np.sqrt(tmp, out=tmp)
        tmp += self.epsilon
        g *= self.learning_rate
        g /= tmp
        p -= g  # W = W - alpha v_hat / (sqrt(s_hat) + epsilon)


class OptimizerRow(NamedTuple):
    make: type
    hyper: tuple  # the spec keys it reads
    summary: str


OPTIMIZERS: dict[str, OptimizerRow] = {
    "gd": OptimizerRow(Optimizer, (), "gradient descent: W = W - alpha dW"),
    "momentum": OptimizerRow(Momentum, ("beta",), "velocity v = beta v + (1 - beta) dW; W = W - alpha v"),
    "rmsprop": OptimizerRow(RMSprop, ("beta2", "epsilon"), "W = W - alpha dW / (sqrt(s) + epsilon)"),
    "adam": OptimizerRow(Adam, ("beta1", "beta2", "epsilon"), "bias-corrected moments; W = W - alpha v_hat / (sqrt(s_hat) + epsilon)"),
}
OPTIMIZER_NAMES = tuple(OPTIMIZERS)


def make_optimizer(name: str, learning_rate: float, **hyper) -> Optimizer:
    row = OPTIMIZERS[name]
    return row.make(learning_rate, **{k: v for k, v in hyper.items() if k in row.hyper})


# ---------------------------------------------------------------- learning-rate schedules


def _constant(alpha0, epoch, decay_rate, time_interval):
    return alpha0


def _inverse_time(alpha0, epoch, decay_rate, time_interval):
    """alpha_0 / (1 + decay_rate * floor(epoch / time_interval)): the course's `update_lr` with
    time_interval 1, its `schedule_lr_decay` otherwise."""
    return alpha0 / (1 + decay_rate * math.floor(epoch / time_interval))


class Schedule(NamedTuple):
    rate: Callable  # (alpha_0, k, decay_rate, time_interval) -> the learning rate
    summary: str


SCHEDULES: dict[str, Schedule] = {
    "none": Schedule(_constant, "alpha_0 throughout"),
    "inverse_time": Schedule(_inverse_time, "alpha_0 / (1 + decay_rate * floor(k / time_interval))"),
}
SCHEDULE_NAMES = tuple(SCHEDULES)


def epoch_rate(name: str, alpha0: float, epoch: int, decay_rate: float = 1.0, time_interval: int = 1) -> float:
    """The learning rate used during `epoch` (0-based), as the course's loop sets it: after epoch i
    it computes the rate from i, so epochs 0 and 1 both run at alpha_0 and epoch e >= 1 at rate(e - 1)."""
    return SCHEDULES[name].rate(alpha0, max(epoch - 1, 0), decay_rate, time_interval)
