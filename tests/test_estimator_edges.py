"""An outside tester's findings on nnctl.sklearn and nnctl.fit: batch norm's coefs_/intercepts_
(folded into the inference-time affine form), spec keys that contradict the estimator refused before
training, a DataFrame's column names kept in the run and matched by name (API and `nnctl predict`),
hidden as an int, messages naming the estimator's arguments, classes_ keeping their types, and a
constant regression target said."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from conftest import invoke

pytest.importorskip("sklearn")

import nnctl  # noqa: E402
import nnctl.sklearn as nnsk  # noqa: E402
from nnctl.errors import DataError  # noqa: E402
from nnctl.sklearn import NNClassifier, NNRegressor  # noqa: E402

ONE = {"blas_threads": 1}


def _blobs(m=90, k=2, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(m) % k
    X = rng.normal(size=(m, 3)) + 2.0 * y[:, None]
    return X, y


def _forward(est, X):
    """The network's output from coefs_ and intercepts_ alone: relu hidden layers, then the output."""
    a = X
    for W, b in zip(est.coefs_[:-1], est.intercepts_[:-1]):
        a = np.maximum(a @ W + b, 0)
    return a @ est.coefs_[-1] + est.intercepts_[-1]


# ---------------------------------------------------------------- 1. batch norm: coefs_ and intercepts_


@pytest.mark.parametrize(("hidden", "batch_norm", "k"), [((5,), True, 2), ((4, 3), [2], 3), ((4, 3), True, 3)])
def test_batch_norm_layers_fold_into_coefs_and_intercepts(hidden, batch_norm, k):
    X, y = _blobs(k=k)
    clf = NNClassifier(hidden=hidden, epochs=4, batch_size=32, normalize="none", random_state=0, spec={"model": {"batch_norm": batch_norm}}, **ONE)
    clf.fit(X, y)  # was KeyError 'b1' / 'b2' after training
    assert [c.shape for c in clf.coefs_] == [(3, hidden[0]), *[(a, b) for a, b in zip(hidden, hidden[1:])], (hidden[-1], 1 if k == 2 else k)]
    assert [b.shape for b in clf.intercepts_] == [(c.shape[1],) for c in clf.coefs_]
    z = _forward(clf, X)
    if k == 2:
        p = 1 / (1 + np.exp(-z[:, 0]))
        expected = np.column_stack([1 - p, p])
    else:
        e = np.exp(z - z.max(axis=1, keepdims=True))
        expected = e / e.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-10, atol=1e-12)
    assert any(f"gamma{l}" in clf.model_.params for l in range(1, len(hidden) + 1))  # batch norm was on


def test_batch_norm_regressor_folds_too():
    X, _ = _blobs()
    y = X @ [1.0, -2.0, 0.5]
    reg = NNRegressor(hidden=(4, 3), epochs=3, batch_size=32, normalize="none", random_state=0, spec={"model": {"batch_norm": [2]}}, **ONE).fit(X, y)
    stats = reg.model_.metrics["normalize_target"]
    np.testing.assert_allclose(reg.predict(X), _forward(reg, X)[:, 0] * stats["std"][0] + stats["mean"][0], rtol=1e-10)


# ---------------------------------------------------------------- 2. spec keys the estimator sets


@pytest.mark.parametrize(
    ("spec", "said"),
    [
        ({"model": {"task": "regression"}}, "spec: model.task is set by the estimator; NNClassifier fixes the task"),
        ({"model": {"output_activation": "linear"}}, "spec: model.output_activation is set by the estimator"),
        ({"model": {"activations": ["relu", "sigmoid"]}}, "spec: model.activations is set by the estimator; use activation="),
        ({"model": {"loss": "mse"}}, "spec: model.loss is set by the estimator"),
        ({"model": {"layers": [3, 4, 1]}}, "spec: model.layers is set by the estimator; use hidden="),
        ({"data": {"validation": 0.2}}, "spec: data.validation is set by the estimator; use early_stopping=True with validation_fraction"),
        ({"train": {"early_stopping": {"patience": 3}}}, "spec: train.early_stopping is set by the estimator; use early_stopping=True"),
        ({"train": {"iterations": 5}}, "spec: train.iterations is set by the estimator; use epochs="),
        ({"train": {"record_every": 5}}, "spec: train.record_every is set by the estimator"),
        ({"train": {"seed": 3}}, "spec: train.seed is set by the estimator; it follows random_state"),
        ({"model": {"hidden_activation": "tanh"}}, r"spec: model.hidden_activation is set by the estimator; use NNClassifier\(activation=...\)"),
        ({"sweep": {"hidden_layers": [1]}}, "spec: sweep: not a section NNClassifier takes"),
        ({"name": "x"}, "spec: name: not a section NNClassifier takes"),
    ],
)
def test_spec_keys_the_estimator_sets_are_refused_before_training(monkeypatch, spec, said):
    def no_training(*args, **kwargs):
        raise AssertionError("trained")

    monkeypatch.setattr(nnsk, "train_model", no_training)
    X, y = _blobs()
    with pytest.raises(ValueError, match=said):
        NNClassifier(epochs=2, spec=spec).fit(X, y)


def test_the_regressor_refuses_a_classifiers_output_and_keeps_normalize_target():
    X, _ = _blobs()
    y = X[:, 0]
    with pytest.raises(ValueError, match=r"spec: model.output_activation is set by the estimator; NNRegressor fixes the output layer \(linear\)"):
        NNRegressor(epochs=2, spec={"model": {"output_activation": "sigmoid"}}).fit(X, y)
    reg = NNRegressor(hidden=4, epochs=2, random_state=0, spec={"data": {"normalize_target": "none"}}, **ONE).fit(X, y)
    assert "normalize_target" not in reg.model_.metrics or reg.model_.metrics["normalize_target"]["method"] == "none"


# ---------------------------------------------------------------- 3. column names


@pytest.fixture(scope="module")
def iris_frame():
    pd = pytest.importorskip("pandas")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    assert isinstance(X, pd.DataFrame)
    return X, y


@pytest.fixture(scope="module")
def frame_model(iris_frame):
    X, y = iris_frame
    spec = {"model": {"hidden": [8]}, "train": {"epochs": 100, "optimizer": "adam", "learning_rate": 0.01, "seed": 0, "blas_threads": 1}}
    return nnctl.fit(spec, X, y)


def test_a_dataframes_columns_are_matched_by_name(iris_frame, frame_model):
    X, y = iris_frame
    m = frame_model
    assert m.feature_names == list(X.columns)
    right = m.evaluate(X, y)["accuracy"]
    assert right > 90
    assert m.evaluate(X.iloc[:, ::-1], y)["accuracy"] == right  # was 33%: taken by position
    assert np.array_equal(m.predict(X.iloc[:, ::-1]), m.predict(X))
    assert np.array_equal(m.predict_proba(X[[X.columns[2], X.columns[0], X.columns[3], X.columns[1]]]), m.predict_proba(X))
    assert np.array_equal(m.predict(X.to_numpy()), m.predict(X))  # an array: by position
    with pytest.raises(DataError, match=r"X: columns missing \('petal width \(cm\)'\); the model was trained on"):
        m.predict(X.iloc[:, :3])
    with pytest.raises(DataError, match=r"not in training \('zz'\)"):
        m.predict(X.assign(zz=1.0))
    with pytest.raises(DataError, match=r"not in training \('zz'\)"):
        m.evaluate(X.rename(columns={X.columns[0]: "zz"}), y)


def test_the_names_are_kept_by_save_and_used_by_nnctl_predict(tmp_path, iris_frame, frame_model):
    X, _ = iris_frame
    run = frame_model.save(tmp_path / "run")
    assert nnctl.load(run).feature_names == list(X.columns)
    rows = X.iloc[::15]
    rows.iloc[:, ::-1].to_csv(tmp_path / "reversed.csv", index=False)
    np.savetxt(tmp_path / "plain.csv", rows.to_numpy(), delimiter=",")  # no header: by position
    expected = [str(c) for c in frame_model.predict(rows)]
    for name in ("reversed.csv", "plain.csv"):
        result = invoke("predict", tmp_path / name, "--run", run, "--csv")
        assert result.exit_code == 0, result.output
        assert [r.split(",")[1] for r in result.stdout.splitlines()[1:]] == expected, name
    rows.iloc[:, :3].assign(zz=1.0).to_csv(tmp_path / "other.csv", index=False)
    result = invoke("predict", tmp_path / "other.csv", "--run", run)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the header names columns the run was not trained on (missing 'petal width (cm)'; not in training 'zz')" in result.output


def test_the_estimator_keeps_its_feature_names_in_the_run(iris_frame):
    X, y = iris_frame
    clf = NNClassifier(hidden=8, epochs=3, random_state=0, **ONE).fit(X, y)
    assert list(clf.feature_names_in_) == list(X.columns) == clf.model_.feature_names
    clf.fit(X.to_numpy(), y)
    assert not hasattr(clf, "feature_names_in_") and clf.model_.feature_names is None


# ---------------------------------------------------------------- 4. the small ones


def test_hidden_as_an_int_is_one_layer():
    X, y = _blobs()
    clf = NNClassifier(hidden=8, epochs=2, random_state=0, **ONE).fit(X, y)
    assert clf.model_.layer_dims == [3, 8, 1]
    assert NNClassifier(hidden=8).spec_dict()["model"]["hidden"] == [8]


def test_messages_name_the_arguments_the_user_set():
    X, y = _blobs(m=2)
    with pytest.raises(ValueError) as info:
        NNClassifier(epochs=2, early_stopping=True, validation_fraction=0.1).fit(X, y)
    assert str(info.value).startswith("validation_fraction: 0.1 of its 2 examples leaves no validation examples")
    assert "data.validation" not in str(info.value) and "array:train" not in str(info.value)
    X, y = _blobs(m=141)
    with pytest.raises(ValueError) as info:
        NNClassifier(hidden=4, epochs=2, batch_size=140, spec={"model": {"batch_norm": True}}).fit(X, y)
    message = str(info.value)
    assert "use batch_size=139 or" in message and "train.batch_size" not in message, message


@pytest.mark.parametrize("labels", [np.array([3, 7]), np.array([False, True]), np.array(["no", "yes"])])
def test_classes_keep_their_type_in_predict(labels):
    X, y = _blobs()
    clf = NNClassifier(hidden=4, epochs=2, random_state=0, **ONE).fit(X, labels[y])
    again = pickle.loads(pickle.dumps(clf))
    for est in (clf, again):
        got, model = est.predict(X[:5]), est.model_.predict(X[:5])
        assert got.dtype == labels.dtype and model.dtype == labels.dtype
        assert np.array_equal(got, model)
        assert type(got[0]) is type(labels[0])


def test_a_constant_target_is_said(tmp_path):
    X, _ = _blobs()
    y = np.full(len(X), 5.0)
    with pytest.warns(UserWarning, match=r"y: the target is constant: every training row has y = 5 \(standardised with std 1"):
        NNRegressor(hidden=4, epochs=2, random_state=0, **ONE).fit(X, y)
    with pytest.warns(UserWarning, match="y: the target is constant"):
        nnctl.fit({"model": {"hidden": [4], "task": "regression"}, "train": {"epochs": 2}}, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NNRegressor(hidden=4, epochs=2, random_state=0, **ONE).fit(X, X[:, 0])  # a target that varies: nothing said
    table = tmp_path / "t.csv"
    table.write_text("a,b,y\n" + "".join(f"{u:.3f},{v:.3f},5.0\n" for u, v in X[:, :2]))
    result = invoke("train", "--data", table, "--set", "train.epochs=2", "--set", "model.task=regression", "--runs-dir", tmp_path / "runs", "--no-report")
    assert result.exit_code == 0, result.output
    assert "Note: " in result.output and "the target is constant: every training row has y = 5" in result.output
