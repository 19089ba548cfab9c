"""The learning-rate range test (fastai's `lr_find`): raise the rate exponentially over a short run
and watch the cost.

Step i of n runs at rate r_i = low * (high / low)^(i / (n - 1)), one mini-batch (or one full-batch
iteration) each, from the spec's initialisation and optimizer. The cost is smoothed as fastai does
(an exponentially weighted average with beta = 0.98 and bias correction) and the test stops early
once the smoothed cost passes 4 times its minimum or stops being finite.

The suggestion is `SUGGESTION`: a tenth of the rate at which the smoothed cost is lowest (at the
minimum the rate is already about to diverge; a tenth of it still descends fast). The first tenth of
the steps is the average's warm-up (the bias-corrected average at step 2 is the mean of two batches'
costs: one lucky batch makes it the lowest of the test), so the minimum is sought after it; only when
the smoothed cost rises from there on is the lowest the range's start, warm-up included. The
steepest descent (the most negative slope of the smoothed cost against log r, after the warm-up) is
reported beside it. `warnings` say when the minimum is at either end of the rates tested.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.spec.config import Spec
from nnctl.errors import ConfigError
from nnctl.experiment.run import prepare_trainer
from nnctl.util.plots import plot_lr_find
from nnctl.rundir.layout import LR_FIND_CSV, LR_FIND_JSON, LR_FIND_PNG
from nnctl.rundir.runs import atomic_write, create_run_dir, write_json
from nnctl.util.atomic import output_set
from nnctl.util.signals import signals_held

SMOOTHING = 0.98
DIVERGED = 4.0  # stop when the smoothed cost passes this multiple of its minimum
SUGGESTION = "a tenth of the rate at the smoothed cost's minimum"
REACHED = "the last rate was reached"


@dataclass
class RangeTest:
    rates: list = field(default_factory=list)
    costs: list = field(default_factory=list)  # the batch's cost at that rate, before its update
    smoothed: list = field(default_factory=list)
    stopped: str = REACHED

    @property
    def warmup(self) -> int:
        """Steps of the smoothed average's warm-up: the first tenth."""
        return len(self.rates) // 10

    @property
    def lowest(self) -> int:
        """The step at the smoothed cost's minimum after the warm-up; where it rises from the warm-up's
        end on, the lowest step of the warm-up and that end (the cost rose from the start)."""
        skip = self.warmup
        k = skip + int(np.argmin(self.smoothed[skip:]))
        return int(np.argmin(self.smoothed[: skip + 1])) if k == skip else k

    @property
    def minimum(self) -> float:
        return self.rates[self.lowest]

    @property
    def suggested(self) -> float:
        return self.minimum / 10

    @property
    def steepest(self) -> float | None:
        k, skip = self.lowest, self.warmup
        if k - skip < 2:
            return None
        slope = np.gradient(np.asarray(self.smoothed[skip : k + 1]), np.log(self.rates[skip : k + 1]))
        return self.rates[skip + int(np.argmin(slope))]


def range_test(spec: Spec, low: float = 1e-7, high: float = 10.0, steps: int = 100) -> RangeTest:
    """Train `steps` steps of `spec` at exponentially rising rates from `low` to `high`."""
    if not 0 < low < high:
        raise ConfigError(f"--low {low:g} --high {high:g}: the rates need 0 < low < high")
    if steps < 2:
        raise ConfigError(f"--steps {steps}: the test needs at least 2 steps")
    trainer, batches, _ = prepare_trainer(spec)
    if trainer.stream is not None:
        trainer.stream.close()
        raise ConfigError(f"{spec.data.train}: lr-find trains on data held in memory and this file is streamed; use data.stream: never")
    out, avg, epoch, k = RangeTest(), 0.0, 0, 0
    warm = steps // 10  # the average's warm-up (RangeTest.warmup of a test that runs to the end)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # divergence is the point of the test
        for i in range(steps):
            rate = low * (high / low) ** (i / (steps - 1))
            trainer.learning_rate = rate
            if batches.full:
                trainer.use_batch(None)
                trainer.forward()
                cost = trainer.cost()
            else:
                if k == 0:
                    batches.start_epoch(epoch)
                idx = batches.indices(k)
                trainer.use_batch(idx)
                trainer.forward()
                cost = trainer.cost_total() / (trainer.loss.divisor * len(idx))
                k += 1
                if k == batches.count:
                    k, epoch = 0, epoch + 1
            if not math.isfinite(cost):
                out.stopped = f"the cost stopped being finite at rate {rate:.3g}"
                break
            avg = SMOOTHING * avg + (1 - SMOOTHING) * cost
            out.rates.append(rate)
            out.costs.append(float(cost))
            out.smoothed.append(avg / (1 - SMOOTHING ** (i + 1)))
            if out.smoothed[-1] > DIVERGED * min(out.smoothed[warm:] if i >= warm else out.smoothed):  # not a warm-up's lucky batch
                out.stopped = f"the smoothed cost passed {DIVERGED:g} times its minimum at rate {rate:.3g}"
                break
            if not trainer.backward_and_update():
                out.stopped = f"the gradient stopped being finite at rate {rate:.3g}"
                break
    if len(out.rates) < 2:
        raise ConfigError(f"lr-find: {out.stopped} in the first step; give a smaller --low")
    return out


def warnings(test: RangeTest) -> list:
    """What makes the suggestion say little: a minimum at the first or at the last rate tested."""
    k, last = test.lowest, len(test.rates) - 1
    if k == 0:
        return [
            f"the smoothed cost was lowest at the first rate tried ({test.rates[0]:.3g}), so the suggestion lies "
            "below the range tested and says little; run again with a smaller --low"
        ]
    if k <= test.warmup:
        return [
            f"the smoothed cost was lowest at {test.rates[k]:.3g}, within the average's warm-up (the first {test.warmup} steps), "
            "and rose from there on, so the suggestion lies near the bottom of the range and says little; run again with a smaller --low"
        ]
    if k == last and test.stopped == REACHED:
        return [
            f"the smoothed cost was lowest at the last rate tried ({test.rates[-1]:.3g}): it was still falling where "
            "the range ended, so the minimum may lie above it; run again with a larger --high"
        ]
    if k == last:
        return [
            f"the smoothed cost was lowest at the last rate tried ({test.rates[-1]:.3g}), just before {test.stopped}: "
            "it fell until then, so the minimum is not resolved; run again with more --steps"
        ]
    return []


def csv_text(test: RangeTest) -> str:
    lines = ["learning_rate,cost,smoothed_cost"]
    lines += [f"{r:.10g},{c:.10g},{s:.10g}" for r, c, s in zip(test.rates, test.costs, test.smoothed)]
    return "\n".join(lines) + "\n"


def write_range_test(test: RangeTest, root, name: str, settings: dict, final: bool = False) -> Path:
    """runs/lr-find-<time>-<name>/: lr_find.csv, lr_find.json, lr_find.png, put in place together
    (nnctl.util.atomic.output_set; `final`: the command's last outputs). A stop or an error while
    they are made leaves no folder."""
    folder = create_run_dir(root, name, prefix="lr-find-")
    try:
        with output_set(final=final):
            _write_range_files(folder, test, name, settings)
    except BaseException:
        with signals_held():
            shutil.rmtree(folder, ignore_errors=True)  # only what this call made: a new folder, its temporaries gone
        raise
    return folder


def _write_range_files(folder: Path, test: RangeTest, name: str, settings: dict) -> None:
    atomic_write(folder / LR_FIND_CSV, csv_text(test))
    write_json(
        folder / LR_FIND_JSON,
        {
            **settings,
            "steps_run": len(test.rates),
            "stopped": test.stopped,
            "rule": SUGGESTION,
            "suggested": test.suggested,
            "minimum": test.minimum,
            "steepest": test.steepest,
            "warmup_steps": test.warmup,
            "warnings": warnings(test),
        },
    )
    plot_lr_find(folder / LR_FIND_PNG, test.rates, test.costs, test.smoothed, test.suggested, f"{name}: learning-rate range test")
