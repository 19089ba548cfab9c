"""A run's or a sweep's facts (nnctl.report.collect) rendered as one self-contained HTML page.

The Jinja2 templates are in nnctl/report/templates. Pictures are inline (SVG from matplotlib and PNG
as data: URIs, nnctl.report.figures), styles and the table-sorting script are in the page, and its
Content-Security-Policy forbids every request, so the file reads the same offline and attached to an
e-mail. Every value from outside is autoescaped, its control characters made visible.
"""

from __future__ import annotations

import base64
import hashlib
import math
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from nnctl import __version__
from nnctl.report import figures as rp
from nnctl.report.collect import RunFacts, SweepFacts, resumable, value_text
from nnctl.report.shapes import HEADERS as SHAPE_HEADERS
from nnctl.report.shapes import size_text, table_rows
from nnctl.rundir.layout import Status
from nnctl.rundir.runs import costs_axis, rerun_command
from nnctl.rundir.tolerant import string
from nnctl.sweep import selection
from nnctl.util.text import shell_join, shell_quote, strip_controls, visible

TEMPLATES = Path(__file__).parent / "templates"  # package data beside this module (pyproject.toml)
# the one script of the pages (the sweep table's sorting), allowed by its hash in the CSP: no other script can run
SORT_SCRIPT = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
SORT_SCRIPT_SRC = "'sha256-" + base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode() + "'"


def _finalize(value):
    """Every {{ value }} of a page: text from outside gets its control characters as visible escapes
    (then autoescaping); markup nnctl made (the SVG plots) only loses any control character."""
    if isinstance(value, Markup):
        return Markup(strip_controls(str(value)))
    return visible(value, keep_newlines=True) if isinstance(value, str) else value


def _env():
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "—" if v is None else f"{v:.2f}%"
    env.filters["num"] = lambda v, d=6: "—" if v is None else f"{v:.{d}g}"
    env.filters["cost"] = lambda v: "—" if v is None else f"{v:.6f}"
    env.filters["secs"] = lambda v: "—" if v is None else f"{v:.2f} s"
    env.filters["size"] = size_text
    return env


def href(target, start) -> str:
    """A link from a page in `start` to the file `target`: a relative path, each part URL-quoted
    (":" too: "javascript:x/report.html" becomes "javascript%3Ax/report.html"), so no name can make
    it a URL of another scheme or host, a query or a fragment."""
    rel = Path(os.path.relpath(target, start))
    return "/".join(quote(part, safe="=,+-_.~!$()*@") for part in rel.parts)


def _generated() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------- a run


def _score_cards(facts: RunFacts) -> list:
    cards = []
    for split, s in facts.scores:
        if s["accuracy"] is not None:
            cards.append((f"{split} accuracy", f"{s['accuracy']:.2f}%"))
        elif s["rmse"] is not None:
            cards.append((f"{split} RMSE", f"{s['rmse']:.4g}"))
    if facts.final_cost is not None:
        cards.append(("final cost", f"{facts.final_cost:.6f}"))
    if facts.iterations is not None:
        total = facts.total_iterations
        cards.append(("iterations", f"{facts.iterations:,}" + (f" of {total:,}" if total and total != facts.iterations else "")))
    if facts.seconds is not None:
        cards.append(("wall time", _seconds(facts.seconds)))
    rate = facts.iterations_per_second
    if rate:
        cards.append(("iterations/s", f"{rate:,.0f}"))
    return cards


def _seconds(s: float) -> str:
    if s < 0.01:
        return f"{s * 1000:.2g} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:,.0f} s"


def _column(costs: dict, *names):
    for n in names:
        if n in costs and any(math.isfinite(v) for v in costs[n]):
            return n
    return None


def _run_plots(facts: RunFacts) -> dict:
    plots: dict[str, Any] = {"cost": None, "cost_log": False, "accuracy": None, "lr": None, "decision": None, "every": None}
    costs = facts.costs
    axis, its = costs_axis(costs)
    plots["axis"] = axis
    steps = {b - a for a, b in zip(its, its[1:-1])}
    plots["every"] = steps.pop() if len(steps) == 1 else None
    if its:
        curves = {"training": (its, costs.get("cost", []))}
        val = _column(costs, "validation_cost", "val_cost", "validation")
        if val:
            curves["validation"] = (its, costs[val])
        total = facts.total_iterations if axis == "iteration" else facts.total_epochs
        try:  # values read back from a file: an extreme one costs the picture, never the page
            plots["cost"], plots["cost_log"] = rp.cost_svg(curves, f"{facts.name}: cost", total=total, xlabel=axis)
        except (ValueError, OverflowError, FloatingPointError):
            plots["cost"] = None
        # a classifier's accuracy at each record: training (from the epoch's batches) beside validation
        accuracy = {label: (its, costs[c]) for label, c in (("training", "train_accuracy"), ("validation", "validation_accuracy")) if _column(costs, c)}
        if accuracy:
            try:
                plots["accuracy"], _ = rp.cost_svg(accuracy, f"{facts.name}: accuracy", ylabel="accuracy (%)", total=total, xlabel=axis, log_scale=False)
            except (ValueError, OverflowError, FloatingPointError):
                plots["accuracy"] = None
            if "training" in accuracy:
                plots["accuracy_note"] = (
                    "training accuracy from each epoch's batches as they were trained"
                    if axis == "epoch"
                    else "training accuracy from the forward pass of the recorded iteration, before its update"
                )
        lr = _column(costs, "learning_rate", "lr")
        pts = [(i, r) for i, r in zip(its, costs[lr]) if math.isfinite(r)] if lr else []
        if pts:
            try:
                plots["lr"] = rp.lr_svg(*zip(*pts), xlabel=axis)
            except (ValueError, OverflowError, FloatingPointError):
                plots["lr"] = None
    if facts.decision is not None:
        X, Y, predict = facts.decision
        try:
            plots["decision"] = rp.decision_svg(predict, X, Y, f"{facts.name}: decision regions (training data)")
        except (ValueError, FloatingPointError):
            plots["decision"] = None
    return plots


def _repro(facts: RunFacts) -> dict:
    r = facts.reproduce
    command = r.get("command")
    if isinstance(command, list) and all(isinstance(c, str) for c in command):
        command = shell_join(command)
    elif not isinstance(command, str):
        command = None
    data = []
    for role, d in (r.get("data") or {}).items() if isinstance(r.get("data"), dict) else []:
        if isinstance(d, dict):
            data.append((str(role), string(d.get("source")) or "?", string(d.get("sha256")) or "?"))
    flat = lambda d: ", ".join(f"{k} {v}" for k, v in d.items()) if isinstance(d, dict) else None  # noqa: E731
    return {
        "seed": r.get("seed"),
        "init_rng": string(r.get("init_rng")),
        "data": data,
        "versions": flat(r.get("versions")),
        "blas": flat({k: v for k, v in (r.get("blas") or {}).items() if v is not None}) if isinstance(r.get("blas"), dict) else None,
        "platform": string(r.get("platform")),
        "command": command,
        "rerun": rerun_command(facts.path, r),
        "resume": f"nnctl train --resume {shell_quote(str(facts.path))}" if facts.status == Status.INTERRUPTED and resumable(facts) else None,
    }


def _evaluation(facts: RunFacts) -> dict | None:
    """The evaluation as the page shows it: the gallery's pixels as PNG data: URIs."""
    ev = facts.evaluation
    if ev is None:
        return None
    gallery = [{"src": rp.png_data_uri(g["pixels"]), **{k: v for k, v in g.items() if k != "pixels"}} for g in ev.get("gallery") or []]
    return {**ev, "gallery": gallery}


def render_run(facts: RunFacts, back_link: str | None = None) -> str:
    shapes = None
    if facts.shapes is not None:
        t = facts.shapes
        shapes = {
            "headers": SHAPE_HEADERS,
            "rows": table_rows(t),
            "m": t.m,
            "dtype": t.dtype,
            "parameters": f"{t.parameters:,}",
            "parameter_bytes": size_text(t.parameter_bytes),
            "activation_bytes": size_text(t.activation_bytes),
            "total": size_text(t.parameter_bytes + (t.activation_bytes or 0)),
        }
    return (
        _env()
        .get_template("run.html")
        .render(
            f=facts,
            title=f"{facts.name} · nnctl run",
            cards=_score_cards(facts),
            plots=_run_plots(facts),
            shapes=shapes,
            repro=_repro(facts),
            ev=_evaluation(facts),
            back_link=back_link,
            script_src=Markup("'none'"),
            version=__version__,
            generated=_generated(),
        )
    )


# ---------------------------------------------------------------- a sweep


def _sweep_plots(facts: SweepFacts) -> dict:
    plots: dict[str, Any] = {"curves": None, "curves_log": False, "values": [], "best_so_far": None, "parallel": None}
    if facts.curves:
        axis = "epoch" if facts.axes == {"epoch"} else "iteration" if facts.axes == {"iteration"} else "epoch or iteration"
        plots["curves"], plots["curves_log"] = rp.cost_svg(facts.curves, f"{facts.name}: every trial's cost", legend_below=True, xlabel=axis)
    done = sorted((r for r in facts.rows if r["status"] == Status.COMPLETED), key=lambda r: facts.order.index(r["trial"]))
    metric, keys = (
        ("RMSE", ("train_rmse", "validation_rmse", "test_rmse"))
        if facts.task == "regression"
        else ("accuracy (%)", ("train_accuracy", "validation_accuracy", "test_accuracy"))
    )
    for d in facts.dimensions:
        points = []
        for r in done:
            v = r["values"].get(d)
            if isinstance(v, list):
                v = "x".join(map(str, v)) or "none"
            ys = {k.split("_")[0]: r[k] for k in keys if r[k] is not None}
            if ys and v is not None:
                points.append((v, ys))
        if points:
            plots["values"].append(rp.sweep_value_svg(d, points, metric, log=d in facts.log_dims, one_minus=d in facts.one_minus))
    c = next(x for x in selection.CRITERIA if x.key == facts.metric) if facts.metric else None
    if c is not None:
        scores = [(i + 1, selection.score(r, c)) for i, r in enumerate(sorted(done, key=lambda r: facts.order.index(r["trial"])))]
        label = c.metric.replace("_", " ")
        if len(scores) >= 2:
            plots["best_so_far"] = rp.best_so_far_svg(scores, label, c.higher_is_better)
        numeric = [d for d in facts.dimensions if all(isinstance(r["values"].get(d), (int, float)) and not isinstance(r["values"].get(d), bool) for r in done)]
        if len(numeric) >= 2 and len(done) >= 2:
            lines = [([r["values"][d] for d in numeric], selection.score(r, c)) for r in done]
            plots["parallel"] = rp.parallel_svg(numeric, lines, label, c.higher_is_better, facts.log_dims, facts.one_minus)
    return plots


def render_sweep(facts: SweepFacts, out_dir: Path) -> str:
    columns = ["trial", *facts.dimensions, "layers"]
    if facts.task == "regression":
        metrics = [("train_rmse", "train RMSE"), ("validation_rmse", "validation RMSE"), ("test_rmse", "test RMSE")]
    else:
        metrics = [("train_accuracy", "train"), ("validation_accuracy", "validation"), ("test_accuracy", "test")]
    metrics = [(k, label) for k, label in metrics if any(r[k] is not None for r in facts.rows)]
    table: dict[str, list] = {"headers": [], "rows": []}
    table["headers"] = [
        (
            c if c in ("trial", "layers") else c.split(".")[-1].replace("_", " "),
            "text"
            if c == "trial"
            else "num"
            if all(isinstance(r["values"].get(c), (int, float)) or r["values"].get(c) is None for r in facts.rows) or c == "layers"
            else "text",
        )
        for c in columns
    ]
    table["headers"] += [(label, "num") for _, label in metrics] + [("final cost", "num"), ("seconds", "num"), ("status", "text")]
    for r in facts.rows:
        page = facts.pages.get(r["trial"])
        link = href(page, out_dir) if page is not None else None
        number = r["trial"].split("-", 1)[0] if r["trial"][:1].isdigit() else r["trial"]
        cells = [(number, r["trial"], link)]
        for d in facts.dimensions:
            v = r["values"].get(d)
            sort = (
                v
                if isinstance(v, (int, float)) and not isinstance(v, bool)
                else (sum(v) if isinstance(v, list) and all(isinstance(x, int) for x in v) else value_text(v))
            )
            cells.append((value_text(v), sort, None))
        layers = r["layers"]
        cells.append(("—" if not layers else "-".join(map(str, layers)), len(layers) if layers else "", None))
        for k, _ in metrics:
            v = r[k]
            cells.append(("—" if v is None else (f"{v:.2f}%" if "accuracy" in k else f"{v:.4g}"), "" if v is None else v, None))
        cells.append(("—" if r["final_cost"] is None else f"{r['final_cost']:.6f}", "" if r["final_cost"] is None else r["final_cost"], None))
        cells.append(("—" if r["seconds"] is None else f"{r['seconds']:.2f}", "" if r["seconds"] is None else r["seconds"], None))
        cells.append((r["status"], r["status"], None))
        table["rows"].append({"cells": cells, "best": r is facts.best, "status": r["status"]})
    best = None
    if facts.best:
        b = facts.best
        k = facts.metric
        score = (
            (
                f"{b[k]:.2f}% validation accuracy"
                if k == "validation_accuracy"
                else f"validation RMSE {b[k]:.4g}"
                if k == "validation_rmse"
                else f"training cost {b[k]:.6f}"
            )
            if b.get(k) is not None
            else None
        )
        page = facts.pages.get(b["trial"])
        best = {
            "name": b["trial"],
            "score": score,
            "settings": ", ".join(f"{d} = {value_text(b['values'].get(d))}" for d in facts.dimensions),
            "link": href(page, out_dir) if page is not None else None,
        }
    return (
        _env()
        .get_template("sweep.html")
        .render(
            f=facts,
            title=f"{facts.name} · nnctl sweep",
            table=table,
            best=best,
            plots=_sweep_plots(facts),
            sort_script=Markup(SORT_SCRIPT),
            script_src=Markup(SORT_SCRIPT_SRC),
            version=__version__,
            generated=_generated(),
        )
    )
