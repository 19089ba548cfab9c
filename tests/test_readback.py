"""Files read back from run and sweep folders: every layout nnctl writes, and nothing else.

Each test provokes the defect for real (a mini-batch run's costs.csv, a FIFO in a run folder, a
foreign metrics.json, a stripped sweep trial, a sweep folder where a run is expected, a cut name).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nnctl.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def nnctl(*args, timeout=60, cwd=None):
    """nnctl in a subprocess: a read that blocks fails the test by its timeout instead of hanging it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


@pytest.fixture(scope="module")
def decayed(tmp_path_factory):
    """A mini-batch run with a learning-rate decay: costs.csv is epoch,cost,iteration,learning_rate."""
    runs = tmp_path_factory.mktemp("decayed") / "runs"
    r = invoke("train", REPO / "configs/course2/moons-gd-decay.yaml", "--set", "train.epochs=30",
               "--set", "train.record_every=5", "--runs-dir", runs, "-q", "--no-report")
    assert r.exit_code == 0, r.output
    return (runs / "latest").resolve()


def test_minibatch_costs_read_against_epochs(decayed):
    from nnctl.report import collect_run, write_report
    from nnctl.runs import read_costs_csv

    assert (decayed / "costs.csv").read_text().splitlines()[0] == "epoch,cost,iteration,learning_rate"
    facts = collect_run(decayed, evaluate=False)
    assert not [m for m in facts.missing if "costs.csv" in m], facts.missing
    assert facts.costs["epoch"] == [0, 5, 10, 15, 20, 25, 29]
    assert facts.costs["learning_rate"][0] == 0.1 and facts.costs["learning_rate"][1] == pytest.approx(0.02)
    assert [e for e, _ in read_costs_csv(decayed / "costs.csv")] == [0, 5, 10, 15, 20, 25, 29]
    page = write_report(decayed).read_text()
    assert "No cost curve" not in page and "no schedule recorded" not in page
    assert 'id="lr-plot"' in page and "recorded every 5 epochs" in page
    shown = nnctl("runs", "show", decayed)
    assert shown.returncode == 0, shown.stderr
    assert "damaged" not in shown.stdout + shown.stderr
    assert "at epoch 29" in shown.stdout and "0.1 at epoch 0, down to 0.00344828 at epoch 29" in shown.stdout


def test_full_batch_costs_still_read(tiny_config, tmp_path):
    from nnctl.report import collect_run

    r = invoke("train", tiny_config, "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    run = (tmp_path / "runs" / "latest").resolve()
    assert (run / "costs.csv").read_text().startswith("iteration,cost")
    facts = collect_run(run, evaluate=False)
    assert facts.costs["iteration"][0] == 0 and not [m for m in facts.missing if "costs.csv" in m]
