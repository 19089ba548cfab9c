from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

"""One error family. The library raises these; only the CLI turns them into `Error: ...`."""


class NnctlError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None, lines: list[str] | None = None):
        super().__init__("\n".join(lines) if lines else message)
        # several problems at once (a spec with several errors): one line each; the CLI prints each
        # as one line, so a newline inside one (a path, a name) cannot pass for the break between two
        self.lines = list(lines) if lines else [message]
        if exit_code is not None:
            self.exit_code = exit_code


class ConfigError(NnctlError):
    """The spec is malformed, mistyped or out of range."""


class DataError(NnctlError):
    """A data file is missing, unreadable or of the wrong layout."""


class RunError(NnctlError):
    """A run directory is missing, unfinished or cannot be written."""


class DivergedError(NnctlError):
    """Training produced a non-finite cost or parameter."""

    exit_code = 3


class Interrupted(NnctlError):
    """The user stopped the work (Ctrl-C or SIGTERM); what was finished is kept."""

    exit_code = 130
    # set on a sweep's interruption only (nnctl.sweep.run.run_sweep): its trials' rows so far, its folder
    rows: list
    sweep_dir: Path


class StoppedBeforeTraining(Interrupted):
    """train_run's stop flag (a sweep trial's) was set while the data loaded: no run folder was made."""
