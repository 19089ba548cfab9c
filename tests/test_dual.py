"""The dual first-layer path gives the primal path's results, and is chosen from the shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import REPO, needs_cat_data
from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.spec.config import load_config
from nnctl.experiment.run import train_run
from nnctl.core.network import initialize_parameters
from nnctl.rundir.runs import read_costs_csv
from nnctl.core.firstlayer import choose_first_layer
from nnctl.core.training import Trainer, gradient_descent


def _train(path, hidden_act, depth, loss, iterations=300):
    rng = np.random.default_rng(depth * 10 + ACTIVATION_NAMES.index(hidden_act))
    n_x, m = 60, 25  # m < n_x: the dual path's home ground
    dims = [n_x] + [6, 5, 4][:depth] + [1]
    X = rng.random((n_x, m))
    if loss == "cross_entropy":
        Y, out = (rng.random((1, m)) > 0.5).astype(float), "sigmoid"
    else:
        Y, out = rng.standard_normal((1, m)), "linear"
    params = initialize_parameters(dims, "xavier", rng=np.random.default_rng(1))
    trainer = Trainer(params, X, Y, [hidden_act] * depth + [out], loss, 0.02, path)
    result = gradient_descent(trainer, iterations, record_every=50)
    return trainer.materialize(), result.costs


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("hidden_act", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_dual_equals_primal(depth, hidden_act, loss):
    primal, costs_p = _train("primal", hidden_act, depth, loss)
    dual, costs_d = _train("dual", hidden_act, depth, loss)
    for key in primal:
        a, b = primal[key], dual[key]
        assert np.linalg.norm(a - b) <= 1e-10 * max(np.linalg.norm(a), 1e-300), key
    assert [f"{c:.6f}" for _, c in costs_p] == [f"{c:.6f}" for _, c in costs_d]


def choose_path(requested, **sizes) -> str:
    return choose_first_layer(requested, **sizes)[0]


def test_choose_path():
    assert choose_path("auto", n_x=12288, m=209, itemsize=8, memory_budget=1e9) == "dual"
    assert choose_path("auto", n_x=2, m=400, itemsize=8, memory_budget=1e9) == "primal"
    assert choose_path("auto", n_x=100_000, m=60_000, itemsize=8, memory_budget=1e9) == "primal"  # G too big
    assert choose_path("dual", n_x=2, m=400, itemsize=8, memory_budget=0) == "dual"  # forced


def test_metrics_record_the_path(tmp_path, tiny_config):
    for forced in ("primal", "dual"):
        summary = train_run(load_config(tiny_config, [f"train.first_layer={forced}"]), runs_root=tmp_path)
        assert json.loads(open(f"{summary.run_dir}/metrics.json").read())["first_layer"] == forced
    auto = train_run(load_config(tiny_config), runs_root=tmp_path)  # m = 12 < n_x = 48
    assert auto.first_layer == "dual"


@needs_cat_data
@pytest.mark.parametrize("path", [pytest.param("primal", marks=pytest.mark.slow), "dual"])  # primal on 12,288 features: seconds
def test_course_tables_on_both_paths(tmp_path, path):
    spec = load_config(REPO / "configs" / "cat-logreg.yaml", [f"train.first_layer={path}"])
    summary = train_run(spec, runs_root=tmp_path)
    costs = dict(read_costs_csv(f"{summary.run_dir}/costs.csv"))
    assert [f"{costs[i]:.6f}" for i in (0, 100, 1000, 1900)] == ["0.693147", "0.584508", "0.214820", "0.140872"]
    assert summary.train_accuracy == pytest.approx(99.04306220095694) and summary.test_accuracy == pytest.approx(70.0)
    spec = load_config(REPO / "configs" / "cat-2layer.yaml", [f"train.first_layer={path}", "train.iterations=201"])
    costs = dict(read_costs_csv(f"{train_run(spec, runs_root=tmp_path).run_dir}/costs.csv"))
    assert [f"{costs[i]:.6f}" for i in (0, 100, 200)] == ["0.693050", "0.646432", "0.632514"]


def _train_with(path, optimizer, decay, iterations=300):
    from nnctl.core.optimizers import epoch_rate, make_optimizer

    rng = np.random.default_rng(7)
    n_x, m = 60, 25
    X, Y = rng.random((n_x, m)), (rng.random((1, m)) > 0.5).astype(float)
    params = initialize_parameters([n_x, 6, 4, 1], "xavier", rng=np.random.default_rng(1))
    trainer = Trainer(params, X, Y, ["tanh", "relu", "sigmoid"], "cross_entropy", path=path, optimizer=make_optimizer(optimizer, 0.05, beta=0.9))
    rate = (lambda e: epoch_rate("inverse_time", 0.05, e, 1.0, 50)) if decay else None
    result = gradient_descent(trainer, iterations, record_every=50, rate=rate)
    return trainer.materialize(), result.costs


@pytest.mark.parametrize("optimizer,decay", [("momentum", False), ("momentum", True), ("gd", True)])
def test_dual_equals_primal_with_momentum_and_decay(optimizer, decay):
    """Momentum's velocity is a linear combination of past gradients, so it lives in C's space too."""
    primal, costs_p = _train_with("primal", optimizer, decay)
    dual, costs_d = _train_with("dual", optimizer, decay)
    for key in primal:
        assert np.linalg.norm(primal[key] - dual[key]) <= 1e-10 * np.linalg.norm(primal[key]), key
    assert [f"{c:.6f}" for _, c in costs_p] == [f"{c:.6f}" for _, c in costs_d]
    assert costs_p[-1][1] < costs_p[0][1]  # it learned something


def test_auto_path_and_its_reason(tmp_path, tiny_config):
    """The dual path where it is exact (full batch, gd or momentum); elsewhere the primal, and why."""
    cases = {
        (): ("dual", "dual: m = 12 < n_x = 48"),
        ("train.optimizer=momentum",): ("dual", "dual: m = 12 < n_x = 48"),
        ("train.optimizer=adam",): ("primal", "element-wise division by its moments"),
        ("train.optimizer=rmsprop",): ("primal", "element-wise division by its moments"),
        ("train.iterations=null", "train.epochs=3", "train.batch_size=5"): ("primal", "mini-batches"),
        ("train.first_layer=primal",): ("primal", "train.first_layer: primal"),
    }
    for overrides, (path, reason) in cases.items():
        summary = train_run(load_config(tiny_config, list(overrides)), runs_root=tmp_path)
        metrics = json.loads(open(f"{summary.run_dir}/metrics.json").read())
        assert metrics["first_layer"] == path == summary.first_layer, overrides
        assert reason in metrics["first_layer_reason"], (overrides, metrics["first_layer_reason"])
