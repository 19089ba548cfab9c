"""The Python API: nnctl.fit and nnctl.load give the CLI's runs, bit for bit, and read them back."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
import yaml

import nnctl
from conftest import CAT_TEST, CAT_TRAIN, REPO, invoke, needs_cat_data
from nnctl.api import Model, NnctlWarning
from nnctl.data.dataset import generate
from nnctl.errors import ConfigError, DataError, DivergedError, RunError
from nnctl.rundir.runs import load_params


def _data(kind: str):
    """(x (m, n), y (m,), class names) one example per row: binary, k classes, a regression."""
    if kind == "binary":
        x, y, names = generate("planar", m=200, seed=2)
    elif kind == "spiral":
        x, y, names = generate("spiral", m=150, k=3, seed=4)
    else:  # a smooth target of the spiral's points, on features of different scales
        x, _, _ = generate("spiral", m=160, k=4, seed=5)
        x = x * np.array([30.0, 0.5])
        y, names = np.sin(x[:, 0] / 10) + 4 * x[:, 1] ** 2, []
    return x, y, names


CASES = {
    "binary-full-batch": (
        "binary",
        {"model": {"hidden": [5], "hidden_activation": "tanh"}, "train": {"learning_rate": 0.8, "iterations": 60, "record_every": 10}},
    ),
    "k-class-minibatch-adam": (
        "spiral",
        {"model": {"hidden": [12, 6]}, "train": {"learning_rate": 0.01, "epochs": 15, "batch_size": 32, "optimizer": "adam", "record_every": 5}},
    ),
    "regression-momentum": (
        "regression",
        {
            "model": {"hidden": [8], "output_activation": "linear"},
            "train": {"learning_rate": 0.05, "epochs": 40, "batch_size": 40, "optimizer": "momentum", "record_every": 3},
        },
    ),
    "validation-early-stopping": (
        "spiral",
        {
            "data": {"validation": 0.25},
            "model": {"hidden": [10]},
            "train": {"learning_rate": 0.05, "epochs": 400, "batch_size": 16, "optimizer": "adam", "record_every": 1, "early_stopping": {"patience": 3}},
        },
    ),
    "dropout-l2-float32-rmsprop": (
        "binary",
        {
            "model": {"hidden": [16, 8]},
            "train": {
                "learning_rate": 0.005,
                "epochs": 10,
                "batch_size": 50,
                "optimizer": "rmsprop",
                "keep_prob": 0.8,
                "l2": 0.3,
                "dtype": "float32",
                "seed": 7,
            },
        },
    ),
}


def _write(tmp_path, kind, spec):
    """The data as a plain HDF5 file and a YAML spec that trains on it."""
    x, y, names = _data(kind)
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["x"], f["y"] = x, y
        if names:
            f["classes"] = np.array([n.encode() for n in names])
    on_file = {**spec, "name": "same", "data": {**spec.get("data", {}), "train": "train.h5"}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(on_file))
    return x, y, names


def _same_params(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        assert np.array_equal(a[key], b[key]), f"{key} differs"


@pytest.mark.parametrize("case", CASES)
def test_cli_and_api_give_the_same_parameters_bit_for_bit(case, tmp_path):
    kind, spec = CASES[case]
    x, y, names = _write(tmp_path, kind, spec)
    result = invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 0, result.output
    cli, _ = load_params(tmp_path / "runs" / "latest" / "params.h5", groups=True)
    # arrays in rows; text labels where the file's class names are in sorted order (text labels sort)
    labels = np.asarray(names)[y] if names and names == sorted(names) else y
    model = nnctl.fit({**spec, "name": "same"}, x, labels)
    api, _ = load_params_of(model, tmp_path / "saved")
    _same_params(cli, api)
    assert model.metrics["final_cost"] == json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())["final_cost"]
    # the spec's own data through the API: the same run again
    _same_params(cli, load_params_of(nnctl.fit(tmp_path / "spec.yaml"), tmp_path / "saved2")[0])
    # and a Spec object whose data.train is replaced by the arrays
    _same_params(cli, load_params_of(nnctl.fit(model.spec, x, labels), tmp_path / "saved3")[0])


def load_params_of(model: Model, folder):
    model.save(folder)
    return load_params(folder / "params.h5", groups=True)


def test_fit_predict_evaluate_save_load_round_trip(tmp_path):
    x, y, names = _data("spiral")
    labels = np.asarray(names)[y]
    spec = CASES["k-class-minibatch-adam"][1]
    model = nnctl.fit(spec, x[:120], labels[:120])
    assert model.layer_dims == [2, 12, 6, 3] and model.activations == ["relu", "relu", "softmax"]
    assert list(model.classes) == ["arm0", "arm1", "arm2"] and model.task == "classification"
    assert model.history_unit == "epoch" and [e for e, _ in model.history] == [0, 5, 10, 14]
    assert model.history[-1][1] == model.metrics["final_cost"]
    assert model.run_dir is None
    P = model.predict_proba(x[120:])
    assert P.shape == (30, 3) and np.allclose(P.sum(axis=1), 1)
    predicted = model.predict(x[120:])
    assert list(predicted) == list(model.classes[P.argmax(axis=1)])
    report = model.evaluate(x[120:], labels[120:])
    assert report["accuracy"] == pytest.approx(100 * np.mean(predicted == labels[120:]))
    assert np.array(report["confusion_matrix"]).sum() == 30
    assert model.evaluate(x[120:], y[120:])["accuracy"] == report["accuracy"]  # label numbers work too
    # one example alone gets the very same bits as in a batch
    assert np.array_equal(model.predict_proba(x[125:126])[0], P[5])
    saved = model.save(tmp_path / "kept")
    assert {"params.h5", "metrics.json", "config.resolved.yaml", "reproduce.json", "costs.csv", "spec.yaml"} <= {p.name for p in saved.iterdir()}
    again = nnctl.load(saved)
    assert np.array_equal(again.predict_proba(x[120:]), P)
    assert list(again.classes) == list(model.classes) and again.history == model.history
    assert again.run_dir == saved and again.spec.model.layers == [2, 12, 6, 3]


def test_a_saved_model_is_a_run_every_command_reads(tmp_path):
    x, y, names = _data("binary")
    model = nnctl.fit(CASES["binary-full-batch"][1], x[:150], np.asarray(names)[y[:150]])
    run = model.save(tmp_path / "run")
    assert list(model.classes) == ["blue", "red"]  # text labels sort: the generator's label 0 (red) is now 1
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["x"], f["y"], f["classes"] = x[150:], 1 - y[150:], np.array([b"blue", b"red"])
    result = invoke("evaluate", run, "--data", tmp_path / "test.h5")
    assert result.exit_code == 0, result.output
    written = json.loads((run / "evaluation-test.json").read_text())
    mine = model.evaluate(x[150:], np.asarray(names)[y[150:]])
    for key in ("accuracy", "precision", "recall", "f1", "confusion_matrix", "probabilities"):
        assert written[key] == mine[key], key
    np.savetxt(tmp_path / "rows.csv", x[150:160], delimiter=",", header="a,b", comments="")
    result = invoke("predict", tmp_path / "rows.csv", "--run", run, "--json")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["class"] for line in result.stdout.splitlines()] == list(model.predict(x[150:160]))


def test_load_reads_a_run_the_cli_trained(tiny_config, tmp_path):
    assert invoke("train", tiny_config, "--runs-dir", tmp_path / "runs", "--quiet", "--no-report").exit_code == 0
    assert invoke("evaluate", tmp_path / "runs" / "latest").exit_code == 0
    model = nnctl.load(tmp_path / "runs" / "latest")
    evaluation = json.loads((tmp_path / "runs" / "latest" / "evaluation.json").read_text())
    with h5py.File(tmp_path / "test.h5") as f:
        x, y = f["test_set_x"][()], f["test_set_y"][()]
    assert list(model.classes) == ["dark", "bright"] and model.input_shape == [4, 4, 3]
    assert model.predict_proba(x)[:, 1].tolist() == evaluation["probabilities"]  # pictures (m, 4, 4, 3), uint8 as pixels
    assert model.predict_proba(x.reshape(6, -1)).tolist() == model.predict_proba(x).tolist()  # or flattened rows
    assert model.evaluate(x, y)["accuracy"] == evaluation["accuracy"]
    assert model.history == [(0, model.history[0][1]), (10, model.history[1][1]), (20, model.history[2][1]), (29, model.metrics["final_cost"])]


def test_fit_keeps_a_run_folder_only_when_asked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y, _ = _data("binary")
    nnctl.fit(CASES["binary-full-batch"][1], x, y)
    assert list(tmp_path.iterdir()) == []  # nothing under the working directory, no runs/
    kept = nnctl.fit(CASES["binary-full-batch"][1], x, y, runs_dir="mine")
    assert kept.run_dir.resolve().parent == tmp_path / "mine" and (kept.run_dir / "costs.png").exists()
    assert nnctl.load("mine/latest").metrics["status"] == "completed"
    assert "array:train" in (kept.run_dir / "config.resolved.yaml").read_text()
    shown = invoke("runs", "show", kept.run_dir)
    assert shown.exit_code == 0 and "nnctl.fit(spec, X, y) in Python" in shown.stdout  # not `nnctl train` of it


def test_quiet_false_prints_the_recorded_costs(capsys):
    x, y, _ = _data("binary")
    nnctl.fit(CASES["binary-full-batch"][1], x, y, quiet=False)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("fit: iteration 0/60  cost 0.6") and err[-1].startswith("fit: iteration 59/60  cost ")


def test_a_regression_model(tmp_path):
    x, y, _ = _data("regression")
    model = nnctl.fit(CASES["regression-momentum"][1], x, y)
    assert model.classes is None and model.task == "regression"
    values = model.predict(x)
    report = model.evaluate(x, y)
    assert report["rmse"] == pytest.approx(np.sqrt(np.mean((values - y) ** 2)), rel=1e-12)
    assert report["rmse"] == pytest.approx(model.metrics["train_rmse"], rel=1e-12)
    with pytest.raises(RunError, match="a regression has no class probabilities; use predict"):
        model.predict_proba(x)


def test_a_diverged_fit_says_so_without_naming_a_removed_folder():
    x, y, _ = _data("binary")
    spec = {"model": {"hidden": [5]}, "train": {"learning_rate": 1e6, "iterations": 50}}
    with pytest.raises(DivergedError) as info:
        nnctl.fit(spec, x * 1e3, y)
    assert "try a smaller learning_rate" in str(info.value) and "Run kept" not in str(info.value)


def test_degenerate_models_warn():
    x, y, _ = _data("regression")
    # targets 100 away from the untrained outputs, kept as given (standardised, the offset would be no trouble)
    spec = {"data": {"normalize_target": "none"}, "model": {"hidden": [3], "output_activation": "linear"}, "train": {"learning_rate": 1e-9, "iterations": 2}}
    with pytest.warns(NnctlWarning, match="the model does no better than predicting the mean of the targets"):
        nnctl.fit(spec, x, y + 100)


BAD_INPUTS = [
    (lambda x, y: (x.ravel(), y), "X: expected examples in rows, shape (m, n_x) (got shape (400,)); one feature: X.reshape(-1, 1)"),
    (lambda x, y: (np.where(np.arange(x.size).reshape(x.shape) == 3, np.nan, x), y), "X: holds NaN or infinite values; fill or drop them"),
    (lambda x, y: (x, y[:-1]), "y: expected one label per row of X, shape (200,) (got shape (199,))"),
    (lambda x, y: (x.astype(str), y), "X: has dtype <U"),
    (lambda x, y: (x[:0], y[:0]), "X: holds zero examples (shape (0, 2)); give at least one row"),
    (lambda x, y: (x, np.array(["a", 1] * 100, dtype=object)), "y: labels of mixed types (e.g. text and numbers); give labels of one type"),
    (lambda x, y: (x, y + 0.5), "array:train: labels [0.5, 1.5] are not class numbers"),
]


@pytest.mark.parametrize("bad, message", BAD_INPUTS)
def test_bad_arrays_are_refused_with_one_line(bad, message):
    x, y, _ = _data("binary")
    with pytest.raises(DataError) as info:
        nnctl.fit(CASES["binary-full-batch"][1], *bad(x, y))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_sparse_input_is_refused_with_the_fix():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    x, y, _ = _data("binary")
    with pytest.raises(DataError, match=r"X: a sparse matrix; nnctl trains on dense arrays, so pass X.toarray\(\)"):
        nnctl.fit(CASES["binary-full-batch"][1], scipy_sparse.csr_matrix(x), y)
    model = nnctl.fit(CASES["binary-full-batch"][1], x, y)
    with pytest.raises(DataError, match="sparse"):
        model.predict(scipy_sparse.csr_matrix(x))


def test_the_model_refuses_other_inputs_and_labels(tmp_path):
    x, y, names = _data("binary")
    model = nnctl.fit(CASES["binary-full-batch"][1], x, np.asarray(names)[y])
    with pytest.raises(DataError, match=r"X: rows of shape \[3\] \(3 features\), but the model takes 2 features"):
        model.predict(np.ones((4, 3)))
    with pytest.raises(DataError, match=r"y: classes \['green'\] are not among the model's \['blue', 'red'\]"):
        model.evaluate(x[:2], ["red", "green"])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(RunError, match="full: is a folder that is not empty; give a new folder"):
        model.save(tmp_path / "full")
    with pytest.raises(DataError, match="fit: give X and y together"):
        nnctl.fit(CASES["binary-full-batch"][1], x)
    with pytest.raises(ConfigError, match="spec: train.learning_rate: must be greater than 0"):  # (absent, it has a default now)
        nnctl.fit({"train": {"iterations": 3, "learning_rate": -1}}, x, y)
    with pytest.raises(ConfigError, match="spec: expected a dict, a YAML file's path or a nnctl Spec"):
        nnctl.fit(42, x, y)


def test_a_run_trained_on_arrays_names_them_when_trained_again(tmp_path):
    x, y, _ = _data("binary")
    kept = nnctl.fit(CASES["binary-full-batch"][1], x, y, runs_dir=tmp_path / "runs")
    result = invoke("train", kept.run_dir / "config.resolved.yaml", "--runs-dir", tmp_path / "again", "--quiet")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: array:train: arrays given to nnctl.fit in Python, which a run does not keep; "
        "call nnctl.fit(spec, X, y) again, or give the data as a file (data.train: FILE.h5)"
    )


@pytest.mark.slow  # a fresh interpreter: what `import nnctl` loads
def test_import_nnctl_stays_light():
    code = "import sys, nnctl; assert 'nnctl.api' not in sys.modules; nnctl.fit; assert 'sklearn' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert out.stdout.strip() == "ok", out.stderr
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nnctl.Model is Model


def test_arrays_with_the_specs_test_file_and_the_other_features(tmp_path):
    x, y, names = _data("spiral")
    order = np.random.default_rng(0).permutation(len(y))  # the generator writes one arm after another
    x, y = x[order], y[order]
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["x"], f["y"], f["classes"] = x[100:], y[100:], np.array([n.encode() for n in names])
    spec = {
        "data": {"test": str(tmp_path / "test.h5"), "validation": 0.2},
        "model": {"hidden": [16, 8]},
        "train": {
            "learning_rate": 0.01,
            "epochs": 30,
            "batch_size": 16,
            "optimizer": "adam",
            "record_every": 1,
            "keep_prob": [0.9, 1.0],
            "l2": 0.01,
            "early_stopping": {"patience": 5},
        },
    }
    model = nnctl.fit(spec, x[:100], np.asarray(names)[y[:100]], runs_dir=tmp_path / "runs")
    assert model.metrics["test_accuracy"] == model.evaluate(x[100:], y[100:])["accuracy"]
    assert model.metrics["validation"]["m"] == 20 and "validation_accuracy" in model.metrics
    result = invoke("report", model.run_dir)
    assert result.exit_code == 0, result.output
    assert "array:train" in (model.run_dir / "report.html").read_text()
    # a test file whose classes are in another order than the sorted text labels is refused
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["x"], f["y"], f["classes"] = x[100:], 2 - y[100:], np.array([n.encode() for n in names[::-1]])
    with pytest.raises(DataError, match=r"other.h5: classes \[arm2, arm1, arm0\] \(label 0 first\), but the training data's are \[arm0, arm1, arm2\]"):
        nnctl.fit({**spec, "data": {**spec["data"], "test": str(tmp_path / "other.h5")}}, x[:100], np.asarray(names)[y[:100]])
    with pytest.raises(DataError, match="array:train: data.stream: always reads mini-batches from a file, and these arrays are in memory"):
        nnctl.fit({**spec, "data": {**spec["data"], "stream": "always"}}, x[:100], y[:100])
    # a run on arrays cannot be resumed from the command line: the arrays are not in it
    result = invoke("train", "--resume", model.run_dir)
    assert result.exit_code == 1


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_through_fit(optimizer):
    x, y, _ = _data("binary")
    rates = {"gd": 0.5, "momentum": 0.5, "rmsprop": 0.01, "adam": 0.01}
    spec = {
        "model": {"hidden": [8], "hidden_activation": "tanh"},
        "train": {"learning_rate": rates[optimizer], "epochs": 150, "batch_size": 50, "optimizer": optimizer, "record_every": 10},
    }
    model = nnctl.fit(spec, x, y)
    assert model.history[-1][1] < model.history[0][1] * 0.8
    assert model.evaluate(x, y)["accuracy"] == model.metrics["train_accuracy"] >= 80


def test_ctrl_c_during_fit_says_what_was_kept(monkeypatch, tmp_path):
    from nnctl.core import training
    from nnctl.errors import Interrupted

    real, calls = training.Trainer.backward_and_update, [0]

    def interrupted(self):
        calls[0] += 1
        if calls[0] == 5:
            raise KeyboardInterrupt
        return real(self)

    monkeypatch.setattr(training.Trainer, "backward_and_update", interrupted)
    x, y, _ = _data("binary")
    # a KeyboardInterrupt in the middle of a step: fit's Ctrl-C handler raises one at the second Ctrl-C
    with pytest.raises(Interrupted) as stopped:
        nnctl.fit(CASES["binary-full-batch"][1], x, y)
    assert str(stopped.value) == "fit interrupted: SIGINT twice: stopped at once at iteration 4; nothing was kept (no runs_dir): call nnctl.fit again"
    calls[0] = 0
    with pytest.raises(Interrupted) as stopped:
        nnctl.fit(CASES["binary-full-batch"][1], x, y, runs_dir=tmp_path / "runs")
    run = (tmp_path / "runs" / "latest").resolve()
    said = (
        f"SIGINT twice: stopped at once at iteration 4; the run is kept in {run}, with no checkpoint yet; it cannot be resumed, "
        "as it was trained on arrays given to nnctl.fit, which a run does not keep: call nnctl.fit again"
    )
    assert str(stopped.value) == f"fit interrupted: {said}"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "interrupted" and metrics["message"] == said


@pytest.mark.slow  # a fresh interpreter without scikit-learn
def test_nnctl_sklearn_without_scikit_learn_names_the_extra():
    code = "import sys; sys.modules['sklearn'] = None\ntry:\n    import nnctl.sklearn\nexcept ImportError as exc:\n    print(exc)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert out.stdout.strip() == "nnctl.sklearn needs scikit-learn: pip install 'nnctl[sklearn]'", out.stderr


def test_the_validation_monitor_of_k_classes_scores_the_top_class(tmp_path):
    """The monitor's validation cost and accuracy of a softmax run (it once compared A[L] > 0.5 with
    the label numbers, and crashed on the cost): its last record equals the model on the held-out part."""
    from nnctl.data.dataset import Dataset, split_validation

    x, y, names = _data("spiral")
    spec = {
        "data": {"validation": 0.3},
        "model": {"hidden": [10]},
        "train": {"learning_rate": 0.05, "epochs": 40, "batch_size": 16, "optimizer": "adam", "record_every": 1},
    }
    model = nnctl.fit(spec, x, y, runs_dir=tmp_path / "runs")
    _, held = split_validation(Dataset(X=x.T.copy(), Y=y.reshape(1, -1)), 0.3, 1)  # the run's seed, stratified
    rows = (model.run_dir / "costs.csv").read_text().splitlines()
    header, last = rows[0].split(","), dict(zip(rows[0].split(","), rows[-1].split(",")))
    assert header[-2:] == ["validation_cost", "validation_accuracy"]
    mine = model.evaluate(held.X.T, held.Y.ravel())
    assert float(last["validation_accuracy"]) == pytest.approx(mine["accuracy"], abs=1e-9) and 40 < mine["accuracy"] <= 100
    assert model.metrics["validation_accuracy"] == pytest.approx(mine["accuracy"], abs=1e-9)
    P = model.predict_proba(held.X.T)
    cost = -np.mean(np.log(P[np.arange(len(P)), held.Y.ravel().astype(int)]))
    assert float(last["validation_cost"]) == pytest.approx(cost, rel=1e-9)


@needs_cat_data
def test_the_course_cat_pictures_as_arrays_train_the_cli_run(tmp_path):
    """cat-deep (legacy init, the course's pictures as uint8 arrays (209, 64, 64, 3), divided by 255
    as the file's are, its test file kept): 30 iterations, the CLI's parameters bit for bit."""
    config = REPO / "configs" / "cat-deep.yaml"
    # one BLAS thread in both: left to nnctl, the count follows the machine's load, which may change
    # between the two runs (and with it the last bits of a product this large)
    result = invoke("train", config, "--set", "train.iterations=30", "--set", "train.blas_threads=1", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 0, result.output
    cli, _ = load_params(tmp_path / "runs" / "latest" / "params.h5", groups=True)
    with h5py.File(CAT_TRAIN) as f:
        x, y = f["train_set_x"][()], f["train_set_y"][()]
    spec = yaml.safe_load(config.read_text())
    spec["train"]["iterations"] = 30
    spec["train"]["blas_threads"] = 1
    spec["data"] = {"test": str(CAT_TEST)}
    model = nnctl.fit(spec, x, y)  # label numbers: the file's class names (non-cat, cat) are not in sorted order
    _same_params(cli, load_params_of(model, tmp_path / "saved")[0])
    assert model.metrics["test_accuracy"] == json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())["test_accuracy"]
    assert model.input_shape == [64, 64, 3] and model.predict(x[:3]).shape == (3,)


def test_a_ctrl_c_that_a_library_turned_into_an_import_error_is_an_interruption(monkeypatch, tmp_path):
    """A second Ctrl-C while matplotlib's C extension loaded (drawing costs.png) failed its import with
    ImportError "initialization failed", caused by the KeyboardInterrupt: the run was marked failed and
    a traceback printed. It is an interruption, as the KeyboardInterrupt itself would be."""
    from nnctl.experiment import run as run_module
    from nnctl.errors import Interrupted

    def interrupted_import(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:
            raise ImportError("initialization failed") from exc

    monkeypatch.setattr(run_module, "plot_costs", interrupted_import)
    x, y, _ = _data("binary")
    with pytest.raises(Interrupted):
        nnctl.fit(CASES["binary-full-batch"][1], x, y, runs_dir=tmp_path / "runs")
    run = (tmp_path / "runs" / "latest").resolve()
    assert json.loads((run / "metrics.json").read_text())["status"] == "interrupted"
