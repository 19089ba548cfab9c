"""A sweep directory read back is input: sweep.json, trial folders and their metrics are checked
as strictly as a spec, and the plan finds the same config and data files from any folder."""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import TINY_SPEC, run_nnctl, write_course_h5
from nnctl.spec.config import read_config_text, spec_from_text
from nnctl.sweep.plan import plan_sweep
from nnctl.sweep.run import run_sweep
from nnctl.sweep.store import load_plan


def nnctl(*args, cwd=None, env=None):
    return run_nnctl(*args, cwd=cwd, env=env)  # in this process, answered as a subprocess is


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """A real sweep: trial 01 completed, trial 02 failed (its data file was missing)."""
    d = tmp_path_factory.mktemp("made")
    write_course_h5(d / "train.h5")
    write_course_h5(d / "test.h5", "test", m=6, seed=1)
    (d / "tiny.yaml").write_text(TINY_SPEC)
    r = nnctl("sweep", "tiny.yaml", "--grid", "data.train=train.h5,late.h5", "--jobs", "1", "--runs-dir", "runs", "-q", cwd=d)
    assert r.returncode == 1 and "1 of 2 trials failed" in r.stderr, r.stderr
    return d


@pytest.fixture
def sweep_copy(made, tmp_path):
    """A private copy of the made sweep, its project folder and a victim next to it."""
    proj = tmp_path / "proj"
    shutil.copytree(made, proj)
    sweep_dir = next((proj / "runs").glob("sweep-*"))
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    plan["config_path"] = str(proj / "tiny.yaml")
    plan["data_files"] = {p.replace(str(made), str(proj)): v for p, v in plan["data_files"].items()}
    (sweep_dir / "sweep.json").write_text(json.dumps(plan))
    victim = proj / "runs" / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    (proj / "late.h5").write_bytes((proj / "train.h5").read_bytes())  # the user fixes the data
    return proj, sweep_dir, victim


def _edit(sweep_dir, change):
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    change(plan)
    (sweep_dir / "sweep.json").write_text(json.dumps(plan))


def _assert_one_line(r, start):
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith(start), r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def _rename(value):
    def change(plan):
        plan["trials"][1]["name"] = value

    return change


@pytest.mark.parametrize("name", ["./../victim", "../victim", "..", "/tmp/victim", "a/b", ".hidden", "", "x" * 300, 5, None])
def test_trial_name_that_is_not_one_safe_component_is_refused(sweep_copy, tmp_path, name):
    proj, sweep_dir, victim = sweep_copy
    _edit(sweep_dir, _rename(name))
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj, env={"TMPDIR": str(tmp_path)})
    _assert_one_line(r, f"Error: {sweep_dir / 'sweep.json'}: trials.1.name: ")
    assert r.stderr.endswith("the plan is damaged or was edited, start a new sweep\n")
    assert (victim / "keep.txt").read_text() == "mine" and sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
    assert not (tmp_path / "victim").exists()


def test_trial_folder_that_is_a_link_out_of_the_sweep_is_refused(sweep_copy):
    proj, sweep_dir, victim = sweep_copy
    name = load_plan(sweep_dir).trials[1].name
    shutil.rmtree(sweep_dir / name)
    (sweep_dir / name).symlink_to(victim, target_is_directory=True)
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {sweep_dir / name}: a trial folder must be a real folder inside {sweep_dir}, not a link")
    assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]


BAD_PLANS = [
    ("a list", None, None),
    ("no format", lambda p: p.pop("format"), "written by an older nnctl (no format); start a new sweep"),
    ("relative config path", lambda p: p.update(config_path="../tiny.yaml"), "config_path: '../tiny.yaml' must be an absolute, normalized path"),
    ("config path with ..", lambda p: p.update(config_path=p["config_path"] + "/../x.yaml"), "config_path: "),
    ("edited spec text", lambda p: p.update(text=p["text"].replace("0.1", "7")), "text: does not match config_sha256"),
    ("index as text", lambda p: p["trials"][0].update(index="1"), "trials.0.index: must be a valid integer"),
    ("index out of order", lambda p: p["trials"][1].update(index=7), "trials.1.index: trials are numbered 1, 2, ... in order (got 7)"),
    ("overrides not a list", lambda p: p["trials"][0].update(overrides="train.seed=1"), "trials.0.overrides: must be a valid list"),
    ("values of another dimension", lambda p: p["trials"][0].update(values={"x": 1}), "trials.0.values: must give one value for each"),
    ("same name twice", lambda p: p["trials"][1].update(name=p["trials"][0]["name"]), "trials: two trials have the same name"),
    ("unknown key", lambda p: p.update(extra=1), "extra: unknown key"),
    ("data path relative", lambda p: p.update(data_files={"train.h5": None}), "data_files: 'train.h5' must be an absolute"),
    ("digest that is not one", lambda p: p.update(config_sha256="abc"), "config_sha256: String should match pattern"),
]


@pytest.mark.parametrize("what,change,said", BAD_PLANS, ids=[b[0] for b in BAD_PLANS])
def test_damaged_plan_is_one_line(sweep_copy, what, change, said):
    proj, sweep_dir, victim = sweep_copy
    if what == "a list":
        (sweep_dir / "sweep.json").write_text("[1, 2]")
        said = "the plan must be a JSON object (got a list)"
    else:
        _edit(sweep_dir, change)
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {sweep_dir / 'sweep.json'}: {said}")


def test_trial_overrides_are_validated_again_on_resume(sweep_copy):
    proj, sweep_dir, _ = sweep_copy
    _edit(sweep_dir, lambda p: p["trials"][1].update(overrides=['data.train="late.h5"', "train.learning_rate=-1"]))
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {sweep_dir / 'sweep.json'}: trial 02-train=late.h5: {proj / 'tiny.yaml'} (with --set ")
    assert "train.learning_rate: must be greater than 0 (got -1)" in r.stderr


EDITED_TRIALS = [
    (
        "override",
        lambda p: p["trials"][0].update(overrides=['data.train="late.h5"']),
        'trial 01-train=train.h5: overrides data.train="late.h5", but its values {"data.train": "train.h5"} give data.train="train.h5"',
    ),
    (
        "value and override, not the name",
        lambda p: p["trials"][0].update(overrides=['data.train="late.h5"'], values={"data.train": "late.h5"}),
        'trial 01-train=train.h5: its number and values {"data.train": "late.h5"} give the name 01-train=late.h5',
    ),
]


@pytest.mark.parametrize("what,change,said", EDITED_TRIALS, ids=[e[0] for e in EDITED_TRIALS])
def test_a_trial_whose_overrides_no_longer_match_its_name_is_refused(sweep_copy, what, change, said):
    """sweep.json edited: trial 01-train=train.h5 would train on late.h5 under its old name, and the summary would show train.h5."""
    proj, sweep_dir, _ = sweep_copy
    first = load_plan(sweep_dir).trials[0].name
    shutil.rmtree(sweep_dir / first)  # not finished: the resume would train it
    _edit(sweep_dir, change)
    before = sorted(p.name for p in sweep_dir.iterdir())
    r = nnctl("sweep", "--resume", sweep_dir, "-q", "--jobs", "1", cwd=proj)
    _assert_one_line(
        r,
        f"Error: {sweep_dir / 'sweep.json'}: {said}; sweep.json was edited, and resuming would train another trial "
        "under this name; restore sweep.json or start a new sweep",
    )
    assert sorted(p.name for p in sweep_dir.iterdir()) == before  # nothing trained


@pytest.mark.parametrize(
    "content,said",
    [
        ("[1, 2]", "must be a valid dictionary"),
        ('{"status": "hacked"}', "status: must be 'completed', 'diverged', 'interrupted' or 'failed'"),
        ('{"status": "completed", "train_accuracy": "abc"}', "train_accuracy: must be a valid number"),
        ('{"status": "completed", "test_accuracy": 250}', "test_accuracy: must be less than or equal to 100"),
        ("{not json", "Expecting property name"),
        ("[" * 100000 + "]" * 100000, "nested too deeply"),
    ],
    ids=["list", "status", "accuracy", "range", "not-json", "deep"],
)
def test_damaged_trial_metrics_make_the_trial_failed(sweep_copy, content, said):
    from nnctl.sweep.store import summary_rows, trial_metrics

    proj, sweep_dir, _ = sweep_copy
    plan = load_plan(sweep_dir)
    (sweep_dir / plan.trials[0].name / "metrics.json").write_text(content)
    m = trial_metrics(sweep_dir, plan.trials[0])
    assert m["status"] == "failed" and said in m["message"], m
    assert m["message"].startswith(f"{sweep_dir / plan.trials[0].name / 'metrics.json'}: damaged metrics (")
    assert m["message"].endswith("); --resume trains this trial again")
    assert [r["status"] for r in summary_rows(sweep_dir, plan)] == ["failed", "failed"]


def test_resume_trains_a_trial_with_damaged_metrics_again(sweep_copy):
    proj, sweep_dir, _ = sweep_copy
    first = load_plan(sweep_dir).trials[0].name
    (sweep_dir / first / "metrics.json").write_text("[1, 2]")
    r = nnctl("sweep", "--resume", sweep_dir, "-q", "--jobs", "1", cwd=proj)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    rows = json.loads((sweep_dir / "summary.json").read_text())["trials"]
    assert [row["status"] for row in rows] == ["completed", "completed"]


def test_resume_from_another_folder_uses_the_planned_files(made, tmp_path):
    """sweep.json once kept `../tiny.yaml` as typed: from another folder it trained on another file."""
    proj, other = tmp_path / "proj", tmp_path / "other"
    for d in (proj, other):
        (d / "work").mkdir(parents=True)
        (d / "tiny.yaml").write_text(TINY_SPEC)
        write_course_h5(d / "train.h5")
        write_course_h5(d / "test.h5", "test", m=6, seed=1)
    r = nnctl("sweep", "../tiny.yaml", "--grid", "data.train=train.h5,late.h5", "--jobs", "1", "--runs-dir", proj / "runs", "-q", cwd=proj / "work")
    assert r.returncode == 1
    sweep_dir = next((proj / "runs").glob("sweep-*"))
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    assert plan["config_path"] == str(proj / "tiny.yaml")
    assert plan["data_files"][str(proj / "train.h5")] is not None and plan["data_files"][str(proj / "late.h5")] is None
    write_course_h5(proj / "late.h5", seed=5)
    write_course_h5(other / "late.h5", seed=9)  # what `../late.h5` means from the other folder
    r = nnctl("sweep", "--resume", sweep_dir, "--jobs", "1", "-q", cwd=other / "work")
    assert r.returncode == 0, r.stderr
    used = json.loads((sweep_dir / "02-train=late.h5" / "reproduce.json").read_text())["data"]["train"]
    assert used["source"] == str(proj / "late.h5")


def test_resume_refuses_a_changed_config_or_data_file(sweep_copy):
    proj, sweep_dir, _ = sweep_copy
    (proj / "tiny.yaml").write_text(TINY_SPEC.replace("seed: 3", "seed: 4"))
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {proj / 'tiny.yaml'}: the config file changed since the sweep started")
    (proj / "tiny.yaml").write_text(TINY_SPEC)
    write_course_h5(proj / "train.h5", seed=7)
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {proj / 'train.h5'}: the data changed since the sweep started (its SHA-256 differs")
    (proj / "train.h5").unlink()
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {proj / 'train.h5'}: the data file this sweep was planned with is gone")


def test_a_trial_refuses_data_that_changed_after_planning(tmp_path, tiny_config):
    text = read_config_text(tiny_config)
    plan = plan_sweep(spec_from_text(text, tiny_config), text, tiny_config, grid={"train.seed": [1, 2]})
    write_course_h5(tmp_path / "train.h5", seed=8)  # another machine's copy, say
    sweep_dir, rows, _ = run_sweep(plan, runs_root=tmp_path / "runs", jobs=1)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert rows[0]["message"] == (
        f"{tmp_path / 'train.h5'}: this file differs from the one the sweep was planned with (SHA-256); give every worker the same data files"
    )


@pytest.mark.slow  # a Dask cluster of worker processes
def test_dask_workers_in_another_folder_find_the_files(tmp_path, tiny_config, monkeypatch):
    distributed = pytest.importorskip("distributed")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the workers start here ...
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        monkeypatch.chdir(tmp_path)  # ... and the sweep is planned from the config's folder, path as typed
        text = read_config_text("tiny.yaml")
        plan = plan_sweep(spec_from_text(text, "tiny.yaml"), text, "tiny.yaml", grid={"train.seed": [1, 2]})
        _, rows, _ = run_sweep(plan, runs_root=tmp_path / "runs", executor="dask", address=cluster.scheduler_address)
    assert [r["status"] for r in rows] == ["completed", "completed"], rows


# ---------------------------------------------------------------- what the planner refuses, before any folder exists


def _plan(config, **kw):
    text = read_config_text(config)
    return plan_sweep(spec_from_text(text, config, kw.pop("base", ())), text, config, **kw)


def test_long_grid_values_make_short_unique_trial_names(tmp_path, tiny_config):
    stack = [1] * 90  # a label of 180 characters: with the number, over any sane folder name
    plan = _plan(tiny_config, grid={"model.hidden": [stack, stack + [1], [2]]})
    names = [t.name for t in plan.trials]
    assert all(len(n.encode()) <= 120 for n in names) and len(set(names)) == 3
    assert names[0].startswith("01-hidden=1x1x1") and names[0][-11] == "-" and names[2] == "03-hidden=2"
    assert names[0][:-11] != names[1][:-11] or names[0] != names[1]
    sweep_dir, rows, _ = run_sweep(
        _plan(tiny_config, grid={"model.hidden": [[1] * 130, [2]]}, base=["train.iterations=2"]), runs_root=tmp_path / "runs", jobs=1
    )
    assert [r["status"] for r in rows] == ["completed", "completed"]
    assert all((sweep_dir / t.name / "params.h5").exists() for t in load_plan(sweep_dir).trials)


def _refused(tmp_path, *args):
    r = nnctl("sweep", *args, "--runs-dir", tmp_path / "runs", "-q", cwd=tmp_path)
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and r.stderr.startswith("Error: "), r.stderr
    assert not (tmp_path / "runs").exists()  # refused before the sweep folder is made
    return r.stderr.strip()


def test_negative_or_repeated_sweep_values_are_refused(tmp_path, tiny_config):
    assert _refused(tmp_path, tiny_config, "--hidden-layers=-1,1", "--width", "3") == (
        "Error: --hidden-layers -1,1: a count of hidden layers is a whole number from 0 to 1000 (got -1)"
    )
    assert _refused(tmp_path, tiny_config, "--hidden-layers=1,1", "--width", "3") == (
        "Error: --hidden-layers: the count 1 is given twice; give each value once"
    )
    assert _refused(tmp_path, tiny_config, "--grid", "model.hidden=[2],[2]") == (
        "Error: --grid model.hidden: the value [2] is given twice; give each value once"
    )
    assert _refused(tmp_path, tiny_config, "--grid", "train.seed=1", "--grid", "train.seed=2") == (
        "Error: --grid train.seed is given twice; list all its values in one --grid, e.g. --grid train.seed=1,2"
    )
    assert _refused(tmp_path, tiny_config, "--grid", "train.seed=1,2", "--set", "train.seed=5") == (
        "Error: --set train.seed=5 and --grid train.seed set the same key; the grid replaces it in every trial, so drop the --set"
    )


def test_every_variant_goes_through_the_checks_a_trial_makes(tmp_path, tiny_config):
    """`train.seed=...,4294967296` passed the old pre-check and failed inside its trial (legacy generator)."""
    said = _refused(tmp_path, tiny_config, "--grid", "train.seed=1,4294967296", "--set", "model.init_rng=legacy")
    assert said.startswith(f"Error: {tiny_config} (with --set model.init_rng=legacy --set train.seed=4294967296): ")
    assert "train.seed" in said and "4294967295" in said


def test_dask_address_is_checked_before_the_sweep_folder(tmp_path, tiny_config):
    pytest.importorskip("distributed")
    assert _refused(tmp_path, tiny_config, "--grid", "train.seed=1,2", "--executor", "dask", "--address", "garbage") == (
        "Error: --address garbage: expected the Dask scheduler as tcp://HOST:PORT, e.g. --address tcp://10.0.0.5:8786"
    )
    assert _refused(tmp_path, tiny_config, "--grid", "train.seed=1,2", "--address", "tcp://127.0.0.1:8786") == (
        "Error: --address tcp://127.0.0.1:8786 is for --executor dask; add --executor dask, or leave --address out"
    )


def test_plan_that_is_too_deep_or_too_large_is_one_line(sweep_copy):
    proj, sweep_dir, _ = sweep_copy
    (sweep_dir / "sweep.json").write_text("[" * 100000 + "]" * 100000)
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {sweep_dir / 'sweep.json'}: not valid JSON (")
    with open(sweep_dir / "sweep.json", "wb") as fh:
        fh.truncate((64 << 20) + 1)
    r = nnctl("sweep", "--resume", sweep_dir, "-q", cwd=proj)
    _assert_one_line(r, f"Error: {sweep_dir / 'sweep.json'}: over 64 MiB, too large to be what nnctl wrote; the plan is damaged, start a new sweep")


def test_a_grid_of_too_many_trials_is_refused_at_once(tmp_path, tiny_config):
    values = ",".join(str(v) for v in range(1, 101))
    said = _refused(tmp_path, tiny_config, "--grid", f"train.seed={values}", "--grid", f"train.iterations={values}", "--grid", "train.record_every=1,2")
    assert said == (
        "Error: the grid makes 20,000 trials (100 train.seed × 100 train.iterations × 2 train.record_every); a sweep has at most 10,000: sweep fewer values"
    )
