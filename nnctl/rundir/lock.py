"""One process at a time per run directory: an advisory lock on the directory itself.

`fcntl.flock` on the run folder's own file descriptor (no lock file to leave behind or to go
stale): the kernel releases it when the process ends, however it ends (Ctrl-C, SIGTERM, kill -9,
out of memory). A `train` holds it from the moment its folder exists; a `--resume` takes it
before it reads the run's status, so of two resumes of one run, one refuses. A sweep holds its
own folder's the same way (nnctl.sweep.store), refusing in its own words.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

from nnctl.errors import RunError

_HELD: dict = {}  # resolved path -> [fd, depth]: re-entrant within one process


@contextmanager
def run_lock(run_dir, holder: str = "", refusal: Callable[[], str] | None = None):
    """Hold the run's lock, or raise RunError at once if another process holds it: `refusal()` is
    then the message, where the folder's owner says it otherwise (a sweep's)."""
    key = str(Path(run_dir).resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield
        finally:
            _HELD[key][1] -= 1
        return
    try:
        fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        raise RunError(f"{run_dir}: cannot open the run directory ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        if refusal is not None:
            raise RunError(refusal()) from None
        raise RunError(f"{run_dir}: another nnctl process is training this run now{holder}; wait for it to end (or stop it with Ctrl-C), then resume") from None
    except OSError:  # a filesystem without locks: go on unlocked rather than refuse every run
        pass
    _HELD[key] = [fd, 1]
    try:
        yield
    finally:
        _HELD.pop(key, None)
        os.close(fd)  # releases the lock


def held_elsewhere(run_dir) -> bool | None:
    """Whether another process holds the run's lock now (is training it): taken and given back at
    once, never waited for. None where that cannot be told: the folder cannot be opened, or its
    filesystem has no locks (callers then fall back on metrics.json's pid and host)."""
    key = str(Path(run_dir).resolve())
    if key in _HELD:
        return False
    try:
        fd = os.open(key, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # releases the lock if it was taken
    return False


def is_training(run_dir) -> bool | None:
    """Whether a process (this one or another) is training the run now: the run's lock is the truth,
    whatever its metrics.json says (a pid alive but reused, another host's). None where the lock
    cannot tell (held_elsewhere)."""
    if str(Path(run_dir).resolve()) in _HELD:
        return True
    return held_elsewhere(run_dir)
