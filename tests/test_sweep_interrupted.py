"""Issue 20, round 6: a sweep that was stopped is described by what its trials did. Only completed
trials are counted completed or offered as the best; a sweep none of whose trials began is still
listed, whatever its folder is called."""

from __future__ import annotations

import json

from conftest import invoke
from error_cases import interrupted_sweep, stopped_sweep

from nnctl.errors import Interrupted
from nnctl.rundir.runs import list_runs
from nnctl.sweep.run import run_sweep
from nnctl.sweep.store import load_plan


def test_a_sweep_whose_trials_were_all_interrupted_has_no_best_and_says_none_completed(tmp_path):
    sweep = tmp_path / "s"
    interrupted_sweep()(sweep)
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["best"] is None and {t["status"] for t in summary["trials"]} == {"interrupted"}
    assert {r["run"]: r["status"] for r in list_runs(tmp_path)} == {"s/01-seed=1": "interrupted", "s/02-seed=2": "interrupted"}
    for args in (("evaluate", sweep), ("runs", "show", sweep), ("export", "--run", sweep, "-o", tmp_path / "m.onnx")):
        result = invoke(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert result.stderr.strip() == (
            f"Error: {sweep}: is a sweep, not a run, and none of its 2 trials completed (2 interrupted); resume it with: nnctl sweep --resume {sweep}"
        )
        assert "finished" not in result.stderr and "best" not in result.stderr
    # the report says the same, with no best trial
    assert invoke("report", sweep).exit_code == 0
    page = (sweep / "report.html").read_text()
    assert 'id="best"' not in page and "Not every trial completed: 2 interrupted of 2." in page


def test_an_interrupted_trial_is_never_offered_as_the_best(tmp_path):
    sweep = tmp_path / "s"
    interrupted_sweep("01-seed=1")(sweep)  # the first trial stopped: only the second completed
    summary = json.loads((sweep / "summary.json").read_text())
    assert summary["best"]["trial"] == "02-seed=2"
    result = invoke("evaluate", sweep)
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {sweep}: is a sweep of 2 trials, 1 of them completed (1 interrupted), not a run; pass one of its completed trials, "
        f"e.g. the best: {sweep / '02-seed=2'} (all of them: nnctl runs --runs-dir {tmp_path})"
    )


def test_a_stop_before_any_trial_began_says_none_started(tmp_path):
    from error_cases import sweep_dir

    sweep = tmp_path / "s"
    sweep_dir()(sweep)
    try:
        run_sweep(load_plan(sweep), sweep, jobs=1, should_stop=lambda: True)
        raise AssertionError("not interrupted")
    except Interrupted as exc:
        assert str(exc) == f"sweep interrupted: 0 of 2 trials completed, 2 not started; kept in {sweep}; resume with: nnctl sweep --resume {sweep}"
    assert json.loads((sweep / "summary.json").read_text())["best"] is None


def test_a_renamed_sweep_with_no_trial_folders_is_listed_as_interrupted_with_0_trials(tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    stopped_sweep(tmp_path / "sweep-x")
    (tmp_path / "sweep-x").rename(other / "lr-search")  # mv by the user
    rows = list_runs(other)
    assert [(r["run"], r["status"], r["trials"]) for r in rows] == [("lr-search", "interrupted", 0)]
    table = invoke("runs", "--runs-dir", other)
    assert table.exit_code == 0, table.output
    assert "1 runs in" in table.stdout and "lr-search" in table.stdout and "interrupted" in table.stdout
    assert f"lr-search: a sweep with 0 trials run so far; resume it with: nnctl sweep --resume {other / 'lr-search'}" in " ".join(table.stdout.split())
    lines = invoke("runs", "--runs-dir", other, "--json").stdout.splitlines()
    assert [(json.loads(x)["run"], json.loads(x)["trials"]) for x in lines] == [("lr-search", 0)]
    shown = invoke("runs", "show", "lr-search", "--runs-dir", other)  # by the name the listing prints
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert shown.stderr.strip() == (
        f"Error: {other / 'lr-search'}: is a sweep, not a run, and none of its 2 trials completed (2 not started); "
        f"resume it with: nnctl sweep --resume {other / 'lr-search'}"
    )
    # its plan lost too: still a sweep by its summary and lock file, still listed
    (other / "lr-search" / "sweep.json").unlink()
    assert [(r["run"], r["status"]) for r in list_runs(other)] == [("lr-search", "interrupted")]
    # once a trial has run, the sweep is listed by its trials, not as a sweep of 0 trials
    stopped_sweep(tmp_path / "again")
    result = invoke("sweep", "--resume", tmp_path / "again", "-q", "--no-report", "--jobs", "1")
    assert result.exit_code == 0, result.output
    rows = list_runs(tmp_path)
    assert sorted(r["run"] for r in rows) == ["again/01-seed=1", "again/02-seed=2"] and not any("trials" in r for r in rows)
