"""Helpers for tests that stop a real `nnctl sweep` with real signals, on events (a file appearing),
never after a sleep: tests/test_sweep_signals.py and tests/test_odd_signals.py."""

from __future__ import annotations

import json
import os
import signal
import time

# Seconds to wait for an event (a trial running, a sweep ending): ten times what it takes on a loaded
# 2-core machine, so that only a hang fails; the waits end as soon as the event happens.
PATIENCE = 600


def wait_for(found, proc, what, timeout=PATIENCE):
    """Poll `found()` until it is true; the process must still run meanwhile."""
    deadline = time.time() + timeout
    while not found():
        assert proc.poll() is None, (what, proc.communicate())
        assert time.time() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.01)


def running_trials(tmp, proc, count: int) -> dict:
    """{trial name: worker pid} once `count` trials train in their scratch folders under `tmp` (their
    metrics.json written: the data loaded, the run folder made)."""
    pids: dict = {}

    def enough():
        for f in tmp.glob("nnctl-trial-*/*/metrics.json"):
            try:
                pids[f.parent.name] = json.loads(f.read_text())["pid"]
            except (OSError, ValueError, KeyError):
                pass
        return len(pids) >= count

    wait_for(enough, proc, f"{count} trials running")
    return pids


def stop_twice_with_one_worker_frozen(proc, tmp, runs, sig=signal.SIGINT):
    """Stop a sweep of `--jobs 2` whose first running trial cannot answer (SIGSTOP: stuck in a long
    BLAS call, say): the first `sig` asks; the other trial stops after its iteration and is stored
    (the event that the sweep saw the request) while the sweep still waits for the frozen one; the
    second `sig` stops it at once. Returns (stdout, stderr, frozen trial, free trial)."""
    pids = running_trials(tmp, proc, 2)
    (frozen, frozen_pid), (free, _) = sorted(pids.items())[:2]
    os.kill(frozen_pid, signal.SIGSTOP)
    try:
        proc.send_signal(sig)
        wait_for(lambda: any((d / free / "metrics.json").exists() for d in runs.iterdir()), proc, "the free trial stored")
        assert proc.poll() is None  # the sweep waits for the frozen trial to stop ...
        proc.send_signal(sig)  # ... until the user insists
        out, err = proc.communicate(timeout=PATIENCE)
    finally:
        try:
            os.kill(frozen_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return out, err, frozen, free
