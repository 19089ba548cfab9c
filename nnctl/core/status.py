"""A run's statuses: where the training loop ends (completed, diverged, interrupted), and running before.

Defined with the core, whose loop decides them; the run folder writes them in metrics.json and names
them with its files (nnctl.rundir.layout).
"""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """A run's status in metrics.json; compares equal to its text."""

    RUNNING = "running"
    COMPLETED = "completed"
    INTERRUPTED = "interrupted"
    DIVERGED = "diverged"

    def __str__(self) -> str:
        return self.value
