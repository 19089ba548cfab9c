"""PNG pictures of a run: the cost curve and, for 2-D inputs, the decision boundary."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from nnctl.atomic import atomic_write


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path) -> Path:
    plt = _figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return atomic_write(path, buf.getvalue())


def plot_costs(path, curves: dict, title: str = "", learning_rate=None) -> Path:
    """One or several cost curves, {label: [(iteration, cost)]}, as the course draws them."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, costs in curves.items():
        if costs:
            its, cs = zip(*costs)
            ax.plot(its, cs, label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("cost")
    lr = f"learning rate = {learning_rate:g}" if learning_rate is not None else ""
    ax.set_title(" · ".join(t for t in (title, lr) if t))
    if len(curves) > 1:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_decision_boundary(path, predict, X, Y, title: str = "") -> Path:
    """The course's picture: the classifier's regions over a grid, with the points on top.

    `predict` maps an (2, k) array of points to (1, k) outputs.
    """
    plt = _figure()
    x_min, x_max = X[0].min() - 1, X[0].max() + 1
    y_min, y_max = X[1].min() - 1, X[1].max() + 1
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 300), np.linspace(y_min, y_max, 300))
    grid = np.vstack([xx.ravel(), yy.ravel()]).astype(X.dtype)  # (2, k)
    zz = (predict(grid) > 0.5).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.contourf(xx, yy, zz, cmap=plt.cm.Spectral, alpha=0.8)
    ax.scatter(X[0], X[1], c=Y.ravel(), s=12, cmap=plt.cm.Spectral, edgecolors="k", linewidths=0.3)
    ax.set_xlabel("x1")
    ax.set_ylabel("x2")
    ax.set_title(title)
    return _save(fig, path)


def plot_misclassified(path, X, y, probabilities, indices, preprocessing, classes, limit=40) -> Path:
    """The course's gallery of mislabelled pictures, with true and predicted class and P(class 1)."""
    plt = _figure()
    indices = list(indices)[:limit]
    cols = min(len(indices), 8)
    rows = -(-len(indices) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.9 * rows), squeeze=False)
    shape = preprocessing["input_shape"]
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), indices):
        pixels = np.clip(X[:, i] * preprocessing["scale"], 0, 255).astype(np.uint8).reshape(shape)
        ax.imshow(pixels.squeeze(), cmap="gray" if pixels.ndim == 2 or shape[-1] == 1 else None)
        p = probabilities[i]
        ax.set_title(f"true: {classes[int(y[i])]}\npred: {classes[int(p > 0.5)]} ({p:.2f})", fontsize=7)
    fig.suptitle(f"misclassified: {len(indices)} shown", fontsize=9)
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
        groups = [(idx[r:r + per_class], [f"y = {y[i]:.3g}" for i in idx[r:r + per_class]]) for r in range(0, len(idx), per_class)]
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
    """The decision boundary's colours (Spectral) for each label, so a preview and a boundary agree."""
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
