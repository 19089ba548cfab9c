"""A regression's target standardised for training (data.normalize_target, issue 22).

The mean and std come from the training rows alone, are stored in the run beside the inputs'
normalisation, and every prediction that leaves the model is turned back, a std + mean: predict,
evaluate, metrics.json's RMSE, sweeps, the Python API and scikit-learn estimator (exports:
tests/test_export.py's offset-regression run). Off (`none`), a run is what it always was.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from conftest import invoke

import nnctl
from nnctl.spec.config import load_config
from nnctl.data.dataset import fit_target_scaling, split_indices, write_dataset
from nnctl.experiment.run import resume_run, train_run
from nnctl.rundir.runs import load_run


def _offset_data(m, seed):
    """Three features of order one and a target of large offset and scale (about 4000 +- 700, as body
    masses in grams): what Adam at 0.001 cannot reach from outputs near 0 in 200 epochs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 3))
    y = 4000 + 600 * (x[:, 0] - 0.5 * x[:, 1]) + 300 * np.tanh(x[:, 2]) + 40 * rng.normal(size=m)
    return x, y


SPEC = """\
data: {train: train.h5, test: test.h5%s}
model: {hidden: [5], hidden_activation: tanh, output_activation: linear}
train: {learning_rate: 0.01, epochs: 40, batch_size: 32, optimizer: adam, seed: 1, record_every: 5, checkpoint_every: 3}
"""


def _write(folder, m=200, extra="", validation_shift=None):
    x, y = _offset_data(m + 60, 0)
    write_dataset(folder / "train.h5", x[:m], y[:m])
    write_dataset(folder / "test.h5", x[m:], y[m:])
    if validation_shift is not None:
        xv, yv = _offset_data(50, 9)
        write_dataset(folder / "validation.h5", xv, yv + validation_shift)
    (folder / "r.yaml").write_text(SPEC % extra)
    return x, y


def _train(folder, *sets, config="r.yaml"):
    args = ["train", folder / config, "-q", "--no-report", "--runs-dir", folder / "runs"]
    for s in sets:
        args += ["--set", s]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    run = (folder / "runs" / "latest").resolve()
    return run, json.loads((run / "metrics.json").read_text())


def _stored(run):
    """(mean, std, preprocessing) as params.h5 holds them, read with h5py (not through nnctl)."""
    with h5py.File(run / "params.h5") as f:
        pre = json.loads(f.attrs["preprocessing"])
        if "normalize_target" not in f:
            return None, None, pre
        return f["normalize_target/mean"][()], f["normalize_target/std"][()], pre


# ---------------------------------------------------------------- the statistics


def test_the_statistics_worked_by_hand():
    y = np.array([[1.0, 2.0, 3.0, 10.0]])  # mean 4; deviations -3, -2, -1, 6: variance (9 + 4 + 1 + 36) / 4 = 12.5
    s = fit_target_scaling("auto", "regression", "linear", y)
    assert s.method == "standardize" and s.mean.tolist() == [[4.0]]
    assert s.std[0, 0] == pytest.approx(np.sqrt(12.5), rel=1e-15)
    z = s.apply(y, np.float64)
    np.testing.assert_allclose(z, np.array([[-3.0, -2.0, -1.0, 6.0]]) / np.sqrt(12.5), rtol=1e-15)
    np.testing.assert_allclose(s.invert(z), y, rtol=1e-15)
    assert s.apply(y, np.float32).dtype == np.float32
    constant = fit_target_scaling("standardize", "regression", "linear", np.full((1, 5), 7.0))
    assert constant.mean.tolist() == [[7.0]] and constant.std.tolist() == [[1.0]]  # std 0 -> 1: the targets become 0, not NaN
    assert fit_target_scaling("auto", "regression", "leaky_relu", y).method == "standardize"
    # auto leaves alone what standardising would not fit: a bounded output's range, a classifier's classes
    assert fit_target_scaling("auto", "regression", "relu", y).method == "none"
    assert fit_target_scaling("auto", "regression", "tanh", y).method == "none"
    assert fit_target_scaling("auto", "classification", "sigmoid", np.array([[0, 1, 1]])).method == "none"
    assert fit_target_scaling("none", "regression", "linear", y).method == "none"


def test_fitted_on_the_training_rows_only(tmp_path):
    """Validation and test targets 5000 away from the training ones: the stored statistics are
    numpy's of the training rows, and of the training part alone when a fraction is held out."""
    x, y = _write(tmp_path, extra=", validation: validation.h5", validation_shift=5000.0)
    run, metrics = _train(tmp_path)
    mean, std, pre = _stored(run)
    assert pre["normalize_target"] == "standardize" and mean.shape == std.shape == (1, 1)
    assert mean[0, 0] == pytest.approx(np.mean(y[:200]), rel=1e-14)
    assert std[0, 0] == pytest.approx(np.std(y[:200]), rel=1e-14)
    assert metrics["normalize_target"]["mean"] == [float(mean[0, 0])] and metrics["normalize_target"]["std"] == [float(std[0, 0])]
    assert yaml.safe_load((run / "config.resolved.yaml").read_text())["data"]["normalize_target"] == "standardize"  # what auto chose

    run, _ = _train(tmp_path, "data.validation=0.25")  # a fraction of train.h5 held out, seeded by train.seed (1)
    keep, held = split_indices(200, 0.25, 1)
    mean, std, _ = _stored(run)
    assert held.size == 50 and mean[0, 0] == pytest.approx(np.mean(y[keep]), rel=1e-14) and std[0, 0] == pytest.approx(np.std(y[keep]), rel=1e-14)
    assert abs(mean[0, 0] - np.mean(y[:200])) > 1e-6  # not the whole file's


# ---------------------------------------------------------------- every prediction in the target's units


def test_every_prediction_is_turned_back(tmp_path):
    """The course's forward pass by hand from params.h5, then z std + mean: what predict, evaluate,
    metrics.json, nnctl.load and report all give."""
    x, y = _write(tmp_path)
    run, metrics = _train(tmp_path)
    x_test, y_test = x[200:], y[200:]
    mean, std, _ = _stored(run)
    with h5py.File(run / "params.h5") as f:
        W1, b1, W2, b2 = (f[k][()] for k in ("W1", "b1", "W2", "b2"))
    assert metrics["normalize"]["method"] == "none"  # features of order one: inputs as given, so the sum below is the whole model
    z = W2 @ np.tanh(W1 @ x_test.T + b1) + b2  # what the network computes: the standardised target
    by_hand = (z * std + mean).ravel()
    assert abs(np.mean(by_hand) - 4000) < 300 and np.sqrt(np.mean((by_hand - y_test) ** 2)) < 150  # grams, not standard deviations

    printed = invoke("predict", tmp_path / "test.h5", "--run", run, "--json")
    assert printed.exit_code == 0, printed.output
    values = [json.loads(line)["value"] for line in printed.stdout.splitlines()]
    np.testing.assert_allclose(values, by_hand, rtol=1e-12)

    assert invoke("evaluate", run).exit_code == 0
    evaluation = json.loads((run / "evaluation.json").read_text())
    np.testing.assert_allclose(evaluation["outputs"], by_hand, rtol=1e-12)
    rmse = np.sqrt(np.mean((by_hand - y_test) ** 2))
    assert evaluation["rmse"] == pytest.approx(rmse, rel=1e-10)
    assert evaluation["mae"] == pytest.approx(np.mean(np.abs(by_hand - y_test)), rel=1e-10)
    assert metrics["test_rmse"] == pytest.approx(rmse, rel=1e-10)  # metrics.json: the same units

    model = nnctl.load(run)
    np.testing.assert_allclose(model.predict(x_test), by_hand, rtol=1e-12)
    np.testing.assert_allclose(model.output(x_test)[:, 0], by_hand, rtol=1e-12)
    assert model.evaluate(x_test, y_test)["rmse"] == pytest.approx(rmse, rel=1e-10)

    from nnctl.report.page import write_report

    page = Path(write_report(run)).read_text()
    assert "Target standardised for training (mean " in page and "in standardised units" in page


def test_validation_rmse_early_stopping_and_sweeps_in_the_targets_units(tmp_path):
    """validation_rmse (what a sweep chooses on) in grams, the validation cost (what early stopping
    watches) in standardised units, as the training cost is."""
    x, y = _write(tmp_path)
    run, metrics = _train(tmp_path, "data.validation=0.25", "train.early_stopping={patience: 3}")
    keep, held = split_indices(200, 0.25, 1)
    model = nnctl.load(run)
    assert metrics["validation_rmse"] == pytest.approx(model.evaluate(x[held], y[held])["rmse"], rel=1e-10)
    assert 30 < metrics["validation_rmse"] < 300  # grams
    assert metrics["validation_cost"] < 1 and metrics["early_stopping"]["best_value"] < 1  # (1/2m) sum (a - z)^2 of standardised z

    sweep = invoke(
        "sweep",
        tmp_path / "r.yaml",
        "--grid",
        "train.learning_rate=0.003,0.03",
        "--set",
        "data.validation=0.25",
        "--runs-dir",
        tmp_path / "sweeps",
        "--jobs",
        "1",
        "--quiet",
        "--no-report",
    )
    assert sweep.exit_code == 0, sweep.output
    folder = next((tmp_path / "sweeps").glob("sweep-*"))
    summary = json.loads((folder / "summary.json").read_text())
    best = summary["best"]
    assert best["metric"] == "validation_rmse" and 30 < best["value"] < 300
    trial = json.loads((folder / best["trial"] / "metrics.json").read_text())
    assert best["value"] == trial["validation_rmse"] == min(r["validation_rmse"] for r in summary["trials"])


# ---------------------------------------------------------------- the case: penguins with the defaults


def _penguins(folder):
    penguins = pytest.importorskip("palmerpenguins")
    lines = (Path(penguins.__file__).parent / "data" / "penguins.csv").read_text().splitlines()
    (folder / "train.csv").write_text("\n".join([lines[0]] + [line for i, line in enumerate(lines[1:]) if i % 4]) + "\n")
    (folder / "test.csv").write_text("\n".join([lines[0]] + lines[1::4]) + "\n")
    with open(folder / "test.csv", newline="") as fh:
        return np.array([float(r["body_mass_g"]) for r in csv.DictReader(fh) if r["body_mass_g"] != "NA"])


def _r2(folder, *sets):
    args = [
        "train",
        "--data",
        folder / "train.csv",
        "--target",
        "body_mass_g",
        "--set",
        "data.missing=mean",
        "--runs-dir",
        folder / "runs",
        "-q",
        "--no-report",
    ]
    for s in sets:
        args += ["--set", s]
    assert (trained := invoke(*args)).exit_code == 0, trained.output
    result = invoke("evaluate", folder / "runs" / "latest", "--data", folder / "test.csv")
    assert result.exit_code == 0, result.output
    evaluation = json.loads(next((folder / "runs" / "latest").glob("evaluation-test.json")).read_text())
    return evaluation


def test_penguins_body_mass_trains_with_the_defaults(tmp_path):
    """`nnctl train --data penguins.csv --target body_mass_g --set data.missing=mean`, every 4th row held
    out: R² 0.82 measured (scikit-learn's LinearRegression on the same rows and encoding: 0.83); trained on
    the grams as given, as before this key, Adam at 0.001 in 200 epochs leaves the outputs far below
    4200 (R² -10.9). 0.7 leaves room for another machine's rounding, and a run whose outputs are not
    turned back (standard deviations read as grams) is far below it."""
    y_test = _penguins(tmp_path)
    evaluation = _r2(tmp_path)
    assert evaluation["m"] == y_test.size == 86  # every 4th of the 344 rows, none without a mass
    r2 = 1 - evaluation["rmse"] ** 2 / np.var(y_test)
    print(f"penguins body_mass_g, held out: R² {r2:.3f}")
    assert r2 > 0.7, r2
    assert abs(np.mean(evaluation["outputs"]) - np.mean(y_test)) < 150  # grams

    raw = _r2(tmp_path, "data.normalize_target=none")
    print(f"with data.normalize_target=none: R² {1 - raw['rmse'] ** 2 / np.var(y_test):.3f}")
    assert 1 - raw["rmse"] ** 2 / np.var(y_test) < 0  # the issue: worse than predicting the mean


# ---------------------------------------------------------------- resume, and runs from before the key


def _stop_then_resume(folder, spec, at):
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] >= at

    summary = train_run(spec, runs_root=folder / "stopped", should_stop=stop)
    assert summary.status == "interrupted"
    return Path(summary.run_dir)


def _arrays(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_resume_is_bit_for_bit_with_a_standardised_target(tmp_path):
    _write(tmp_path, extra=", validation: 0.2")
    spec = load_config(tmp_path / "r.yaml")
    whole = Path(train_run(spec, runs_root=tmp_path / "whole").run_dir)
    stopped = _stop_then_resume(tmp_path, spec, at=37)  # mid-epoch, after a checkpoint (every 3 epochs of 5 batches)
    assert _arrays(stopped / "checkpoint.h5")["normalize_target/std"].shape == (1, 1)
    assert load_run(stopped).target.active  # predict on the unfinished run turns back too
    assert resume_run(stopped).status == "completed"
    want, got = _arrays(whole / "params.h5"), _arrays(stopped / "params.h5")
    assert want.keys() == got.keys() and "normalize_target/mean" in want
    for key in want:
        assert want[key].tobytes() == got[key].tobytes(), key


def test_a_run_from_before_the_key_resumes_and_loads_as_unscaled(tmp_path):
    """Runs written before data.normalize_target: no key in config.resolved.yaml, no arrays or
    preprocessing entry in params.h5 and checkpoint.h5. They load as unscaled and resume as they
    began, bit for bit; `none` writes exactly that layout."""
    x, _ = _write(tmp_path)
    spec = load_config(tmp_path / "r.yaml", ["data.normalize_target=none"])
    whole = Path(train_run(spec, runs_root=tmp_path / "whole").run_dir)
    mean, _, pre = _stored(whole)
    assert mean is None and "normalize_target" not in pre  # the old layout
    stopped = _stop_then_resume(tmp_path, spec, at=37)
    resolved = stopped / "config.resolved.yaml"
    assert "  normalize_target: none\n" in resolved.read_text()
    resolved.write_text(resolved.read_text().replace("  normalize_target: none\n", ""))  # as an older nnctl wrote it
    assert resume_run(stopped).status == "completed"
    want, got = _arrays(whole / "params.h5"), _arrays(stopped / "params.h5")
    assert want.keys() == got.keys() and all(want[k].tobytes() == got[k].tobytes() for k in want)
    run = load_run(stopped)
    assert run.target.method == "none"
    with h5py.File(stopped / "params.h5") as f:
        W1, b1, W2, b2 = (f[k][()] for k in ("W1", "b1", "W2", "b2"))
    np.testing.assert_allclose(nnctl.load(stopped).predict(x[200:]), (W2 @ np.tanh(W1 @ x[200:].T + b1) + b2).ravel(), rtol=1e-12)


# ---------------------------------------------------------------- Python API, scikit-learn, gradcheck, config show


def test_fit_and_the_regressor_predict_in_the_targets_units():
    x, y = _offset_data(300, 1)
    spec = {
        "model": {"hidden": [16], "output_activation": "linear"},
        "train": {"optimizer": "adam", "learning_rate": 0.01, "epochs": 60, "batch_size": 32, "seed": 0},
    }
    model = nnctl.fit(spec, x[:200], y[:200])
    assert model.metrics["normalize_target"]["method"] == "standardize"
    r2 = 1 - np.mean((model.predict(x[200:]) - y[200:]) ** 2) / np.var(y[200:])
    assert r2 > 0.9, r2
    assert model.history[-1][1] < 0.1  # the cost: standardised units

    sk = pytest.importorskip("nnctl.sklearn")
    reg = sk.NNRegressor(hidden=(16,), learning_rate=0.01, epochs=60, batch_size=32, random_state=0).fit(x[:200], y[:200])
    assert reg.score(x[200:], y[200:]) > 0.9
    # coefs_ and intercepts_ are the network's, which predicts the standardised target; predict turns it back
    z = np.maximum(x[200:] @ reg.coefs_[0] + reg.intercepts_[0], 0) @ reg.coefs_[1] + reg.intercepts_[1]
    stats = reg.model_.metrics["normalize_target"]
    np.testing.assert_allclose(reg.predict(x[200:]), z.ravel() * stats["std"][0] + stats["mean"][0], rtol=1e-12)
    raw = sk.NNRegressor(hidden=(16,), learning_rate=0.01, epochs=60, batch_size=32, random_state=0, spec={"data": {"normalize_target": "none"}}).fit(
        x[:200], y[:200]
    )
    assert raw.score(x[200:], y[200:]) < 0  # the grams as given: far from the outputs' start


def test_gradcheck_and_config_show(tmp_path):
    _write(tmp_path)
    result = invoke("gradcheck", tmp_path / "r.yaml", "--examples", "6")
    assert result.exit_code == 0, result.output
    shown = invoke("config", "show", tmp_path / "r.yaml")
    assert shown.exit_code == 0, shown.output
    assert "  normalize_target: auto\n" in shown.stdout  # the spec as given, then what auto chose:
    assert "# data.normalize_target: auto -> standardize (auto: mean 3939.65, std 698.766, from the training rows)" in shown.stdout


def test_refusals(tmp_path):
    _write(tmp_path)
    relu = invoke(
        "train",
        tmp_path / "r.yaml",
        "--set",
        "model.output_activation=relu",
        "--set",
        "data.normalize_target=standardize",
        "-q",
        "--runs-dir",
        tmp_path / "runs",
    )
    assert relu.exit_code == 1
    assert relu.stderr.strip() == (
        f"Error: {tmp_path}/train.h5: data.normalize_target: standardize makes targets of mean 0 and std 1, which a relu output "
        "cannot reach (values >= 0); use output_activation: linear, or normalize_target: none"
    )
    auto = invoke("train", tmp_path / "r.yaml", "--set", "model.output_activation=relu", "-q", "--no-report", "--runs-dir", tmp_path / "runs")
    assert auto.exit_code == 0 and load_run(tmp_path / "runs" / "latest").target.method == "none"  # auto: the relu's range kept
