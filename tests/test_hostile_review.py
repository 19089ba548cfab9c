"""Hostile input, an outside review's findings (docs/hostile-input.md, section G): where nnctl
writes, extreme numbers in tables, every output format escaped, the ranges of run files, the names
of evaluations, folders that are not runs, --data's messages, the run listing's order, messages
that name the right thing, and escapes that cannot be confused with the text they stand for."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import REPO, invoke

from nnctl.util.text import CONTROL, quoted, visible

SPEC = "name: r\ndata: {train: p.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.5, iterations: 20}\n"


def _strict_json(text: str):
    """JSON as any other reader takes it: Infinity and NaN are not JSON."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in a JSON file nnctl wrote"))


def _run(tmp_path, spec=SPEC, *args) -> Path:
    if not (tmp_path / "p.h5").exists():
        assert invoke("data", "make", "planar", "-o", tmp_path / "p.h5", "--m", "60").exit_code == 0
    (tmp_path / "r.yaml").write_text(spec)
    result = invoke("train", tmp_path / "r.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", *args)
    assert result.exit_code == 0, result.output
    return next(p for p in sorted((tmp_path / "runs").iterdir()) if not p.is_symlink() and p.is_dir())


def _table_run(tmp_path, text: str, target: str, *sets) -> Path:
    table = tmp_path / "t.csv"
    table.write_text(text, newline="")
    result = invoke(
        "train",
        "--data",
        table,
        "--target",
        target,
        "--runs-dir",
        tmp_path / "truns",
        "-q",
        "--no-report",
        "--set",
        "train.epochs=3",
        *[a for s in sets for a in ("--set", s)],
    )
    assert result.exit_code == 0, result.output
    return next(p for p in (tmp_path / "truns").iterdir() if not p.is_symlink() and p.is_dir())


# ---------------------------------------------------------------- 1. files nnctl writes: one rule


def test_report_o_never_writes_over_a_run_file_and_refuses_an_existing_file_without_force(tmp_path):
    run = _run(tmp_path)
    params = (run / "params.h5").read_bytes()
    for args in (
        ["report", run, "-o", run / "params.h5"],
        ["report", run, "-o", run / "params.h5", "--force"],
        ["export", "--run", run, "-o", run / "params.h5", "--format", "npz", "--force"],
        ["data", "make", "planar", "-o", run / "checkpoint.h5", "--force"],
    ):
        result = invoke(*args)
        assert result.exit_code == 1 and result.stderr.startswith("Error: ") and len(result.stderr.strip().splitlines()) == 1, result.output
    assert (run / "params.h5").read_bytes() == params and not (run / "checkpoint.h5").exists()
    assert invoke("predict", "--run", run, tmp_path / "p.h5").exit_code == 0  # the run is whole
    said = invoke("export", "--run", run, "-o", run / "metrics.json", "--format", "npz", "--force").stderr
    assert f"is a file of the run in {run.resolve()} (its metrics.json); nnctl never writes over a run's own files" in said
    page = tmp_path / "page.html"
    assert invoke("report", run, "-o", page).exit_code == 0
    again = invoke("report", run, "-o", page)
    assert again.exit_code == 1 and again.stderr.strip() == f"Error: {page}: already exists; pass --force to replace it, or choose another -o"
    assert invoke("report", run, "-o", page, "--force").exit_code == 0
    assert invoke("report", run, "-o", run / "report.html").exit_code == 0  # the run's own page: what `report` writes anyway
    text = invoke("report", run, "-o", tmp_path / "notes.txt")
    assert text.exit_code == 1 and "the report is an HTML page; give a file name ending in .html with -o" in text.stderr


def test_data_info_preview_refuses_an_existing_picture_without_force(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("data", "make", "planar", "-o", "p.h5", "--m", "40").exit_code == 0
    Path("p-preview.png").write_bytes(b"mine")
    result = invoke("data", "info", "p.h5", "--preview")
    assert (
        result.exit_code == 1 and result.stderr.strip() == "Error: p-preview.png: already exists; pass --force to replace it, or choose another --preview-out"
    )
    assert Path("p-preview.png").read_bytes() == b"mine"
    assert invoke("data", "info", "p.h5", "--preview", "--force").exit_code == 0
    assert Path("p-preview.png").read_bytes().startswith(b"\x89PNG")


# ---------------------------------------------------------------- 2. statistics of values near float64's largest

OVERFLOWING = "x1,x2,y\n1e308,1,0\n1e308,2,1\n1.7e308,3,0\n-1e308,4,1\n1,2,0\n3,4,1\n1e308,,0\n"


def test_table_statistics_near_float64s_largest_are_finite_without_a_numpy_warning(tmp_path):
    table = tmp_path / "ov.csv"
    table.write_text(OVERFLOWING)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning (overflow in reduce) would fail the command
        result = invoke("data", "info", table)
    assert result.exit_code == 0, result.output
    assert "mean inf" not in result.stdout and "mean 5.286e+307" in result.stdout, result.stdout
    for policy, want in (("mean", 5.285714285714286e307), ("median", 1e308)):
        (tmp_path / policy).mkdir()
        run = _table_run(tmp_path / policy, OVERFLOWING, "y", f"data.missing={policy}")
        encoding = _strict_json((run / "table.json").read_text())
        assert encoding["fill"][0] == pytest.approx(want)
        assert invoke("predict", "--run", run, table, "--csv").exit_code == 0  # the run reads back: not damaged


def test_json_nnctl_writes_holds_null_for_a_number_that_is_not_finite(tmp_path):
    from nnctl.rundir.runs import write_json

    write_json(tmp_path / "x.json", {"a": float("inf"), "b": [np.float32("nan"), 1.5], "c": {"d": -float("inf")}})
    assert _strict_json((tmp_path / "x.json").read_text()) == {"a": None, "b": [None, 1.5], "c": {"d": None}}


# ---------------------------------------------------------------- 3. the finite-range guard on tables

IRIS3 = "a,b,c,d,species\n" + "".join(f"{i % 7},{i % 5},{i % 3},{i % 2},{'xyz'[i % 3]}\n" for i in range(30))


def test_table_rows_get_the_overflow_guard_of_predict_and_evaluate(tmp_path):
    run = _table_run(tmp_path, IRIS3, "species")
    rows = tmp_path / "big.csv"
    rows.write_text("a,b,c,d\n1,1,1,1\n1e308,3,1,1\n")
    result = invoke("predict", "--run", run, rows)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {rows}: line 3, column 'a': 1e+308 is too large: after normalisation (1e+308) "
        "the network's first layer could overflow float64; correct or remove that value"
    )
    labelled = tmp_path / "bige.csv"
    labelled.write_text("a,b,c,d,species\n1,1,1,1,x\n1,1e308,1,1,y\n")
    result = invoke("evaluate", run, "--data", labelled)
    assert result.exit_code == 1 and "diverged" not in result.stderr
    assert result.stderr.startswith(f"Error: {labelled}: line 3, column 'b': 1e+308 is too large"), result.stderr


def test_a_regression_target_too_large_to_square_is_refused_naming_line_and_column(tmp_path):
    rows = "a,b,y\n" + "".join(f"{i},{i % 4},{2.5 * i + 0.1}\n" for i in range(30))
    run = _table_run(tmp_path, rows, "y")
    scored = tmp_path / "d2.csv"
    scored.write_text("a,b,y\n1,2,3.5\n3,4,1e308\n5,6,-1e308\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = invoke("evaluate", run, "--data", scored)
    assert result.exit_code == 1 and "Infinity" not in result.output
    assert result.stderr.startswith(f"Error: {scored}: line 3, column 'y': 1e+308 is too large for a regression target"), result.stderr
    assert not list(run.glob("evaluation-d2*.json"))
    train = tmp_path / "ty.csv"
    train.write_text("a,b,y\n1,2,1e308\n3,4,5\n5,6,7\n")
    result = invoke("train", "--data", train, "--target", "y", "--set", "model.task=regression", "--runs-dir", tmp_path / "r3", "-q")
    assert result.exit_code == 1 and "learning_rate" not in result.stderr
    assert result.stderr.startswith(f"Error: {train}: line 2, column 'y': 1e+308 is too large for a regression target")
    with h5py.File(tmp_path / "ry.h5", "w") as f:  # the same for an HDF5 file's y
        f["x"], f["y"] = np.ones((5, 2)), np.array([1.0, 2.0, -1e200, 3.0, 4.0])
    result = invoke("train", "--data", tmp_path / "ry.h5", "--set", "model.task=regression", "--runs-dir", tmp_path / "r4", "-q")
    assert result.exit_code == 1 and result.stderr.startswith(f"Error: {tmp_path / 'ry.h5'}: y: example 2: -1e+200 is too large")


# ---------------------------------------------------------------- 4. every output format escaped

CLASSES = ["set\x1b]8;;http://x\x1b\\osa\x1b]8;;\x1b\\", "vers\u202eicolor", "virg\u2028inica"]


def test_predict_csv_and_json_escape_class_names_in_headers_and_the_top_column(tmp_path):
    text = "a,b,c,d,species\n" + "".join(f'{i % 7},{i % 5},{i % 3},{i % 2},"{CLASSES[i % 3]}"\n' for i in range(30))
    run = _table_run(tmp_path, text, "species")
    rows = tmp_path / "ok.csv"
    rows.write_text("a,b,c,d\n1,3,1,1\n")
    csv_out = invoke("predict", "--run", run, rows, "--csv")
    assert csv_out.exit_code == 0, csv_out.output
    assert not CONTROL.search(csv_out.stdout.replace("\r", "").replace("\n", "")), repr(csv_out.stdout)
    assert "P(vers\\u202eicolor)" in csv_out.stdout and "virg\\u2028inica=" in csv_out.stdout
    assert "P(set\\x1b]8;;http://x\\x1b\\osa" in csv_out.stdout
    json_out = invoke("predict", "--run", run, rows, "--json")
    assert not CONTROL.search(json_out.stdout.replace("\n", "").replace("\x1b", "")) and "\x1b" not in json_out.stdout
    row = json.loads(json_out.stdout)
    assert {t["class"] for t in row["top"]} == set(CLASSES) and f"P({CLASSES[1]})" in row  # JSON keeps the names exactly


# ---------------------------------------------------------------- 5. run files: values in their ranges


@pytest.mark.parametrize(
    "edit, said",
    [
        ({"train_accuracy": 150}, "train_accuracy is 150, outside 0 to 100 (a percentage)"),
        ({"test_accuracy": -20}, "test_accuracy is -20, outside 0 to 100 (a percentage)"),
        ({"final_cost": -5}, "final_cost is -5, but a cost is never negative"),
        ("1e999", "train_accuracy is inf, not a finite number (nnctl writes none)"),
    ],
)
def test_metrics_out_of_range_mark_the_run_damaged(tmp_path, edit, said):
    run = _run(tmp_path)
    path = run / "metrics.json"
    metrics = json.loads(path.read_text())
    if isinstance(edit, dict):
        path.write_text(json.dumps({**metrics, **edit}))
    else:
        path.write_text(json.dumps(metrics).replace(f'"train_accuracy": {json.dumps(metrics["train_accuracy"])}', '"train_accuracy": 1e999'))
    listed = invoke("runs", "--runs-dir", tmp_path / "runs")
    assert listed.exit_code == 0 and run.name not in listed.stdout
    assert f"skipped {run}: metrics.json: {said}; not an nnctl run's metrics" in listed.stderr
    for args in (["runs", "show", run], ["runs", "compare", run, run], ["predict", "--run", run, tmp_path / "p.h5"]):
        result = invoke(*args)
        assert (
            result.exit_code == 1 and result.stderr.strip() == f"Error: {path}: {said}; not an nnctl run's metrics: train the run again, or remove the folder"
        )


def test_costs_csv_rows_of_inf_or_nan_are_damaged_rows(tmp_path):
    from nnctl.rundir.runs import parse_costs_columns

    columns = parse_costs_columns(["iteration,cost", "0,0.7", "10,inf", "20,nan", "30,0.5", "40,-1"])
    assert columns == {"iteration": [0, 30], "cost": [0.7, 0.5]}
    columns = parse_costs_columns(["epoch,cost,iteration,validation_cost,validation_accuracy", "0,0.7,0,0.8,", "1,0.6,3,,", "2,0.5,6,0.7,150"])
    assert columns["epoch"] == [0, 1]  # an empty validation cell is no record; an accuracy of 150 is damage


# ---------------------------------------------------------------- 6. evaluation names


def test_evaluations_of_two_files_of_one_name_never_overwrite_each_other_and_names_are_safe(tmp_path):
    run = _run(tmp_path)
    for folder in ("ea", "eb"):
        (tmp_path / folder).mkdir()
        assert invoke("data", "make", "planar", "-o", tmp_path / folder / "t.h5", "--m", "30", "--seed", "5").exit_code == 0
    first = invoke("evaluate", run, "--data", tmp_path / "ea" / "t.h5")
    second = invoke("evaluate", run, "--data", tmp_path / "eb" / "t.h5")
    again = invoke("evaluate", run, "--data", tmp_path / "ea" / "t.h5")
    names = sorted((p.name for p in run.glob("evaluation-t*.json")), key=len)
    assert len(names) == 2 and names[0] == "evaluation-t.json" and names[1].startswith("evaluation-t-"), names
    assert f"json: {run / 'evaluation-t.json'}" in first.stdout and f"json: {run / names[1]}" in second.stdout
    assert f"json: {run / 'evaluation-t.json'}" in again.stdout  # the same file again: its own evaluation, replaced
    assert _strict_json((run / "evaluation-t.json").read_text())["data_path"] == str((tmp_path / "ea" / "t.h5").resolve())
    hostile = tmp_path / "e\x1b[31m x\u202e.h5"
    (tmp_path / "ea" / "t.h5").rename(hostile)
    assert invoke("evaluate", run, "--data", hostile).exit_code == 0
    assert (run / "evaluation-e__31m_x_.json").is_file()
    assert not any(CONTROL.search(p.name) for p in run.iterdir())


# ---------------------------------------------------------------- 7. a folder that is not a run


@pytest.mark.parametrize("folder", ["empty", "", "/etc"])
def test_runs_show_refuses_a_folder_that_is_not_a_run(tmp_path, monkeypatch, folder):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = invoke("runs", "show", folder)
    shown = folder or "."
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {shown}: not a run or sweep directory (no metrics.json, config.resolved.yaml or sweep.json); give a folder that `nnctl runs` lists"
    )


# ---------------------------------------------------------------- 8. --data's messages


def test_data_option_errors_name_the_data_file_and_the_option(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert invoke("data", "make", "planar", "-o", "planar.h5", "--m", "40").exit_code == 0
    cases = {
        ("--data", "planar.h5", "--target", "y"): f"Error: {tmp_path}/planar.h5: --target: names a column of a table (.csv, .tsv, "
        ".parquet), and this file is not one; leave --target out (a data file's labels are its y)",
        ("--data", "iris.xlsx", "--target", "y"): f"Error: {tmp_path}/iris.xlsx: --data: no such file; check the path (a relative "
        "--data path is read from the working folder)",
        ("--data", "nope.csv"): f"Error: {tmp_path}/nope.csv: --data: no such file; check the path (a relative --data path is read from the working folder)",
    }
    for args, said in cases.items():
        result = invoke("train", *args)
        assert result.exit_code == 1 and result.stderr.strip() == said
    (tmp_path / "s.yaml").write_text(SPEC)
    result = invoke("train", "s.yaml", "--data", "nope.csv")
    assert "config file's folder" not in result.stderr and "--data: no such file" in result.stderr
    result = invoke("train", "--data", "planar.h5", "--set", "data.target=y")
    assert result.stderr.startswith("Error: --data planar.h5 (with --set data.target=y): data.target: for tables only")
    assert "planar.yaml" not in result.stderr  # no such spec file exists


# ---------------------------------------------------------------- 9. the listing's order, as the README says


def test_runs_are_listed_oldest_first_as_the_readme_says(tmp_path):
    from nnctl.rundir.runs import list_runs

    for name, started in (("b-new", "2026-12-02T10:00:00+00:00"), ("a-old", "2026-12-01T10:00:00+00:00")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps({"status": "completed", "started": started}))
    assert [r["run"] for r in list_runs(tmp_path)] == ["a-old", "b-new"]
    readme = (REPO / "README.md").read_text()
    assert "# every run, oldest first" in readme and "newest first" not in readme


# ---------------------------------------------------------------- 10. messages that name the right thing


@pytest.mark.slow  # another process holds the run's lock
def test_predict_on_a_run_another_process_trains_says_so_and_not_resume(tmp_path):
    run = _run(tmp_path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import fcntl, os, sys, time\n"
                f"fd = os.open({str(run)!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
                "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(60)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        result = invoke("predict", "--run", run, tmp_path / "p.h5", "--csv")
        assert result.exit_code == 0, result.output
        assert "Note: the run is being trained by another process now" in result.stderr and "--resume" not in result.stderr
    finally:
        holder.kill()
        holder.wait()
    from nnctl.rundir.lock import held_elsewhere, run_lock

    assert not held_elsewhere(run) and not held_elsewhere(tmp_path / "no-such-run")
    with run_lock(run):
        assert not held_elsewhere(run)  # this process's own lock is not another's


# ---------------------------------------------------------------- 11. escapes that cannot be confused


def test_a_literal_backslash_escape_and_the_control_character_it_names_look_different():
    assert visible("\x1b") == "\\x1b" and visible("\\x1b") == "\\\\x1b"
    assert visible("\\\x1b") == "\\\\\\x1b"  # a backslash before a control character: doubled, then the escape
    assert visible("C:\\dir") == "C:\\dir" and visible("a\\b") == "a\\b"  # a backslash no escape starts with: kept
    assert visible(visible("\\x1b\x1b")) == visible("\\x1b\x1b")  # visible() of visible()'s text changes nothing
    assert visible("caf\udce9") == "caf\\xe9"  # a file name's byte that is not UTF-8 (os.fsdecode's surrogate)
    assert quoted("a\x1b") == "'a\x1b'" and visible(quoted("a\x1b")) == "'a\\x1b'"  # quoted once, escaped once
    assert quoted(["x", 1]) == "['x', 1]"


def test_a_class_named_backslash_x1b_and_one_holding_esc_show_differently_everywhere(tmp_path):
    names = ["lit\\x1b", "esc\x1b"]  # four characters after "lit"; one ESC after "esc"
    text = "a,species\n" + "".join(f'{i},"{names[i % 2]}"\n' for i in range(12))
    table = tmp_path / "t.csv"
    table.write_text(text, newline="")
    info = invoke("data", "info", table)
    assert "lit\\\\x1b" in info.stdout and "esc\\x1b" in info.stdout and "esc\\\\x1b" not in info.stdout, info.stdout
    run = _table_run(tmp_path, text, "species")
    rows = tmp_path / "r.csv"
    rows.write_text("a\n1\n")
    out = invoke("predict", "--run", run, rows, "--csv").stdout
    assert ",esc\\x1b," in out and ",lit\\\\x1b," in out, out  # class, probability_of
    shown = invoke("evaluate", run, "--data", table).stdout
    assert "lit\\\\x1b" in shown and "esc\\x1b" in shown and "esc\\\\x1b" not in shown, shown
