"""Normalising inputs, validation sets and early stopping (issue 12 §1, §3), end to end through the CLI."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from nnctl.data.dataset import fit_normalization, load_dataset, split_validation, write_dataset
from conftest import invoke

CLASSES = ["malignant", "benign"]


def _tabular(m, rs):
    """Like scikit-learn's breast-cancer data: 30 features from 1e-3 to 1e3 in scale (10 of them
    informative), 63% of one class, and one constant feature."""
    y = (rs.random(m) < 0.63).astype(np.uint8)
    z = rs.standard_normal((m, 30)) + np.where(y[:, None] == 1, 0.6, -0.6) * (np.arange(30) < 10)
    scale = 10.0 ** np.linspace(-3, 3, 30)
    x = z * scale + 5 * scale
    x[:, 7] = 2.5
    return x, y


@pytest.fixture
def tabular(tmp_path):
    rs = np.random.default_rng(0)
    write_dataset(tmp_path / "train.h5", *_tabular(400, rs), CLASSES)
    write_dataset(tmp_path / "test.h5", *_tabular(200, rs), CLASSES)
    (tmp_path / "t.yaml").write_text("data: {train: train.h5, test: test.h5}\nmodel: {hidden: [16]}\ntrain: {learning_rate: 0.1, iterations: 300, seed: 1}\n")
    return tmp_path


def _train(folder, *sets):
    args = ["train", folder / "t.yaml", "-q", "--no-report", "--runs-dir", folder / "runs"]
    for s in sets:
        args += ["--set", s]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    run = (folder / "runs" / "latest").resolve()
    return run, json.loads((run / "metrics.json").read_text())


def test_badly_scaled_features_train_with_the_default(tabular):
    """The issue's case: without normalising, the majority class for every example; with the default
    auto, standardised from the training set, a real classifier, equal to standardising by hand."""
    run, metrics = _train(tabular)
    assert metrics["normalize"]["method"] == "standardize"
    assert metrics["normalize"]["reason"].startswith("auto: feature std from 0.001")
    assert metrics["test_accuracy"] >= 93
    _, raw = _train(tabular, "data.normalize=none")
    majority = 100 * max(np.mean(load_dataset(str(tabular / "test.h5")).Y), 1 - np.mean(load_dataset(str(tabular / "test.h5")).Y))
    assert raw["test_accuracy"] <= majority + 1
    # by hand: the training set's mean and std, a constant feature left at 0
    x, y = h5py.File(tabular / "train.h5")["x"][()], h5py.File(tabular / "train.h5")["y"][()]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1
    xt, yt = h5py.File(tabular / "test.h5")["x"][()], h5py.File(tabular / "test.h5")["y"][()]
    write_dataset(tabular / "train.h5", (x - mean) / std, y, CLASSES, force=True)
    write_dataset(tabular / "test.h5", (xt - mean) / std, yt, CLASSES, force=True)
    _, hand = _train(tabular, "data.normalize=none")
    assert abs(hand["test_accuracy"] - metrics["test_accuracy"]) <= 0.5
    assert abs(hand["final_cost"] - metrics["final_cost"]) < 1e-6


def test_statistics_stored_and_applied_by_evaluate_and_predict(tabular):
    run, metrics = _train(tabular)
    with h5py.File(run / "params.h5") as f:
        mean, std = f["normalize/mean"][()], f["normalize/std"][()]
    x = h5py.File(tabular / "train.h5")["x"][()]
    np.testing.assert_allclose(mean.ravel(), x.mean(axis=0), rtol=1e-12)
    assert std[7, 0] == 1.0 and np.isfinite(std).all()  # the constant feature: no NaN
    evaluated = invoke("evaluate", run)
    assert evaluated.exit_code == 0
    ev = json.loads((run / "evaluation.json").read_text())
    assert ev["accuracy"] == metrics["test_accuracy"]
    # predict: the same rows as CSV, with a header and without, and as HDF5, give evaluate's numbers
    xt = h5py.File(tabular / "test.h5")["x"][()][:5]
    header = ",".join(f"f{i}" for i in range(30))
    np.savetxt(tabular / "h.csv", xt, delimiter=",", header=header, comments="")
    np.savetxt(tabular / "n.csv", xt, delimiter=",", fmt="%.17g")
    for rows in ("h.csv", "n.csv", "test.h5"):
        out = invoke("predict", tabular / rows, "--run", run, "--json")
        assert out.exit_code == 0, out.output
        lines = [json.loads(line) for line in out.stdout.splitlines()][:5]
        assert [p["file"] for p in lines] == [f"{tabular / rows}:{k}" for k in range(1, 6)]
        np.testing.assert_allclose([p["probability"] for p in lines], ev["probabilities"][:5], rtol=1e-9 if rows == "h.csv" else 0)
        assert {p["probability_of"] for p in lines} == {"benign"}
    csv_out = invoke("predict", tabular / "n.csv", "--run", run, "--csv")
    assert csv_out.stdout.splitlines()[0] == "file,class,label,probability,probability_of,notes,error"
    bad = invoke("predict", tabular / "train.h5", "--run", run)  # fine; now rows of the wrong width
    np.savetxt(tabular / "w.csv", xt[:, :3], delimiter=",")
    bad = invoke("predict", tabular / "w.csv", "--run", run)
    assert bad.exit_code == 1
    assert bad.stderr.strip() == f"Error: {tabular / 'w.csv'}: data row 1 has 3 values; the model takes 30 numbers per row"


def test_resume_and_config_show_say_what_was_done(tabular):
    shown = invoke("config", "show", tabular / "t.yaml")
    assert shown.exit_code == 0
    assert shown.stdout.splitlines()[-1].startswith("# data.normalize: auto -> standardize (auto: feature std from 0.001")
    run, _ = _train(tabular)
    resolved = (run / "config.resolved.yaml").read_text()
    assert "normalize: standardize" in resolved


@pytest.mark.parametrize(
    "source,method",
    [("builtin:planar", "none"), ("builtin:moons", "none"), ("builtin:circles", "none")],
)
def test_auto_leaves_the_course_data_as_the_course_used_it(source, method):
    data = load_dataset(source)
    assert fit_normalization("auto", data.X, data.preprocessing["x_dtype"]).method == method
    assert fit_normalization("standardize", data.X, data.preprocessing["x_dtype"]).method == "standardize"


def test_uint8_pixels_are_divided_as_before(tmp_path):
    from tests.conftest import write_course_h5

    data = load_dataset(str(write_course_h5(tmp_path / "c.h5")))
    norm = fit_normalization("auto", data.X, data.preprocessing["x_dtype"])
    assert norm.method == "none" and data.X.max() <= 1.0


def test_validation_split_is_seeded_stratified_and_excluded_from_the_statistics(tabular):
    data = load_dataset(str(tabular / "train.h5"))
    a, va = split_validation(data, 0.2, seed=1)
    b, vb = split_validation(data, 0.2, seed=1)
    _, vc = split_validation(data, 0.2, seed=2)
    assert np.array_equal(va.X, vb.X) and not np.array_equal(va.X, vc.X)
    assert a.m + va.m == data.m and va.m == 80
    for c in (0, 1):  # each class keeps its share
        assert np.sum(va.Y == c) == round(0.2 * np.sum(data.Y == c))
    run, metrics = _train(tabular, "data.validation=0.2")
    with h5py.File(run / "params.h5") as f:
        mean = f["normalize/mean"][()].ravel()
    train_part, _ = split_validation(load_dataset(str(tabular / "train.h5")), 0.2, seed=1)
    np.testing.assert_allclose(mean, train_part.X.mean(axis=1), rtol=1e-12)
    assert metrics["validation"]["m"] == 80
    lines = (run / "costs.csv").read_text().splitlines()
    assert lines[0] == "iteration,cost,train_accuracy,validation_cost,validation_accuracy"
    assert [r.split(",")[0] for r in lines[1:]] == ["0", "100", "200", "299"]
    assert all(len(r.split(",")) == 5 and r.split(",")[2] and r.split(",")[3] for r in lines[1:])
    assert metrics["validation_accuracy"] > 90


def test_validation_file_and_early_stopping_keep_the_best(tabular):
    run, metrics = _train(
        tabular,
        "data.validation=test.h5",
        "train.iterations=3000",
        "train.record_every=50",
        "train.early_stopping={patience: 3, monitor: validation_cost}",
    )
    early = metrics["early_stopping"]
    assert early["stopped_early"] and early["restored_best"]
    header, *rows = [r.split(",") for r in (run / "costs.csv").read_text().splitlines()]
    costs = [float(r[header.index("validation_cost")]) for r in rows]
    best = int(np.argmin(costs))
    assert early["best_iteration"] == int(rows[best][0]) and early["best_value"] == costs[best]
    assert len(rows) == best + 1 + 3  # three records without improvement, then stopped
    assert metrics["iterations"] < 3000
    assert "early stopping at iteration" in metrics["message"]
    with h5py.File(run / "params.h5") as f:
        assert json.loads(f.attrs["best_iteration"]) == early["best_iteration"]


def test_early_stopping_needs_a_validation_set(tabular):
    result = invoke("train", tabular / "t.yaml", "--set", "train.early_stopping={patience: 3}")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {tabular / 't.yaml'} (with --set train.early_stopping={{patience: 3}}): train.early_stopping: it watches "
        "a validation set; add data.validation (a file, or a fraction such as 0.2)"
    )


def test_features_near_1e300_are_standardised_without_overflow(tmp_path):
    """x ~ 1e300: the statistics are computed scaled by each feature's largest |x| (squaring 1e300
    overflowed to a std of inf with a numpy warning on the terminal); the run trains normally."""
    import warnings

    from conftest import run_nnctl
    from nnctl.data.dataset import feature_statistics
    from nnctl.errors import DataError

    rs = np.random.default_rng(0)
    x = rs.standard_normal((40, 2)) * 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = fit_normalization("auto", x.T, "float64")
    assert norm.method == "standardize" and np.all(np.isfinite(norm.std)) and np.all(np.isfinite(norm.mean))
    np.testing.assert_allclose(norm.std[:, 0] / 1e300, (x / 1e300).std(axis=0), rtol=1e-12)
    np.testing.assert_allclose(norm.mean[:, 0] / 1e300, (x / 1e300).mean(axis=0), rtol=1e-9, atol=1e-12)
    with pytest.raises(DataError, match=r"^d\.h5: feature 1 holds values that are not finite .*; rescale the inputs"):
        feature_statistics(np.array([[1.0, 2.0], [1.0, np.inf]]), "d.h5")

    with h5py.File(tmp_path / "big.h5", "w") as f:
        f["x"], f["y"] = x, np.arange(40) % 2
    (tmp_path / "c.yaml").write_text("data: {train: big.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 50}\n")
    for cmd in (["config", "show", "c.yaml"], ["train", "c.yaml", "--runs-dir", "runs"]):
        out = run_nnctl(*cmd, cwd=tmp_path)  # in this process; a numpy warning would be printed on its stderr
        assert out.returncode == 0, out.stderr
        assert "Warning" not in out.stderr and "overflow" not in out.stderr + out.stdout
        if cmd[0] == "config":
            assert "feature std from 9.5e+299 to 9.74e+299" in out.stdout and "inf" not in out.stdout


def test_a_constant_feature_far_from_zero_is_not_of_order_one(tmp_path):
    """A CSV column that is always 1e6 has std 0, so auto left it out and said `every feature already of
    order one (std within [0.1, 10], |mean| <= 10)`: nothing scaled, a model no better than the mean."""
    rs = np.random.default_rng(0)
    a, c = rs.standard_normal(200), rs.standard_normal(200)
    X = np.vstack([a, np.full(200, 1e6), c])
    norm = fit_normalization("auto", X, "float64")
    assert norm.method == "standardize" and norm.std[1, 0] == 1.0 and norm.mean[1, 0] == 1e6
    assert norm.reason == "auto: feature std from 0.961 to 1.03, |mean| up to 1e+06; standardised; 1 feature constant, centred to 0"
    assert np.all(norm.apply(X.copy())[1] == 0)
    small = fit_normalization("auto", np.vstack([a, np.full(200, 2.5), c]), "float64")  # a constant of order one: left alone, said
    assert small.method == "none" and small.reason == (
        "auto: every feature already of order one (1 feature constant, |value| <= 10; the others' std within [0.1, 10], |mean| <= 10)"
    )
    assert fit_normalization("auto", np.vstack([a, c]), "float64").reason == "auto: every feature already of order one (std within [0.1, 10], |mean| <= 10)"
    y = 2 * a - c + 0.1 * rs.standard_normal(200)
    (tmp_path / "t.csv").write_text("a,b,c,y\n" + "".join(f"{a[i]:.17g},1000000,{c[i]:.17g},{y[i]:.17g}\n" for i in range(200)))
    result = invoke("train", "--data", tmp_path / "t.csv", "--target", "y", "-q", "--no-report", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0 and "Warning" not in result.output, result.output
    metrics = json.loads(((tmp_path / "runs" / "latest").resolve() / "metrics.json").read_text())
    assert metrics["normalize"]["method"] == "standardize" and metrics["normalize"]["reason"].endswith("1 feature constant, centred to 0")
    assert metrics["train_rmse"] < 0.5  # no better than the mean was about 2.2
