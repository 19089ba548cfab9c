"""A command's result is committed at one point: the renames of its outputs, made together.

A signal before it stops the command with one `Interrupted` line and leaves the old outputs (or
none); a signal after it changes nothing (exit 0, no message). Several outputs of one command (an
evaluation's JSON and pictures, a sweep's pages, lr-find's files) are put in place as a set
(nnctl.util.atomic.output_set). The set itself is checked in this process; the signals in real
processes, sent on events (a hooked function reached), never after a sleep.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import run_nnctl
from sweep_stops import wait_for
from nnctl.util.atomic import atomic_write, output_set, remove_with_set, staged_path

TIMEOUT = 600  # ten times what these take on a loaded machine: only a hang fails
slow = pytest.mark.slow


def hidden(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ---------------------------------------------------------------- output_set, in this process


def test_an_output_set_puts_every_file_in_place_as_it_ends(tmp_path):
    a, b, old = tmp_path / "a.json", tmp_path / "b.png", tmp_path / "old.png"
    old.write_text("older")
    with output_set():
        atomic_write(a, "A")
        atomic_write(b, "B")
        remove_with_set(old)
        assert not a.exists() and not b.exists() and old.exists()  # nothing yet
        assert staged_path(a).read_text() == "A"  # readable under its temporary name
    assert (a.read_text(), b.read_text(), old.exists(), hidden(tmp_path)) == ("A", "B", False, [])


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_a_stop_inside_an_output_set_leaves_every_old_file_and_no_temporary(tmp_path, stop):
    a, b = tmp_path / "a.json", tmp_path / "b.png"
    a.write_text("old A")
    b.write_text("old B")
    with pytest.raises(stop):
        with output_set():
            atomic_write(b, "new B")  # the picture is made first ...
            remove_with_set(tmp_path / "c.png")
            raise stop()  # ... and the stop comes as the JSON is written
    assert (a.read_text(), b.read_text(), hidden(tmp_path)) == ("old A", "old B", [])


def test_an_inner_output_set_joins_the_outer_one(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with output_set():
            with output_set():
                atomic_write(tmp_path / "inner.txt", "x")
            assert not (tmp_path / "inner.txt").exists()
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_outside_a_command_line_process_a_final_set_leaves_the_signals_alone(tmp_path):
    """finish() takes the signals only in nnctl's own process (its console script), never in a
    library caller's or a test's."""
    with output_set(final=True):
        atomic_write(tmp_path / "x", "x")
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    with pytest.raises(KeyboardInterrupt):
        signal.raise_signal(signal.SIGINT)


# ---------------------------------------------------------------- commands' sets, in this process


@pytest.fixture
def tiny_run(tmp_path, tiny_config):
    result = run_nnctl("train", tiny_config, "-q", "--no-report", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    return (tmp_path / "runs" / "latest").resolve()


def test_a_stop_while_the_evaluation_json_is_written_keeps_the_older_evaluation_whole(tiny_run, monkeypatch):
    """It left the new confusion picture beside the older JSON (or no JSON): two evaluations mixed."""
    from nnctl.experiment import inference

    assert run_nnctl("evaluate", tiny_run).returncode == 0
    before = {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.name.startswith(("evaluation", "confusion"))}
    assert {"evaluation.json", "confusion.png"} <= set(before)

    def interrupted(path, obj):
        raise KeyboardInterrupt

    monkeypatch.setattr(inference, "write_json", interrupted)
    result = run_nnctl("evaluate", tiny_run)
    assert (result.returncode, result.stderr) == (130, "Interrupted: SIGINT\n")
    after = {p.name: p.read_bytes() for p in tiny_run.iterdir() if p.name.startswith(("evaluation", "confusion"))}
    assert after == before and hidden(tiny_run) == []


def test_an_evaluation_removes_an_older_picture_it_does_not_redraw(tiny_run):
    stale = tiny_run / "misclassified.png"  # pictures with no mistakes now: none drawn this time
    stale.write_bytes(b"an older evaluation's picture")
    result = run_nnctl("evaluate", tiny_run)
    assert result.returncode == 0, result.stderr
    import json

    files = json.loads((tiny_run / "evaluation.json").read_text())["files"]
    if "misclassified" not in files:
        assert not stale.exists()
    else:
        assert stale.read_bytes() != b"an older evaluation's picture"


def test_a_stop_while_lr_find_writes_leaves_no_folder(tmp_path, tiny_config, monkeypatch):
    from nnctl.experiment import lrfind

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lrfind, "plot_lr_find", interrupted)  # the last of its three files
    result = run_nnctl("lr-find", tiny_config, "--steps", "5", "--runs-dir", tmp_path / "lr")
    assert (result.returncode, result.stderr) == (130, "Interrupted: SIGINT\n")
    assert list((tmp_path / "lr").iterdir()) == []


def test_a_stop_while_a_sweeps_page_is_written_leaves_the_trial_pages_as_they_were(tmp_path, tiny_config, monkeypatch):
    from nnctl.report import page

    result = run_nnctl("sweep", tiny_config, "--grid", "train.learning_rate=0.1,0.2", "-j", "1", "-q", "--no-report", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    (sweep,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.is_symlink()]

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(page, "render_sweep", interrupted)  # after every trial's page was made
    result = run_nnctl("report", sweep)
    assert (result.returncode, result.stderr) == (130, "Interrupted: SIGINT\n")
    assert sorted(p.relative_to(sweep) for p in sweep.rglob("report.html")) == [] and list(sweep.rglob(".*.tmp")) == []
    monkeypatch.undo()
    assert run_nnctl("report", sweep).returncode == 0
    assert len(list(sweep.rglob("report.html"))) == 3  # the sweep's page and each trial's, linked


def test_a_new_sweep_summary_removes_the_page_of_the_older_one(tmp_path, tiny_config):
    from nnctl.sweep.store import load_plan
    from nnctl.sweep.summary import write_summary

    result = run_nnctl("sweep", tiny_config, "--grid", "train.learning_rate=0.1,0.2", "-j", "1", "-q", "--runs-dir", tmp_path / "runs")
    assert result.returncode == 0, result.stderr
    (sweep,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.is_symlink()]
    assert (sweep / "report.html").is_file()
    write_summary(sweep, load_plan(sweep))  # as a resumed sweep does, before its new page
    assert not (sweep / "report.html").exists() and (sweep / "summary.json").is_file()


# ---------------------------------------------------------------- real processes, real signals

# `nnctl ...` with a hook: the first call of `NNCTL_TEST_HOOK` (module:function) makes `in-hook`; with
# NNCTL_TEST_WAIT it then waits in Python code (where the signal's KeyboardInterrupt comes), else goes on.
HOOKED = """
import importlib, os, sys, time
from pathlib import Path
module, name = os.environ["NNCTL_TEST_HOOK"].split(":")
mod = importlib.import_module(module)
real = getattr(mod, name)
calls = []
def hooked(*args, **kwargs):
    if not calls:
        calls.append(1)
        (Path(os.environ["NNCTL_TEST_DIR"]) / "in-hook").touch()
        if os.environ.get("NNCTL_TEST_WAIT"):
            for _ in range(60000):
                time.sleep(0.01)
    return real(*args, **kwargs)
setattr(mod, name, hooked)
from nnctl.cli import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def signal_at_hook(tmp_path, hook, sig, *args, wait=False):
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path), "NNCTL_TEST_HOOK": hook}
    if wait:
        env["NNCTL_TEST_WAIT"] = "1"
    (tmp_path / "in-hook").unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", HOOKED, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    wait_for((tmp_path / "in-hook").exists, proc, "the hook")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


SIGNALS = [(signal.SIGINT, 130), (signal.SIGTERM, 143)]

# the console script, with an exit handler (run as the interpreter ends) that makes `exiting`, then
# waits a while in Python code
EXITING = """
import atexit, os, sys, time
from pathlib import Path
def ending():
    (Path(os.environ["NNCTL_TEST_DIR"]) / "exiting").touch()
    for _ in range(300):
        time.sleep(0.01)
atexit.register(ending)
from nnctl.cli import main
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_after_export_wrote_its_file_changes_nothing(tmp_path, tiny_run, sig, code):
    """`wrote m.npz` then exit 130 or 143 with no message, or `Interrupted` for a complete file."""
    out_file = tmp_path / "m.npz"
    rc, out, err = signal_at_hook(tmp_path, "nnctl.cli.display:say", sig, "export", "--run", tiny_run, "-o", out_file)
    assert (rc, err, out) == (0, "", f"wrote {out_file} (npz, from {tiny_run})\n")
    assert "W1" in np.load(out_file).files


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_while_export_works_leaves_no_file(tmp_path, tiny_run, sig, code):
    out_file = tmp_path / "m.npz"
    rc, out, err = signal_at_hook(tmp_path, "nnctl.experiment.export:npz_arrays", sig, "export", "--run", tiny_run, "-o", out_file, wait=True)
    assert (rc, err) == (code, f"Interrupted: {sig.name}\n")
    assert list(tmp_path.glob("*m.npz*")) == []


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_after_train_wrote_its_report_changes_nothing(tmp_path, tiny_config, sig, code):
    """The lines `report: ...` and `run: ...`, then exit 143 without a word."""
    runs = tmp_path / "runs"
    rc, out, err = signal_at_hook(tmp_path, "nnctl.cli.commands:_finish_tracking", sig, "train", tiny_config, "-q", "--runs-dir", runs)
    assert rc == 0 and "Interrupted" not in err, err
    assert (runs / "latest" / "report.html").is_file() and "run: " in out


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_while_evaluate_writes_keeps_the_older_evaluation(tmp_path, tiny_run, sig, code):
    """It left the new confusion picture and no evaluation JSON (or the older one)."""
    assert run_nnctl("evaluate", tiny_run).returncode == 0
    names = ("evaluation.json", "confusion.png")
    before = {n: (tiny_run / n).read_bytes() for n in names}
    rc, out, err = signal_at_hook(tmp_path, "nnctl.experiment.inference:write_json", sig, "evaluate", tiny_run, wait=True)
    assert (rc, err) == (code, f"Interrupted: {sig.name}\n")
    assert {n: (tiny_run / n).read_bytes() for n in names} == before and hidden(tiny_run) == []


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_after_evaluate_saved_changes_nothing(tmp_path, tiny_run, sig, code):
    rc, out, err = signal_at_hook(tmp_path, "nnctl.cli.display:evaluation", sig, "evaluate", tiny_run)
    assert (rc, err) == (0, "")
    assert (tiny_run / "evaluation.json").is_file()


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_after_report_wrote_its_page_changes_nothing(tmp_path, tiny_run, sig, code):
    rc, out, err = signal_at_hook(tmp_path, "nnctl.cli.display:say", sig, "report", tiny_run)
    assert (rc, err) == (0, "") and out == f"report: {tiny_run / 'report.html'}\n"


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_after_data_make_wrote_its_file_changes_nothing(tmp_path, sig, code):
    target = tmp_path / "planar.h5"
    rc, out, err = signal_at_hook(tmp_path, "nnctl.cli.display:say", sig, "data", "make", "planar", "-o", target)
    assert (rc, err) == (0, "") and out.startswith(f"wrote {target}") and target.is_file()


@slow
@pytest.mark.parametrize("sig, code", SIGNALS)
def test_a_signal_as_the_interpreter_ends_changes_nothing(tmp_path, sig, code):
    """After the command's last line the process takes no signal: not while Python tears down
    (default handlers again: a silent 130 or 143, or a KeyboardInterrupt traceback)."""
    env = {**os.environ, "NNCTL_TEST_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", EXITING, "data", "make", "planar", "-o", tmp_path / "p.h5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    wait_for((tmp_path / "exiting").exists, proc, "the exit")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=TIMEOUT)
    assert (proc.returncode, err) == (0, "") and out.startswith("wrote ")
