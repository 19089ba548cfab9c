"""Run integrity, provoked for real: one process per run (a lock), hard stops that keep the run
(a second Ctrl-C, out of memory, a full disk), training that got worse, degenerate models.

Real processes, locks held across them, signals, a filled tmpfs and an address-space limit are the
slow tests; a fault raised mid-step (conftest.fault_at) and every command run in this process.

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

import numpy as np
import pytest

from conftest import fault_at, write_course_h5
from test_interrupt import ITERATIONS, SPEC, assert_files_whole, nnctl, start, wait_for_checkpoint


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("integrity")
    write_course_h5(d / "train.h5")
    write_course_h5(d / "test.h5", "test", m=6, seed=1)
    (d / "tiny.yaml").write_text(SPEC)
    # the hard stops in this process: a tenth of SPEC's steps, checkpointed every 400
    (d / "quick.yaml").write_text(SPEC.replace(f"iterations: {ITERATIONS}", "iterations: 4000").replace("checkpoint_every: 4000", "checkpoint_every: 400"))
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
    return subprocess.Popen(
        [sys.executable, "-m", "nnctl", "train", "--resume", str(run), "-q", "--no-report"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


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


@pytest.mark.slow  # two real processes and the lock between them
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
    assert re.fullmatch(
        rf"Error: {re.escape(str(run))}: another nnctl process is training this run now( \(pid \d+\))?; wait for it "
        r"to end \(or stop it with Ctrl-C\), then resume\n",
        err,
    ), err
    going.send_signal(signal.SIGINT)
    out, err = going.communicate(timeout=60)
    assert going.returncode in (0, 130), err
    assert_files_whole(run)


@pytest.mark.slow  # real processes: one trains, one is killed
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


@pytest.mark.slow  # a real process killed
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


@pytest.mark.slow  # a real process and real signals
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
    assert f"{a + b:.2f} s ({a:.2f} s + {b:.2f} s after resume)" in result.stdout.replace("\n", " ") or f"({a:.2f} s + {b:.2f} s after resume)" in result.stdout


@pytest.fixture(scope="module")
def reference(workdir):
    result = nnctl("train", workdir / "quick.yaml", "-q", "--no-report", "--runs-dir", workdir / "ref", "--set", "train.first_layer=dual")
    assert result.returncode == 0, result.stderr
    return workdir / "ref" / "latest" / "params.h5"


@pytest.mark.parametrize(
    "exc,code,said",
    [
        (KeyboardInterrupt, 130, "Interrupted: SIGINT twice: stopped at once at iteration 899; "),
        (MemoryError, 1, "Error: out of memory at iteration 899 ("),
    ],
)
def test_hard_stop_mid_step_keeps_the_run(workdir, reference, monkeypatch, exc, code, said):
    """A second Ctrl-C or a MemoryError in the middle of an update (at step 900): the state in memory
    is half written, so the run falls back to its last checkpoint, says so, and resumes bit for bit."""
    from nnctl.rundir.runs import load_params

    runs = workdir / f"runs-{exc.__name__}"
    fault_at(monkeypatch, 900, exc())
    result = nnctl("train", workdir / "quick.yaml", "-q", "--no-report", "--runs-dir", runs)
    monkeypatch.undo()
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert result.returncode == code and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith(said), result.stderr
    assert result.stderr.endswith(
        f"the run is kept in {run} with its last checkpoint (iteration 800); "
        + ("" if code == 130 else "free memory, or use train.dtype: float32 or smaller layers in a new run; to go on: ")
        + f"resume with: nnctl train --resume {run}\n"
    ), result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["iterations"] == 800
    assert_files_whole(run)
    resumed = nnctl("train", "--resume", run, "-q", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    ref, _ = load_params(reference)
    got, _ = load_params(run / "params.h5")
    assert all(got[k].tobytes() == ref[k].tobytes() for k in ref)


@pytest.mark.parametrize(
    "damage, said",
    [
        ('{"status": "inter', "cannot be read (Unterminated string starting at: line 1 column 12 (char 11))"),
        ("[1, 2]", "holds a list, not the JSON object nnctl writes"),
        ('{"status": 5}', "status: expected one of running, completed, interrupted, diverged (got 5)"),
    ],
)
def test_a_damaged_metrics_json_is_written_anew_by_the_resume(workdir, reference, monkeypatch, damage, said):
    """`--resume` of an interrupted run whose checkpoint is intact refused: `metrics.json: cannot be read (Unterminated string...)`."""
    from nnctl.rundir.runs import load_params

    runs = workdir / f"runs-damaged-{len(damage)}"
    fault_at(monkeypatch, 900, KeyboardInterrupt())
    stopped = nnctl("train", workdir / "quick.yaml", "-q", "--no-report", "--runs-dir", runs)
    monkeypatch.undo()
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert stopped.returncode == 130 and (run / "checkpoint.h5").exists(), stopped.stderr
    (run / "metrics.json").write_text(damage)
    if not said.startswith("status"):  # evaluate: the fix (a status nnctl never writes has its own, tests/error_cases.py)
        evaluated = nnctl("evaluate", run)
        assert evaluated.returncode == 1 and evaluated.stderr.endswith(
            f"; the file is damaged: resume the unfinished run (nnctl train --resume {run}), which writes it anew\n"
        ), evaluated.stderr
    resumed = nnctl("train", "--resume", run, "-q", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    note = f"metrics.json was damaged ({said}); resumed from its checkpoint (checkpoint.h5), which holds all a resume needs, and metrics.json written anew"
    assert f"Note: {note}" in " ".join(resumed.stdout.split())
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["resumed_from"] == 800 and metrics["notes"] == [note]
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


@pytest.mark.slow  # a real filesystem filled while another process trains
def test_full_disk_at_a_checkpoint_keeps_the_run_whole(tmp_path, small_disk):
    (tmp_path / "full.yaml").write_text(FULL_SPEC)
    runs = small_disk / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnctl", "train", str(tmp_path / "full.yaml"), "-q", "--no-report", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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
        rf"nnctl train --resume {re.escape(str(run))}\n",
        err,
    ), err
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


def test_no_space_at_a_checkpoint_keeps_the_run_whole(tmp_path, monkeypatch):
    """The full disk of the test above, in this process: the third checkpoint's write fails with ENOSPC
    after its temporary file is begun. The same message, no temporary left, and the resume completes."""
    import errno

    from nnctl.rundir import checkpoint
    from nnctl.util.atomic import atomic_path

    real, calls = checkpoint.save_arrays, [0]

    def no_space(path, *args, **kwargs):
        calls[0] += 1
        if calls[0] < 3:
            return real(path, *args, **kwargs)
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"\0" * 4096)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp))

    (tmp_path / "full.yaml").write_text(FULL_SPEC.replace("[2, 200, 200, 1]", "[2, 8, 1]").replace("iterations: 3000", "iterations: 300"))
    runs = tmp_path / "runs"
    monkeypatch.setattr(checkpoint, "save_arrays", no_space)
    result = nnctl("train", tmp_path / "full.yaml", "-q", "--no-report", "--runs-dir", runs)
    monkeypatch.undo()
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr == (
        f"Error: {run}/checkpoint.h5: cannot be written (No space left on device) at iteration 150; the run is kept in "
        f"{run} with its last checkpoint (iteration 100); free some space on that disk, then resume with: nnctl train --resume {run}\n"
    )
    assert_files_whole(run)  # no half file, no temporary left behind
    listed = nnctl("runs", "--runs-dir", runs, "--json")
    assert json.loads(listed.stdout.splitlines()[0])["status"] == "interrupted"
    resumed = nnctl("train", "--resume", run, "-q", "--no-report")
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["iterations"] == 300


BIG_SPEC = "name: big\ndata: {train: 'builtin:planar?m=200000'}\nmodel: {hidden: [2000]}\ntrain: {learning_rate: 0.1, iterations: 10}\n"


@pytest.mark.slow  # a fresh process under an address-space limit
def test_too_big_for_the_process_memory_limit_is_refused_with_numbers(tmp_path):
    import resource

    (tmp_path / "big.yaml").write_text(BIG_SPEC)

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # ulimit -v 2097152

    result = subprocess.run(
        [sys.executable, "-m", "nnctl", "train", str(tmp_path / "big.yaml"), "-q", "--runs-dir", str(tmp_path / "runs")],
        preexec_fn=limit,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(
        r"Error: the network's arrays need about 11\.9 GiB \(parameters and gradients: 125\.0 KiB, initial parameters and their draw: "
        r"125\.0 KiB, activations and dZ: 6\.0 GiB, end-of-run forward pass: 6\.0 GiB\) but only 1\.\d GiB of memory is available; use train\.dtype: float32, fewer examples or smaller layers\n",
        result.stderr,
    ), result.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())  # refused before anything is written


# ---------------------------------------------------------------- training that got worse; degenerate models

from conftest import CAT_TRAIN, needs_cat_data  # noqa: E402
from nnctl.core.stopping import worsened  # noqa: E402


def test_worsened_compares_smoothed_windows():
    rng = np.random.default_rng(0)
    epochs = range(0, 10000, 100)
    falling = [0.7 * np.exp(-e / 3000) + 0.1 for e in epochs]
    noisy = [c * (1 + 0.08 * rng.standard_normal()) for c in falling]  # mini-batch costs: noisy, still falling
    assert worsened(list(zip(epochs, falling))) is None
    assert worsened(list(zip(epochs, noisy))) is None
    bump = list(falling)
    bump[77] *= 1.5  # a short rise in a chaotic phase, then down again (the flower near 7700)
    assert worsened(list(zip(epochs, bump))) is None
    flat = [0.69 + 0.01 * rng.standard_normal() for _ in epochs]  # a learning rate too small to move: not worse
    assert worsened(list(zip(epochs, flat))) is None
    up = [0.771749, 13.44, 10.46] + [9.9] * 22 + [9.871814]  # cat-deep at learning_rate 75
    assert worsened(list(enumerate(up))) == "the cost rose from 0.771749 at the start to 9.871814 at the end"
    climb = falling[:60] + [falling[59] * (1 + 0.05 * k) for k in range(1, 41)]  # good, then climbing to the end
    assert worsened(list(zip(epochs, climb))).startswith(f"the cost fell to {min(climb):.6f}, then rose to ")


def test_worsened_compares_the_two_costs_of_a_short_run():
    """A run of iterations <= record_every records two costs, its first and its last: compared too."""
    assert worsened([(0, 0.693048), (499, 226.488168)]) == "the cost rose from 0.693048 at the start to 226.488168 at the end"
    assert worsened([(0, 0.693048), (499, 0.70)]) is None  # within RISE
    assert worsened([(0, 0.693048), (499, 0.25)]) is None
    assert worsened([(0, 0.693048)]) is None


def test_blown_up_parameters_are_past_the_square_root_of_the_largest_float():
    from nnctl.core.stopping import blown_up

    assert blown_up(4.49e297, np.float64).startswith("the parameters grew to 4.49e+297 in magnitude, past 1.34e+154 (the square root of float64's")
    assert blown_up(2e19, np.float32).startswith("the parameters grew to 2e+19 in magnitude, past 1.84e+19 (the square root of float32's")
    assert blown_up(float("nan"), np.float64) == blown_up(float("inf"), np.float64) == "the parameters are no longer finite after the last update"
    assert blown_up(1e150, np.float64) is None and blown_up(1e18, np.float32) is None


PLANAR_SPEC = (
    "name: flower\ndata: {train: 'builtin:planar'}\nmodel: {hidden: [4], hidden_activation: tanh, output_activation: sigmoid, "
    "init: normal, init_scale: 0.01, init_rng: legacy}\ntrain: {learning_rate: 1.2, iterations: 500, seed: 2, record_every: 1000}\n"
)


@pytest.mark.parametrize(
    "settings, said",
    [
        # record_every 1000 > iterations: two costs recorded, too few for the windows it took before
        (["train.learning_rate=1000"], r"the cost rose from 0\.693048 at the start to \d+\.\d{6} at the end, with learning_rate=1000"),
        # one iteration: one cost; the parameters say it
        (
            ["train.learning_rate=1e300", "train.iterations=1"],
            r"the parameters grew to 4\.\d+e\+297 in magnitude, past 1\.34e\+154 .*, with learning_rate=1e\+300",
        ),
        (
            ["train.learning_rate=1e300", "train.iterations=50"],
            r"the cost rose from 0\.693048 at the start to 1\.\d+e\+299 at the end, with learning_rate=1e\+300",
        ),
    ],
)
def test_a_short_run_that_blew_up_is_diverged_whatever_record_every(tmp_path, settings, said):
    """lr 1000 for 500 iterations ended at cost 226 (51% accuracy) and lr 1e300 with parameters of 1e299, both `completed`, exit 0."""
    (tmp_path / "flower.yaml").write_text(PLANAR_SPEC)
    runs = tmp_path / "runs"
    result = nnctl("train", tmp_path / "flower.yaml", "-q", "--no-report", "--runs-dir", runs, *[a for x in settings for a in ("--set", x)])
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(rf"Error: training diverged: {said}; try a smaller learning_rate\. Run kept at .* \(status: diverged\)\n", result.stderr), result.stderr
    assert json.loads((runs / "latest" / "metrics.json").read_text())["status"] == "diverged"


@pytest.mark.parametrize(
    "settings",
    [
        ["train.iterations=1"],
        ["train.iterations=2"],
        ["train.iterations=500"],
        ["train.iterations=null", "train.epochs=2", "train.batch_size=64", "train.optimizer=adam", "train.learning_rate=0.01"],
    ],
)
def test_a_short_legitimate_run_is_completed(tmp_path, settings):
    (tmp_path / "flower.yaml").write_text(PLANAR_SPEC)
    result = nnctl("train", tmp_path / "flower.yaml", "-q", "--no-report", "--runs-dir", tmp_path / "runs", *[a for x in settings for a in ("--set", x)])
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())["status"] == "completed"


DEEP_SPEC = (
    "name: deep\ndata: {train: 'builtin:planar'}\nmodel: {hidden: [20, 7, 5], hidden_activation: relu, init: he}\n"
    "train: {learning_rate: 30, iterations: 300, record_every: 10}\n"
)


def test_a_cost_that_rose_is_diverged_with_parameters_kept(tmp_path):
    (tmp_path / "deep.yaml").write_text(DEEP_SPEC)
    runs = tmp_path / "runs"
    result = nnctl("train", tmp_path / "deep.yaml", "-q", "--no-report", "--runs-dir", runs)
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
    assert re.fullmatch(
        rf"Error: training diverged: the cost rose from 0\.\d{{6}} at the start to \d+\.\d{{6}} at the end, with "
        rf"learning_rate=30; try a smaller learning_rate\. Run kept at {re.escape(str(run))} \(status: diverged\)\n",
        result.stderr,
    ), result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and (run / "params.h5").exists()
    (warning,) = metrics["warnings"]
    assert re.fullmatch(
        r"the model gives one output, \S+, for every training example: every ReLU unit of hidden layer \d \(\d+ units\) "
        r"outputs 0 for every example \(dead\).*; likely cause: learning_rate=30 is too large: try a smaller one",
        warning,
    ), warning
    listed = nnctl("runs", "--runs-dir", runs, env={**os.environ, "COLUMNS": "200"})
    assert "diverged*" in listed.stdout and f"{run.name}: {warning}" in " ".join(listed.stdout.split())


@pytest.mark.slow  # a course config trained to divergence (test_a_cost_that_rose_is_diverged_with_parameters_kept: the same in miniature)
@needs_cat_data
def test_cat_deep_at_learning_rate_75_is_diverged(tmp_path):
    from conftest import REPO

    result = nnctl(
        "train",
        REPO / "configs" / "cat-deep.yaml",
        "-q",
        "--no-report",
        "--runs-dir",
        tmp_path / "runs",
        "--set",
        "train.learning_rate=75",
        "--set",
        f"data.train={CAT_TRAIN}",
        "--set",
        f"data.test={CAT_TRAIN.with_name('test_catvnoncat.h5')}",
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("Error: training diverged: the cost rose from 0.771749 at the start to "), result.stderr
    assert "with learning_rate=75; try a smaller learning_rate" in result.stderr


def _plain(path, x, y, classes=None):
    import h5py

    with h5py.File(path, "w") as f:
        f["x"], f["y"] = x, y
        if classes:
            f["classes"] = np.array([c.encode() for c in classes])


def test_degenerate_models_are_said_everywhere(tmp_path):
    rng = np.random.default_rng(0)
    m = 200
    _plain(tmp_path / "maj.h5", rng.normal(size=(m, 3)) * 0.01, (np.arange(m) % 4 == 0).astype(np.int64), ["no", "yes"])
    _plain(tmp_path / "reg.h5", rng.normal(size=(m, 3)), rng.normal(size=m))
    (tmp_path / "maj.yaml").write_text("name: maj\ndata: {train: maj.h5, normalize: none}\nmodel: {hidden: []}\ntrain: {learning_rate: 0.5, iterations: 300}\n")
    (tmp_path / "reg.yaml").write_text(
        "name: reg\ndata: {train: reg.h5}\nmodel: {hidden: [4], output_activation: linear, loss: mse}\ntrain: {learning_rate: 0.01, iterations: 200}\n"
    )
    runs = tmp_path / "runs"
    said = {
        "maj": "the model predicts only no (the majority class, label 0, 75.0% of the training examples) for every training example; "
        "likely cause: learning_rate=0.5 too large or too small, or too few iterations",
        "reg": re.compile(
            r"the model does no better than predicting the mean of the targets \(R² = 0\.0\d\d on the training examples\); "
            r"likely cause: learning_rate=0\.01 too large or too small, or too few iterations"
        ),
    }
    for name, want in said.items():
        result = nnctl("train", tmp_path / f"{name}.yaml", "--no-report", "--runs-dir", runs)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
        (warning,) = json.loads((runs / "latest" / "metrics.json").read_text())["warnings"]
        assert want.fullmatch(warning) if isinstance(want, re.Pattern) else warning == want, warning
        assert result.stderr.endswith(f"\nWarning: {warning}\n")  # under the summary
    listed = nnctl("runs", "--runs-dir", runs, env={**os.environ, "COLUMNS": "80"})
    assert listed.stdout.count("completed*") == 2 and "* a degenerate model (2 of 2 runs):" in listed.stdout
    rows = [json.loads(line) for line in nnctl("runs", "--runs-dir", runs, "--json").stdout.splitlines()]
    assert [len(r["warnings"]) for r in rows] == [1, 1]
    # a healthy run has none
    healthy = nnctl(
        "train",
        tmp_path / "maj.yaml",
        "-q",
        "--no-report",
        "--runs-dir",
        tmp_path / "ok",
        "--set",
        "data.train=builtin:planar",
        "--set",
        "model.hidden=[4]",
        "--set",
        "model.hidden_activation=tanh",
        "--set",
        "train.learning_rate=1.2",
    )
    assert healthy.returncode == 0 and "warnings" not in json.loads((tmp_path / "ok" / "latest" / "metrics.json").read_text())
