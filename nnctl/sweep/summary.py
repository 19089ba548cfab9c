"""The sweep's summary: summary.csv and summary.json (the trials best first, the best one and how
it was chosen, the budget spent) and the pictures (every trial's cost curve, accuracy against the
swept values), written whole or not at all.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from nnctl.core.stopping import signals_held
from nnctl.rundir.layout import COSTS_CSV, COSTS_PNG, REPORT, SWEEP_ACCURACY_PNG, SUMMARY_CSV, SUMMARY_JSON, Status
from nnctl.rundir.runs import read_costs_csv, write_json
from nnctl.sweep import selection
from nnctl.sweep.plan import SweepPlan
from nnctl.sweep.sampler import Dist
from nnctl.sweep.store import summary_rows, trial_dir
from nnctl.util.atomic import atomic_write
from nnctl.util.plots import plot_costs, plot_sweep_accuracy


def summary_record(plan: SweepPlan, rows: list, seconds: float | None = None) -> dict:
    """summary.json: the trials best first, the best one and how it was chosen, the budget spent."""
    c = selection.criterion(rows)
    record: dict[str, Any] = {
        "name": plan.name,
        "dimensions": plan.dimensions,
        "seconds": seconds,
        "best": selection.best(rows, c),
        "selection": c.note,
        "epochs_total": sum(r["epochs"] or 0 for r in rows),
        "iterations_total": sum(r["iterations"] or 0 for r in rows),
        "trials": rows,
    }
    if plan.search:
        record["search"] = {k: plan.search[k] for k in ("trials", "seed", "rounds")}
        record["search"]["regions"] = [{k: str(Dist(d["name"], d["args"])) for k, d in r.items()} for r in plan.search["regions"]]
    if plan.halving:
        record["halving"] = plan.halving
    return record


SUMMARY_FILES = (SUMMARY_CSV, SUMMARY_JSON, COSTS_PNG, SWEEP_ACCURACY_PNG)


def write_summary(sweep_dir: Path, plan: SweepPlan, seconds: float | None = None, rows: list | None = None) -> list:
    """summary.csv, summary.json, costs.png and accuracy.png, whole or not at all.

    Each file is made under a hidden name first (the pictures take a second or two), then all are
    put in place together with Ctrl-C and SIGTERM held off. A stop while they are made (a second
    Ctrl-C) leaves no summary, neither half of a new one nor an old one that no longer describes the
    trials: `nnctl sweep --resume` writes it.
    """
    rows = rows if rows is not None else summary_rows(sweep_dir, plan)
    staged = {name: sweep_dir / f".{name}.staged" for name in SUMMARY_FILES}
    made = []
    try:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
        made.append(atomic_write(staged[SUMMARY_CSV], buf.getvalue()))
        made.append(write_json(staged[SUMMARY_JSON], summary_record(plan, rows, seconds)))
        curves = {}
        for t in plan.trials:
            costs = trial_dir(sweep_dir, t.name) / COSTS_CSV
            if costs.is_file() and not costs.is_symlink():
                try:
                    curves[t.name] = read_costs_csv(costs)
                except (OSError, ValueError):
                    pass  # a damaged curve is left out of the picture; the trial's status says the rest
        if curves:
            made.append(plot_costs(staged[COSTS_PNG], curves, f"{plan.name}: every trial"))
        if any(r["status"] == Status.COMPLETED and r["train_accuracy"] is not None for r in rows):
            made.append(plot_sweep_accuracy(staged[SWEEP_ACCURACY_PNG], plan, rows))
        with signals_held():
            for name, path in staged.items():
                if path in made:
                    os.replace(path, sweep_dir / name)
                else:
                    (sweep_dir / name).unlink(missing_ok=True)  # an older picture would not match this summary
            page = sweep_dir / REPORT  # the page of an older summary: `nnctl report` (or the sweep, as it ends) writes this one's
            if page.is_file() and not page.is_symlink():
                page.unlink()
    except BaseException as exc:
        with signals_held():
            for path in staged.values():
                path.unlink(missing_ok=True)
            if isinstance(exc, KeyboardInterrupt):
                for name in SUMMARY_FILES:
                    (sweep_dir / name).unlink(missing_ok=True)
        raise
    return rows
