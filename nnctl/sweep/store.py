"""The sweep folder as the results store: trial folders, each trial's status and metrics read back
through nnctl.rundir's readers, the folder held by nnctl.rundir.lock, resume bookkeeping.

A trial trains in a temporary directory wherever it runs and sends its files back as bytes; the
store receives them whole (a hidden folder renamed into place), so a trial's folder is complete or
absent. Everything read back is input: trial folders must lie inside the sweep folder, a trial's
metrics.json is checked before the sweep believes it.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nnctl.errors import RunError
from nnctl.rundir.layout import CHECKPOINT, COSTS_PNG, METRICS, PARAMS, SUMMARY_CSV, SUMMARY_JSON, SWEEP_ACCURACY_PNG, SWEEP_PID, Status, TrialStatus
from nnctl.rundir.lock import run_lock
from nnctl.rundir.runs import check_outputs, create_run_dir, kept_metrics, parse_json, read_bytes_capped, result_fields, write_json
from nnctl.sweep import pruner, selection
from nnctl.sweep.plan import NAME_MAX, SAFE_NAME, SweepPlan, Trial, read_plan, schema_error, write_plan
from nnctl.util.text import quoted, shell_quote

FINISHED = (Status.COMPLETED, Status.DIVERGED)
STATUSES = (Status.COMPLETED, Status.DIVERGED, Status.INTERRUPTED, TrialStatus.FAILED)  # what a trial's metrics.json may say
MAX_METRICS_BYTES = 1 << 20

# a Literal built at run time is no static type: to mypy it is a str
if TYPE_CHECKING:
    WrittenStatus = str
else:
    WrittenStatus = Literal[tuple(s.value for s in STATUSES)]


# ---------------------------------------------------------------- the folder


def trial_dir(sweep_dir: Path, name: str) -> Path:
    """A trial's folder: `name` is one safe component and the folder must lie inside the sweep."""
    if not SAFE_NAME.fullmatch(name) or len(name.encode()) > NAME_MAX:
        raise RunError(f"{sweep_dir}: trial name {quoted(name)} is not a safe folder name; the plan is damaged, start a new sweep")
    path = Path(sweep_dir) / name
    if path.is_symlink() or (path.exists() and path.resolve().parent != Path(sweep_dir).resolve()):
        raise RunError(f"{path}: a trial folder must be a real folder inside {sweep_dir}, not a link; remove it and resume")
    return path


def check_sweep_outputs(plan: SweepPlan, sweep_dir: Path) -> None:
    """Before a resumed sweep trains anything: its summary files can be written (no folder in their
    place), and each trial's folder, replaced whole when the trial is stored, is a folder."""
    then = f"resume: nnctl sweep --resume {shell_quote(sweep_dir)}"
    check_outputs([sweep_dir / name for name in (SUMMARY_CSV, SUMMARY_JSON, COSTS_PNG, SWEEP_ACCURACY_PNG)], then)  # summary.SUMMARY_FILES
    for t in plan.trials:
        path = trial_dir(sweep_dir, t.name)
        if path.exists() and not path.is_dir():
            raise RunError(f"{path}: is a file, where the sweep keeps trial {t.name}'s folder; move it away (or delete it), then {then}")


def new_sweep_dir(runs_root, plan: SweepPlan) -> Path:
    """A new sweep folder, `<runs_root>/sweep-<time>-<name>`."""
    return create_run_dir(runs_root, plan.name, prefix="sweep-")


@contextmanager
def held(sweep_dir: Path) -> Iterator[None]:
    """Hold the sweep folder for this process (nnctl.rundir.lock's run lock on the folder): a second
    `--resume` of it at once is refused, naming the process that holds it (its pid kept in SWEEP_PID)."""
    try:
        fh = open(sweep_dir / SWEEP_PID, "a+")
    except OSError as exc:
        raise RunError(f"{sweep_dir}: cannot be written ({exc.strerror}); check its permissions") from None

    def refusal() -> str:
        fh.seek(0)
        pid = fh.read().strip() or "?"
        return f"{sweep_dir}: another nnctl sweep is running it now (pid {pid}); wait for it to finish or stop it, then resume"

    with fh, run_lock(sweep_dir, refusal=refusal):
        fh.truncate(0)
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield


def load_plan(sweep_dir) -> SweepPlan:
    """The plan in a sweep directory, checked against the strict schema of sweep.json, its trial
    folders inside the sweep folder."""
    plan = read_plan(sweep_dir)
    for t in plan.trials:
        trial_dir(Path(sweep_dir), t.name)
    return plan


# ---------------------------------------------------------------- a trial's files


def store_trial(sweep_dir: Path, trial: Trial, result: dict) -> None:
    """Write a trial's files into a hidden folder, then rename it into place.

    The folder is named by the plan's trial, never by what came back from a worker, and only
    plain file names are written.
    """
    target = trial_dir(sweep_dir, trial.name)
    # a message written where the trial trained names its temporary folder, gone once the trial
    # returned ("Run kept at /tmp/nnctl-trial-.../02-x"): it names the trial's own folder instead
    where = result.get("run_dir")
    moved = (lambda text: text.replace(where, str(target)) if isinstance(text, str) else text) if isinstance(where, str) and where else (lambda text: text)
    result["message"] = moved(result.get("message"))
    tmp = sweep_dir / f".{trial.name}.tmp"
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, data in result["files"].items():
        if SAFE_NAME.fullmatch(name) and isinstance(data, bytes):
            (tmp / name).write_bytes(data)
    metrics = _json_or_empty(result["files"].get(METRICS))
    said = metrics.get("message")
    if result["status"] != Status.COMPLETED or metrics.get("status") != result["status"] or moved(said) != said:
        metrics.update(status=result["status"], message=result["message"] if result["status"] != Status.COMPLETED else moved(said))
        write_json(tmp / METRICS, metrics)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _json_or_empty(data) -> dict:
    try:
        value = parse_json(data) if data is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _finite_or_none(v):
    return v if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) else None


class _TrialMetrics(BaseModel):
    """The part of a trial's metrics.json that the sweep reads; the rest is the run's own."""

    model_config = ConfigDict(extra="allow")
    status: WrittenStatus
    layers: Optional[list[int]] = None
    train_accuracy: Optional[float] = Field(None, ge=0, le=100)
    test_accuracy: Optional[float] = Field(None, ge=0, le=100)
    train_rmse: Optional[float] = Field(None, ge=0)
    test_rmse: Optional[float] = Field(None, ge=0)
    final_cost: Optional[float] = None
    iterations: Optional[int] = Field(None, ge=0)
    epochs: Optional[int] = Field(None, ge=0)
    seconds: Optional[float] = Field(None, ge=0)
    message: Optional[str] = None
    validation_accuracy: Optional[float] = Field(None, ge=0, le=100)
    validation_rmse: Optional[float] = Field(None, ge=0)
    validation_cost: Optional[float] = None


def trial_metrics(sweep_dir: Path, trial: Trial) -> dict:
    """A trial's checked metrics: {"status": "pending"} when it has none, "failed" when they are damaged."""
    path = trial_dir(sweep_dir, trial.name) / METRICS
    if not path.exists():
        return {"status": TrialStatus.PENDING}
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise ValueError(f"over {MAX_METRICS_BYTES // 1024} KiB")
        raw = parse_json(path.read_text())
        m = _TrialMetrics.model_validate(raw).model_dump()
    except (OSError, ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        what = schema_error(exc.errors()[0]) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        return {"status": TrialStatus.FAILED, "message": f"{path}: damaged metrics ({what}); --resume trains this trial again"}
    m = {k: _finite_or_none(v) if k not in ("status", "message", "layers") else v for k, v in m.items()}
    if m["status"] == Status.COMPLETED:  # a finished trial has its results and its parameters, or it is trained again
        lacking = [k for k in ("final_cost", "iterations", "layers") if m.get(k) is None]
        if m.get("train_accuracy") is None and m.get("train_rmse") is None:
            lacking.append("train_accuracy or train_rmse")
        params = path.parent / PARAMS
        if params.is_symlink() or not params.is_file():
            lacking.append(PARAMS)
        if lacking:
            return {"status": TrialStatus.FAILED, "message": f"{path}: a completed trial without {', '.join(lacking)}; --resume trains this trial again"}
    return kept_metrics(m)  # the scores of the parameters kept (an older file's last-record costs left out): what the choice reads


def trial_status(sweep_dir: Path, trial: Trial) -> str:
    return trial_metrics(sweep_dir, trial)["status"]


def resume_files(sweep_dir: Path, trial: Trial) -> dict | None:
    """An interrupted trial's files (its checkpoint among them), to continue it where it stopped."""
    folder = trial_dir(sweep_dir, trial.name)
    if trial_status(sweep_dir, trial) != Status.INTERRUPTED or not (folder / CHECKPOINT).is_file():
        return None
    files = {}
    for p in folder.iterdir():
        if p.is_symlink() or not p.is_file() or not SAFE_NAME.fullmatch(p.name):
            raise RunError(f"{p}: a trial folder holds only the run's own files; remove {p.name} and resume")
        files[p.name] = read_bytes_capped(p)  # no longer than nnctl writes such a file (runs.file_cap)
    return files


# ---------------------------------------------------------------- the rows, best first


SCORE_KEYS = ("validation_accuracy", "validation_rmse", "validation_cost", "epochs", "iterations")


def pruned_trials(plan: SweepPlan) -> set:
    """Trials successive halving stopped at a rung and did not continue. Asynchronous halving may
    still promote a trial that finished a rung until the rung has made all its promotions."""
    if not plan.halving:
        return set()
    h = plan.halving
    out = set()
    for r in h["rungs"]:
        if h.get("mode") == "async":
            size = sum(t.round == r["round"] for t in plan.trials)
            k = h["budgets"].index(r["budget"]) if r["budget"] in h["budgets"] else 0
            if len(r["promoted"]) < pruner.caps(size, len(h["budgets"]), h["eta"])[k]:
                continue
        out |= set(r["trials"]) - set(r["promoted"])
    return out


def summary_rows(sweep_dir: Path, plan: SweepPlan) -> list:
    """One row per trial, best first on validation (nnctl.sweep.selection), unfinished last.

    A trial that successive halving stopped at a rung has the status "pruned".
    """
    pruned = pruned_trials(plan)
    rows = []
    for t in plan.trials:
        m = trial_metrics(sweep_dir, t)
        status = m.get("status")
        if status == Status.INTERRUPTED and t.name in pruned:
            status = TrialStatus.PRUNED
        rows.append(
            {
                "trial": t.name,
                **{d: t.values.get(d) for d in plan.dimensions},
                **result_fields(m),
                **{k: m.get(k) for k in SCORE_KEYS},
                **({"round": t.round} if plan.search and plan.search["rounds"] > 1 else {}),
                "status": status,
                "message": m.get("message"),
            }
        )
    return selection.rank(rows)[0]


class SweepStore:
    """What the study (nnctl.sweep.study) reads and writes of the sweep folder."""

    def __init__(self, plan: SweepPlan, sweep_dir: Path):
        self.plan, self.sweep_dir = plan, sweep_dir

    def rows(self) -> list:
        return summary_rows(self.sweep_dir, self.plan)

    def metrics(self, trial: Trial) -> dict:
        return trial_metrics(self.sweep_dir, trial)

    def reached(self, trial: Trial, budget: int | None) -> bool:
        """Finished, or stopped at `budget` epochs or beyond (successive halving's rung)."""
        m = trial_metrics(self.sweep_dir, trial)
        if m["status"] in FINISHED:
            return True
        return budget is not None and m["status"] == Status.INTERRUPTED and (m.get("epochs") or 0) >= budget

    def save(self) -> None:
        write_plan(self.sweep_dir, self.plan)
