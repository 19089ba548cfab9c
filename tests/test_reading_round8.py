"""Issue 20, round 8: reading data files (a missing value in a headerless CSV's first row, a file
changed while it is read for training, predict or evaluate, an unclosed quote, trailing separators)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest
from conftest import invoke
from error_cases import planar_run

import nnctl.experiment.inference as inference
from nnctl.data.dataset import file_sha256, read_raw
from nnctl.data.tables import read_table
from nnctl.errors import DataError


@pytest.fixture(scope="module")
def array_run(tmp_path_factory):
    """A run trained on arrays (builtin:planar, 2 features), not on a table."""
    run = tmp_path_factory.mktemp("arrays") / "run"
    planar_run(run)
    return run


@pytest.fixture(scope="module")
def table_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    rng = np.random.default_rng(0)
    rows = [f"{a:.3f},{b:.3f},{'yes' if a + b > 0 else 'no'}" for a, b in rng.normal(size=(200, 2))]
    (folder / "t.csv").write_text("a,b,y\n" + "\n".join(rows) + "\n")
    result = invoke("train", "--data", folder / "t.csv", "--target", "y", "--set", "train.epochs=2", "--runs-dir", folder / "runs", "--quiet", "--no-report")
    assert result.exit_code == 0, result.output
    return folder / "runs" / "latest"


# ---------------------------------------------------------------- 1. a missing value is never a header


@pytest.mark.parametrize("cell", ["", "NA", "null", "?", " n/a "])
def test_a_first_row_with_a_missing_value_is_data_not_a_header(tmp_path, array_run, cell):
    rows = tmp_path / "r.csv"
    rows.write_text(f"{cell},1\n2,3\n4,5\n")
    out = invoke("predict", rows, "--run", array_run, "--csv")
    assert out.exit_code == 1
    assert out.stderr.strip() == f"Error: {rows}: data row 1 has values that are not numbers; the model takes 2 numbers per row"
    assert out.stdout == ""


def test_a_header_of_names_is_still_a_header_and_rows_are_numbered_after_it(tmp_path, array_run):
    rows = tmp_path / "r.csv"
    rows.write_text("x1,x2\n2,3\n4,5\n")
    out = invoke("predict", rows, "--run", array_run, "--json")
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["file"] for line in out.stdout.splitlines()] == [f"{rows}:1", f"{rows}:2"]


# ---------------------------------------------------------------- 2. training data changed while it is read


def test_a_training_table_truncated_after_it_was_read_is_refused(tmp_path, monkeypatch):
    data = tmp_path / "pt.csv"
    data.write_text("a,b,y\n" + "".join(f"{i},{i % 7},{'p' if i % 2 else 'q'}\n" for i in range(40)))
    real = pathlib.Path.read_bytes

    def read_then_truncate(self):
        out = real(self)
        if self == data:
            with open(data, "r+b") as fh:  # another program cuts the file short as nnctl finishes reading it
                fh.truncate(len(out) // 2)
        return out

    monkeypatch.setattr(pathlib.Path, "read_bytes", read_then_truncate)
    with pytest.raises(DataError) as err:
        read_table(data)
    assert str(err.value) == f"{data}: the file changed while it was read (it was truncated); keep it unchanged while nnctl reads it, and run again"
    result = invoke("train", "--data", data, "--target", "y", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "the file changed while it was read" in result.stderr


def test_a_table_read_records_the_sha256_of_the_bytes_it_parsed(tmp_path):
    data = tmp_path / "pt.csv"
    data.write_text("a,b,y\n1,2,p\n3,4,q\n")
    assert read_table(data).sha256 == file_sha256(data)


def test_an_hdf5_file_changed_while_read_whole_is_refused(tmp_path, monkeypatch):
    import h5py

    import nnctl.data.dataset as dataset

    data = tmp_path / "d.h5"
    with h5py.File(data, "w") as f:
        f["x"] = np.zeros((6, 3))
        f["y"] = np.arange(6) % 2
    real = dataset.read_array

    def read_then_grow(f, key, path, *dtypes):
        out = real(f, key, path, *dtypes)
        with open(data, "ab") as fh:
            fh.write(b"\0" * 16)
        return out

    monkeypatch.setattr(dataset, "read_array", read_then_grow)
    with pytest.raises(DataError, match=r"d\.h5: the file changed while it was read \(it grew\); keep it unchanged while nnctl reads it, and run again$"):
        read_raw(str(data))


# ---------------------------------------------------------------- 3. predict's input changed while it is read


def _truncate_at_first_chunk(monkeypatch, path, keep_lines: int):
    """checked_inputs (called once per chunk predict scores) cuts `path` mid-line after `keep_lines` lines, once."""
    real, done = inference.checked_inputs, []

    def checked(*args, **kwargs):
        if not done:
            done.append(True)
            text = path.read_bytes()
            cut = sum(len(line) for line in text.splitlines(keepends=True)[:keep_lines]) + 3  # 3 bytes into the next line
            with open(path, "r+b") as fh:
                fh.truncate(cut)
        return real(*args, **kwargs)

    monkeypatch.setattr(inference, "checked_inputs", checked)


def test_predict_rows_truncated_between_chunks(tmp_path, array_run, monkeypatch):
    rows = tmp_path / "r.csv"
    rows.write_text("".join(f"{i}.25,-{i}.5\n" for i in range(5000)))
    monkeypatch.setattr(inference, "ROWS_PER_CHUNK", 100)
    _truncate_at_first_chunk(monkeypatch, rows, 3000)
    out = invoke("predict", rows, "--run", array_run, "--csv")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.stderr.strip() == (
        f"Error: {rows}: the file changed while it was read (it was truncated); nothing after row 100 was scored; run again on a file that is not being written"
    )
    written = [line for line in out.stdout.splitlines()[1:] if line]
    assert len(written) <= 100  # no row of a chunk read from the changed file


def test_predict_table_truncated_between_chunks(tmp_path, table_run, monkeypatch):
    rows = tmp_path / "r.csv"
    rows.write_text("a,b,y\n" + "".join(f"{i % 5}.5,{i % 3}.25,{'yes' if i % 2 else 'no'}\n" for i in range(6000)))
    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 100)
    _truncate_at_first_chunk(monkeypatch, rows, 3000)
    out = invoke("predict", rows, "--run", table_run, "--csv")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert out.stderr.strip() == (
        f"Error: {rows}: the file changed while it was read (it was truncated); nothing after line 101 was scored; run again on a file that is not being written"
    )
    assert len([line for line in out.stdout.splitlines()[1:] if line]) <= 100


def test_evaluate_table_truncated_while_read(tmp_path, table_run, monkeypatch):
    rows = tmp_path / "r.csv"
    rows.write_text("a,b,y\n" + "".join(f"{i % 5}.5,{i % 3}.25,{'yes' if i % 2 else 'no'}\n" for i in range(6000)))
    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 100)
    _truncate_at_first_chunk(monkeypatch, rows, 3000)
    out = invoke("evaluate", table_run, "--data", rows)
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert "the file changed while it was read (it was truncated)" in out.stderr and "has 2 fields" not in out.stderr


# ---------------------------------------------------------------- 4. quoting and trailing separators


def test_an_unclosed_quote_is_named_where_it_opened(tmp_path):
    data = tmp_path / "q.csv"
    data.write_text('a,b,y\n1,"2,p\n' + "".join(f"{i},{i},{'p' if i % 2 else 'q'}\n" for i in range(20000)))
    with pytest.raises(DataError) as err:
        read_table(data)
    assert str(err.value).startswith(f"{data}: line 2: a quoted field opened on this line is never closed (the text runs on past line ")
    short = tmp_path / "s.csv"
    short.write_text('a,b,y\n1,2,p\n3,"4,q\n5,6,p\n')
    with pytest.raises(DataError) as err:
        read_table(short)
    assert str(err.value) == (
        f"{short}: line 3: a quoted field opened on this line is never closed (the text runs on to the end of the file as one field); "
        'close the quote on that line, or write a quote inside a quoted field as two ("")'
    )


def test_an_unclosed_quote_in_rows_to_predict(tmp_path, array_run):
    rows = tmp_path / "r.csv"
    rows.write_text('1,2\n3,"4\n' + "5,6\n" * 40000)  # past the field size limit (128 KiB)
    out = invoke("predict", rows, "--run", array_run)
    assert out.exit_code == 1
    assert out.stderr.strip().startswith(f"Error: {rows}: line 2: a quoted field opened on this line is never closed")


@pytest.mark.parametrize("missing", ["error", "drop", "mean", "most_frequent"])
def test_a_trailing_separator_on_every_line_advises_data_drop(tmp_path, missing):
    data = tmp_path / "t.csv"
    data.write_text("a,b,y,\n" + "".join(f"{i},{i % 3},{'p' if i % 2 else 'q'},\n" for i in range(30)))
    result = invoke("train", "--data", data, "--target", "y", "--set", f"data.missing={missing}", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {data}: column 'column4' is empty on every line (every line ends with a separator, which makes an empty last column); "
        "leave it out with data.drop: [column4], or remove the separator at the end of each line"
    )
    ok = invoke("train", "--data", data, "--target", "y", "--set", "data.drop=[column4]", "--runs-dir", tmp_path / "runs", "--quiet", "--no-report")
    assert ok.exit_code == 0, ok.output
