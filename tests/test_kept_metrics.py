"""Issue 20 round 7: every metric of a run describes the parameters saved in params.h5 (early stopping's
restored best), the last record apart; runs compare and the listing show the validation scores; printed
commands name the very files when pasted into bash."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import invoke

from nnctl.rundir.runs import compare_runs, kept_metrics, list_runs
from nnctl.util.text import shell_join, shell_quote, visible

SPEC = """\
name: es
data:
  train: {train}
  validation: va.csv
  target: y
  normalize: none
model:
  hidden: [16]
train:
  learning_rate: 1.0
  iterations: 4000
  seed: 1
  record_every: 20
  early_stopping: {{patience: 5, monitor: validation_cost}}
"""


def _tables(folder: Path, train_name: str = "tr.csv") -> None:
    r = np.random.default_rng(0)
    for name, m in ((train_name, 120), ("va.csv", 60)):
        X = r.normal(size=(m, 2))
        y = ((X[:, 0] * X[:, 1] + 0.3 * r.normal(size=m)) > 0).astype(int)
        np.savetxt(folder / name, np.c_[X, y], delimiter=",", header="a,b,y", comments="", fmt=["%.6f", "%.6f", "%d"])


def _train(tmp_path: Path, train_name: str = "tr.csv") -> Path:
    _tables(tmp_path, train_name)
    (tmp_path / "es.yaml").write_text(SPEC.format(train=json.dumps(train_name)))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = invoke("train", "es.yaml", "--runs-dir", "runs", "--no-report", "-q")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0, result.output
    (run,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir() and not p.is_symlink()]
    return run


def _oracle(run: Path, table: Path) -> tuple:
    """(accuracy %, cross-entropy) of params.h5 on a table, in NumPy: relu hidden layer, sigmoid output."""
    with h5py.File(run / "params.h5") as f:
        W1, b1, W2, b2 = (f[k][()] for k in ("W1", "b1", "W2", "b2"))
    data = np.loadtxt(table, delimiter=",", skiprows=1)
    X, y = data[:, :2].T, data[:, 2]
    a = 1 / (1 + np.exp(-(W2 @ np.maximum(0, W1 @ X + b1) + b2)))[0]
    return float(np.mean((a > 0.5) == y) * 100), float(-np.mean(y * np.log(a) + (1 - y) * np.log(1 - a)))


@pytest.fixture(scope="module")
def early(tmp_path_factory):
    return _train(tmp_path_factory.mktemp("es"))


def test_every_metric_is_of_the_parameters_saved(early):
    m = json.loads((early / "metrics.json").read_text())
    es = m["early_stopping"]
    assert es["restored_best"] and es["stopped_early"] and es["best_epoch"] < es["stopped_epoch"] == m["last"]["epoch"]
    train_acc, train_cost = _oracle(early, early.parent.parent / "tr.csv")
    val_acc, val_cost = _oracle(early, early.parent.parent / "va.csv")
    assert m["train_accuracy"] == pytest.approx(train_acc)
    assert m["validation_accuracy"] == pytest.approx(val_acc)
    assert m["validation_cost"] == pytest.approx(val_cost, rel=1e-9) == pytest.approx(es["best_value"], rel=1e-9)
    # full batch, no L2, no dropout: the training cost recorded at the kept record is that of params.h5
    assert m["final_cost"] == pytest.approx(train_cost, rel=1e-9) and m["final_cost_epoch"] == es["best_epoch"]
    # the last record's values, apart and of other parameters
    assert m["last"]["validation_cost"] != pytest.approx(val_cost) and m["last"]["cost"] != pytest.approx(train_cost)
    shown = invoke("runs", "show", early)
    assert shown.exit_code == 0, shown.output
    (row,) = [x.split() for x in shown.output.splitlines() if x.split()[:1] == ["validation"] and x.split()[1].endswith("%")]
    assert row[1:] == [f"{val_acc:.2f}%", f"{val_cost:.6f}"]
    (row,) = [x.split() for x in shown.output.splitlines() if x.split()[:1] == ["train"] and x.split()[1].endswith("%")]
    assert row[1:] == [f"{train_acc:.2f}%", f"{train_cost:.6f}"]


def _old_style(run: Path) -> dict:
    """metrics.json as nnctl wrote it before: validation_cost and final_cost of the last record, no `last`."""
    m = json.loads((run / "metrics.json").read_text())
    last = m.pop("last")
    m["early_stopping"].pop("stopped_epoch")
    m.update(final_cost=last["cost"], final_cost_epoch=last["epoch"], final_cost_iteration=last["iteration"], validation_cost=last["validation_cost"])
    (run / "metrics.json").write_text(json.dumps(m))
    return m


def test_an_older_metrics_file_reads_as_the_kept_parameters(early, tmp_path):
    new = json.loads((early / "metrics.json").read_text())
    runs = tmp_path / "runs"
    shutil.copytree(early, runs / early.name)
    old = _old_style(runs / early.name)
    kept = kept_metrics(old)
    assert kept["validation_cost"] == new["validation_cost"] and "final_cost" not in kept  # not recorded at the best epoch
    assert kept["last"]["validation_cost"] == old["validation_cost"] and kept["early_stopping"]["stopped_epoch"] == new["last"]["epoch"]
    (row,) = list_runs(runs)
    assert row["final_cost"] is None and row["validation_accuracy"] == new["validation_accuracy"]
    shown = invoke("runs", "show", runs / early.name)
    assert shown.exit_code == 0, shown.output
    (row,) = [x.split() for x in shown.output.splitlines() if x.split()[:1] == ["validation"] and x.split()[1].endswith("%")]
    assert row[1:] == [f"{new['validation_accuracy']:.2f}%", f"{new['validation_cost']:.6f}"]


def test_runs_compare_shows_validation_and_early_stopping(early, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(early, runs / "a")
    shutil.copytree(early, runs / "b")
    m = json.loads((early / "metrics.json").read_text())
    diff = compare_runs("a", "b", runs)
    es = m["early_stopping"]
    for key, value in (
        ("validation_accuracy", m["validation_accuracy"]),
        ("validation_cost", m["validation_cost"]),
        ("stopped at", es["stopped_epoch"]),
        ("best at", es["best_epoch"]),
        ("stopped early", True),
    ):
        assert diff["metrics"][key] == (value, value)
    out = invoke("runs", "compare", "a", "b", "--runs-dir", runs)
    assert out.exit_code == 0, out.output
    assert "specs are identical" in out.output and "spec differences" not in out.output
    lines = {x.split()[0]: x.split()[1:] for x in out.output.splitlines() if x.split()}
    assert lines["validation_cost"] == [f"{m['validation_cost']:.6f}"] * 2
    assert lines["validation_accuracy"] == [f"{m['validation_accuracy']:.2f}%"] * 2


def test_a_run_compared_with_itself_says_so(early, tmp_path):
    runs = tmp_path / "runs"
    shutil.copytree(early, runs / "a")
    out = invoke("runs", "compare", "a", runs / "a", "--runs-dir", runs)
    assert out.exit_code == 0, out.output
    assert "same run" in out.output and "key" not in out.output and "specs are identical" not in out.output


def test_the_listing_has_a_validation_column_only_where_a_run_has_one(early, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    runs = tmp_path / "runs"
    shutil.copytree(early, runs / "a")
    m = json.loads((early / "metrics.json").read_text())
    out = invoke("runs", "--runs-dir", runs)
    header = next(x.split() for x in out.output.splitlines() if x.startswith("run"))
    assert header[header.index("train") + 1] == "val"
    row = next(x.split() for x in out.output.splitlines() if x.startswith("a "))
    assert row[header.index("val")] == f"{m['validation_accuracy']:.2f}%"
    assert max(map(len, out.output.splitlines())) <= 80
    plain = json.loads((runs / "a" / "metrics.json").read_text())
    for k in ("validation_accuracy", "validation_cost", "validation"):
        plain.pop(k)
    (runs / "a" / "metrics.json").write_text(json.dumps(plain))
    out = invoke("runs", "--runs-dir", runs)
    assert "val" not in next(x.split() for x in out.output.splitlines() if x.startswith("run"))


NAMES = ["tr\x1b[31m.csv", "tr\nx.csv", "tr\\nx.csv", "it's.csv", "tr \u202e.csv", "tr\x7f.csv", "plain-name.csv"]


@pytest.mark.parametrize("name", NAMES + [os.fsdecode(b"tr\xff.csv")])
def test_shell_quote_names_the_same_file_in_bash(name):
    q = shell_quote(name)
    assert visible(q) == q  # printed through visible(), it stays the command to paste
    out = subprocess.run(["bash", "-c", f"printf %s {q}"], capture_output=True, check=True).stdout
    assert out == os.fsencode(name)
    if name == "plain-name.csv":
        assert q == name  # plain text keeps plain quoting


def _words(command: str) -> list:
    """The words bash makes of a printed command line, as bytes."""
    out = subprocess.run(["bash", "-c", f"set -- {command}; printf '%s\\0' \"$@\""], capture_output=True, check=True).stdout
    return out.split(b"\0")[:-1]


def test_shell_join_round_trips_through_bash():
    args = ["nnctl", "train", "--data", *NAMES]
    assert _words(shell_join(args)) == [os.fsencode(a) for a in args]


def test_runs_show_prints_commands_that_name_the_files(early, tmp_path):
    """The recorded command (a data file named with ESC and a newline) and the rerun command (a run
    folder named so) pasted into bash name the very files."""
    name = "tr\x1b[31m\n.csv"
    run = tmp_path / "runs\x1b]8;;\nx" / early.name
    shutil.copytree(early, run)
    repro = json.loads((run / "reproduce.json").read_text())
    repro["command"] = ["nnctl", "train", "--data", name, "--target", "y"]
    (run / "reproduce.json").write_text(json.dumps(repro))
    shown = invoke("runs", "show", run)
    assert shown.exit_code == 0, shown.output
    rows = {x.split(None, 1)[0]: x.split(None, 1)[1].strip() for x in shown.output.splitlines() if x.startswith(("command", "rerun"))}
    assert _words(rows["command"]) == [os.fsencode(a) for a in repro["command"]]
    assert _words(rows["rerun"]) == [b"nnctl", b"train", os.fsencode(str(run / "config.resolved.yaml"))]
