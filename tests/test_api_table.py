"""Issue 20 round 5, text: `nnctl.load(run).predict(df)` on a run trained on a table applies the run's
table encoding (numbers filled, text one-hot) to a pandas DataFrame of raw columns, as `nnctl predict
--run RUN table.csv` does, and agrees with it; a DataFrame missing a column, with an extra one or
with a column of the wrong kind gets a clear message."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import invoke

import nnctl
from nnctl.errors import DataError

pd = pytest.importorskip("pandas")

COLUMNS = "bill,island,mass,sex,species"


def _write(path, rng, m):
    islands, sexes = np.array(["Biscoe", "Dream", "Torgersen"]), np.array(["female", "male", "NA"])
    lines = [COLUMNS]
    for _ in range(m):
        i, s = rng.integers(3), rng.integers(3)
        bill = 40 + 5 * i + rng.normal()
        mass = "NA" if rng.random() < 0.1 else f"{3500 + 400 * s + 100 * rng.normal():.1f}"
        species = ["Adelie", "Gentoo", "Chinstrap"][int(i + (bill > 46)) % 3]
        lines.append(f"{bill:.2f},{islands[i]},{mass},{sexes[s]},{species}")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("apitable")
    rng = np.random.default_rng(0)
    train, test = _write(folder / "train.csv", rng, 120), _write(folder / "test.csv", rng, 30)
    result = invoke(
        "train", "--data", train, "--target", "species", "--set", "data.missing=mean", "--set", "train.epochs=20",
        "--runs-dir", folder / "runs", "-q", "--no-report",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder / "runs" / "latest", test


def _cli(run, test):
    result = invoke("predict", "--run", run, test, "--json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


FILLED = pytest.mark.filterwarnings("ignore:X. 13 missing values filled:UserWarning")  # the test file's gaps: tests/test_issue20_round8.py pins the warning


@FILLED
def test_a_dataframe_of_raw_columns_agrees_with_the_cli(table_run):
    run, test = table_run
    model = nnctl.load(run)
    assert model._run.table.categorical == ["island", "sex"]  # text columns: the path under test
    frame = pd.read_csv(test)  # "NA" read as NaN by pandas, text columns as object
    assert frame["mass"].isna().any() and frame["sex"].isna().any()
    cli = _cli(run, test)
    assert len(cli) == len(frame)
    proba = model.predict_proba(frame.drop(columns=["species"]))
    labels = model.predict(frame)  # the target column is there: ignored, as the CLI ignores it
    assert proba.shape == (len(frame), len(model.classes))
    assert list(labels) == [row["class"] for row in cli]
    for p, row in zip(proba, cli):
        np.testing.assert_allclose(p.max(), row["probability"], rtol=1e-6, atol=1e-6)
    # column order does not matter: columns are found by name
    np.testing.assert_array_equal(model.predict_proba(frame[frame.columns[::-1]]), proba)
    result = model.evaluate(frame.drop(columns=["species"]), frame["species"])
    assert 0 <= result["accuracy"] <= 100


@FILLED
def test_a_dataframe_missing_a_column_extra_or_of_the_wrong_kind(table_run):
    run, test = table_run
    model = nnctl.load(run)
    frame = pd.read_csv(test).drop(columns=["species"])
    with pytest.raises(DataError) as err:
        model.predict(frame.drop(columns=["island"]))
    assert str(err.value) == ("X: no column 'island', which the model was trained on; give a table with the training columns (bill, mass, island, sex)")
    with pytest.warns(UserWarning, match=r"^X: columns not used in training ignored: 'colour'$"):
        np.testing.assert_array_equal(model.predict(frame.assign(colour="red")), model.predict(frame))
    wrong = frame.assign(bill=["long"] * len(frame))
    with pytest.raises(DataError) as err:
        model.predict(wrong)
    assert str(err.value) == "X: row 0, column 'bill': 'long' is not a number; the column held numbers in training"
    with pytest.raises(DataError) as err:
        model.predict(frame.assign(island="Mars"))
    assert str(err.value).startswith("X: row 0, column 'island': category 'Mars' was not in the training data ('Biscoe', 'Dream', 'Torgersen')")
    with pytest.raises(DataError) as err:
        model.predict(frame.to_numpy())  # an object array: no column names to find
    assert str(err.value).startswith("X: this model was trained on a table; give a pandas DataFrame with its columns ('bill', 'mass', 'island', 'sex')")
