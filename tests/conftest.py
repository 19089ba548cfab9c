"""Shared fixtures: tiny HDF5 files in both layouts and a tiny spec, all written in tmp_path."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np
import pytest


# A suite started in the background (`nohup pytest &`, some CI runners) inherits Ctrl-C ignored, and Python
# then installs no KeyboardInterrupt handler: the tests of Ctrl-C would see none. They test nnctl as a
# terminal runs it, so the suite puts Python's own handler back.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
CAT_TRAIN = SHARED / "train_catvnoncat.h5"
CAT_TEST = SHARED / "test_catvnoncat.h5"

needs_cat_data = pytest.mark.skipif(not (CAT_TRAIN.exists() and CAT_TEST.exists()), reason=f"course data not found in {SHARED}")


def write_course_h5(path, prefix="train", m=12, shape=(4, 4, 3), seed=0):
    """A tiny file in the course's layout: bright images are class 1, dark ones class 0."""
    rng = np.random.default_rng(seed)
    y = (np.arange(m) % 2).astype(np.int64)
    x = rng.integers(0, 128, size=(m, *shape)).astype(np.uint8)
    x[y == 1] += 127
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = x
        f[f"{prefix}_set_y"] = y
        f["list_classes"] = np.array([b"dark", b"bright"])
    return path


@pytest.fixture
def tiny_data(tmp_path):
    return write_course_h5(tmp_path / "train.h5", "train"), write_course_h5(tmp_path / "test.h5", "test", m=6, seed=1)


TINY_SPEC = """\
name: tiny
data:
  train: train.h5
  test: test.h5
model:
  hidden: [3]
  hidden_activation: relu
  init: he
train:
  learning_rate: 0.1
  iterations: 30
  seed: 3
  record_every: 10
"""


@pytest.fixture
def tiny_config(tmp_path, tiny_data):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


def fault_at(monkeypatch, step, exc):
    """From now on (until monkeypatch.undo()), the `step`-th training step of this process (counted
    from 1) raises `exc` in the middle of its update: a bug, a MemoryError or a second Ctrl-C, in the
    middle of training. Returns the list whose one item counts the steps taken."""
    from nnctl.core import training

    real, calls = training.Trainer.backward_and_update, [0]

    def faulty(self):
        calls[0] += 1
        if calls[0] == step:
            raise exc
        return real(self)

    monkeypatch.setattr(training.Trainer, "backward_and_update", faulty)
    return calls


def invoke(*args):
    """`nnctl ARGS...` in this process (Typer's CliRunner), every argument made a string."""
    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    return CliRunner().invoke(app, [str(a) for a in args])


def run_nnctl(*args, cwd=None, env=None, umask=None, input=None, timeout=None):
    """`nnctl ARGS...` in this process, answered as `subprocess.run([python, -m, nnctl, ...],
    capture_output=True, text=True)` answers it: a CompletedProcess with returncode, stdout, stderr.

    For tests whose point is what the command does, not a fresh process (those start one and are
    marked slow). What a real process would print stays visible: an exception that escaped the
    command is its traceback at the end of stderr (exit 1), and each warning is printed there as
    Python's default filters show it (DeprecationWarning and the like silent), so a test that a
    numpy warning never reaches the terminal still bites. `cwd` and `umask` hold for the command
    only; `env` is set on top of os.environ for it (TMPDIR in it is honoured: tempfile asks again).

    With `timeout`, a read that blocks on a FIFO fails the test instead of hanging it, as a
    subprocess's timeout would: after `timeout` seconds a watchdog opens every FIFO among the
    arguments, under the folders among them and under `cwd` for writing and closes it again, which
    ends the blocked read at end-of-file, and the call raises AssertionError naming the FIFO.
    """
    import tempfile
    import traceback
    import warnings

    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    argv = [str(a) for a in args]
    here, old_tmp = os.getcwd(), tempfile.tempdir
    old_umask = os.umask(umask) if umask is not None else None
    if env and "TMPDIR" in env:
        tempfile.tempdir = None
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings(record=True) as caught:
            warnings.resetwarnings()  # Python's defaults, not the suite's filterwarnings
            for quiet in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.filterwarnings("ignore", category=quiet)
            with _fifo_watchdog(argv + ([str(cwd)] if cwd is not None else []), timeout) as blocked:
                result = CliRunner().invoke(app, argv, input=input, prog_name="nnctl", env={k: str(v) for k, v in (env or {}).items()})
    finally:
        os.chdir(here)
        tempfile.tempdir = old_tmp
        if old_umask is not None:
            os.umask(old_umask)
    stderr = result.stderr
    exc = result.exception
    if exc is not None and not isinstance(exc, SystemExit):
        stderr += "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for w in caught:
        stderr += warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
    assert not blocked, f"nnctl {' '.join(argv)}: waited on {blocked[0]} for {timeout} s (a read that blocks)"
    return subprocess.CompletedProcess(["nnctl", *argv], result.exit_code, result.stdout, stderr)


@contextmanager
def _fifo_watchdog(paths, timeout):
    """Yields the list of FIFOs found read from (blocked) once `timeout` seconds have passed; see run_nnctl."""
    import threading

    blocked = []
    if timeout is None:
        yield blocked
        return
    roots = [Path(p) for p in paths if os.path.isabs(p) or os.path.exists(p)]
    fifos = {f for r in roots for f in ([r] if r.is_fifo() else r.rglob("*") if r.is_dir() else []) if f.is_fifo()}
    done = threading.Event()

    def watch():
        wait = timeout
        while not done.wait(wait):
            for fifo in fifos:
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # succeeds only while a reader has it open
                    blocked.append(fifo)
                except OSError:  # ENXIO: nobody reads it
                    pass
            wait = 0.2

    guard = threading.Thread(target=watch, daemon=True)
    guard.start()
    try:
        yield blocked
    finally:
        done.set()
        guard.join()


def redigest(path):
    """Record params.h5's digests (its `integrity` attribute) anew, as training computes them: an edited
    file that passes the digest check, so that a test reaches the checks behind it (a value nnctl
    refuses whatever its digest says, as it would in a file of another nnctl version)."""
    import json

    import h5py

    from nnctl.rundir.runs import INTEGRITY, array_digest, text_digest

    with h5py.File(path, "r+") as f:
        keys = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
        keys += [f"{g}/{k}" for g in f.keys() if isinstance(f[g], h5py.Group) for k in f[g].keys()]
        arrays = {k: array_digest(f[k][()]) for k in keys}
        attributes = {k: text_digest(str(v)) for k, v in f.attrs.items() if k != INTEGRITY}
        f.attrs[INTEGRITY] = json.dumps({"arrays": arrays, "attributes": attributes})


def as_written(edit):
    """`edit(run)` of a run folder, then params.h5's digests recorded anew (redigest)."""

    def apply(run):
        edit(run)
        redigest(run / "params.h5")

    return apply
