"""Nothing lost in a sweep: real signals to a real `nnctl sweep`, a real kill -9 of a worker."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import TINY_SPEC
from sweep_stops import PATIENCE, stop_twice_with_one_worker_frozen, wait_for
from nnctl.spec.config import load_config
from nnctl.experiment.run import train_run
from nnctl.rundir.runs import load_params

ITERATIONS = 60000
SPEC = TINY_SPEC.replace("iterations: 30", f"iterations: {ITERATIONS}").replace(
    "record_every: 10", "record_every: 1000\n  checkpoint_every: 2000\n  blas_threads: 1"
)


pytestmark = pytest.mark.slow  # real processes and signals: left out of the default run, run by -m slow (CI)


def start(args, tmp, **kw):
    env = {**os.environ, "TMPDIR": str(tmp)}
    return subprocess.Popen([sys.executable, "-m", "nnctl", *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def running_trials(tmp, proc, names, what="metrics.json", timeout=None):
    """{trial name: worker pid} once the trials `names` train in their temporary folders (with `what` written)."""
    timeout = timeout or PATIENCE
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = {}
        for f in tmp.glob(f"nnctl-trial-*/*/{what}"):
            try:
                found[f.parent.name] = json.loads((f.parent / "metrics.json").read_text())["pid"]
            except (OSError, ValueError, KeyError):
                pass
        if set(names) <= set(found):
            return found
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    raise AssertionError(f"trials {names} were not all running within {timeout} s")


def summary(sweep_dir):
    return {r["trial"]: r["status"] for r in json.loads((sweep_dir / "summary.json").read_text())["trials"]}


def test_a_worker_killed_with_sigkill_fails_its_trial_and_the_others_finish(tmp_path, tiny_config):
    """multiprocessing.Pool waited forever for a worker the OOM killer (here: kill -9) took."""
    (tmp_path / "tmp").mkdir()
    proc = start(["sweep", tiny_config, "--grid", "train.iterations=5,5000000,6,7", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q"], tmp_path / "tmp")
    pid = running_trials(tmp_path / "tmp", proc, ["02-iterations=5000000"])["02-iterations=5000000"]
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=PATIENCE)
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert proc.returncode == 1, err
    assert "02-iterations=5000000: failed: its worker process died before the trial finished (killed by the OOM killer, by kill -9" in err
    assert err.splitlines()[-1] == (f"Error: 1 of 4 trials failed (02-iterations=5000000); see {sweep_dir}/summary.csv, then nnctl sweep --resume {sweep_dir}")
    assert "Traceback" not in err
    # the one worker was replaced for the trials after it
    assert summary(sweep_dir) == {
        "01-iterations=5": "completed",
        "03-iterations=6": "completed",
        "04-iterations=7": "completed",
        "02-iterations=5000000": "failed",
    }


@pytest.fixture
def long_config(tiny_config):
    tiny_config.write_text(SPEC)
    return tiny_config


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_keeps_running_trials_with_their_checkpoints_and_resume_continues_them(tmp_path, long_config, sig, code):
    (tmp_path / "tmp").mkdir()
    proc = start(["sweep", long_config, "--grid", "train.seed=3,4,5", "--jobs", "2", "--runs-dir", tmp_path / "runs"], tmp_path / "tmp", start_new_session=True)
    running_trials(tmp_path / "tmp", proc, ["01-seed=3", "02-seed=4"], what="checkpoint.h5")
    os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C (or a service manager) does: the parent and its workers
    out, err = proc.communicate(timeout=PATIENCE)
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert proc.returncode == code, err
    assert err.splitlines()[-1] == (
        f"Interrupted: {sig.name}: sweep interrupted: 0 of 3 trials completed, 2 interrupted with their checkpoints, 1 not started; "
        f"kept in {sweep_dir}; resume with: nnctl sweep --resume {sweep_dir}"
    )
    assert "01-seed=3: interrupted; its checkpoint is kept for --resume" in err and "Traceback" not in err
    # the final table says what happened to each trial
    lines = out.splitlines()
    assert [line.split()[-1] for line in lines if line.strip()[:1].isdigit()] == ["interrupted", "interrupted", "pending"]
    assert summary(sweep_dir) == {"01-seed=3": "interrupted", "02-seed=4": "interrupted", "03-seed=5": "pending"}
    stopped = {}
    for name in ("01-seed=3", "02-seed=4"):
        trial = sweep_dir / name
        metrics = json.loads((trial / "metrics.json").read_text())
        assert metrics["status"] == "interrupted" and 0 < metrics["iterations"] < ITERATIONS
        assert (trial / "checkpoint.h5").is_file() and (trial / "params.h5").is_file()
        stopped[name] = metrics["iterations"]
    assert not (sweep_dir / "03-seed=5").exists()
    if sig == signal.SIGTERM:
        return  # the resume is the same after either signal; once is enough

    resumed = subprocess.run(
        [sys.executable, "-m", "nnctl", "sweep", "--resume", str(sweep_dir), "--jobs", "2", "-q"], capture_output=True, text=True, timeout=PATIENCE
    )
    assert resumed.returncode == 0, resumed.stderr
    assert summary(sweep_dir) == {"01-seed=3": "completed", "02-seed=4": "completed", "03-seed=5": "completed"}
    for name, at in stopped.items():
        metrics = json.loads((sweep_dir / name / "metrics.json").read_text())
        assert metrics["resumed_from"] == at and metrics["iterations"] == ITERATIONS  # continued, not restarted
        assert not (sweep_dir / name / "checkpoint.h5").exists()
    # bit for bit the parameters of the trial trained alone, without a stop
    alone = train_run(load_config(long_config, ["train.seed=3"]), runs_root=tmp_path / "alone")
    a, _ = load_params(f"{alone.run_dir}/params.h5")
    b, _ = load_params(sweep_dir / "01-seed=3" / "params.h5")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_second_ctrl_c_stops_at_once(tmp_path, long_config):
    long_config.write_text(SPEC.replace(f"iterations: {ITERATIONS}", "iterations: 50000000"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "runs").mkdir()
    proc = start(["sweep", long_config, "--grid", "train.seed=3,4,5", "--jobs", "2", "--runs-dir", tmp_path / "runs", "-q"], tmp_path / "tmp")
    out, err, frozen, free = stop_twice_with_one_worker_frozen(proc, tmp_path / "tmp", tmp_path / "runs")
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert proc.returncode == 130
    # each trial as the signals found it: one training (kept with its checkpoint), one frozen (lost), one not begun
    assert err.splitlines()[-1] == (
        f"Interrupted: SIGINT: sweep interrupted: 0 of 3 trials completed, 1 interrupted with its checkpoint, "
        f"1 stopped at once (its training lost: it starts again), 1 not started; kept in {sweep_dir}; resume with: nnctl sweep --resume {sweep_dir}"
    )
    assert summary(sweep_dir) == {free: "interrupted", frozen: "pending", "03-seed=5": "pending"}


def test_a_second_resume_of_a_running_sweep_is_refused(tmp_path, long_config):
    long_config.write_text(SPEC.replace(f"iterations: {ITERATIONS}", "iterations: 50000000"))
    (tmp_path / "tmp").mkdir()
    proc = start(["sweep", long_config, "--grid", "train.seed=3,4", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q"], tmp_path / "tmp")
    try:
        running_trials(tmp_path / "tmp", proc, ["01-seed=3"])
        sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
        second = subprocess.run([sys.executable, "-m", "nnctl", "sweep", "--resume", str(sweep_dir), "-q"], capture_output=True, text=True, timeout=PATIENCE)
        assert second.returncode == 1
        assert second.stderr == (f"Error: {sweep_dir}: another nnctl sweep is running it now (pid {proc.pid}); wait for it to finish or stop it, then resume\n")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=PATIENCE)
    assert proc.returncode == 130


# A worker process held in its start-up: the executable that spawns it is this script, which waits
# for `go` before it becomes the real Python, so a signal can reach the process group exactly while a
# worker is still starting (as NumPy's import takes a second or two on a loaded machine).
SLOW_START = """#!{python}
import os, sys, time
if "--multiprocessing-fork" in sys.argv:
    open(os.path.join(os.environ["NNCTL_TEST_DIR"], f"starting.{{os.getpid()}}"), "w").close()
    while not os.path.exists(os.path.join(os.environ["NNCTL_TEST_DIR"], "go")):
        time.sleep(0.01)
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""
WITH_SLOW_START = """
import multiprocessing, sys
multiprocessing.set_executable(sys.argv.pop(1))
from nnctl.cli.commands import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_while_workers_are_still_starting_leaves_their_trials_pending_for_resume(tmp_path, long_config, sig, code):
    """Ctrl-C about 2 s into a sweep of 4 trials: the two workers were still importing NumPy, died of the
    KeyboardInterrupt (a traceback on stderr) and their trials were counted failed, "its worker process
    died ... OOM killer", instead of pending."""
    slow = tmp_path / "python-slow-start"
    slow.write_text(SLOW_START.format(python=sys.executable))
    slow.chmod(0o755)
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            WITH_SLOW_START,
            slow,
            "sweep",
            long_config,
            "--grid",
            "train.seed=3,4,5,6",
            "--jobs",
            "2",
            "--runs-dir",
            tmp_path / "runs",
            "-q",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.time() + PATIENCE
        while len(list(tmp_path.glob("starting.*"))) < 2:  # both workers are starting, neither has reached Python
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        os.killpg(proc.pid, sig)  # the parent, its workers, and the processes they start from
    finally:
        (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=PATIENCE)
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert proc.returncode == code, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "died" not in err, err
    assert err.splitlines()[-1].startswith(f"Interrupted: {sig.name}: sweep interrupted: 0 of 4 trials completed"), err
    statuses = summary(sweep_dir)
    assert set(statuses.values()) <= {"pending", "interrupted"}, statuses  # never failed: nothing went wrong
    resumed = subprocess.run(
        [sys.executable, "-m", "nnctl", "sweep", "--resume", str(sweep_dir), "--jobs", "2", "-q"], capture_output=True, text=True, timeout=PATIENCE
    )
    assert resumed.returncode == 0, resumed.stderr
    assert summary(sweep_dir) == {f"0{i}-seed={i + 2}": "completed" for i in range(1, 5)}


# The sweep held in the middle of writing its summary (its accuracy picture waits for `go`), so a
# signal arrives exactly then.
HELD_IN_SUMMARY = """
import os, sys, time
from pathlib import Path
from nnctl.util import plots
from nnctl.cli.commands import main
real = plots.plot_sweep_accuracy
def held(*args, **kwargs):
    Path(os.environ["NNCTL_TEST_DIR"], "in-summary").touch()
    while not Path(os.environ["NNCTL_TEST_DIR"], "go").exists():
        time.sleep(0.01)
    return real(*args, **kwargs)
plots.plot_sweep_accuracy = held
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""
SUMMARY = ("summary.csv", "summary.json", "costs.png", "accuracy.png")


def _held_in_summary(tmp_path, tiny_config, signals):
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_IN_SUMMARY, "sweep", tiny_config, "--grid", "train.seed=3,4", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + PATIENCE
        while not (tmp_path / "in-summary").exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        for sig in signals:
            proc.send_signal(sig)
    finally:
        (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=PATIENCE)
    return proc, out, err, next((tmp_path / "runs").glob("sweep-*"))


def test_sigterm_while_the_summary_is_written_finishes_it_and_says_so(tmp_path, tiny_config):
    """SIGTERM while the summary was written was ignored (exit 0), and one while the table or report was
    written (outside the signal handler) killed the sweep without a word."""
    proc, out, err, sweep_dir = _held_in_summary(tmp_path, tiny_config, [signal.SIGTERM])
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == (
        f"Interrupted: SIGTERM: every trial has run; the trials and the summary are kept in {sweep_dir}; the report was not written: nnctl report {sweep_dir}"
    )
    assert "Traceback" not in err
    assert summary(sweep_dir) == {"01-seed=3": "completed", "02-seed=4": "completed"}  # whole: every file of it
    assert all((sweep_dir / name).is_file() for name in SUMMARY) and not (sweep_dir / "report.html").exists()
    assert not list(sweep_dir.glob(".*.staged"))


def test_a_second_signal_while_the_summary_is_written_leaves_none_and_resume_writes_it(tmp_path, tiny_config):
    proc, out, err, sweep_dir = _held_in_summary(tmp_path, tiny_config, [signal.SIGTERM, signal.SIGINT])
    assert proc.returncode in (130, 143), err  # the first of the two the process took names the exit
    assert re.fullmatch(
        rf"Interrupted: SIG(TERM|INT): stopped while writing the summary: every trial has run and is kept in {re.escape(str(sweep_dir))}; "
        rf"the summary was not written: nnctl sweep --resume {re.escape(str(sweep_dir))} writes it",
        err.splitlines()[-1],
    ), err
    assert "Traceback" not in err
    assert not any((sweep_dir / name).exists() for name in SUMMARY) and not list(sweep_dir.glob(".*.staged"))  # absent, not half
    resumed = subprocess.run(
        [sys.executable, "-m", "nnctl", "sweep", "--resume", str(sweep_dir), "-q", "--no-report"], capture_output=True, text=True, timeout=PATIENCE
    )
    assert resumed.returncode == 0, resumed.stderr
    assert summary(sweep_dir) == {"01-seed=3": "completed", "02-seed=4": "completed"}


# Workers held while they load their data: the executable that spawns each worker is this script,
# which runs the worker's own code with nnctl's data loading wrapped so that it makes `loading.<pid>`
# and then waits for the sweep's stop event (set by the parent on the first signal) before it loads.
# The signal thus reaches the sweep exactly while every trial is loading.
HELD_IN_LOADING = """#!{python}
import os, sys
if "--multiprocessing-fork" in sys.argv:
    i = sys.argv.index("-c") + 1
    sys.argv[i] = '''
import os, time
from pathlib import Path
import nnctl.experiment.run as run
from nnctl.sweep.launchers import trial
real = run._load
def held(*args, **kwargs):
    Path(os.environ["NNCTL_TEST_DIR"], f"loading.{{os.getpid()}}").touch()
    while not (trial._WORKER_STOP is not None and trial._WORKER_STOP.is_set()):
        time.sleep(0.01)
    return real(*args, **kwargs)
run._load = held
''' + sys.argv[i]
os.execv({python!r}, [{python!r}, *sys.argv[1:]])
"""
WITH_EXECUTABLE = """
import multiprocessing, sys
multiprocessing.set_executable(sys.argv.pop(1))
from nnctl.cli.commands import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def test_one_ctrl_c_while_the_trials_load_their_data_says_so_and_keeps_nothing_to_resume(tmp_path, long_config):
    """One Ctrl-C while every trial still loaded its data: each trained one iteration after loading and
    was kept "interrupted with its checkpoint", as if it had been training; the sweep now says they
    were loading and stores nothing for them, so that the resume trains them from the start."""
    exe = tmp_path / "python-held-in-loading"
    exe.write_text(HELD_IN_LOADING.format(python=sys.executable))
    exe.chmod(0o755)
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    args = ["sweep", long_config, "--grid", "train.seed=3,4,5", "--jobs", "2", "--runs-dir", tmp_path / "runs"]
    proc = subprocess.Popen([sys.executable, "-c", WITH_EXECUTABLE, exe, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for(lambda: len(list(tmp_path.glob("loading.*"))) == 2, proc, "two trials loading their data")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=PATIENCE)
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "stopped at once" not in err and "checkpoint" not in err, err
    for name in ("01-seed=3", "02-seed=4"):
        assert f"{name}: stopped while loading its data, before training; nothing to keep, --resume starts it" in err
    assert err.splitlines()[-1] == (
        f"Interrupted: SIGINT: sweep interrupted: 0 of 3 trials completed, 2 stopped while loading their data (nothing trained yet), "
        f"1 not started; kept in {sweep_dir}; resume with: nnctl sweep --resume {sweep_dir}"
    )
    assert summary(sweep_dir) == {"01-seed=3": "pending", "02-seed=4": "pending", "03-seed=5": "pending"}
    assert not [p for p in sweep_dir.iterdir() if p.is_dir()]  # nothing trained, nothing stored: --resume starts them afresh


def _alive(pid: int) -> bool:
    """A process that runs (a zombie left for pid 1 to reap has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_end_when_the_sweep_is_killed_with_sigkill(tmp_path, long_config):
    """kill -9 of the sweep left its --jobs 2 workers running for good (parent pid 1), then blocked
    writing to a pipe nobody read, deaf to SIGTERM and SIGINT. They end with their parent now."""
    long_config.write_text(SPEC.replace(f"iterations: {ITERATIONS}", "iterations: 50000000"))
    (tmp_path / "tmp").mkdir()
    proc = start(["sweep", long_config, "--grid", "train.seed=3,4,5", "--jobs", "2", "--runs-dir", tmp_path / "runs", "-q"], tmp_path / "tmp")
    pids = list(running_trials(tmp_path / "tmp", proc, ["01-seed=3", "02-seed=4"]).values())
    try:
        assert all(_alive(pid) for pid in pids)
        proc.kill()
        proc.wait(timeout=PATIENCE)  # not communicate(): workers left behind would hold its pipes open
        deadline = time.time() + PATIENCE
        while any(_alive(pid) for pid in pids):
            assert time.time() < deadline, f"workers {[p for p in pids if _alive(p)]} outlived their sweep"
            time.sleep(0.02)
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
