"""The run directory's file names and a run's statuses: named once, here.

runs/<YYYYmmdd-HHMMSS>-<name>/
    spec.yaml             the spec as given (bytes of the config file)
    config.resolved.yaml  every choice explicit; `nnctl train` accepts it as it is
    reproduce.json        seed, SHA-256 of the data, versions, BLAS, the command line
    params.h5             W1, b1, ... with layer sizes, activations, classes, preprocessing
    checkpoint.h5         while unfinished: params, optimizer and generator state, position
    costs.csv, costs.png  the cost curve
    metrics.json          accuracies, final cost, epochs, iterations, seconds, status
    table.json            trained on a table: its columns' encoding, reapplied by predict and evaluate

runs/sweep-<YYYYmmdd-HHMMSS>-<name>/ (nnctl.sweep)
    sweep.json            the plan
    <NN-label>/           each trial's run directory, as above
    summary.csv, summary.json, costs.png, accuracy.png
    .lock                 the pid of the process sweeping it (the lock: nnctl.rundir.lock's, on the folder)
"""

from __future__ import annotations

from enum import Enum

from nnctl.core.status import Status  # noqa: F401  (a run's statuses, named here with its files; the loop decides them)


class TrialStatus(str, Enum):
    """A sweep trial's statuses beyond a run's own (Status); compares equal to its text."""

    PENDING = "pending"  # not begun, or stopped before it began: no metrics.json
    FAILED = "failed"  # raised, lost its worker, or its metrics.json is damaged
    PRUNED = "pruned"  # successive halving stopped it at a rung (the summary's rows only)

    def __str__(self) -> str:
        return self.value


LATEST = "latest"
SPEC = "spec.yaml"
RESOLVED = "config.resolved.yaml"
REPRODUCE = "reproduce.json"
PARAMS = "params.h5"
CHECKPOINT = "checkpoint.h5"
METRICS = "metrics.json"
COSTS_CSV = "costs.csv"
COSTS_PNG = "costs.png"
BOUNDARY_PNG = "decision_boundary.png"
TABLE = "table.json"  # a table's columns: target, classes, categories, fill values (nnctl.data.tables.Preprocessor)
REPORT = "report.html"
SWEEP_PLAN = "sweep.json"
SWEEP_SUMMARY_CSV = "summary.csv"
SWEEP_SUMMARY_JSON = "summary.json"
SWEEP_ACCURACY_PNG = "accuracy.png"
SWEEP_PID = ".lock"

# what makes a folder a run's (or a sweep's, or an lr-find's): nnctl never writes over these folders' own files
RUN_MARKERS = (METRICS, RESOLVED, PARAMS, CHECKPOINT, REPRODUCE, SWEEP_PLAN, "lr_find.json")
RUN_FILES = (SPEC, RESOLVED, REPRODUCE, PARAMS, CHECKPOINT, METRICS, COSTS_CSV, COSTS_PNG, BOUNDARY_PNG, TABLE, REPORT,
             SWEEP_PLAN, SWEEP_SUMMARY_CSV, SWEEP_SUMMARY_JSON, "lr_find.csv", "lr_find.json", "lr_find.png")
# `nnctl evaluate` writes these beside them: evaluation*.json, confusion*.png, misclassified*.png, evaluation*-boundary.png
RUN_FILE_PATTERNS = ("evaluation*.json", "evaluation*.png", "confusion*.png", "misclassified*.png")
