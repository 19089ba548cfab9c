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
SWEEP_ACCURACY_PNG = "accuracy.png"  # a sweep's accuracy by trial
SWEEP_PID = ".lock"
SUMMARY_CSV = "summary.csv"  # a sweep's trials, one row each
SUMMARY_JSON = "summary.json"
LR_FIND_CSV = "lr_find.csv"  # runs/lr-find-...: the learning-rate range test
LR_FIND_JSON = "lr_find.json"
LR_FIND_PNG = "lr_find.png"

# `nnctl evaluate` writes evaluation.json and its pictures; with --data FILE their names carry FILE's
# suffix ("-<name>", nnctl.experiment.inference.evaluation_suffix): evaluation-<name>.json, ...
EVALUATIONS = "evaluation*.json"  # every evaluation_json(suffix)


def evaluation_json(suffix: str = "") -> str:
    return f"evaluation{suffix}.json"


def confusion_png(suffix: str = "") -> str:
    return f"confusion{suffix}.png"


def misclassified_png(suffix: str = "") -> str:
    return f"misclassified{suffix}.png"


def evaluation_boundary_png(suffix: str = "") -> str:
    return f"evaluation{suffix}-boundary.png"


# what makes a folder a run's (or a sweep's, or an lr-find's): nnctl never writes over these folders' own files
RUN_MARKERS = (METRICS, RESOLVED, PARAMS, CHECKPOINT, REPRODUCE, SWEEP_PLAN, LR_FIND_JSON)
RUN_FILES = (
    SPEC,
    RESOLVED,
    REPRODUCE,
    PARAMS,
    CHECKPOINT,
    METRICS,
    COSTS_CSV,
    COSTS_PNG,
    BOUNDARY_PNG,
    TABLE,
    REPORT,
    SWEEP_PLAN,
    SUMMARY_CSV,
    SUMMARY_JSON,
    LR_FIND_CSV,
    LR_FIND_JSON,
    LR_FIND_PNG,
)
# `nnctl evaluate` writes these beside them: evaluation*.json, confusion*.png, misclassified*.png, evaluation*-boundary.png
RUN_FILE_PATTERNS = (EVALUATIONS, "evaluation*.png", "confusion*.png", "misclassified*.png")
