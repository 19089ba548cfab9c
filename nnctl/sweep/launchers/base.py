"""The one interface every backend offers the sweep, and what it hands a backend: the payloads.

A backend is one module with `open_launcher(jobs, address, trials, should_stop) -> Launcher`
(nnctl.sweep.run names them). `launch` runs the trials it is given and reports each result as it
comes back; `close` lets go of what `open_launcher` reached (a cluster, a client). Each trial runs
`nnctl.sweep.launchers.trial.run_trial` wherever the backend puts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from nnctl.rundir.layout import TrialStatus

OnEvent = Callable[..., None]  # (kind, trial index, iteration, value): progress for the display
OnResult = Callable[[dict], None]  # a trial's result, as run_trial returns it
ShouldStop = Callable[[], bool]  # turns true on the first Ctrl-C or SIGTERM


class Payloads:
    """What an executor runs: `next()` gives the payload for a worker that is free (None: nothing
    now), `size` the most trials there can be. A plain list is handed out in order, all at once
    where the executor queues them itself (Dask); asynchronous halving decides only when a
    worker asks (`dynamic`), so it never has more trials out than there are workers."""

    def __init__(self, next_payload: Callable[[], dict | None], size: int, dynamic: bool = True):
        self.next, self.size, self.dynamic = next_payload, size, dynamic

    @classmethod
    def of(cls, payloads: Any) -> Payloads:
        if isinstance(payloads, Payloads):
            return payloads
        todo = list(payloads)
        return cls(lambda: todo.pop(0) if todo else None, len(todo), dynamic=False)


class Launcher(Protocol):
    """Where the trials of one sweep run: opened before the sweep folder is made, closed after."""

    def launch(self, payloads: Payloads, on_event: OnEvent, on_result: OnResult, should_stop: ShouldStop) -> None:
        """Run every trial `payloads` gives; each result of a trial that began (`begun`) goes to
        `on_result` as it comes back, progress to `on_event`. When `should_stop()` turns true, running
        trials stop after their current iteration and come back interrupted, with their checkpoints,
        and no new one starts; a KeyboardInterrupt (a second Ctrl-C) stops at once."""
        ...

    def close(self) -> None:
        """Let go of what the backend reached; called once, however the sweep ended."""
        ...


class OpenLauncher(Protocol):
    """A backend module's `open_launcher`: reached in a few seconds or refused (NnctlError)."""

    def __call__(self, jobs: int, address: str | None, trials: int, should_stop: ShouldStop) -> Launcher: ...


# run_trial's `stage` of a pending result: the stop request came while the trial loaded its data; it
# began but trained nothing and wrote nothing (a trial stopped before it began has no stage)
LOADING = "loading"


def begun(result: dict) -> bool:
    """A result to hand on (`on_result`): every trial that began, and only those. A trial the stop
    request reached before it began comes back pending with nothing to say."""
    return result["status"] != TrialStatus.PENDING or result.get("stage") == LOADING


def lost(payload: dict, why: str) -> dict:
    """The result of a trial whose worker could not run it to the end: failed, with no files."""
    return {"index": payload["index"], "name": payload["name"], "status": TrialStatus.FAILED, "message": why, "files": {}}
