"""The course's published results, reproduced from the shipped configs.

Digits are pinned only where they agree across machines: 1 and 2 BLAS threads, the primal and the
dual first-layer path (see `test_flower_pinned_digits_hold_on_every_thread_count_and_path`). The
flower at learning rate 1.2 goes through an unstable phase near iteration 7700; after it the last
bits of each machine's rounding decide the printed digits (the course's own published copies
disagree at 8000: 0.219454 / 0.219471 / 0.219440 / 0.219477), so later costs get a tolerance.
"""

from __future__ import annotations

import json

import pytest
from threadpoolctl import threadpool_limits

from conftest import REPO, needs_cat_data
from nnctl.spec.config import load_config
from nnctl.experiment.run import train_run
from nnctl.rundir.runs import read_costs_csv


def _run(name, tmp_path, *overrides):
    spec = load_config(REPO / "configs" / f"{name}.yaml", overrides)
    summary = train_run(spec, runs_root=tmp_path)
    return summary, dict(read_costs_csv(f"{summary.run_dir}/costs.csv"))


@needs_cat_data
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


@needs_cat_data
def test_two_layer_cost_table(tmp_path):
    # "Cost after iteration 0: 0.6930497356599888", "... 100: 0.6464320953428849"
    _, costs = _run("cat-2layer", tmp_path, "train.iterations=101")
    assert costs[0] == pytest.approx(0.6930497356599888, abs=1e-12)
    assert costs[100] == pytest.approx(0.6464320953428849, abs=1e-12)


@needs_cat_data
def test_deep_network_reaches_course_accuracy(tmp_path):
    summary, costs = _run("cat-deep", tmp_path)
    # "Cost after iteration 0: 0.771749 ... 100: 0.672053 ... 2400: 0.092878"; test accuracy 0.8
    assert [f"{costs[i]:.6f}" for i in (0, 100, 2400)] == ["0.771749", "0.672053", "0.092878"]
    assert summary.test_accuracy >= 78.0
    assert summary.train_accuracy == pytest.approx(98.56459330143541)


# The course's week-3 printout ("Cost after iteration i"), which every machine reproduces to the digit.
FLOWER_PINNED = {0: "0.693048", 1000: "0.288083", 2000: "0.254385", 3000: "0.233864", 4000: "0.226792", 5000: "0.222644", 6000: "0.219731", 7000: "0.217504"}
# Past the unstable phase: 1 vs 2 threads and primal vs dual spread about 1e-4 here; a wrong gradient,
# learning rate or initialisation is off by far more (and fails the pinned digits before 7000 anyway).
FLOWER_AFTER = {8000: 0.2194, 9000: 0.2186, 9999: 0.2179}


@pytest.mark.parametrize("path", ["primal", "dual"])
@pytest.mark.parametrize("threads", [1, 2])
def test_flower_pinned_digits_hold_on_every_thread_count_and_path(tmp_path, threads, path):
    # train.blas_threads: a small network otherwise trains single-threaded whatever the limit around it
    with threadpool_limits(threads, user_api="blas"):
        summary, costs = _run("quickstart", tmp_path, f"train.first_layer={path}", f"train.blas_threads={threads}")
    reproduce = json.loads(open(f"{summary.run_dir}/reproduce.json").read())
    if reproduce.get("blas"):
        assert reproduce["blas"]["threads"] == threads  # the limit really applied
    assert summary.first_layer == path
    assert {i: f"{costs[i]:.6f}" for i in FLOWER_PINNED} == FLOWER_PINNED
    for i, cost in FLOWER_AFTER.items():
        assert costs[i] == pytest.approx(cost, abs=1e-3), i
    assert summary.train_accuracy >= 90.0 and summary.test_accuracy >= 89.0  # the course: 90%


PRIMAL = pytest.mark.slow  # the primal path on 12,288 features takes seconds; the dual path's digits in the default run


@needs_cat_data
@pytest.mark.parametrize("path", [pytest.param("primal", marks=PRIMAL), "dual"])
@pytest.mark.parametrize("threads", [1, 2])
def test_cat_tables_hold_on_every_thread_count_and_path(tmp_path, threads, path):
    # measured: 1 and 2 threads, primal and dual agree to about 1e-14 here, far inside the printed digits
    with threadpool_limits(threads, user_api="blas"):
        _, costs = _run("cat-2layer", tmp_path, f"train.first_layer={path}", "train.iterations=201", f"train.blas_threads={threads}")
        assert [f"{costs[i]:.6f}" for i in (0, 100, 200)] == ["0.693050", "0.646432", "0.632514"]
        _, costs = _run("cat-deep", tmp_path, f"train.first_layer={path}", "train.iterations=101", f"train.blas_threads={threads}")
        assert [f"{costs[i]:.6f}" for i in (0, 100)] == ["0.771749", "0.672053"]
