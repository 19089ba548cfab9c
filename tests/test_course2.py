"""The course's "Optimization methods" notebook, reproduced end to end through the CLI from the
shipped configs/course2 specs (the printed `%f` costs agree with 1 and 2 BLAS threads)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import REPO
from nnctl.cli.commands import app
from nnctl.spec.config import load_config
from nnctl.data.dataset import make_moons
from nnctl.rundir.runs import read_costs_csv

COURSE2 = REPO / "configs" / "course2"
runner = CliRunner()


def test_moons_are_scikit_learns_bit_for_bit():
    # np.random.seed(3); sklearn.datasets.make_moons(n_samples=300, noise=.2), checked against
    # scikit-learn 1.9.1 (which is not a dependency): these are its bytes
    x, y = make_moons()
    assert x.shape == (300, 2) and y.shape == (300,)
    assert hashlib.sha256(x.tobytes()).hexdigest() == "088afedfc1390a03685aa6eeedc8400b0f87975b7908dec17ad6d20711b6d4f4"
    assert list(y[:10]) == [0, 1, 1, 1, 0, 0, 1, 1, 0, 1] and y.sum() == 150
    np.testing.assert_allclose(x[:3], [[-0.21687013, 1.01544937], [0.80505015, -0.5579734], [0.71127451, -0.41006024]], atol=5e-9)  # as printed
    assert x.sum() == 229.31214774688254


def _train(tmp_path, name, *overrides):
    result = runner.invoke(app, ["train", str(COURSE2 / f"{name}.yaml"), "-q", "--runs-dir", str(tmp_path / name), *sum((["--set", o] for o in overrides), [])])
    assert result.exit_code == 0, result.output
    run = (tmp_path / name / "latest").resolve()
    costs = dict(read_costs_csv(run / "costs.csv"))
    return json.loads((run / "metrics.json").read_text()), {e: f"{c:f}" for e, c in costs.items()}, run


@pytest.mark.parametrize(
    "name,printed",
    [  # "Cost after epoch 0: ..." and "... 1000: ..." of the 2019 notebook
        ("moons-gd", ["0.702405", "0.668101"]),
        ("moons-momentum", ["0.702413", "0.668167"]),
        ("moons-adam", ["0.702166", "0.167845"]),
        # the 2021 edition's decay runs
        ("moons-gd-decay", ["0.701091", "0.661884"]),
        ("moons-momentum-schedule", ["0.702226", "0.128974"]),
        ("moons-adam-schedule", ["0.699346", "0.130074"]),
    ],
)
def test_first_printed_costs(tmp_path, name, printed):
    metrics, costs, run = _train(tmp_path, name, "train.epochs=1001")
    assert [costs[0], costs[1000]] == printed
    assert metrics["epochs"] == 1001 and metrics["iterations"] == 1001 * 5 and metrics["batches_per_epoch"] == 5
    assert metrics["batch_size"] == 64 and metrics["first_layer"] == "primal" and "mini-batches" in metrics["first_layer_reason"]


@pytest.mark.slow  # a course reproduction, 5,000 epochs twice (test_first_printed_costs: the same configs' first digits)
def test_fastest_configs_reach_the_published_accuracy(tmp_path):
    # 2021 edition, 5,000 epochs: gd with alpha_0 / (1 + epoch) every epoch 0.6533; with the schedule 0.9433
    metrics, costs, run = _train(tmp_path, "moons-gd-decay")
    assert [costs[e] for e in range(0, 5000, 1000)] == ["0.701091", "0.661884", "0.658620", "0.656765", "0.655486"]
    assert round(metrics["train_accuracy"] / 100, 4) == 0.6533
    header, first, *_ = (run / "costs.csv").read_text().splitlines()
    assert header == "epoch,cost,iteration,learning_rate,train_accuracy" and first.startswith("0,0.70109")
    assert first.split(",")[2:4] == ["0", "0.1"] and 0 <= float(first.split(",")[4]) <= 100
    metrics, costs, _ = _train(tmp_path, "moons-gd-schedule")
    assert [costs[e] for e in range(0, 5000, 1000)] == ["0.701091", "0.127161", "0.120304", "0.117033", "0.117512"]
    assert round(metrics["train_accuracy"] / 100, 4) == 0.9433


def test_learning_rate_column_follows_the_course(tmp_path):
    """The rate of each epoch: the course sets it after epoch i from i, so epoch e runs at alpha_0 / (1 + (e - 1))."""
    _, _, run = _train(tmp_path, "moons-gd-decay", "train.epochs=4", "train.record_every=1")
    rows = [line.split(",") for line in (run / "costs.csv").read_text().splitlines()[1:]]
    assert [(int(r[0]), int(r[2]), float(r[3])) for r in rows] == [(0, 0, 0.1), (1, 5, 0.1), (2, 10, 0.05), (3, 15, 0.1 / 3)]


def test_every_course2_config_is_valid():
    names = sorted(p.stem for p in COURSE2.glob("moons-*.yaml"))  # the Optimization methods notebook's
    assert names == ["moons-adam", "moons-adam-schedule", "moons-gd", "moons-gd-decay", "moons-gd-schedule", "moons-momentum", "moons-momentum-schedule"]
    for name in names:
        spec = load_config(COURSE2 / f"{name}.yaml")
        assert spec.model.layers == [2, 5, 2, 1] and spec.train.batch_size == 64 and spec.train.shuffle == "course"


def test_sweep_over_optimizers(tmp_path):
    result = runner.invoke(
        app,
        ["sweep", str(COURSE2 / "moons-gd.yaml"), "--grid", "train.optimizer=gd,momentum,adam", "--set", "train.epochs=3", "--runs-dir", str(tmp_path), "-q"],
    )
    assert result.exit_code == 0, result.output
    found = {}
    for metrics_path in tmp_path.glob("sweep-*/*/metrics.json"):
        spec = (metrics_path.parent / "config.resolved.yaml").read_text()
        opt = next(line.split(":")[1].strip() for line in spec.splitlines() if line.strip().startswith("optimizer:"))
        found[opt] = json.loads(metrics_path.read_text())["final_cost"]
    assert sorted(found) == ["adam", "gd", "momentum"] and len(set(found.values())) == 3


def test_progress_counts_epochs_with_mini_batches(tmp_path):
    result = runner.invoke(
        app, ["train", str(COURSE2 / "moons-gd.yaml"), "--runs-dir", str(tmp_path), "--set", "train.epochs=3", "--set", "train.record_every=1"]
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("moons-gd: epoch")]
    assert [line.split("  ")[0] for line in lines] == ["moons-gd: epoch 0/3", "moons-gd: epoch 1/3", "moons-gd: epoch 2/3"]
    assert "cost 0.702405" in lines[0]
