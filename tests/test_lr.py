"""The one-cycle schedule (against PyTorch's OneCycleLR, and resumed bit for bit) and `nnctl lr-find`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import invoke

from nnctl.spec.config import load_config
from nnctl.experiment.run import resume_run, train_run
from nnctl.experiment.lrfind import RangeTest, range_test
from nnctl.core.optimizers import SCHEDULES, epoch_rate
from nnctl.rundir.runs import load_params

SPEC = """\
name: moons
data:
  train: builtin:moons
model:
  layers: [2, 5, 2, 1]
  init: he
train:
  learning_rate: 0.05
  epochs: 12
  batch_size: 32
  optimizer: {optimizer}
  decay: one_cycle
  seed: 3
  record_every: 1
  checkpoint_every: 2
  blas_threads: 1
"""


def test_one_cycle_by_hand():
    # 10 epochs, warm-up 0.3: phase one ends at step 0.3 * 10 - 1 = 2, phase two at 9
    keys = {"one_cycle_warmup": 0.3, "one_cycle_div": 25.0, "one_cycle_final_div": 1e4}
    rates = [epoch_rate("one_cycle", 1.0, e, total=10, **keys) for e in range(10)]
    assert rates[0] == pytest.approx(1 / 25) and rates[2] == pytest.approx(1.0)
    assert rates[1] == pytest.approx(1 / 25 + (1 - 1 / 25) / 2)  # half-way up the cosine
    assert rates[9] == pytest.approx(1 / 25 / 1e4)
    assert all(a > b for a, b in itertools.pairwise(rates[2:]))
    assert SCHEDULES["one_cycle"].keys == tuple(keys)


@pytest.mark.slow  # the PyTorch oracle (its import alone takes seconds); the schedule's values by hand above
@pytest.mark.parametrize("total, warmup", [(10, 0.3), (37, 0.25), (5, 0.5)])
def test_one_cycle_equals_pytorch(total, warmup):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.1, total_steps=total, pct_start=warmup, div_factor=25.0, final_div_factor=1e4, anneal_strategy="cos", cycle_momentum=False
    )
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    ours = [epoch_rate("one_cycle", 0.1, e, total=total, one_cycle_warmup=warmup, one_cycle_div=25.0, one_cycle_final_div=1e4) for e in range(total)]
    assert np.allclose(ours, theirs, rtol=1e-12, atol=0)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_one_cycle_stopped_mid_epoch_resumes_bit_for_bit(tmp_path, optimizer):
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(optimizer=optimizer))
    reference = train_run(load_config(config), runs_root=tmp_path / "ref")
    calls = []

    def stop():  # asked after each of the 10 steps of an epoch: 5 epochs and 3 steps of the sixth (an event, not a clock)
        calls.append(1)
        return len(calls) == 5 * 10 + 3

    stopped = train_run(load_config(config), runs_root=tmp_path / "runs", should_stop=stop)
    assert stopped.status == "interrupted" and stopped.epochs == 5
    done = resume_run(stopped.run_dir)
    assert done.status == "completed"
    a, _ = load_params(f"{done.run_dir}/params.h5")
    b, _ = load_params(f"{reference.run_dir}/params.h5")
    assert all(a[k].tobytes() == b[k].tobytes() for k in b)
    costs = Path(reference.run_dir, "costs.csv").read_text()
    assert Path(done.run_dir, "costs.csv").read_text() == costs
    header, *lines = costs.splitlines()
    rates = [float(line.split(",")[header.split(",").index("learning_rate")]) for line in lines]
    assert rates[0] == pytest.approx(0.05 / 25) and max(rates) == pytest.approx(0.05, rel=0.05)  # the cycle, in costs.csv


def test_range_test_suggestion_rule():
    t = RangeTest(rates=[1e-4, 1e-3, 1e-2, 1e-1, 1.0], costs=[1.0] * 5, smoothed=[1.0, 0.9, 0.5, 0.3, 2.0])
    assert t.minimum == 1e-1 and t.suggested == pytest.approx(1e-2)


def test_range_test_minimum_skips_the_warm_up():
    """diab.yaml --steps 60 suggested 1.37e-08: its smoothed cost was lowest at step 2, the mean of two
    mini-batch costs (one of them lucky), though the cost fell well below that later."""
    from nnctl.experiment.lrfind import warnings

    rates = list(np.geomspace(1e-7, 10, 60))
    valley = [14000 - 1500 * np.exp(-(((i - 50) / 4) ** 2)) for i in range(60)]  # lowest, 12500, at step 50
    lucky = [9562.7, 12094.7] + valley[2:]  # a warm-up's lucky first batch
    t = RangeTest(rates=rates, costs=lucky, smoothed=lucky)
    assert t.warmup == 6 and t.minimum == rates[50] and t.suggested == pytest.approx(rates[50] / 10) and warnings(t) == []
    rising = [1.0 + 0.01 * i for i in range(60)]  # rising from the very start: the range's start is the lowest
    t = RangeTest(rates=rates, costs=rising, smoothed=rising)
    assert t.minimum == rates[0] and warnings(t)[0].startswith("the smoothed cost was lowest at the first rate tried (1e-07)")
    falling = [2.0 - 0.01 * i for i in range(60)]
    t = RangeTest(rates=rates, costs=falling, smoothed=falling)
    assert t.minimum == rates[-1] and warnings(t) == [
        "the smoothed cost was lowest at the last rate tried (10): it was still falling where the range ended, so the minimum "
        "may lie above it; run again with a larger --high"
    ]
    t = RangeTest(rates=rates[:40], costs=falling[:40], smoothed=falling[:40], stopped="the cost stopped being finite at rate 0.0265")
    assert warnings(t) == [
        "the smoothed cost was lowest at the last rate tried (0.0194), just before the cost stopped being finite "
        "at rate 0.0265: it fell until then, so the minimum is not resolved; run again with more --steps"
    ]


def test_lr_find_warns_when_the_lowest_cost_is_at_the_last_rate(tmp_path):
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(optimizer="adam"))
    result = invoke("lr-find", config, "--steps", "60", "--high", "0.01", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.stderr
    info = json.loads(next((tmp_path / "runs").glob("lr-find-*-moons")).joinpath("lr_find.json").read_text())
    assert info["minimum"] == pytest.approx(0.01) and info["warmup_steps"] == 6
    assert result.stderr == f"Warning: {info['warnings'][0]}\n" and "lowest at the last rate tried (0.01)" in result.stderr


def test_range_test_rises_exponentially_and_stops_on_divergence(tmp_path):
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(optimizer="gd"))
    t = range_test(load_config(config), low=1e-4, high=1e4, steps=80)
    r = np.array(t.rates)
    assert r[0] == pytest.approx(1e-4) and np.allclose(r[1:] / r[:-1], (1e8) ** (1 / 79))
    assert len(r) < 80 and ("passed 4 times" in t.stopped or "finite" in t.stopped)  # gd at 1e3 diverges
    assert 1e-3 < t.suggested < 10


def test_lr_find_cli_writes_its_folder(tmp_path):
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(optimizer="adam"))
    result = invoke("lr-find", config, "--steps", "60", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.stderr
    folder = next((tmp_path / "runs").glob("lr-find-*-moons"))
    assert sorted(p.name for p in folder.iterdir()) == ["lr_find.csv", "lr_find.json", "lr_find.png"]
    info = json.loads((folder / "lr_find.json").read_text())
    assert result.stdout.startswith(f"suggested learning_rate: {info['suggested']:.3g} (a tenth of the rate at the smoothed cost's minimum)")
    rows = (folder / "lr_find.csv").read_text().splitlines()
    assert rows[0] == "learning_rate,cost,smoothed_cost" and len(rows) == info["steps_run"] + 1
    assert info["suggested"] == pytest.approx(info["minimum"] / 10)
    bad = invoke("lr-find", config, "--low", "1", "--high", "0.1")
    assert bad.exit_code == 1 and bad.stderr == "Error: --low 1 --high 0.1: the rates need 0 < low < high\n"


def test_lr_find_warns_when_the_lowest_cost_is_at_the_first_rate(tmp_path):
    """A range that starts where the cost already rises: the suggestion is below it, and the command says so."""
    config = tmp_path / "moons.yaml"
    config.write_text(SPEC.format(optimizer="gd"))
    result = invoke("lr-find", config, "--low", "1000", "--high", "100000", "--steps", "20", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.stderr
    info = json.loads(next((tmp_path / "runs").glob("lr-find-*-moons")).joinpath("lr_find.json").read_text())
    assert info["minimum"] == pytest.approx(1000)
    assert "Warning: the smoothed cost was lowest at the first rate tried (1e+03)" in result.stderr
    fine = invoke("lr-find", config, "--steps", "60", "--runs-dir", tmp_path / "runs2")
    assert fine.exit_code == 0 and "Warning" not in fine.stderr
