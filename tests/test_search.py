"""Random search the course's way: distributions on the right scale, reproducible draws, coarse to
fine, successive halving that continues trials from their checkpoints, selection on validation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import invoke

from nnctl.sweep import pruner, selection
from nnctl.spec.config import load_config, read_config_text, spec_from_text
from nnctl.errors import ConfigError, Interrupted
from nnctl.experiment.run import train_run
from nnctl.experiment.lrfind import range_test
from nnctl.rundir.runs import load_params
from nnctl.sweep.sampler import Dist, draw, narrow, parse_dist, parse_search, round_generator
from nnctl.sweep.plan import Halving, halving_from, plan_sweep, search_from
from nnctl.sweep.run import run_sweep
from nnctl.sweep.store import load_plan

MOONS = """\
name: mo
data:
  train: "builtin:moons"
  validation: 0.3
model:
  hidden: [6]
  init: he
train:
  learning_rate: 0.01
  epochs: 12
  batch_size: 64
  optimizer: adam
  seed: 1
  record_every: 3
  blas_threads: 1
"""
LR = "train.learning_rate=loguniform(1e-3,1)"


@pytest.fixture
def moons(tmp_path):
    path = tmp_path / "moons.yaml"
    path.write_text(MOONS)
    return path


def _plan(config, space=(LR,), trials=4, seed=None, rounds=1, halving=None, **kw):
    text = read_config_text(config)
    spec = spec_from_text(text, config)
    return plan_sweep(spec, text, config, search=search_from(spec, config, parse_search(space), trials, seed, rounds), halving=halving, **kw)


def _summary(sweep_dir):
    return json.loads((sweep_dir / "summary.json").read_text())


# ---------------------------------------------------------------- the distributions


def test_loguniform_is_uniform_in_the_exponent():
    rng = np.random.default_rng(0)
    d = parse_dist("loguniform(1e-4, 1)", "--search x")
    r = np.log10([d.row.draw(rng, d.args) for _ in range(4000)])
    assert r.min() >= -4 and r.max() <= 0
    # r uniform on [-4, 0]: each unit interval holds a quarter of the draws (a uniform draw of alpha would put
    # 90% in [-1, 0]); 4000 draws: the standard error of a quarter is 0.7 points
    counts = np.histogram(r, bins=[-4, -3, -2, -1, 0])[0] / len(r)
    assert np.allclose(counts, 0.25, atol=0.03)


def test_one_minus_loguniform_is_the_course_beta_scale():
    rng = np.random.default_rng(1)
    d = parse_dist("one_minus_loguniform(1e-3, 1e-1)", "--search x")
    beta = np.array([d.row.draw(rng, d.args) for _ in range(4000)])
    r = np.log10(1 - beta)  # r in [-3, -1], beta = 1 - 10^r: as many draws in [0.9, 0.99] as in [0.99, 0.999]
    assert beta.min() >= 0.9 and beta.max() <= 0.999
    assert abs(np.mean(r < -2) - 0.5) < 0.03


def test_int_and_choice_take_every_value():
    rng = np.random.default_rng(2)
    i = parse_dist("int(1, 3)", "x")
    c = parse_dist("choice([4], [4, 4], relu)", "x")
    assert {i.row.draw(rng, i.args) for _ in range(200)} == {1, 2, 3}
    assert sorted(map(str, {json.dumps(c.row.draw(rng, c.args)) for _ in range(200)})) == ['"relu"', "[4, 4]", "[4]"]
    assert str(c) == "choice([4], [4, 4], relu)"


@pytest.mark.parametrize(
    "text, said",
    [
        ("loguniform(0, 1)", "--search k: loguniform is on a log scale, so low must be above 0 (got 0)"),
        ("uniform(2, 1)", "--search k: uniform needs low < high (got 2, 1)"),
        ("one_minus_loguniform(0.1, 1)", "--search k: one_minus_loguniform draws 1 - beta, which must stay below 1 (got high 1)"),
        ("int(1.5, 3)", "--search k: int takes two whole numbers (low, high), both included"),
        ("choice(1)", "--search k: choice takes at least two values"),
        ("normal(0, 1)", "--search k: 'normal' is not a distribution; use one of loguniform, one_minus_loguniform, uniform, int, choice"),
        ("0.1", "--search k: expected NAME(args), one of loguniform, one_minus_loguniform, uniform, int, choice, e.g. loguniform(1e-4, 1) (got '0.1')"),
    ],
)
def test_bad_distribution_is_one_line(text, said):
    with pytest.raises(ConfigError) as info:
        parse_dist(text, "--search k")
    assert str(info.value) == said


def test_draws_are_reproducible_and_rounds_independent():
    space = parse_search([LR, "train.beta1=one_minus_loguniform(1e-3,1e-1)"])
    a = [draw(space, round_generator(7, 1)) for _ in range(1)]
    b = [draw(space, round_generator(7, 1)) for _ in range(1)]
    assert a == b and a != [draw(space, round_generator(7, 2))]


def test_narrow_spans_the_best_in_the_distribution_coordinate():
    space = {
        "lr": Dist("loguniform", [1e-4, 1.0]),
        "b": Dist("one_minus_loguniform", [1e-3, 1e-1]),
        "act": Dist("choice", ["relu", "tanh", "sigmoid"]),
        "n": Dist("int", [1, 9]),
    }
    best = [{"lr": 2e-3, "b": 0.99, "act": "tanh", "n": 3}, {"lr": 5e-2, "b": 0.95, "act": "relu", "n": 3}]
    out = narrow(space, best)
    assert out["lr"] == Dist("loguniform", [pytest.approx(2e-3), pytest.approx(5e-2)])
    assert out["b"] == Dist("one_minus_loguniform", [pytest.approx(0.01), pytest.approx(0.05)])  # 1 - beta
    assert out["act"] == Dist("choice", ["relu", "tanh"])
    assert out["n"] == Dist("fixed", [3])  # the best agree: the key is fixed there


# ---------------------------------------------------------------- selection and the pruner


def _row(name, val=None, test=None, cost=1.0, status="completed", vcost=None, **kw):
    return {
        "trial": name,
        "validation_accuracy": val,
        "test_accuracy": test,
        "final_cost": cost,
        "status": status,
        "validation_cost": vcost,
        "validation_rmse": kw.get("rmse"),
        "epochs": kw.get("epochs"),
    }


def test_best_is_chosen_on_validation_never_on_test():
    rows = [_row("a", val=80, test=99), _row("b", val=90, test=60), _row("c", val=90, test=70, vcost=0.5), _row("d", val=None, status="failed")]
    ranked, c = selection.rank([_row("b", val=90, test=60, vcost=0.4), *rows[::2], rows[3]])
    assert [r["trial"] for r in ranked] == ["b", "c", "a", "d"]  # the tie on accuracy goes to the lower validation cost
    assert selection.best(ranked, c) == {"trial": "b", "metric": "validation_accuracy", "value": 90}


def test_regression_uses_validation_rmse_and_no_validation_says_so():
    ranked, c = selection.rank([_row("a", rmse=3.0), _row("b", rmse=2.0)])
    assert c.metric == "validation_rmse" and ranked[0]["trial"] == "b"
    ranked, c = selection.rank([_row("a", cost=0.3, test=99), _row("b", cost=0.2, test=50)])
    assert c.metric == "training_cost" and ranked[0]["trial"] == "b"
    assert "no validation set" in c.note


def test_budgets_and_promotion():
    assert pruner.budgets(10, 300, 3) == [11, 33, 100, 300]
    assert pruner.budgets(1, 27, 3) == [1, 3, 9, 27]
    assert pruner.promote([("a", 1.0), ("b", None), ("c", 3.0), ("d", 2.0), ("e", 0.0), ("f", 5.0)], 3) == ["f", "c"]


# ---------------------------------------------------------------- plans


def test_plan_stores_the_draws_and_names_what_varies(moons):
    plan = _plan(moons, space=(LR, "train.beta1=one_minus_loguniform(1e-2,1e-1)"), trials=3, seed=5, grid={"model.hidden": [[4], [6]]})
    assert len(plan.trials) == 6 and plan.dimensions == ["model.hidden", "train.learning_rate", "train.beta1"]
    lrs = [t.values["train.learning_rate"] for t in plan.trials]
    assert lrs[0] == lrs[1] != lrs[2]  # each draw at every grid point
    assert all(1e-3 <= v <= 1 for v in lrs)
    assert load_config(moons, plan.trials[0].overrides).train.learning_rate == lrs[0]  # the override reads back exactly
    again = _plan(moons, space=(LR, "train.beta1=one_minus_loguniform(1e-2,1e-1)"), trials=3, seed=5, grid={"model.hidden": [[4], [6]]})
    assert [t.overrides for t in again.trials] == [t.overrides for t in plan.trials]
    assert [t.values for t in _plan(moons, trials=3, seed=6).trials] != [t.values for t in _plan(moons, trials=3, seed=5).trials]


def test_small_draws_read_back_as_numbers(moons):
    from nnctl.sweep.plan import _yaml_number

    assert _yaml_number(1e-05) == "1.0e-05" and _yaml_number(0.5) == "0.5"
    assert load_config(moons, [f"train.learning_rate={_yaml_number(1e-05)}"]).train.learning_rate == 1e-05


def test_seed_defaults_to_train_seed_and_spec_section(moons):
    assert _plan(moons).search["seed"] == 1
    moons.write_text(MOONS + "search:\n  trials: 2\n  seed: 9\n  space:\n    train.learning_rate: loguniform(1e-3, 1)\n")
    text = read_config_text(moons)
    spec = spec_from_text(text, moons)
    plan = plan_sweep(spec, text, moons, search=search_from(spec, moons))
    assert plan.search["seed"] == 9 and len(plan.trials) == 2
    assert [t.values for t in plan.trials] == [t.values for t in _plan(moons, trials=2, seed=9).trials]


def test_search_refusals(moons):
    text = read_config_text(moons)
    spec = spec_from_text(text, moons)
    with pytest.raises(ConfigError, match="--search needs the number of random draws: give --trials N"):
        search_from(spec, moons, parse_search([LR]))
    with pytest.raises(ConfigError, match="--trials draws values at random: give what to draw"):
        search_from(spec, moons, {}, 3)
    with pytest.raises(ConfigError, match="--search train.learning_rate and --grid train.learning_rate both vary it"):
        _plan(moons, grid={"train.learning_rate": [0.1, 0.2]})
    with pytest.raises(ConfigError, match=r"--min-budget 5: with --halving 3 the next budget \(15\) passes train.epochs \(12\)"):
        _plan(moons, halving=Halving(3, 5))
    with pytest.raises(ConfigError, match="do not sweep train.epochs with it"):
        _plan(moons, space=("train.epochs=int(2,9)",), halving=Halving(2, 1))


# ---------------------------------------------------------------- whole sweeps


@pytest.mark.slow  # two whole searches, on 2 workers and on 1 (test_cli_search_end_to_end: a search chosen on validation)
def test_random_search_is_reproducible_and_chosen_on_validation(tmp_path, moons):
    a, rows_a, _ = run_sweep(_plan(moons), runs_root=tmp_path / "a", jobs=2)
    _, rows_b, _ = run_sweep(_plan(moons), runs_root=tmp_path / "b", jobs=1)

    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(rows_a) == strip(rows_b)
    s = _summary(a)
    done = [r for r in s["trials"] if r["status"] == "completed"]
    top = max(done, key=lambda r: (r["validation_accuracy"], -r["validation_cost"]))
    assert s["best"] == {"trial": top["trial"], "metric": "validation_accuracy", "value": top["validation_accuracy"]}
    assert s["epochs_total"] == 12 * len(done)
    assert json.loads((a / "sweep.json").read_text())["search"]["regions"] == [{"train.learning_rate": {"name": "loguniform", "args": [0.001, 1.0]}}]


def test_stopped_search_resumes_to_the_same_results(tmp_path, moons):
    _, rows, _ = run_sweep(_plan(moons), runs_root=tmp_path / "whole", jobs=1)
    seen = []
    with pytest.raises(Interrupted) as info:  # the stop request comes after the first trial is stored: an event, not a clock
        run_sweep(_plan(moons), runs_root=tmp_path / "cut", jobs=1, on_result=seen.append, should_stop=lambda: bool(seen))
    cut = info.value.sweep_dir
    assert sum(r["status"] == "completed" for r in info.value.rows) < 4
    _, again, _ = run_sweep(load_plan(cut), cut, jobs=1)
    assert [(r["trial"], r["validation_accuracy"], r["final_cost"]) for r in again] == [(r["trial"], r["validation_accuracy"], r["final_cost"]) for r in rows]


def test_halving_continues_from_checkpoints_and_counts_epochs(tmp_path, moons):
    plan = _plan(moons, trials=6, halving=Halving(2, 3))
    assert plan.halving["budgets"] == [3, 6, 12]
    sweep_dir, rows, _ = run_sweep(plan, runs_root=tmp_path, jobs=2)
    s = _summary(sweep_dir)
    by = {r["trial"]: r for r in rows}
    rungs = s["halving"]["rungs"]
    assert [len(r["trials"]) for r in rungs] == [6, 3] and [len(r["promoted"]) for r in rungs] == [3, 1]
    finalist = rungs[-1]["promoted"][0]
    assert by[finalist]["status"] == "completed" and by[finalist]["epochs"] == 12
    assert sorted(r["epochs"] for r in rows) == [3, 3, 3, 6, 6, 12]
    assert s["epochs_total"] == 33 and s["best"]["trial"] == finalist
    assert {r["status"] for r in rows} == {"completed", "pruned"}
    pruned = next(r["trial"] for r in rows if r["status"] == "pruned")
    assert (sweep_dir / finalist / "costs.png").is_file() and not (sweep_dir / pruned / "costs.png").exists()  # pictures at the end only
    # continued from its checkpoints (3 -> 6 -> 12), the finalist equals the same trial trained in one go
    metrics = json.loads((sweep_dir / finalist / "metrics.json").read_text())
    assert metrics["resumed_from"] > 0
    trial = next(t for t in plan.trials if t.name == finalist)
    alone = train_run(load_config(moons, trial.overrides), runs_root=tmp_path / "alone")
    x, _ = load_params(f"{alone.run_dir}/params.h5")
    y, _ = load_params(sweep_dir / finalist / "params.h5")
    assert all(x[k].tobytes() == y[k].tobytes() for k in x)
    # the promotions were on validation accuracy at each budget
    first = sorted(rungs[0]["trials"], key=lambda n: -json.loads((sweep_dir / n / "metrics.json").read_text()).get("validation_accuracy", 0))
    assert set(first[3:]) == set(rungs[0]["trials"]) - set(rungs[0]["promoted"]) or len({by[n]["validation_accuracy"] for n in first}) < 6


def test_coarse_to_fine_draws_inside_the_best_region(tmp_path, moons):
    plan = _plan(moons, trials=4, rounds=2)
    sweep_dir, rows, _ = run_sweep(plan, runs_root=tmp_path, jobs=2)
    stored = load_plan(sweep_dir)
    assert len(stored.trials) == 8 and [t.round for t in stored.trials] == [1] * 4 + [2] * 4
    first = sorted((r for r in rows if r["round"] == 1), key=lambda r: (-r["validation_accuracy"], r["validation_cost"]))
    lo, hi = stored.search["regions"][1]["train.learning_rate"]["args"]
    best_two = sorted(r["train.learning_rate"] for r in first[:2])
    assert (lo, hi) == (pytest.approx(best_two[0]), pytest.approx(best_two[1]))
    assert all(lo <= t.values["train.learning_rate"] <= hi for t in stored.trials[4:])
    assert [r["round"] for r in rows].count(2) == 4
    assert _summary(sweep_dir)["search"]["regions"][1]["train.learning_rate"].startswith("loguniform(")


def test_cli_search_end_to_end(tmp_path, moons):
    result = invoke("sweep", moons, "--trials", "3", "--search", LR, "--seed", "4", "--runs-dir", tmp_path / "runs", "-q", "-j", "1", "--no-report")
    assert result.exit_code == 0, result.stderr
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    s = _summary(sweep_dir)
    assert s["search"]["seed"] == 4 and s["best"]["metric"] == "validation_accuracy"
    header = result.stdout.splitlines()[1].split()
    assert header[header.index("train") + 1] == "val"
    bad = invoke("sweep", moons, "--trials", "3", "--search", "train.learning_rate=loguniform(-1,1)")
    assert bad.exit_code == 1
    assert bad.stderr == "Error: --search train.learning_rate: loguniform is on a log scale, so low must be above 0 (got -1)\n"


def test_grid_sweep_now_chooses_on_validation_not_test(tmp_path, moons):
    moons.write_text(MOONS.replace("validation: 0.3", 'validation: 0.3\n  test: "builtin:moons?m=200&seed=5"'))
    result = invoke("sweep", moons, "--grid", "train.learning_rate=0.001,0.03,0.3", "--runs-dir", tmp_path / "runs", "-q", "-j", "1", "--no-report")
    assert result.exit_code == 0, result.stderr
    s = _summary(next((tmp_path / "runs").glob("sweep-*")))
    vals = {r["trial"]: r["validation_accuracy"] for r in s["trials"]}
    assert s["best"]["metric"] == "validation_accuracy" and s["best"]["value"] == max(vals.values())
    assert s["trials"][0]["trial"] == s["best"]["trial"]
    assert math.isfinite(s["trials"][0]["test_accuracy"])  # reported beside, never used to choose


@pytest.mark.slow  # two rounds on 2 workers and their pages (test_report: a sweep's page)
def test_report_of_a_search_shows_regions_scales_and_best_so_far(tmp_path, moons):
    result = invoke(
        "sweep",
        moons,
        "--trials",
        "3",
        "--rounds",
        "2",
        "--search",
        LR,
        "--search",
        "train.beta1=one_minus_loguniform(1e-2,1e-1)",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        "-j",
        "2",
    )
    assert result.exit_code == 0, result.stderr
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    page = (sweep_dir / "report.html").read_text()
    s = _summary(sweep_dir)
    assert (
        f'Best trial: <strong><a href="{s["best"]["trial"]}/report.html">{s["best"]["trial"]}</a></strong>, {s["best"]["value"]:.2f}% validation accuracy'
        in page
    )
    assert "chosen on validation accuracy (ties: validation cost); test scores are shown, never used to choose" in page
    region = page[page.index('id="region-table"') : page.index("</table>", page.index('id="region-table"'))]
    assert region.count("<tr>") == 3 and "loguniform(0.001, 1)" in region and "one_minus_loguniform(0.01, 0.1)" in region
    assert 'id="best-so-far"' in page and 'id="parallel"' in page
    assert "1 - train.beta1" in page and "log10(1 - beta1)" in page  # beta on the scale it was drawn on


# ---------------------------------------------------------------- with the other features


SLOW = pytest.mark.slow  # four more searches (the first, synchronous, and the last, asynchronous, in the default run)


@pytest.mark.parametrize(
    "extra, metric, mode",
    [
        ({"train.dtype": "float32", "train.keep_prob": 0.8, "train.l2": 0.1, "train.optimizer": "momentum"}, "validation_accuracy", "sync"),
        pytest.param({"train.early_stopping": {"patience": 1}, "train.decay": "one_cycle"}, "validation_accuracy", "sync", marks=SLOW),
        pytest.param({"data.validation": None, "train.optimizer": "rmsprop"}, "training_cost", "sync", marks=SLOW),
        pytest.param(
            {"train.batch_size": None, "train.epochs": None, "train.iterations": 12, "train.optimizer": "gd"}, "validation_accuracy", "sync", marks=SLOW
        ),
        # ASHA: a trial its own early stopping ended goes on without training; full batch without a validation set
        pytest.param({"train.early_stopping": {"patience": 1}, "train.optimizer": "rmsprop"}, "validation_accuracy", "async", marks=SLOW),
        ({"data.validation": None, "train.batch_size": None, "train.epochs": None, "train.iterations": 12, "train.optimizer": "gd"}, "training_cost", "async"),
    ],
)
def test_halving_with_other_features(tmp_path, moons, extra, metric, mode):
    import yaml

    raw = yaml.safe_load(MOONS)
    for key, value in extra.items():
        section, name = key.split(".")
        if value is None:
            raw[section].pop(name, None)
        else:
            raw[section][name] = value
    moons.write_text(yaml.safe_dump(raw))
    plan = _plan(moons, trials=4, halving=Halving(2, 3, mode))
    sweep_dir, rows, _ = run_sweep(plan, runs_root=tmp_path, jobs=2)
    s = _summary(sweep_dir)
    assert {r["status"] for r in rows} <= {"completed", "pruned"}, [r["message"] for r in rows]
    assert s["halving"]["mode"] == mode and len(s["halving"]["promotions"]) == 3  # 4 -> 2 -> 1
    assert s["best"]["metric"] == metric and s["best"]["trial"] == rows[0]["trial"]
    assert s["epochs_total"] == sum(r["epochs"] for r in rows) < 4 * 12
    if "train.early_stopping" not in extra:
        assert sorted(r["epochs"] for r in rows) == [3, 3, 6, 12]


@pytest.mark.parametrize(
    "extra",
    [
        "  dtype: float32\n  keep_prob: 0.8\n  l2: 0.1\n",
        "",  # full batch below (batch_size removed)
    ],
)
def test_lr_find_with_other_features(tmp_path, moons, extra):
    text = MOONS.replace("  record_every: 3\n", "  record_every: 3\n" + extra)
    if not extra:
        text = text.replace("  batch_size: 64\n", "").replace("epochs: 12", "iterations: 12")
    moons.write_text(text)
    t = range_test(load_config(moons), low=1e-5, high=10, steps=40)
    assert len(t.rates) >= 2 and all(np.isfinite(t.smoothed))
    spiral = tmp_path / "spiral.yaml"  # three classes, a softmax head
    spiral.write_text('data: {train: "builtin:spiral?k=3&m=90"}\nmodel: {hidden: [8]}\ntrain: {learning_rate: 0.1, epochs: 2, batch_size: 30}\n')
    assert range_test(load_config(spiral), steps=30).rates[0] == pytest.approx(1e-7)


def test_lr_find_refuses_a_streamed_file(tmp_path, tiny_config):
    tiny_config.write_text(
        tiny_config.read_text().replace("  test: test.h5\n", "  test: test.h5\n  stream: always\n").replace("iterations: 30", "epochs: 3\n  batch_size: 4")
    )
    result = invoke("lr-find", tiny_config, "--steps", "5")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {tmp_path}/train.h5: lr-find trains on data held in memory and this file is streamed; use data.stream: never\n"


@pytest.mark.slow  # three searches with halving (test_halving_continues_from_checkpoints_and_counts_epochs in the default run)
def test_halving_stopped_in_a_rung_resumes_to_the_same_decisions(tmp_path, moons):
    plan = _plan(moons, trials=6, halving=Halving(2, 3))
    whole, rows, _ = run_sweep(plan, runs_root=tmp_path / "whole", jobs=1)
    seen = []
    with pytest.raises(Interrupted) as info:  # stopped once the first trial of the second rung is stored (an event)
        run_sweep(_plan(moons, trials=6, halving=Halving(2, 3)), runs_root=tmp_path / "cut", jobs=1, on_result=seen.append, should_stop=lambda: len(seen) > 6)
    cut = info.value.sweep_dir
    assert len(load_plan(cut).halving["rungs"]) == 1  # the first rung's decision is kept in sweep.json
    _, again, _ = run_sweep(load_plan(cut), cut, jobs=1)
    keep = ("trial", "status", "epochs", "validation_accuracy", "final_cost")
    assert [{k: r[k] for k in keep} for r in again] == [{k: r[k] for k in keep} for r in rows]
    assert _summary(cut)["halving"]["rungs"] == _summary(whole)["halving"]["rungs"]


# ---------------------------------------------------------------- asynchronous halving (ASHA)


def _simulate(asha, workers, order, score):
    """Drive `asha` as `workers` free workers would: each free worker asks `next()`; then the trials
    finish in the scripted `order` of names (each must be running). Returns the jobs given, in order."""
    given = []

    def ask(free):
        while free:
            job = asha.next()
            if job is None:
                return free
            given.append(job)
            free -= 1
        return free

    free = ask(workers)
    for name in order:
        k = asha.running[name]
        asha.report(name, k, score(name, k))
        free = ask(free + 1)
    assert not asha.running and asha.next() is None  # the round is over
    return given


def test_asha_promotes_as_trials_finish_worked_by_hand():
    # 9 trials, eta 3, 3 budgets: rung 0 promotes at most keep(9) = 3, rung 1 keep(3) = 1
    rung0 = {"a": 5, "b": 7, "c": 3, "d": 9, "e": 1, "f": 8, "g": 2, "h": 10, "i": 4}
    rung1 = {"b": 70, "d": 60, "f": 80}
    asha = pruner.Asha("abcdefghi", 3, 3)
    assert asha.caps == [3, 1]
    order = ["a", "b", "c", "d", "b", "e", "f", "d", "g", "f", "h", "i", "f"]
    given = _simulate(asha, 2, order, lambda n, k: [rung0, rung1, {"f": 0}][k][n])
    # by hand, two workers:
    #   a, b start. a finishes (1 of rung 0: floor(1/3) = 0 promote): c starts. b finishes (2: none): d starts.
    #   c finishes: 3 finished, the top floor(3/3) = 1 is b (7): b goes on to rung 1.
    #   d finishes: 4 finished, the top 1 is d (9), not yet promoted: d goes on (rung 0 has promoted 2).
    #   b finishes rung 1 (1 there, none to promote; d of rung 0's top 1 is promoted already): e starts.
    #   e finishes (5 finished, top 1 = d): f starts. f finishes (6 finished, top 2 = d, f): f goes on;
    #   rung 0 has promoted its 3. d finishes rung 1: g starts. g finishes: h starts.
    #   f finishes rung 1 (3 there, top 1 = f, 80): f goes on to the last rung; rung 1 has promoted its 1.
    #   h finishes with the best rung-0 score (10), too late: rung 0 made its 3 promotions. i starts, finishes;
    #   nothing is left to give; f finishes the last rung.
    assert given == [("a", 0), ("b", 0), ("c", 0), ("d", 0), ("b", 1), ("d", 1), ("e", 0), ("f", 0), ("f", 1), ("g", 0), ("h", 0), ("f", 2), ("i", 0)]
    assert asha.promoted == [["b", "d", "f"], ["f"]]
    # synchronous halving would have promoted the best three at rung 0: h, d, f
    assert pruner.promote(list(rung0.items()), 3) == ["h", "d", "f"]


def test_asha_fills_a_closed_rung_like_synchronous_halving():
    # 2 trials, eta 3: floor(c/3) never promotes, so once every trial has finished rung 0 it is closed and
    # promotes keep(2, 3) = 1, the best; one that diverged (None) counts but never goes on
    asha = pruner.Asha("ab", 2, 3)
    given = _simulate(asha, 2, ["b", "a", "b"], lambda n, k: {"a": 5.0, "b": 7.0}[n] if k == 0 else None)
    assert given == [("a", 0), ("b", 0), ("b", 1)] and asha.promoted == [["b"]]
    asha = pruner.Asha("abc", 2, 3)
    given = _simulate(asha, 1, ["a", "b", "c", "c"], lambda n, k: {"a": None, "b": 1.0, "c": 2.0}[n] if k == 0 else None)
    assert given == [("a", 0), ("b", 0), ("c", 0), ("c", 1)] and asha.promoted == [["c"]]


def test_asha_rebuilt_from_its_record_continues_the_trials_on_their_way_first():
    # as a resumed sweep rebuilds it: b and d were promoted from rung 0, d had not finished rung 1
    asha = pruner.Asha("abcdef", 3, 2, reported=[[("a", 1.0), ("b", 3.0), ("c", 0.5), ("d", 4.0)], [("b", 9.0)], []], promoted=[["b", "d"], []])
    assert asha.rung_of("d") == 1 and asha.rung_of("e") == 0
    assert asha.next() == ("d", 1)  # on its way when the sweep stopped: first
    assert asha.next() == ("e", 0)  # rung 1's top floor(1/2) = 0; rung 0's top 2 (d, b) are promoted
    asha.report("d", 1, 8.0)  # rung 1: 2 finished, top 1 is b: b goes on to the last rung
    assert asha.next() == ("b", 2) and asha.promoted[1] == ["b"]


def _async_plan(config, trials=9, **kw):
    return _plan(config, trials=trials, halving=Halving(3, 1, "async"), **kw)


def _check_asha_sweep(sweep_dir, rows, plan):
    """Every trial completed or pruned, each trained to a budget, as many at each budget as synchronous
    halving, the promotions recorded in the order they were made and fewer epochs than the full search."""
    s = _summary(sweep_dir)
    h = s["halving"]
    assert h["mode"] == "async" and h["budgets"] == [1, 4, 12] and h["metric"] == "validation_accuracy"
    assert {r["status"] for r in rows} == {"completed", "pruned"}, [(r["trial"], r["status"], r["message"]) for r in rows]
    assert sorted(r["epochs"] for r in rows) == [1] * 6 + [4] * 2 + [12]
    assert [r["status"] for r in rows].count("completed") == 1 and s["best"]["trial"] == rows[0]["trial"]
    assert s["epochs_total"] == sum(r["epochs"] for r in rows) == 6 + 8 + 12 < 9 * 12
    rung0, rung1 = h["rungs"]
    assert sorted(rung0["trials"]) == sorted(t.name for t in plan.trials) and len(rung0["promoted"]) == 3
    assert rung1["trials"] and set(rung1["trials"]) == set(rung0["promoted"]) and len(rung1["promoted"]) == 1
    order = [(p["trial"], p["budget"]) for p in h["promotions"]]  # in the order made: each rung's, and rung 1's after rung 0's
    assert [n for n, b in order if b == 1] == rung0["promoted"] and [n for n, b in order if b == 4] == rung1["promoted"]
    assert order.index((rung1["promoted"][0], 4)) > order.index((rung1["promoted"][0], 1))
    for p in h["promotions"]:  # each promoted when it was in the top 1/3 of the trials finished then, or its rung closed
        rung = rung0 if p["budget"] == 1 else rung1
        seen = list(zip(rung["trials"], rung["values"]))[: p["finished"]]
        better = sum(v > dict(seen)[p["trial"]] for _, v in seen)
        assert p["trial"] in dict(seen) and (better < p["finished"] // 3 or p["finished"] == len(rung["trials"])), p
    by = {r["trial"]: r for r in rows}
    assert all(by[n]["epochs"] >= 4 for n in rung0["promoted"]) and by[rung1["promoted"][0]]["epochs"] == 12


def _report_statuses(sweep_dir):
    from nnctl.report.collect import collect_sweep

    return {r["trial"]: r["status"] for r in collect_sweep(sweep_dir).rows}


@pytest.mark.slow  # two asynchronous searches of 9 trials (test_halving_with_other_features: async in the default run)
def test_asha_with_one_worker_is_reproducible(tmp_path, moons):
    a, rows, _ = run_sweep(_async_plan(moons), runs_root=tmp_path / "a", jobs=1)
    _check_asha_sweep(a, rows, load_plan(a))
    b, _, _ = run_sweep(_async_plan(moons), runs_root=tmp_path / "b", jobs=1)
    assert _summary(a)["halving"] == _summary(b)["halving"]  # one worker: the order of finishing is fixed


@pytest.mark.slow  # a Dask cluster of worker processes
def test_asha_on_a_local_dask_cluster_and_resumed(tmp_path, moons):
    """ASHA on Dask, where trials finish out of order: stopped once five results are stored (an event,
    not a clock), resumed on the cluster; the promotions made before the stop are kept."""
    distributed = pytest.importorskip("distributed")
    seen = []
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        with pytest.raises(Interrupted) as info:
            run_sweep(
                _async_plan(moons),
                runs_root=tmp_path,
                executor="dask",
                address=cluster.scheduler_address,
                on_result=seen.append,
                should_stop=lambda: len(seen) >= 5,
            )
        cut = info.value.sweep_dir
        before = load_plan(cut).halving
        assert before["mode"] == "async" and 5 <= len(before["rungs"][0]["trials"]) < 9
        assert {r["status"] for r in info.value.rows} <= {"pending", "interrupted", "pruned"}  # kept with their checkpoints
        assert _report_statuses(cut) == {r["trial"]: r["status"] for r in info.value.rows}  # the report says the same
        plan = load_plan(cut)
        _, rows, _ = run_sweep(plan, cut, executor="dask", address=cluster.scheduler_address)
    after = _summary(cut)["halving"]
    assert after["promotions"][: len(before["promotions"])] == before["promotions"]
    for k, rung in enumerate(before["rungs"]):
        assert after["rungs"][k]["trials"][: len(rung["trials"])] == rung["trials"]
    _check_asha_sweep(cut, rows, plan)
    assert _report_statuses(cut) == {r["trial"]: r["status"] for r in rows}
    # the finalist was continued from its checkpoints (1 -> 4 -> 12), on two workers: it equals training it alone
    finalist = after["rungs"][1]["promoted"][0]
    trial = next(t for t in plan.trials if t.name == finalist)
    alone = train_run(load_config(moons, trial.overrides), runs_root=tmp_path / "alone")
    x, _ = load_params(f"{alone.run_dir}/params.h5")
    y, _ = load_params(cut / finalist / "params.h5")
    assert all(x[k].tobytes() == y[k].tobytes() for k in x)


def test_halving_mode_from_the_spec_and_refusals(moons):
    moons.write_text(
        MOONS + "search:\n  trials: 2\n  halving: 3\n  min_budget: 1\n  halving_mode: async\n  space:\n    train.learning_rate: loguniform(1e-3, 1)\n"
    )
    text = read_config_text(moons)
    spec = spec_from_text(text, moons)
    assert halving_from(spec) == Halving(3, 1, "async") and halving_from(spec, mode="sync").mode == "sync"
    assert halving_from(spec_from_text(MOONS, moons), 3, 1) == Halving(3, 1, "sync")  # the default: reproducible
    with pytest.raises(ConfigError, match="^--halving-mode fast: must be sync"):
        halving_from(spec, mode="fast")
    with pytest.raises(ConfigError, match=r"^--halving-mode async is a way of successive halving: add --halving ETA"):
        halving_from(spec_from_text(MOONS, moons), mode="async")
