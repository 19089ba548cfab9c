"""Issue 20 round 8 (tables and export): predict and evaluate say which cells they filled (a whole
empty column is a warning: its feature is ignored); numbers written with a decimal comma or digit
grouping are refused, not read as text; outside text in the Python API's warnings and errors is escaped."""

from __future__ import annotations

import json
import warnings

import pytest
from conftest import invoke

TRAIN = "a,b,c,t\n1,2,x,0\n2,,y,1\n3,4,x,0\n,5,y,1\n5,6,x,0\n6,7,y,1\n7,8,x,0\n8,9,y,1\n"


def _run(tmp_path, missing="mean"):
    (tmp_path / "m.csv").write_text(TRAIN)
    out = invoke(
        "train", "--data", tmp_path / "m.csv", "--target", "t", "--runs-dir", tmp_path / "runs", "--no-report",
        "--set", f"data.missing={missing}", "--set", "train.epochs=3",
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    return next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink())


@pytest.mark.parametrize("missing", ["mean", "median", "most_frequent"])
def test_predict_counts_filled_cells_and_warns_of_an_empty_column(tmp_path, missing):
    run = _run(tmp_path, missing)
    (tmp_path / "p.csv").write_text("a,b,c\n1,,x\n,,y\n3,,\n")
    out = invoke("predict", tmp_path / "p.csv", "--run", run, "--json")
    assert out.exit_code == 0, out.output
    lines = out.stderr.splitlines()
    warned = [line for line in lines if line.startswith("Warning: ") and "'b' is empty in all 3 rows" in line]
    assert len(warned) == 1 and "the predictions ignore this feature" in warned[0], out.stderr
    noted = [line for line in lines if line.startswith("Note: ") and "2 missing values filled" in line]
    assert len(noted) == 1 and "1 in 'a', 1 in 'c'" in noted[0] and "'b'" not in noted[0], out.stderr


def test_predict_without_gaps_says_nothing_of_filling(tmp_path):
    run = _run(tmp_path)
    (tmp_path / "p.csv").write_text("a,b,c\n1,2,x\n")
    out = invoke("predict", tmp_path / "p.csv", "--run", run, "--json")
    assert out.exit_code == 0 and "filled" not in out.stderr and "empty" not in out.stderr, out.output


def test_evaluate_notes_filled_cells_in_the_terminal_and_the_json(tmp_path):
    run = _run(tmp_path)
    (tmp_path / "e.csv").write_text("a,b,c,t\n1,,x,0\n,,y,1\n3,,x,0\n4,,y,1\n")
    out = invoke("evaluate", run, "--data", tmp_path / "e.csv")
    assert out.exit_code == 0, out.output
    assert any(line.startswith("Warning: ") and "'b' is empty in all 4 rows" in line for line in out.stderr.splitlines()), out.stderr
    assert any(line.startswith("Note: ") and "1 missing value filled" in line and "1 in 'a'" in line for line in out.stderr.splitlines()), out.stderr
    saved = [json.loads(p.read_text()) for p in run.glob("evaluation*.json")]
    notes = [n for s in saved for n in s.get("notes", [])]
    assert any("'b' is empty in all 4 rows" in n for n in notes) and any("1 missing value filled" in n for n in notes), saved


def test_the_api_warns_of_filled_cells(tmp_path):
    pd = pytest.importorskip("pandas")
    import nnctl

    run = _run(tmp_path)
    frame = pd.DataFrame({"a": [1.0, None, 3.0], "b": [None, None, None], "c": ["x", "y", None]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nnctl.load(run).predict(frame)
    said = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert any("'b' is empty in all 3 rows" in s for s in said), said
    assert any("2 missing values filled" in s for s in said), said


@pytest.mark.parametrize(
    "text, column, value, plain",
    [
        ("a;b;c\n0,13;-0,13;yes\n1,5;2,25;no\n3;4,0;yes\n0,5;1;no\n", "a", "0,13", "(here 0.13)"),
        ('x,price\n1,"1,120"\n2,"2,340"\n3,"3,005"\n4,"12,000"\n5,900\n', "price", "1,120", "(here 1120, or 1.120 if the comma is a decimal comma)"),
        ('x,price,y\n1,"1,120.5",0\n2,"2,340",1\n3,7,0\n4,"12,000",1\n', "price", "1,120.5", "(here 1120.5)"),
    ],
)
def test_numbers_written_with_a_comma_are_refused_naming_the_column_and_the_fix(tmp_path, text, column, value, plain):
    (tmp_path / "t.csv").write_text(text)
    for args in (
        ["train", "--data", tmp_path / "t.csv", "--runs-dir", tmp_path / "runs", "--no-report", "--set", "train.epochs=1"],
        ["data", "info", tmp_path / "t.csv"],
    ):
        out = invoke(*args)
        assert out.exit_code == 1, out.output
        said = out.stderr.strip()
        assert said.startswith("Error: ") and len(said.splitlines()) == 1, said
        assert f"column '{column}': '{value}' is a number written with a comma" in said and plain in said, said
        assert "write plain numbers" in said


def test_a_text_column_with_commas_stays_text_and_a_text_target_is_not_advised_regression(tmp_path):
    (tmp_path / "t.csv").write_text('x,v,c\n1,"1,2",a\n2,abc,b\n3,"3,4",a\n4,abc,b\n')
    out = invoke("train", "--data", tmp_path / "t.csv", "--runs-dir", tmp_path / "runs", "--no-report", "--set", "train.epochs=1")
    assert out.exit_code == 0, out.output
    assert "model.task: regression" not in out.output and "a regression needs a target column of plain numbers" in out.output


HOSTILE = "x\x1b[2J\x1b]8;;http://e.test\x07\r\u202e"
RAW = ("\x1b", "\x07", "\r", "\u202e")


def test_the_api_escapes_outside_text_in_its_warnings_and_errors(tmp_path):
    pd = pytest.importorskip("pandas")
    import nnctl
    from nnctl.errors import DataError

    model = nnctl.load(_run(tmp_path))
    frame = pd.DataFrame({"a": [1.0], "b": [2.0], "c": ["x"], HOSTILE: [1]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.predict(frame)
    said = [str(w.message) for w in caught]
    assert said and all(not any(c in s for c in RAW) for s in said), said
    assert any("\\x1b[2J\\x1b]8;;http://e.test\\x07\\r\\u202e" in s for s in said), said
    assert all(w.filename == __file__ for w in caught)  # the user's line, not nnctl's wrapper
    twice = pd.DataFrame([[1.0, 2.0, "x", 1, 2]], columns=["a", "b", "c", HOSTILE, HOSTILE])
    with pytest.raises(DataError) as raised:
        model.predict_proba(twice)
    text = str(raised.value)
    assert not any(c in text for c in RAW) and "\\x1b[2J" in text and "\\u202e" in text, text


def test_an_api_error_is_escaped_once(tmp_path):
    from nnctl.api import _escaped
    from nnctl.errors import DataError

    exc = DataError(f"X: column {HOSTILE!s}")
    _escaped(exc)
    _escaped(exc)  # a method calling another: escaped once, its backslashes not doubled
    assert str(exc) == "X: column x\\x1b[2J\\x1b]8;;http://e.test\\x07\\r\\u202e"
