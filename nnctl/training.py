"""The gradient-descent loop: buffers allocated once, two ways to compute the first layer.

The loop only emits events (costs, ticks, checkpoints); listeners record or draw.

Primal path: the course's products, Z[l] = W[l] A[l-1] + b[l], without allocating per iteration.
Dual path: with full-batch gradient descent every update of W[1] is a combination of the examples,
dW[1] = (1/m) dZ[1] X^T, so W[1] = W[1]_0 + C X^T with C of shape (n[1], m). With the Gram matrix
G = X^T X (m, m) and P = W[1]_0 X computed once, Z[1] = P + C G + b[1] and the update is
C -= (alpha/m) dZ[1]: one (n[1], m)(m, m) product per iteration instead of two over n_x, which is
far less work when m < n_x (the course's cats: m = 209, n_x = 12288).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nnctl.activations import ACTIVATIONS
from nnctl.network import compute_cost


class Reporter:
    """Listener for training events; this base class does nothing (the `--quiet` reporter)."""

    def on_start(self, total: int, start: int) -> None: ...

    def on_cost(self, iteration: int, cost: float) -> None: ...

    def on_tick(self, iteration: int) -> None: ...

    def on_end(self, iteration: int) -> None: ...


@dataclass
class TrainingResult:
    costs: list = field(default_factory=list)  # [(iteration, cost)], cost before that iteration's update
    iterations: int = 0  # iterations completed (updates applied)
    status: str = "completed"  # completed | diverged | interrupted
    seconds: float = 0.0
    message: str | None = None


def choose_path(requested: str, n_x: int, m: int, itemsize: int, memory_budget: float) -> str:
    """The dual path when it is less work (m < n_x) and G = X^T X fits the memory budget."""
    if requested != "auto":
        return requested
    return "dual" if m < n_x and m * m * itemsize <= memory_budget else "primal"


def gram(X, block: int = 4096):
    """G = X^T X (m, m), by blocks of rows: one product of numpy's over a large m (its symmetric
    special case) has been seen to crash with m = 20,000."""
    m = X.shape[1]
    G = np.empty((m, m), dtype=X.dtype)
    for i in range(0, m, block):
        np.matmul(X[:, i : i + block].T, X, out=G[i : i + block])
    return G


class Trainer:
    """One network's state for full-batch gradient descent; `params` is updated in place.

    On the dual path params["W1"] is only brought up to date by `materialize()`.
    """

    def __init__(self, params, X, Y, activations, loss, learning_rate, path="primal", dual_state=None):
        self.params, self.X, self.Y, self.loss = params, X, Y, loss
        self.learning_rate = learning_rate
        self.acts = [ACTIVATIONS[a] for a in activations]
        self.L = L = len(activations)
        n_x, m = X.shape
        dtype = X.dtype
        self.m = m
        self.W = [None] + [params[f"W{l}"] for l in range(1, L + 1)]
        self.b = [None] + [params[f"b{l}"] for l in range(1, L + 1)]
        n = [n_x] + [W.shape[0] for W in self.W[1:]]
        self.A = [X] + [np.empty((n[l], m), dtype) for l in range(1, L + 1)]  # A[l] (n[l], m)
        self.ZL = np.empty((n[L], m), dtype)  # Z[L] kept for the cost
        self.dZ = [None] + [np.empty((n[l], m), dtype) for l in range(1, L + 1)]
        self.dW = [None] + [np.empty_like(W) for W in self.W[1:]]
        self.db = [None] + [np.empty_like(b) for b in self.b[1:]]
        self.path = path
        if path == "dual":
            state = dual_state or {}
            self.W1_0 = state["W1_0"] if "W1_0" in state else self.W[1].copy()
            self.C = state["C"] if "C" in state else np.zeros((n[1], m), dtype)  # W1 = W1_0 + C X^T
            self.G = gram(X)  # (m, m), computed once
            self.P = self.W1_0 @ X  # (n[1], m), computed once
            self.dW[1] = None

    def forward(self):
        for l in range(1, self.L + 1):
            Z = self.ZL if l == self.L else self.A[l]
            if l == 1 and self.path == "dual":
                np.matmul(self.C, self.G, out=Z)  # C G  (n[1], m)
                Z += self.P
            else:
                np.matmul(self.W[l], self.A[l - 1], out=Z)
            Z += self.b[l]  # (n[l], 1) broadcast over the m columns
            self.acts[l - 1].forward(Z, out=self.A[l])

    def cost(self) -> float:
        return compute_cost(self.ZL, self.A[self.L], self.Y, self.loss)

    def backward_and_update(self) -> bool:
        """Gradients of every layer, then the update; False (nothing updated) if any is not finite.

        The arithmetic is in the course's order (dW = dZ A^T / m, W = W - alpha * dW), so a run
        reproduces the notebooks' printed costs digit for digit.
        """
        L = self.L
        dZ = np.subtract(self.A[L], self.Y, out=self.dZ[L])  # dZ[L] = A[L] - Y
        if self.loss == "mse":
            self.acts[L - 1].backward(dZ, self.A[L])  # consumes A[L]: the cost was taken before
        total = 0.0
        for l in range(L, 0, -1):
            dZ = self.dZ[l]
            np.sum(dZ, axis=1, keepdims=True, out=self.db[l])
            self.db[l] /= self.m
            total += float(self.db[l].sum())
            if self.dW[l] is not None:
                np.matmul(dZ, self.A[l - 1].T, out=self.dW[l])  # dZ[l] A[l-1]^T  (n[l], n[l-1])
                self.dW[l] /= self.m
            # finite dZ[l] (and finite A[l-1]) make a finite dW[l]: check whichever array is smaller
            total += float(dZ.sum() if self.dW[l] is None or dZ.size < self.dW[l].size else self.dW[l].sum())
            if l > 1:  # never dA[0]
                np.matmul(self.W[l].T, dZ, out=self.dZ[l - 1])  # dA[l-1] = W[l]^T dZ[l]
                # A[l-1] has served dW[l] above: backward may consume it for g'(Z[l-1])
                self.acts[l - 2].backward(self.dZ[l - 1], self.A[l - 1])
        if self.dW[1] is None:  # dual: the update of C is dZ[1] / m
            self.dZ[1] /= self.m
        if not np.isfinite(total):
            return False
        alpha = self.learning_rate
        for l in range(1, L + 1):
            target, step = (self.C, self.dZ[1]) if self.dW[l] is None else (self.W[l], self.dW[l])
            step *= alpha
            target -= step
            self.db[l] *= alpha
            self.b[l] -= self.db[l]
        return True

    def materialize(self) -> dict:
        """params with W[1] = W[1]_0 + C X^T on the dual path; the params dict itself."""
        if self.path == "dual":
            W1 = self.params["W1"]
            np.matmul(self.C, self.X.T, out=W1)
            W1 += self.W1_0
        return self.params

    def state(self) -> dict:
        """What a checkpoint needs to continue bit for bit: W1_0 and C on the dual path."""
        return {"W1_0": self.W1_0, "C": self.C} if self.path == "dual" else {}

    def params_finite(self) -> bool:
        arrays = list(self.params.values()) + list(self.state().values())
        return all(np.isfinite(a).all() for a in arrays)


def gradient_descent(
    trainer: Trainer,
    iterations: int,
    record_every: int = 100,
    start: int = 0,
    costs=None,
    reporter: Reporter | None = None,
    should_stop=None,
    checkpoint_every: int | None = None,
    on_checkpoint=None,
) -> TrainingResult:
    """Iterations `start` to `iterations`; the cost is computed only at record iterations.

    A non-finite cost or gradient stops at once with the last finite parameters intact.
    `should_stop()` is asked after each iteration; `on_checkpoint(i, costs)` runs every
    `checkpoint_every` iterations.
    """
    reporter = reporter or Reporter()
    result = TrainingResult(costs=list(costs or []), iterations=start)
    tick = max(1, (iterations - start) // 200)
    reporter.on_start(iterations, start)
    t0 = time.perf_counter()
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is detected, not warned
            for i in range(start, iterations):
                trainer.forward()
                if i % record_every == 0 or i == iterations - 1:
                    cost = trainer.cost()
                    if not np.isfinite(cost):
                        result.status, result.message = "diverged", _diverged(i, trainer, "cost")
                        break
                    result.costs.append((i, cost))
                    reporter.on_cost(i, cost)
                if not trainer.backward_and_update():
                    result.status, result.message = "diverged", _diverged(i, trainer, "gradient")
                    break
                result.iterations = i + 1
                if i % tick == 0:
                    reporter.on_tick(i + 1)
                if checkpoint_every and on_checkpoint and (i + 1) % checkpoint_every == 0 and i + 1 < iterations:
                    on_checkpoint(i + 1, result.costs)
                if should_stop is not None and should_stop():
                    if i + 1 < iterations:
                        result.status = "interrupted"
                    break
    finally:  # a second Ctrl-C still closes the display
        result.seconds = time.perf_counter() - t0
        reporter.on_end(result.iterations)
    return result


def _diverged(i, trainer, what) -> str:
    return (
        f"training diverged at iteration {i}: the {what} is no longer finite with "
        f"learning_rate={trainer.learning_rate:g}; try a smaller learning_rate"
    )
