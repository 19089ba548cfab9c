"""Successive halving: train every trial a little, continue the best 1/eta, and so on.

The budgets are Hyperband's: with s = floor(log_eta(max / min)), rung k trains to
round(max / eta^(s - k)) epochs (iterations for a full-batch spec), so the last rung is the spec's
own length and each rung is eta times the one before. A trial that goes on continues from the
checkpoint it stopped with: it is never trained from zero again.

Pure: the sweep passes scores (higher is better, None for a trial that cannot be judged).
"""

from __future__ import annotations

import math


def budgets(min_budget: int, max_budget: int, eta: int) -> list[int]:
    """[b_0, ..., max_budget], each about eta times the one before, b_0 >= min_budget."""
    s = math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)
    out: list[int] = []
    for k in range(s + 1):
        b = max(min_budget, round(max_budget / eta ** (s - k)))
        if not out or b > out[-1]:
            out.append(b)
    return out


def keep(n: int, eta: int) -> int:
    """How many of n trials go on to the next rung."""
    return max(1, n // eta)


def promote(scored: list, eta: int) -> list:
    """The names of the best keep(n, eta) of [(name, score or None)], in rank order; a trial
    without a score (diverged, failed) never goes on. Ties keep the trials' order."""
    judged = [(name, s) for name, s in scored if s is not None]
    judged.sort(key=lambda x: -x[1])
    return [name for name, _ in judged[: keep(len(scored), eta)]]
