"""`nnctl report`: a run or a sweep as one self-contained HTML page.

Everything read back from the folder is input: a missing or damaged file becomes a line on the page
saying what is missing, never a traceback. `collect_run` / `collect_sweep` gather the facts (also
shown in the terminal by `nnctl runs show`); `render_*` fill the Jinja2 templates in
nnctl/report/templates; `write_report` writes the page. Pictures are inline (SVG from matplotlib, PNG as
data: URIs), styles and the table-sorting script are in the page, and its Content-Security-Policy
forbids every request, so the file reads the same offline and attached to an e-mail.
"""

from __future__ import annotations

import base64
import hashlib
import io
import math
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from markupsafe import Markup

from nnctl import __version__
from nnctl.sweep import selection
from nnctl.util.atomic import atomic_write
from nnctl.errors import NnctlError, RunError
from nnctl.rundir.runs import CHECKPOINT, METRICS, PARAMS, _sweep_instead, check_metrics, is_sweep_dir, costs_axis, load_params, read_costs_columns, read_json, readable_file, rerun_command, resolve_run_path, run_status
from nnctl.report.shapes import HEADERS as SHAPE_HEADERS
from nnctl.report.shapes import ShapeTable, data_m, shape_table, size_text, table_rows
from nnctl.util.text import quoted, strip_controls, visible

REPORT = "report.html"
RESOLVED = "config.resolved.yaml"
REPRODUCE = "reproduce.json"
MAX_TEXT = 64 * 1024  # a spec shown on the page is cut here
MAX_GALLERY = 24
TEMPLATES = Path(__file__).parent / "templates"  # package data beside this module (pyproject.toml)
SPLITS = ("train", "validation", "test")


@dataclass
class Notice:
    level: str  # "bad" (diverged, failed), "warn" (unfinished, interrupted, missing), "info"
    text: str


@dataclass
class RunFacts:
    path: Path
    name: str
    status: str = "unknown"
    notices: list = field(default_factory=list)  # shown at the top of the page, in order
    missing: list = field(default_factory=list)  # "file: what is wrong"
    metrics: dict = field(default_factory=dict)
    started: str | None = None
    iterations: int | None = None
    total_iterations: int | None = None
    seconds: float | None = None
    task: str = "classification"
    layers: list | None = None
    activations: list | None = None
    dtype: str = "float64"
    m: int | None = None
    shapes: ShapeTable | None = None  # shapes.ShapeTable
    spec_text: str | None = None
    resolved_text: str | None = None
    resolved: dict = field(default_factory=dict)
    learning_rate: float | None = None
    scores: list = field(default_factory=list)  # [(split, {"accuracy": .., "rmse": .., "cost": ..})]
    final_cost: float | None = None
    costs: dict = field(default_factory=dict)  # column -> list, "iteration" and "cost" at least
    evaluation: dict | None = None
    evaluation_note: str | None = None
    decision: tuple | None = None  # (X, Y, predict) for 2-D data, drawn by the page
    reproduce: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


# ---------------------------------------------------------------- reading, defensively


def _problem(facts: RunFacts, name: str, what: str) -> None:
    facts.missing.append(f"{name}: {what}")


def _text(facts: RunFacts, name: str, required=True) -> str | None:
    path = facts.path / name
    if not path.exists():
        if required:
            _problem(facts, name, "missing")
        return None
    try:
        with open(readable_file(path), "rb") as fh:
            data = fh.read(MAX_TEXT + 1)
        text = data.decode("utf-8", errors="replace")
    except OSError as exc:
        _problem(facts, name, f"cannot be read ({exc.strerror})")
        return None
    if len(data) > MAX_TEXT:
        text = text[:MAX_TEXT] + "\n… (cut: the file is longer)"
    return text


def _json(facts: RunFacts, name: str, required=True) -> dict:
    path = facts.path / name
    if not path.exists():
        if required:
            _problem(facts, name, "missing")
        return {}
    readable_file(path)  # a FIFO or a device is an error, not a hang
    try:
        data = read_json(path)
    except RunError:
        _problem(facts, name, "damaged (not valid JSON)")
        return {}
    if not isinstance(data, dict):
        _problem(facts, name, "damaged (not a JSON object)")
        return {}
    return data


def _num(value) -> float | None:
    """A finite number, or None for anything else read from disk."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _status(metrics: dict) -> str:
    """The run's status; a damaged value reads as "unknown"."""
    if not metrics or not isinstance(metrics.get("status"), str):
        return "unknown"
    if metrics.get("pid") is not None and _int(metrics.get("pid")) is None:
        metrics = {**metrics, "pid": None}
    return run_status(metrics)[:40]


def _int(value) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value) -> str | None:
    return value if isinstance(value, str) else None


def _int_list(value) -> list | None:
    if isinstance(value, list) and value and all(_int(v) is not None and v > 0 for v in value):
        return [int(v) for v in value]
    return None


def _str_list(value) -> list | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _mapping(value) -> dict:
    """A section read back: the mapping, or {} where it is anything else (damaged, missing)."""
    return value if isinstance(value, dict) else {}


read_costs = read_costs_columns  # one reader for the report, `runs show` and sweeps


def _column(costs: dict, *names):
    for n in names:
        if n in costs and any(math.isfinite(v) for v in costs[n]):
            return n
    return None


def _load_yaml(text: str | None):
    import yaml

    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


# ---------------------------------------------------------------- a run


def collect_run(path, evaluate: bool = True) -> RunFacts:
    """Every fact a run's page shows, from its folder; what cannot be read is listed in `missing`.

    A RunError when `path` is not a folder, when a file in it is not a regular file (a FIFO, a device),
    or when its metrics.json is not one nnctl writes.
    """
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; give a runs/... folder (see `nnctl runs`)")
    if is_sweep_dir(path) and not (path / METRICS).exists():
        raise _sweep_instead(path)
    facts = RunFacts(path=path, name=path.name)

    metrics = _json(facts, METRICS)
    if (path / METRICS).exists() and not any(m.startswith(f"{METRICS}:") for m in facts.missing):
        check_metrics(metrics, path / METRICS)  # parsed, but not what nnctl writes: named, not shown as a run
    facts.metrics = metrics
    facts.status = _status(metrics)
    facts.started = _str(metrics.get("started"))
    facts.iterations = _int(metrics.get("iterations"))
    facts.total_iterations = _int(metrics.get("total_iterations"))
    facts.seconds = _num(metrics.get("seconds"))
    facts.final_cost = _num(metrics.get("final_cost"))
    facts.warnings = [w if isinstance(w, str) else str(w) for w in metrics.get("warnings") or [] if w] if isinstance(metrics.get("warnings"), list) else []

    facts.spec_text = _text(facts, "spec.yaml", required=False)
    facts.resolved_text = _text(facts, RESOLVED)
    resolved = _load_yaml(facts.resolved_text)
    if facts.resolved_text is not None and not isinstance(resolved, dict):
        _problem(facts, RESOLVED, "damaged (not a YAML mapping)")
        resolved = {}
    facts.resolved = resolved or {}
    model = _mapping(facts.resolved.get("model"))
    train = _mapping(facts.resolved.get("train"))
    data = _mapping(facts.resolved.get("data"))
    if _str(facts.resolved.get("name")):
        facts.name = facts.resolved["name"]
    facts.learning_rate = _num(train.get("learning_rate"))
    facts.total_iterations = facts.total_iterations or _int(train.get("iterations"))
    facts.dtype = train["dtype"] if train.get("dtype") in ("float32", "float64") else "float64"
    facts.layers = _int_list(model.get("layers")) or _int_list(metrics.get("layers"))
    facts.activations = _str_list(model.get("activations"))
    facts.task = "regression" if model.get("loss") == "mse" else "classification"

    params_meta = _params_meta(facts)
    if params_meta:
        facts.layers = facts.layers or _int_list(params_meta.get("layer_dims"))
        facts.activations = facts.activations or _str_list(params_meta.get("activations"))
        if params_meta.get("task") in ("classification", "regression"):
            facts.task = params_meta["task"]

    facts.m = _int(metrics.get("m")) or data_m(_str(data.get("train")))
    if facts.layers:
        facts.shapes = shape_table(facts.layers, facts.activations, facts.m, facts.dtype, _batch_norm_layers(facts))

    for split in SPLITS:
        score = {k: _num(metrics.get(f"{split}_{k}")) for k in ("accuracy", "rmse", "cost")}
        if split == "validation":  # another spelling a later version may write
            for k in ("accuracy", "rmse", "cost"):
                score[k] = score[k] if score[k] is not None else _num(metrics.get(f"val_{k}"))
        if any(v is not None for v in score.values()):
            facts.scores.append((split, score))

    if (path / "costs.csv").exists():
        try:
            facts.costs = read_costs(path / "costs.csv")
        except (OSError, ValueError, StopIteration, RunError) as exc:
            if isinstance(exc, RunError):
                raise
            _problem(facts, "costs.csv", "damaged (no epoch,cost or iteration,cost columns)")
    else:
        _problem(facts, "costs.csv", "missing (no cost curve)")

    facts.reproduce = _json(facts, REPRODUCE)
    _status_notices(facts)
    if evaluate and facts.status != "running":
        _evaluation(facts, params_meta)
    return facts


def _batch_norm_layers(facts: RunFacts) -> list:
    """The normalised layers the resolved spec names (read back: only hidden layer numbers count)."""
    bn = (facts.resolved.get("model") or {}).get("batch_norm") if isinstance(facts.resolved.get("model"), dict) else None
    assert facts.layers is not None  # the shapes table is made with the layers
    L = len(facts.layers) - 1
    return [l for l in bn if isinstance(l, int) and not isinstance(l, bool) and 1 <= l < L] if isinstance(bn, list) else []


def _params_meta(facts: RunFacts) -> dict:
    for name in (PARAMS, CHECKPOINT):
        file = facts.path / name
        if file.exists():
            readable_file(file)  # a FIFO is an error, not a hang
            try:
                _, meta = load_params(file)
                return meta
            except (RunError, OSError):
                _problem(facts, name, "damaged (cannot be read as HDF5)")
    if facts.status not in ("running",):
        _problem(facts, PARAMS, "missing (no trained parameters)")
    return {}


def _status_notices(facts: RunFacts) -> None:
    s, it, total = facts.status, facts.iterations, facts.total_iterations
    at = f" at iteration {it:,}" if it is not None else ""
    of = f" of {total:,}" if total is not None else ""
    msg = _str(facts.metrics.get("message"))
    if s == "diverged":
        facts.notices.append(Notice("bad", f"Diverged{at}: {msg or 'the cost stopped being finite'}. The parameters are the last finite ones; train again with a smaller learning_rate."))
    elif s == "interrupted":
        facts.notices.append(Notice("warn", f"Interrupted{at}{of}: this run is unfinished. Resume it with: nnctl train --resume {facts.path}"))
    elif s == "running":
        facts.notices.append(Notice("warn", f"Unfinished: the run is still running (pid {facts.metrics.get('pid')}); this page shows it as it was when written."))
    elif s == "failed":
        facts.notices.append(Notice("bad", f"Failed: {msg or 'the run did not finish'}"))
    elif s == "unknown":
        facts.notices.append(Notice("warn", "Unfinished or damaged: the run's status is unknown (metrics.json is missing or unreadable)."))
    elif s != "completed":
        facts.notices.append(Notice("warn", f"Status {s}{at}{of}: not a completed run."))
    if s in ("completed",) and it is not None and total is not None and it < total:
        facts.notices.append(Notice("warn", f"Stopped early at iteration {it:,} of {total:,}: {msg or 'no reason recorded'}"))
    if facts.metrics.get("resumed_from") is not None:
        facts.notices.append(Notice("info", f"Resumed from iteration {facts.metrics.get('resumed_from')}."))
    target = facts.metrics.get("normalize_target")
    if isinstance(target, dict) and target.get("method") == "standardize":
        stats = [(_num(mu), _num(sd)) for mu, sd in zip(target.get("mean") or [], target.get("std") or [])] \
            if isinstance(target.get("mean"), list) and isinstance(target.get("std"), list) else []
        said = "; ".join(f"mean {mu:.6g}, std {sd:.6g}" for mu, sd in stats if mu is not None and sd is not None)
        facts.notices.append(Notice("info", f"Target standardised for training{f' ({said})' if said else ''}: the costs and the cost "
                                            "curve are in standardised units; RMSE and predictions in the target's own."))
    for w in facts.warnings:
        facts.notices.append(Notice("warn", f"Warning: {w}"))
    if facts.missing:
        facts.notices.append(Notice("warn", "Missing or damaged: " + "; ".join(facts.missing)))


# ---------------------------------------------------------------- confusion matrix, gallery, regions


def _latest_evaluation(facts: RunFacts) -> tuple[dict, Path] | None:
    found = []
    for p in facts.path.glob("evaluation*.json"):
        try:
            found.append((p.stat().st_mtime, p))
        except OSError:
            continue
    for _, p in sorted(found, reverse=True):
        data = _json(facts, p.name, required=False)
        if _valid_evaluation(data):
            return data, p
    return None


def _valid_evaluation(e: dict) -> bool:
    if e.get("task") == "regression":
        return _num(e.get("rmse")) is not None
    cm, k = e.get("confusion_matrix"), len(_str_list(e.get("classes")) or [])  # k×k for k classes
    ok_cm = k >= 2 and isinstance(cm, list) and len(cm) == k and all(isinstance(r, list) and len(r) == k and all(_int(v) is not None and v >= 0 for v in r) for r in cm)
    return ok_cm and _num(e.get("accuracy")) is not None


def _evaluation(facts: RunFacts, params_meta: dict) -> None:
    """The last `nnctl evaluate`, or the run on its test data; the gallery from that data."""
    from nnctl.data.images import image_geometry

    found = _latest_evaluation(facts)
    run = data = None
    try:
        from nnctl.rundir.runs import load_run

        run = load_run(facts.path)
    except NnctlError:
        run = None
    if found:
        result, file = found
        when = datetime.fromtimestamp(file.stat().st_mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        source = f"from {file.name} (the last `nnctl evaluate`, {when})"
    elif run is None:
        facts.evaluation_note = "no evaluation: the run has no readable parameters"
        return
    else:
        from nnctl.experiment.inference import evaluate

        try:
            result, data = evaluate(run)
        except NnctlError as exc:
            facts.evaluation_note = f"no evaluation: {exc}"
            _decision(facts, run)
            return
        source = "computed now on the run's test data"
    result = _clean_evaluation(result, source)
    facts.evaluation = result
    if result.get("task") == "regression" or run is None:
        _decision(facts, run)
        return
    shape = (run.meta.get("preprocessing") or {}).get("input_shape")
    mistakes, probs = result["misclassified"], result["probabilities"]
    if mistakes and isinstance(shape, list) and image_geometry(shape) is not None:
        try:
            if data is None:
                from nnctl.data.dataset import load_dataset

                data = load_dataset(result["data"], "classification", role="test", max_classes=None)
            result["gallery"] = _gallery(data, mistakes, probs, run.meta["preprocessing"], result["classes"], result["predicted"])
        except (NnctlError, KeyError, ValueError, IndexError, TypeError) as exc:
            result["gallery_note"] = f"no pictures: {exc}"
    _decision(facts, run)


def _clean_evaluation(e: dict, source: str) -> dict:
    """The evaluation's fields the page shows, each checked; a fixed set of keys."""
    # the probability shown with a mistake: of the predicted class where recorded (confidence), else P(label 1)
    predicted = e.get("predicted") if isinstance(e.get("confidence"), list) and isinstance(e.get("predicted"), list) else None
    probs = e.get("confidence") if predicted is not None else e.get("probabilities")
    probs = [float(p) if _num(p) is not None else float("nan") for p in probs] if isinstance(probs, list) else []
    return {
        "task": "regression" if e.get("task") == "regression" else "classification",
        "source": source,
        "data": _str(e.get("data")) or "?",
        "m": _int(e.get("m")),
        "rmse": _num(e.get("rmse")),
        "mae": _num(e.get("mae")),
        "accuracy": _num(e.get("accuracy")),
        "precision": _num(e.get("precision")),
        "recall": _num(e.get("recall")),
        "f1": _num(e.get("f1")),
        "classes": [str(c) for c in e.get("classes") or []],
        "confusion_matrix": e.get("confusion_matrix") or [],
        "misclassified": [i for i in e.get("misclassified") or [] if _int(i) is not None and i >= 0],
        "probabilities": probs,
        "predicted": [_int(v) for v in predicted] if predicted is not None else None,
        "gallery": [],
        "gallery_note": None,
    }


def _gallery(data, mistakes, probs, pre, classes, predicted=None) -> list:
    """The mistakes' pictures; `probs` is the probability of the predicted class where `predicted`
    gives it (k classes), else P(label 1)."""
    from PIL import Image

    shape = pre["input_shape"]
    if data.preprocessing.get("input_shape") != shape:
        raise ValueError(f"{data.source} holds examples of another shape than the model's")
    out = []
    guess: int | None
    for i in mistakes[:MAX_GALLERY]:
        if not 0 <= i < data.m or i >= len(probs) or not math.isfinite(probs[i]):
            continue
        pixels = np.clip(data.X[:, i] * pre.get("scale", 255.0), 0, 255).astype(np.uint8).reshape(shape)
        if pixels.ndim == 3 and pixels.shape[-1] == 1:
            pixels = pixels[..., 0]
        buf = io.BytesIO()
        Image.fromarray(pixels).save(buf, format="PNG")
        p = float(probs[i])
        if predicted is None:
            y, guess = int(data.Y.ravel()[i] > 0.5), int(p > 0.5)
        else:
            y, guess = int(data.Y.ravel()[i]), predicted[i] if i < len(predicted) else None
        if guess is None or not (0 <= y < len(classes) and 0 <= guess < len(classes)):
            continue
        out.append(
            {
                "src": "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"),
                "index": i,
                "true": classes[y],
                "pred": classes[guess],
                "p": p,
            }
        )
    return out


def _decision(facts: RunFacts, run) -> None:
    """For 2-D inputs, what the page needs to draw the regions over the training points."""
    if run is None or not facts.layers or facts.layers[0] != 2 or facts.status == "diverged":
        return
    source = _str((facts.resolved.get("data") or {}).get("train"))
    if not source:
        return
    from nnctl.data.dataset import load_dataset
    from nnctl.experiment.inference import loss_of
    from nnctl.core.network import HEADS, predict_proba

    try:
        train = load_dataset(source, facts.task, dtype=np.dtype(run.meta.get("dtype", "float64")), max_classes=None)
    except NnctlError as exc:
        facts.evaluation_note = (facts.evaluation_note or "") + f" no decision regions: {exc}"
        return
    from nnctl.experiment.inference import normalized, to_targets

    head = HEADS[loss_of(run)]
    # the predicted label of each point (a regression's output, in the target's units, read against 0.5, as before)
    read = head.predict if head.proba is not None else (lambda A: (to_targets(run, A)[0] > 0.5).astype(int))
    facts.decision = (normalized(run, train.X), train.Y, lambda P: read(predict_proba(P, run.params, run.activations, run.epsilon)))


# ---------------------------------------------------------------- the page


def _finalize(value):
    """Every {{ value }} of a page: text from outside gets its control characters as visible escapes
    (then autoescaping); markup nnctl made (the SVG plots) only loses any control character."""
    if isinstance(value, Markup):
        return Markup(strip_controls(str(value)))
    return visible(value, keep_newlines=True) if isinstance(value, str) else value


def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

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
    rate = _num(facts.metrics.get("iterations_per_second"))
    if rate:
        cards.append(("iterations/s", f"{rate:,.0f}"))
    return cards


def _seconds(s: float) -> str:
    if s < 0.01:
        return f"{s * 1000:.2g} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:,.0f} s"


def _run_plots(facts: RunFacts) -> dict:
    from nnctl.report import figures as rp

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
        total = facts.total_iterations if axis == "iteration" else _int((facts.resolved.get("train") or {}).get("epochs"))
        try:  # values read back from a file: an extreme one costs the picture, never the page
            plots["cost"], plots["cost_log"] = rp.cost_svg(curves, f"{facts.name}: cost", total=total, xlabel=axis)
        except (ValueError, OverflowError, FloatingPointError):
            plots["cost"] = None
        # a classifier's accuracy at each record: training (from the epoch's batches) beside validation
        accuracy = {label: (its, costs[c]) for label, c in (("training", "train_accuracy"), ("validation", "validation_accuracy"))
                    if _column(costs, c)}
        if accuracy:
            try:
                plots["accuracy"], _ = rp.cost_svg(accuracy, f"{facts.name}: accuracy", ylabel="accuracy (%)", total=total,
                                                   xlabel=axis, log_scale=False)
            except (ValueError, OverflowError, FloatingPointError):
                plots["accuracy"] = None
            if "training" in accuracy:
                plots["accuracy_note"] = ("training accuracy from each epoch's batches as they were trained" if axis == "epoch" else
                                          "training accuracy from the forward pass of the recorded iteration, before its update")
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
        command = shlex.join(command)
    elif not isinstance(command, str):
        command = None
    data = []
    for role, d in (r.get("data") or {}).items() if isinstance(r.get("data"), dict) else []:
        if isinstance(d, dict):
            data.append((str(role), _str(d.get("source")) or "?", _str(d.get("sha256")) or "?"))
    flat = lambda d: ", ".join(f"{k} {v}" for k, v in d.items()) if isinstance(d, dict) else None  # noqa: E731
    return {
        "seed": r.get("seed"),
        "init_rng": _str(r.get("init_rng")),
        "data": data,
        "versions": flat(r.get("versions")),
        "blas": flat({k: v for k, v in (r.get("blas") or {}).items() if v is not None}) if isinstance(r.get("blas"), dict) else None,
        "platform": _str(r.get("platform")),
        "command": command,
        "rerun": rerun_command(facts.path, r, shlex.quote),
        "resume": f"nnctl train --resume {shlex.quote(str(facts.path))}" if facts.status == "interrupted" else None,
    }


def href(target, start) -> str:
    """A link from a page in `start` to the file `target`: a relative path, each part URL-quoted
    (":" too: "javascript:x/report.html" becomes "javascript%3Ax/report.html"), so no name can make
    it a URL of another scheme or host, a query or a fragment."""
    rel = Path(os.path.relpath(target, start))
    return "/".join(quote(part, safe="=,+-_.~!$()*@") for part in rel.parts)


# the one script of the pages (the sweep table's sorting), allowed by its hash in the CSP: no other script can run
SORT_SCRIPT = (TEMPLATES / "sort.js").read_text(encoding="utf-8")
SORT_SCRIPT_SRC = "'sha256-" + base64.b64encode(hashlib.sha256(SORT_SCRIPT.encode()).digest()).decode() + "'"


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
    return _env().get_template("run.html").render(
        f=facts,
        title=f"{facts.name} · nnctl run",
        cards=_score_cards(facts),
        plots=_run_plots(facts),
        shapes=shapes,
        repro=_repro(facts),
        ev=facts.evaluation,
        back_link=back_link,
        script_src=Markup("'none'"),
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


# ---------------------------------------------------------------- a sweep


@dataclass
class SweepFacts:
    path: Path
    name: str
    dimensions: list = field(default_factory=list)
    rows: list = field(default_factory=list)  # one dict per trial, best first
    notices: list = field(default_factory=list)
    missing: list = field(default_factory=list)
    best: dict | None = None
    curves: dict = field(default_factory=dict)
    axes: set = field(default_factory=set)  # the curves' x axes: epoch (mini-batches), iteration (full batch)
    command: str | None = None
    task: str = "classification"
    order: list = field(default_factory=list)
    selection: str = ""  # how the best trial was chosen (nnctl.sweep.selection)
    metric: str = ""  # the row key it was chosen on
    log_dims: set = field(default_factory=set)  # dimensions drawn on a log scale
    one_minus: set = field(default_factory=set)  # ... on the scale of 1 - value
    regions: list = field(default_factory=list)  # coarse to fine: [[(key, distribution text)] per round]


def _plan_search(facts: SweepFacts, plan: dict) -> set:
    """The search's regions and scales, and the trials successive halving pruned, read tolerantly."""
    search = _mapping(plan.get("search"))
    for region in search.get("regions") or [] if isinstance(search.get("regions"), list) else []:
        if not isinstance(region, dict):
            continue
        shown = []
        for key, d in region.items():
            if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("args"), list):
                shown.append((str(key), f"{d['name']}({', '.join(f'{a:.4g}' if isinstance(a, float) else _value_text(a) for a in d['args'])})"))
                if d["name"] == "loguniform":
                    facts.log_dims.add(str(key))
                elif d["name"] == "one_minus_loguniform":
                    facts.one_minus.add(str(key))
        facts.regions.append(shown)
    halving = _mapping(plan.get("halving"))
    pruned = set()
    for rung in halving.get("rungs") or [] if isinstance(halving.get("rungs"), list) else []:
        if isinstance(rung, dict) and isinstance(rung.get("trials"), list) and isinstance(rung.get("promoted"), list):
            if halving.get("mode") == "async" and not _rung_settled(plan, halving, rung):
                continue  # asynchronous halving may still promote the trials that finished this budget
            pruned |= {t for t in rung["trials"] if isinstance(t, str)} - {t for t in rung["promoted"] if isinstance(t, str)}
    return pruned


def _rung_settled(plan: dict, halving: dict, rung: dict) -> bool:
    """An asynchronous rung has made all its promotions (nnctl.sweep.pruner.caps), read tolerantly."""
    from nnctl.sweep.pruner import caps

    budgets, eta = halving.get("budgets"), halving.get("eta")
    trials = plan.get("trials")
    promoted = rung.get("promoted")
    if not isinstance(trials, list) or not isinstance(budgets, list) or rung.get("budget") not in budgets[:-1] or not isinstance(eta, int) or eta < 2 or not isinstance(promoted, list):
        return False
    size = sum(isinstance(t, dict) and t.get("round", 1) == rung.get("round") for t in trials)
    return len(promoted) >= caps(size, len(budgets), eta)[budgets.index(rung["budget"])]


def is_sweep(path) -> bool:
    path = resolve_run_path(path)
    return (path / "sweep.json").exists() or (path.name.startswith("sweep-") and not (path / METRICS).exists() and path.is_dir())


def _safe_child(folder: Path, name) -> Path | None:
    """`folder/name` when `name` is a plain folder name inside it; None for anything else."""
    if not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        return None
    child = folder / name
    try:
        if child.is_symlink() or child.resolve().parent != folder.resolve():
            return None
    except OSError:
        return None
    return child


def collect_sweep(path) -> SweepFacts:
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such sweep directory; give a runs/sweep-... folder (see `nnctl runs`)")
    facts = SweepFacts(path=path, name=path.name)
    trials = []  # (name, values)
    plan = {}
    pruned = set()
    if (path / "sweep.json").exists():
        readable_file(path / "sweep.json")  # a FIFO is an error, not a hang
        try:
            plan = read_json(path / "sweep.json")
        except RunError:
            facts.missing.append("sweep.json: damaged (not valid JSON)")
    else:
        facts.missing.append("sweep.json: missing (the trials are the folders found)")
    if isinstance(plan, dict) and plan:
        facts.name = _str(plan.get("name")) or facts.name
        dims = plan.get("dimensions")
        facts.dimensions = [d for d in dims if isinstance(d, str)] if isinstance(dims, list) else []
        pruned = _plan_search(facts, plan)
        command = plan.get("command")
        if isinstance(command, list) and all(isinstance(c, str) for c in command):
            facts.command = shlex.join(command)
        for t in plan.get("trials") or [] if isinstance(plan.get("trials"), list) else []:
            if not isinstance(t, dict):
                continue
            if _safe_child(path, t.get("name")) is None:
                facts.missing.append(f"sweep.json: trial name {quoted(str(t.get('name'))[:60])} is not a folder name; skipped")
                continue
            trials.append((t["name"], _mapping(t.get("values"))))
    if not trials:
        trials = [(p.name, {}) for p in sorted(path.iterdir()) if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and (p / METRICS).exists()]
    rows = []
    for name, values in trials:
        folder = path / name
        row = {"trial": name, "values": {d: values.get(d) for d in facts.dimensions}, "link": None}
        m = {}
        if (folder / METRICS).exists():
            try:
                m = read_json(folder / METRICS)
                m = m if isinstance(m, dict) else {}
            except RunError:
                facts.missing.append(f"{name}/{METRICS}: damaged")
        row["status"] = _status(m) if m else ("pending" if not folder.exists() else "unknown")
        if row["status"] == "interrupted" and name in pruned:
            row["status"] = "pruned"  # successive halving stopped it at a rung
        row["validation_cost"] = _num(m.get("validation_cost"))
        row["epochs"] = _int(m.get("epochs"))
        row["layers"] = _int_list(m.get("layers"))
        for split in SPLITS:
            row[f"{split}_accuracy"] = _num(m.get(f"{split}_accuracy"))
            row[f"{split}_rmse"] = _num(m.get(f"{split}_rmse"))
        if row["validation_accuracy"] is None:
            row["validation_accuracy"] = _num(m.get("val_accuracy"))
        row["final_cost"] = _num(m.get("final_cost"))
        row["seconds"] = _num(m.get("seconds"))
        row["message"] = _str(m.get("message"))
        if (folder / "costs.csv").exists():
            try:
                costs = read_costs(folder / "costs.csv")
                facts.curves[name] = (costs_axis(costs)[1], costs["cost"])
                facts.axes.add(costs_axis(costs)[0])
            except (OSError, ValueError, KeyError):
                facts.missing.append(f"{name}/costs.csv: damaged")
        rows.append(row)
    if any(r["train_accuracy"] is None and r["train_rmse"] is not None for r in rows):
        facts.task = "regression"

    facts.order = [r["trial"] for r in rows]  # the plan's order, for plots against swept values
    facts.rows, c = selection.rank(rows)  # on validation, never on test
    facts.selection, facts.metric = c.note, c.key
    facts.best = next((r for r in facts.rows if r["status"] == "completed" and r.get(c.key) is not None), None)
    unfinished = [r for r in rows if r["status"] not in ("completed", "pruned")]
    if not rows:
        facts.notices.append(Notice("warn", "No trials found in this folder."))
    if unfinished:
        kinds: dict[str, int] = {}
        for r in unfinished:
            kinds[r["status"]] = kinds.get(r["status"], 0) + 1
        said = ", ".join(f"{n} {k}" for k, n in kinds.items())
        level = "bad" if "failed" in kinds or "diverged" in kinds else "warn"
        facts.notices.append(Notice(level, f"Not every trial completed: {said} of {len(rows)}." + (f" Resume with: nnctl sweep --resume {path}" if set(kinds) - {"diverged"} else "")))
    if facts.missing:
        facts.notices.append(Notice("warn", "Missing or damaged: " + "; ".join(facts.missing)))
    return facts


def _sweep_plots(facts: SweepFacts) -> dict:
    from nnctl.report import figures as rp

    plots: dict[str, Any] = {"curves": None, "curves_log": False, "values": [], "best_so_far": None, "parallel": None}
    if facts.curves:
        axis = "epoch" if facts.axes == {"epoch"} else "iteration" if facts.axes == {"iteration"} else "epoch or iteration"
        plots["curves"], plots["curves_log"] = rp.cost_svg(facts.curves, f"{facts.name}: every trial's cost", legend_below=True, xlabel=axis)
    done = sorted((r for r in facts.rows if r["status"] == "completed"), key=lambda r: facts.order.index(r["trial"]))
    metric, keys = ("RMSE", ("train_rmse", "validation_rmse", "test_rmse")) if facts.task == "regression" else ("accuracy (%)", ("train_accuracy", "validation_accuracy", "test_accuracy"))
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


def _value_text(v) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return "—" if v is None else str(v)


def render_sweep(facts: SweepFacts, out_dir: Path) -> str:
    columns = ["trial", *facts.dimensions, "layers"]
    if facts.task == "regression":
        metrics = [("train_rmse", "train RMSE"), ("validation_rmse", "validation RMSE"), ("test_rmse", "test RMSE")]
    else:
        metrics = [("train_accuracy", "train"), ("validation_accuracy", "validation"), ("test_accuracy", "test")]
    metrics = [(k, label) for k, label in metrics if any(r[k] is not None for r in facts.rows)]
    table: dict[str, list] = {"headers": [], "rows": []}
    table["headers"] = [(c if c in ("trial", "layers") else c.split(".")[-1].replace("_", " "), "text" if c == "trial" else "num" if all(isinstance(r["values"].get(c), (int, float)) or r["values"].get(c) is None for r in facts.rows) or c == "layers" else "text") for c in columns]
    table["headers"] += [(label, "num") for _, label in metrics] + [("final cost", "num"), ("seconds", "num"), ("status", "text")]
    for r in facts.rows:
        link = None
        page = facts.path / r["trial"] / REPORT
        if page.exists():
            link = href(page, out_dir)
        number = r["trial"].split("-", 1)[0] if r["trial"][:1].isdigit() else r["trial"]
        cells = [(number, r["trial"], link)]
        for d in facts.dimensions:
            v = r["values"].get(d)
            sort = v if isinstance(v, (int, float)) and not isinstance(v, bool) else (sum(v) if isinstance(v, list) and all(isinstance(x, int) for x in v) else _value_text(v))
            cells.append((_value_text(v), sort, None))
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
        score = (f"{b[k]:.2f}% validation accuracy" if k == "validation_accuracy" else f"validation RMSE {b[k]:.4g}" if k == "validation_rmse"
                 else f"training cost {b[k]:.6f}") if b.get(k) is not None else None
        page = facts.path / b["trial"] / REPORT
        best = {"name": b["trial"], "score": score, "settings": ", ".join(f"{d} = {_value_text(b['values'].get(d))}" for d in facts.dimensions), "link": href(page, out_dir) if page.exists() else None}
    return _env().get_template("sweep.html").render(
        f=facts,
        title=f"{facts.name} · nnctl sweep",
        table=table,
        best=best,
        plots=_sweep_plots(facts),
        sort_script=Markup(SORT_SCRIPT),
        script_src=Markup(SORT_SCRIPT_SRC),
        version=__version__,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    )


# ---------------------------------------------------------------- writing


def _write(path: Path, html: str) -> Path:
    """Atomically, with the permissions the umask gives (not the temporary file's 0600); no control
    character (but newline and tab) is left in the page, wherever it came from."""
    html = strip_controls(html)
    try:
        atomic_write(path, html)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(path, 0o666 & ~mask)
    except OSError as exc:
        raise RunError(f"{path}: cannot write the report ({exc.strerror}); choose another place with -o") from None
    return path


def write_run_report(run_dir, output=None, back_link: str | None = None) -> Path:
    facts = collect_run(run_dir)
    out = Path(output) if output else facts.path / REPORT
    if back_link is None and (facts.path.parent / "sweep.json").exists():  # a sweep's trial
        back_link = href(facts.path.parent / REPORT, out.parent)
    return _write(out, render_run(facts, back_link))


def report_output(path: Path, output, force: bool = False) -> Path | None:
    """Where `-o` puts the page, checked before any work (None: the folder's own report.html): an
    .html file name; not a file of a run (params.h5, ...), even with --force; an existing file only
    with --force, as `data make`, `data import` and `export` do."""
    if output is None:
        return None
    output = Path(output)
    try:
        if output.parent.resolve() / output.name == path.resolve() / REPORT:
            return output  # the page the report writes anyway
    except (OSError, RuntimeError):
        pass
    if output.suffix.lower() not in (".html", ".htm"):
        raise RunError(f"{output}: the report is an HTML page; give a file name ending in .html with -o")
    from nnctl.data.dataset import prepare_output

    return prepare_output(output, force, option="-o", suffix=".html")


def check_run_folder(path) -> Path:
    """`path` (runs/latest resolved) if it is a folder holding a run's files or a sweep's plan; a
    RunError naming it otherwise (a missing path, a file, an empty or unrelated folder, "")."""
    path = resolve_run_path(path)
    if not path.exists():
        raise RunError(f"{path}: no such run or sweep directory; see `nnctl runs` for the runs there are")
    if not path.is_dir():
        raise RunError(f"{path}: not a directory; give a run or sweep folder such as runs/latest")
    if not is_sweep(path) and not any((path / n).exists() for n in (METRICS, RESOLVED, PARAMS, CHECKPOINT, REPRODUCE, "costs.csv")):
        raise RunError(f"{path}: not a run or sweep directory (no metrics.json, config.resolved.yaml or sweep.json); "
                       "give a folder that `nnctl runs` lists")
    return path


def write_report(path, output=None, force: bool = False) -> Path:
    """The page of a run or a sweep (with a page for each trial, so the links lead somewhere)."""
    path = check_run_folder(path)
    output = report_output(path, output, force)
    if not is_sweep(path):
        return write_run_report(path, output)
    facts = collect_sweep(path)
    out = Path(output) if output else path / REPORT
    for r in facts.rows:
        trial = path / r["trial"]
        if trial.is_dir():
            write_run_report(trial, back_link=href(out, trial))
    return _write(out, render_sweep(facts, out.parent))
