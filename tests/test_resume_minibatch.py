"""Resume with mini-batches, for every optimizer: a real SIGINT in the middle of an epoch, then
`--resume`, equals an uninterrupted run bit for bit (parameters, the cost curve, the counts)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import run_nnctl
from nnctl.rundir.runs import load_params

EPOCHS = 200
SPEC = """\
name: moons
data:
  train: builtin:moons
model:
  layers: [2, 5, 2, 1]
  init: he
  init_rng: legacy
train:
  learning_rate: {lr}
  epochs: {epochs}
  batch_size: 16
  shuffle: {shuffle}
  optimizer: {optimizer}
  decay: {decay}
  time_interval: 7
  seed: 3
  record_every: 1
  checkpoint_every: 20
"""
CASES = {  # optimizer: (learning rate, shuffle, decay)
    "gd": (0.05, "course", "none"),
    "momentum": (0.05, "generator", "none"),
    "rmsprop": (0.005, "generator", "inverse_time"),
    "adam": (0.01, "course", "inverse_time"),
}


def nnctl(*args):
    return run_nnctl(*args)  # in this process, answered as a subprocess is


@pytest.mark.slow  # a real process and a real SIGINT; test_stop_at_a_chosen_step_mid_epoch_then_resume is the same in process
@pytest.mark.parametrize("optimizer", list(CASES))
def test_sigint_mid_epoch_then_resume_is_bit_identical(tmp_path, optimizer):
    lr, shuffle, decay = CASES[optimizer]
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(lr=lr, epochs=EPOCHS, shuffle=shuffle, optimizer=optimizer, decay=decay))
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    ref_run = train_run(load_config(config), runs_root=tmp_path / "ref").run_dir  # uninterrupted, in process

    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "nnctl", "train", str(config), "-q", "--runs-dir", str(runs)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.time() + 60
    while not list(runs.glob("*/checkpoint.h5")):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (run,) = [p for p in runs.iterdir() if not p.is_symlink()]
    _, meta = load_params(run / "checkpoint.h5")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and 0 < metrics["iterations"] < EPOCHS * 19
    assert meta["iterations"] == metrics["iterations"] == meta["epoch"] * 19 + meta["batch"]
    # a signal lands between two of an epoch's 19 steps, almost never at its end
    mid_epoch = meta["batch"] > 0
    assert err.startswith(f"Interrupted: SIGINT at iteration {meta['iterations']} (epoch {meta['epoch']}): ")

    resumed = nnctl("train", "--resume", run, "-q")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads((run / "metrics.json").read_text())
    assert after["status"] == "completed" and after["resumed_from"] == metrics["iterations"]
    assert after["iterations"] == EPOCHS * 19 and after["epochs"] == EPOCHS
    params, _ = load_params(run / "params.h5")
    reference, _ = load_params(f"{ref_run}/params.h5")
    assert sorted(params) == sorted(reference)
    for k in reference:
        assert params[k].tobytes() == reference[k].tobytes(), (k, mid_epoch)
    assert (run / "costs.csv").read_text() == open(f"{ref_run}/costs.csv").read()
    header, *rows = (run / "costs.csv").read_text().splitlines()
    assert header == ("epoch,cost,iteration" + (",learning_rate" if decay != "none" else "") + ",train_accuracy")
    assert all(0 <= float(r.split(",")[-1]) <= 100 for r in rows)  # counted in every epoch, the interrupted one too


@pytest.mark.parametrize("optimizer", list(CASES))
def test_stop_at_a_chosen_step_mid_epoch_then_resume(tmp_path, optimizer):
    """The same in process, stopped after exactly 3 epochs and 5 of the 4th epoch's 19 steps."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import resume_run, train_run

    lr, shuffle, decay = CASES[optimizer]
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(lr=lr, epochs=12, shuffle=shuffle, optimizer=optimizer, decay=decay).replace("checkpoint_every: 20", "checkpoint_every: 2"))
    reference = train_run(load_config(config), runs_root=tmp_path / "ref")
    calls = []

    def stop():
        calls.append(1)
        return len(calls) == 3 * 19 + 5

    stopped = train_run(load_config(config), runs_root=tmp_path / "runs", should_stop=stop)
    assert stopped.status == "interrupted" and stopped.iterations == 3 * 19 + 5 and stopped.epochs == 3
    _, meta = load_params(f"{stopped.run_dir}/checkpoint.h5")
    assert (meta["epoch"], meta["batch"]) == (3, 5) and meta["cost_sum"] > 0  # epoch 3's cost, 5 batches in
    assert 0 < meta["correct"] <= 5 * 16 and meta["correct"] == int(meta["correct"])  # and its right answers
    done = resume_run(stopped.run_dir)
    assert done.status == "completed" and done.resumed_from == 3 * 19 + 5 and done.iterations == 12 * 19
    params, _ = load_params(f"{done.run_dir}/params.h5")
    ref, _ = load_params(f"{reference.run_dir}/params.h5")
    for k in ref:
        assert params[k].tobytes() == ref[k].tobytes(), k
    assert open(f"{done.run_dir}/costs.csv").read() == open(f"{reference.run_dir}/costs.csv").read()


def test_a_checkpoint_written_before_training_accuracy_resumes(tmp_path):
    """A checkpoint of an earlier nnctl (costs of 4 columns, no `correct` attribute), stopped in the
    middle of an epoch: the run resumes bit for bit, and costs.csv leaves train_accuracy empty where it
    was not counted (the records before the stop, and the epoch stopped in), and has it from then on."""
    import h5py
    import numpy as np

    from nnctl.spec.config import load_config
    from nnctl.experiment.run import resume_run, train_run

    config = tmp_path / "moons.yaml"
    config.write_text(
        SPEC.format(lr=0.05, epochs=8, shuffle="generator", optimizer="adam", decay="none").replace("checkpoint_every: 20", "checkpoint_every: 2")
    )
    reference = train_run(load_config(config), runs_root=tmp_path / "ref")
    calls = []
    stopped = train_run(load_config(config), runs_root=tmp_path / "runs", should_stop=lambda: calls.append(1) or len(calls) == 3 * 19 + 5)
    with h5py.File(f"{stopped.run_dir}/checkpoint.h5", "r+") as f:  # as nnctl 0.x wrote it
        old = f["costs"][()][:, :4]
        del f["costs"], f.attrs["correct"], f.attrs["digests"]  # nor had it the arrays' digests
        f["costs"] = old
    done = resume_run(stopped.run_dir)
    assert done.status == "completed"
    params, _ = load_params(f"{done.run_dir}/params.h5")
    ref, _ = load_params(f"{reference.run_dir}/params.h5")
    for k in ref:
        assert params[k].tobytes() == ref[k].tobytes(), k
    got = [line.split(",") for line in open(f"{done.run_dir}/costs.csv").read().splitlines()]
    want = [line.split(",") for line in open(f"{reference.run_dir}/costs.csv").read().splitlines()]
    assert got[0] == want[0] == ["epoch", "cost", "iteration", "train_accuracy"]
    assert [r[:3] for r in got] == [r[:3] for r in want]  # the costs themselves: bit for bit
    assert [r[3] for r in got[1:5]] == [""] * 4  # epochs 0-2 recorded before, epoch 3 stopped in: not counted
    assert [r[3] for r in got[5:]] == [r[3] for r in want[5:]] and all(np.isfinite(float(r[3])) for r in want[1:])
