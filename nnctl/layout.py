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
"""

from __future__ import annotations

from nnctl.status import Status  # noqa: F401  (a run's statuses, named here with its files; the loop decides them)

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
TABLE = "table.json"  # a table's columns: target, classes, categories, fill values (nnctl.tables.Preprocessor)
