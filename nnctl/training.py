"""The gradient-descent loop. It only emits events (costs, ticks); listeners record or draw."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from nnctl.network import backward, compute_cost, forward, update_parameters


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


def is_record_iteration(i: int, iterations: int, record_every: int) -> bool:
    return i % record_every == 0 or i == iterations - 1


def gradient_descent(
    params,
    X,
    Y,
    activations,
    loss,
    learning_rate,
    iterations,
    record_every=100,
    reporter: Reporter | None = None,
    start=0,
    should_stop=None,
) -> TrainingResult:
    """Full-batch gradient descent from iteration `start` to `iterations`, updating params in place.

    The cost is computed only at record iterations (every `record_every`, and the last).
    Before each update the gradients are checked for non-finite values, so a diverging run
    stops with its last finite parameters intact.
    """
    reporter = reporter or Reporter()
    result = TrainingResult(iterations=start)
    tick = max(1, (iterations - start) // 200)
    reporter.on_start(iterations, start)
    t0 = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected below, not warned
        for i in range(start, iterations):
            Zs, As = forward(X, params, activations)
            if is_record_iteration(i, iterations, record_every):
                cost = compute_cost(Zs[-1], As[-1], Y, loss)
                if not np.isfinite(cost):
                    result.status, result.message = "diverged", _diverged(i, learning_rate, "cost")
                    break
                result.costs.append((i, cost))
                reporter.on_cost(i, cost)
            grads = backward(Y, params, Zs, As, activations, loss)
            if not np.isfinite(sum(float(g.sum()) for g in grads.values())):
                result.status, result.message = "diverged", _diverged(i, learning_rate, "gradient")
                break
            update_parameters(params, grads, learning_rate)
            result.iterations = i + 1
            if i % tick == 0:
                reporter.on_tick(i + 1)
            if should_stop is not None and should_stop():
                result.status = "interrupted"
                break
    result.seconds = time.perf_counter() - t0
    reporter.on_end(result.iterations)
    return result


def _diverged(i, learning_rate, what) -> str:
    return (
        f"training diverged at iteration {i}: the {what} is no longer finite with "
        f"learning_rate={learning_rate:g}; try a smaller learning_rate"
    )
