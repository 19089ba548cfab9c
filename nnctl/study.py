"""The study: Optuna's `Study.optimize` for nnctl, a short loop over the sampler's rounds (coarse to
fine), the executor and the pruner's rungs (successive halving).

It knows the plan (trials, search, halving) and three things of the sweep folder, given as a
`store`: `rows()` (the summary rows, best first, nnctl.selection), `reached(trial, budget)` (the
trial has finished, or trained to `budget` epochs) and `save()` (write the plan). `run(trials,
stop_at)` trains trials on the sweep's executor; `draw_round(number)` appends a round's trials.
Every decision is written to the plan before the next step, so a resumed sweep replays them.
"""

from __future__ import annotations

from nnctl import pruner, selection
from nnctl.sampler import Dist, best_count, narrow

FINISHED_OR_PRUNED = ("completed", "pruned")


def region(plan, round_number: int) -> dict:
    """{key: Dist} of a round of the plan's search."""
    return {k: Dist(d["name"], list(d["args"])) for k, d in plan.search["regions"][round_number - 1].items()}


def optimize(plan, store, run, draw_round) -> None:
    """Round after round, each round's trials in full or by successive halving."""
    r = 1
    while True:
        trials = [t for t in plan.trials if t.round == r]
        if not trials:
            break
        if plan.halving:
            halve(plan, store, r, trials, run)
        else:
            run([t for t in trials if not store.reached(t, None)], None)
        if plan.search and r == plan.trials[-1].round and r < plan.search["rounds"]:
            next_round(plan, store, draw_round)
        r += 1


def next_round(plan, store, draw_round) -> None:
    """Coarse to fine: the next region spans the best quarter of the trials so far (at least two);
    with successive halving, trials trained longer rank first (nnctl.selection)."""
    rows = [r for r in store.rows() if r["status"] in FINISHED_OR_PRUNED]  # best first
    c = selection.criterion(rows)
    scored = [r for r in rows if r.get(c.key) is not None]
    if len(scored) < 2:
        return  # nothing to zoom in on: the sweep ends with the rounds it has
    by_name = {t.name: t for t in plan.trials}
    best = [by_name[r["trial"]].values for r in scored[: best_count(len(scored))]]
    last = len(plan.search["regions"])
    plan.search["regions"].append({k: d._asdict() for k, d in narrow(region(plan, last), best).items()})
    draw_round(last + 1)
    store.save()


def halve(plan, store, round_number: int, trials: list, run) -> None:
    """Successive halving over one round's trials: each rung trains its trials to the rung's budget
    (continuing from their checkpoints) and records which go on; a resumed sweep replays the record."""
    h = plan.halving
    rung = list(trials)
    for k, budget in enumerate(h["budgets"]):
        last = k == len(h["budgets"]) - 1
        done = [x for x in h["rungs"] if x["round"] == round_number and x["budget"] == budget]
        if done:
            keep = set(done[0]["promoted"])
            rung = [t for t in rung if t.name in keep]
            continue
        stop_at = None if last else budget
        run([t for t in rung if not store.reached(t, stop_at)], stop_at)
        if last:
            break
        rows = {r["trial"]: r for r in store.rows()}
        c = selection.criterion([rows[t.name] for t in rung])
        promoted = pruner.promote([(t.name, selection.score(rows[t.name], c)) for t in rung], h["eta"])
        h["rungs"].append({"round": round_number, "budget": budget, "trials": [t.name for t in rung], "promoted": promoted})
        store.save()
        keep = set(promoted)
        rung = [t for t in rung if t.name in keep]
