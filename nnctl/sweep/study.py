"""The study: Optuna's `Study.optimize` for nnctl, a short loop over the sampler's rounds (coarse to
fine), the executor and the pruner's rungs (successive halving).

It knows the plan (trials, search, halving) and four things of the sweep folder, given as a
`store`: `rows()` (the summary rows, best first, nnctl.sweep.selection), `metrics(trial)` (one trial's),
`reached(trial, budget)` (the trial has finished, or trained to `budget` epochs) and `save()`
(write the plan). `run(trials, stop_at)` trains trials on the sweep's executor; `serve(next_job,
done, size)` trains the trials `next_job()` gives whenever a worker is free (asynchronous halving);
`draw_round(number)` appends a round's trials. Every decision is written to the plan before the
trial it concerns starts, so a resumed sweep replays them.
"""

from __future__ import annotations

from nnctl.rundir.layout import Status, TrialStatus
from nnctl.sweep import pruner, selection
from nnctl.sweep.sampler import Dist, best_count, narrow

FINISHED_OR_PRUNED = (Status.COMPLETED, TrialStatus.PRUNED)


def region(plan, round_number: int) -> dict:
    """{key: Dist} of a round of the plan's search."""
    return {k: Dist(d["name"], list(d["args"])) for k, d in plan.search["regions"][round_number - 1].items()}


def optimize(plan, store, run, draw_round, serve=None) -> None:
    """Round after round, each round's trials in full or by successive halving (synchronous, or
    asynchronous when the plan says so)."""
    r = 1
    while True:
        trials = [t for t in plan.trials if t.round == r]
        if not trials:
            break
        if plan.halving and plan.halving.get("mode") == "async":
            asha(plan, store, r, trials, serve)
        elif plan.halving:
            halve(plan, store, r, trials, run)
        else:
            run([t for t in trials if not store.reached(t, None)], None)
        if plan.search and r == plan.trials[-1].round and r < plan.search["rounds"]:
            next_round(plan, store, draw_round)
        r += 1


def next_round(plan, store, draw_round) -> None:
    """Coarse to fine: the next region spans the best quarter of the trials so far (at least two);
    with successive halving, trials trained longer rank first (nnctl.sweep.selection)."""
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
        h.setdefault("promotions", []).extend(
            {"trial": name, "round": round_number, "budget": budget, "next": h["budgets"][k + 1], "finished": len(rung)} for name in promoted
        )
        store.save()
        keep = set(promoted)
        rung = [t for t in rung if t.name in keep]


def asha(plan, store, round_number: int, trials: list, serve) -> None:
    """Asynchronous successive halving (ASHA, nnctl.sweep.pruner.Asha) over one round's trials.

    Each trial that finishes a budget is recorded at once in its rung (`trials`, in the order they
    finished, and `values`, the selection metric at that budget), each promotion in its rung's
    `promoted` and in `promotions` (the order they were made), and the plan is saved before the
    promoted trial starts. A resumed sweep rebuilds the scheduler from this record: trials on their
    way to a budget when the sweep stopped continue first, from their checkpoints.
    """
    h = plan.halving
    budgets = h["budgets"]
    last = len(budgets) - 1
    by_name = {t.name: t for t in trials}
    records = []
    for budget in budgets[:-1]:
        rec = next((x for x in h["rungs"] if x["round"] == round_number and x["budget"] == budget), None)
        if rec is None:
            rec = {"round": round_number, "budget": budget, "trials": [], "promoted": [], "values": []}
            h["rungs"].append(rec)
        records.append(rec)

    def criterion():
        return next((c for c in selection.CRITERIA if c.metric == h.get("metric")), None)

    def score(value):
        c = criterion()
        return None if value is None or c is None else (value if c.higher_is_better else -value)

    def stop_at(k):
        return None if k == last else budgets[k]

    top = [(t.name, None) for t in trials if t.name in records[-1]["promoted"] and store.reached(t, None)]
    sched = pruner.Asha(
        [t.name for t in trials],
        len(budgets),
        h["eta"],
        [[(n, score(v)) for n, v in zip(rec["trials"], rec["values"])] for rec in records] + [top],
        [rec["promoted"] for rec in records],
    )

    def report(trial, k):
        if k == last:
            sched.report(trial.name, k, None)
            return
        m = store.metrics(trial)
        if h.get("metric") is None:  # the first trial with a score fixes what is compared (nnctl.sweep.selection)
            c = selection.criterion([m])
            if m.get(c.key) is not None:
                h["metric"] = c.metric
        c = criterion()
        value = m.get(c.key) if c else None
        records[k]["trials"].append(trial.name)
        records[k]["values"].append(value)
        sched.report(trial.name, k, score(value))
        store.save()

    # a trial stored at its budget just before the sweep stopped, not yet recorded
    for t in trials:
        k = sched.rung_of(t.name)
        if t.name not in sched.finished(k) and store.reached(t, stop_at(k)):
            report(t, k)

    def next_job():
        while True:
            job = sched.next()
            if job is None:
                return None
            name, k = job
            trial = by_name[name]
            if k > 0 and name not in records[k - 1]["promoted"]:  # a promotion, made now
                rec = records[k - 1]
                rec["promoted"].append(name)
                h["promotions"].append({"trial": name, "round": round_number, "budget": budgets[k - 1], "next": budgets[k], "finished": len(rec["trials"])})
                store.save()
            if store.reached(trial, stop_at(k)):  # ended already (stopped early by its own early stopping)
                report(trial, k)
                continue
            return trial, stop_at(k)

    def done(trial, status):
        k = sched.running.get(trial.name)
        if k is None:
            return
        if status == TrialStatus.FAILED or store.reached(trial, stop_at(k)):
            report(trial, k)
        else:
            sched.release(trial.name)  # stopped by the user before its budget: it continues on --resume

    serve(next_job, done, len(trials))
