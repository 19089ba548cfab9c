"""Run integrity, provoked for real: one process per run (a lock), hard stops that keep the run
(a second Ctrl-C, out of memory, a full disk), training that got worse, degenerate models.

Files read back from a run directory are checked in tests/error_cases.py (`# --- run integrity ---`).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import write_course_h5
from test_interrupt import SPEC, assert_files_whole, nnctl, start, wait_for_checkpoint


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("integrity")
    write_course_h5(d / "train.h5")
    write_course_h5(d / "test.h5", "test", m=6, seed=1)
    (d / "tiny.yaml").write_text(SPEC)
    return d


def killed_run(workdir, name):
    """A run killed with kill -9 after its first checkpoint: metrics.json still says `running`."""
    runs = workdir / name
    proc = start(workdir, runs, "primal")
    run = wait_for_checkpoint(runs, proc)
    proc.kill()
    proc.communicate()
    assert json.loads((run / "metrics.json").read_text())["status"] == "running"
    return run


def resume_proc(run):
    return subprocess.Popen([sys.executable, "-m", "nnctl", "train", "--resume", str(run), "-q", "--no-report"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_until_training(run, proc, timeout=60):
    """Until `proc` has written its pid into metrics.json (it holds the lock from before that)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if json.loads((run / "metrics.json").read_text()).get("pid") == proc.pid:
                return
        except ValueError:
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.01)
    raise AssertionError("the resume never started training")


LOCKED = "another nnctl process is training this run now (pid {pid}); wait for it to end (or stop it with Ctrl-C), then resume"


def test_two_resumes_at_once_one_refuses(workdir):
    run = killed_run(workdir, "runs-two")
    # started together: both read `running` of a dead process; only the lock tells them apart
    first, second = resume_proc(run), resume_proc(run)
    deadline = time.time() + 60
    while first.poll() is None and second.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    refused, going = (first, second) if first.poll() is not None else (second, first)
    err = refused.communicate()[1]
    assert refused.returncode == 1 and "Traceback" not in err, err
    assert re.fullmatch(rf"Error: {re.escape(str(run))}: another nnctl process is training this run now( \(pid \d+\))?; wait for it "
                        r"to end \(or stop it with Ctrl-C\), then resume\n", err), err
    going.send_signal(signal.SIGINT)
    out, err = going.communicate(timeout=60)
    assert going.returncode in (0, 130), err
    assert_files_whole(run)


def test_resume_of_a_run_still_training_refuses(workdir):
    runs = workdir / "runs-busy"
    proc = start(workdir, runs, "primal")
    run = wait_for_checkpoint(runs, proc)
    result = nnctl("train", "--resume", run, "-q")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert result.returncode == 1
    assert result.stderr == f"Error: {run}: " + LOCKED.format(pid=proc.pid) + "\n"
    # the lock dies with its process, however it ends: kill -9, then a resume takes it
    killed = killed_run(workdir, "runs-busy-killed")
    again = resume_proc(killed)
    wait_until_training(killed, again)
    again.send_signal(signal.SIGINT)
    out, err = again.communicate(timeout=60)
    assert again.returncode == 130 and f"resume with: nnctl train --resume {killed}" in err


def test_killed_before_any_checkpoint_resumes_from_the_start(workdir):
    runs = workdir / "runs-early"
    proc = start(workdir, runs, "primal", "--set", "train.checkpoint_every=1000000")
    deadline = time.time() + 60
    while not list(runs.glob("*/metrics.json")) and time.time() < deadline:
        time.sleep(0.01)
    proc.kill()
    proc.communicate()
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert not (run / "checkpoint.h5").exists()
    result = nnctl("train", "--resume", run, "-q", "--no-report")
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


def test_double_ctrl_c_marks_interrupted_and_time_adds_up(workdir):
    runs = workdir / "runs-double"
    proc = start(workdir, runs, "dual", "--set", "train.checkpoint_every=500")
    run = wait_for_checkpoint(runs, proc)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.02)  # two signals at once would reach Python as one
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.endswith(f"resume with: nnctl train --resume {run}\n"), err
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted", metrics
    assert_files_whole(run)
    before = sum(metrics["sessions"])
    result = nnctl("train", "--resume", run, "--no-report")
    assert result.returncode == 0, result.stderr
    after = json.loads((run / "metrics.json").read_text())
    assert len(after["sessions"]) == 2 and after["seconds"] == pytest.approx(sum(after["sessions"]), abs=1e-5)
    assert after["sessions"][0] == pytest.approx(before, abs=1e-5) or before == 0
    a, b = after["sessions"]
    assert f"{a + b:.2f} s ({a:.2f} s + {b:.2f} s after resume)" in result.stdout.replace("\n", " ") or \
        f"({a:.2f} s + {b:.2f} s after resume)" in result.stdout


FAULT = """
import sys
from nnctl import training
from nnctl.cli import main
real = training.Trainer.backward_and_update
calls = [0]
def faulty(self):
    calls[0] += 1
    if calls[0] == 9000:
        raise {exc}
    return real(self)
training.Trainer.backward_and_update = faulty
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


@pytest.fixture(scope="module")
def reference(workdir):
    result = nnctl("train", workdir / "tiny.yaml", "-q", "--no-report", "--runs-dir", workdir / "ref", "--set", "train.first_layer=dual")
    assert result.returncode == 0, result.stderr
    return workdir / "ref" / "latest" / "params.h5"


@pytest.mark.parametrize("exc,code,said", [
    ("KeyboardInterrupt", 130, "Interrupted: SIGINT twice: stopped at once at iteration 8999; "),
    ("MemoryError", 1, "Error: out of memory at iteration 8999 ("),
])
def test_hard_stop_mid_step_keeps_the_run(workdir, reference, exc, code, said):
    """A second Ctrl-C or a MemoryError in the middle of an update: the state in memory is half
    written, so the run falls back to its last checkpoint, says so, and resumes bit for bit."""
    from nnctl.runs import load_params

    runs = workdir / f"runs-{exc}"
    result = subprocess.run([sys.executable, "-c", FAULT.format(exc=exc), "train", str(workdir / "tiny.yaml"), "-q", "--no-report",
                             "--runs-dir", str(runs)], capture_output=True, text=True)
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(said), result.stderr
    assert result.stderr.endswith(f"the run is kept in {run} with its last checkpoint (iteration 8000); "
                                  + ("" if code == 130 else "free memory, or use train.dtype: float32 or smaller layers in a new run; to go on: ")
                                  + f"resume with: nnctl train --resume {run}\n"), result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["iterations"] == 8000
    assert_files_whole(run)
    resumed = nnctl("train", "--resume", run, "-q", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    ref, _ = load_params(reference)
    got, _ = load_params(run / "params.h5")
    assert all(got[k].tobytes() == ref[k].tobytes() for k in ref)


FULL_SPEC = """\
name: full
data: {train: 'builtin:planar'}
model: {layers: [2, 200, 200, 1]}
train: {learning_rate: 0.01, iterations: 3000, record_every: 100, checkpoint_every: 50}
"""


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MiB filesystem (tmpfs), to fill up under a running training."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the full-disk test runs where the suite runs as root (CI)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the full-disk test needs one")
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_full_disk_at_a_checkpoint_keeps_the_run_whole(tmp_path, small_disk):
    (tmp_path / "full.yaml").write_text(FULL_SPEC)
    runs = small_disk / "runs"
    proc = subprocess.Popen([sys.executable, "-m", "nnctl", "train", str(tmp_path / "full.yaml"), "-q", "--no-report", "--runs-dir", str(runs)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = wait_for_checkpoint(runs, proc)
    filler = small_disk / "filler"
    with open(filler, "wb") as f:  # another program takes the rest of the disk
        with pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1 and "Traceback" not in err, err
    assert re.fullmatch(
        rf"Error: {re.escape(str(run))}/\S+: cannot be written \(No space left on device\) at iteration \d+; the run is kept in "
        rf"{re.escape(str(run))} with its last checkpoint \(iteration \d+\); free some space on that disk, then resume with: "
        rf"nnctl train --resume {re.escape(str(run))}\n", err), err
    assert_files_whole(run)  # no half file, no temporary left behind
    listed = nnctl("runs", "--runs-dir", runs, "--json")
    assert json.loads(listed.stdout.splitlines()[0])["status"] == "interrupted"
    still_full = nnctl("train", "--resume", run, "-q", "--no-report")
    assert still_full.returncode == 1 and still_full.stderr.endswith("is free on that disk; free some space there, then resume\n"), still_full.stderr
    filler.unlink()  # space is back
    resumed = nnctl("train", "--resume", run, "-q", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["iterations"] == 3000


BIG_SPEC = "name: big\ndata: {train: 'builtin:planar?m=200000'}\nmodel: {hidden: [2000]}\ntrain: {learning_rate: 0.1, iterations: 10}\n"


def test_too_big_for_the_process_memory_limit_is_refused_with_numbers(tmp_path):
    import resource

    (tmp_path / "big.yaml").write_text(BIG_SPEC)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # ulimit -v 2097152

    result = subprocess.run([sys.executable, "-m", "nnctl", "train", str(tmp_path / "big.yaml"), "-q", "--runs-dir", str(tmp_path / "runs")],
                            preexec_fn=limit, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(r"Error: the network's arrays need about 6\.0 GiB \(parameters and gradients: 125\.0 KiB, activations and dZ: "
                        r"6\.0 GiB\) but only 1\.\d GiB of memory is available; use train\.dtype: float32, fewer examples or smaller layers\n",
                        result.stderr), result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # refused before anything is written
