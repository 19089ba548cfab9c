"""Pairs of features that once failed together (issue 19): each a plain test with the minimal spec,
and the two tests an audit found missing (L2 on the biases, early stopping's saved parameters)."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import invoke
from nnctl.core import training
from nnctl.spec.config import load_config
from nnctl.errors import DataError
from nnctl.experiment.gradcheck import check_spec
from nnctl.rundir.layout import METRICS, PARAMS
from nnctl.core.network import compute_cost, forward
from oracle import backward
from nnctl.rundir.runs import update_latest
from nnctl.core.training import Trainer

ONE = ("--set", "train.blas_threads=1")
K3 = "builtin:spiral?k=3&m=60"
K3_VALIDATION = "builtin:spiral?k=3&m=30&seed=2"


def _spec(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _latest(runs):
    return runs / os.readlink(runs / "latest")


def _metrics(run):
    return json.loads((run / METRICS).read_text())


def _params(run):
    with h5py.File(run / PARAMS, "r") as f:
        return {k: f[k][()] for k in f if k[0] in "Wb"}


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


def _softmax_spec(tmp_path, extra_data="", extra_train="", learning_rate=0.05, name="s.yaml"):
    return _spec(
        tmp_path,
        f"""\
data: {{train: "{K3}", validation: "{K3_VALIDATION}"{extra_data}}}
model: {{hidden: [6], hidden_activation: tanh}}
train: {{learning_rate: {learning_rate}, epochs: 30, batch_size: 16, optimizer: adam, record_every: 2, seed: 4{extra_train}}}
runs_dir: {tmp_path / "runs"}
""",
        name,
    )


# ---------------------------------------------------------------- softmax with the other features


def test_softmax_with_validation_file_and_early_stopping_keeps_the_best_parameters(tmp_path):
    """k classes, a validation file, early stopping: the saved parameters are the best ones, and
    their validation cost, recomputed here from params.h5, is the recorded best_value."""
    spec = _softmax_spec(tmp_path, extra_train=", early_stopping: {patience: 2, min_delta: 0.0}", learning_rate=0.3)
    _ok(invoke("train", spec, "--quiet", "--no-report", *ONE))
    run = _latest(tmp_path / "runs")
    metrics = _metrics(run)
    assert metrics["status"] == "completed" and metrics["layers"] == [2, 6, 3]
    early = metrics["early_stopping"]
    assert early["restored_best"] is True
    from nnctl.data.dataset import load_dataset

    val = load_dataset(K3_VALIDATION, max_classes=None)
    params = _params(run)
    Zs, As = forward(val.X, params, ["tanh", "softmax"])
    Y = np.eye(3)[val.Y.ravel().astype(int)].T
    assert compute_cost(Zs[-1], As[-1], Y, "categorical_cross_entropy") == pytest.approx(early["best_value"], rel=1e-12)
    if early["stopped_early"]:  # the last recorded validation cost is worse than the best: the last parameters differ
        assert metrics["validation_cost"] >= early["best_value"]


def test_early_stopping_saves_the_best_not_the_last_parameters(tmp_path):
    """A learning rate that overshoots after a few records: the last parameters are worse than the
    best, and params.h5 must hold the best (restore_best), whose validation cost is best_value."""
    spec = _spec(
        tmp_path,
        f"""\
data: {{train: "builtin:planar?m=80", validation: "builtin:planar?m=40&seed=2"}}
model: {{hidden: [4], hidden_activation: tanh}}
train: {{learning_rate: 6, iterations: 400, record_every: 5, seed: 2,
        early_stopping: {{patience: 3, restore_best: true}}}}
runs_dir: {tmp_path / "runs"}
""",
    )
    _ok(invoke("train", spec, "--quiet", "--no-report", *ONE))
    run = _latest(tmp_path / "runs")
    early = _metrics(run)["early_stopping"]
    from nnctl.data.dataset import load_dataset

    val = load_dataset("builtin:planar?m=40&seed=2")
    Zs, As = forward(val.X, _params(run), ["tanh", "sigmoid"])
    assert compute_cost(Zs[-1], As[-1], val.Y.astype(float), "cross_entropy") == pytest.approx(early["best_value"], rel=1e-12)
    rows = [line.split(",") for line in (run / "costs.csv").read_text().splitlines()[1:]]
    last = float([r for r in rows if r[-2]][-1][-2])
    assert early["stopped_early"] and last > early["best_value"]  # the case where last and best differ


def test_softmax_sweep_and_its_resume(tmp_path):
    spec = _softmax_spec(tmp_path)
    result = invoke("sweep", spec, "--grid", "train.learning_rate=0.01,0.05", "--jobs", "1", "--quiet", "--no-report", *ONE)
    assert result.exit_code == 0, result.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    trials = json.loads((sweep / "summary.json").read_text())["trials"]
    assert [t["status"] for t in trials] == ["completed", "completed"] and all(t["layers"] == [2, 6, 3] for t in trials)
    again = invoke("sweep", "--resume", sweep, "--quiet", "--no-report")
    assert "Traceback" not in again.output and again.exit_code in (0, 1), again.output


def test_stream_always_with_a_validation_file(tmp_path):
    from conftest import write_course_h5

    write_course_h5(tmp_path / "train.h5", "train", m=24)
    write_course_h5(tmp_path / "val.h5", "test", m=10, seed=3)
    spec = _spec(
        tmp_path,
        f"""\
data: {{train: train.h5, validation: val.h5, stream: always}}
model: {{hidden: [3]}}
train: {{learning_rate: 0.05, epochs: 4, batch_size: 5, record_every: 1, early_stopping: {{patience: 5}}}}
runs_dir: {tmp_path / "runs"}
""",
    )
    _ok(invoke("train", spec, "--quiet", "--no-report"))
    metrics = _metrics(_latest(tmp_path / "runs"))
    assert metrics["status"] == "completed" and np.isfinite(metrics["validation_cost"])
    streamed = _ok(invoke("gradcheck", spec, "--examples", "4"))  # gradcheck reads the picked examples from the file
    assert "great" in streamed.output


def test_gradcheck_on_k_classes_checks_the_softmax_network_training_builds(tmp_path):
    """The automatic head on k-class data is a softmax of k units: gradcheck checks that network,
    not a 1-unit sigmoid on labels 0..k-1."""
    spec = load_config(_softmax_spec(tmp_path))
    result = check_spec(spec, examples=6)
    assert [c.total for c in result.layers] == [2 * 6 + 6, 6 * 3 + 3]
    assert result.difference < 1e-7
    out = _ok(invoke("gradcheck", _softmax_spec(tmp_path, name="t.yaml"), "--examples", "4"))
    assert "great" in out.output


def test_model_layers_ending_in_k_trains_a_softmax(tmp_path):
    spec = _spec(
        tmp_path,
        f"""\
data: {{train: "{K3}"}}
model: {{layers: [2, 5, 3]}}
train: {{learning_rate: 0.1, iterations: 20}}
runs_dir: {tmp_path / "runs"}
""",
    )
    _ok(invoke("train", spec, "--quiet", "--no-report"))
    assert _metrics(_latest(tmp_path / "runs"))["layers"] == [2, 5, 3]
    wrong = invoke("train", spec, "--quiet", "--set", "model.layers=[2,5,4]")
    assert wrong.exit_code == 1 and "model.layers ends with 4" in wrong.stderr and "holds 3 classes" in wrong.stderr


# ---------------------------------------------------------------- inputs of unusual shapes


def test_one_feature_stored_as_x_of_shape_m_can_be_evaluated_predicted_reported(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(40)
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f["x"], f["y"] = x, (x > 0).astype(np.int64)
    spec = _spec(tmp_path, f"data: {{train: one.h5, test: one.h5}}\ntrain: {{learning_rate: 0.5, iterations: 30}}\nruns_dir: {tmp_path / 'runs'}\n")
    _ok(invoke("train", spec, "--quiet", "--no-report"))
    run = _latest(tmp_path / "runs")
    _ok(invoke("evaluate", run))
    predicted = _ok(invoke("predict", tmp_path / "one.h5", "--run", run, "--json"))
    assert len(predicted.stdout.strip().splitlines()) == 40
    _ok(invoke("report", run))


def test_float_regression_targets_are_pointed_to_the_regression_head(tmp_path):
    sklearn = pytest.importorskip("sklearn.datasets")
    d = sklearn.load_diabetes()
    with h5py.File(tmp_path / "diabetes.h5", "w") as f:
        f["x"], f["y"] = d.data, d.target.astype(np.float64)
    spec = _spec(
        tmp_path, f"data: {{train: diabetes.h5}}\nmodel: {{hidden: [4]}}\ntrain: {{learning_rate: 0.001, iterations: 50}}\nruns_dir: {tmp_path / 'runs'}\n"
    )
    refused = invoke("train", spec, "--quiet")
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "train a regression: model.output_activation: linear (loss mse)" in refused.stderr
    _ok(invoke("train", spec, "--quiet", "--no-report", "--set", "model.output_activation=linear"))
    assert _metrics(_latest(tmp_path / "runs"))["train_rmse"] > 0


# ---------------------------------------------------------------- runs, latest, stopped runs


def test_runs_show_takes_runs_dir(tmp_path, tiny_config):
    _ok(invoke("train", tiny_config, "--quiet", "--no-report", "--runs-dir", tmp_path / "elsewhere"))
    name = _latest(tmp_path / "elsewhere").name
    shown = _ok(invoke("runs", "show", name, "--runs-dir", tmp_path / "elsewhere"))
    assert name in shown.stdout


def test_an_error_during_training_leaves_the_run_saying_why(tmp_path, tiny_config, monkeypatch):
    real = training.Trainer.backward_and_update
    calls = [0]

    def failing(self):
        calls[0] += 1
        if calls[0] == 5:
            raise DataError("train.h5: the file changed while it was read; train again")
        return real(self)

    monkeypatch.setattr(training.Trainer, "backward_and_update", failing)
    result = invoke("train", tiny_config, "--quiet", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1 and result.stderr.strip() == "Error: train.h5: the file changed while it was read; train again"
    metrics = _metrics(_latest(tmp_path / "runs"))
    assert metrics["status"] == "interrupted"
    assert metrics["message"] == "stopped by an error at iteration 4: train.h5: the file changed while it was read; train again"


def test_latest_when_runs_start_at_once(tmp_path):
    """Threads (or processes) pointing latest at their runs together: no temporary link is shared,
    so none fails over to latest.txt, and latest ends at one of the runs."""
    runs = [tmp_path / f"r{i}" for i in range(8)]
    for r in runs:
        r.mkdir()
    errors = []

    def point(run):
        try:
            for _ in range(40):
                update_latest(tmp_path, run)
        except Exception as exc:  # noqa: BLE001 (the test reports any)
            errors.append(exc)

    threads = [threading.Thread(target=point, args=(r,)) for r in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert not (tmp_path / "latest.txt").exists()
    assert os.readlink(tmp_path / "latest") in {r.name for r in runs}
    assert not list(tmp_path.glob(".latest.*"))


# ---------------------------------------------------------------- L2 never decays the biases


@pytest.mark.parametrize("where", ["trainer", "reference"])
def test_l2_decays_the_weights_and_never_the_biases(where):
    """One logistic unit with non-zero biases, worked by hand: dW = (A - Y) X^T / m + (lambda/m) W,
    db = sum(A - Y) / m with no lambda term; J's penalty sums W only."""
    X = np.array([[1.0, -2.0, 0.5], [0.0, 1.0, 3.0]])
    Y = np.array([[1.0, 0.0, 1.0]])
    W, b, lam, m = np.array([[0.3, -0.2]]), np.array([[0.7]]), 0.9, 3
    A = 1 / (1 + np.exp(-(W @ X + b)))
    want_dW = (A - Y) @ X.T / m + lam / m * W
    want_db = (A - Y).sum(axis=1, keepdims=True) / m
    want_J = -np.mean(Y * np.log(A) + (1 - Y) * np.log(1 - A)) + lam / (2 * m) * np.sum(W**2)
    params = {"W1": W.copy(), "b1": b.copy()}
    if where == "trainer":
        t = Trainer(params, X, Y, ["sigmoid"], "cross_entropy", learning_rate=1.0, l2=lam)
        t.forward()
        J = t.cost()
        assert t.backward()
        dW, db = t.grad[:2].reshape(1, 2), t.grad[2:].reshape(1, 1)
    else:
        Zs, As = forward(X, params, ["sigmoid"])
        J = compute_cost(Zs[-1], As[-1], Y, "cross_entropy", params, lam)
        g = backward(Y, params, Zs, As, ["sigmoid"], "cross_entropy", lam)
        dW, db = g["dW1"], g["db1"]
    np.testing.assert_allclose(dW, want_dW, rtol=1e-12)
    np.testing.assert_allclose(db, want_db, rtol=1e-12)
    assert J == pytest.approx(want_J, rel=1e-12)


def test_l2_training_step_leaves_biases_as_plain_gradient_descent():
    """Two layers, non-zero biases, a gradient-descent step with L2: every b moves by -alpha db
    with db free of lambda (the same step with lambda = 0 moves b identically)."""
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((3, 7)), (rng.random((1, 7)) > 0.5).astype(float)
    base = {"W1": rng.standard_normal((4, 3)), "b1": rng.standard_normal((4, 1)), "W2": rng.standard_normal((1, 4)), "b2": rng.standard_normal((1, 1))}
    after = {}
    for lam in (0.0, 5.0):
        p = {k: v.copy() for k, v in base.items()}
        t = Trainer(p, X, Y, ["tanh", "sigmoid"], "cross_entropy", learning_rate=0.1, l2=lam)
        t.forward()
        t.backward_and_update()
        after[lam] = {k: v.copy() for k, v in t.materialize().items()}
    # the output layer's db does not depend on W's decay at all: identical bits
    assert after[0.0]["b2"].tobytes() == after[5.0]["b2"].tobytes()
    assert after[0.0]["b1"].tobytes() == after[5.0]["b1"].tobytes()
    assert not np.allclose(after[0.0]["W2"], after[5.0]["W2"])


# ---------------------------------------------------------------- the refused pairs, as docs/combinations.md lists them

BASE = "data: {train: train.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n"
# (feature, feature, `--set` overrides of BASE, command, the message's words as the page quotes them)
REFUSALS = [
    (
        "early stopping",
        "no validation set",
        ["train.early_stopping={patience: 2}"],
        "train",
        "train.early_stopping: it watches a validation set; add data.validation (a file, or a fraction such as 0.2)",
    ),
    (
        "early stopping on accuracy",
        "regression",
        ["train.early_stopping={monitor: validation_accuracy}", "data.validation=0.25", "model.output_activation=linear"],
        "train",
        "train.early_stopping.monitor: a regression has no accuracy; use validation_cost",
    ),
    (
        "dropout",
        "no hidden layer",
        ["model.hidden=[]", "train.keep_prob=0.8"],
        "train",
        "train.keep_prob: dropout applies to hidden layers and this network has none; use keep_prob: 1",
    ),
    (
        "dropout",
        "gradcheck",
        ["train.keep_prob=0.8"],
        "gradcheck",
        "train.keep_prob: gradient checking does not work with dropout: its cost changes with every mask; check backprop "
        "without dropout (--set train.keep_prob=1), then add dropout back, as the course does",
    ),
    (
        "dual first layer",
        "mini-batches",
        ["train.first_layer=dual", "train.iterations=null", "train.epochs=2", "train.batch_size=2"],
        "train",
        "train.first_layer: dual is not exact here (mini-batches",
    ),
    ("dual first layer", "L2", ["train.first_layer=dual", "train.l2=0.1"], "train", "train.first_layer: dual is not exact here (L2 regularisation"),
    (
        "dual first layer",
        "RMSprop or Adam",
        ["train.first_layer=dual", "train.optimizer=adam"],
        "train",
        "train.first_layer: dual is not exact here (the optimizer's element-wise division by its moments is not linear in the examples)",
    ),
    (
        "streaming",
        "full batch",
        ["data.stream=always"],
        "train",
        "data.stream: always reads mini-batches from the file, so it needs a train.batch_size below the 8 examples",
    ),
    (
        "streaming",
        "built-in data",
        ["data.stream=always", "data.train=builtin:planar"],
        "train",
        "data.stream: always reads the examples from a data file, and a built-in dataset is generated in memory",
    ),
    (
        "streaming",
        "validation fraction",
        ["data.stream=always", "data.validation=0.25", "train.iterations=null", "train.epochs=2", "train.batch_size=2"],
        "train",
        "data.validation as a fraction splits examples held in memory, and this file is streamed (data.stream)",
    ),
    (
        "streaming",
        "standardize",
        ["data.stream=always", "data.normalize=standardize", "train.iterations=null", "train.epochs=2", "train.batch_size=2"],
        "train",
        "data.normalize: standardize needs the training set in memory, and this file is streamed (data.stream)",
    ),
    ("init zeros", "hidden layers", ["model.init=zeros"], "train", "model.init: 'zeros' makes every hidden unit compute the same function"),
    (
        "sigmoid output",
        "more than two classes",
        ["model.output_activation=sigmoid", "data.train=k.h5"],
        "train",
        "but a sigmoid output tells two apart; use output_activation: softmax",
    ),
    ("mse", "sigmoid output", ["model.loss=mse"], "train", "model.loss: mse with a sigmoid output trains a regression squeezed into (0, 1), not a classifier"),
    (
        "mse",
        "softmax output",
        ["model.loss=mse", "model.output_activation=softmax"],
        "train",
        "model.loss: mse with a softmax output trains a regression squeezed onto the classes' probabilities",
    ),
    (
        "iterations",
        "mini-batches",
        ["train.batch_size=2"],
        "train",
        "train.iterations counts full-batch steps; with train.batch_size give train.epochs instead",
    ),
    (
        "batch norm",
        "mini-batches of one example",
        ["model.batch_norm=true", "train.iterations=null", "train.epochs=2", "train.batch_size=1"],
        "train",
        "train.batch_size: 1 example per mini-batch has variance 0, so model.batch_norm would normalise every unit to 0",
    ),
    (
        "batch norm",
        "gradcheck on one example",
        ["model.batch_norm=true"],
        ("gradcheck", "--examples", "1"),
        "model.batch_norm: one example has variance 0, so every normalised unit is 0 and every gradient before it is 0: "
        "nothing to check; use --examples 2 or more",
    ),
    (
        "a table",
        "streaming",
        ["data.train=t.csv", "data.stream=always"],
        "train",
        "data.stream: always reads mini-batches from an HDF5 file, and a table is read whole; use stream: auto",
    ),
    (
        "successive halving",
        "a swept training length",
        [],
        ("sweep", "--grid", "train.iterations=5,10", "--halving", "2", "--min-budget", "2"),
        "--halving sets each trial's training length itself; do not sweep train.iterations with it",
    ),
    (
        "a search",
        "a grid on the same key",
        [],
        ("sweep", "--search", "train.learning_rate=loguniform(1e-3,1)", "--trials", "2", "--grid", "train.learning_rate=0.1,0.2"),
        "--search train.learning_rate and --grid train.learning_rate both vary it; keep one of them",
    ),
    (
        "batch norm",
        "the GPU",
        ["model.batch_norm=true", "train.device=gpu"],
        "train",
        "model.batch_norm: batch norm runs on the CPU only; use device: cpu, or no batch norm on the gpu",
    ),
    (
        "dual first layer",
        "the GPU",
        ["train.first_layer=dual", "train.device=gpu"],
        "train",
        "train.first_layer: dual runs on the CPU only; use auto or primal with device: gpu",
    ),
    (
        "data.header",
        "data that is not a table",
        ["data.header=true"],
        "train",
        "data.header: for tables only (.csv, .tsv, .parquet); data.train is",
    ),
]


@pytest.mark.parametrize("a,b,sets,command,words", REFUSALS, ids=[f"{r[0]} x {r[1]}" for r in REFUSALS])
def test_refused_pairs_say_what_docs_combinations_says(tmp_path, a, b, sets, command, words):
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["x"], f["y"] = np.arange(16.0).reshape(8, 2), np.arange(8) % 2
    with h5py.File(tmp_path / "k.h5", "w") as f:
        f["x"], f["y"] = np.arange(18.0).reshape(9, 2), np.arange(9) % 3
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n")
    spec = _spec(tmp_path, BASE + f"runs_dir: {tmp_path / 'runs'}\n")
    args = [x for s in sets for x in ("--set", s)]
    command, *options = (command,) if isinstance(command, str) else command
    result = invoke(command, spec, *args, *options, *(["--quiet"] if command == "train" else []))
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and words in lines[0], result.stderr
    page = (Path(__file__).resolve().parents[1] / "docs" / "combinations.md").read_text()
    assert words in " ".join(page.split()), f"docs/combinations.md does not quote the refusal of {a} x {b}: {words}"


# ---------------------------------------------------------------- the "done when", end to end


def test_ten_digits_with_validation_file_and_early_stopping_end_to_end(tmp_path):
    """10-class digits with a validation file and early stopping -> evaluate -> predict -> report ->
    sweep -> resume -> gradcheck, through the CLI (issue 19's first workflow of a new user)."""
    from test_multiclass import draw_digits

    from nnctl.experiment.run import train_run

    digits = draw_digits(tmp_path / "digits")
    _ok(invoke("data", "import", digits, "-o", tmp_path / "digits.h5", "--size", "12", "--test-fraction", "0.3", "--quiet"))
    held = draw_digits(tmp_path / "held", per_class=8, seed=1)
    _ok(invoke("data", "import", held, "-o", tmp_path / "val.h5", "--size", "12", "--test-fraction", "0.5", "--quiet"))
    spec = _spec(
        tmp_path,
        f"""\
name: digits
data: {{train: digits.h5, test: digits.h5, validation: val.h5}}
model: {{hidden: [32], init: he}}
train: {{learning_rate: 0.005, epochs: 40, batch_size: 32, optimizer: adam, seed: 1, record_every: 2, checkpoint_every: 3,
        early_stopping: {{patience: 4}}}}
runs_dir: {tmp_path / "runs"}
""",
    )
    _ok(invoke("train", spec, "-q", *ONE))
    run = _latest(tmp_path / "runs")
    metrics = _metrics(run)
    assert metrics["status"] == "completed" and metrics["layers"] == [432, 32, 10]
    assert metrics["validation"]["m"] == 40 and np.isfinite(metrics["validation_cost"]) and "early_stopping" in metrics
    assert metrics["train_accuracy"] > 50 and metrics["validation_accuracy"] > 30  # chance is 10%
    _ok(invoke("evaluate", run))
    rows = _ok(invoke("predict", *sorted((digits / "7").iterdir())[:5], "--run", run, "--json")).stdout.splitlines()
    assert len(rows) == 5 and all(len([k for k in json.loads(r) if k.startswith("P(")]) == 10 for r in rows)
    _ok(invoke("report", run))
    assert "validation" in (run / "report.html").read_text()
    swept = _ok(invoke("sweep", spec, "--grid", "train.learning_rate=0.005,0.01", "--jobs", "1", "-q", "--no-report", *ONE))
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    assert [t["status"] for t in json.loads((sweep / "summary.json").read_text())["trials"]] == ["completed"] * 2, swept.output
    # stopped at the 30th step (as Ctrl-C stops it), resumed through the CLI: the parameters of the run above
    asked = [0]
    stopped = train_run(
        load_config(spec, ["train.blas_threads=1"]), runs_root=tmp_path / "stopped", should_stop=lambda: (asked.__setitem__(0, asked[0] + 1), asked[0] >= 30)[1]
    )
    assert stopped.status == "interrupted"
    _ok(invoke("train", "--resume", stopped.run_dir, "-q", "--no-report"))
    again = _params(Path(stopped.run_dir))
    assert all(again[k].tobytes() == v.tobytes() for k, v in _params(run).items())
    checked = _ok(invoke("gradcheck", spec, "--examples", "4", "--max-per-layer", "200"))
    assert "great" in checked.output.splitlines()[-2] or "great" in checked.output


def test_validation_monitor_scores_k_classes_by_hand():
    """The validation cost and accuracy of a softmax network, worked by hand: categorical
    cross-entropy of one-hot labels, accuracy of the most probable class (not "a > 0.5")."""
    from types import SimpleNamespace

    from nnctl.core.validation import ValidationMonitor

    rng = np.random.default_rng(0)
    X = rng.standard_normal((2, 9))
    labels = np.array([[0, 1, 2, 2, 1, 0, 1, 2, 0]])
    params = {"W1": rng.standard_normal((3, 2)), "b1": rng.standard_normal((3, 1))}
    trainer = SimpleNamespace(materialize=lambda: params)
    monitor = ValidationMonitor(trainer, SimpleNamespace(X=X, Y=labels), "categorical_cross_entropy", ["softmax"], "classification")
    cost, accuracy = monitor.evaluate()
    Z = params["W1"] @ X + params["b1"]
    P = np.exp(Z) / np.exp(Z).sum(axis=0)
    assert cost == pytest.approx(-np.mean(np.log(P[labels[0], np.arange(9)])), rel=1e-12)
    assert accuracy == pytest.approx(100 * np.mean(P.argmax(axis=0) == labels[0]))
    assert accuracy == pytest.approx(100 / 3)  # the binary rule "a > 0.5" gives 44.4% (or 66.7% on the first row) here


def test_early_stopping_counts_only_improvements_beyond_min_delta():
    """Validation costs 1.0, 0.95, 0.93 with min_delta 0.1 and patience 2: neither later cost is an
    improvement, so the third record stops, the best staying the first."""
    from types import SimpleNamespace

    from nnctl.spec.config import EarlyStoppingSpec
    from nnctl.core.validation import ValidationMonitor

    params = {"W1": np.zeros((1, 1)), "b1": np.zeros((1, 1))}
    monitor = ValidationMonitor(
        SimpleNamespace(materialize=lambda: params), None, "cross_entropy", ["sigmoid"], "classification", early=EarlyStoppingSpec(patience=2, min_delta=0.1)
    )
    costs = iter([1.0, 0.95, 0.93])
    monitor.evaluate = lambda: (next(costs), 50.0)
    assert monitor.on_record(0, 0) is None and monitor.on_record(1, 1) is None
    stop = monitor.on_record(2, 2)
    assert stop is not None and stop.startswith("early stopping at iteration 2: validation_cost did not improve by more than 0.1 in 2 records")
    assert monitor.best_value == 1.0 and monitor.best_epoch == 0


def test_gradcheck_checks_the_spec_with_its_l2_term(tmp_path):
    spec = load_config(_softmax_spec(tmp_path, extra_train=", l2: 2.5"))
    result = check_spec(spec, examples=5)
    assert result.l2 == 2.5 and result.difference < 1e-7


def test_batch_norm_run_predicts_an_h5_file(tmp_path):
    """Found by the property test after batch norm joined: predict on a file of a run whose first
    layer is batch-normalised (no b1) raised KeyError: 'b1'."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(30) * 3 + 5
    with h5py.File(tmp_path / "one.h5", "w") as f:
        f["x"], f["y"] = x, (x > 5).astype(np.int64)
    spec = _spec(
        tmp_path,
        f"data: {{train: one.h5}}\nmodel: {{hidden: [3], batch_norm: true}}\n"
        f"train: {{learning_rate: 0.01, epochs: 2, batch_size: 10}}\nruns_dir: {tmp_path / 'runs'}\n",
    )
    _ok(invoke("train", spec, "--quiet", "--no-report"))
    rows = _ok(invoke("predict", tmp_path / "one.h5", "--run", _latest(tmp_path / "runs"), "--json")).stdout.splitlines()
    assert len(rows) == 30 and json.loads(rows[0])["error"] is None
