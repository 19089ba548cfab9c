"""The course's published results, reproduced from the shipped configs on the course's data."""

from __future__ import annotations

import json

import pytest

from conftest import REPO, needs_cat_data
from nnctl.config import load_config
from nnctl.experiment import train_run
from nnctl.runs import read_costs_csv

pytestmark = needs_cat_data


def _run(name, tmp_path, *overrides):
    spec = load_config(REPO / "configs" / f"{name}.yaml", overrides)
    summary = train_run(spec, runs_root=tmp_path)
    return summary, dict(read_costs_csv(f"{summary.run_dir}/costs.csv"))


def test_logistic_regression_reproduces_course(tmp_path):
    summary, costs = _run("cat-logreg", tmp_path)
    # "Cost after iteration 0: 0.693147 ... 1900: 0.140872"; train 99.04306220095694 %, test 70.0 %
    assert f"{costs[0]:.6f}" == "0.693147"
    assert f"{costs[100]:.6f}" == "0.584508"
    assert f"{costs[1900]:.6f}" == "0.140872"
    assert summary.train_accuracy == pytest.approx(99.04306220095694)
    assert summary.test_accuracy == pytest.approx(70.0)
    metrics = json.loads(open(f"{summary.run_dir}/metrics.json").read())
    assert metrics["status"] == "completed" and metrics["iterations"] == 2000


def test_two_layer_cost_table(tmp_path):
    # "Cost after iteration 0: 0.6930497356599888", "... 100: 0.6464320953428849"
    _, costs = _run("cat-2layer", tmp_path, "train.iterations=101")
    assert costs[0] == pytest.approx(0.6930497356599888, abs=1e-12)
    assert costs[100] == pytest.approx(0.6464320953428849, abs=1e-12)


def test_deep_network_reaches_course_accuracy(tmp_path):
    summary, costs = _run("cat-deep", tmp_path)
    # "Cost after iteration 0: 0.771749 ... 100: 0.672053 ... 2400: 0.092878"; test accuracy 0.8
    assert [f"{costs[i]:.6f}" for i in (0, 100, 2400)] == ["0.771749", "0.672053", "0.092878"]
    assert summary.test_accuracy >= 78.0
    assert summary.train_accuracy == pytest.approx(98.56459330143541)
