"""Tables with one command: `nnctl train --data train.csv --target T` (the defaults) against
scikit-learn's MLPClassifier / MLPRegressor in a StandardScaler pipeline, on real tables.

    python benchmarks/bench_tabular.py                         # every table, 3 splits each (a few minutes)
    python benchmarks/bench_tabular.py --splits 1 --only iris,penguins
    python benchmarks/bench_tabular.py --set train.epochs=100 --no-sklearn  # other defaults (as measured for docs/tables.md)

Each table is written as CSV (string labels where the source has class names), split into train
and test (75/25, stratified for classes, seeds 0, 1, ...) and both sides see the same rows:
nnctl through its CLI (`nnctl train --data train.csv --target T --set data.test=test.csv`, plus
the one key a table needs: data.missing for tables with gaps, data.drop for an id column),
scikit-learn through ColumnTransformer(SimpleImputer (mean; text: most frequent) + StandardScaler,
OneHotEncoder for text) and MLPClassifier/MLPRegressor with its defaults and max_iter=1000 (so it
converges rather than stopping at 200). Scores are test accuracy (%) or test RMSE, mean over the
splits. Needs scikit-learn, pandas, palmerpenguins and vega_datasets (pip install them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _sklearn_frame(loader, target="target", names=True):
    d = loader(as_frame=True)
    df = d.frame.copy()
    if names and hasattr(d, "target_names"):
        df[target] = np.asarray(d.target_names)[d.target.to_numpy()]
    return df


def load_tables() -> dict:
    """name -> (DataFrame, target column, task, extra nnctl --set keys)."""
    import pandas as pd
    from sklearn import datasets

    out = {
        "iris": (_sklearn_frame(datasets.load_iris), "target", "classification", []),
        "wine": (_sklearn_frame(datasets.load_wine), "target", "classification", []),
        "breast_cancer": (_sklearn_frame(datasets.load_breast_cancer), "target", "classification", []),
        "digits": (_sklearn_frame(datasets.load_digits, names=False), "target", "classification", []),
        "diabetes": (datasets.load_diabetes(as_frame=True, scaled=False).frame, "target", "regression", []),
    }
    try:
        import palmerpenguins

        out["penguins"] = (palmerpenguins.load_penguins(), "species", "classification", ["data.missing=mean"])
        # the same table as a regression of body mass in grams (about 4200 +- 800): the target far from order one
        out["penguins_mass"] = (palmerpenguins.load_penguins(), "body_mass_g", "regression", ["data.missing=mean"])
    except ImportError:
        print("palmerpenguins not installed: penguins left out", file=sys.stderr)
    try:
        from vega_datasets import data as vega

        cars = pd.read_json(Path(vega.cars.filepath))
        out["cars"] = (cars, "Miles_per_Gallon", "regression", ["data.missing=mean", "data.drop=[Name]"])
    except ImportError:
        print("vega_datasets not installed: cars left out", file=sys.stderr)
    return out


def split(df, target: str, task: str, seed: int):
    from sklearn.model_selection import train_test_split

    df = df[df[target].notna()].reset_index(drop=True)  # both sides drop rows without a target
    strat = df[target] if task == "classification" else None
    return train_test_split(df, test_size=0.25, random_state=seed, stratify=strat)


def run_nnctl(train_csv, test_csv, target, extra, sets, runs) -> tuple:
    cmd = [
        sys.executable,
        "-m",
        "nnctl",
        "train",
        "--data",
        str(train_csv),
        "--target",
        target,
        "--runs-dir",
        str(runs),
        "--quiet",
        "--no-report",
        "--set",
        f"data.test={json.dumps(str(test_csv))}",
    ]
    for s in [*extra, *sets]:
        cmd += ["--set", s]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"nnctl failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")
    metrics = json.loads((Path(runs) / "latest" / "metrics.json").read_text())
    return metrics.get("test_accuracy", metrics.get("test_rmse")), seconds


def run_sklearn(train, test, target, task, seed) -> tuple:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    X, y = train.drop(columns=[target]), train[target]
    import pandas as pd

    text = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    numbers = [c for c in X.columns if c not in text]
    prep = ColumnTransformer(
        [
            ("numbers", make_pipeline(SimpleImputer(strategy="mean"), StandardScaler()), numbers),
            ("text", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(handle_unknown="ignore")), text),
        ]
    )
    model = (MLPClassifier if task == "classification" else MLPRegressor)(max_iter=1000, random_state=seed)
    pipe = make_pipeline(prep, model)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    seconds = time.perf_counter() - t0
    pred = pipe.predict(test.drop(columns=[target]))
    if task == "classification":
        return float(np.mean(pred == test[target].to_numpy()) * 100), seconds
    return float(np.sqrt(np.mean((pred - test[target].to_numpy()) ** 2))), seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated table names")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="extra nnctl --set for every table")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-sklearn", action="store_true", help="nnctl only (comparing nnctl's own settings)")
    args = parser.parse_args(argv)
    tables = load_tables()
    chosen = [n for n in args.only.split(",") if n] or list(tables)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in chosen:
            df, target, task, extra = tables[name]
            ours, theirs, t_ours, t_theirs = [], [], [], []
            for seed in range(args.splits):
                train, test = split(df, target, task, seed)
                folder = Path(tmp) / f"{name}-{seed}"
                folder.mkdir()
                train.to_csv(folder / "train.csv", index=False)
                test.to_csv(folder / "test.csv", index=False)
                score, sec = run_nnctl(folder / "train.csv", folder / "test.csv", target, extra, args.sets, folder / "runs")
                ours.append(score), t_ours.append(sec)
                score, sec = run_sklearn(train, test, target, task, seed) if not args.no_sklearn else (float("nan"), 0.0)
                theirs.append(score), t_theirs.append(sec)
            rows.append(
                {
                    "table": name,
                    "rows": len(df),
                    "columns": df.shape[1] - 1,
                    "task": task,
                    "metric": "accuracy %" if task == "classification" else "RMSE",
                    "nnctl": float(np.mean(ours)),
                    "sklearn": float(np.mean(theirs)),
                    "nnctl_s": float(np.mean(t_ours)),
                    "sklearn_s": float(np.mean(t_theirs)),
                    "splits": args.splits,
                }
            )
            r = rows[-1]
            better = r["nnctl"] >= r["sklearn"] - 1 if task == "classification" else r["nnctl"] <= 1.05 * r["sklearn"]
            r["within"] = bool(better)
            if args.json:
                print(json.dumps(r), flush=True)
            else:
                print(
                    f"| {name} | {r['rows']} × {r['columns']} | {r['metric']} | {r['nnctl']:.2f} | {r['sklearn']:.2f} | "
                    f"{'yes' if better else 'NO'} | {r['nnctl_s']:.1f} s | {r['sklearn_s']:.1f} s |",
                    flush=True,
                )
    return 0 if all(r["within"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
