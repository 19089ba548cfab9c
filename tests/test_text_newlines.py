"""Issue 20 round 5, text: a newline (or carriage return, tab) in a --runs-dir path, a CSV header, a class
or run name is escaped wherever the terminal shows one line (a message, a table cell, a progress label),
so it never splits that line; a message of several lines (a spec with several errors) is printed one
line per error."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import invoke

from nnctl.cli import display
from nnctl.errors import ConfigError, NnctlError
from nnctl.util.text import quoted, visible


def test_visible_escapes_newline_return_and_tab_unless_kept():
    assert visible("a\nb\rc\td") == "a\\nb\\rc\\td"
    assert visible("a\nb\rc", keep_newlines=True) == "a\nb\\rc"  # a figure's title, the report's page
    assert visible("a\\nb") == "a\\\\nb"  # two characters \ and n never look like a newline
    assert display.cell("x\ny").plain == "x\\ny" and display.line("x\r\ny").plain == "x\\r\\ny"
    assert visible(quoted("y\nz")) == "'y\\nz'"  # escaped once, where it is shown


def test_an_error_of_several_lines_prints_each_as_one_line(capsys):
    exc = ConfigError("ignored", lines=["s.yaml: a: bad (got 'x\ny')", "s.yaml: b: bad"])
    assert str(exc) == "s.yaml: a: bad (got 'x\ny')\ns.yaml: b: bad" and exc.lines[1] == "s.yaml: b: bad"
    display.say_error("Error", exc)
    assert capsys.readouterr().err.splitlines() == ["Error: s.yaml: a: bad (got 'x\\ny')", "s.yaml: b: bad"]
    display.say_error("Error", NnctlError("r\nx: no runs directory"))
    assert capsys.readouterr().err.splitlines() == ["Error: r\\nx: no runs directory"]


def _table(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 2))
    yes = '"yes\nno"'  # a class name holding a newline (a quoted CSV cell)
    rows = "".join(f"{a:.3f},{b:.3f},{yes if a > 0 else 'q'}\n" for a, b in x)
    path = tmp_path / "t.csv"
    path.write_text('"a\nb",c,"y\nz"\n' + rows, newline="")
    return path


def test_newlines_in_runs_dir_headers_class_and_run_names_stay_on_their_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    table = _table(tmp_path)
    runs = "r\nx"
    result = invoke("train", "--data", table, "--target", "y\nz", "--runs-dir", runs, "--set", "train.epochs=2", "--no-report")
    assert result.exit_code == 0, result.output
    assert "Note: target 'y\\nz': classification" in result.output
    assert result.stdout.strip().splitlines()[-1].startswith("run: r\\nx/")  # the path: one line
    assert not any(line.startswith(("x/", "z'", "no")) for line in result.output.splitlines())

    # an unknown target: one line naming the columns, each newline shown as \n
    bad = invoke("train", "--data", table, "--target", "y\nq", "--runs-dir", runs, "--no-report", "-q")
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [f"Error: {table}: data.target: no column 'y\\nq'; did you mean 'y\\nz'? (columns: a\\nb, c, y\\nz)"]

    # predict's table: the class name in the header and the cells, one row per file line
    result = invoke("predict", "--run", os.path.join(runs, "latest"), table)
    assert result.exit_code == 0, result.output
    assert "P(yes\\nno)" in result.stdout and "(P: the probability of yes\\nno, label 1)" in result.stdout
    rows = [line for line in result.stdout.splitlines() if "t.csv:" in line]
    assert len(rows) == 40 and sum("yes\\nno" in line for line in rows) == sum(1 for line in rows if "q " not in line)

    # a run folder whose name holds a newline (renamed on disk): one row of `nnctl runs`, escaped
    (run,) = [p for p in (tmp_path / runs).iterdir() if p.name != "latest"]
    (tmp_path / runs / "latest").unlink()
    run.rename(run.with_name("odd\nname\rrun"))
    result = invoke("runs", "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "1 runs in r\\nx" and len([line for line in lines if line.strip()]) == 3
    assert lines[2].startswith("odd\\nname\\rrun ")

    # a --runs-dir that is not there: one line
    result = invoke("runs", "--runs-dir", "no\nsuch")
    assert result.exit_code == 1 and result.stderr.splitlines() == ["Error: no\\nsuch: no runs directory; train a run first, or pass --runs-dir"]


@pytest.mark.parametrize("label", ["a\nb", "a\rb"])
def test_a_progress_label_is_one_line(label):
    assert "\n" not in display.short_label(visible(label)) and "\r" not in visible(label)
