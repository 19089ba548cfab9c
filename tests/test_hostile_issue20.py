"""Issue 20, "hostile input": numbers only Python reads as numbers ('5_0', Arabic-Indic digits, a
no-break space), invisible format characters reaching a terminal or a page, and the memory and file
size of `nnctl evaluate` on a big table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from nnctl.data import tables
from nnctl.data.tables import NUMBER, Preprocessor, describe, read_table, table_chunks
from nnctl.errors import DataError
from nnctl.rundir.runs import read_evaluation

# ---------------------------------------------------------------- 1. numbers in a table: plain ASCII only

PLAIN = ["0", "5", "-5", "+5", "1.", ".5", "1.5e3", "1E-3", "+.5e+2", " 7 ", "\t8", "9\r", "inf", "-Infinity", "INF", "nan", "-NaN", "1e400"]
LOOKALIKE = ["5_0", "1_000.5", "\u0665", "\u0661\u0662", "\uff15", "5\u00a0", "\u00a05", "\u20075", "\u30005", "5\x85", "\u09e7"]
TEXT = ["", "\x1c5", ".", "e5", "1e", "+-1", "0x10", "1d5", "cat", "\u0131nf", "nan(1)", "infinit", "1,5"]


def test_number_is_plain_ascii_and_every_detection_agrees_with_it():
    for s in PLAIN:
        assert NUMBER.fullmatch(s) and tables._is_number(s), s
        float(s)  # a NUMBER is always one to float(): the parse after the check never fails
    for s in LOOKALIKE:
        float(s)  # Python reads each as a number ...
        assert not tables._is_number(s) and tables.is_lookalike(s), repr(s)  # ... a table does not
    for s in TEXT:
        assert not tables._is_number(s) and not tables.is_lookalike(s), repr(s)
    every = PLAIN + LOOKALIKE + TEXT
    # the vectorised paths (one conversion of a whole block) and the per-cell one give the same answer
    mask = tables._number_mask(np.array(every, dtype=str))
    assert mask.tolist() == [tables._is_number(s) for s in every]
    for s in every:
        assert tables._number_mask(np.array([s, "1"], dtype=str))[0] == tables._is_number(s), repr(s)
        assert tables._numeric_columns(np.array([[s], ["1"]], dtype=str))[0] == (tables._is_number(s) or tables._missing(s)), repr(s)
    assert tables._numeric_columns(np.array([PLAIN, PLAIN], dtype=str)) == [True] * len(PLAIN)


def _write(tmp_path, text, name="t.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize("cell", ["5_0", "\u0665", "5\u00a0", "\u00a05", "\uff15"])
def test_a_lookalike_number_in_a_numeric_column_is_refused_by_fit_describe_and_peek(tmp_path, cell):
    path = _write(tmp_path, f"x,y\n1,a\n2,b\n{cell},a\n4,b\n")
    table = read_table(path)
    for call in (lambda: Preprocessor.fit(table, target="y"), lambda: describe(table)):
        with pytest.raises(DataError) as err:
            call()
        msg = str(err.value)
        assert msg.startswith(f"{path}: line 4, column 'x': '{cell}'") and "not a plain number" in msg and "ASCII digits 0-9" in msg
        assert "\n" not in msg
    # as the target: refused by fit, and the task it would get is none
    target = read_table(_write(tmp_path, f"x,y\n1,1\n2,2\n3,{cell}\n4,2\n", "u.csv"))
    with pytest.raises(DataError, match="line 4, column 'y'"):
        Preprocessor.fit(target, target="y")
    assert Preprocessor.peek_task(target, "y") is None


def test_a_lookalike_in_a_text_column_is_one_more_category():
    """A column that holds real text ('cat') is text by design: '5_0' there is a category, in fit and transform alike."""
    table = tables.Table("t.csv", ["c", "y"], np.array([["cat", "a"], ["5_0", "b"], ["dog", "a"], ["\u0665", "b"]], dtype=str), np.arange(2, 6))
    prep = Preprocessor.fit(table, target="y")
    assert prep.categorical == ["c"] and prep.categories == [sorted(["cat", "5_0", "dog", "\u0665"])]
    x, _, _ = prep.transform(table)
    assert x.sum() == 4


def test_a_first_row_of_lookalike_numbers_is_data_not_a_header(tmp_path):
    path = _write(tmp_path, "5_0,1\n2,2\n3,1\n4,2\n")
    table = read_table(path)
    assert not table.header and table.columns == ["column1", "column2"]
    with pytest.raises(DataError, match="line 1, column 'column1': '5_0'"):
        Preprocessor.fit(table, target="column2")


def test_plain_numbers_spaces_and_nan_read_as_before(tmp_path):
    path = _write(tmp_path, "x,y\n 1.5 ,a\n-2e1,b\nnan,a\n\t+.5,b\n")
    table = read_table(path)
    prep = Preprocessor.fit(table, target="y", missing="mean")
    x, y, _ = prep.transform(table)
    np.testing.assert_array_equal(x[:, 0], [1.5, -20.0, (1.5 - 20 + 0.5) / 3, 0.5])


def test_predict_and_evaluate_refuse_a_lookalike_in_a_later_chunk_naming_its_line(tmp_path, monkeypatch):
    from nnctl.experiment import inference
    from nnctl.rundir.runs import find_run, load_run

    rows = "".join(f"{i % 7},{i % 5},{'xy'[i % 2]}\n" for i in range(40))
    _write(tmp_path, "a,b,y\n" + rows)
    trained = invoke("train", "--data", tmp_path / "t.csv", "--target", "y", "--runs-dir", tmp_path / "runs", "-q", "--no-report", "--set", "train.epochs=2")
    assert trained.exit_code == 0, trained.output
    run = load_run(find_run(tmp_path / "runs" / "latest"))
    bad = rows.splitlines(keepends=True)
    bad[30] = "3,\u0664,x\n"  # line 32
    path = _write(tmp_path, "a,b,y\n" + "".join(bad), "new.csv")
    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 8)
    assert len(list(table_chunks(path, 8))) == 5
    for call in (lambda: list(inference.predict_rows(run, [path], notes=[])), lambda: inference.evaluate(run, str(path))):
        with pytest.raises(DataError) as err:
            call()
        assert str(err.value).startswith(f"{path}: line 32, column 'b': '\u0664' holds the digit U+0664 ARABIC-INDIC DIGIT FOUR")
    result = invoke("evaluate", run.path, "--data", path)
    assert result.exit_code == 1 and result.stderr.count("\n") == 1 and "line 32, column 'b'" in result.stderr


# ---------------------------------------------------------------- 2. invisible format characters made visible

INVISIBLE = ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\u202a", "\u202e", "\u2066", "\u2069", "\U000e0041", "\U000e007f", "\u3164"]


def test_every_format_character_is_written_as_an_escape_and_private_use_is_kept():
    import unicodedata

    from nnctl.util.text import CONTROL, strip_controls, visible

    cf = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "Cf"]
    assert len(cf) > 150
    missed = [f"U+{ord(c):04X}" for c in cf if not CONTROL.fullmatch(c)]
    assert not missed, missed  # a newer Unicode's format characters: add them to nnctl.util.text.FORMAT
    for c in cf + INVISIBLE:
        shown = visible(f"a{c}b")
        assert shown.isascii() and shown.startswith("a\\") and strip_controls(f"a{c}b") == "ab", repr(c)
    assert visible("a\u200bb") == "a\\u200bb" and visible("x\U000e0041") == "x\\U000e0041" and visible("\u00ad") == "\\xad"
    assert visible("\ue000\uf8ff") == "\ue000\uf8ff"  # private use: an icon font's glyphs, drawn, hiding nothing
    assert visible("caf\u00e9 \u00e9t\u00e9 \u4e2d") == "caf\u00e9 \u00e9t\u00e9 \u4e2d"  # ordinary text untouched
    assert visible("\\U000e0041") == "\\\\U000e0041"  # the typed escape and the character never look alike


def test_json_lines_escape_format_characters_and_decode_to_the_very_names():
    import json

    from nnctl.cli.display import json_line

    name = "ev" + "".join(INVISIBLE) + "il"
    line = json_line({"class": name, "n": 1})
    assert line.isascii() and json.loads(line) == {"class": name, "n": 1}
    assert "\\u200b" in line and "\\udb40\\udc41" in line  # U+E0041 as JSON's UTF-16 pair


def test_format_characters_in_names_reach_no_terminal_csv_json_or_page_raw(tmp_path):
    import json

    from nnctl.util.text import CONTROL

    col, classes = "bi\u200bll", ["ade\u202elie", "gen\U000e0041too"]
    text = f"{col},b,species\n" + "".join(f'{i % 7},{i % 5},"{classes[i % 2]}"\n' for i in range(30))
    run = _table_run_for(tmp_path, text)
    shown = [invoke("data", "info", tmp_path / "t.csv")]
    rows = tmp_path / "ok.csv"
    rows.write_text(f"{col},b\n1,3\n", encoding="utf-8")
    shown.append(invoke("predict", "--run", run, rows))
    shown.append(invoke("predict", "--run", run, rows, "--csv"))
    shown.append(invoke("evaluate", run, "--data", tmp_path / "t.csv"))
    shown.append(invoke("runs", "--runs-dir", tmp_path / "runs"))
    for result in shown:
        assert result.exit_code == 0, result.output
        assert not CONTROL.search(result.stdout.replace("\n", "").replace("\r", "")), repr(result.stdout)
    assert "bi\\u200bll" in shown[0].stdout and "ade\\u202elie" in shown[0].stdout
    assert ",gen\\U000e0041too," in shown[2].stdout
    out = invoke("predict", "--run", run, rows, "--json")
    assert out.exit_code == 0 and not CONTROL.search(out.stdout.replace("\n", "")) and "\\udb40\\udc41" in out.stdout
    assert json.loads(out.stdout)["probability_of"] in classes  # JSON keeps the name exactly
    runs = invoke("runs", "--runs-dir", tmp_path / "runs", "--json")
    assert runs.exit_code == 0 and not CONTROL.search(runs.stdout.replace("\n", ""))
    page = invoke("report", run, "-o", tmp_path / "r.html")
    assert page.exit_code == 0, page.output
    html = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert not CONTROL.search(html.replace("\n", "").replace("\t", "")) and "gen\\U000e0041too" in html


def _table_run_for(tmp_path, text: str) -> Path:
    _write(tmp_path, text)
    result = invoke(
        "train", "--data", tmp_path / "t.csv", "--target", "species", "--runs-dir", tmp_path / "runs", "-q", "--no-report", "--set", "train.epochs=3"
    )
    assert result.exit_code == 0, result.output
    return next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink() and p.is_dir())


# ---------------------------------------------------------------- 3. evaluate on a big table: bounded memory and file


def _scores_of(result: dict) -> dict:
    keys = ("m", "accuracy", "precision", "recall", "f1", "confusion_matrix", "mistakes", "rmse", "mae", "r2")
    return {k: result[k] for k in keys if k in result}


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_evaluate_on_a_table_in_small_chunks_gives_the_whole_files_scores(tmp_path, monkeypatch, task):
    from nnctl.experiment import inference
    from nnctl.rundir.runs import find_run, load_run

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3000, 3)).round(3)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) if task == "classification" else (3 * x[:, 0] - x[:, 2] + 100).round(3)
    text = "a,b,c,y\n" + "".join(f"{r[0]},{r[1]},{r[2]},{v}\n" for r, v in zip(x, y))
    _write(tmp_path, text)
    set_task = f"model.task={task}"
    trained = invoke(
        "train",
        "--data",
        tmp_path / "t.csv",
        "--target",
        "y",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        "--no-report",
        "--set",
        "train.epochs=2",
        "--set",
        set_task,
    )
    assert trained.exit_code == 0, trained.output
    run = load_run(find_run(tmp_path / "runs" / "latest"))
    # the whole file at once: every row encoded, one pass of the network, the scores of all outputs
    prep = run.table
    data = tables.table_dataset(prep, read_table(tmp_path / "t.csv"))
    whole, data = inference.score(run, data, str(tmp_path / "t.csv"))
    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 97)
    monkeypatch.setattr(inference, "ROWS_PER_CHUNK", 256)
    monkeypatch.setattr(inference, "EVALUATION_LISTED", 500)
    chunked, kept = inference.evaluate(run, str(tmp_path / "t.csv"))
    a, b = _scores_of(whole), _scores_of(chunked)
    assert a.keys() == b.keys() and a["m"] == b["m"] == 3000
    for k in a:
        np.testing.assert_allclose(np.asarray(b[k], dtype=float), np.asarray(a[k], dtype=float), rtol=1e-11, err_msg=k)
    if task == "regression":
        r2 = 1 - np.sum((np.asarray(whole["outputs"]) - data.Y.ravel()) ** 2) / np.sum((data.Y.ravel() - data.Y.mean()) ** 2)
        assert abs(chunked["r2"] - r2) < 1e-9  # R² from the chunks' means and spreads (Chan et al.)
        assert chunked["outputs"] == whole["outputs"][:500]
    else:
        assert chunked["probabilities"] == whole["probabilities"][:500] and chunked["predicted"] == whole["predicted"][:500]
        assert chunked["misclassified"] == [i for i in whole["misclassified"] if i < 500]
    assert chunked["listed"] == 500 and "first 500 of 3,000 examples" in chunked["listed_note"]
    assert kept.Y.shape == (1, 500)
    written = inference.write_evaluation(run, chunked, kept, source_given=True)
    back = read_evaluation(written["files"]["json"])
    assert back["listed"] == 500 and _scores_of(back) == _scores_of(chunked)
    shown = invoke("evaluate", run.path, "--data", tmp_path / "t.csv")
    assert shown.exit_code == 0 and "first 500 of 3,000 examples" in shown.stdout


def test_the_evaluation_file_of_a_table_is_bounded_whatever_its_rows(tmp_path, monkeypatch):
    """Its size does not grow with the rows past EVALUATION_LISTED: 2,000 and 8,000 rows give files within a few hundred bytes."""
    from nnctl.experiment import inference
    from nnctl.rundir.runs import find_run, load_run

    monkeypatch.setattr(inference, "EVALUATION_LISTED", 300)
    rows = "".join(f"{i % 7},{(i * 3) % 11},{'xy'[(i // 3) % 2]}\n" for i in range(8000))
    _write(tmp_path, "a,b,y\n" + rows)
    trained = invoke("train", "--data", tmp_path / "t.csv", "--target", "y", "--runs-dir", tmp_path / "runs", "-q", "--no-report", "--set", "train.epochs=2")
    assert trained.exit_code == 0, trained.output
    run = load_run(find_run(tmp_path / "runs" / "latest"))
    sizes = []
    for m in (2000, 8000):
        path = _write(tmp_path, "a,b,y\n" + "".join(rows.splitlines(keepends=True)[:m]), f"e{m}.csv")
        result, data = inference.evaluate(run, str(path))
        written = inference.write_evaluation(run, result, data, source_given=True)
        sizes.append(Path(written["files"]["json"]).stat().st_size)
        assert result["m"] == m and len(result["probabilities"]) == 300 and sum(map(sum, result["confusion_matrix"])) == m
    assert abs(sizes[1] - sizes[0]) < 400, sizes


EVALUATE_TABLE_BOUNDED = """
import resource, sys
import numpy as np
a = np.ones((512, 512)); a @ a  # the BLAS's buffers, made at its first product: what any run holds before its input
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot  # everything evaluate imports, before the limit
import nnctl.cli.display, nnctl.rundir.runs, nnctl.experiment.inference, nnctl.data.tables, nnctl.util.plots, nnctl.cli.commands
limit = vm() + int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["nnctl"] + sys.argv[2:]
nnctl.cli.commands.main()
"""


@pytest.mark.slow  # a fresh process under an address-space limit
@pytest.mark.skipif(__import__("sys").platform != "linux", reason="RLIMIT_AS and /proc/self/status")
def test_evaluate_reads_a_table_in_chunks_under_an_address_space_limit(tmp_path):
    """300,000 rows of 10 columns: kept whole at ~380 bytes a row (as evaluate did) they need over
    100 MB; read TABLE_ROWS_PER_CHUNK rows at a time and tallied they fit 48 MiB over start-up."""
    import json
    import os
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    head = ",".join(f"x{j}" for j in range(9)) + ",y\n"
    small = rng.normal(size=(200, 9)).round(3)
    _write(tmp_path, head + "".join(",".join(map(str, r)) + f",{int(r[0] > 0)}\n" for r in small))
    trained = invoke("train", "--data", tmp_path / "t.csv", "--target", "y", "--runs-dir", tmp_path / "runs", "-q", "--no-report", "--set", "train.epochs=2")
    assert trained.exit_code == 0, trained.output
    run = next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink() and p.is_dir())
    big = rng.normal(size=(300_000, 9)).round(3)
    lines = np.char.add(np.char.add(big.astype(str), ","), "").tolist()
    with open(tmp_path / "big.csv", "w") as fh:
        fh.write(head)
        fh.writelines("".join(row) + f"{int(r[0] > 0)}\n" for row, r in zip(lines, big))
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", EVALUATE_TABLE_BOUNDED, "48", "evaluate", run, "--data", tmp_path / "big.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "big.csv (300000 examples)" in done.stdout
    written = json.loads((run / "evaluation-big.json").read_text())
    assert written["m"] == 300_000 and sum(map(sum, written["confusion_matrix"])) == 300_000 and len(written["probabilities"]) == 10_000
    assert (run / "evaluation-big.json").stat().st_size < 2_000_000
