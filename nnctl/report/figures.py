"""The report's pictures: matplotlib figures as inline SVG (text as text, sized by the page); pixels
(the gallery's mistakes) as PNG data: URIs."""

from __future__ import annotations

import base64
import functools
import html
import io
import itertools
import warnings
import math
import re

import numpy as np
from PIL import Image

from nnctl.util.plots import REPORT_GRID
from nnctl.util.text import figure_text, visible

MAX_POINTS = 2000  # a curve is thinned to this many points; the page stays small for any run
_counter = itertools.count()


def _quiet(func):
    """No numpy warning reaches the terminal: a diverged run's costs overflow the log scale's transform."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return func(*args, **kwargs)

    return wrapper


def png_data_uri(pixels: np.ndarray) -> str:
    """(H, W) or (H, W, 3) uint8 pixels as a data: URI of a PNG, for an <img> of a page."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plt():
    import matplotlib  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    return plt


def to_svg(fig, label: str) -> str:
    """An <svg> element that scales with its container; ids unique within the page."""
    plt = _plt()
    import matplotlib  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    figure_text(fig)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": f"{label}-{next(_counter)}"}):
        buf = io.StringIO()
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # drop the fixed size in pt: the viewBox keeps the proportions, CSS sets the width
    head, rest = text.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    head += f' role="img" aria-label="{html.escape(visible(label), quote=True)}" preserveAspectRatio="xMidYMid meet"'
    return head + ">" + rest


def plain(text) -> str:
    """Text read from a run's files, shown as it is: no mathtext ($), at most 80 characters."""
    text = str(text)
    text = text if len(text) <= 80 else text[:79] + "…"
    return text.replace("$", r"\$")


def _style(ax):
    ax.grid(alpha=0.3)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def thin(xs, ys):
    """At most MAX_POINTS points, evenly spaced, the first and the last kept."""
    n = len(xs)
    if n <= MAX_POINTS:
        return list(xs), list(ys)
    idx = np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
    return [xs[i] for i in idx], [ys[i] for i in idx]


def wants_log(values) -> bool:
    """Log scale where the positive values span more than a factor of 30."""
    v = [x for x in values if x is not None and math.isfinite(x)]
    return bool(v) and min(v) > 0 and max(v) / min(v) > 30


@_quiet
def cost_svg(
    curves: dict, title: str, ylabel: str = "cost", legend_below: bool = False, total=None, xlabel: str = "iteration", log_scale: bool = True
) -> tuple[str, bool]:
    """(svg, log scale used) for {label: (iterations, costs)}; non-finite costs are left out.
    `log_scale=False`: linear whatever the values span (accuracies)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.6, 3.5))
    every = []
    for label, (its, cs) in curves.items():
        pts = [(i, c) for i, c in zip(its, cs) if c is not None and math.isfinite(c)]
        if not pts:
            continue
        xs, ys = thin(*zip(*pts))
        every += ys
        few = len(xs) <= 25  # a short or just-started run: each recorded cost is a dot too
        ax.plot(xs, ys, "o-" if few else "-", markersize=3.5, label=plain(label), linewidth=1.6 if len(curves) < 4 else 1.1)
    log = log_scale and wants_log(every)
    if log:
        ax.set_yscale("log")
    from matplotlib.ticker import MaxNLocator  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if total:  # an unfinished run's curve stops short of where it was going
        ax.set_xlim(-0.02 * total, 1.02 * total)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel + (" (log scale)" if log else ""))
    ax.set_title(plain(title), fontsize=11)
    if 1 < len(curves) <= 12 and legend_below:
        ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1 if max(map(len, curves)) > 24 else 2, frameon=False)
    elif 1 < len(curves) <= 12:
        ax.legend(fontsize="small")
    _style(ax)
    return to_svg(fig, title), log


@_quiet
def lr_svg(its, rates, xlabel: str = "iteration") -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 2.6))
    xs, ys = thin(its, rates)
    ax.plot(xs, ys, color="tab:green")
    if wants_log(ys):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("learning rate")
    ax.set_title("learning rate", fontsize=11)
    _style(ax)
    return to_svg(fig, "learning rate")


@_quiet
def decision_svg(predict, X, Y, title: str) -> str:
    """The course's picture: the classifier's regions over a grid, with the points on top.
    `predict` maps (2, p) points to their predicted labels (p,)."""
    plt = _plt()
    x_min, x_max = X[0].min() - 1, X[0].max() + 1
    y_min, y_max = X[1].min() - 1, X[1].max() + 1
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, REPORT_GRID), np.linspace(y_min, y_max, REPORT_GRID))
    grid = np.vstack([xx.ravel(), yy.ravel()]).astype(X.dtype)
    zz = np.asarray(predict(grid)).reshape(xx.shape).astype(float)  # the predicted label of each point
    y = np.asarray(Y).ravel()
    k = max(int(np.nanmax(zz)) + 1, int(y.max()) + 1 if y.size else 0, 2)  # one region per class
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=plt.cm.Spectral, alpha=0.8, vmin=0, vmax=k - 1)
    ax.scatter(X[0], X[1], c=y, s=10, cmap=plt.cm.Spectral, edgecolors="k", linewidths=0.3, vmin=0, vmax=k - 1)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(plain(title), fontsize=11)
    return to_svg(fig, title)


@_quiet
def sweep_value_svg(dimension: str, points: list, metric: str, log: bool = False, one_minus: bool = False) -> str:
    """A metric against one swept value: points [(value, {series: y})] (several per value when
    other keys vary too: then dots, not lines). `log`: the value was drawn on a log scale;
    `one_minus`: on the scale of 1 - value (a beta), plotted as 1 - value on a log axis."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in points)
    if numeric and one_minus and all(v < 1 for v, _ in points):
        points = [(1 - v, ys) for v, ys in points]
        dimension, log = f"1 - {dimension}", True
    if numeric:
        xs = [float(v) for v, _ in points]
        if (log or dimension.endswith("learning_rate") and max(xs) / min(xs) > 10) and min(xs) > 0:
            ax.set_xscale("log")
        if len(set(xs)) <= 10 and not log:
            ax.set_xticks(sorted(set(xs)), [f"{v:g}" for v in sorted(set(xs))])
            ax.minorticks_off()
    else:
        labels = []
        for v, _ in points:
            if str(v) not in labels:
                labels.append(str(v))
        xs = [labels.index(str(v)) for v, _ in points]
        ax.set_xticks(range(len(labels)), [plain(t) for t in labels], rotation=30 if len(labels) > 4 else 0, ha="right" if len(labels) > 4 else "center")
    several = len(set(xs)) < len(xs)
    series = sorted({k for _, ys in points for k in ys})
    for name in series:
        pairs = sorted((x, ys[name]) for x, (_, ys) in zip(xs, points) if ys.get(name) is not None)
        if pairs:
            px, py = zip(*pairs)
            ax.plot(px, py, "o" if several else "o-", label=name, alpha=0.8)
    ax.set_xlabel(plain(dimension))
    ax.set_ylabel(metric)
    ax.set_title(plain(f"{metric} against {dimension}"), fontsize=10)
    if series:
        ax.legend(fontsize="small")
    _style(ax)
    return to_svg(fig, f"{metric} against {dimension}")


def best_so_far_svg(scores: list, label: str, higher_is_better: bool) -> str:
    """The selection score of each trial in the order they were planned, and the best so far."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5.2, 3.6))
    xs = [i for i, v in scores if v is not None]
    ys = [v if higher_is_better else -v for _, v in scores if v is not None]
    best, running = [], None
    for y in ys:
        running = y if running is None else (max if higher_is_better else min)(running, y)
        best.append(running)
    ax.plot(xs, ys, "o", alpha=0.5, label="trial")
    ax.step(xs, best, where="post", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(plain(label))
    ax.set_title(plain(f"best {label} so far"), fontsize=10)
    ax.legend(fontsize="small")
    _style(ax)
    return to_svg(fig, "best so far")


def parallel_svg(dimensions: list, lines: list, label: str, higher_is_better: bool, log_dims=(), one_minus=()) -> str:
    """Parallel coordinates: one line per trial across the swept values, each axis scaled to its
    range (log where the value was drawn on a log scale), coloured by the selection score."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(5.2, 1.6 * len(dimensions)), 3.6))
    cols = []
    for j, d in enumerate(dimensions):
        v = np.array([float(vals[j]) for vals, _ in lines])
        if d in one_minus and (v < 1).all():
            v = np.log10(1 - v)
        elif d in log_dims and (v > 0).all():
            v = np.log10(v)
        span = v.max() - v.min()
        cols.append((v - v.min()) / span if span > 0 else np.full_like(v, 0.5))
    scores = np.array([np.nan if s is None else (s if higher_is_better else -s) for _, s in lines], dtype=float)
    finite = scores[np.isfinite(scores)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    cmap = plt.get_cmap("viridis" if higher_is_better else "viridis_r")
    for i in np.argsort(np.nan_to_num(scores, nan=-np.inf) if higher_is_better else -np.nan_to_num(scores, nan=np.inf)):
        colour = "lightgrey" if not np.isfinite(scores[i]) else cmap((scores[i] - lo) / (hi - lo) if hi > lo else 1.0)
        ax.plot(range(len(dimensions)), [c[i] for c in cols], "-o", color=colour, alpha=0.8, markersize=3)
    names = [("log10(1 - " + d + ")") if d in one_minus else ("log10 " + d) if d in log_dims else d for d in dimensions]
    ax.set_xticks(range(len(dimensions)), [plain(n.split(".")[-1] if "(" not in n else n.replace("train.", "")) for n in names], fontsize=8)
    ax.set_yticks([0, 1], ["low", "high"])
    ax.set_title(plain(f"every trial across the swept values, coloured by {label} (bright: best)"), fontsize=9)
    _style(ax)
    return to_svg(fig, "parallel coordinates")
