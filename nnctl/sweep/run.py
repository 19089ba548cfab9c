"""Sweeps: one spec trained over a grid of variants, in worker processes or on a Dask cluster.

Each trial is an ordinary run of the spec with `--set`-style overrides, so it gets the spec's
seed and the same parameters as training that variant alone. A trial trains in a temporary
directory wherever it runs and sends its files back as bytes; the sweep directory on the
machine that started the sweep receives them whole, so a trial's directory is complete or absent.

runs/sweep-<time>-<name>/
    sweep.json            the plan: spec text, the config's absolute path and SHA-256, the data
                          files' absolute paths and SHA-256, trials and their overrides
    <NN-label>/           each trial's full run directory
    summary.csv, summary.json, costs.png, accuracy.png

Everything read back from a sweep directory is input: sweep.json is checked against a strict
schema (trial names are single safe path components), every trial is validated again as a spec,
the config and data files must be the ones the sweep was planned with, and trial folders must
lie inside the sweep folder.
"""

from __future__ import annotations

import hashlib
import itertools
import ipaddress
import json
import math
import os
import re
import shutil
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nnctl.spec.config import MAX_CONFIG_BYTES, Spec, read_config_text, spec_from_text
from nnctl.data.dataset import BUILTIN_PREFIX, file_sha256
from nnctl.errors import ConfigError, DivergedError, Interrupted, NnctlError, RunError
from nnctl.sweep import pruner, selection, study
from nnctl.sweep.sampler import DISTRIBUTIONS, Dist, draw, parse_dist, round_generator, split_values
from nnctl.rundir.runs import METRICS, PARAMS, atomic_write, create_run_dir, parse_json, result_fields, write_json
from nnctl.core.training import Reporter
from nnctl.util.text import quoted

PLAN = "sweep.json"
PLAN_FORMAT = 2
DASK_CONNECT_TIMEOUT = "10s"  # after the probe below has found the port open
DASK_PROBE_SECONDS = 3
DASK_CALL_SECONDS = 15  # the longest nnctl waits for the scheduler to answer a call (connect, stop, cancel)
FINISHED = ("completed", "diverged")
HALVING_MODES = ("sync", "async")
STATUSES = ("completed", "diverged", "interrupted", "failed")
NAME_MAX = 120  # bytes of a trial name: far below the 255 of a file name, room for `.NAME.tmp`
MAX_HIDDEN_LAYERS = 1000
MAX_ROUNDS = 20
MAX_TRIALS = 10_000  # a grid larger than this is a typing mistake, and its plan would take minutes to check
MAX_PLAN_BYTES = 64 << 20
MAX_METRICS_BYTES = 1 << 20
SAFE_NAME = re.compile(r"[A-Za-z0-9_=-][A-Za-z0-9_.=-]*")  # one path component, never `.`, `..` or hidden


@dataclass
class Trial:
    index: int
    name: str
    overrides: list
    values: dict  # {dimension: value shown in tables and plots}
    round: int = 1  # coarse to fine: the round that drew it


@dataclass
class SweepPlan:
    name: str
    config_path: str  # absolute
    text: str
    trials: list = field(default_factory=list)
    dimensions: list = field(default_factory=list)
    base_overrides: list = field(default_factory=list)  # --set, applied to every trial first
    config_sha256: str = ""  # of `text`, UTF-8: the config file must still hold it
    data_files: dict = field(default_factory=dict)  # absolute path -> SHA-256 (None: absent when planned)
    # a random search: {trials, seed, rounds, regions: [{key: {name, args}} per round], grid: [{overrides, values}]}
    search: Optional[dict] = None
    # successive halving: {eta, min_budget, budgets, rungs: [{round, budget, trials, promoted}]}
    halving: Optional[dict] = None
    command: Optional[list] = None


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- sweep.json, read back as input


_SHA = Field(pattern=r"^[0-9a-f]{64}$")


class _TrialRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    index: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=NAME_MAX)
    overrides: list[str]
    values: dict[str, Any]
    round: int = Field(1, ge=1, le=MAX_ROUNDS)

    @field_validator("name")
    @classmethod
    def _one_component(cls, name):
        if not SAFE_NAME.fullmatch(name):
            raise ValueError(
                f"{quoted(name)} is not a safe folder name (letters, digits and _ . = - only, not starting with a dot)"
            )
        return name


def _absolute(path: str) -> str:
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError(f"{path!r} must be an absolute, normalized path")
    return path


# names from the tables: a Literal built at run time is no static type, so to mypy each is its own type
if TYPE_CHECKING:
    DistName = str
    PlanFormat = int
    TrialStatus = str
    HalvingMode = str
    MetricName = str
else:
    DistName = Literal[tuple(DISTRIBUTIONS)]
    PlanFormat = Literal[PLAN_FORMAT]
    TrialStatus = Literal[STATUSES]
    HalvingMode = Literal[HALVING_MODES]
    MetricName = Literal[tuple(c.metric for c in selection.CRITERIA)]


class _DistRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    name: DistName
    args: list

    @model_validator(mode="after")
    def _args(self):
        why = DISTRIBUTIONS[self.name].check(self.args)
        if why:
            raise ValueError(f"{self.name} {why}")
        return self


class _GridPoint(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    overrides: list[str]
    values: dict[str, Any]


class _SearchRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    trials: int = Field(ge=1, le=MAX_TRIALS)
    seed: int = Field(ge=0, le=2**32 - 1)
    rounds: int = Field(ge=1, le=MAX_ROUNDS)
    regions: list[dict[str, _DistRecord]] = Field(min_length=1, max_length=MAX_ROUNDS)
    grid: list[_GridPoint] = Field(min_length=1)


class _RungRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    round: int = Field(ge=1, le=MAX_ROUNDS)
    budget: int = Field(ge=1)
    trials: list[str]  # asynchronous: in the order they finished the budget
    promoted: list[str]  # in the order they were promoted (synchronous: rank order)
    values: Optional[list[Optional[float]]] = None  # asynchronous: each trial's halving.metric at the budget


class _PromotionRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    trial: str
    round: int = Field(ge=1, le=MAX_ROUNDS)
    budget: int = Field(ge=1)  # the budget it had finished
    next: int = Field(ge=1)  # the budget it went on to
    finished: int = Field(ge=1)  # how many trials had finished `budget` then (its round's)


class _HalvingRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    eta: int = Field(ge=2)
    min_budget: int = Field(ge=1)
    budgets: list[int] = Field(min_length=2)
    mode: HalvingMode = "sync"
    metric: Optional[MetricName] = None  # asynchronous: what `values` hold
    rungs: list[_RungRecord]
    promotions: list[_PromotionRecord] = []  # every promotion, in the order it was made

    @model_validator(mode="after")
    def _consistent(self):
        if self.mode != "async":
            return self
        for k, rung in enumerate(self.rungs):
            if rung.budget not in self.budgets[:-1]:
                raise ValueError(f"rungs.{k}.budget: {rung.budget} is not one of the budgets below the last {self.budgets[:-1]}")
            if rung.values is None or len(rung.values) != len(rung.trials):
                raise ValueError(f"rungs.{k}.values: one value for each trial that finished the budget")
            made = [p.trial for p in self.promotions if (p.round, p.budget) == (rung.round, rung.budget)]
            if made != rung.promoted:
                raise ValueError(f"rungs.{k}.promoted: differs from the promotions recorded")
        return self


class _PlanRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    format: PlanFormat
    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=NAME_MAX)
    config_path: str
    config_sha256: str = _SHA
    text: str = Field(max_length=MAX_CONFIG_BYTES)
    trials: list[_TrialRecord] = Field(min_length=1, max_length=MAX_TRIALS)
    dimensions: list[str] = Field(min_length=1)
    base_overrides: list[str]
    data_files: dict[str, Optional[str]]
    command: Optional[list[str]] = None
    search: Optional[_SearchRecord] = None
    halving: Optional[_HalvingRecord] = None

    @field_validator("config_path")
    @classmethod
    def _config_absolute(cls, path):
        return _absolute(path)

    @field_validator("data_files")
    @classmethod
    def _data_absolute(cls, files):
        for path, digest in files.items():
            _absolute(path)
            if digest is not None and not re.fullmatch(r"[0-9a-f]{64}", digest):
                raise ValueError(f"{path}: {digest!r} is not a SHA-256")
        return files

    @model_validator(mode="after")
    def _consistent(self):
        if _sha256_text(self.text) != self.config_sha256:
            raise ValueError("text: does not match config_sha256 (the spec text was edited)")
        for k, t in enumerate(self.trials, start=1):
            if t.index != k:
                raise ValueError(f"trials.{k - 1}.index: trials are numbered 1, 2, ... in order (got {t.index})")
            if set(t.values) != set(self.dimensions):
                raise ValueError(f"trials.{k - 1}.values: must give one value for each of {self.dimensions}")
            if t.overrides[: len(self.base_overrides)] != self.base_overrides:
                raise ValueError(f"trials.{k - 1}.overrides: must start with base_overrides {self.base_overrides}")
        names = [t.name for t in self.trials]
        if len(set(names)) != len(names):
            raise ValueError("trials: two trials have the same name")
        rounds = self.search.rounds if self.search else 1
        if any(t.round > rounds for t in self.trials) or [t.round for t in self.trials] != sorted(t.round for t in self.trials):
            raise ValueError(f"trials: rounds run from 1 to {rounds}, in order")
        if self.search and len(self.search.regions) < self.trials[-1].round:
            raise ValueError("search.regions: one region for each round that has trials")
        if self.halving:
            for k, rung in enumerate(self.halving.rungs):
                if not set(rung.promoted) <= set(rung.trials) <= set(names):
                    raise ValueError(f"halving.rungs.{k}: names a trial the plan does not have")
        return self


def _plan_error(err) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "value_error":
        msg = str(err["ctx"]["error"])
        return f"{loc}: {msg}" if loc else msg
    if err["type"] == "missing":
        return f"{loc}: required key is missing"
    if err["type"] == "extra_forbidden":
        return f"{loc}: unknown key"
    shown = repr(err.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    return f"{loc}: {err['msg'].replace('Input should be', 'must be')} (got {shown})"


def trial_dir(sweep_dir: Path, name: str) -> Path:
    """A trial's folder: `name` is one safe component and the folder must lie inside the sweep."""
    if not SAFE_NAME.fullmatch(name) or len(name.encode()) > NAME_MAX:
        raise RunError(f"{sweep_dir}: trial name {quoted(name)} is not a safe folder name; the plan is damaged, start a new sweep")
    path = Path(sweep_dir) / name
    if path.is_symlink() or (path.exists() and path.resolve().parent != Path(sweep_dir).resolve()):
        raise RunError(f"{path}: a trial folder must be a real folder inside {sweep_dir}, not a link; remove it and resume")
    return path


# ---------------------------------------------------------------- the grid


def parse_grid(assignments) -> dict:
    grid = {}
    for a in assignments:
        key, sep, values = a.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ConfigError(f"--grid {a}: expected key.path=v1,v2,..., e.g. --grid train.learning_rate=0.01,0.001")
        if key.strip() in grid:
            raise ConfigError(f"--grid {key.strip()} is given twice; list all its values in one --grid, e.g. --grid {key.strip()}=1,2")
        grid[key.strip()] = split_values(values)
    return grid


def _label(value) -> str:
    if isinstance(value, list):
        return "x".join(map(str, value)) or "none"
    return str(value)


def _safe(text: str) -> str:
    return "".join(c if (c.isascii() and c.isalnum()) or c in "_.-=" else "-" for c in text)


def trial_spec(text: str, config_path, overrides) -> Spec:
    """One trial's spec, checked as far as it can be without its data: the full schema, then
    what training checks before it reads the data (the generator takes the seed).

    The planner (every variant, before anything runs), `--resume` (every trial of the plan read
    back) and the trial itself all call this, so a variant that passes here fails only on its data.
    """
    from nnctl.experiment.run import make_rng

    spec = spec_from_text(text, config_path, overrides)
    try:
        make_rng(spec)
    except (ValueError, TypeError, OverflowError) as exc:
        where = f"{config_path}" + (f" (with --set {' --set '.join(overrides)})" if overrides else "")
        raise ConfigError(
            f"{where}: train.seed: the {spec.model.init_rng} generator refuses {spec.train.seed} ({exc}); "
            "give a seed from 0 to 4294967295"
        ) from None
    return spec


def _trial_name(index: int, label: str) -> str:
    """`NN-label`, one safe path component; a label too long for a folder name is cut and given
    a hash of the whole, so names stay unique (the number alone already makes them so)."""
    name = _safe(f"{index:02d}-{label}")
    if len(name) > NAME_MAX:
        name = f"{name[: NAME_MAX - 11]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


def _check_values(dimension: str, option: str, values) -> None:
    seen = set()
    for v in values:
        key = json.dumps(v, sort_keys=True)
        if key in seen:
            raise ConfigError(f"{option}: {'the count' if dimension == 'hidden_layers' else 'the value'} {key} is given twice; give each value once")
        seen.add(key)


def _data_paths(spec: Spec) -> list:
    return [p for p in (spec.data.train, spec.data.test) if p is not None and not p.startswith(BUILTIN_PREFIX)]


def _hash_if_file(path: str):
    return file_sha256(path) if os.path.isfile(path) else None


def _yaml_number(v) -> str:
    """A value as an override YAML reads back unchanged: 1e-05 is a string to YAML 1.1, 1.0e-05 a float."""
    text = json.dumps(v)
    if isinstance(v, float) and "e" in text and "." not in text:
        text = text.replace("e", ".0e")
    return text


def _shown(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else _label(v)


class Search(NamedTuple):
    """A random search as asked for: the space {key: Dist}, draws per round, seed, rounds."""

    space: dict
    trials: int
    seed: int
    rounds: int = 1


class Halving(NamedTuple):
    eta: int
    min_budget: int
    mode: str = "sync"  # or "async": ASHA, promotions as trials finish (docs/search.md)


def search_from(spec: Spec, config_path, space=None, trials=None, seed=None, rounds=None) -> Search | None:
    """The search: command-line choices replace the spec's `search:` section key by key."""
    block = spec.search
    merged = {key: parse_dist(text, f"{config_path}: search.space.{key}") for key, text in (block.space.items() if block else ())}
    merged.update(space or {})
    trials = trials if trials is not None else (block.trials if block else None)
    rounds = rounds if rounds is not None else (block.rounds if block else 1)
    if not merged:
        if trials is not None or rounds != 1:
            raise ConfigError(f"--{'trials' if trials is not None else 'rounds'} draws values at random: give what to draw, "
                              "e.g. --search \"train.learning_rate=loguniform(1e-4,1)\" (or search.space in the spec)")
        return None
    if trials is None:
        raise ConfigError("--search needs the number of random draws: give --trials N (or search.trials in the spec)")
    seed = seed if seed is not None else (block.seed if block and block.seed is not None else spec.train.seed)
    return Search(merged, trials, seed, rounds)


def halving_from(spec: Spec, eta=None, min_budget=None, mode=None) -> Halving | None:
    block = spec.search
    eta = eta if eta is not None else (block.halving if block else None)
    min_budget = min_budget if min_budget is not None else (block.min_budget if block else None)
    given = mode is not None
    mode = mode if given else (block.halving_mode if block else None)
    if mode is not None and mode not in HALVING_MODES:
        raise ConfigError(f"--halving-mode {mode}: must be sync (rung by rung, reproducible) or async (ASHA: promote as trials finish)")
    if eta is None:
        if min_budget is not None:
            raise ConfigError("--min-budget is the first budget of successive halving: add --halving ETA (e.g. 3), or leave it out")
        if given:
            raise ConfigError(f"--halving-mode {mode} is a way of successive halving: add --halving ETA (e.g. 3) and --min-budget, or leave it out")
        if mode is not None:
            raise ConfigError(f"search.halving_mode: {mode} is a way of successive halving: add search.halving (e.g. 3) and "
                              "search.min_budget, or leave it out")
        return None
    if min_budget is None:
        raise ConfigError(f"--halving {eta}: give the first budget in epochs (iterations for a full-batch spec), e.g. --min-budget 10")
    return Halving(eta, min_budget, mode or "sync")


def _dims(spec: Spec, hidden_layers, width, grid, base_overrides) -> list:
    """[(dimension, [(shown value, [overrides])])] of the grid: hidden layers, then every --grid key."""
    block = spec.sweep
    hidden_layers = hidden_layers if hidden_layers is not None else (block.hidden_layers if block else None)
    width = width if width is not None else (block.width if block else None)
    stacks = block.hidden if block and hidden_layers is None else None
    merged = {**(block.grid if block else {}), **(grid or {})}

    dims = []
    if hidden_layers is not None:
        bad = [k for k in hidden_layers if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_HIDDEN_LAYERS]
        if bad:
            raise ConfigError(
                f"--hidden-layers {','.join(map(str, hidden_layers))}: a count of hidden layers is a whole number "
                f"from 0 to {MAX_HIDDEN_LAYERS} (got {bad[0]})"
            )
        _check_values("hidden_layers", "--hidden-layers", hidden_layers)
        if width is None:
            raise ConfigError(
                "--hidden-layers needs the width of each hidden layer: give --width N (or sweep.width), "
                "or list the stacks in the spec's sweep.hidden"
            )
        dims.append(("hidden_layers", [(k, ["model.layers=null", f"model.hidden={[width] * k}"]) for k in hidden_layers]))
    elif stacks:
        dims.append(("model.hidden", [(s, ["model.layers=null", f"model.hidden={s}"]) for s in stacks]))
    set_keys = {a.partition("=")[0].strip(): a for a in base_overrides}
    for key, values in merged.items():
        if dims and dims[0][0] in ("hidden_layers", "model.hidden") and key in ("model.hidden", "model.layers"):
            raise ConfigError(f"--grid {key}: the hidden layers are already swept; give one or the other")
        if key in set_keys:
            raise ConfigError(f"--set {set_keys[key]} and --grid {key} set the same key; the grid replaces it in every trial, so drop the --set")
        _check_values(key, f"--grid {key}", values)
        dims.append((key, [(v, [f"{key}={json.dumps(v)}"]) for v in values]))
    return dims


def plan_sweep(spec: Spec, text: str, config_path, hidden_layers=None, width=None, grid=None, base_overrides=(),
               search: Search | None = None, halving: Halving | None = None) -> SweepPlan:
    """The trials: the product of the hidden-layer dimension and every grid key, crossed with
    `search.trials` random draws when there is a search (each draw tried at every grid point).

    Command-line choices replace the spec's `sweep:` block dimension by dimension; `spec` is the
    spec with `base_overrides` (--set) already applied. The config path is stored absolute, with
    the SHA-256 of its text and of every data file the trials read. A search's draws come from
    `round_generator(seed, 1)` and are stored in the plan (later rounds are drawn when they start).
    """
    config_path = Path(os.path.abspath(config_path))
    dims = _dims(spec, hidden_layers, width, grid, base_overrides)
    if any(not choices for _, choices in dims) or (not dims and search is None):
        raise ConfigError(
            "nothing to sweep: give --hidden-layers with --width, --grid key=v1,v2, --trials N with --search key=DIST, "
            "or a sweep: or search: section in the spec"
        )
    swept = {d for d, _ in dims}
    set_keys = {a.partition("=")[0].strip(): a for a in base_overrides}
    for key in search.space if search else ():
        if key in swept:
            raise ConfigError(f"--search {key} and --grid {key} both vary it; keep one of them")
        if key in set_keys:
            raise ConfigError(f"--set {set_keys[key]} and --search {key} set the same key; drop the --set")
    draws = search.trials if search else 1
    count = math.prod(len(choices) for _, choices in dims) * draws * (search.rounds if search else 1)
    if count > MAX_TRIALS:
        sizes = " × ".join([f"{len(c)} {d}" for d, c in dims] + ([f"{draws} draws × {search.rounds} rounds"] if search else []))
        raise ConfigError(f"the {'sweep' if search else 'grid'} makes {count:,} trials ({sizes}); a sweep has at most {MAX_TRIALS:,}: sweep fewer values")

    plan = SweepPlan(
        name=spec.name or "sweep", config_path=str(config_path), text=text,
        dimensions=[d for d, _ in dims] + list(search.space if search else ()),
        base_overrides=list(base_overrides), config_sha256=_sha256_text(text),
    )
    points = [
        {"overrides": [o for _, ovs in combo for o in ovs], "values": {d: v for (d, _), (v, _) in zip(dims, combo)}}
        for combo in itertools.product(*(choices for _, choices in dims))
    ]
    if search is None:
        plan.trials = [_make_trial(plan, i, p, {}) for i, p in enumerate(points, start=1)]
    else:
        plan.search = {
            "trials": search.trials, "seed": search.seed, "rounds": search.rounds,
            "regions": [{k: d._asdict() for k, d in search.space.items()}], "grid": points,
        }
        _draw_round(plan, 1)
    if halving is not None:
        plan.halving = _plan_halving(spec, plan, halving)
    _hash_data(plan)
    return plan


def _make_trial(plan: SweepPlan, index: int, point: dict, drawn: dict, round_number: int = 1) -> Trial:
    overrides = [*plan.base_overrides, *point["overrides"], *(f"{k}={_yaml_number(v)}" for k, v in drawn.items())]
    values = {**point["values"], **drawn}
    # the trial's name shows only what varies
    label = "_".join(f"{d.split('.')[-1]}={_shown(v) if d in drawn else _label(v)}" for d, v in values.items())
    return Trial(index, _trial_name(index, label), overrides, values, round_number)


def _draw_round(plan: SweepPlan, round_number: int) -> list:
    """Append round `round_number`'s trials: `trials` draws from its region, each at every grid point."""
    assert plan.search is not None  # rounds are a random search's
    rng = round_generator(plan.search["seed"], round_number)
    space = study.region(plan, round_number)
    index = len(plan.trials)
    new = []
    for _ in range(plan.search["trials"]):
        drawn = draw(space, rng)
        for point in plan.search["grid"]:
            index += 1
            new.append(_make_trial(plan, index, point, drawn, round_number))
    plan.trials.extend(new)
    return new


def _hash_data(plan: SweepPlan, trials=None) -> None:
    for trial in trials or plan.trials:  # every variant is checked before anything runs
        for path in _data_paths(trial_spec(plan.text, plan.config_path, trial.overrides)):
            if path not in plan.data_files:
                plan.data_files[path] = _hash_if_file(path)


def _plan_halving(spec: Spec, plan: SweepPlan, h: Halving) -> dict:
    for key in ("train.epochs", "train.iterations"):
        if key in plan.dimensions:
            raise ConfigError(f"--halving sets each trial's training length itself; do not sweep {key} with it")
    total = spec.train.epoch_count
    unit = "epochs" if spec.train.epochs is not None else "iterations"
    if h.min_budget * h.eta > total:
        raise ConfigError(
            f"--min-budget {h.min_budget}: with --halving {h.eta} the next budget ({h.min_budget * h.eta}) passes "
            f"train.{unit} ({total}); give a smaller --min-budget or more train.{unit}"
        )
    return {"eta": h.eta, "min_budget": h.min_budget, "budgets": pruner.budgets(h.min_budget, total, h.eta), "mode": h.mode,
            "metric": None, "rungs": [], "promotions": []}


# ---------------------------------------------------------------- one trial, anywhere


class _QueueReporter(Reporter):
    """Sends a trial's progress to the sweep's display, a few times a second at most."""

    def __init__(self, queue, index):
        self.queue, self.index, self.last = queue, index, 0.0

    def on_start(self, total, start):
        self.queue.put(("start", self.index, start, total))

    def on_cost(self, iteration, cost):
        self.queue.put(("cost", self.index, iteration, cost))

    def on_tick(self, iteration):
        now = time.monotonic()
        if now - self.last > 0.25:
            self.last = now
            self.queue.put(("tick", self.index, iteration, None))


def _check_worker_data(spec: Spec, expected: dict) -> None:
    """The data files this machine reads must be the ones the sweep was planned with."""
    for path in _data_paths(spec):
        digest = expected.get(path)
        if digest is not None and os.path.isfile(path) and file_sha256(path) != digest:
            raise RunError(
                f"{path}: this file differs from the one the sweep was planned with (SHA-256); "
                "give every worker the same data files"
            )


class _StopFlag:
    """What a trial asks after each iteration: has the sweep been told to stop?

    Locally: the pool's shared event, or SIGTERM sent to the worker itself; on Dask: a cluster-wide
    `distributed.Event`. Asked at most every `every` seconds, so it costs nothing per iteration.
    """

    def __init__(self, event=None, every=0.05):
        self.event, self.every, self.last, self.set = event, every, 0.0, False

    def __call__(self) -> bool:
        if self.set or _SIGTERMED:
            return True
        now = time.monotonic()
        if self.event is not None and now - self.last >= self.every:
            self.last = now
            try:
                self.set = bool(self.event.is_set())
            except Exception:  # the scheduler is gone: the sweep's parent stopped
                self.set = True
        return self.set


def _stop_flag(payload) -> _StopFlag:
    if _WORKER_STOP is not None:
        return _StopFlag(_WORKER_STOP)
    if payload.get("stop_event"):
        try:
            from distributed import Event

            return _StopFlag(Event(payload["stop_event"]), every=1.0)
        except Exception:  # not on a Dask worker
            pass
    return _StopFlag()


def run_trial(payload: dict) -> dict:
    """Train one trial in a temporary directory and return its status and files as bytes.

    Depends on nothing of the machine it runs on but the absolute paths in the payload (not the
    working directory). An interrupted trial comes back with its checkpoint; given `resume_files`
    (such a trial's files) it continues from that checkpoint. Progress goes to the local pool's
    queue where there is one (not on Dask).
    """
    from threadpoolctl import threadpool_limits

    from nnctl.experiment.run import train_run

    stop = _stop_flag(payload)
    result = {"index": payload["index"], "name": payload["name"], "status": "failed", "message": None, "files": {}}
    if stop():  # the sweep stopped before this trial began: it stays pending
        return {**result, "status": "pending"}
    reporter = _QueueReporter(_WORKER_QUEUE, payload["index"]) if _WORKER_QUEUE is not None else None
    with threadpool_limits(payload.get("blas_threads")), tempfile.TemporaryDirectory(prefix="nnctl-trial-") as tmp:
        run_dir = Path(tmp) / payload["name"]
        result["run_dir"] = str(run_dir)  # messages name it; the sweep puts the trial's real folder in its place
        try:
            spec = trial_spec(payload["text"], payload["config_path"], payload["overrides"])
            _check_worker_data(spec, payload.get("data_files", {}))
            budget = payload.get("stop_at")  # a rung of successive halving: no pictures until the trial ends
            if payload.get("resume_files"):
                run_dir.mkdir()
                for name, data in payload["resume_files"].items():
                    (run_dir / name).write_bytes(data)
                summary = train_run(spec, run_dir=run_dir, reporter=reporter, should_stop=stop, resume=True,
                                    stop_at_epoch=budget, pictures=budget is None)
            else:
                summary = train_run(
                    spec, config_text=payload["text"], run_dir=run_dir, reporter=reporter, command=payload["command"], should_stop=stop,
                    stop_at_epoch=budget, pictures=budget is None,
                )
            result["status"] = summary.status
        except DivergedError as exc:
            result["status"], result["message"] = "diverged", str(exc)
        except NnctlError as exc:
            result["message"] = str(exc)
        except Exception:  # a bug: keep the traceback in the trial's record
            result["message"] = "unexpected error:\n" + traceback.format_exc()
        if run_dir.is_dir():
            result["files"] = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    return result


_WORKER_QUEUE = None
_WORKER_STOP = None
_SIGTERMED = False


def _on_sigterm(signum, frame):
    global _SIGTERMED
    _SIGTERMED = True  # the trial stops after this iteration and comes back interrupted


def _worker_init(queue, stop):
    """Workers ignore Ctrl-C (the parent decides, and tells them through `stop`), treat SIGTERM
    as a stop request, and report progress on the pool's queue."""
    import signal

    global _WORKER_QUEUE, _WORKER_STOP
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _on_sigterm)
    # the worker was started with both signals blocked (_spawning): a Ctrl-C that reached it while
    # it started is dropped now, a SIGTERM becomes a stop request (its trial stays pending)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    # The queue carries progress only (results come back through the executor). A worker killed
    # with kill -9 in the middle of a put leaves the queue's write lock held for good; without this,
    # every later worker would hang at exit, flushing progress nobody can take any more.
    queue.cancel_join_thread()
    _WORKER_QUEUE, _WORKER_STOP = queue, stop


# ---------------------------------------------------------------- executors


@contextmanager
def _spawning():
    """SIGINT and SIGTERM held off (the kernel keeps them pending) while worker processes start.

    A terminal's Ctrl-C goes to every process of the group. A worker still starting (importing
    NumPy, before `_worker_init` ignores Ctrl-C) died of it, and its trial was counted failed, "its
    worker process died", instead of staying pending for --resume. A process inherits the signal
    mask of the thread that starts it, so a worker started in here begins with both signals blocked
    and `_worker_init` decides what they mean. The parent's own handler runs once they are unblocked
    (or at once in another thread of the parent): nothing is lost there either.
    """
    import signal
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # it unblocks both signals when it starts its own process: not in here
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _lost(payload, why) -> dict:
    return {"index": payload["index"], "name": payload["name"], "status": "failed", "message": why, "files": {}}


WORKER_DIED = (
    "its worker process died before the trial finished (killed by the OOM killer, by kill -9, or a crash "
    "in native code); if it ran out of memory, give it fewer --jobs or smaller layers, then --resume"
)


class Payloads:
    """What an executor runs: `next()` gives the payload for a worker that is free (None: nothing
    now), `size` the most trials there can be. A plain list is handed out in order, all at once
    where the executor queues them itself (Dask); asynchronous halving decides only when a
    worker asks (`dynamic`), so it never has more trials out than there are workers."""

    def __init__(self, next_payload, size: int, dynamic: bool = True):
        self.next, self.size, self.dynamic = next_payload, size, dynamic

    @classmethod
    def of(cls, payloads) -> "Payloads":
        if isinstance(payloads, Payloads):
            return payloads
        todo = list(payloads)
        return cls(lambda: todo.pop(0) if todo else None, len(todo), dynamic=False)


def run_local(payloads, jobs, on_event, on_result, should_stop=lambda: False):
    """Trials in `jobs` spawned worker processes; progress comes back on a queue.

    `payloads` is a list or a `Payloads`, asked for the next trial whenever a worker is free.
    Each worker is its own one-process executor, so a worker that dies (OOM killer, kill -9)
    fails only the trial it was running: that executor is replaced and the other trials go on.
    When `should_stop()` turns true, running trials are told to stop after their current
    iteration and come back interrupted, with their checkpoints; no new trial starts. A
    KeyboardInterrupt (a second Ctrl-C) kills the workers at once.
    """
    import multiprocessing as mp
    import queue as queue_mod
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    source = Payloads.of(payloads)
    ctx = mp.get_context("spawn")
    q, stop = ctx.Queue(), ctx.Event()
    blas = max(1, (os.cpu_count() or 1) // jobs)

    def new_worker():
        return ProcessPoolExecutor(1, mp_context=ctx, initializer=_worker_init, initargs=(q, stop))

    workers = [None] * min(jobs, source.size)  # each started when it is first given a trial
    running = {}  # future -> (worker number, payload)

    def events():
        try:
            while True:
                on_event(*q.get_nowait())
        except queue_mod.Empty:
            pass

    try:
        while True:
            if not stop.is_set() and should_stop():
                stop.set()  # no new trial starts
            busy = {w for w, _ in running.values()}
            for w in range(len(workers)):
                if w in busy or stop.is_set():
                    continue
                p = source.next()
                if p is None:
                    break
                p["blas_threads"] = blas
                workers[w] = workers[w] or new_worker()
                with _spawning():  # the executor starts its worker process in submit
                    running[workers[w].submit(run_trial, p)] = (w, p)
            if not running:
                break
            done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
            events()
            for future in done:
                w, p = running.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    workers[w].shutdown(wait=False)
                    workers[w] = new_worker()  # for the trials still to come
                    result = _lost(p, WORKER_DIED)
                if result["status"] != "pending":
                    on_result(result)
    except BaseException:
        _kill([w for w in workers if w is not None])
        raise
    finally:
        for ex in workers:
            if ex is not None:
                ex.shutdown(wait=True, cancel_futures=True)
        q.close()


def _kill(executors) -> None:
    """Stop worker processes at once (a second Ctrl-C): their trials are lost, nothing is stored."""
    for ex in executors:
        for proc in list((getattr(ex, "_processes", None) or {}).values()):
            try:
                proc.kill()
            except (OSError, ValueError, AttributeError):
                pass


HOST_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")  # RFC 1123: 1-63 characters, no '-' at either end


def _valid_host(host: str) -> bool:
    """An IP address, or a host name of RFC 1123 labels (at most 253 characters)."""
    if host.startswith("["):
        try:
            return ipaddress.ip_address(host[1:-1]).version == 6
        except ValueError:
            return False
    if re.fullmatch(r"[0-9.]+", host):
        try:
            return ipaddress.ip_address(host).version == 4
        except ValueError:
            return False
    labels = host[:-1].split(".") if host.endswith(".") else host.split(".")
    return len(host) <= 253 and all(HOST_LABEL.fullmatch(label) for label in labels)


def parse_address(address: str) -> str:
    """tcp://HOST:PORT (or tls://, or HOST:PORT) with a valid host; anything else is refused before connecting."""
    m = re.fullmatch(r"(?:(tcp|tls)://)?(\[[0-9A-Fa-f:]+\]|[A-Za-z0-9._-]+):([0-9]{1,5})", address.strip())
    if not m or not 0 < int(m.group(3)) < 65536:
        raise NnctlError(
            f"--address {address}: expected the Dask scheduler as tcp://HOST:PORT, e.g. --address tcp://10.0.0.5:8786"
        )
    if not _valid_host(m.group(2)):
        raise NnctlError(
            f"--address {address}: {m.group(2)[:80]} is not a valid host name or IP address (labels of 1 to 63 letters, "
            "digits and '-', not starting or ending with '-'); e.g. --address tcp://10.0.0.5:8786"
        )
    return f"{m.group(1) or 'tcp'}://{m.group(2)}:{int(m.group(3))}"


def within(seconds: float, func, what: str, should_stop=lambda: False):
    """func() in a daemon thread, waited on for at most `seconds`: a Dask scheduler that accepts a
    connection and never answers cannot hang the sweep, and a stop request (SIGINT, SIGTERM) is
    seen within 0.1 s meanwhile. Raises NnctlError naming `what` on a timeout, Interrupted on a stop."""
    box = {}

    def call():
        try:
            box["value"] = func()
        except BaseException as exc:  # noqa: BLE001  (raised again in the caller's thread)
            box["error"] = exc

    thread = threading.Thread(target=call, daemon=True, name="nnctl-dask-call")
    thread.start()
    deadline = time.monotonic() + seconds
    while thread.is_alive():
        thread.join(0.1)
        if thread.is_alive() and should_stop():
            raise Interrupted(f"stopped while waiting for {what}")
        if thread.is_alive() and time.monotonic() > deadline:
            raise NnctlError(f"{what}: no answer within {seconds:g} s; is it a Dask scheduler, and is it running? check --address")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def run_dask(payloads, address, on_event, on_result, should_stop=lambda: False, client=None, blas_threads=1):
    """The same trials on a Dask cluster, through Dask's own API.

    A list of payloads is submitted at once (Dask queues them); a dynamic `Payloads` is asked for a
    trial whenever fewer trials run than the cluster has worker threads, so each is decided when a
    worker is free (asynchronous halving). On a stop request a cluster-wide event tells running
    trials to stop after their current iteration; they come back interrupted with their
    checkpoints, trials not yet begun stay pending.
    """
    import uuid

    try:
        from distributed import Event, as_completed
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    source = Payloads.of(payloads)
    own = client is None
    if own:
        client = connect_dask(address)
    futures = {}
    try:
        stop = Event(f"nnctl-stop-{uuid.uuid4().hex}", client=client)
        pending = as_completed(loop=client.loop)
        stopping = False

        def fill():
            slots = _dask_slots(client) if source.dynamic else None
            while not stopping and (slots is None or pending.count() < slots):
                p = source.next()
                if p is None:
                    return
                p["blas_threads"], p["stop_event"] = blas_threads, stop.name
                future = client.submit(run_trial, p, pure=False, key=f"nnctl-{p['sweep']}-{p['name']}-{uuid.uuid4().hex[:8]}")
                futures[future] = p
                pending.add(future)
                on_event("start", p["index"], 0, None)

        fill()
        while not pending.is_empty():
            if not stopping and should_stop():
                stopping = True
                within(DASK_CALL_SECONDS, stop.set, f"the Dask scheduler at {client.scheduler.address}")
            batch = pending.next_batch(block=False) or []
            for future in batch:
                try:
                    result = future.result()
                except Exception as exc:  # the worker died or could not run the task
                    result = _lost(futures[future], f"dask: {exc}")
                if result["status"] != "pending":
                    on_result(result)
            if batch:
                fill()
            time.sleep(0.05)
    except BaseException:
        _quietly(lambda: within(DASK_CALL_SECONDS // 3, lambda: client.cancel(list(futures)), "cancelling the trials"))
        raise
    finally:
        if own:
            _quietly(lambda: within(DASK_CALL_SECONDS // 3, client.close, "closing the Dask client"))


def _dask_slots(client) -> int:
    """How many trials the cluster runs at once now: its workers' threads (at least one)."""
    threads = within(DASK_CALL_SECONDS, client.nthreads, f"the Dask scheduler at {client.scheduler.address}")
    return max(1, sum(threads.values()))


def _quietly(func) -> None:
    """A clean-up call to the scheduler: one that fails or times out must not hide why the sweep stopped."""
    try:
        func()
    except Exception:  # noqa: BLE001
        pass


def connect_dask(address, timeout=None, should_stop=lambda: False):
    try:
        from distributed import Client
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    try:
        return within(DASK_CALL_SECONDS, lambda: Client(address, timeout=timeout or DASK_CONNECT_TIMEOUT),
                      f"the Dask scheduler at {address}", should_stop)
    except (NnctlError, Interrupted):
        raise
    except Exception as exc:  # refused, timed out, or another server that answers something else
        why = (str(exc).splitlines() or [""])[0][:120] or exc.__class__.__name__
        raise NnctlError(
            f"cannot talk to a Dask scheduler at {address} ({exc.__class__.__name__}: {why}); is it a Dask scheduler? check --address"
        ) from None


# ---------------------------------------------------------------- the sweep directory


def _store_trial(sweep_dir: Path, trial: Trial, result: dict) -> None:
    """Write a trial's files into a hidden folder, then rename it into place.

    The folder is named by the plan's trial, never by what came back from a worker, and only
    plain file names are written.
    """
    target = trial_dir(sweep_dir, trial.name)
    # a message written where the trial trained names its temporary folder, gone once the trial
    # returned ("Run kept at /tmp/nnctl-trial-.../02-x"): it names the trial's own folder instead
    where = result.get("run_dir")
    moved = (lambda text: text.replace(where, str(target)) if isinstance(text, str) else text) if isinstance(where, str) and where else (lambda text: text)
    result["message"] = moved(result.get("message"))
    tmp = sweep_dir / f".{trial.name}.tmp"
    if tmp.is_symlink() or tmp.is_file():
        tmp.unlink()
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, data in result["files"].items():
        if SAFE_NAME.fullmatch(name) and isinstance(data, bytes):
            (tmp / name).write_bytes(data)
    metrics = _json_or_empty(result["files"].get(METRICS))
    said = metrics.get("message")
    if result["status"] != "completed" or metrics.get("status") != result["status"] or moved(said) != said:
        metrics.update(status=result["status"], message=result["message"] if result["status"] != "completed" else moved(said))
        write_json(tmp / METRICS, metrics)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def _json_or_empty(data) -> dict:
    try:
        value = parse_json(data) if data is not None else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _finite_or_none(v):
    return v if v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)) else None


class _TrialMetrics(BaseModel):
    """The part of a trial's metrics.json that the sweep reads; the rest is the run's own."""

    model_config = ConfigDict(extra="allow")
    status: TrialStatus
    layers: Optional[list[int]] = None
    train_accuracy: Optional[float] = Field(None, ge=0, le=100)
    test_accuracy: Optional[float] = Field(None, ge=0, le=100)
    train_rmse: Optional[float] = Field(None, ge=0)
    test_rmse: Optional[float] = Field(None, ge=0)
    final_cost: Optional[float] = None
    iterations: Optional[int] = Field(None, ge=0)
    epochs: Optional[int] = Field(None, ge=0)
    seconds: Optional[float] = Field(None, ge=0)
    message: Optional[str] = None
    validation_accuracy: Optional[float] = Field(None, ge=0, le=100)
    validation_rmse: Optional[float] = Field(None, ge=0)
    validation_cost: Optional[float] = None


def trial_metrics(sweep_dir: Path, trial: Trial) -> dict:
    """A trial's checked metrics: {"status": "pending"} when it has none, "failed" when they are damaged."""
    path = trial_dir(sweep_dir, trial.name) / METRICS
    if not path.exists():
        return {"status": "pending"}
    try:
        if path.is_symlink() or not path.is_file():
            raise ValueError("not a regular file")
        if path.stat().st_size > MAX_METRICS_BYTES:
            raise ValueError(f"over {MAX_METRICS_BYTES // 1024} KiB")
        raw = parse_json(path.read_text())
        m = _TrialMetrics.model_validate(raw).model_dump()
    except (OSError, ValueError, RecursionError) as exc:  # ValidationError is a ValueError
        what = _plan_error(exc.errors()[0]) if isinstance(exc, ValidationError) else str(exc).splitlines()[0]
        return {"status": "failed", "message": f"{path}: damaged metrics ({what}); --resume trains this trial again"}
    m = {k: _finite_or_none(v) if k not in ("status", "message", "layers") else v for k, v in m.items()}
    if m["status"] == "completed":  # a finished trial has its results and its parameters, or it is trained again
        lacking = [k for k in ("final_cost", "iterations", "layers") if m.get(k) is None]
        if m.get("train_accuracy") is None and m.get("train_rmse") is None:
            lacking.append("train_accuracy or train_rmse")
        params = path.parent / PARAMS
        if params.is_symlink() or not params.is_file():
            lacking.append(PARAMS)
        if lacking:
            return {"status": "failed", "message": f"{path}: a completed trial without {', '.join(lacking)}; --resume trains this trial again"}
    return m


def trial_status(sweep_dir: Path, trial: Trial) -> str:
    return trial_metrics(sweep_dir, trial)["status"]


def _read_json_bounded(path: Path, limit: int, fix: str):
    """JSON from a file of at most `limit` bytes, nested no deeper than json allows, as one error line."""
    try:
        if path.is_symlink() or not path.is_file():
            raise RunError(f"{path}: not a regular file; {fix}")
        if path.stat().st_size > limit:
            raise RunError(f"{path}: over {limit >> 20} MiB, too large to be what nnctl wrote; {fix}")
        return parse_json(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunError(f"{path}: cannot be read ({exc.__class__.__name__}); {fix}") from None
    except ValueError as exc:
        raise RunError(f"{path}: not valid JSON ({(str(exc).splitlines() or [''])[0]}); {fix}") from None


def load_plan(sweep_dir) -> SweepPlan:
    """The plan in a sweep directory, checked against the strict schema of sweep.json."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / PLAN
    if not path.exists():
        raise RunError(f"{sweep_dir}: not a sweep directory (no {PLAN}); give a runs/sweep-... directory to --resume")
    data = _read_json_bounded(path, MAX_PLAN_BYTES, "the plan is damaged, start a new sweep")
    if not isinstance(data, dict):
        raise RunError(f"{path}: the plan must be a JSON object (got a {type(data).__name__}); the plan is damaged, start a new sweep")
    if "format" not in data:
        raise RunError(f"{path}: written by an older nnctl (no format); start a new sweep")
    try:
        record = _PlanRecord.model_validate(data)
    except ValidationError as exc:
        raise RunError(f"{path}: {_plan_error(exc.errors()[0])}; the plan is damaged or was edited, start a new sweep") from None
    plan = SweepPlan(**record.model_dump(exclude={"format", "trials"}))
    for rung in plan.halving["rungs"] if plan.halving else ():
        if rung["values"] is None:
            del rung["values"]  # synchronous halving's rungs have none: read back as written
    plan.trials = [Trial(**t.model_dump()) for t in record.trials]
    for t in plan.trials:
        trial_dir(sweep_dir, t.name)
    return plan


def check_resume(plan: SweepPlan, sweep_dir: Path) -> None:
    """Refuse to resume a plan whose config or data files changed, or whose trials no longer validate."""
    config = Path(plan.config_path)
    if not config.is_file():
        raise RunError(
            f"{config}: the config file this sweep was planned from is gone (see {sweep_dir / PLAN}); "
            "put it back or start a new sweep"
        )
    if _sha256_text(read_config_text(config)) != plan.config_sha256:
        raise RunError(
            f"{config}: the config file changed since the sweep started (its SHA-256 differs from {sweep_dir / PLAN}); "
            "resuming would mix two specs: restore it or start a new sweep"
        )
    for path, digest in plan.data_files.items():
        if digest is None:
            continue  # absent when planned: its trials failed, and the file may have been made since
        if not os.path.isfile(path):
            raise RunError(f"{path}: the data file this sweep was planned with is gone; put it back or start a new sweep")
        if file_sha256(path) != digest:
            raise RunError(
                f"{path}: the data changed since the sweep started (its SHA-256 differs from {sweep_dir / PLAN}); "
                "finished trials used the old file: restore it or start a new sweep"
            )
    for t in plan.trials:
        try:
            trial_spec(plan.text, plan.config_path, t.overrides)
        except ConfigError as exc:
            raise RunError(f"{sweep_dir / PLAN}: trial {t.name}: {exc}") from None
    check_trials_as_planned(plan, sweep_dir / PLAN)


def _point_overrides(dimension: str, value, width) -> list:
    """The overrides `plan_sweep` makes of one grid dimension's value: [[...], ...], each form it can take."""
    if dimension == "hidden_layers":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HIDDEN_LAYERS:
            return []
        return [["model.layers=null", f"model.hidden={[width if width is not None else 1] * value}"]]
    forms = [[f"{dimension}={json.dumps(value)}"]]  # --grid
    if dimension == "model.hidden":
        forms.append(["model.layers=null", f"model.hidden={value}"])  # the spec's sweep.hidden stacks
    return forms


def _width(trial: Trial):
    """The width of a --hidden-layers trial's layers, as its overrides give it (None: no hidden layer)."""
    for o in trial.overrides:
        if (m := re.fullmatch(r"model\.hidden=\[([0-9]{1,9})(?:, [0-9]{1,9})*\]", o)):
            return int(m.group(1))
    return None


def _shown_list(items) -> str:
    text = " ".join(items)
    return text if len(text) <= 120 else text[:117] + "..."


def check_trials_as_planned(plan: SweepPlan, where) -> None:
    """Each trial's overrides and name must be the ones its values give, as `plan_sweep` made them.

    A trial's folder is named after its values; sweep.json keeps the overrides it trains with. An
    edited override (train.seed=9 in the trial named 02-seed=4) would train another trial under the
    old name, beside finished trials of the old plan, and the summary would show the old value: a
    wrong answer with exit 0. Refused naming the trial.
    """
    drawn_keys = list(plan.search["regions"][0]) if plan.search else []
    grid_dims = [d for d in plan.dimensions if d not in drawn_keys]
    widths: dict[int, str] = {}
    fix = "sweep.json was edited, and resuming would train another trial under this name; restore sweep.json or start a new sweep"
    for t in plan.trials:
        width = _width(t) if "hidden_layers" in grid_dims else None
        if width is not None:
            widths.setdefault(width, t.name)
        base = list(plan.base_overrides)
        forms: list[list[str]] = [[]]
        for d in grid_dims:
            forms = [f + o for f in forms for o in _point_overrides(d, t.values[d], width)]
        if plan.search:
            values = {d: t.values[d] for d in grid_dims}
            points = [p for p in plan.search["grid"] if p["values"] == values]
            if not points or not any(points[0]["overrides"] == f for f in forms):
                raise RunError(f"{where}: trial {t.name}: its grid values {json.dumps(values)[:120]} are not a point of search.grid as planned; {fix}")
            forms = [points[0]["overrides"]]
        drawn = [f"{k}={_yaml_number(t.values[k])}" for k in drawn_keys]
        expected = [base + f + drawn for f in forms]
        if t.overrides not in expected:
            want = expected[0] if expected else []
            said = [o for o in t.overrides if o not in want] or t.overrides
            given = [o for o in want if o not in t.overrides] or want
            raise RunError(
                f"{where}: trial {t.name}: overrides {_shown_list(said)}, but its values {json.dumps(t.values)[:120]} give "
                f"{_shown_list(given) or 'none'}; {fix}"
            )
        point = {"overrides": [], "values": {d: t.values[d] for d in grid_dims}}
        name = _make_trial(plan, t.index, point, {k: t.values[k] for k in drawn_keys}, t.round).name
        if t.name != name:
            raise RunError(f"{where}: trial {t.name}: its number and values {json.dumps(t.values)[:120]} give the name {name}; {fix}")
    if len(widths) > 1:
        (first, _), (other, name) = list(widths.items())[:2]
        raise RunError(
            f"{where}: trial {name}: hidden layers of width {other}, but trial {widths[first]} has width {first} "
            f"(--hidden-layers sweeps one --width); {fix}"
        )


SCORE_KEYS = ("validation_accuracy", "validation_rmse", "validation_cost", "epochs", "iterations")


def pruned_trials(plan: SweepPlan) -> set:
    """Trials successive halving stopped at a rung and did not continue. Asynchronous halving may
    still promote a trial that finished a rung until the rung has made all its promotions."""
    if not plan.halving:
        return set()
    h = plan.halving
    out = set()
    for r in h["rungs"]:
        if h.get("mode") == "async":
            size = sum(t.round == r["round"] for t in plan.trials)
            k = h["budgets"].index(r["budget"]) if r["budget"] in h["budgets"] else 0
            if len(r["promoted"]) < pruner.caps(size, len(h["budgets"]), h["eta"])[k]:
                continue
        out |= set(r["trials"]) - set(r["promoted"])
    return out


def summary_rows(sweep_dir: Path, plan: SweepPlan) -> list:
    """One row per trial, best first on validation (nnctl.sweep.selection), unfinished last.

    A trial that successive halving stopped at a rung has the status "pruned".
    """
    pruned = pruned_trials(plan)
    rows = []
    for t in plan.trials:
        m = trial_metrics(sweep_dir, t)
        status = m.get("status")
        if status == "interrupted" and t.name in pruned:
            status = "pruned"
        rows.append(
            {
                "trial": t.name,
                **{d: t.values.get(d) for d in plan.dimensions},
                **result_fields(m),
                **{k: m.get(k) for k in SCORE_KEYS},
                **({"round": t.round} if plan.search and plan.search["rounds"] > 1 else {}),
                "status": status,
                "message": m.get("message"),
            }
        )
    return selection.rank(rows)[0]


def summary_record(plan: SweepPlan, rows: list, seconds: float | None = None) -> dict:
    """summary.json: the trials best first, the best one and how it was chosen, the budget spent."""
    c = selection.criterion(rows)
    record: dict[str, Any] = {
        "name": plan.name, "dimensions": plan.dimensions, "seconds": seconds,
        "best": selection.best(rows, c), "selection": c.note,
        "epochs_total": sum(r["epochs"] or 0 for r in rows), "iterations_total": sum(r["iterations"] or 0 for r in rows),
        "trials": rows,
    }
    if plan.search:
        record["search"] = {k: plan.search[k] for k in ("trials", "seed", "rounds")}
        record["search"]["regions"] = [{k: str(Dist(d["name"], d["args"])) for k, d in r.items()} for r in plan.search["regions"]]
    if plan.halving:
        record["halving"] = plan.halving
    return record


SUMMARY_FILES = ("summary.csv", "summary.json", "costs.png", "accuracy.png")


def write_summary(sweep_dir: Path, plan: SweepPlan, seconds: float | None = None, rows: list | None = None) -> list:
    """summary.csv, summary.json, costs.png and accuracy.png, whole or not at all.

    Each file is made under a hidden name first (the pictures take a second or two), then all are
    put in place together with Ctrl-C and SIGTERM held off. A stop while they are made (a second
    Ctrl-C) leaves no summary, neither half of a new one nor an old one that no longer describes the
    trials: `nnctl sweep --resume` writes it.
    """
    import csv
    import io

    from nnctl.util.plots import plot_costs, plot_sweep_accuracy
    from nnctl.rundir.runs import read_costs_csv
    from nnctl.core.stopping import signals_held

    rows = rows if rows is not None else summary_rows(sweep_dir, plan)
    staged = {name: sweep_dir / f".{name}.staged" for name in SUMMARY_FILES}
    made = []
    try:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
        made.append(atomic_write(staged["summary.csv"], buf.getvalue()))
        made.append(write_json(staged["summary.json"], summary_record(plan, rows, seconds)))
        curves = {}
        for t in plan.trials:
            costs = trial_dir(sweep_dir, t.name) / "costs.csv"
            if costs.is_file() and not costs.is_symlink():
                try:
                    curves[t.name] = read_costs_csv(costs)
                except (OSError, ValueError):
                    pass  # a damaged curve is left out of the picture; the trial's status says the rest
        if curves:
            made.append(plot_costs(staged["costs.png"], curves, f"{plan.name}: every trial"))
        if any(r["status"] == "completed" and r["train_accuracy"] is not None for r in rows):
            made.append(plot_sweep_accuracy(staged["accuracy.png"], plan, rows))
        with signals_held():
            for name, path in staged.items():
                if path in made:
                    os.replace(path, sweep_dir / name)
                else:
                    (sweep_dir / name).unlink(missing_ok=True)  # an older picture would not match this summary
    except BaseException as exc:
        with signals_held():
            for path in staged.values():
                path.unlink(missing_ok=True)
            if isinstance(exc, KeyboardInterrupt):
                for name in SUMMARY_FILES:
                    (sweep_dir / name).unlink(missing_ok=True)
        raise
    return rows


# ---------------------------------------------------------------- the whole sweep


def _resume_files(sweep_dir: Path, trial: Trial) -> dict | None:
    """An interrupted trial's files (its checkpoint among them), to continue it where it stopped."""
    folder = trial_dir(sweep_dir, trial.name)
    if trial_status(sweep_dir, trial) != "interrupted" or not (folder / "checkpoint.h5").is_file():
        return None
    files = {}
    for p in folder.iterdir():
        if p.is_symlink() or not p.is_file() or not SAFE_NAME.fullmatch(p.name):
            raise RunError(f"{p}: a trial folder holds only the run's own files; remove {p.name} and resume")
        files[p.name] = p.read_bytes()
    return files


def open_dask(address: str | None, jobs: int, trials: int = 1 << 30, should_stop=lambda: False):
    """(client, local cluster or None): the scheduler at `address`, reached in a few seconds or
    refused; without an address, a local cluster of `jobs` worker processes."""
    try:
        import distributed
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    if address is None:
        import logging
        import signal

        # its processes ignore Ctrl-C, as the local workers do: the sweep's parent decides, and
        # tells running trials to stop through the cluster's event (a terminal sends Ctrl-C to all)
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if threading.current_thread() is threading.main_thread() else None
        try:
            cluster = distributed.LocalCluster(
                n_workers=min(jobs, trials), threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
            )
        finally:
            if old is not None:
                signal.signal(signal.SIGINT, old)
        return distributed.Client(cluster), cluster
    address = parse_address(address)
    import socket

    host, port = address.split("://", 1)[1].rsplit(":", 1)
    try:  # fail fast: a closed port or unknown host answers at once, a dead one within the timeout
        socket.create_connection((host.strip("[]"), int(port)), timeout=DASK_PROBE_SECONDS).close()
    except (OSError, UnicodeError) as exc:  # UnicodeError: a name the resolver's IDNA codec refuses
        raise NnctlError(
            f"cannot reach the Dask scheduler at {address} ({getattr(exc, 'strerror', None) or exc.__class__.__name__}); "
            "start it (dask scheduler) or check --address"
        ) from None
    return connect_dask(address, should_stop=should_stop), None


def run_sweep(
    plan: SweepPlan,
    sweep_dir: Path | None = None,
    runs_root="runs",
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    on_event=lambda *a: None,
    on_result=lambda r: None,
    command=None,
    should_stop=lambda: False,
) -> tuple[Path, list, float]:
    """Run the plan's unfinished trials; returns (sweep directory, summary rows, seconds).

    A new sweep writes its plan first; a resumed one (sweep_dir given) skips finished trials and
    continues interrupted ones from their checkpoints. When `should_stop()` turns true (the first
    Ctrl-C or SIGTERM), running trials stop after their current iteration and are kept with their
    checkpoints; a KeyboardInterrupt (the second) stops at once. Both raise `Interrupted`, whose
    `rows` are the summary. A Dask scheduler is reached before the sweep folder is made.
    """
    client = cluster = None
    if executor == "dask":
        client, cluster = open_dask(address, jobs, len(plan.trials), should_stop)
    try:
        return _run_sweep(plan, sweep_dir, runs_root, jobs, client, cluster is not None, on_event, on_result, command, should_stop)
    finally:
        if client is not None:
            _quietly(lambda: within(DASK_CALL_SECONDS // 3, client.close, "closing the Dask client"))
        if cluster is not None:
            cluster.close()


def _run_sweep(plan, sweep_dir, runs_root, jobs, client, local_cluster, on_event, on_result, command, should_stop):
    if sweep_dir is None:
        sweep_dir = create_run_dir(runs_root, plan.name, prefix="sweep-")
        lock = _lock(sweep_dir)
        plan.command = command
        _write_plan(sweep_dir, plan)
    else:
        lock = _lock(Path(sweep_dir))
        try:
            check_resume(plan, Path(sweep_dir))
        except BaseException:
            lock.close()
            raise
    with lock:
        return _run_trials(plan, Path(sweep_dir), jobs, client, local_cluster, on_event, on_result, command, should_stop)


LOCK = ".lock"


def _lock(sweep_dir: Path):
    """Hold the sweep folder for this process: a second `--resume` of it at once is refused."""
    import fcntl

    try:
        fh = open(sweep_dir / LOCK, "a+")
    except OSError as exc:
        raise RunError(f"{sweep_dir}: cannot be written ({exc.strerror}); check its permissions") from None
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.seek(0)
        pid = fh.read().strip() or "?"
        fh.close()
        raise RunError(f"{sweep_dir}: another nnctl sweep is running it now (pid {pid}); wait for it to finish or stop it, then resume") from None
    fh.truncate(0)
    fh.write(f"{os.getpid()}\n")
    fh.flush()
    return fh


def _write_plan(sweep_dir: Path, plan: SweepPlan) -> None:
    write_json(sweep_dir / PLAN, {"format": PLAN_FORMAT, **asdict(plan)})


class _Store:
    """What the study (nnctl.sweep.study) reads and writes of the sweep folder."""

    def __init__(self, plan: SweepPlan, sweep_dir: Path):
        self.plan, self.sweep_dir = plan, sweep_dir

    def rows(self) -> list:
        return summary_rows(self.sweep_dir, self.plan)

    def metrics(self, trial: Trial) -> dict:
        return trial_metrics(self.sweep_dir, trial)

    def reached(self, trial: Trial, budget: int | None) -> bool:
        """Finished, or stopped at `budget` epochs or beyond (successive halving's rung)."""
        m = trial_metrics(self.sweep_dir, trial)
        if m["status"] in FINISHED:
            return True
        return budget is not None and m["status"] == "interrupted" and (m.get("epochs") or 0) >= budget

    def save(self) -> None:
        _write_plan(self.sweep_dir, self.plan)


def _run_trials(plan, sweep_dir, jobs, client, local_cluster, on_event, on_result, command, should_stop):
    spent = [0.0]
    common = (jobs, client, local_cluster, on_event, on_result, command, should_stop)

    def run(trials, stop_at):
        todo = list(trials)
        spent[0] += _execute(plan, sweep_dir, lambda: (todo.pop(0), stop_at) if todo else None, len(todo), False,
                             lambda trial, status: None, *common)

    def serve(next_job, done, size):
        spent[0] += _execute(plan, sweep_dir, next_job, size, True, done, *common)

    def draw_round(number):
        _hash_data(plan, _draw_round(plan, number))

    study.optimize(plan, _Store(plan, sweep_dir), run, draw_round, serve)
    try:
        rows = write_summary(sweep_dir, plan, spent[0])
    except KeyboardInterrupt:  # the second stop request, while the summary was being written
        exc = Interrupted(
            f"stopped while writing the summary: every trial has run and is kept in {sweep_dir}; the summary was not written: "
            f"nnctl sweep --resume {sweep_dir} writes it"
        )
        exc.rows, exc.sweep_dir = summary_rows(sweep_dir, plan), sweep_dir
        raise exc from None
    return sweep_dir, rows, spent[0]


def _execute(plan, sweep_dir, next_job, size, dynamic, done, jobs, client, local_cluster, on_event, on_result, command,
             should_stop) -> float:
    """Run the trials `next_job()` gives, (trial, epoch to stop at or None), each when a worker asks
    (all at once on Dask unless `dynamic`); `done(trial, status)` after each is stored. Returns the
    seconds it took. On a stop request the summary is written and `Interrupted` raised."""
    out = {}  # trial index -> (trial, stop_at)

    def next_payload():
        job = next_job()
        if job is None:
            return None
        trial, stop_at = job
        out[trial.index] = job
        return {**asdict(trial), "text": plan.text, "config_path": plan.config_path, "data_files": plan.data_files,
                "command": command, "sweep": sweep_dir.name, "resume_files": _resume_files(sweep_dir, trial), "stop_at": stop_at}

    payloads = Payloads(next_payload, size, dynamic)

    def store(result):
        trial, stop_at = out.pop(result["index"])
        result["name"] = trial.name
        _store_trial(sweep_dir, trial, result)
        if stop_at is not None and result["status"] == "interrupted" and not should_stop():
            result["budget"] = stop_at  # stopped by successive halving at its rung, not by the user
        on_result(result)
        done(trial, result["status"])

    t0 = time.perf_counter()
    at_once = False
    try:
        if size and client is not None:
            # a local cluster shares the cores as --jobs does, so its trials equal theirs bit for bit
            blas = max(1, (os.cpu_count() or 1) // jobs) if local_cluster else 1
            run_dask(payloads, None, on_event, store, should_stop, client=client, blas_threads=blas)
        elif size:
            run_local(payloads, jobs, on_event, store, should_stop)
    except KeyboardInterrupt:
        at_once = True
    seconds = time.perf_counter() - t0
    if at_once or should_stop():
        rows = summary_rows(sweep_dir, plan)
        try:
            write_summary(sweep_dir, plan, rows=rows)
            unwritten = ""
        except KeyboardInterrupt:  # a second stop request while the summary was being written
            unwritten = "; the summary was not written (the resume writes it)"
        count = {s: sum(r["status"] == s for r in rows) for s in ("completed", "diverged", "failed", "interrupted")}
        kept = f"{count['completed'] + count['diverged']} of {len(rows)} trials finished"
        if count["interrupted"]:
            kept += f", {count['interrupted']} interrupted with their checkpoints"
        if at_once:
            kept += " (stopped at once: trials still running were lost and start again)"
        exc = Interrupted(f"sweep interrupted: {kept}; kept in {sweep_dir}{unwritten}; resume with: nnctl sweep --resume {sweep_dir}")
        exc.rows, exc.sweep_dir = rows, sweep_dir
        raise exc
    return seconds
