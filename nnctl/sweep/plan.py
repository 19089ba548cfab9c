"""The sweep's plan: its trials (a grid, random draws, coarse-to-fine rounds, successive halving's
budgets), sweep.json's strict schema, and the plan written and read back as validated input.

sweep.json holds the spec text, the config's absolute path and SHA-256, the data files' absolute
paths and SHA-256, the trials and their overrides, and every decision a search or successive halving
made. Read back, it is input: checked against the schema below (trial names are single safe path
components), every trial validated again as a spec, the config and data files must be the ones the
sweep was planned with, and each trial's overrides and name must be the ones its values give.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from nnctl.data.dataset import BUILTIN_PREFIX, file_sha256
from nnctl.errors import ConfigError, RunError
from nnctl.experiment.run import make_rng
from nnctl.rundir.layout import SWEEP_PLAN
from nnctl.rundir.runs import parse_json, write_json
from nnctl.spec.config import MAX_CONFIG_BYTES, Spec, read_config_text, read_from_stream, spec_from_text
from nnctl.sweep import pruner, selection, study
from nnctl.sweep.sampler import DISTRIBUTIONS, draw, parse_dist, round_generator, split_values
from nnctl.util.text import quoted

PLAN_FORMAT = 2
HALVING_MODES = ("sync", "async")
NAME_MAX = 120  # bytes of a trial name: far below the 255 of a file name, room for `.NAME.tmp`
MAX_HIDDEN_LAYERS = 1000
MAX_ROUNDS = 20
MAX_TRIALS = 10_000  # a grid larger than this is a typing mistake, and its plan would take minutes to check
MAX_PLAN_BYTES = 64 << 20
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
            raise ValueError(f"{quoted(name)} is not a safe folder name (letters, digits and _ . = - only, not starting with a dot)")
        return name


def _absolute(path: str) -> str:
    if not os.path.isabs(path) or os.path.normpath(path) != path:
        raise ValueError(f"{path!r} must be an absolute, normalized path")
    return path


# names from the tables: a Literal built at run time is no static type, so to mypy each is its own type
if TYPE_CHECKING:
    DistName = str
    PlanFormat = int
    HalvingMode = str
    MetricName = str
else:
    DistName = Literal[tuple(DISTRIBUTIONS)]
    PlanFormat = Literal[PLAN_FORMAT]
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


def schema_error(err) -> str:
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
    spec = spec_from_text(text, config_path, overrides)
    try:
        make_rng(spec)
    except (ValueError, TypeError, OverflowError) as exc:
        where = f"{config_path}" + (f" (with --set {' --set '.join(overrides)})" if overrides else "")
        raise ConfigError(
            f"{where}: train.seed: the {spec.model.init_rng} generator refuses {spec.train.seed} ({exc}); give a seed from 0 to 4294967295"
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


def data_paths(spec: Spec) -> list:
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
            raise ConfigError(
                f"--{'trials' if trials is not None else 'rounds'} draws values at random: give what to draw, "
                'e.g. --search "train.learning_rate=loguniform(1e-4,1)" (or search.space in the spec)'
            )
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
            raise ConfigError(f"search.halving_mode: {mode} is a way of successive halving: add search.halving (e.g. 3) and search.min_budget, or leave it out")
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
                f"--hidden-layers {','.join(map(str, hidden_layers))}: a count of hidden layers is a whole number from 0 to {MAX_HIDDEN_LAYERS} (got {bad[0]})"
            )
        _check_values("hidden_layers", "--hidden-layers", hidden_layers)
        if width is None:
            raise ConfigError(
                "--hidden-layers needs the width of each hidden layer: give --width N (or sweep.width), or list the stacks in the spec's sweep.hidden"
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


def plan_sweep(
    spec: Spec,
    text: str,
    config_path,
    hidden_layers=None,
    width=None,
    grid=None,
    base_overrides=(),
    search: Search | None = None,
    halving: Halving | None = None,
) -> SweepPlan:
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
        name=spec.name or "sweep",
        config_path=str(config_path),
        text=text,
        dimensions=[d for d, _ in dims] + list(search.space if search else ()),
        base_overrides=list(base_overrides),
        config_sha256=_sha256_text(text),
    )
    points = [
        {"overrides": [o for _, ovs in combo for o in ovs], "values": {d: v for (d, _), (v, _) in zip(dims, combo)}}
        for combo in itertools.product(*(choices for _, choices in dims))
    ]
    if search is None:
        plan.trials = [_make_trial(plan, i, p, {}) for i, p in enumerate(points, start=1)]
    else:
        plan.search = {
            "trials": search.trials,
            "seed": search.seed,
            "rounds": search.rounds,
            "regions": [{k: d._asdict() for k, d in search.space.items()}],
            "grid": points,
        }
        _append_round(plan, 1)
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


def _append_round(plan: SweepPlan, round_number: int) -> list:
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


def draw_round(plan: SweepPlan, round_number: int) -> list:
    """Coarse to fine: append round `round_number`'s trials (its region already in the plan), their data hashed."""
    trials = _append_round(plan, round_number)
    _hash_data(plan, trials)
    return trials


def _hash_data(plan: SweepPlan, trials=None) -> None:
    for trial in trials or plan.trials:  # every variant is checked before anything runs
        for path in data_paths(trial_spec(plan.text, plan.config_path, trial.overrides)):
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
    return {
        "eta": h.eta,
        "min_budget": h.min_budget,
        "budgets": pruner.budgets(h.min_budget, total, h.eta),
        "mode": h.mode,
        "metric": None,
        "rungs": [],
        "promotions": [],
    }


# ---------------------------------------------------------------- sweep.json, written and read back


def write_plan(sweep_dir: Path, plan: SweepPlan) -> None:
    write_json(sweep_dir / SWEEP_PLAN, {"format": PLAN_FORMAT, **asdict(plan)})


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


def read_plan(sweep_dir) -> SweepPlan:
    """The plan in a sweep directory, checked against the strict schema of sweep.json (its trial
    folders: nnctl.sweep.store.load_plan)."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / SWEEP_PLAN
    if not path.exists():
        raise RunError(f"{sweep_dir}: not a sweep directory (no {SWEEP_PLAN}); give a runs/sweep-... directory to --resume")
    data = _read_json_bounded(path, MAX_PLAN_BYTES, "the plan is damaged, start a new sweep")
    if not isinstance(data, dict):
        raise RunError(f"{path}: the plan must be a JSON object (got a {type(data).__name__}); the plan is damaged, start a new sweep")
    if "format" not in data:
        raise RunError(f"{path}: written by an older nnctl (no format); start a new sweep")
    try:
        record = _PlanRecord.model_validate(data)
    except ValidationError as exc:
        raise RunError(f"{path}: {schema_error(exc.errors()[0])}; the plan is damaged or was edited, start a new sweep") from None
    plan = SweepPlan(**record.model_dump(exclude={"format", "trials"}))
    for rung in plan.halving["rungs"] if plan.halving else ():
        if rung["values"] is None:
            del rung["values"]  # synchronous halving's rungs have none: read back as written
    plan.trials = [Trial(**t.model_dump()) for t in record.trials]
    return plan


def check_resume(plan: SweepPlan, sweep_dir: Path) -> None:
    """Refuse to resume a plan whose config or data files changed, or whose trials no longer validate."""
    config = Path(plan.config_path)
    if read_from_stream(config):
        pass  # read from stdin or a pipe: sweep.json keeps its text (checked against config_sha256), nothing to compare
    elif not config.is_file():
        raise RunError(f"{config}: the config file this sweep was planned from is gone (see {sweep_dir / SWEEP_PLAN}); put it back or start a new sweep")
    elif _sha256_text(read_config_text(config)) != plan.config_sha256:
        raise RunError(
            f"{config}: the config file changed since the sweep started (its SHA-256 differs from {sweep_dir / SWEEP_PLAN}); "
            "resuming would mix two specs: restore it or start a new sweep"
        )
    for path, digest in plan.data_files.items():
        if digest is None:
            continue  # absent when planned: its trials failed, and the file may have been made since
        if not os.path.isfile(path):
            raise RunError(f"{path}: the data file this sweep was planned with is gone; put it back or start a new sweep")
        if file_sha256(path) != digest:
            raise RunError(
                f"{path}: the data changed since the sweep started (its SHA-256 differs from {sweep_dir / SWEEP_PLAN}); "
                "finished trials used the old file: restore it or start a new sweep"
            )
    for t in plan.trials:
        try:
            trial_spec(plan.text, plan.config_path, t.overrides)
        except ConfigError as exc:
            raise RunError(f"{sweep_dir / SWEEP_PLAN}: trial {t.name}: {exc}") from None
    check_trials_as_planned(plan, sweep_dir / SWEEP_PLAN)


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
        if m := re.fullmatch(r"model\.hidden=\[([0-9]{1,9})(?:, [0-9]{1,9})*\]", o):
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
    fix = f"{SWEEP_PLAN} was edited, and resuming would train another trial under this name; restore {SWEEP_PLAN} or start a new sweep"
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
            f"{where}: trial {name}: hidden layers of width {other}, but trial {widths[first]} has width {first} (--hidden-layers sweeps one --width); {fix}"
        )
