"""Choosing the best trial: on held-out validation data, never on the test set.

The first row of CRITERIA that every scored trial can be judged by wins: validation accuracy (ties:
validation cost), validation RMSE for a regression, and without a validation set the training cost,
which the summary names so that nobody mistakes it for a held-out score. Test accuracy is reported
beside, and never read here.
"""

from __future__ import annotations

from typing import NamedTuple

from nnctl.rundir.layout import Status, TrialStatus


class Criterion(NamedTuple):
    metric: str  # summary.json's "best.metric"
    key: str  # the row's field
    higher_is_better: bool
    tie: str | None  # the field that breaks ties (lower is better)
    note: str  # what the summary says about the choice


CRITERIA = (
    Criterion("validation_accuracy", "validation_accuracy", True, "validation_cost", "chosen on validation accuracy (ties: validation cost)"),
    Criterion("validation_rmse", "validation_rmse", False, "validation_cost", "chosen on validation RMSE"),
    Criterion(
        "training_cost",
        "final_cost",
        False,
        None,
        "chosen on training cost: no validation set (add data.validation, a file or a fraction, to choose on held-out data)",
    ),
)


def criterion(rows) -> Criterion:
    """The criterion for these rows: the first one that some trial can be judged by."""
    for c in CRITERIA:
        if any(r.get(c.key) is not None for r in rows):
            return c
    return CRITERIA[-1]


def rank_key(c: Criterion):
    """Sort key: completed trials by the criterion, then pruned ones (the longest-trained first), then the rest."""

    def key(r):
        value = r.get(c.key)
        stage = {Status.COMPLETED: 0, TrialStatus.PRUNED: 1}.get(r.get("status"), 2)
        score = float("inf") if value is None else (-value if c.higher_is_better else value)
        tie = r.get(c.tie) if c.tie else None
        return (stage, value is None, -(r.get("epochs") or 0) if stage == 1 else 0, score, float("inf") if tie is None else tie)

    return key


def rank(rows) -> tuple[list, Criterion]:
    c = criterion(rows)
    return sorted(rows, key=rank_key(c)), c


def best(rows, c: Criterion) -> dict | None:
    """summary.json's "best": the first completed trial with a score, or None."""
    for r in rows:
        if r.get("status") == Status.COMPLETED and r.get(c.key) is not None:
            return {"trial": r["trial"], "metric": c.metric, "value": r[c.key]}
    return None


def score(row: dict, c: Criterion):
    """A comparable number, higher is better (for the best-so-far curve and the pruner)."""
    v = row.get(c.key)
    return None if v is None else (v if c.higher_is_better else -v)
