"""The local backend: trials in worker processes of this machine, one spawned process each, so a
worker that dies (the OOM killer, kill -9) fails only its own trial.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue as queue_mod
import shutil
import signal
import tempfile
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import resource_tracker

from nnctl.core.stopping import signals_held
from nnctl.sweep.launchers.base import OnEvent, OnResult, Payloads, ShouldStop, begun, lost
from nnctl.sweep.launchers.trial import run_trial, worker_init


class LocalLauncher:
    """`jobs` worker processes of this machine (nnctl.sweep.launchers.base.Launcher)."""

    def __init__(self, jobs: int):
        self.jobs = jobs

    def launch(self, payloads: Payloads, on_event: OnEvent, on_result: OnResult, should_stop: ShouldStop) -> None:
        run_local(payloads, self.jobs, on_event, on_result, should_stop)

    def close(self) -> None:
        pass  # each launch starts and ends its own workers


def open_launcher(jobs: int, address: str | None, trials: int, should_stop: ShouldStop) -> LocalLauncher:
    """Nothing to reach: the workers start with the first trials (`address` is Dask's, refused by the CLI)."""
    return LocalLauncher(jobs)


@contextmanager
def _spawning() -> Iterator[None]:
    """SIGINT and SIGTERM held off (the kernel keeps them pending) while worker processes start.

    A terminal's Ctrl-C goes to every process of the group. A worker still starting (importing
    NumPy, before `worker_init` ignores Ctrl-C) died of it, and its trial was counted failed, "its
    worker process died", instead of staying pending for --resume. A process inherits the signal
    mask of the thread that starts it, so a worker started in here begins with both signals blocked
    and `worker_init` decides what they mean. The parent's own handler runs once they are unblocked
    (or at once in another thread of the parent): nothing is lost there either.
    """
    resource_tracker.ensure_running()  # it unblocks both signals when it starts its own process: not in here
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


WORKER_DIED = (
    "its worker process died before the trial finished (killed by the OOM killer, by kill -9, or a crash "
    "in native code); if it ran out of memory, give it fewer --jobs or smaller layers, then --resume"
)


def run_local(payloads, jobs, on_event, on_result, should_stop=lambda: False):
    """Trials in `jobs` spawned worker processes; progress comes back on a queue.

    `payloads` is a list or a `Payloads`, asked for the next trial whenever a worker is free.
    Each worker is its own one-process executor, so a worker that dies (OOM killer, kill -9)
    fails only the trial it was running: that executor is replaced and the other trials go on.
    When `should_stop()` turns true, running trials are told to stop after their current
    iteration and come back interrupted, with their checkpoints; no new trial starts. A
    KeyboardInterrupt (a second Ctrl-C) kills the workers at once.
    """
    source = Payloads.of(payloads)
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    blas = max(1, (os.cpu_count() or 1) // jobs)

    def new_worker():
        return ProcessPoolExecutor(1, mp_context=ctx, initializer=worker_init, initargs=(q, stop, os.getpid()))

    workers = [None] * min(jobs, source.size)  # each started when it is first given a trial
    running = {}  # future -> (worker number, payload)
    # Each trial's scratch folder is made here, not in its worker: a worker killed at once (a second
    # Ctrl-C, kill -9, the OOM killer) cannot remove its own, and they piled up in the temporary folder.
    # One is removed as its trial comes back, the rest on the way out, whatever the way.
    scratch: set = set()

    def events():
        try:
            while True:
                on_event(*q.get_nowait())
        except queue_mod.Empty:
            pass

    try:
        while True:
            if not stop.is_set() and should_stop():
                stop.set()  # no new trial starts
            busy = {w for w, _ in running.values()}
            for w in range(len(workers)):
                if w in busy or stop.is_set():
                    continue
                p = source.next()
                if p is None:
                    break
                p["blas_threads"] = blas
                p["scratch"] = tempfile.mkdtemp(prefix="nnctl-trial-")
                scratch.add(p["scratch"])
                workers[w] = workers[w] or new_worker()
                with _spawning():  # the executor starts its worker process in submit
                    running[workers[w].submit(run_trial, p)] = (w, p)
            if not running:
                break
            done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
            events()
            for future in done:
                w, p = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    workers[w].shutdown(wait=False)
                    workers[w] = new_worker()  # for the trials still to come
                    result = lost(p, WORKER_DIED)
                _remove(p["scratch"], scratch)
                if begun(result):
                    on_result(result)
    except BaseException:
        _kill([w for w in workers if w is not None])
        raise
    finally:
        try:
            for ex in workers:
                if ex is not None:
                    ex.shutdown(wait=True, cancel_futures=True)
            q.close()
        finally:  # even if a third Ctrl-C cut the wait short: the killed workers write nothing more
            for path in list(scratch):
                _remove(path, scratch)


def _remove(path: str, made: set) -> None:
    """A trial's scratch folder, gone (a Ctrl-C waits for it: never half removed and forgotten)."""
    with signals_held():
        shutil.rmtree(path, ignore_errors=True)
        made.discard(path)


def _kill(executors) -> None:
    """Stop worker processes at once (a second Ctrl-C): their trials are lost, nothing is stored."""
    for ex in executors:
        for proc in list((getattr(ex, "_processes", None) or {}).values()):
            try:
                proc.kill()
            except (OSError, ValueError, AttributeError):
                pass
