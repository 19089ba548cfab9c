"""Nothing lost: real signals sent to a real `nnctl train`, then `--resume`, bit for bit.

The signals go to a real process (`start`, marked slow); the commands around them (the reference
runs, evaluate, the resumes) run in this process (conftest.run_nnctl), as does a crash."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

from conftest import TINY_SPEC, fault_at, run_nnctl, write_course_h5
from nnctl.rundir.runs import list_runs, load_params, load_run

ITERATIONS = 40000
SPEC = TINY_SPEC.replace("iterations: 30", f"iterations: {ITERATIONS}").replace("record_every: 10", "record_every: 1000\n  checkpoint_every: 4000")


def nnctl(*args, cwd=None, env=None):
    """In this process, answered as a subprocess is (conftest.run_nnctl): returncode, stdout, stderr."""
    return run_nnctl(*args, cwd=cwd, env=env)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("signals")
    write_course_h5(d / "train.h5")
    write_course_h5(d / "test.h5", "test", m=6, seed=1)
    (d / "tiny.yaml").write_text(SPEC)
    return d


class _References(dict):
    """Uninterrupted runs, one per first-layer path, each trained when first asked for."""

    def __init__(self, workdir):
        super().__init__()
        self.workdir = workdir

    def __missing__(self, path):
        result = nnctl("train", self.workdir / "tiny.yaml", "-q", "--runs-dir", self.workdir / f"ref-{path}", "--set", f"train.first_layer={path}")
        assert result.returncode == 0, result.stderr
        self[path] = load_params(self.workdir / f"ref-{path}" / "latest" / "params.h5")[0]
        return self[path]


@pytest.fixture(scope="module")
def reference(workdir):
    """Uninterrupted runs to compare resumed runs with: reference["dual"], reference["primal"]."""
    return _References(workdir)


def start(workdir, runs, path, *extra):
    cmd = [sys.executable, "-m", "nnctl", "train", str(workdir / "tiny.yaml"), "-q", "--runs-dir", str(runs), "--set", f"train.first_layer={path}", *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_checkpoint(runs, proc, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = [p for p in runs.glob("*/checkpoint.h5") if not p.parent.is_symlink()]  # not runs/latest
        if found:
            return found[0].parent
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("no checkpoint appeared")


def assert_files_whole(run):
    for p in run.iterdir():
        assert not p.name.startswith("."), f"temporary file left: {p}"
        if p.suffix == ".h5":
            with h5py.File(p) as f:
                list(f.keys())
        elif p.suffix == ".json":
            json.loads(p.read_text())


def assert_same_params(run, ref):
    params, _ = load_params(run / "params.h5")
    assert sorted(params) == sorted(ref)
    for k in ref:
        assert params[k].tobytes() == ref[k].tobytes(), k


def resume(run):
    result = nnctl("train", "--resume", run, "-q")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["iterations"] == ITERATIONS
    assert not (run / "checkpoint.h5").exists()
    return metrics


@pytest.mark.slow  # a real process and a real signal
@pytest.mark.parametrize("sig,code,path", [(signal.SIGINT, 130, "dual"), (signal.SIGTERM, 143, "primal")])
def test_signal_keeps_everything_and_resumes_bit_for_bit(workdir, reference, sig, code, path):
    runs = workdir / f"runs-{sig.name}"
    proc = start(workdir, runs, path)
    run = wait_for_checkpoint(runs, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert f"resume with: nnctl train --resume {run}" in err and "Traceback" not in err
    assert err.startswith(f"Interrupted: {sig.name} at iteration ")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 0 < metrics["iterations"] < ITERATIONS
    assert_files_whole(run)
    costs = (run / "costs.csv").read_text().splitlines()
    assert costs[0] == "iteration,cost,train_accuracy" and len(costs) >= 2
    # predict and evaluate on the unfinished run say so
    evaluated = nnctl("evaluate", run)
    assert evaluated.returncode == 0 and evaluated.stderr.startswith("Note: unfinished run (interrupted at iteration")
    after = resume(run)
    assert after["resumed_from"] == metrics["iterations"]
    assert_same_params(run, reference[path])
    assert (run / "costs.csv").read_text().splitlines()[: len(costs)] == costs  # the curve continues


@pytest.mark.slow  # a real process killed
def test_kill_9_resumes_from_last_checkpoint(workdir, reference):
    runs = workdir / "runs-kill"
    proc = start(workdir, runs, "dual")
    run = wait_for_checkpoint(runs, proc)
    proc.kill()
    proc.communicate()
    assert json.loads((run / "metrics.json").read_text())["status"] == "running"
    assert [r["status"] for r in list_runs(runs)] == ["interrupted"]  # its process is gone
    assert not (run / "params.h5").exists()
    unfinished = load_run(run)
    assert unfinished.note.startswith("unfinished run (interrupted): using its last checkpoint, iteration ")
    assert_files_whole(run)
    resume(run)
    assert_same_params(run, reference["dual"])


@pytest.mark.slow  # a real process and real signals
def test_second_ctrl_c_stops_at_once_files_whole(workdir, reference):
    runs = workdir / "runs-twice"
    proc = start(workdir, runs, "dual", "--set", "train.checkpoint_every=500")
    run = wait_for_checkpoint(runs, proc)
    proc.send_signal(signal.SIGINT)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err
    assert_files_whole(run)
    result = nnctl("train", "--resume", run, "-q")
    assert result.returncode == 0, result.stderr
    assert_same_params(run, reference["dual"])


def test_crash_resumes_bit_for_bit(workdir, reference, monkeypatch):
    """A bug raised at step 9000 (conftest.fault_at, in this process): the traceback is kept and
    so is the checkpoint, from which the run resumes to the uninterrupted run's parameters."""
    want = reference["dual"]
    calls = fault_at(monkeypatch, 9000, RuntimeError("simulated bug"))
    runs = workdir / "runs-crash"
    result = nnctl("train", workdir / "tiny.yaml", "-q", "--runs-dir", runs)
    monkeypatch.undo()
    assert calls[0] == 9000
    assert result.returncode == 1 and "RuntimeError: simulated bug" in result.stderr  # a bug keeps its traceback
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert (run / "checkpoint.h5").exists() and not (run / "params.h5").exists()
    resume(run)
    assert_same_params(run, want)


@pytest.mark.slow  # a real process killed
def test_resume_refuses_finished_and_changed_data(workdir, reference):
    done = workdir / "ref-dual" / "latest"
    result = nnctl("train", "--resume", done)
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: {done.parent / os.readlink(done)}: the run already completed; nothing to resume"
    # a killed run whose training file changed afterwards
    d = workdir / "changed"
    d.mkdir()
    write_course_h5(d / "train.h5")
    write_course_h5(d / "test.h5", "test", m=6, seed=1)
    (d / "tiny.yaml").write_text(SPEC)
    proc = start(d, d / "runs", "dual")
    run = wait_for_checkpoint(d / "runs", proc)
    proc.kill()
    proc.communicate()
    write_course_h5(d / "train.h5", seed=5)
    result = nnctl("train", "--resume", run)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"Error: {d / 'train.h5'}: the training data file changed since the run began (its SHA-256 differs from the one in "
        f"{run / 'reproduce.json'}); resuming would train on other data: put the file back as it was, or start a new run on it: "
        f"nnctl train {run / 'config.resolved.yaml'}"
    )


@pytest.mark.slow  # a real process killed
def test_kill_9_then_resume_runs_latest_resumes_the_killed_run(workdir, reference):
    """`latest` points at a run from the moment its directory is made: after a kill -9 (no ending
    code runs) `--resume runs/latest` is that run, not an older completed one."""
    runs = workdir / "runs-kill-latest"
    done = nnctl("train", workdir / "tiny.yaml", "-q", "--runs-dir", runs, "--set", "train.iterations=50")
    assert done.returncode == 0, done.stderr
    older = (runs / "latest").resolve()
    proc = start(workdir, runs, "dual")
    run = wait_for_checkpoint(runs, proc)
    proc.kill()
    proc.communicate()
    assert (runs / "latest").resolve() == run.resolve() != older
    result = nnctl("train", "--resume", runs / "latest", "-q")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["iterations"] == ITERATIONS and metrics["resumed_from"] > 0
    assert_same_params(run, reference["dual"])
    assert (runs / "latest").resolve() == run.resolve()
    assert json.loads((older / "metrics.json").read_text())["iterations"] == 50  # the older run untouched


HELD_IN_REPORT = """
import os, sys, time
from pathlib import Path
from nnctl.report import page as report
from nnctl.cli.commands import main
real = report.write_report
def held(*args, **kwargs):
    Path(os.environ["NNCTL_TEST_DIR"], "in-report").touch()
    while not Path(os.environ["NNCTL_TEST_DIR"], "go").exists():
        time.sleep(0.01)
    return real(*args, **kwargs)
report.write_report = held
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


@pytest.mark.slow  # a real process and a real signal
def test_sigterm_while_the_report_is_written_ends_with_a_message(tmp_path, tiny_config):
    """After training, outside the signal handler, SIGTERM killed `nnctl train` without a word."""
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_IN_REPORT, "train", tiny_config, "-q", "--runs-dir", tmp_path / "runs"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.time() + 600
        while not (tmp_path / "in-report").exists():
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
    finally:
        (tmp_path / "go").touch()
    out, err = proc.communicate(timeout=600)
    run = next(p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.is_symlink())
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == f"Interrupted: SIGTERM after training: the run is kept in {run} (status: completed)"
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed" and "Traceback" not in err


@pytest.mark.parametrize(
    "settings, stop_after, shown",
    [
        (["train.iterations=5000", "train.record_every=1000"], 1700, " (at iteration 1000)"),
        (["train.iterations=null", "train.epochs=20", "train.batch_size=5", "train.record_every=2"], 7, " (epoch 0's mean)"),
    ],
)
def test_an_interrupted_runs_final_cost_says_when_it_was_recorded(tmp_path, tiny_config, settings, stop_after, shown):
    """Stopped at iteration 1701, metrics.json gave as final_cost the cost recorded at iteration 1000, saying nothing of when."""
    from nnctl.spec.config import load_config
    from nnctl.cli.display import summary_table
    from nnctl.experiment.run import train_run
    from nnctl.rundir.runs import read_costs_csv
    from rich.console import Console

    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] > stop_after

    summary = train_run(load_config(tiny_config, settings), runs_root=tmp_path / "runs", should_stop=stop)
    metrics = json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())
    rows = (tmp_path / "runs" / "latest" / "costs.csv").read_text().splitlines()
    last = dict(zip(rows[0].split(","), map(float, rows[-1].split(","))))
    assert metrics["status"] == "interrupted" and metrics["iterations"] > metrics["final_cost_iteration"]
    assert metrics["final_cost"] == last["cost"] == read_costs_csv(tmp_path / "runs" / "latest" / "costs.csv")[-1][1]
    assert metrics["final_cost_iteration"] == last["iteration"]
    assert metrics["final_cost_epoch"] == last.get("epoch", last["iteration"])
    console = Console(width=100, record=True)
    console.print(summary_table(summary))
    assert f"final cost     │ {metrics['final_cost']:.6f}{shown}" in console.export_text()


def test_a_completed_runs_final_cost_is_its_last_epochs(tmp_path, tiny_config):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    train_run(load_config(tiny_config), runs_root=tmp_path / "runs")
    metrics = json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())
    assert (metrics["final_cost_iteration"], metrics["final_cost_epoch"], metrics["iterations"]) == (29, 29, 30)  # the cost before the last step
