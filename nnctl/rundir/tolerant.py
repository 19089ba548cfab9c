"""A run's or a sweep's folder read to be shown (the report page, `nnctl runs show`): tolerantly.

runs.py's readers refuse what nnctl did not write, with a RunError naming the file and the fix: what
trains, predicts and evaluates must. A page of a damaged or unfinished run is still worth showing, so a
`Folder` reads each file through those readers and turns a missing or damaged one into a line of its
`problems` ("costs.csv: missing (no cost curve)") and an empty value, never a traceback. Two things are
still refused: a file that is not a regular file (a FIFO or a device would block the read;
runs.readable_file names it), and a metrics.json that parses but is not one nnctl writes (check_metrics).

Values read back are taken only when of the type nnctl writes them (`finite`, `whole`, `string`, ...);
anything else reads as missing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from nnctl.errors import RunError
from nnctl.util.atomic import staged_path
from nnctl.rundir.layout import CHECKPOINT, COSTS_CSV, EVALUATIONS, METRICS, PARAMS, REPORT, SWEEP_PLAN
from nnctl.rundir.runs import (
    check_evaluation,
    check_metrics,
    is_sweep_dir,
    load_params,
    parse_json,
    read_costs_columns,
    read_json,
    read_text_capped,
    readable_file,
    resolve_run_path,
    run_status,
)

MAX_TEXT = 64 * 1024  # a text file (a spec) is cut here


# ---------------------------------------------------------------- values read back


def _hdf5_reason(exc: Exception) -> str:
    """Why params.h5 or checkpoint.h5 cannot be used: not HDF5 at all, or what the checks found (a digest)."""
    if not isinstance(exc, RunError) or "cannot read the parameters" in str(exc):
        return "cannot be read as HDF5"
    return _reason(exc)


def _reason(exc: Exception) -> str:
    """A RunError's message without the path it starts with (the problem line names the file)."""
    return str(exc).split(": ", 1)[-1].split("; ")[0][:200]


def finite(value) -> float | None:
    """A finite number, or None for anything else read from disk."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def whole(value) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def string(value) -> str | None:
    return value if isinstance(value, str) else None


def layer_sizes(value) -> list | None:
    """A non-empty list of positive whole numbers, or None."""
    if isinstance(value, list) and value and all(whole(v) is not None and v > 0 for v in value):
        return [int(v) for v in value]
    return None


def strings(value) -> list | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def mapping(value) -> dict:
    """A section read back: the mapping, or {} where it is anything else (damaged, missing)."""
    return value if isinstance(value, dict) else {}


def status_of(metrics: dict, run_dir=None) -> str:
    """The run's status (runs.run_status: a `running` run whose folder's lock no process holds was
    interrupted); a damaged value reads as "unknown"."""
    if not metrics or not isinstance(metrics.get("status"), str):
        return "unknown"
    if metrics.get("pid") is not None and whole(metrics.get("pid")) is None:
        metrics = {**metrics, "pid": None}
    return run_status(metrics, run_dir)[:40]


def valid_evaluation(e: dict) -> bool:
    """An evaluation*.json whose scores a page can show: one the strict reader (runs.check_evaluation) takes."""
    try:
        check_evaluation("", e)
    except RunError:
        return False
    return True


# ---------------------------------------------------------------- what a folder is


def is_sweep(path) -> bool:
    """A sweep's folder as a page takes it: runs.is_sweep_dir, by what it holds (its plan, or where the
    plan is lost, its summary or lock file); a renamed sweep is still one."""
    return is_sweep_dir(resolve_run_path(path))


def safe_child(folder: Path, name) -> Path | None:
    """`folder/name` when `name` is a plain folder name inside it; None for anything else."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return None
    child = folder / name
    try:
        if child.is_symlink() or child.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return child


# ---------------------------------------------------------------- a folder's files


@dataclass
class Folder:
    """A run's (or a sweep's) folder, read file by file; what cannot be read is a line in `problems`,
    "name: what is wrong", in the order it was found."""

    path: Path
    problems: list = field(default_factory=list)

    def problem(self, name: str, what: str) -> None:
        self.problems.append(f"{name}: {what}")

    def has(self, name: str) -> bool:
        return (self.path / name).exists()

    def page(self, trial: str | None = None) -> Path | None:
        """The folder's report.html (or its trial's), where it exists (or is written, in the output
        set it will be put in place with: nnctl.util.atomic.output_set)."""
        page = (self.path / trial if trial else self.path) / REPORT
        return page if staged_path(page).exists() else None

    def text(self, name: str, required: bool = True) -> str | None:
        """The file's text (undecodable bytes replaced), cut at MAX_TEXT, saying so; None if it cannot be read."""
        path = self.path / name
        if not path.exists():
            if required:
                self.problem(name, "missing")
            return None
        try:
            with open(readable_file(path), "rb") as fh:
                data = fh.read(MAX_TEXT + 1)
            text = data.decode("utf-8", errors="replace")
        except OSError as exc:
            self.problem(name, f"cannot be read ({exc.strerror})")
            return None
        if len(data) > MAX_TEXT:
            text = text[:MAX_TEXT] + "\n… (cut: the file is longer)"
        return text

    def json(self, name: str, required: bool = True) -> dict:
        """The JSON object the file holds; {} where it is missing or damaged."""
        path = self.path / name
        if not path.exists():
            if required:
                self.problem(name, "missing")
            return {}
        readable_file(path)  # a FIFO or a device is an error, not a hang
        try:
            text = read_text_capped(path)
        except RunError as exc:  # longer than nnctl writes, not UTF-8
            self.problem(name, f"damaged ({_reason(exc)})")
            return {}
        try:
            data = parse_json(text)
        except ValueError:
            self.problem(name, "damaged (not valid JSON)")
            return {}
        if not isinstance(data, dict):
            self.problem(name, "damaged (not a JSON object)")
            return {}
        return data

    def yaml_mapping(self, name: str, text: str | None) -> dict:
        """`text`, the file's (Folder.text), as the YAML mapping it should hold; {} where it is not."""
        data = None
        if text:
            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError:
                data = None
        if text is not None and not isinstance(data, dict):
            self.problem(name, "damaged (not a YAML mapping)")
            return {}
        return data or {}

    def metrics(self) -> dict:
        """metrics.json; one that parses but is not what nnctl writes is refused (check_metrics): named,
        never shown as a run."""
        metrics = self.json(METRICS)
        if self.has(METRICS) and not any(p.startswith(f"{METRICS}:") for p in self.problems):
            check_metrics(metrics, self.path / METRICS)
        return metrics

    def params_meta(self, running: bool) -> dict:
        """The attributes of params.h5 (or, before it exists, checkpoint.h5); {} where neither can be read."""
        for name in (PARAMS, CHECKPOINT):
            file = self.path / name
            if file.exists():
                readable_file(file)  # a FIFO is an error, not a hang
                try:
                    _, meta = load_params(file)  # its digests checked too (runs.verify_integrity)
                    return meta
                except (RunError, OSError) as exc:
                    self.problem(name, f"damaged ({_hdf5_reason(exc)})")
        if not running and not (self.path / PARAMS).exists():  # one that is there but damaged is named above
            self.problem(PARAMS, "missing (no trained parameters)")
        return {}

    def costs(self) -> dict:
        """costs.csv as columns (runs.read_costs_columns); {} where it is missing or damaged."""
        if not self.has(COSTS_CSV):
            self.problem(COSTS_CSV, "missing (no cost curve)")
            return {}
        readable_file(self.path / COSTS_CSV)  # a FIFO is an error, not a hang
        try:
            return read_costs_columns(self.path / COSTS_CSV)
        except RunError as exc:  # over the size nnctl writes, not UTF-8
            self.problem(COSTS_CSV, f"damaged ({_reason(exc)})")
            return {}
        except (OSError, ValueError, StopIteration):
            self.problem(COSTS_CSV, "damaged (no epoch,cost or iteration,cost columns)")
            return {}

    def latest_evaluation(self) -> tuple[dict, Path, float] | None:
        """(the newest evaluation*.json a page can show, its path, its modification time), or None."""
        found = []
        for p in self.path.glob(EVALUATIONS):
            try:
                found.append((p.stat().st_mtime, p))
            except OSError:
                continue
        for mtime, p in sorted(found, reverse=True):
            data = self.json(p.name, required=False)
            if valid_evaluation(data):
                return data, p, mtime
        return None

    # ------------------------------------------------------------ a sweep's

    def sweep_plan(self) -> dict:
        """sweep.json; {} where it is missing (the trials are then the folders found) or damaged."""
        if not self.has(SWEEP_PLAN):
            self.problem(SWEEP_PLAN, "missing (the trials are the folders found)")
            return {}
        readable_file(self.path / SWEEP_PLAN)  # a FIFO is an error, not a hang
        try:
            plan = read_json(self.path / SWEEP_PLAN)
        except RunError as exc:
            self.problem(SWEEP_PLAN, f"damaged ({_reason(exc)})")
            return {}
        return plan if isinstance(plan, dict) else {}

    def trial_folders(self) -> list:
        """The names of the folders in a sweep's that hold a metrics.json (its trials, when its plan is lost)."""
        return [p.name for p in sorted(self.path.iterdir()) if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / METRICS).exists()]

    def trial_metrics(self, trial: str) -> dict:
        """A trial's metrics.json as it is (not checked: a trial's row shows what it can); {} where it cannot be read."""
        file = self.path / trial / METRICS
        if not file.exists():
            return {}
        try:
            m = read_json(file)
        except RunError as exc:
            self.problem(f"{trial}/{METRICS}", f"damaged ({_reason(exc)})")
            return {}
        return m if isinstance(m, dict) else {}

    def trial_costs(self, trial: str) -> dict | None:
        """A trial's costs.csv as columns; None where it is missing or damaged (a damaged one is a problem)."""
        file = self.path / trial / COSTS_CSV
        if not file.exists():
            return None
        readable_file(file)  # a FIFO is an error, not a hang
        try:
            return read_costs_columns(file)
        except (OSError, ValueError, KeyError, RunError):
            self.problem(f"{trial}/{COSTS_CSV}", "damaged")
            return None
