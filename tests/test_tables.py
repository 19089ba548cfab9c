"""Tables as data (nnctl/data/tables.py and its CLI): reading real files, the fitted preprocessor worked by
hand and against scikit-learn, and whole commands on tables with the other features."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import invoke

from nnctl.spec.config import load_config, table_spec_text
from nnctl.errors import DataError, RunError
from nnctl.experiment.run import train_run
from nnctl.data.tables import Preprocessor, _column_modes, read_table

# A few rows of the Palmer penguins (real values, two rows with gaps), enough for every case.
PENGUINS = """\
species,island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex
Adelie,Torgersen,39.1,18.7,181,3750,male
Adelie,Torgersen,39.5,17.4,186,3800,female
Adelie,Torgersen,NA,NA,NA,NA,NA
Adelie,Dream,39.5,16.7,178,3250,female
Adelie,Biscoe,37.8,18.3,174,3400,female
Gentoo,Biscoe,46.1,13.2,211,4500,female
Gentoo,Biscoe,50.0,16.3,230,5700,male
Gentoo,Biscoe,48.7,14.1,210,4450,
Gentoo,Biscoe,50.0,15.2,218,5700,male
Chinstrap,Dream,46.5,17.9,192,3500,female
Chinstrap,Dream,50.0,19.5,196,3900,male
Chinstrap,Dream,51.3,19.2,193,3650,male
Chinstrap,Dream,45.4,18.7,188,3525,female
"""


def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def iris_csv(tmp_path):
    """Iris as a CSV with string labels (scikit-learn's copy of the real data)."""
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_iris()
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v:g}" for v in x) + f",{d.target_names[t]}" for x, t in zip(d.data, d.target)]
    write(tmp_path / "iris.csv", "\n".join(rows) + "\n")
    test = [rows[0]] + [r for k, r in enumerate(rows[1:]) if k % 5 == 0]
    write(tmp_path / "iris-test.csv", "\n".join(test) + "\n")
    return tmp_path / "iris.csv"


# ---------------------------------------------------------------- reading real files


def test_bom_semicolons_quotes_and_newlines_inside_quotes(tmp_path):
    text = '\ufeffname;note;value\n"Smith; J.";"said ""hi""\nthen left";1,5\nLee;plain;2\n'
    t = read_table(write(tmp_path / "t.csv", text))
    assert t.columns == ["name", "note", "value"]  # the BOM is not part of the first name
    assert t.cells[0].tolist() == ["Smith; J.", 'said "hi"\nthen left', "1,5"]
    assert t.lines.tolist() == [3, 4]  # the quoted newline moves the line count on


def test_tab_separated_and_header_detection(tmp_path):
    t = read_table(write(tmp_path / "t.tsv", "a\tb\n1\t2\n3\t4\n"))
    assert t.columns == ["a", "b"] and t.header
    t = read_table(write(tmp_path / "n.csv", "1,2,x\n3,4,y\n"))  # no header: numbers in the first row
    assert t.columns == ["column1", "column2", "column3"] and not t.header and t.m == 2
    t = read_table(write(tmp_path / "s.csv", "color,size\nred,big\nblue,small\n"))  # all text, the first row unlike the rest
    assert t.header and t.columns == ["color", "size"]


def test_thousands_of_columns(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3000)).round(3)
    y = (x[:, 0] > 0).astype(int)
    lines = [",".join(f"f{j}" for j in range(3000)) + ",label"] + [",".join(map(str, r)) + f",{c}" for r, c in zip(x, y)]
    t = read_table(write(tmp_path / "wide.csv", "\n".join(lines)))
    prep = Preprocessor.fit(t, "label")
    X, Y, _ = prep.transform(t)
    assert X.shape == (40, 3000) and prep.n_x == 3000
    np.testing.assert_array_equal(X, x)
    np.testing.assert_array_equal(Y, y)


@pytest.mark.parametrize(
    "text, message",
    [
        ("a,b\n1,2\n3\n", "t.csv: line 3 has 1 fields but line 1 has 2 (fields split at ','); give every row the same columns"),
        ("a,b\n1,2\na,b\n", None),
        ("a,a\n1,2\n", "t.csv: columns 1 and 2 are both named 'a'; give each column its own name"),
        ("a,b\n", "t.csv: holds a header line but no rows of data"),
    ],
)
def test_bad_tables_name_line_and_column(tmp_path, text, message):
    path = write(tmp_path / "t.csv", text)
    if message is None:
        read_table(path)  # a row that repeats the header is a row of text, not an error
        return
    with pytest.raises(DataError) as exc:
        read_table(path)
    assert str(exc.value) == f"{tmp_path}/{message}" + (" (quote a field that holds the delimiter)" if "fields split" in message else "")


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b\n1,2\n3,\xe9\n")
    with pytest.raises(DataError, match=r"line 3: byte 0xe9 is not UTF-8 text; save the table as UTF-8"):
        read_table(path)


# ---------------------------------------------------------------- the preprocessor, by hand


def test_one_hot_fill_and_labels_worked_by_hand(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    prep = Preprocessor.fit(t, "species", missing="mean")
    assert prep.classes == ["Adelie", "Chinstrap", "Gentoo"]  # sorted: label 0 first
    assert prep.numeric == ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    assert prep.categories == [["Biscoe", "Dream", "Torgersen"], ["female", "male"]]
    bills = [39.1, 39.5, 39.5, 37.8, 46.1, 50.0, 48.7, 50.0, 46.5, 50.0, 51.3, 45.4]
    assert prep.fill[0] == pytest.approx(sum(bills) / 12)
    assert prep.category_fill == ["Biscoe", "female"]  # Biscoe 5 of 13 islands; female 6 of 11 given sexes
    X, y, _ = prep.transform(t)
    assert X.shape == (13, 4 + 3 + 2)
    assert X[0].tolist() == [39.1, 18.7, 181, 3750, 0, 0, 1, 0, 1]  # Torgersen, male
    assert X[2, :4].tolist() == pytest.approx(prep.fill)  # the row of NA: every numeric cell filled
    assert X[2, 4:].tolist() == [0, 0, 1, 1, 0]  # island kept; sex filled with the most frequent
    assert y.tolist() == [0, 0, 0, 0, 0, 2, 2, 2, 2, 1, 1, 1, 1]
    assert any("classification, as it holds text" in n for n in prep.notes)


def test_a_tie_goes_to_the_first_category_in_sorted_order(tmp_path):
    t = read_table(write(tmp_path / "t.csv", "c,y\nb,0\na,1\nb,0\na,1\n,0\n"))
    assert Preprocessor.fit(t, "y", missing="most_frequent").category_fill == ["a"]


def test_median_most_frequent_and_drop(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    assert Preprocessor.fit(t, "species", missing="median").fill[0] == pytest.approx(46.3)  # the 12 bills sorted: 6th and 7th are 46.1 and 46.5
    assert Preprocessor.fit(t, "species", missing="most_frequent").fill[0] == 50.0  # three times
    prep = Preprocessor.fit(t, "species", missing="drop")
    X, _, kept = prep.transform(t)
    assert kept.tolist() == [0, 1, 3, 4, 5, 6, 8, 9, 10, 11, 12] and X.shape[0] == 11


def test_column_modes_vectorised():
    x = np.array([[1, 5, np.nan], [2, 5, 7], [2, 6, 7], [1, 6, np.nan], [2, 9, 8.0]])
    np.testing.assert_array_equal(_column_modes(x), [2, 5, 7])


def test_missing_is_an_error_naming_line_and_column(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    with pytest.raises(DataError) as exc:
        Preprocessor.fit(t, "species")
    assert str(exc.value) == (
        f"{tmp_path}/p.csv: line 4, column 'bill_length_mm': the value is missing (6 missing in all); set data.missing: mean, median, most_frequent or drop"
    )


def test_unseen_category_error_or_zeros(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    new = read_table(write(tmp_path / "new.csv", "island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex\nAtlantis,40,18,190,3800,male\n"))
    with pytest.raises(
        DataError,
        match=r"new.csv: line 2, column 'island': category 'Atlantis' was not in the training data "
        r"\('Biscoe', 'Dream', 'Torgersen'\); fix the value, or train with data.unseen: zeros",
    ):
        Preprocessor.fit(t, "species", missing="mean").transform(new, need_target=False)
    prep = Preprocessor.fit(t, "species", missing="mean", unseen="zeros")
    X, _, _ = prep.transform(new, need_target=False)
    assert X[0, 4:].tolist() == [0, 0, 0, 0, 1] and prep.unseen_count(new) == 1


def test_task_chosen_from_the_target(tmp_path):
    rows = "\n".join(f"{k},{k % 3},{k * 1.5}" for k in range(40))
    t = read_table(write(tmp_path / "t.csv", "x,few,many\n" + rows))
    assert Preprocessor.fit(t, "few", features=["x"]).task == "classification"
    prep = Preprocessor.fit(t, "few", features=["x"])
    assert prep.classes == ["0", "1", "2"] and prep.class_values == [0.0, 1.0, 2.0]
    many = Preprocessor.fit(t, "many", features=["x"])
    assert many.task == "regression" and "set model.task: classification to override" in many.notes[0]
    assert Preprocessor.fit(t, "many", features=["x"], task="classification").task == "classification"


def test_target_absent_takes_the_last_column_and_says_so(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS.replace("species,", "kind,")))
    prep = Preprocessor.fit(t, missing="mean")
    assert prep.target == "sex"
    assert prep.notes[0] == "data.target not given: the last column, 'sex', is the target (set data.target to choose another)"


def test_unknown_column_did_you_mean(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    with pytest.raises(DataError, match=r"data.target: no column 'specie'; did you mean 'species'\?"):
        Preprocessor.fit(t, "specie")


def test_round_trip_and_damaged_record(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    prep = Preprocessor.fit(t, "species", missing="median")
    back = Preprocessor.from_dict(json.loads(json.dumps(prep.to_dict())), "table.json")
    np.testing.assert_array_equal(back.transform(t)[0], prep.transform(t)[0])
    broken = {**prep.to_dict(), "fill": [1.0]}
    with pytest.raises(DataError, match=r"table.json: fill: expected 4 finite numbers, one per numeric column; the file is damaged"):
        Preprocessor.from_dict(broken, "table.json")


def test_same_matrix_as_scikit_learn(tmp_path):
    """Imputation by the mean (text: most frequent) and one-hot, as scikit-learn's ColumnTransformer does."""
    pd = pytest.importorskip("pandas")
    compose = pytest.importorskip("sklearn.compose")
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    path = write(tmp_path / "p.csv", PENGUINS)
    df = pd.read_csv(path)
    X_df = df.drop(columns=["species"])
    text = ["island", "sex"]
    numbers = [c for c in X_df.columns if c not in text]
    ct = compose.ColumnTransformer(
        [
            ("n", SimpleImputer(strategy="mean"), numbers),
            ("t", make_pipeline(SimpleImputer(strategy="most_frequent"), OneHotEncoder(sparse_output=False)), text),
        ]
    )
    theirs = ct.fit_transform(X_df)
    t = read_table(path)
    ours = Preprocessor.fit(t, "species", missing="mean").transform(t)[0]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)


# ---------------------------------------------------------------- whole commands


def _train(tmp_path, *args):
    result = invoke("train", *args, "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 0, result.output
    return tmp_path / "runs" / "latest", result


def test_one_command_trains_predicts_evaluates_with_class_names(tmp_path, iris_csv):
    run, result = _train(tmp_path, "--data", iris_csv, "--target", "species", "--set", "train.epochs=60", "--set", f"data.test={tmp_path / 'iris-test.csv'}")
    assert "Note: target 'species': classification, as it holds text (a regression needs a target column of plain numbers)" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["train_accuracy"] >= 95 and metrics["test_accuracy"] >= 93
    resolved = (run / "config.resolved.yaml").read_text()
    for line in ("optimizer: adam", "hidden: null", "layers: [4, 100, 3]", "batch_size: 32", "l2: 0.0001", "task: classification"):
        assert line in resolved
    with h5py.File(run / "params.h5") as f:
        assert json.loads(f.attrs["classes"]) == ["setosa", "versicolor", "virginica"]
    rows = write(tmp_path / "rows.csv", "petal_width,petal_length,sepal_width,sepal_length,extra\n0.2,1.4,3.5,5.1,x\n2.3,5.9,3.0,6.8,y\n")
    out = invoke("predict", rows, "--run", run, "--json")
    assert out.exit_code == 0, out.output
    preds = [json.loads(line) for line in out.stdout.splitlines()]
    assert [p["class"] for p in preds] == ["setosa", "virginica"] and preds[0]["file"].endswith("rows.csv:2")
    assert "Note: " in out.stderr and "columns not used in training ignored: 'extra'" in out.stderr
    ev = invoke("evaluate", run, "--data", tmp_path / "iris-test.csv")
    assert ev.exit_code == 0, ev.output
    saved = json.loads((run / "evaluation-iris-test.json").read_text())
    assert saved["classes"] == ["setosa", "versicolor", "virginica"] and sum(map(sum, saved["confusion_matrix"])) == 30
    assert saved["accuracy"] == pytest.approx(metrics["test_accuracy"])
    page = invoke("report", run)
    assert page.exit_code == 0, page.output
    assert "versicolor" in (run / "report.html").read_text()  # the run's page names the classes too


def test_resolved_spec_repeats_the_run_bit_for_bit(tmp_path, iris_csv):
    run, _ = _train(tmp_path, "--data", iris_csv, "--target", "species", "--set", "train.epochs=5", "--set", "train.blas_threads=1")
    first = run.resolve()
    again, _ = _train(tmp_path, first / "config.resolved.yaml")
    with h5py.File(first / "params.h5") as a, h5py.File(again.resolve() / "params.h5") as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[key][()], b[key][()])


def test_regression_from_a_table(tmp_path):
    rng = np.random.default_rng(0)
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_diabetes(scaled=False)
    rows = ["age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,progression"] + [",".join(f"{v:g}" for v in x) + f",{y:g}" for x, y in zip(d.data, d.target)]
    write(tmp_path / "diabetes.csv", "\n".join(rows))
    run, result = _train(tmp_path, "--data", tmp_path / "diabetes.csv")
    assert "data.target not given: the last column, 'progression', is the target" in result.output
    assert "target 'progression': regression, as it holds 214 distinct numbers" in result.output
    metrics = json.loads((run / "metrics.json").read_text())
    # the target's own spread (std) is 77; standardised for training (the default), the 100-unit network fits its
    # training rows to about 35 (held out: 57, docs/tables.md); near 0 would mean the target leaked into the features
    assert 20 < metrics["train_rmse"] < 60 and metrics["normalize_target"]["method"] == "standardize"
    resolved = (run / "config.resolved.yaml").read_text()
    assert "activations: [relu, linear]" in resolved
    # a regression's recipe takes batches of 200 for 100 epochs (docs/tables.md: fewer steps over-fit a small
    # table less); spec.yaml says so, so that it repeats the run as it is
    for text in (resolved, (run / "spec.yaml").read_text()):
        assert "batch_size: 200" in text and "epochs: 100" in text
    out = invoke("predict", tmp_path / "diabetes.csv", "--run", run, "--csv")
    assert out.exit_code == 0 and out.stdout.splitlines()[0].startswith("file,value")
    del rng


def test_the_recipe_follows_the_task_the_run_trains(tmp_path):
    """--data's recipe: batches of 32 for classes, 200 for a regression, whichever decides the task (the
    target's values, or --set model.task); a table it cannot read yet gets the classes' recipe and the run's error."""
    rows = "\n".join(f"{k % 7},{k * 0.5},{(k * 37) % 11 * 0.3}" for k in range(80))
    write(tmp_path / "t.csv", "a,b,y\n" + rows)
    assert "batch_size: 200\n  epochs: 100" in table_spec_text(str(tmp_path / "t.csv"), None)  # y: 11 numbers, not all whole
    assert "batch_size: 32\n  epochs: 200" in table_spec_text(str(tmp_path / "t.csv"), "a")  # a: 7 whole numbers, classes
    assert "batch_size: 32" in table_spec_text(str(tmp_path / "t.csv"), "nothing")  # the run names the column
    assert "batch_size: 32" in table_spec_text(str(tmp_path / "absent.csv"), None)
    assert "batch_size: 32" in table_spec_text(str(tmp_path / "t.csv"), None, ["data.target=a"])  # --set's target
    assert "batch_size: 200" in table_spec_text(str(tmp_path / "t.csv"), "a", ["model.task=Regression"])
    assert "batch_size: 200" in table_spec_text(str(tmp_path / "t.csv"), None, ["model=3"])  # refused later, by the caller
    run, _ = _train(tmp_path, "--data", tmp_path / "t.csv", "--target", "b", "--set", "model.task=classification", "--set", "train.epochs=1")
    resolved = (run / "config.resolved.yaml").read_text()
    assert "task: classification" in resolved and "batch_size: 32" in resolved
    run, _ = _train(tmp_path, "--data", tmp_path / "t.csv", "--target", "a", "--set", "model.task=regression", "--set", "train.epochs=1")
    assert "batch_size: 200" in (run / "config.resolved.yaml").read_text()
    run, _ = _train(tmp_path, "--data", tmp_path / "t.csv", "--set", "train.batch_size=16", "--set", "train.epochs=1")
    assert "batch_size: 16" in (run / "config.resolved.yaml").read_text()  # --set still has the last word


def test_model_task_classification_overrides_auto(tmp_path):
    rows = "\n".join(f"{k},{k * 0.25}" for k in range(60))
    write(tmp_path / "t.csv", "x,y\n" + rows)
    write(tmp_path / "c.yaml", "data: {train: t.csv, target: y}\nmodel: {task: Classification}\ntrain: {epochs: 2}\n")
    spec = load_config(tmp_path / "c.yaml")
    summary = train_run(spec, runs_root=tmp_path / "runs")
    assert summary.task == "classification" and summary.layers == [1, 60]


def test_regression_of_text_is_refused(tmp_path):
    write(tmp_path / "p.csv", PENGUINS)
    write(tmp_path / "c.yaml", "data: {train: p.csv, target: species, missing: mean}\nmodel: {task: regression}\n")
    result = invoke("train", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tmp_path}/p.csv: line 2, column 'species': 'Adelie' is not a number, and a regression "
        "needs numbers; use model.task: classification (or auto) for a target of classes\n"
    )


OPTIMIZERS = ["gd", "momentum", "rmsprop", "adam"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_with_every_optimizer_minibatch_dropout_l2_float32_validation(tmp_path, optimizer):
    write(tmp_path / "p.csv", PENGUINS)
    spec = f"""\
data: {{train: p.csv, target: species, missing: median, validation: 0.3}}
model: {{hidden: [8, 4]}}
train: {{optimizer: {optimizer.upper()}, epochs: 30, batch_size: 4, keep_prob: 0.9, l2: 0.01, dtype: float32, record_every: 5,
        early_stopping: {{patience: 3}}}}
"""
    write(tmp_path / "c.yaml", spec)
    summary = train_run(load_config(tmp_path / "c.yaml"), runs_root=tmp_path / "runs")
    assert summary.status == "completed" and summary.layers == [9, 8, 4, 3]
    run = tmp_path / "runs" / "latest"
    table = json.loads((run / "table.json").read_text())
    # fitted on the training part only (the validation rows held out first)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["validation"]["m"] == 4 and "(training part, 9 of 13)" in json.loads((run / "reproduce.json").read_text())["data"]["train"]["source"]
    assert table["fill"][0] != pytest.approx(46.3)  # not the median of all 12 bills


def test_resume_on_a_table_is_bit_identical(tmp_path, iris_csv):
    write(
        tmp_path / "c.yaml",
        f"data: {{train: {iris_csv}, target: species}}\nmodel: {{hidden: [5]}}\n"
        "train: {optimizer: adam, epochs: 20, batch_size: 16, checkpoint_every: 5, blas_threads: 1}\n",
    )
    spec = load_config(tmp_path / "c.yaml")
    whole = train_run(spec, runs_root=tmp_path / "a")
    calls = []
    stopped = train_run(spec, runs_root=tmp_path / "b", should_stop=lambda: calls.append(1) or len(calls) == 50)
    assert stopped.status == "interrupted"
    from nnctl.experiment.run import resume_run

    resume_run(stopped.run_dir)
    with h5py.File(f"{whole.run_dir}/params.h5") as a, h5py.File(f"{stopped.run_dir}/params.h5") as b:
        np.testing.assert_array_equal(a["W1"][()], b["W1"][()])


def test_sweep_and_gradcheck_on_a_table(tmp_path, iris_csv):
    write(tmp_path / "c.yaml", f"data: {{train: {iris_csv}, target: species}}\nmodel: {{hidden: [3], hidden_activation: tanh}}\ntrain: {{epochs: 3}}\n")
    result = invoke("sweep", tmp_path / "c.yaml", "--grid", "model.hidden=[2],[4]", "--jobs", "1", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 0, result.output
    summary = (next((tmp_path / "runs").glob("sweep-*")) / "summary.csv").read_text()
    assert "[4, 2, 3]" in summary and "[4, 4, 3]" in summary
    check = invoke("gradcheck", tmp_path / "c.yaml")
    assert check.exit_code == 0, check.output


def test_predict_refuses_a_table_without_a_training_column(tmp_path, iris_csv):
    run, _ = _train(tmp_path, "--data", iris_csv, "--target", "species", "--set", "train.epochs=1")
    write(tmp_path / "rows.csv", "sepal_length,sepal_width,petal_length\n5.1,3.5,1.4\n")
    out = invoke("predict", tmp_path / "rows.csv", "--run", run)
    assert out.exit_code == 1
    assert out.stderr.startswith(f"Error: {tmp_path}/rows.csv: no column 'petal_width', which the model was trained on")


def test_damaged_table_json_is_named(tmp_path, iris_csv):
    run, _ = _train(tmp_path, "--data", iris_csv, "--target", "species", "--set", "train.epochs=1")
    record = json.loads((run / "table.json").read_text())
    (run / "table.json").write_text(json.dumps({**record, "classes": ["a", "b", "c"]}))
    out = invoke("evaluate", run, "--data", iris_csv)
    # the edit is named as such (the digest params.h5 keeps), not by the classes it then gets wrong
    assert out.exit_code == 1 and "table.json: does not match what training wrote (digest, recorded in params.h5)" in out.stderr
    assert "classes" not in out.stderr
    from nnctl.rundir.runs import load_run

    with pytest.raises(RunError):
        load_run(run)


def test_data_info_of_a_table_escapes_its_text(tmp_path):
    write(tmp_path / "t.csv", "[bold]name[/bold],n\n[red]x[/red],1\ny,\n")
    out = invoke("data", "info", tmp_path / "t.csv")
    assert out.exit_code == 0, out.output
    assert "[bold]name[/bold]" in out.stdout and "[red]x[/red] (1)" in out.stdout
    assert "a table of 2 rows and 2 columns" in out.stdout


def test_table_keys_refused_for_hdf5_data(tmp_path, tiny_config):
    out = invoke("train", tiny_config, "--set", "data.target=y")
    assert out.exit_code == 1
    assert out.stderr == (
        f"Error: {tiny_config} (with --set data.target=y): data.target: for tables only (.csv, .tsv, .parquet); "
        "data.train is 'train.h5': leave data.target out\n"
    )


def test_bare_train_prints_usage_and_exits_2():
    out = invoke("train")
    lines = out.stderr.splitlines()
    assert out.exit_code == 2 and lines[0].startswith("Usage: ") and lines[0].endswith(" train [OPTIONS] [config]")
    assert lines[-1] == "Error: give a CONFIG to train (e.g. configs/quickstart.yaml), --data TABLE, or --resume RUN"


def test_names_are_case_insensitive(tmp_path, tiny_config):
    text = tiny_config.read_text().replace("hidden_activation: relu", "hidden_activation: ReLU\n  init: He")
    write(tiny_config, text.replace("  init: he\n", ""))
    spec = load_config(tiny_config, ["train.optimizer=Adam"])
    assert spec.model.hidden_activation == "relu" and spec.train.optimizer == "adam" and spec.model.init == "he"


def test_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pa.table({"x": [1.5, 2.5, None, 4.0], "kind": ["a", "b", "a", None], "y": ["p", "q", "p", "q"]})
    pq.write_table(table, tmp_path / "t.parquet")
    t = read_table(tmp_path / "t.parquet")
    prep = Preprocessor.fit(t, "y", missing="mean")
    X, y, _ = prep.transform(t)
    assert X.tolist() == [[1.5, 1, 0], [2.5, 0, 1], [8 / 3, 1, 0], [4.0, 1, 0]] and y.tolist() == [0, 1, 0, 1]


def test_config_show_reads_the_table_for_layers_and_shapes(tmp_path, iris_csv):
    write(tmp_path / "c.yaml", f"data: {{train: {iris_csv}, target: species, validation: 0.2}}\nmodel: {{hidden: [16]}}\n")
    shown = invoke("config", "show", tmp_path / "c.yaml")
    assert shown.exit_code == 0, shown.output
    assert "layers: [4, 16, 3]" in shown.stdout and "task: classification" in shown.stdout
    shapes = invoke("config", "show", tmp_path / "c.yaml", "--shapes")
    assert shapes.exit_code == 0 and "layer shapes for m = 120" in shapes.stdout  # the training part of 150 rows


def test_features_and_drop_choose_the_columns(tmp_path):
    t = read_table(write(tmp_path / "p.csv", PENGUINS))
    prep = Preprocessor.fit(t, "species", features=["sex", "bill_depth_mm"], missing="mean")
    assert prep.columns == ["bill_depth_mm", "sex"] and prep.feature_names == ["bill_depth_mm", "sex=female", "sex=male"]
    prep = Preprocessor.fit(t, "species", drop=["island", "sex"], missing="mean")
    assert prep.categorical == [] and prep.n_x == 4
    with pytest.raises(DataError, match=r"data.features: 'species' is the target; leave it out of the features"):
        Preprocessor.fit(t, "species", features=["species", "sex"])


def test_evaluate_without_data_uses_the_runs_test_table(tmp_path, iris_csv):
    run, _ = _train(tmp_path, "--data", iris_csv, "--target", "species", "--set", "train.epochs=20", "--set", f"data.test={tmp_path / 'iris-test.csv'}")
    out = invoke("evaluate", run)
    assert out.exit_code == 0, out.output
    saved = json.loads((run / "evaluation.json").read_text())
    assert saved["m"] == 30 and saved["data"] == str(tmp_path / "iris-test.csv")
    (tmp_path / "iris-test.csv").write_text((tmp_path / "iris-test.csv").read_text().replace("setosa", "virginica", 1))
    changed = invoke("evaluate", run)
    assert changed.exit_code == 1 and "the file changed since" in changed.stderr


def test_class_names_from_a_table_are_shown_not_read_as_markup(tmp_path):
    write(tmp_path / "esc.csv", "x,label\n1,[red]a[/red]\n2,[red]a[/red]\n3,b\n4,b\n5,[red]a[/red]\n6,b\n")
    run, _ = _train(tmp_path, "--data", tmp_path / "esc.csv", "--set", f"data.test={tmp_path / 'esc.csv'}", "--set", "train.epochs=3")
    shown = invoke("predict", tmp_path / "esc.csv", "--run", run)
    assert shown.exit_code == 0 and "[red]a[/red]" in shown.stdout
    scored = invoke("evaluate", run)
    assert scored.exit_code == 0 and scored.stdout.count("[red]a[/red]") >= 3  # per class, matrix header and row


def test_python_api_over_a_table_spec_predicts_class_names(tmp_path, iris_csv):
    nnctl = pytest.importorskip("nnctl.api")
    model = nnctl.fit(
        {
            "data": {"train": str(iris_csv), "target": "species"},
            "model": {"hidden": [8]},
            "train": {"optimizer": "adam", "learning_rate": 0.01, "epochs": 50, "batch_size": 16},
        }
    )
    assert list(model.classes) == ["setosa", "versicolor", "virginica"]
    assert list(model.predict(np.array([[5.1, 3.5, 1.4, 0.2], [6.8, 3.0, 5.9, 2.3]]))) == ["setosa", "virginica"]


TEXTS = {
    "quoted.csv": 'x,y,z\n1,2,cat\n3,4,dog\n\n5,6,cat\n7,8,"d,og"\n9,10,"multi\nline"\n11,12,cat\n',
    "bom-semicolons-crlf.csv": "\ufeffx;y\r\n1;2\r\n3;4\r\n5;6\r\n",
    "no-header.csv": "1,2\n3,4\n5,6\n7,8\n",
    "old-mac.csv": "x,y\r1,2\r3,4\r5,6\r",
    "tabs.tsv": "x\ty\n1\t2\n3\t4\n",
    "header-only.csv": "x,y\n",
    "ragged.csv": "x,y\n1,2\n3\n",
    "open-quote.csv": 'x,y\n1,2\n"3,4\n',
    "empty.csv": "",
    "all-text.csv": "a,b\nq,w\ne,r\n",
    "not-utf8.csv": b"x,y\n1,2\n3,\xff\n",
    "nul.csv": b"x,y\n1,2\n3,\x00\n",
}


@pytest.mark.parametrize("rows", [1, 2, 3, 100])
@pytest.mark.parametrize("name", list(TEXTS))
def test_table_chunks_read_what_read_table_reads(tmp_path, name, rows):
    """evaluate reads a table a chunk at a time: the same cells, line numbers and messages as read_table."""
    from nnctl.data.tables import table_chunks

    path = tmp_path / name
    text = TEXTS[name]
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    try:
        t = read_table(path)
        whole = (t.columns, t.cells.tolist(), t.lines.tolist(), t.sha256)
    except DataError as exc:
        whole = str(exc)
    try:
        chunks = list(table_chunks(path, rows))
        assert all(c.m <= rows + 1 for c in chunks) and all(c.columns == chunks[0].columns for c in chunks)
        got = (chunks[0].columns, sum((c.cells.tolist() for c in chunks), []), sum((c.lines.tolist() for c in chunks), []), chunks[0].sha256)
    except DataError as exc:
        got = str(exc)
    assert got == whole


def test_table_chunks_of_parquet_read_what_read_table_reads(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from nnctl.data.tables import table_chunks

    pq.write_table(pa.table({"x": [1.5, 2.5, None, 4.0, 0.1], "kind": ["a", "b", "a", None, "c"], "n": [1, 2, 3, 4, 5]}), tmp_path / "t.parquet")
    t = read_table(tmp_path / "t.parquet")
    chunks = list(table_chunks(tmp_path / "t.parquet", 2))
    assert [c.m for c in chunks] == [2, 2, 1] and all(c.columns == t.columns for c in chunks)
    assert np.concatenate([c.cells for c in chunks]).tolist() == t.cells.tolist()
    assert np.concatenate([c.lines for c in chunks]).tolist() == t.lines.tolist()


# ---------------------------------------------------------------- issue 20 round 7: the header line


def iris_rows():
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_iris()
    return [[f"{v:g}" for v in x] + [str(d.target_names[t])] for x, t in zip(d.data, d.target)]


def test_a_header_of_column_numbers_over_a_class_column_is_a_header(tmp_path):
    """pandas' to_csv of an unnamed DataFrame plus a named column: '0,1,2,3,species' is the header, not a training row."""
    rows = iris_rows()
    path = write(tmp_path / "iris_numhdr.csv", "0,1,2,3,species\n" + "".join(",".join(r) + "\n" for r in rows))
    t = read_table(path)
    assert t.header and t.columns == ["0", "1", "2", "3", "species"] and t.m == 150
    overrides = ["train.epochs=1", "data.drop=[0]"]  # a column named by a number, as YAML reads it: its name as text
    run = train_run(load_config(write(tmp_path / "s.yaml", table_spec_text(str(path), None, overrides)), overrides), runs_root=tmp_path / "runs")
    table = json.loads((tmp_path / run.run_dir / "table.json").read_text())
    assert table["classes"] == ["setosa", "versicolor", "virginica"] and table["numeric"] == ["1", "2", "3"]
    assert not read_table(write(tmp_path / "nohdr.csv", "".join(",".join(r) + "\n" for r in rows))).header  # no header line: all data
    one_based = read_table(write(tmp_path / "r.csv", "1,2,kind\n0.5,1.5,a\n2.5,3,b\n1,2.5,a\n"))
    assert one_based.header and one_based.columns == ["1", "2", "kind"]


def test_a_header_of_column_numbers_over_numbers_is_a_header_only_over_fractions(tmp_path):
    fractions = read_table(write(tmp_path / "f.csv", "0,1,2\n5.1,3.5,1\n4.9,3,2\n"))
    assert fractions.header and fractions.columns == ["0", "1", "2"] and fractions.m == 2
    whole = read_table(write(tmp_path / "w.csv", "0,1,2\n5,3,1\n4,3,2\n"))  # ambiguous: read as data
    assert not whole.header and whole.m == 3 and whole.columns == ["column1", "column2", "column3"]
    other = read_table(write(tmp_path / "o.csv", "2,7,1\n5.1,3.5,1\n4.9,3,2\n"))  # numbers that are not column numbers: data
    assert not other.header and other.m == 3


def test_a_first_row_like_the_data_stays_data(tmp_path):
    """A first row whose text is a class seen below, or over a column of values that never repeat, is data."""
    assert not read_table(write(tmp_path / "a.csv", "0,1,a\n2,3,b\n4,5,a\n6,7,b\n")).header  # 'a' is a class below
    assert not read_table(write(tmp_path / "b.csv", "1,2,x\n3,4,y\n5,6,z\n")).header  # x, y, z: no categories to be unlike
    assert not read_table(write(tmp_path / "c.csv", "0,0,kind\n1.5,2,a\n2.5,3,a\n")).header  # two fields alike: no names


def test_a_target_only_the_first_line_names_says_it_was_read_as_data(tmp_path):
    path = write(tmp_path / "t.csv", "0,1,2\n5,3,1\n4,3,2\n6,1,1\n")
    result = invoke("train", "--data", str(path), "--target", "2", "--runs-dir", str(tmp_path / "runs"))
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"Error: {path}: data.target: no column '2'; the file's first line ('0,1,2') was read as data, not as a header, as its "
        "names look like the data below; set data.header: true to read it as the header, or name the column as read (column1, column2, ...)"
    )
