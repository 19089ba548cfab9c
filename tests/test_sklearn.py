"""nnctl.sklearn: scikit-learn's own estimator checks, and the estimators in pipelines, grid searches
and cross-validation on scikit-learn's bundled real data sets."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse

sklearn = pytest.importorskip("sklearn")

from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import nnctl  # noqa: E402
from conftest import invoke  # noqa: E402
from nnctl.sklearn import NNClassifier, NNRegressor  # noqa: E402

# Short runs keep the ~100 checks quick (tens of seconds); each still learns scikit-learn's data well
# enough for the checks that score it (check_classifiers_train, check_regressors_train). One BLAS
# thread: these networks are small, and on a busy machine two threads made fits ten times slower.
ONE = {"blas_threads": 1}
CHECKED = [NNClassifier(hidden=(16,), epochs=60, learning_rate=0.01, **ONE), NNRegressor(hidden=(16,), epochs=60, learning_rate=0.01, **ONE)]


@parametrize_with_checks(CHECKED)  # every check, none expected to fail: as MLPClassifier and MLPRegressor
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)


def test_the_arguments_mirror_the_spec():
    clf = NNClassifier(
        hidden=(20, 7),
        activation="tanh",
        optimizer="momentum",
        learning_rate=0.05,
        epochs=30,
        batch_size=None,
        l2=0.7,
        keep_prob=0.9,
        momentum=0.8,
        random_state=4,
        early_stopping=True,
        validation_fraction=0.2,
        patience=5,
        spec={"train": {"decay": "inverse_time", "time_interval": 10}},
    )
    raw = clf.spec_dict(np.float32)
    assert raw["model"] == {"hidden": [20, 7], "hidden_activation": "tanh", "init": "xavier"}
    assert raw["data"] == {"train": "array:train", "normalize": "auto", "validation": 0.2}
    train = raw["train"]
    assert (
        train["optimizer"],
        train["learning_rate"],
        train["epochs"],
        train["batch_size"],
        train["l2"],
        train["keep_prob"],
        train["beta"],
        train["seed"],
        train["dtype"],
        train["decay"],
        train["time_interval"],
    ) == ("momentum", 0.05, 30, None, 0.7, 0.9, 0.8, 4, "float32", "inverse_time", 10)
    assert train["early_stopping"] == {"monitor": "validation_cost", "patience": 5}
    assert NNRegressor().spec_dict()["model"]["output_activation"] == "linear"
    with pytest.raises(ValueError, match=r"spec: train.learning_rate is set by the estimator; use NNClassifier\(learning_rate=...\)"):
        NNClassifier(spec={"train": {"learning_rate": 1}}).fit(np.eye(4), [0, 1, 0, 1])
    with pytest.raises(ValueError, match=r"NNClassifier: train.decay: Input should be 'none' or 'inverse_time'|train.decay: must be"):
        NNClassifier(spec={"train": {"decay": "cosine"}}).fit(np.eye(4), [0, 1, 0, 1])


def test_the_estimator_trains_the_very_run_nnctl_fit_trains():
    X, y = load_wine(return_X_y=True)
    names = np.array(["barolo", "grignolino", "barbera"])[y]
    clf = NNClassifier(hidden=(8,), epochs=20, batch_size=32, random_state=11, **ONE).fit(X, names)
    model = nnctl.fit(clf.spec_dict(), X, names)
    for key, value in model.params.items():
        assert np.array_equal(clf.model_.params[key], value), key
    assert list(clf.classes_) == ["barbera", "barolo", "grignolino"] == list(model.classes)
    assert clf.n_iter_ == 20 and len(clf.loss_curve_) == 20 and clf.loss_ == clf.loss_curve_[-1]
    assert [c.shape for c in clf.coefs_] == [(13, 8), (8, 3)] and [b.shape for b in clf.intercepts_] == [(8,), (3,)]


def test_a_pipeline_with_a_scaler_on_wine():
    X, y = load_wine(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    pipe = make_pipeline(StandardScaler(), NNClassifier(random_state=0, **ONE)).fit(X_train, y_train)
    assert pipe.score(X_test, y_test) >= 0.96  # 53 of 54 test wines here; MLPClassifier(random_state=0) gets 54
    assert pipe.predict_proba(X_test).shape == (54, 3)


def test_grid_search_on_iris():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), NNClassifier(epochs=60, random_state=0, **ONE)),
        {"nnclassifier__hidden": [(4,), (32,)], "nnclassifier__learning_rate": [0.0001, 0.01]},
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, names)
    scores = dict(zip(map(str, grid.cv_results_["params"]), grid.cv_results_["mean_test_score"]))
    assert len(scores) == 4
    assert grid.best_params_["nnclassifier__learning_rate"] == 0.01  # 60 epochs at 1e-4 barely move
    assert grid.best_score_ >= 0.93
    assert set(grid.predict(X[:10])) <= {"setosa", "versicolor", "virginica"}


def test_cross_validation_on_breast_cancer_matches_scikit_learns_mlp():
    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(make_pipeline(StandardScaler(), NNClassifier(random_state=0, **ONE)), X, y, cv=cv)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # MLP's 200 iterations end before its tolerance
        theirs = cross_val_score(make_pipeline(StandardScaler(), MLPClassifier(random_state=0)), X, y, cv=cv)
    assert ours.mean() >= 0.95
    assert abs(ours.mean() - theirs.mean()) <= 0.03, (ours, theirs)


def test_a_regressor_on_diabetes():
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    scale = y_train.std()
    reg = make_pipeline(StandardScaler(), NNRegressor(hidden=(16,), epochs=200, learning_rate=0.003, l2=1.0, random_state=0, **ONE))
    reg.fit(X_train, y_train / scale)
    assert reg.score(X_test, y_test / scale) >= 0.25  # R²; a linear model gets about 0.36 on this split


def test_inputs_scikit_learn_users_give():
    X, y = load_iris(return_X_y=True)
    clf = NNClassifier(hidden=(8,), epochs=5, random_state=1, **ONE)
    with pytest.raises(ValueError, match=r"NNClassifier: y has 1 class \('only'\); a classifier needs examples of at least 2 classes"):
        clf.fit(X, ["only"] * len(X))
    with pytest.raises(TypeError, match="dense data is required"):
        clf.fit(scipy.sparse.csr_matrix(X), y)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.fit(bad, y)
    with pytest.raises(NotFittedError):
        clf.predict(X)
    clf.fit(X.astype(np.float32), y)
    assert clf.model_.params["W1"].dtype == np.float32  # the training dtype follows X
    with pytest.raises(ValueError, match="X has 3 features, but NNClassifier is expecting 4 features as input"):
        clf.predict(X[:, :3])
    # random_state: an int is the spec's seed (repeatable); None draws a new one each fit
    a, b = NNClassifier(hidden=(8,), epochs=3, random_state=5).fit(X, y), NNClassifier(hidden=(8,), epochs=3, random_state=5).fit(X, y)
    assert np.array_equal(a.model_.params["W1"], b.model_.params["W1"])
    c, d = NNClassifier(hidden=(8,), epochs=3).fit(X, y), NNClassifier(hidden=(8,), epochs=3).fit(X, y)
    assert not np.array_equal(c.model_.params["W1"], d.model_.params["W1"])
    again = pickle.loads(pickle.dumps(a))
    assert np.array_equal(again.predict_proba(X), a.predict_proba(X))


def test_a_fitted_estimators_model_is_a_run_the_cli_reads(tmp_path):
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = NNClassifier(hidden=(8,), epochs=40, learning_rate=0.01, random_state=0, **ONE).fit(X, names)
    run = clf.model_.save(tmp_path / "iris-run")
    np.savetxt(tmp_path / "rows.csv", X[::30], delimiter=",")
    result = invoke("predict", tmp_path / "rows.csv", "--run", run, "--csv")
    assert result.exit_code == 0, result.output
    rows = result.stdout.splitlines()[1:]
    assert [r.split(",")[1] for r in rows] == list(clf.predict(X[::30]))


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_early_stopping_with_every_optimizer(optimizer):
    X, y = load_breast_cancer(return_X_y=True)
    rate = {"gd": 0.5, "momentum": 0.1, "rmsprop": 0.01, "adam": 0.01}[optimizer]
    clf = NNClassifier(
        hidden=(16,), optimizer=optimizer, learning_rate=rate, epochs=500, batch_size=64, early_stopping=True, patience=5, keep_prob=0.9, random_state=0, **ONE
    )
    clf.fit(StandardScaler().fit_transform(X), y)
    stopping = clf.model_.metrics["early_stopping"]
    assert stopping["stopped_early"] and clf.n_iter_ < 500  # 10% held out, watched every epoch
    assert stopping["restored_best"] and clf.model_.metrics["validation"]["m"] == 57
    assert clf.model_.metrics["validation_accuracy"] >= 93


def test_a_dataframe_keeps_its_column_names():
    pytest.importorskip("pandas")
    wine = load_wine(as_frame=True)
    clf = NNClassifier(hidden=(8,), epochs=5, random_state=0, **ONE).fit(wine.data, wine.target)
    assert list(clf.feature_names_in_) == list(wine.data.columns)
    with pytest.raises(ValueError, match="The feature names should match those that were passed during fit"):
        clf.predict(wine.data[wine.data.columns[::-1]])
    with pytest.warns(UserWarning, match="X does not have valid feature names, but NNClassifier was fitted with feature names"):
        clf.predict(wine.data.to_numpy())
    # nnctl.fit takes a numeric DataFrame as rows of its columns too
    model = nnctl.fit(clf.spec_dict(), wine.data, wine.target)
    assert np.array_equal(model.params["W1"], clf.model_.params["W1"])
