"""Signals at odd moments (issue 20, round 5): while nnctl starts, while a table loads, in nnctl.fit,
and a sweep stopped at once. Real processes and real signals, sent on events (a file appearing),
never after a sleep; signals_deferred itself is checked in this process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from conftest import TINY_SPEC, run_nnctl
from sweep_stops import stop_twice_with_one_worker_frozen, wait_for
from nnctl.core.stopping import StopRequest, signals_deferred

TIMEOUT = 600  # ten times what these take on a loaded machine: only a hang fails


def real_folders(root):
    return [p for p in root.iterdir() if p.is_dir() and not p.is_symlink()] if root.exists() else []


# ---------------------------------------------------------------- signals_deferred, in this process


def test_a_signal_in_a_deferred_block_is_handled_as_it_ends():
    handled = []
    with StopRequest(raise_at_once=True) as stop:
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred():
                signal.raise_signal(signal.SIGINT)  # the handler would raise here, inside NumPy in real life
                handled.append("after the signal")  # ... so the block goes on to its end
        assert handled == ["after the signal"] and stop.count == 1 and stop.name == "SIGINT"


def test_two_deferred_signals_count_twice_and_the_second_stops():
    with StopRequest() as stop:  # the first only asks; the second raises
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred(), signals_deferred():  # the inner one adds nothing
                signal.raise_signal(signal.SIGTERM)
                signal.raise_signal(signal.SIGTERM)
        assert stop.count == 2 and stop.name == "SIGTERM"


def test_a_deferred_block_puts_the_handlers_back():
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with signals_deferred():
        np.array(["1.5", " 2 "]).astype(np.float64)
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before
    with pytest.raises(KeyboardInterrupt):  # Python's own handler, deferred as well
        with signals_deferred():
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before[0]


# ---------------------------------------------------------------- the rest: real processes

slow = pytest.mark.slow


# `nnctl ...` with a hook: the first call of `NNCTL_TEST_HOOK` (module:function) makes `in-hook`, then
# goes on at once; the test sends its signal on seeing it, into the work that follows.
HOOKED = """
import importlib, os, sys
from pathlib import Path
module, name = os.environ["NNCTL_TEST_HOOK"].split(":")
mod = importlib.import_module(module)
real = getattr(mod, name)
def hooked(*args, **kwargs):
    (Path(os.environ["NNCTL_TEST_DIR"]) / "in-hook").touch()
    return real(*args, **kwargs)
setattr(mod, name, hooked)
from nnctl.cli import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def signal_at_hook(tmp_path, hook, sig, *args):
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path), "NNCTL_TEST_HOOK": hook}
    proc = subprocess.Popen([sys.executable, "-c", HOOKED, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for((tmp_path / "in-hook").exists, proc, "the hook")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def big_table(tmp_path_factory):
    """A table of numbers big enough that reading it takes a second or more, most of it in NumPy's
    str -> float and np.char (where a Ctrl-C was lost), and a run trained on its first rows. The signal is sent as np.char.lower begins (half a second on
    this table), where it was lost."""
    d = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 17, size=(30000, 40))
    y = x[:, 0] % 3
    lines = [",".join([f"p{j}" for j in range(40)] + ["y"])] + [",".join(map(str, row)) + f",{t}" for row, t in zip(x.tolist(), y.tolist())]
    (d / "big.csv").write_text("\n".join(lines) + "\n")
    (d / "small.csv").write_text("\n".join(lines[:301]) + "\n")
    result = run_nnctl("train", "--data", d / "small.csv", "--target", "y", "-q", "--no-report", "--runs-dir", d / "runs", "--set", "train.epochs=2")
    assert result.returncode == 0, result.stderr
    (run,) = real_folders(d / "runs")
    return d / "big.csv", run


@slow
def test_ctrl_c_while_train_reads_a_table_stops_it_before_the_run_folder(tmp_path, big_table):
    """It was swallowed inside NumPy: training began anyway (and stopped at iteration 1), or the
    command died of `TypeError: result array type does not match underlying function`."""
    table, _ = big_table
    runs = tmp_path / "runs"
    code, out, err = signal_at_hook(tmp_path, "numpy.char:lower", signal.SIGINT, "train", "--data", table, "--target", "y", "-q", "--runs-dir", runs)
    assert (code, err) == (130, "Interrupted: SIGINT before training began; no run folder was made\n")
    assert real_folders(runs) == []


@slow
def test_ctrl_c_while_predict_reads_a_table_stops_it(tmp_path, big_table):
    """predict went on to the end and exited 0, as if no Ctrl-C had come."""
    table, run = big_table
    code, out, err = signal_at_hook(tmp_path, "numpy.char:lower", signal.SIGINT, "predict", table, "--run", run, "--csv")
    assert (code, err) == (130, "Interrupted: SIGINT\n")
    assert len(out.splitlines()) < 30000  # stopped before its last row


@slow
def test_ctrl_c_while_evaluate_reads_a_table_stops_it_and_writes_nothing(tmp_path, big_table):
    table, run = big_table
    before = sorted(p.name for p in run.iterdir())
    code, out, err = signal_at_hook(tmp_path, "numpy.char:lower", signal.SIGINT, "evaluate", run, "--data", table)
    assert (code, err) == (130, "Interrupted: SIGINT\n")
    assert sorted(p.name for p in run.iterdir()) == before  # no evaluation file, not even a temporary one


# ---------------------------------------------------------------- while nnctl starts

# The console script (`from nnctl.cli import main; sys.exit(main())`, as pip writes it) or `python -m
# nnctl`, with Typer's import held: it makes `importing`, then waits for `go` in Python code, where a
# signal that is not held raises at once.
STARTING = """
import importlib.abc, os, runpy, sys, time
from pathlib import Path
where = Path(os.environ["NNCTL_TEST_DIR"])
class Hold(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "typer":
            sys.meta_path.remove(self)
            (where / "importing").touch()
            while not (where / "go").exists():
                time.sleep(0.01)
        return None
sys.meta_path.insert(0, Hold())
entry = sys.argv.pop(1)
sys.argv = ["nnctl"] + sys.argv[1:]
if entry == "console":
    from nnctl.cli import main
    sys.exit(main())
runpy.run_module("nnctl", run_name="__main__", alter_sys=True)
"""


@slow
@pytest.mark.parametrize("entry", ["console", "module"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_rich_and_typer_load_stops_the_command_before_it_begins(tmp_path, tiny_config, entry, sig, code):
    """The console script imported the whole CLI before any handler: Ctrl-C gave a KeyboardInterrupt
    traceback, SIGTERM a silent exit 143."""
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", STARTING, entry, "train", str(tiny_config), "-q", "--runs-dir", str(tmp_path / "runs")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        wait_for((tmp_path / "importing").exists, proc, "typer's import")
        proc.send_signal(sig)
    finally:
        (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (code, f"Interrupted: {sig.name} while nnctl was starting; nothing was done\n")
    assert out == "" and real_folders(tmp_path / "runs") == []


# ---------------------------------------------------------------- nnctl.fit

FIT = """
import json, sys
import numpy as np
import nnctl
from nnctl.errors import Interrupted
rng = np.random.default_rng(0)
X = rng.standard_normal((200, 4))
y = (X[:, 0] > 0).astype(int)
spec = {"model": {"hidden": [8]}, "train": {"iterations": 50000000, "record_every": 1000, "checkpoint_every": 2000, "learning_rate": 0.01}}
try:
    nnctl.fit(spec, X, y, runs_dir=sys.argv[1])
except Interrupted as exc:
    print(json.dumps(str(exc)))
"""


@slow
def test_one_ctrl_c_in_fit_keeps_the_run_and_says_it_cannot_be_resumed(tmp_path):
    """One Ctrl-C stopped a fit at once: no params.h5 nor costs.csv, metrics.json said "SIGINT twice"
    and advised `nnctl train --resume`, which cannot resume a run of arrays."""
    runs = tmp_path / "runs"
    proc = subprocess.Popen([sys.executable, "-c", FIT, str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: any((p / "checkpoint.h5").exists() for p in real_folders(runs)), proc, "a checkpoint")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0, err
    (run,) = real_folders(runs)
    metrics = json.loads((run / "metrics.json").read_text())
    it = metrics["iterations"]
    assert metrics["status"] == "interrupted" and it >= 2000
    assert {"params.h5", "costs.csv", "checkpoint.h5"} <= {p.name for p in run.iterdir()}
    cannot = "it cannot be resumed, as it was trained on arrays given to nnctl.fit, which a run does not keep: call nnctl.fit again"
    assert metrics["message"] == f"SIGINT at iteration {it}: stopped after that iteration; parameters, checkpoint and costs so far are kept; {cannot}"
    assert json.loads(out) == (
        f"fit interrupted: SIGINT at iteration {it}: parameters, checkpoint and costs so far are kept in {run} (status interrupted); {cannot}"
    )
    assert nnctl_load(run).predict(np.zeros((2, 4))).shape == (2,)  # params.h5 whole: the model as it stood
    assert run_nnctl("report", run).returncode == 0  # its page says so too, with no resume command
    page = (run / "report.html").read_text()
    assert "It cannot be resumed: it was trained on arrays given to nnctl.fit" in page and "--resume" not in page


def nnctl_load(run):
    import nnctl  # the API, loaded on first use

    return nnctl.load(run)


# ---------------------------------------------------------------- a sweep stopped at once


def scratch_left(tmp):
    return sorted(p.name for p in tmp.glob("nnctl-trial-*"))


@slow
@pytest.mark.parametrize(
    "how",
    [
        ["--grid", "train.seed=3,4,5"],
        ["--search", "train.learning_rate=loguniform(0.01,0.1)", "--trials", "3"],
    ],
    ids=["grid", "search"],
)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_sweep_stopped_at_once_leaves_no_scratch_folders(tmp_path, tiny_config, how, sig):
    """Two Ctrl-C (or two SIGTERM) kill the workers at once; their /tmp/nnctl-trial-* folders stayed."""
    tiny_config.write_text(TINY_SPEC.replace("iterations: 30", "iterations: 50000000").replace("record_every: 10", "record_every: 1000"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-m", "nnctl", "sweep", str(tiny_config), *how, "--jobs", "2", "--runs-dir", str(tmp_path / "runs"), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    out, err, _, _ = stop_twice_with_one_worker_frozen(proc, tmp, tmp_path / "runs", sig)
    assert proc.returncode == 128 + sig, err
    assert "stopped at once" in err.splitlines()[-1] and "Traceback" not in err, err
    assert scratch_left(tmp) == []


@slow
def test_a_sweep_that_fails_in_its_parent_leaves_no_scratch_folders(tmp_path, tiny_config, monkeypatch):
    """An exception in the parent (here: storing a result) kills the workers: their folders go too."""
    from nnctl.sweep.launchers.local import run_local

    tiny_config.write_text(TINY_SPEC.replace("iterations: 30", "iterations: 50000000"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)
    payloads = [
        {
            "index": i,
            "name": f"0{i}",
            "text": tiny_config.read_text(),
            "config_path": str(tiny_config),
            "overrides": [f"train.iterations={n}"],
            "command": ["nnctl"],
        }
        for i, n in ((1, 5), (2, 50000000))
    ]

    def store(result):
        raise RuntimeError("a bug in the parent")

    with pytest.raises(RuntimeError, match="a bug in the parent"):
        run_local(payloads, 2, lambda *event: None, store)
    assert scratch_left(tmp) == []
