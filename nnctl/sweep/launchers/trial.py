"""One trial, anywhere: trained in a temporary directory of whatever machine runs it, its status and
files sent back as bytes (nnctl.sweep.store puts them in place). A worker of the local pool reports
progress on the pool's queue and stops on the pool's event or its own SIGTERM; a backend may give
its own stop flag (Dask: a cluster-wide event).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from threadpoolctl import threadpool_limits

from nnctl.core.training import Reporter
from nnctl.data.dataset import file_sha256
from nnctl.errors import DivergedError, NnctlError, RunError, StoppedBeforeTraining
from nnctl.experiment.run import train_run
from nnctl.rundir.layout import Status, TrialStatus
from nnctl.spec.config import Spec
from nnctl.sweep.launchers.base import LOADING
from nnctl.sweep.plan import data_paths, trial_spec


class _QueueReporter(Reporter):
    """Sends a trial's progress to the sweep's display, a few times a second at most."""

    def __init__(self, queue, index):
        self.queue, self.index, self.last = queue, index, 0.0

    def on_start(self, total, start):
        self.queue.put(("start", self.index, start, total))

    def on_cost(self, iteration, cost):
        self.queue.put(("cost", self.index, iteration, cost))

    def on_tick(self, iteration):
        now = time.monotonic()
        if now - self.last > 0.25:
            self.last = now
            self.queue.put(("tick", self.index, iteration, None))


def check_worker_data(spec: Spec, expected: dict) -> None:
    """The data files this machine reads must be the ones the sweep was planned with."""
    for path in data_paths(spec):
        digest = expected.get(path)
        if digest is not None and os.path.isfile(path) and file_sha256(path) != digest:
            raise RunError(f"{path}: this file differs from the one the sweep was planned with (SHA-256); give every worker the same data files")


class StopFlag:
    """What a trial asks after each iteration: has the sweep been told to stop?

    Locally: the pool's shared event, or SIGTERM sent to the worker itself; on Dask: a cluster-wide
    `distributed.Event`. Asked at most every `every` seconds, so it costs nothing per iteration.
    """

    before_training = True  # asked by train_run once the data is loaded too: a stop then makes no run folder

    def __init__(self, event=None, every=0.05):
        self.event, self.every, self.last, self.set = event, every, 0.0, False

    def __call__(self) -> bool:
        if self.set or _SIGTERMED:
            return True
        now = time.monotonic()
        if self.event is not None and now - self.last >= self.every:
            self.last = now
            try:
                self.set = bool(self.event.is_set())
            except Exception:  # the scheduler is gone: the sweep's parent stopped
                self.set = True
        return self.set


def run_trial(payload: dict, stop: StopFlag | None = None) -> dict:
    """Train one trial in a temporary directory and return its status and files as bytes.

    Depends on nothing of the machine it runs on but the absolute paths in the payload (not the
    working directory). An interrupted trial comes back with its checkpoint; one whose stop came
    before it began comes back pending, and one whose stop came while its data loaded pending with
    `stage` LOADING (nothing trained, nothing to store); given `resume_files`
    (such a trial's files) it continues from that checkpoint. Progress goes to the local pool's
    queue where there is one (not on Dask). `stop`: what the trial asks after each iteration (by
    default the local pool's event, or SIGTERM sent to this worker).
    """
    stop = stop if stop is not None else StopFlag(_WORKER_STOP)
    result = {"index": payload["index"], "name": payload["name"], "status": TrialStatus.FAILED, "message": None, "files": {}}
    if stop():  # the sweep stopped before this trial began: it stays pending
        return {**result, "status": TrialStatus.PENDING}
    reporter = _QueueReporter(_WORKER_QUEUE, payload["index"]) if _WORKER_QUEUE is not None else None
    with threadpool_limits(payload.get("blas_threads")), _scratch(payload.get("scratch")) as tmp:
        run_dir = Path(tmp) / payload["name"]
        result["run_dir"] = str(run_dir)  # messages name it; the sweep puts the trial's real folder in its place
        try:
            spec = trial_spec(payload["text"], payload["config_path"], payload["overrides"])
            check_worker_data(spec, payload.get("data_files", {}))
            budget = payload.get("stop_at")  # a rung of successive halving: no pictures until the trial ends
            if payload.get("resume_files"):
                run_dir.mkdir()
                for name, data in payload["resume_files"].items():
                    (run_dir / name).write_bytes(data)
                summary = train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=stop, resume=True, stop_at_epoch=budget, pictures=budget is None)
            else:
                summary = train_run(
                    spec,
                    config_text=payload["text"],
                    run_dir=run_dir,
                    reporter=reporter,
                    command=payload["command"],
                    should_stop=stop,
                    stop_at_epoch=budget,
                    pictures=budget is None,
                )
            result["status"] = summary.status
        except StoppedBeforeTraining as exc:  # the stop request came while the data loaded: nothing to store
            result.update(status=TrialStatus.PENDING, stage=LOADING, message=str(exc))
        except DivergedError as exc:
            result["status"], result["message"] = Status.DIVERGED, str(exc)
        except NnctlError as exc:
            result["message"] = str(exc)
        except Exception:  # a bug: keep the traceback in the trial's record
            result["message"] = "unexpected error:\n" + traceback.format_exc()
        if run_dir.is_dir():
            result["files"] = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    return result


@contextmanager
def _scratch(given: str | None) -> Iterator[str]:
    """The trial's temporary folder: the one the local pool made for it (which the pool removes too,
    should this worker be killed), else one of this machine's (a Dask worker), removed as the trial ends."""
    if given is None:
        with tempfile.TemporaryDirectory(prefix="nnctl-trial-") as tmp:
            yield tmp
        return
    try:
        yield given
    finally:
        shutil.rmtree(given, ignore_errors=True)


_WORKER_QUEUE = None
_WORKER_STOP = None
_SIGTERMED = False
_PARENT: int | None = None  # the sweep's process, which started this worker
_ORPHANED = 3  # the exit status of a worker whose sweep died under it


def _parent_gone() -> bool:
    return _PARENT is not None and os.getppid() != _PARENT


def _orphaned() -> None:
    """The sweep that started this worker is gone (kill -9, the OOM killer): nobody takes its trial
    or its progress any more, and a write to a full pipe would block for good. End at once."""
    os._exit(_ORPHANED)


def _on_sigterm(signum, frame):
    global _SIGTERMED
    if _parent_gone():  # the kernel's parent-death signal, or a SIGTERM to a worker left behind
        _orphaned()
    _SIGTERMED = True  # the trial stops after this iteration and comes back interrupted


def _watch_parent(every: float = 0.2) -> None:
    """A worker thread that ends the worker once its parent dies: it runs even while the main thread
    is blocked writing to a pipe nobody reads (where no signal handler runs), and where the kernel
    has no parent-death signal (macOS)."""
    while not _parent_gone():
        time.sleep(every)
    _orphaned()


def _die_with_parent() -> None:
    """Linux: the kernel sends SIGTERM to this worker when the thread that started it exits (the
    sweep's main thread: the sweep itself). Elsewhere the watch thread alone does it."""
    try:
        import ctypes  # only here, in a sweep worker as it starts: no other command needs it

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_init(queue, stop, parent: int | None = None):
    """Workers ignore Ctrl-C (the parent decides, and tells them through `stop`), treat SIGTERM
    as a stop request, report progress on the pool's queue, and end when `parent` (the sweep's
    process) dies."""
    global _WORKER_QUEUE, _WORKER_STOP, _PARENT
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    if parent is not None:
        _PARENT = parent
        if sys.platform.startswith("linux"):
            _die_with_parent()
        if _parent_gone():  # it died before prctl took effect: no signal will come
            _orphaned()
        threading.Thread(target=_watch_parent, name="nnctl-parent-watch", daemon=True).start()
    # the worker was started with both signals blocked (local._spawning): a Ctrl-C that reached it while
    # it started is dropped now, a SIGTERM becomes a stop request (its trial stays pending)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    # The queue carries progress only (results come back through the executor). A worker killed
    # with kill -9 in the middle of a put leaves the queue's write lock held for good; without this,
    # every later worker would hang at exit, flushing progress nobody can take any more.
    queue.cancel_join_thread()
    _WORKER_QUEUE, _WORKER_STOP = queue, stop
