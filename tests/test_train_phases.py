"""SIGINT and SIGTERM in every phase of `nnctl train`, not only while it trains: held at a hook in a
real process, the signal sent once the hook is reached (events, not sleeps), then what it says and
what the run folder holds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY_SPEC

pytestmark = pytest.mark.slow  # a real process, held at a hook, and real signals

TIMEOUT = 600  # ten times what these take on a loaded machine

# `main()` with one function held: on being called it makes `in-hook`, then waits for `go`, making
# `seen` once a signal has been handled; a signal that stops at once raises out of the wait.
HOOKED = """
import importlib, os, sys, time
from pathlib import Path
where = Path(os.environ["NNCTL_TEST_DIR"])
module, name = os.environ["NNCTL_TEST_HOOK"].split(":")
mod = importlib.import_module(module)
real = getattr(mod, name)
def seen():
    from nnctl.core.stopping import last_signal
    return last_signal() is not None
def held(*args, **kwargs):
    (where / "in-hook").touch()
    while not (where / "go").exists():
        if seen():
            (where / "seen").touch()
        time.sleep(0.01)
    return real(*args, **kwargs)
if module == "atexit":
    real = lambda: None
    mod.register(held)
else:
    setattr(mod, name, held)
from nnctl.cli.commands import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def wait_for(path, proc):
    deadline = time.time() + TIMEOUT
    while not path.exists():
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.01)


def hooked_train(tmp_path, hook, signals, *args, handled=True):
    """Run `nnctl train` held at `hook`, send `signals` there (each after the previous was handled),
    let it go on; (returncode, stdout, stderr). `handled=False`: the hook is past the command's commit
    point, where signals are ignored (nnctl.util.signals.finish) and never seen: the last one is sent
    (its fate decided as it is sent) and the command let go at once."""
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path), "NNCTL_TEST_HOOK": hook}
    proc = subprocess.Popen([sys.executable, "-c", HOOKED, "train", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(tmp_path / "in-hook", proc)
        for k, sig in enumerate(signals):
            proc.send_signal(sig)
            if k + 1 < len(signals):
                wait_for(tmp_path / "seen", proc)
        deadline = time.time() + TIMEOUT
        while handled and proc.poll() is None and not (tmp_path / "seen").exists():  # stopped at once, or handled and waiting for `go`
            assert time.time() < deadline
            time.sleep(0.01)
    finally:
        (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


@pytest.fixture
def spec(tmp_path, tiny_data):
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC)
    return tmp_path / "tiny.yaml"


def the_run(runs):
    (run,) = [p for p in runs.iterdir() if p.is_dir() and not p.is_symlink()]
    return run


def test_a_signal_before_the_run_folder_stops_at_once_and_makes_none(tmp_path, spec):
    """SIGTERM while the data loaded killed train by the default action (exit -15), without a word."""
    code, out, err = hooked_train(tmp_path, "nnctl.experiment.run:load_inputs", [signal.SIGTERM], spec, "-q", "--runs-dir", tmp_path / "runs")
    assert code == 143, err
    assert err == "Interrupted: SIGTERM before training began; no run folder was made\n"
    assert not (tmp_path / "runs").exists() or not [p for p in (tmp_path / "runs").iterdir() if not p.is_symlink()]


@pytest.mark.parametrize(
    "hook, sig",
    [
        ("nnctl.experiment.run:_evaluate", signal.SIGINT),  # after the last iteration, while the run's files are written
        ("nnctl.cli.display:summary_table", signal.SIGTERM),  # the table
        ("nnctl.report.page:write_report", signal.SIGTERM),  # the report
    ],
)
def test_one_signal_after_training_writes_everything_then_says_so(tmp_path, spec, hook, sig):
    """One SIGINT there said `SIGINT twice: ...`; SIGTERM after the table killed train by the default action, report.html never written."""
    code, out, err = hooked_train(tmp_path, hook, [sig], spec, "-q", "--runs-dir", tmp_path / "runs")
    run = the_run(tmp_path / "runs")
    assert code == 128 + sig, err
    assert err.splitlines()[-1] == f"Interrupted: {sig.name} after training: the run is kept in {run} (status: completed)"
    assert "Traceback" not in err and "twice" not in err
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert (run / "report.html").exists() and (run / "params.h5").exists() and not (run / "checkpoint.h5").exists()
    assert f"run: {run}" in out


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_after_the_run_line_changes_nothing(tmp_path, spec, sig):
    """After `run:` the report is in place (train's commit point): a signal there is ignored, exit 0 with no
    line (it said `Interrupted: ... after training`, exit 130 or 143, for a run that had finished)."""
    code, out, err = hooked_train(tmp_path, "nnctl.cli.commands:_finish_tracking", [sig], spec, "-q", "--runs-dir", tmp_path / "runs", handled=False)
    run = the_run(tmp_path / "runs")
    assert (code, err) == (0, "")
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed" and (run / "report.html").exists()
    assert f"run: {run}" in out


def test_a_second_signal_in_the_report_stops_it_and_says_how_to_make_it(tmp_path, spec):
    code, out, err = hooked_train(tmp_path, "nnctl.report.page:write_report", [signal.SIGINT, signal.SIGINT], spec, "-q", "--runs-dir", tmp_path / "runs")
    run = the_run(tmp_path / "runs")
    assert code == 130, err
    assert err.splitlines()[-1] == (
        f"Interrupted: SIGINT twice after training: the run is kept in {run} (status: completed); its report was not written: nnctl report {run}"
    )
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed" and not (run / "report.html").exists()
    assert not [p for p in run.iterdir() if p.name.startswith(".")]  # no temporary file left


def test_a_signal_in_a_diverged_runs_report_says_both(tmp_path, spec):
    code, out, err = hooked_train(
        tmp_path, "nnctl.report.page:write_report", [signal.SIGTERM], spec, "-q", "--runs-dir", tmp_path / "runs", "--set", "train.learning_rate=1e300"
    )
    run = the_run(tmp_path / "runs")
    assert code == 143, err
    first, last = err.splitlines()[-2:]
    assert first.startswith("Error: training diverged") and last == f"Interrupted: SIGTERM after training: the run is kept in {run} (status: diverged)"
    assert json.loads((run / "metrics.json").read_text())["status"] == "diverged" and (run / "report.html").exists()


def test_a_signal_as_the_process_ends_changes_nothing(tmp_path, spec):
    """SIGINT just after `run:` printed `Exception ignored in: <function WeakKeyDictionary...> ... KeyboardInterrupt`."""
    code, out, err = hooked_train(tmp_path, "atexit:register", [signal.SIGINT], spec, "-q", "--runs-dir", tmp_path / "runs", handled=False)
    assert code == 0 and err == "", err
    assert json.loads((the_run(tmp_path / "runs") / "metrics.json").read_text())["status"] == "completed"


def test_a_signal_while_nnctl_starts_waits_for_the_command_then_stops_it(tmp_path, spec):
    """SIGTERM as nnctl started killed it by the default action (exit -15); a SIGINT while Typer parsed ended it in silence (exit 130)."""
    code, out, err = hooked_train(tmp_path, "nnctl.cli.commands:app", [signal.SIGTERM], spec, "-q", "--runs-dir", tmp_path / "runs")
    assert code == 143, err
    assert err == "Interrupted: SIGTERM while nnctl was starting; nothing was done\n"
    assert not (tmp_path / "runs").exists()
