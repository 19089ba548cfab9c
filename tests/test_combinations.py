"""Every feature with every other (issue 19): specs drawn from the whole spec space (tests/strategies.py).

For each drawn spec, `nnctl train` completes, diverges (exit 3, files kept) or refuses with exit 1 and
one `Error:` line; never a traceback or a numpy warning, and no run is left "running". A completed
run is evaluated, predicted on its own kind of input, reported, listed, gradient-checked, and
interrupted at a drawn step then resumed to the same parameters, bit for bit. A sweep over two keys
finishes with every trial completed or refused with its reason.

Profiles (Hypothesis settings, chosen by an environment variable):
- default: derandomised (the same examples every run), no shrinking. Each property is two tests of
  one body: in the default run 20 trained specs, 3 whole lives of a run, 1 sweep (about 15 s of CPU);
  their `_full` twins, marked slow (`python3 -m pytest -m slow`), 100, 12 and 4 other examples
  (about 70 s);
- long: `NNCTL_COMBOS=long python3 -m pytest tests/test_combinations.py -q`: 4000 examples of each
  (the `_full` twins left out by the default `-m "not slow"`), random, shrinking a failure to its
  smallest spec; NNCTL_COMBOS_EXAMPLES=N sets the count.
"""

from __future__ import annotations

import json
import os
import re

import h5py
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import strategies as S
from conftest import invoke
from nnctl.spec.config import load_config
from nnctl.experiment.run import resume_run, train_run
from nnctl.rundir.layout import METRICS, PARAMS

LONG = os.environ.get("NNCTL_COMBOS") == "long"
EXAMPLES = int(os.environ.get("NNCTL_COMBOS_EXAMPLES", "4000" if LONG else "0"))
HEALTH = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


def profile(default: int):
    """Derandomised `default` examples in the suite; the long profile's count, random, when asked for."""
    if LONG:
        return settings(max_examples=EXAMPLES, deadline=None, derandomize=False, suppress_health_check=HEALTH, print_blob=True)
    # no shrinking in the suite: a failure prints its example as drawn, at once (the long profile shrinks)
    return settings(max_examples=default, deadline=None, derandomize=True, suppress_health_check=HEALTH, database=None, phases=[Phase.explicit, Phase.generate])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sources")
    out = S.make_sources(folder, invoke)
    for name, (train, *_rest) in S.BUILTINS.items():  # a file of the same kind, for predict
        gen, _, query = train.partition("?")
        k = dict(q.split("=") for q in query.split("&")).get("k")
        args = ["data", "make", gen.split(":")[1], "--m", "12", "-o", folder / f"{name}-predict.h5"] + (["--k", k] if k else [])
        assert invoke(*args).exit_code == 0
        out[name]["predict"] = str(folder / f"{name}-predict.h5")
    return out


class Workspace:
    """A folder per example: the spec file and its runs."""

    def __init__(self, root):
        self.root = root
        self.n = 0

    def new(self):
        self.n += 1
        d = self.root / f"case{self.n}"
        d.mkdir()
        return d


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("cases"))


KEY = re.compile(r"\b(data|model|train|sweep|search)\.[a-z_]+|--[a-z-]+|\.h5|\.csv|\.tsv|builtin:")


def assert_clean_failure(result, what):
    """Exit 1 with one `Error: ` line that names a key, a file or an option; never a traceback."""
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{what}: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output, f"{what}:\n{result.output}"
    # a spec's warnings (said before the data is read: init zeros with hidden layers) may come first
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("Warning: ")]
    assert len(lines) == 1 and lines[0].startswith("Error: "), f"{what}: expected one Error: line, got:\n{result.stderr}"
    assert KEY.search(lines[0]), f"{what}: the error names no key, file or option: {lines[0]}"


def assert_ran(result, what, codes=(0,)):
    if result.exit_code == 1 and 1 not in codes:
        raise AssertionError(f"{what}: exit 1: {result.output}")
    assert result.exit_code in codes, f"{what}: exit {result.exit_code} {result.exception!r}\n{result.output}"
    if result.exit_code == 1:
        assert_clean_failure(result, what)
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception, SystemExit)), (
        f"{what}: {result.exception!r}\n{result.output}"
    )


def no_run_left_running(runs):
    for metrics in runs.rglob(METRICS):
        status = json.loads(metrics.read_text()).get("status")
        assert status != "running", f"{metrics} says running after the command ended"


def write_spec(folder, spec: dict):
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def params_of(path) -> dict:
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def train(case, files, folder):
    runs = folder / "runs"
    spec_path = write_spec(folder, case.spec_for(files, runs))
    result = invoke("train", spec_path, "--quiet", "--no-report")
    no_run_left_running(runs)
    assert_ran(result, f"train {case.spec}", codes=(0, 1, 3))
    run = runs / os.readlink(runs / "latest") if (runs / "latest").is_symlink() else None
    return result, spec_path, run


# ---------------------------------------------------------------- every spec: train cleanly


@profile(20)
@given(case=S.cases())
def test_train_completes_or_refuses_in_one_line(case, files, workspace):
    check_train(case, files, workspace)


@pytest.mark.slow  # the same property on 100 other examples
@profile(100)
@given(case=S.cases())
def test_train_completes_or_refuses_in_one_line_full(case, files, workspace):
    check_train(case, files, workspace)


def check_train(case, files, workspace):
    result, _, run = train(case, files, workspace.new())
    if result.exit_code == 0:
        metrics = json.loads((run / METRICS).read_text())
        assert metrics["status"] == "completed"
        assert np.isfinite(metrics["final_cost"])


# ---------------------------------------------------------------- a completed run: everything after


@profile(3)
@given(case=S.cases(), stop_at=st.floats(0.05, 0.95))
def test_completed_run_evaluates_predicts_reports_resumes_and_gradchecks(case, stop_at, files, workspace):
    check_life(case, stop_at, files, workspace)


@pytest.mark.slow  # the same property on 12 other examples
@profile(12)
@given(case=S.cases(), stop_at=st.floats(0.05, 0.95))
def test_completed_run_evaluates_predicts_reports_resumes_and_gradchecks_full(case, stop_at, files, workspace):
    check_life(case, stop_at, files, workspace)


def check_life(case, stop_at, files, workspace):
    folder = workspace.new()
    result, spec_path, run = train(case, files, folder)
    if result.exit_code != 0:
        return
    paths = files[case.source.name]
    own_test = "test" in case.spec["data"]
    assert_ran(invoke("evaluate", run) if own_test else invoke("evaluate", run, "--data", paths.get("test") or paths["predict"]), "evaluate")
    inputs = paths.get("pictures") or [paths.get("predict") or paths["test"]]
    # a table's predict file may hold a category training never saw: refused unless data.unseen: zeros
    unseen = case.source.unseen_in_predict and case.spec["data"].get("unseen") != "zeros"
    assert_ran(invoke("predict", *inputs, "--run", run, "--json"), "predict", codes=(0, 1) if unseen else (0,))
    assert_ran(invoke("report", run), "report")
    assert (run / "report.html").stat().st_size > 0
    listed = invoke("runs", "--runs-dir", folder / "runs", "--json")
    assert_ran(listed, "runs")
    assert run.name in listed.stdout
    assert_ran(invoke("runs", "show", run.name, "--runs-dir", folder / "runs"), "runs show")
    assert_ran(invoke("gradcheck", spec_path, "--examples", "4", "--max-per-layer", "40", "--threshold", "1"), "gradcheck", codes=(0, 1))
    check_resume_bit_for_bit(spec_path, run, stop_at, folder)


def check_resume_bit_for_bit(spec_path, run, stop_at, folder):
    """Stop the same spec at a drawn step (as Ctrl-C does), resume it: the parameters of the
    uninterrupted run, bit for bit."""
    spec = load_config(spec_path)
    total = json.loads((run / METRICS).read_text())["total_iterations"]
    at = max(1, int(stop_at * total))
    asked = [0]

    def should_stop():
        asked[0] += 1
        return asked[0] >= at

    stopped = train_run(spec, runs_root=folder / "stopped", should_stop=should_stop)
    if stopped.status == "interrupted":
        stopped = resume_run(stopped.run_dir)
    assert stopped.status == "completed"
    want, got = params_of(run / PARAMS), params_of(os.path.join(stopped.run_dir, PARAMS))
    assert want.keys() == got.keys()
    for key in want:
        assert want[key].tobytes() == got[key].tobytes(), f"{key} differs after a stop at step {at} of {total} and resume"


# ---------------------------------------------------------------- a sweep over two keys


@profile(1)
@given(data=st.data())
def test_sweep_over_two_keys_finishes_every_trial(data, files, workspace):
    check_sweep(data, files, workspace)


@pytest.mark.slow  # the same property on 4 other examples
@profile(4)
@given(data=st.data())
def test_sweep_over_two_keys_finishes_every_trial_full(data, files, workspace):
    check_sweep(data, files, workspace)


def check_sweep(data, files, workspace):
    case = data.draw(S.cases())
    grid, section, search = data.draw(S.sweeps(case))
    folder = workspace.new()
    runs = folder / "runs"
    spec = case.spec_for(files, runs)
    if section:
        spec["sweep"] = section
    if search:
        spec["search"] = search
    spec_path = write_spec(folder, spec)
    args = [a for g in grid for a in ("--grid", g)]
    result = invoke("sweep", spec_path, *args, "--jobs", "1", "--quiet", "--no-report")
    no_run_left_running(runs)
    what = f"sweep {spec} {grid}"
    assert result.exit_code in (0, 1, 3), f"{what}: exit {result.exit_code} {result.exception!r}\n{result.output}"
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{what}: {result.exception!r}\n{result.output}"
    assert "Traceback" not in result.output, f"{what}:\n{result.output}"
    sweeps = list(runs.glob("sweep-*"))
    if result.exit_code == 1:  # a line per failed trial with its reason, then one Error: line
        lines = result.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("Error: ") and KEY.search(lines[-1]), f"{what}:\n{result.stderr}"
        assert all(re.match(r"\S+: (failed|diverged): ", line) for line in lines[:-1]), f"{what}:\n{result.stderr}"
    if not sweeps:
        assert result.exit_code == 1
        return  # refused before any trial (the spec itself)
    trials = json.loads((sweeps[0] / "summary.json").read_text())["trials"]
    assert trials
    for t in trials:
        assert t["status"] in ("completed", "diverged", "failed", "pruned"), t
        if t["status"] in ("diverged", "failed"):
            assert t["message"] and "Traceback" not in t["message"] and "\n" not in t["message"].strip(), t


# ---------------------------------------------------------------- the strategies cover the spec


def test_every_spec_key_is_drawn():
    """A key added to nnctl/spec/config.py's models fails here until tests/strategies.py draws it."""
    missing = S.model_keys() - S.drawn_keys()
    assert not missing, f"spec keys the property test never draws: {sorted(missing)}; add a row to tests/strategies.py"
    stale = S.drawn_keys() - S.model_keys()
    assert not stale, f"tests/strategies.py draws keys the spec no longer has: {sorted(stale)}"
