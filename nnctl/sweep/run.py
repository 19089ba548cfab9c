"""Sweeps: one spec trained over a grid of variants, in worker processes or on a Dask cluster.

Each trial is an ordinary run of the spec with `--set`-style overrides, so it gets the spec's
seed and the same parameters as training that variant alone. A trial trains in a temporary
directory wherever it runs and sends its files back as bytes; the sweep directory on the
machine that started the sweep receives them whole, so a trial's directory is complete or absent.

runs/sweep-<time>-<name>/
    sweep.json            the plan: spec text, the config's absolute path and SHA-256, the data
                          files' absolute paths and SHA-256, trials and their overrides
    <NN-label>/           each trial's full run directory
    summary.csv, summary.json, costs.png, accuracy.png

The steps, each in its own module:

    plan       nnctl.sweep.plan       the trials (grid, random search), sweep.json written and read back as input
    store      nnctl.sweep.store      the sweep folder: held by one process, trial folders, their metrics
    launch     nnctl.sweep.launchers  where trials run: local processes or Dask, behind one interface
    prune      nnctl.sweep.study      rounds (nnctl.sweep.sampler) and rungs (nnctl.sweep.pruner) over the launcher
    summarise  nnctl.sweep.summary    summary.csv, summary.json and the pictures
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

from nnctl.util.text import shell_quote
from nnctl.errors import Interrupted
from nnctl.rundir.layout import Status, TrialStatus
from nnctl.sweep import study
from nnctl.sweep.launchers import dask, local
from nnctl.sweep.launchers.base import Launcher, OpenLauncher, Payloads
from nnctl.sweep.plan import SweepPlan, check_resume, draw_round, write_plan
from nnctl.sweep.store import SweepStore, check_sweep_outputs, held, new_sweep_dir, resume_files, store_trial, summary_rows
from nnctl.sweep.summary import write_summary

# --executor NAME: the module that runs the trials (a new backend is one module and one line here)
LAUNCHERS: dict[str, OpenLauncher] = {"local": local.open_launcher, "dask": dask.open_launcher}


def run_sweep(
    plan: SweepPlan,
    sweep_dir: Path | None = None,
    runs_root="runs",
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    on_event=lambda *a: None,
    on_result=lambda r: None,
    command=None,
    should_stop=lambda: False,
) -> tuple[Path, list, float]:
    """Run the plan's unfinished trials; returns (sweep directory, summary rows, seconds).

    A new sweep writes its plan first; a resumed one (sweep_dir given) skips finished trials and
    continues interrupted ones from their checkpoints. When `should_stop()` turns true (the first
    Ctrl-C or SIGTERM), running trials stop after their current iteration and are kept with their
    checkpoints; a KeyboardInterrupt (the second) stops at once. Both raise `Interrupted`, whose
    `rows` are the summary. A Dask scheduler is reached before the sweep folder is made.
    """
    launcher = LAUNCHERS.get(executor, local.open_launcher)(jobs, address, len(plan.trials), should_stop)
    try:
        new = sweep_dir is None
        folder = new_sweep_dir(runs_root, plan) if sweep_dir is None else Path(sweep_dir)
        with held(folder):
            if new:
                plan.command = command
                write_plan(folder, plan)
            else:
                check_resume(plan, folder)
                check_sweep_outputs(plan, folder)
            seconds = _optimize(plan, folder, launcher, on_event, on_result, command, should_stop)
            return folder, _summarise(plan, folder, seconds), seconds
    finally:
        launcher.close()


def _optimize(plan: SweepPlan, sweep_dir: Path, launcher: Launcher, on_event, on_result, command, should_stop) -> float:
    """The study (nnctl.sweep.study): rounds and rungs, each batch of trials launched and stored;
    returns the seconds the trials took."""
    spent = [0.0]
    common = (launcher, on_event, on_result, command, should_stop)

    def run(trials, stop_at):
        todo = list(trials)
        spent[0] += _launch(plan, sweep_dir, lambda: (todo.pop(0), stop_at) if todo else None, len(todo), False, lambda trial, status: None, *common)

    def serve(next_job, done, size):
        spent[0] += _launch(plan, sweep_dir, next_job, size, True, done, *common)

    study.optimize(plan, SweepStore(plan, sweep_dir), run, lambda number: draw_round(plan, number), serve)
    return spent[0]


def _launch(plan: SweepPlan, sweep_dir: Path, next_job, size: int, dynamic: bool, done, launcher: Launcher, on_event, on_result, command, should_stop) -> float:
    """Run the trials `next_job()` gives, (trial, epoch to stop at or None), each when a worker asks
    (all at once on Dask unless `dynamic`); `done(trial, status)` after each is stored. Returns the
    seconds it took. On a stop request the summary is written and `Interrupted` raised."""
    out = {}  # trial index -> (trial, stop_at): handed out, its result not back yet
    loading = set()  # trials the stop request reached while they loaded their data

    def next_payload():
        job = next_job()
        if job is None:
            return None
        trial, stop_at = job
        out[trial.index] = job
        return {
            **asdict(trial),
            "text": plan.text,
            "config_path": plan.config_path,
            "data_files": plan.data_files,
            "command": command,
            "sweep": sweep_dir.name,
            "resume_files": resume_files(sweep_dir, trial),
            "stop_at": stop_at,
        }

    def store(result):
        trial, stop_at = out.pop(result["index"])
        result["name"] = trial.name
        if result["status"] == TrialStatus.PENDING:  # stopped while its data loaded: nothing trained, nothing to store
            loading.add(trial.name)
            on_result(result)
            return
        store_trial(sweep_dir, trial, result)
        if stop_at is not None and result["status"] == Status.INTERRUPTED and not should_stop():
            result["budget"] = stop_at  # stopped by successive halving at its rung, not by the user
        on_result(result)
        done(trial, result["status"])

    t0 = time.perf_counter()
    at_once = False
    try:
        if size:
            launcher.launch(Payloads(next_payload, size, dynamic), on_event, store, should_stop)
    except KeyboardInterrupt:
        at_once = True
    seconds = time.perf_counter() - t0
    if at_once or should_stop():
        # trials handed out whose result never came: lost when stopped at once, else never begun
        _interrupted(plan, sweep_dir, {t.name for t, _ in out.values()} if at_once else set(), loading, at_once)
    return seconds


def _counted(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _interrupted(plan: SweepPlan, sweep_dir: Path, lost: set, loading: set, at_once: bool) -> None:
    """A stop request: the summary of what is kept, then `Interrupted` saying what became of each
    trial. Only completed trials count as completed; the others by the state the stop found them in:
    diverged, failed or pruned, training (interrupted with its checkpoint), stopped at once (`lost`:
    its training lost), loading its data (`loading`: nothing trained yet), or not started."""
    rows = summary_rows(sweep_dir, plan)
    try:
        write_summary(sweep_dir, plan, rows=rows)
        unwritten = ""
    except KeyboardInterrupt:  # a second stop request while the summary was being written
        unwritten = "; the summary was not written (the resume writes it)"
    status = {r["trial"]: r["status"] for r in rows}
    count = {s: sum(v == s for v in status.values()) for s in (Status.COMPLETED, Status.DIVERGED, TrialStatus.FAILED, TrialStatus.PRUNED, Status.INTERRUPTED)}
    pending = {name for name, v in status.items() if v == TrialStatus.PENDING}
    lost, loading = lost & pending, loading & pending - lost
    parts = [f"{count[Status.COMPLETED]} of {len(rows)} trials completed"]
    parts += [f"{count[s]} {s}" for s in (Status.DIVERGED, TrialStatus.FAILED, TrialStatus.PRUNED) if count[s]]
    if count[Status.INTERRUPTED]:
        parts.append(_counted(count[Status.INTERRUPTED], "interrupted with its checkpoint", "interrupted with their checkpoints"))
    if lost:
        parts.append(_counted(len(lost), "stopped at once (its training lost: it starts again)", "stopped at once (their training lost: they start again)"))
    if loading:
        parts.append(_counted(len(loading), "stopped while loading its data (nothing trained yet)", "stopped while loading their data (nothing trained yet)"))
    if pending - lost - loading:
        parts.append(f"{len(pending - lost - loading)} not started")
    kept = ", ".join(parts) + (" (stopped at once)" if at_once and not lost else "")
    exc = Interrupted(f"sweep interrupted: {kept}; kept in {sweep_dir}{unwritten}; resume with: nnctl sweep --resume {shell_quote(sweep_dir)}")
    exc.rows, exc.sweep_dir = rows, sweep_dir
    raise exc


def _summarise(plan: SweepPlan, sweep_dir: Path, seconds: float) -> list:
    """summary.csv, summary.json and the pictures; their rows."""
    try:
        return write_summary(sweep_dir, plan, seconds)
    except KeyboardInterrupt:  # the second stop request, while the summary was being written
        exc = Interrupted(
            f"stopped while writing the summary: every trial has run and is kept in {sweep_dir}; the summary was not written: "
            f"nnctl sweep --resume {shell_quote(sweep_dir)} writes it"
        )
        exc.rows, exc.sweep_dir = summary_rows(sweep_dir, plan), sweep_dir
        raise exc from None
