"""Issue 20, round 5: run folders that are damaged, dead or not what they seem.

A run is `running` only while a process holds its folder's lock (a pid that is alive but another
program's says nothing); a resume refuses, before training, a run it would leave unusable or whose
files it could not write; a sweep folder is one by what it holds, whatever it is called.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import invoke
from error_cases import finished_sweep, folder_in_place_of, interrupted_run, interrupted_table_run, remove

from nnctl.rundir.runs import list_runs

HOLD = "import fcntl, os, sys\nfd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\nsys.stdin.read()\n"


def _says_running(run: Path, pid, host) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "running", "pid": pid, "host": host}))


def _statuses(run: Path) -> tuple:
    """(the listing's status, runs show's status: the end of its first line) of the one run in run.parent."""
    rows = list_runs(run.parent)
    shown = invoke("runs", "show", run)
    assert shown.exit_code == 0, shown.output
    return rows[0]["status"], shown.stdout.splitlines()[0].split()[-1]


@pytest.mark.slow  # a real second process holds the run's lock
def test_running_is_the_runs_lock_held_not_a_live_pid_or_another_host(tmp_path):
    run = tmp_path / "runs" / "r"
    run.parent.mkdir()
    interrupted_run()(run)
    shutil.copy(tmp_path / "runs" / "train.h5", tmp_path / "train.h5")
    for pid, host in ((1, platform.node()), (1, "another-host"), (None, None)):
        _says_running(run, pid, host)  # pid 1 is alive, and not the trainer; nobody holds the lock
        assert _statuses(run) == ("interrupted", "interrupted")
        result = invoke("evaluate", run, "--data", tmp_path / "train.h5")
        assert result.exit_code == 0 and "being trained by another process" not in result.stderr, result.output

    _says_running(run, 1, platform.node())
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # waits for the lock to be taken, not for a time
        assert _statuses(run) == ("running", "running")
        before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
        for args in (["evaluate", run, "--data", tmp_path / "train.h5"], ["export", "--run", run, "-o", tmp_path / "m.npz"]):
            result = invoke(*args)
            assert result.exit_code == 0 and "Note: the run is being trained by another process now" in result.stderr, result.output
        result = invoke("train", "--resume", run, "-q")
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: {run}: another nnctl process is training this run now (pid 1); wait for it to end (or stop it with Ctrl-C), then resume"
        )
        after = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name in before}
        assert after == before  # the refusal wrote nothing of the run
    finally:
        holder.stdin.close()
        holder.wait()
    assert _statuses(run) == ("interrupted", "interrupted")  # the holder is gone, pid 1 lives on


@pytest.mark.parametrize(
    "make, name",
    [
        (interrupted_table_run(remove("table.json")), "table.json"),
        (interrupted_table_run(folder_in_place_of("table.json")), "table.json"),
        (interrupted_run(folder_in_place_of("costs.png")), "costs.png"),
        (interrupted_run(folder_in_place_of("params.h5")), "params.h5"),
        (interrupted_run(folder_in_place_of("report.html")), "report.html"),
    ],
)
def test_a_resume_refused_before_training_loses_nothing_and_resumes_once_fixed(tmp_path, make, name):
    run = tmp_path / "run"
    make(run)
    files = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    result = invoke("train", "--resume", run, "-q")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {run / name}: ") and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == files  # not a byte changed: no training began
    if name == "table.json":
        return  # not rebuilt: the run is trained again (the message says how)
    shutil.rmtree(run / name)  # the fix the message gives
    result = invoke("train", "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
    assert invoke("evaluate", run, "--data", tmp_path / "train.h5").exit_code == 0


def test_a_table_run_resumed_with_its_table_json_is_usable(tmp_path):
    run = tmp_path / "run"
    interrupted_table_run()(run)
    assert invoke("train", "--resume", run, "-q", "--no-report").exit_code == 0
    result = invoke("predict", "--run", run, tmp_path / "p.csv", "--json")
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 4, result.output


def test_a_renamed_sweep_is_listed_by_what_it_holds(tmp_path):
    finished_sweep()(tmp_path / "sweep-x")
    other = tmp_path / "other"
    other.mkdir()
    (tmp_path / "sweep-x").rename(other / "lr-search")
    want = ["lr-search/01-seed=1", "lr-search/02-seed=2"]
    assert sorted(r["run"] for r in list_runs(other)) == want
    result = invoke("runs", "--runs-dir", other)
    assert result.exit_code == 0 and "2 runs in" in result.stdout and "lr-search/01-seed=1" in result.stdout
    assert invoke("runs", "show", other / "lr-search" / "01-seed=1").exit_code == 0
    # its plan lost: still a sweep by its summary and lock file, never by its name
    (other / "lr-search" / "sweep.json").unlink()
    assert sorted(r["run"] for r in list_runs(other)) == want
    # a folder of runs that is no sweep (a run moved into "archive") is not taken for one
    (other / "lr-search" / "summary.json").unlink()
    (other / "lr-search" / ".lock").unlink()
    assert list_runs(other) == []


def test_a_run_restarted_without_its_reproduce_json_writes_it_again(tmp_path, tiny_config):
    """Told to delete checkpoint.h5 and restart, a run that had lost reproduce.json never wrote it again."""
    from conftest import invoke as _invoke
    from nnctl.experiment.run import train_run as _train_run
    from nnctl.spec.config import load_config as _load_config

    calls: list = []
    run = _train_run(_load_config(tiny_config), runs_root=tmp_path / "runs", should_stop=lambda: calls.append(1) or len(calls) == 3).run_dir
    from pathlib import Path as _Path

    run = _Path(run)
    (run / "reproduce.json").unlink()
    (run / "checkpoint.h5").unlink(missing_ok=True)
    result = _invoke("train", "--resume", run, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((run / "reproduce.json").read_text())["run_id"]
    assert _invoke("evaluate", run).exit_code == 0  # params.h5 is the run's own, by the id reproduce.json records
