"""Successive halving: train every trial a little, continue the best 1/eta, and so on.

The budgets are Hyperband's: with s = floor(log_eta(max / min)), rung k trains to
round(max / eta^(s - k)) epochs (iterations for a full-batch spec), so the last rung is the spec's
own length and each rung is eta times the one before. A trial that goes on continues from the
checkpoint it stopped with: it is never trained from zero again.

Two ways to decide who goes on. Synchronous (`promote`): a rung waits for all its trials, then
the best keep(n, eta) continue. Asynchronous (`Asha`, Li et al., "A System for Massively Parallel
Hyperparameter Tuning", 2020): a trial goes on as soon as it is in the top 1/eta of the trials that
have finished its rung so far, and a free worker takes such a promotion before a new trial.

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


def caps(n: int, rungs: int, eta: int) -> list[int]:
    """How many trials each rung may promote, of n trials and `rungs` budgets: the sizes synchronous
    halving gives the next rungs (keep(n), keep(keep(n)), ...), so ASHA never trains more."""
    out = []
    for _ in range(rungs - 1):
        n = keep(n, eta)
        out.append(n)
    return out


class Asha:
    """Asynchronous successive halving over a fixed set of trials (one round of a search).

    Rung k (0 .. rungs-1) is the k-th budget. `reported[k]` lists (name, score) in the order the
    trials finished rung k; `promoted[k]` the names promoted from rung k to k+1, in order. Both
    are what the sweep records, so a resumed sweep rebuilds the scheduler from them.

    The rule (ASHA's get_job, with a finite set of trials): a free worker asks `next()`, which
    gives, in this order,
      1. a trial already promoted to rung k that has not finished it and is not running (a
         resumed sweep's trial that was stopped on its way), the highest rung first;
      2. a promotion: from the highest rung k below the last down to 0, the best trial not yet
         promoted among the top floor(c_k / eta) of the c_k trials that have finished rung k, while
         rung k has promoted fewer than caps()[k]; once no trial can still reach rung k (it is
         closed), the top caps()[k] of it, so that the last rung is always reached, as in
         synchronous halving;
      3. the next trial (in the given order) that has not started rung 0;
    and None when none of these exists: the worker waits for a running trial to finish, or, with
    nothing running, the round is over. A trial that diverged or failed (score None) counts among
    the c_k trials and is never promoted.
    """

    def __init__(self, names, rungs: int, eta: int, reported=None, promoted=None):
        self.names = list(names)
        self.rungs, self.eta = rungs, eta
        self.reported = [list(r) for r in reported] if reported is not None else [[] for _ in range(rungs)]
        self.promoted = [list(p) for p in promoted] if promoted is not None else [[] for _ in range(rungs - 1)]
        assert len(self.reported) == rungs and len(self.promoted) == rungs - 1
        self.caps = caps(len(self.names), rungs, eta)
        self.running: dict = {}  # name -> the rung it is training to

    def finished(self, k: int) -> set:
        return {name for name, _ in self.reported[k]}

    def rung_of(self, name: str) -> int:
        """The rung a trial trains to next: one past the highest rung it was promoted from."""
        return next((k + 1 for k in range(self.rungs - 2, -1, -1) if name in self.promoted[k]), 0)

    def closed(self, k: int) -> bool:
        """No trial can finish rung k any more (those that will have all finished it)."""
        if k == 0:
            return self.finished(0) >= set(self.names)
        below = k - 1
        judged = sum(s is not None for _, s in self.reported[below])
        return self.closed(below) and len(self.promoted[below]) >= min(self.caps[below], judged) and self.finished(k) >= set(self.promoted[below])

    def candidate(self, k: int):
        """The trial rung k would promote now, or None."""
        if len(self.promoted[k]) >= self.caps[k]:
            return None
        ranked = sorted(((n, s) for n, s in self.reported[k] if s is not None), key=lambda x: -x[1])  # ties: who finished first
        top = self.caps[k] if self.closed(k) else len(self.reported[k]) // self.eta
        return next((n for n, _ in ranked[:top] if n not in self.promoted[k]), None)

    def next(self):
        """(name, rung) for a free worker, or None; a promotion is recorded in `promoted` here."""
        for k in range(self.rungs - 1, 0, -1):
            done = self.finished(k)
            for name in self.promoted[k - 1]:
                if name not in done and name not in self.running:
                    return self._start(name, k)
        for k in range(self.rungs - 2, -1, -1):
            name = self.candidate(k)
            if name is not None:
                self.promoted[k].append(name)
                return self._start(name, k + 1)
        done = self.finished(0)
        for name in self.names:
            if name not in done and name not in self.running:
                return self._start(name, 0)
        return None

    def _start(self, name, k):
        self.running[name] = k
        return name, k

    def report(self, name: str, k: int, score) -> None:
        """`name` finished rung k (trained to its budget, or ended: completed, diverged, failed)."""
        self.running.pop(name, None)
        if name not in self.finished(k):
            self.reported[k].append((name, score))

    def release(self, name: str) -> None:
        """`name` stopped before its rung's budget (Ctrl-C): it is asked for again by `next()`."""
        self.running.pop(name, None)
