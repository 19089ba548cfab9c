"""data.header (issue 20 round 7): a table's first line taken as its header (true), as a row (false), or
detected (auto), for every file a run reads: training, validation and test files, predict, evaluate,
the report's count of rows; recorded in table.json (absent: auto) and compared on resume; `nnctl data
info --header`. Its refusals are in the catalogue (tests/error_cases.py, '# --- issue 20 round 7: data.header ---')."""

from __future__ import annotations

import glob
import json
from pathlib import Path

import pytest
from conftest import invoke

from nnctl.data.tables import Preprocessor, read_table, table_chunks
from nnctl.errors import RunError
from nnctl.experiment.run import train_run
from nnctl.spec.config import load_config

ROWS = [(i % 7 + 3, (i * 3) % 5 + 1, i % 3) for i in range(30)]  # whole numbers; the first row (3,1,0) of distinct fields
BODY = "".join(f"{a},{b},{y}\n" for a, b, y in ROWS)
NUM = "0,1,2\n" + BODY  # a header of column numbers over whole numbers: auto reads it as data
PLAIN = BODY  # no header line

# (data.header, file) -> (rows read, the target's name, the feature columns)
EXPECTED = {
    ("auto", "num"): (31, "column3", ["column1", "column2"]),
    ("true", "num"): (30, "2", ["0", "1"]),
    ("false", "num"): (31, "column3", ["column1", "column2"]),
    ("auto", "plain"): (30, "column3", ["column1", "column2"]),
    ("true", "plain"): (29, "0", ["3", "1"]),  # its first row made the header: one example fewer, as asked
    ("false", "plain"): (30, "column3", ["column1", "column2"]),
}


def _files(tmp_path):
    (tmp_path / "num.csv").write_text(NUM)
    (tmp_path / "plain.csv").write_text(PLAIN)
    return {"num": tmp_path / "num.csv", "plain": tmp_path / "plain.csv"}


def _ok(result):
    assert result.exit_code == 0, result.output
    return result


@pytest.mark.parametrize("header,kind", sorted(EXPECTED))
def test_each_value_on_each_file_in_train_predict_and_evaluate(tmp_path, header, kind):
    m, target, features = EXPECTED[(header, kind)]
    path = _files(tmp_path)[kind]
    runs = tmp_path / "runs"
    _ok(invoke("train", "--data", path, "--set", f"data.header={header}", "--set", "train.epochs=2", "--runs-dir", runs, "-q", "--no-report"))
    run = Path(glob.glob(str(runs / "2*"))[0])
    table = json.loads((run / "table.json").read_text())
    assert (table["target"], table["numeric"]) == (target, features)
    assert table.get("header", "auto") == {"auto": "auto", "true": True, "false": False}[header]  # absent for auto: as runs of before the key
    assert ("header" in table) == (header != "auto")
    assert json.loads((run / "metrics.json").read_text())["m"] == m
    assert f"header: {header}" in (run / "config.resolved.yaml").read_text()
    lines = _ok(invoke("predict", "--run", run, path, "--json")).stdout.strip().splitlines()
    assert len(lines) == m  # predict reads the file as training did: the first line a row or the header
    first = json.loads(lines[0])
    assert first["file"] == f"{path}:{1 if m == len(path.read_text().splitlines()) else 2}"
    _ok(invoke("evaluate", run, "--data", path))
    evaluation = json.loads(Path(glob.glob(str(run / "evaluation*.json"))[0]).read_text())
    assert evaluation["rows"]["in_file"] == m


def test_true_reads_a_numbered_header_of_every_file_by_its_names(tmp_path):
    """A run trained with header: true finds the columns of a predict and an evaluate file by their numbers as names,
    in another order; test and validation files are read so too."""
    files = _files(tmp_path)
    reordered = tmp_path / "new.csv"
    reordered.write_text("2,1,0\n" + "".join(f"{y},{b},{a}\n" for a, b, y in ROWS[:6]))
    (tmp_path / "s.yaml").write_text(
        f"data: {{train: {files['num']}, test: {files['num']}, validation: {reordered}, target: 2, header: true}}\ntrain: {{epochs: 2}}\n"
    )
    run = Path(train_run(load_config(tmp_path / "s.yaml"), runs_root=tmp_path / "runs").run_dir)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["m"] == 30
    assert "test_accuracy" in metrics or "test" in json.dumps(metrics)
    out = _ok(invoke("predict", "--run", run, reordered, "--json")).stdout.strip().splitlines()
    assert [json.loads(line)["file"] for line in out] == [f"{reordered}:{k}" for k in range(2, 8)]
    labels = [json.loads(line)["class"] for line in out]
    assert set(labels) <= {"0", "1", "2"}
    # the same file under auto is 7 rows of column1..3: the run's columns ('0', '1') would not be there
    assert not read_table(reordered).header and read_table(reordered, True).columns == ["2", "1", "0"]


def test_false_reads_a_header_of_names_as_a_row(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b,y\n" + BODY)
    table = read_table(path, False)
    assert (table.header, table.m, table.columns) == (False, 31, ["column1", "column2", "column3"])
    assert read_table(path).header and read_table(path, True).m == 30
    chunks = list(table_chunks(path, 7, False))  # predict and evaluate read in chunks: the same rows
    assert sum(c.m for c in chunks) == 31 and chunks[0].cells[0].tolist() == ["a", "b", "y"]
    assert all(c.columns == ["column1", "column2", "column3"] for c in chunks)
    runs = tmp_path / "runs"
    _ok(invoke("train", "--data", path, "--set", "data.header=false", "--set", "train.epochs=1", "--runs-dir", runs, "-q", "--no-report"))
    run = Path(glob.glob(str(runs / "2*"))[0])
    table = json.loads((run / "table.json").read_text())  # 'a', 'b' over numbers: each column text, as asked
    assert (table["categorical"], table["numeric"], table["header"]) == (["column1", "column2"], [], False)
    assert "y" in table["classes"] and json.loads((run / "metrics.json").read_text())["m"] == 31


def test_table_json_without_header_reads_as_auto_and_a_bad_one_is_refused(tmp_path):
    base = {
        "target": "y",
        "task": "classification",
        "classes": ["0", "1"],
        "class_values": [0.0, 1.0],
        "numeric": ["a"],
        "fill": [0.0],
        "categorical": [],
        "categories": [],
        "category_fill": [],
        "missing": "error",
        "unseen": "error",
    }
    assert Preprocessor.from_dict(base, "t.json").header == "auto"
    assert Preprocessor.from_dict({**base, "header": False}, "t.json").header is False
    assert Preprocessor.from_dict({**base, "header": True}, "t.json").to_dict()["header"] is True
    assert "header" not in Preprocessor.from_dict(base, "t.json").to_dict()  # auto: table.json as before the key
    for bad in ("yes", 1, None):
        with pytest.raises(RunError, match=r"t.json: header: expected auto, true or false"):
            Preprocessor.from_dict({**base, "header": bad}, "t.json", error=RunError)


def _interrupted(tmp_path, header):
    (tmp_path / "num.csv").write_text(NUM)
    (tmp_path / "s.yaml").write_text(f"data: {{train: num.csv, header: {header}}}\ntrain: {{epochs: 20}}\n")
    calls = []
    summary = train_run(load_config(tmp_path / "s.yaml"), runs_root=tmp_path / "runs", should_stop=lambda: calls.append(1) or len(calls) == 2)
    return Path(summary.run_dir)


@pytest.mark.parametrize("header,edited", [("true", "false"), ("true", "auto"), ("false", "true"), ("auto", "true"), ("auto", "false")])
def test_resume_refuses_an_edited_header(tmp_path, header, edited):
    run = _interrupted(tmp_path, header)
    spec = run / "config.resolved.yaml"
    assert f"header: {header}" in spec.read_text()
    spec.write_text(spec.read_text().replace(f"header: {header}", f"header: {edited}"))
    before = (run / "checkpoint.h5").read_bytes()
    result = invoke("train", "--resume", run, "-q")
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"Error: {spec}: its data settings are not those the run started with (data.header: {edited} in the spec, {header} when the run "
        f"started); put them back as they were, or train the edited spec as a new run: nnctl train {spec}"
    )
    assert (run / "checkpoint.h5").read_bytes() == before


@pytest.mark.parametrize("header", ["auto", "true", "false"])
def test_resume_with_the_same_header_completes_on_the_rows_it_began_with(tmp_path, header):
    run = _interrupted(tmp_path, header)
    _ok(invoke("train", "--resume", run, "-q", "--no-report"))
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["status"] == "completed" and metrics["m"] == (30 if header == "true" else 31)


def test_a_run_without_header_in_its_table_json_resumes_as_auto(tmp_path):
    """A run begun before data.header: its resolved spec has no key (auto), its table.json no entry."""
    run = _interrupted(tmp_path, "auto")
    spec = run / "config.resolved.yaml"
    spec.write_text(spec.read_text().replace("  header: auto\n", ""))
    assert "header:" not in spec.read_text() and "header" not in json.loads((run / "table.json").read_text())
    _ok(invoke("train", "--resume", run, "-q", "--no-report"))
    assert json.loads((run / "metrics.json").read_text())["status"] == "completed"


def test_data_info_header_option(tmp_path):
    path = _files(tmp_path)["num"]
    said = {h: _ok(invoke("data", "info", path, "--header", h)).stdout.splitlines()[0] for h in ("auto", "yes", "no", "TRUE", "false")}
    assert said["auto"] == said["no"] == said["false"] == f"{path}: a table of 31 rows and 3 columns (no header line: columns numbered)"
    assert said["yes"] == said["TRUE"] == f"{path}: a table of 30 rows and 3 columns"


def test_the_shortcut_chooses_its_recipe_from_the_table_as_header_reads_it(tmp_path):
    """`nnctl train --data T --target 2 --set data.header=true`: the column '2' exists only with the header read as one."""
    path = _files(tmp_path)["num"]
    result = _ok(invoke("train", "--data", path, "--target", "2", "--set", "data.header=true", "--set", "train.epochs=1", "--runs-dir", tmp_path / "r", "-q"))
    assert "target '2': classification" in result.output
    run = Path(glob.glob(str(tmp_path / "r" / "2*"))[0])
    assert json.loads((run / "table.json").read_text())["classes"] == ["0", "1", "2"]


def test_parquet_with_a_header_setting_is_read_as_it_is_with_a_note(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"a": [float(a) for a, _, _ in ROWS], "y": [str(y) for _, _, y in ROWS]}), path)
    (tmp_path / "s.yaml").write_text(f"data: {{train: {path}, header: false}}\ntrain: {{epochs: 1}}\n")
    summary = train_run(load_config(tmp_path / "s.yaml"), runs_root=tmp_path / "runs")
    metrics = json.loads((Path(summary.run_dir) / "metrics.json").read_text())
    assert metrics["m"] == 30
    assert f"data.header: false applies to CSV and TSV files; {path} names its columns as Parquet stores them" in metrics["notes"]
