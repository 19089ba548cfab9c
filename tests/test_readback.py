"""Files read back from run and sweep folders: every layout nnctl writes, and nothing else.

Each test provokes the defect for real (a mini-batch run's costs.csv, a FIFO in a run folder, a
foreign metrics.json, a stripped sweep trial, a sweep folder where a run is expected, a cut name).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import invoke, run_nnctl

REPO = Path(__file__).resolve().parent.parent


def nnctl(*args, timeout=60, cwd=None):
    """nnctl at 80 columns, in this process (conftest.run_nnctl): a read that blocks on a FIFO fails the
    test after `timeout` seconds instead of hanging it."""
    return run_nnctl(*args, cwd=cwd, env={"COLUMNS": "80"}, timeout=timeout)


@pytest.fixture(scope="module")
def decayed(tmp_path_factory):
    """A mini-batch run with a learning-rate decay: costs.csv is epoch,cost,iteration,learning_rate,train_accuracy."""
    runs = tmp_path_factory.mktemp("decayed") / "runs"
    r = invoke(
        "train",
        REPO / "configs/course2/moons-gd-decay.yaml",
        "--set",
        "train.epochs=30",
        "--set",
        "train.record_every=5",
        "--runs-dir",
        runs,
        "-q",
        "--no-report",
    )
    assert r.exit_code == 0, r.output
    return (runs / "latest").resolve()


def test_minibatch_costs_read_against_epochs(decayed):
    from nnctl.report.collect import collect_run
    from nnctl.report.page import write_report
    from nnctl.rundir.runs import read_costs_csv

    assert (decayed / "costs.csv").read_text().splitlines()[0] == "epoch,cost,iteration,learning_rate,train_accuracy"
    facts = collect_run(decayed, evaluate=False)
    assert not [m for m in facts.missing if "costs.csv" in m], facts.missing
    assert facts.costs["epoch"] == [0, 5, 10, 15, 20, 25, 29]
    assert facts.costs["learning_rate"][0] == 0.1 and facts.costs["learning_rate"][1] == pytest.approx(0.02)
    assert [e for e, _ in read_costs_csv(decayed / "costs.csv")] == [0, 5, 10, 15, 20, 25, 29]
    page = write_report(decayed).read_text()
    assert "No cost curve" not in page and "no schedule recorded" not in page
    assert 'id="lr-plot"' in page and "recorded every 5 epochs" in page
    shown = nnctl("runs", "show", decayed)
    assert shown.returncode == 0, shown.stderr
    assert "damaged" not in shown.stdout + shown.stderr
    assert "at epoch 29" in shown.stdout and "0.1 at epoch 0, down to 0.00344828 at epoch 29" in shown.stdout


def test_training_accuracy_is_read_and_drawn_and_old_files_without_it_still_read(decayed, tmp_path):
    """costs.csv's train_accuracy: the report draws it (beside validation accuracy when there is one),
    `runs show` lists it; a costs.csv written before the column existed is read by every reader as before."""
    import shutil

    import nnctl as api
    from nnctl.report.collect import collect_run
    from nnctl.report.page import write_report
    from nnctl.rundir.runs import read_costs_columns
    from nnctl.experiment.tracking import _curve_metrics

    columns = read_costs_columns(decayed / "costs.csv")
    assert len(columns["train_accuracy"]) == 7 and all(0 <= a <= 100 for a in columns["train_accuracy"])
    page = write_report(decayed).read_text()
    assert 'id="accuracy-plot"' in page and "training accuracy from each epoch&#39;s batches as they were trained" in page
    shown = nnctl("runs", "show", decayed)
    assert shown.returncode == 0 and f"train accuracy  last {columns['train_accuracy'][-1]:.6g}" in shown.stdout, shown.stdout
    assert [k for k, _, _ in _curve_metrics(columns, 0.1)].count("train_accuracy") == 7

    old = tmp_path / decayed.name
    shutil.copytree(decayed, old)
    lines = (old / "costs.csv").read_text().splitlines()
    (old / "costs.csv").write_text("\n".join(",".join(line.split(",")[:4]) for line in lines) + "\n")  # as nnctl wrote it before
    assert (old / "costs.csv").read_text().splitlines()[0] == "epoch,cost,iteration,learning_rate"
    columns = read_costs_columns(old / "costs.csv")
    assert "train_accuracy" not in columns and columns["epoch"] == [0, 5, 10, 15, 20, 25, 29]
    facts = collect_run(old, evaluate=False)
    assert not [m for m in facts.missing if "costs.csv" in m], facts.missing
    page = write_report(old).read_text()
    assert "No cost curve" not in page and 'id="accuracy-plot"' not in page and 'id="lr-plot"' in page
    shown = nnctl("runs", "show", old)
    assert shown.returncode == 0 and "damaged" not in shown.stdout + shown.stderr and "train accuracy  last" not in shown.stdout
    model = api.load(old)
    assert [i for i, _ in model.history] == [0, 5, 10, 15, 20, 25, 29]
    assert "train_accuracy" not in {k for k, _, _ in _curve_metrics(columns, 0.1)}


def test_full_batch_costs_still_read(tiny_config, tmp_path):
    from nnctl.report.collect import collect_run

    r = invoke("train", tiny_config, "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    run = (tmp_path / "runs" / "latest").resolve()
    assert (run / "costs.csv").read_text().startswith("iteration,cost")
    facts = collect_run(run, evaluate=False)
    assert facts.costs["iteration"][0] == 0 and not [m for m in facts.missing if "costs.csv" in m]


# ---------------------------------------------------------------- FIFOs and devices in run folders


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished full-batch run with a test set and its evaluation.json."""
    import numpy as np
    import h5py

    root = tmp_path_factory.mktemp("finished")
    rng = np.random.default_rng(0)
    for name, prefix in (("train.h5", "train"), ("test.h5", "test")):
        with h5py.File(root / name, "w") as f:
            f[f"{prefix}_set_x"] = rng.integers(0, 255, (8, 4, 4, 3), dtype=np.uint8)
            f[f"{prefix}_set_y"] = np.arange(8) % 2
            f["list_classes"] = np.array([b"non-cat", b"cat"])
    (root / "c.yaml").write_text("data: {train: train.h5, test: test.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n")
    r = invoke("train", root / "c.yaml", "--runs-dir", root / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    run = (root / "runs" / "latest").resolve()
    assert invoke("evaluate", run).exit_code == 0
    assert (run / "evaluation.json").is_file()
    return run


def _fifo_copy(run: Path, name: str, dest: Path) -> Path:
    import shutil

    copy = dest / "runs" / run.name
    shutil.copytree(run, copy)
    (copy / name).unlink()
    os.mkfifo(copy / name)
    return copy


@pytest.mark.parametrize("name", ["metrics.json", "params.h5", "config.resolved.yaml", "reproduce.json", "costs.csv", "evaluation.json"])
def test_a_fifo_in_a_run_folder_is_named_not_waited_on(finished, tmp_path, name):
    run = _fifo_copy(finished, name, tmp_path)
    commands = [["runs", "show", run], ["report", run], ["evaluate", run]]
    for args in commands:
        r = nnctl(*args, timeout=30)  # before the fix: TimeoutExpired (the read blocks forever)
        if args[0] == "evaluate" and name in ("costs.csv", "reproduce.json", "evaluation.json"):
            continue  # evaluate does not read these (it rewrites evaluation.json atomically)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.strip() == f"Error: {run / name}: is a named pipe (FIFO), not a regular file nnctl wrote; remove it and train the run again", (
            args,
            r.stderr,
        )
    listing = nnctl("runs", "--runs-dir", tmp_path / "runs", timeout=30)
    if name == "metrics.json":  # the listing reads only metrics.json: that run is skipped and named
        assert listing.returncode == 0 and run.name not in listing.stdout
        assert f"skipped {run}: is a named pipe (FIFO), not a regular file nnctl wrote; remove it and train the run again" in " ".join(listing.stderr.split())


def test_a_fifo_sweep_plan_is_named(tmp_path):
    sweep = tmp_path / "sweep-x"
    sweep.mkdir()
    os.mkfifo(sweep / "sweep.json")
    r = nnctl("report", sweep, timeout=30)
    assert (
        r.returncode == 1
        and r.stderr.strip() == f"Error: {sweep / 'sweep.json'}: is a named pipe (FIFO), not a regular file nnctl wrote; remove it and train the run again"
    )


# ---------------------------------------------------------------- metrics.json that nnctl did not write


@pytest.mark.parametrize(
    "text, reason",
    [
        ('{"hello": 1}', "has no status"),
        ('{"status": "completed", "train_accuracy": "lots", "layers": "x"}', "layers is a string, not a list of layer sizes"),
        ('{"status": "weird"}', "status 'weird' is not one nnctl writes"),
        ("{}", "has no status"),
    ],
)
def test_a_foreign_metrics_json_is_skipped_and_named(finished, tmp_path, text, reason):
    import shutil

    shutil.copytree(finished, tmp_path / "runs" / "good")
    shutil.copytree(finished, tmp_path / "runs" / "foreign")
    (tmp_path / "runs" / "foreign" / "metrics.json").write_text(text)
    r = nnctl("runs", "--runs-dir", tmp_path / "runs", "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["run"] for line in r.stdout.splitlines()] == ["good"]
    said = " ".join(r.stderr.split())
    assert f"skipped {tmp_path / 'runs' / 'foreign'}: metrics.json: {reason}" in said
    for args in (["runs", "show"], ["evaluate"], ["report"]):
        r = nnctl(*args, tmp_path / "runs" / "foreign")
        assert r.returncode == 1 and r.stderr.startswith(f"Error: {tmp_path / 'runs' / 'foreign' / 'metrics.json'}: {reason}"), (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- a sweep's trials, read back


@pytest.mark.parametrize("strip", ["metrics", "params"])
def test_a_stripped_completed_trial_is_trained_again_on_resume(tmp_path, tiny_config, strip):
    r = invoke("sweep", tiny_config, "--grid", "model.hidden=[2],[3]", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    trial = sweep / "01-hidden=2"
    kept = json.loads((trial / "metrics.json").read_text())
    if strip == "metrics":
        (trial / "metrics.json").write_text('{"status": "completed"}')
    else:
        (trial / "params.h5").unlink()
    r = invoke("sweep", "--resume", sweep, "--jobs", "1", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    again = json.loads((trial / "metrics.json").read_text())
    assert again["status"] == "completed" and again["final_cost"] == pytest.approx(kept["final_cost"])
    assert again["layers"] == kept["layers"] and (trial / "params.h5").is_file()
    rows = {t["trial"]: t for t in json.loads((sweep / "summary.json").read_text())["trials"]}
    assert rows["01-hidden=2"]["final_cost"] == pytest.approx(kept["final_cost"])


def test_a_sweep_folder_where_a_run_is_expected_points_to_its_best_trial(tmp_path, tiny_config):
    r = invoke("sweep", tiny_config, "--grid", "model.hidden=[2],[3]", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    best = json.loads((sweep / "summary.json").read_text())["trials"][0]["trial"]
    shown = nnctl("runs", "show", sweep)
    assert shown.returncode == 1 and shown.stdout == ""
    assert " ".join(shown.stderr.split()) == (
        f"Error: {sweep}: is a sweep of 2 completed trials, not a run; pass one of its trials, "
        f"e.g. the best: {sweep / best} (all of them: nnctl runs --runs-dir {sweep.parent})"
    )
    resumed = nnctl("train", "--resume", sweep)
    assert resumed.returncode == 1
    assert " ".join(resumed.stderr.split()) == f"Error: {sweep}: is a sweep, not a run; resume it with: nnctl sweep --resume {sweep}"


# ---------------------------------------------------------------- long run names at 80 columns


def test_a_cut_run_name_has_an_ellipsis_and_is_accepted_as_a_prefix(finished, tmp_path):
    import shutil

    runs = tmp_path / "runs"
    long_a, long_b = "20261129-133628-moons-adam-schedule-long", "20261129-133628-moons-adam-schedule-longer"
    for name in (long_a, long_b, "20261129-140000-other-run-with-a-very-long-name-x"):
        shutil.copytree(finished, runs / name)
    table = nnctl("runs", "--runs-dir", runs)  # COLUMNS=80
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    cut = [line.split()[0] for line in lines if line.startswith("20261129-14")]
    # cut in the middle (issue 22): the start (the time) and the end (a sweep trial's label) stay
    assert len(cut) == 1 and "…" in cut[0][1:-1] and cut[0].endswith("-name-x") and len(cut[0]) < len("20261129-140000-other-run-with-a-very-long-name-x")
    # the cut name, as printed, names its run in compare and show
    compared = nnctl("runs", "compare", cut[0], long_a, "--runs-dir", runs)
    assert compared.returncode == 0, compared.stderr
    assert "20261129-140000-other-run-with-a-very-long-name-x" in compared.stdout
    shown = nnctl("runs", "show", cut[0], cwd=tmp_path)  # names are looked up in ./runs
    assert shown.returncode == 0 and "20261129-140000-other-run-with-a-very-long-name-x" in shown.stdout, shown.stderr
    # a start that two runs share is refused, naming both
    both = nnctl("runs", "compare", "20261129-133628-moons-adam-sched…", long_a, "--runs-dir", runs)
    assert both.returncode == 1
    assert " ".join(both.stderr.split()) == (f"Error: 20261129-133628-moons-adam-sched…: names 2 runs in {runs} ({long_a}, {long_b}); give more of the name")
