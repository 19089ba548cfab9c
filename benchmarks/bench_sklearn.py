"""nnctl.sklearn against scikit-learn's MLP on scikit-learn's bundled real data sets (docs/api.md).

    python benchmarks/bench_sklearn.py            # five data sets, 5-fold cross-validation (about a minute)
    python benchmarks/bench_sklearn.py --quick    # two folds of two sets: checks that it runs
    python benchmarks/bench_sklearn.py --only diabetes

Each estimator sits in a Pipeline behind a StandardScaler and is scored by cross_val_score over the
same StratifiedKFold (KFold for the regression) with shuffle and random_state 0: accuracy for the
classifiers, R² for the regression (its target divided by the training folds' spread, for both
alike). Both use their defaults: one hidden layer of 100 ReLU units, Adam at 0.001, batches of 200,
L2 of 1e-4, 200 epochs (MLP: max_iter=200, and it may stop earlier at its tolerance); random_state
0. Everything runs with one BLAS thread (threadpoolctl): small networks on a shared machine are
faster so, for both libraries alike. Needs scikit-learn (pip install 'nnctl[sklearn]').
"""

from __future__ import annotations

import argparse
import time
import warnings

from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from nnctl.sklearn import NNClassifier, NNRegressor

SETS = {  # name -> (loader, regression?)
    "iris": (load_iris, False),
    "wine": (load_wine, False),
    "breast_cancer": (load_breast_cancer, False),
    "digits": (load_digits, False),
    "diabetes": (load_diabetes, True),
}


def scaled_target(regressor):
    """The target divided by its spread on the training folds (and multiplied back to predict)."""
    return TransformedTargetRegressor(regressor, transformer=StandardScaler(with_mean=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two folds of two data sets")
    parser.add_argument("--only", default="", help="comma-separated data set names")
    args = parser.parse_args()
    folds, names = (2, ["iris", "diabetes"]) if args.quick else (5, list(SETS))
    names = [n for n in args.only.split(",") if n] or names
    print(f"| data set | m × n | nnctl ({folds}-fold) | s | scikit-learn MLP | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    with threadpool_limits(1, user_api="blas"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for name in names:
            load, regression = SETS[name]
            X, y = load(return_X_y=True)
            cv = (KFold if regression else StratifiedKFold)(folds, shuffle=True, random_state=0)
            pairs = (
                (scaled_target(NNRegressor(random_state=0)), scaled_target(MLPRegressor(random_state=0)))
                if regression
                else (NNClassifier(random_state=0), MLPClassifier(random_state=0))
            )
            cells = []
            for estimator in pairs:
                t0 = time.perf_counter()
                scores = cross_val_score(make_pipeline(StandardScaler(), estimator), X, y, cv=cv)
                seconds = time.perf_counter() - t0
                unit = "R² " if regression else ""
                cells += [f"{unit}{scores.mean():.4f} ± {scores.std():.4f}", f"{seconds:.1f}"]
            print(f"| {name} | {X.shape[0]} × {X.shape[1]} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
