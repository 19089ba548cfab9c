"""PNG pictures of a run: the cost curve and, for 2-D inputs, the decision boundary."""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from nnctl.util.atomic import atomic_write
from nnctl.util.text import figure_text


def _figure():
    import matplotlib  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    return plt


@contextmanager
def _quiet():
    """A diverged run's curve reaches 1e300: matplotlib's own arithmetic must not warn on the terminal."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def _save(fig, path) -> Path:
    plt = _figure()
    buf = io.BytesIO()
    figure_text(fig)
    with _quiet():
        fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


# One colour per class in every picture of 2-D data (the preview of `data info`, the decision boundary).
CLASS_COLOURS = ("tab:red", "tab:blue")  # the course draws the flower's classes red and blue
MANY_COLOURS = CLASS_COLOURS + ("tab:green", "tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:gray", "tab:olive", "tab:cyan")


def _class_name(classes, v) -> str:
    return classes[int(v)] if classes and 0 <= int(v) < len(classes) else f"class {int(v)}"


def _iteration_label(x, _pos=None) -> str:
    """Tick labels that stay short at 200,000 iterations: 50k, 1.5M."""
    if abs(x) >= 1_000_000:
        return f"{x / 1_000_000:g}M"
    if abs(x) >= 10_000:
        return f"{x / 1000:g}k"
    return f"{x:g}"


def wants_log_scale(values) -> bool:
    """A cost curve spanning more than two decades (a first spike, a regression's large start)."""
    v = np.asarray([c for c in values if np.isfinite(c)], dtype=float)
    return v.size > 1 and v.min() > 0 and v.max() / v.min() > 100


def cost_figure(curves: dict, title: str = "", learning_rate=None):
    """The figure of plot_costs, for tests to inspect."""
    from matplotlib.ticker import FuncFormatter, MaxNLocator  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    every: list[float] = []
    for label, costs in curves.items():
        if costs:
            its, cs = zip(*costs)
            ax.plot(its, cs, label=label)
            every += cs
    ax.set_xlabel("iteration")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=6, integer=True))
    ax.xaxis.set_major_formatter(FuncFormatter(_iteration_label))
    if wants_log_scale(every):
        ax.set_yscale("log")
        ax.set_ylabel("cost (log scale)")
    else:
        ax.set_ylabel("cost")
    lr = f"learning rate = {learning_rate:g}" if learning_rate is not None else ""
    ax.set_title(" · ".join(t for t in (title, lr) if t))
    if len(curves) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def plot_costs(path, curves: dict, title: str = "", learning_rate=None) -> Path:
    """One or several cost curves, {label: [(iteration, cost)]}, as the course draws them."""
    with _quiet():
        fig = cost_figure(curves, title, learning_rate)
    return _save(fig, path)


BOUNDARY_GRID = 300  # points a side of decision_boundary.png's grid (the memory preflight counts its forward pass)
REPORT_GRID = 200  # points a side of report.html's decision-boundary grid (nnctl.report.figures; the preflight counts it too)


def decision_boundary_figure(predict, X, Y, title: str = "", classes=None):
    """The figure of plot_decision_boundary, for tests to inspect."""
    from matplotlib.colors import ListedColormap  # start-up: ~0.45 s with pyplot; only what draws a picture loads it
    from matplotlib.patches import Patch  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

    plt = _figure()
    x_min, x_max = X[0].min() - 1, X[0].max() + 1
    y_min, y_max = X[1].min() - 1, X[1].max() + 1
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, BOUNDARY_GRID), np.linspace(y_min, y_max, BOUNDARY_GRID))
    grid = np.vstack([xx.ravel(), yy.ravel()]).astype(X.dtype)  # (2, points)
    with np.errstate(all="ignore"):
        zz = np.asarray(predict(grid)).reshape(xx.shape).astype(float)
    y = np.asarray(Y).ravel()
    k = max(len(classes or ()), int(np.nanmax(zz)) + 1 if zz.size else 0, int(y.max()) + 1 if y.size else 0, 2)
    colours = list(_class_colours(plt, list(range(k))).values())
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xx, yy, zz, levels=np.arange(k + 1) - 0.5, cmap=ListedColormap(colours), alpha=0.25)
    handles = []
    for v, colour in enumerate(colours):
        name = _class_name(classes, v)
        ax.scatter(X[0, y == v], X[1, y == v], s=12, color=colour, edgecolors="k", linewidths=0.3, label=name)
        handles.append(Patch(facecolor=colour, alpha=0.25, label=f"predicted {name}"))
    points, labels = ax.get_legend_handles_labels()
    ax.legend(points + handles, labels + [h.get_label() for h in handles], fontsize="small", loc="best")
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    return fig


def plot_decision_boundary(path, predict, X, Y, title: str = "", classes=None) -> Path:
    """The course's picture: the classifier's regions over a grid, with the points on top.

    `predict` maps a (2, p) array of points to their predicted labels (p,): one region per class,
    in the colours of the data preview, and a legend names them.
    """
    with _quiet():
        fig = decision_boundary_figure(predict, X, Y, title, classes)
    return _save(fig, path)


def misclassified_figure(X, y, probabilities, indices, preprocessing, classes, limit=40, predicted=None):
    """The figure of plot_misclassified, for tests to inspect."""
    plt = _figure()
    indices = list(indices)
    wrong, m = len(indices), X.shape[1]
    shown = indices[:limit]
    cols = min(len(shown), 8)
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows + 0.4), squeeze=False)
    shape = preprocessing["input_shape"]
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), shown):
        pixels = np.clip(X[:, i] * preprocessing["scale"], 0, 255).astype(np.uint8).reshape(shape)
        ax.imshow(pixels.squeeze(), cmap="gray" if pixels.ndim == 2 or shape[-1] == 1 else None)
        p = float(probabilities[i])
        if predicted is None:  # p is P(label 1)
            ax.set_title(f"true: {classes[int(y[i])]}\npred: {classes[int(p > 0.5)]}\nP({classes[1]}) = {p:.2f}", fontsize=7)
        else:  # p is the probability of the predicted class
            true, guess = _class_name(classes, y[i]), _class_name(classes, predicted[i])
            ax.set_title(f"{true} →{' ' if len(true) + len(guess) <= 14 else chr(10)}{guess} ({p:.2f})", fontsize=7)
    part = "all shown" if wrong <= limit else f"the first {limit} shown"
    fig.suptitle(f"misclassified: {wrong} of {m} examples ({part})", fontsize=9)
    return fig


def plot_misclassified(path, X, y, probabilities, indices, preprocessing, classes, limit=40, predicted=None) -> Path:
    """The course's gallery of mislabelled pictures: "true → predicted (p)", p the probability of
    the predicted class (without `predicted`: true, predicted and P(class 1) by name)."""
    return _save(misclassified_figure(X, y, probabilities, indices, preprocessing, classes, limit, predicted), path)


def confusion_figure(cm, classes, title: str = ""):
    """The figure of plot_confusion, for tests to inspect."""
    plt = _figure()
    cm = np.asarray(cm, dtype=int)
    k = cm.shape[0]
    side = min(12.0, 2.5 + 0.55 * k)
    fig, ax = plt.subplots(figsize=(side, side))
    ax.imshow(cm, cmap="Blues")
    names = [_class_name(classes, v) for v in range(k)]
    ax.set_xticks(range(k), names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center", fontsize=8)
    ax.set_yticks(range(k), names, fontsize=8)
    top = cm.max() if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if cm[i, j] > top / 2 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return fig


def plot_confusion(path, cm, classes, title: str = "") -> Path:
    """The k×k confusion matrix as a picture: rows the true class, columns the predicted one."""
    with _quiet():
        fig = confusion_figure(cm, classes, title)
    return _save(fig, path)


def plot_preview(path, x, y, classes, per_class=6, categorical=True) -> Path:
    """A contact sheet: a few examples of each class (pictures), or a scatter of 2-D points.

    Regression targets (not `categorical`) get one sheet of the first examples, each titled with its
    target, never one row per distinct value.
    """
    plt = _figure()
    y = np.asarray(y).ravel()
    if x.ndim == 2 and x.shape[1] == 2:
        return plot_features(path, x, y, classes, categorical, 2)
    if categorical:
        labels = np.unique(y)
        groups = [(np.flatnonzero(y == v)[:per_class], classes[int(v)] if classes and 0 <= int(v) < len(classes) else f"{v:g}") for v in labels]
        groups = [(idx, [name] * len(idx)) for idx, name in groups]
    else:
        idx = np.arange(min(len(y), 2 * per_class))
        groups = [(idx[r : r + per_class], [f"y = {y[i]:.3g}" for i in idx[r : r + per_class]]) for r in range(0, len(idx), per_class)]
    fig, axes = plt.subplots(len(groups), per_class, figsize=(1.5 * per_class, 1.7 * len(groups)), squeeze=False)
    for row, (idx, names) in zip(axes, groups):
        for ax in row:
            ax.axis("off")
        for ax, i, name in zip(row, idx, names):
            ax.imshow(x[i].squeeze(), cmap="gray" if x[i].ndim == 2 or x[i].shape[-1] == 1 else None)
            ax.set_title(name, fontsize=7)
    return _save(fig, path)


def plot_sweep_accuracy(path, plan, rows) -> Path:
    """Accuracy against the swept value (one dimension), or per trial (several)."""
    plt = _figure()
    done = [r for r in rows if r["status"] == "completed"]
    order = {t.name: t.index for t in plan.trials}
    done.sort(key=lambda r: order[r["trial"]])
    fig, ax = plt.subplots(figsize=(6, 4))
    if len(plan.dimensions) == 1 and all(isinstance(r[plan.dimensions[0]], (int, float)) for r in done):
        dim = plan.dimensions[0]
        xs = [r[dim] for r in done]
        ax.set_xlabel(dim)
        if dim == "train.learning_rate" and min(xs) > 0:
            ax.set_xscale("log")
    else:
        xs = list(range(len(done)))
        ax.set_xticks(xs, [r["trial"] for r in done], rotation=45, ha="right", fontsize=7)
    for key, label in (("train_accuracy", "train"), ("test_accuracy", "test")):
        ys = [r[key] for r in done]
        if any(y is not None for y in ys):
            ax.plot(xs, [y if y is not None else float("nan") for y in ys], "o-", label=label)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(f"{plan.name}: accuracy per trial")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _class_colours(plt, labels):
    """The decision boundary's colours for each label, so a preview and a boundary agree: the course's
    red and blue for two classes, then Tableau's distinct colours up to ten, Spectral for more."""
    if len(labels) <= len(CLASS_COLOURS):
        return {v: CLASS_COLOURS[i] for i, v in enumerate(labels)}
    if len(labels) <= len(MANY_COLOURS):
        return {v: MANY_COLOURS[i] for i, v in enumerate(labels)}
    span = max(len(labels) - 1, 1)
    return {v: plt.cm.Spectral(i / span) for i, v in enumerate(labels)}


def plot_features(path, x, y, classes, categorical: bool, n_features: int, title: str = "") -> Path:
    """A tabular file's preview: the first two features against each other (or the only one's
    histogram), coloured by class, or by target for regression. `x` is (k, 1 or 2)."""
    plt = _figure()
    y = np.asarray(y).ravel()
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    if categorical:
        labels = np.unique(y)
        colours = _class_colours(plt, labels)
        for v in labels:
            name = classes[int(v)] if classes and 0 <= int(v) < len(classes) else f"{v:g}"
            label = f"{name} ({v:g})"
            if x.shape[1] >= 2:
                ax.scatter(x[y == v, 0], x[y == v, 1], s=10, color=colours[v], edgecolors="k", linewidths=0.2, label=label)
            else:
                ax.hist(x[y == v, 0], bins=30, alpha=0.6, color=colours[v], label=label)
        ax.legend(title="class (label)", fontsize="small")
    elif x.shape[1] >= 2:
        points = ax.scatter(x[:, 0], x[:, 1], s=10, c=y, cmap="viridis")
        fig.colorbar(points, ax=ax, label="y (target)")
    else:
        ax.scatter(x[:, 0], y, s=8)
        ax.set_ylabel("y (target)")
    ax.set_xlabel(f"feature 1 of {n_features}")
    if x.shape[1] >= 2:
        ax.set_ylabel(f"feature 2 of {n_features}")
    elif categorical:
        ax.set_ylabel("examples")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_lr_find(path, rates, costs, smoothed, suggested, title: str = "") -> Path:
    """The learning-rate range test: cost against rate on a log axis, the suggestion marked."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    with _quiet():
        ax.plot(rates, costs, ".", alpha=0.3, label="batch cost")
        ax.plot(rates, smoothed, "-", label="smoothed")
        ax.axvline(suggested, color="tab:red", linestyle="--", label=f"suggested {suggested:.3g}")
        ax.set_xscale("log")
        top = 2 * max(smoothed[0], min(smoothed))
        ax.set_ylim(min(min(smoothed), min(costs)) * 0.9, max(top, min(smoothed) * 1.1))
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("cost")
    ax.set_title(title or "learning-rate range test")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)
