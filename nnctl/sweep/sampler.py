"""Samplers: the values a sweep's trials take, drawn the course's way.

"Try random values: don't use a grid", on the right scale: a learning rate on a log scale
(`loguniform(1e-4, 1)`: r uniform in [-4, 0], alpha = 10^r), a momentum or Adam beta on the scale of
1 - beta (`one_minus_loguniform(1e-3, 1e-1)`: r uniform in [-3, -1], beta = 1 - 10^r).

A distribution is one row of DISTRIBUTIONS: how its arguments are checked, how a value is drawn,
and the coordinate in which it is uniform (`to_axis`/`from_axis`). Coarse to fine works in that
coordinate: the next round's range is the interval the best trials span there (`narrow`).

Pure: the caller passes the `np.random.Generator`; nothing here reads files or the clock.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from nnctl.spec.config import parse_yaml
from nnctl.errors import ConfigError
from nnctl.util.text import quoted

BEST_FRACTION = 0.25  # coarse to fine: the best quarter of the trials so far spans the next region
MIN_BEST = 2  # ... and at least two of them, so a region has a width


class Distribution(NamedTuple):
    check: Callable  # (args) -> None or the reason they are wrong
    draw: Callable  # (rng, args) -> a value
    to_axis: Callable | None  # value -> the coordinate in which draws are uniform (None: not numeric)
    from_axis: Callable | None  # coordinate -> value
    log: bool  # plotted on a log axis
    summary: str


def _two_numbers(args, positive=False, below_one=False) -> str | None:
    if len(args) != 2 or not all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in args):
        return "takes two numbers (low, high)"
    a, b = args
    if not a < b:
        return f"needs low < high (got {a:g}, {b:g})"
    if positive and a <= 0:
        return f"is on a log scale, so low must be above 0 (got {a:g})"
    if below_one and b >= 1:
        return f"draws 1 - beta, which must stay below 1 (got high {b:g})"
    return None


def _two_ints(args) -> str | None:
    if len(args) != 2 or not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        return "takes two whole numbers (low, high), both included"
    return None if args[0] < args[1] else f"needs low < high (got {args[0]}, {args[1]})"


def _choices(args) -> str | None:
    if len(args) < 2:
        return "takes at least two values"
    seen = [repr(a) for a in args]
    return "gives a value twice" if len(set(seen)) != len(seen) else None


def _log_draw(rng, args):
    return math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))


def _one_minus_draw(rng, args):
    return 1.0 - math.exp(rng.uniform(math.log(args[0]), math.log(args[1])))


DISTRIBUTIONS: dict[str, Distribution] = {
    "loguniform": Distribution(
        lambda a: _two_numbers(a, positive=True),
        _log_draw,
        math.log,
        math.exp,
        True,
        "log-uniform in [low, high]: alpha = 10^r, r uniform in [log10 low, log10 high]",
    ),
    "one_minus_loguniform": Distribution(
        lambda a: _two_numbers(a, positive=True, below_one=True),
        _one_minus_draw,
        lambda v: math.log(1.0 - v),
        lambda t: 1.0 - math.exp(t),
        True,
        "beta = 1 - 10^r with 1 - beta log-uniform in [low, high] (the course's scale for beta)",
    ),
    "uniform": Distribution(_two_numbers, lambda rng, a: float(rng.uniform(a[0], a[1])), float, float, False, "uniform in [low, high]"),
    "int": Distribution(
        _two_ints,
        lambda rng, a: int(rng.integers(a[0], a[1], endpoint=True)),
        float,
        round,
        False,
        "a whole number in [low, high], each equally likely",
    ),
    "choice": Distribution(_choices, lambda rng, a: a[int(rng.integers(len(a)))], None, None, False, "one of the values, each equally likely"),
    "fixed": Distribution(
        lambda a: None if len(a) == 1 else "takes one value",
        lambda rng, a: a[0],
        None,
        None,
        False,
        "one value: coarse to fine found every best trial there",
    ),
}
DISTRIBUTION_NAMES = tuple(n for n in DISTRIBUTIONS if n != "fixed")  # what a user writes
_CALL = re.compile(r"\s*([A-Za-z_]+)\s*\((.*)\)\s*", re.DOTALL)


def split_values(text: str, what: str = "--grid value") -> list:
    """'0.1,0.01' -> [0.1, 0.01]; '[1],[2, 3]' -> [[1], [2, 3]]: commas inside brackets stay."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [parse_yaml(p, f"{what} {quoted(p.strip())}") for p in parts if p.strip()]


class Dist(NamedTuple):
    name: str
    args: list

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_word(a) for a in self.args)})"

    @property
    def row(self) -> Distribution:
        return DISTRIBUTIONS[self.name]


def _word(a) -> str:
    if isinstance(a, float):
        return f"{a:.6g}"
    if isinstance(a, str):
        return a
    return str(a).replace("'", "")


def parse_dist(text: str, where: str) -> Dist:
    """'loguniform(1e-4, 1)' -> Dist('loguniform', [0.0001, 1]); `where` starts the error line."""
    m = _CALL.fullmatch(text or "")
    if not m:
        raise ConfigError(f"{where}: expected NAME(args), one of {', '.join(DISTRIBUTION_NAMES)}, e.g. loguniform(1e-4, 1) (got {quoted(text):.60})")
    name = m.group(1)
    if name not in DISTRIBUTIONS:
        raise ConfigError(f"{where}: {quoted(name)} is not a distribution; use one of {', '.join(DISTRIBUTION_NAMES)}")
    args = [
        float(a) if name in ("loguniform", "one_minus_loguniform", "uniform") and isinstance(a, int) and not isinstance(a, bool) else a
        for a in split_values(m.group(2), f"{where}: argument")
    ]
    why = DISTRIBUTIONS[name].check(args)
    if why:
        raise ConfigError(f"{where}: {name} {why}")
    return Dist(name, args)


def parse_search(assignments, where="--search") -> dict:
    """['train.learning_rate=loguniform(1e-4,1)', ...] -> {key: Dist}."""
    space = {}
    for a in assignments:
        key, sep, text = a.partition("=")
        key = key.strip()
        if not sep or not key or not text.strip():
            raise ConfigError(f'{where} {a}: expected key.path=DIST(args), e.g. {where} "train.learning_rate=loguniform(1e-4,1)"')
        if key in space:
            raise ConfigError(f"{where} {key} is given twice; give each key one distribution")
        space[key] = parse_dist(text, f"{where} {key}")
    return space


def draw(space: dict, rng: np.random.Generator) -> dict:
    """One trial's values: keys in the order given, one draw each."""
    return {key: d.row.draw(rng, d.args) for key, d in space.items()}


def round_generator(seed: int, round_number: int) -> np.random.Generator:
    """Round r's draws: independent of how many draws the rounds before it made."""
    return np.random.default_rng([seed, round_number])


def narrow(space: dict, best_values: list) -> dict:
    """The next round's space: each range shrunk to the interval the best trials span.

    `best_values` are the values ({key: value}) of the best trials so far. A numeric range becomes
    [min, max] of their values in the distribution's own coordinate (log for loguniform, log(1 - beta)
    for one_minus_loguniform), so it never grows and stays inside the previous range; a `choice` keeps
    the values the best trials took. Where the best trials agree on one value, that key is fixed there.
    """
    out = {}
    for key, d in space.items():
        seen = [v[key] for v in best_values if key in v]
        if not seen:
            out[key] = d
            continue
        if d.name == "choice":
            kept = [a for a in d.args if any(repr(a) == repr(s) for s in seen)]
            out[key] = Dist("choice", kept) if len(kept) >= 2 else Dist("fixed", kept[:1])
            continue
        to_axis, from_axis = d.row.to_axis, d.row.from_axis
        if to_axis is None or from_axis is None:  # fixed: stays
            out[key] = d
            continue
        axis = sorted(to_axis(v) for v in seen)
        lo, hi = from_axis(axis[0]), from_axis(axis[-1])
        if d.name == "one_minus_loguniform":  # its arguments are 1 - beta: the ends swap
            lo, hi = 1.0 - hi, 1.0 - lo
        lo, hi = min(lo, hi), max(lo, hi)
        out[key] = Dist(d.name, [lo, hi]) if lo < hi else Dist("fixed", [seen[0]])
    return out


def best_count(n: int) -> int:
    return min(n, max(MIN_BEST, math.ceil(BEST_FRACTION * n)))
