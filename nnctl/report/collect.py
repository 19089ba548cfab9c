"""The facts a report shows of a run or a sweep, gathered from its folder (also shown in the terminal
by `nnctl runs show`).

Everything read back from the folder is input, and is read through nnctl.rundir (tolerant.Folder): a
missing or damaged file becomes a line saying what is missing, never a traceback. A run's evaluation
is the last `nnctl evaluate`'s or, without one, computed now on the run's test data; its gallery's
pictures and the decision regions' points come from the data files the run names. nnctl.report.render
turns these facts into the page.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from nnctl.core.network import HEADS, predict_proba
from nnctl.data.dataset import ARRAY_PREFIX, load_dataset
from nnctl.data.images import image_geometry
from nnctl.data.tables import is_table, read_table
from nnctl.errors import NnctlError, RunError
from nnctl.experiment.inference import evaluate, loss_of, normalization, normalized, to_targets
from nnctl.report.shapes import ShapeTable, data_m, shape_table
from nnctl.rundir.layout import METRICS, RESOLVED, REPRODUCE, SPEC, SWEEP_PLAN, Status
from nnctl.rundir.runs import sweep_instead, costs_axis, is_sweep_dir, kept_metrics, load_run, resolve_run_path
from nnctl.rundir.tolerant import Folder, finite, layer_sizes, mapping, safe_child, status_of, string, strings, whole
from nnctl.sweep import selection
from nnctl.sweep.pruner import caps
from nnctl.util.text import quoted, shell_join, shell_quote

MAX_GALLERY = 24
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
    total_epochs: int | None = None  # the resolved spec's train.epochs (mini-batch runs)
    iterations_per_second: float | None = None
    seconds: float | None = None
    task: str = "classification"
    layers: list | None = None
    activations: list | None = None
    dtype: str = "float64"
    m: int | None = None
    m_unknown: str = "the training data cannot be read"  # why m is None, in words for the page
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


# ---------------------------------------------------------------- a run


def collect_run(path, evaluate: bool = True) -> RunFacts:
    """Every fact a run's page shows, from its folder; what cannot be read is listed in `missing`.

    A RunError when `path` is not a folder, when a file in it is not a regular file (a FIFO, a device),
    or when its metrics.json is not one nnctl writes.
    """
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such run directory; give a runs/... folder (see `nnctl runs`)")
    folder = Folder(path)
    if is_sweep_dir(path) and not folder.has(METRICS):
        raise sweep_instead(path)
    facts = RunFacts(path=path, name=path.name, missing=folder.problems)

    metrics = kept_metrics(folder.metrics())  # of the parameters saved, whichever version wrote the file
    facts.metrics = metrics
    facts.status = status_of(metrics, path)
    facts.started = string(metrics.get("started"))
    facts.iterations = whole(metrics.get("iterations"))
    facts.total_iterations = whole(metrics.get("total_iterations"))
    facts.iterations_per_second = finite(metrics.get("iterations_per_second"))
    facts.seconds = finite(metrics.get("seconds"))
    facts.final_cost = finite(metrics.get("final_cost"))
    facts.warnings = [w if isinstance(w, str) else str(w) for w in metrics.get("warnings") or [] if w] if isinstance(metrics.get("warnings"), list) else []

    facts.spec_text = folder.text(SPEC, required=False)
    facts.resolved_text = folder.text(RESOLVED)
    facts.resolved = folder.yaml_mapping(RESOLVED, facts.resolved_text)
    model = mapping(facts.resolved.get("model"))
    train = mapping(facts.resolved.get("train"))
    data = mapping(facts.resolved.get("data"))
    if string(facts.resolved.get("name")):
        facts.name = facts.resolved["name"]
    facts.learning_rate = finite(train.get("learning_rate"))
    facts.total_iterations = facts.total_iterations or whole(train.get("iterations"))
    facts.total_epochs = whole(train.get("epochs"))
    facts.dtype = train["dtype"] if train.get("dtype") in ("float32", "float64") else "float64"
    facts.layers = layer_sizes(model.get("layers")) or layer_sizes(metrics.get("layers"))
    facts.activations = strings(model.get("activations"))
    facts.task = "regression" if model.get("loss") == "mse" else "classification"

    params_meta = folder.params_meta(running=facts.status == Status.RUNNING)
    if params_meta:
        facts.layers = facts.layers or layer_sizes(params_meta.get("layer_dims"))
        facts.activations = facts.activations or strings(params_meta.get("activations"))
        if params_meta.get("task") in ("classification", "regression"):
            facts.task = params_meta["task"]

    facts.m = whole(metrics.get("m")) or _training_m(data)
    if facts.m is None:
        facts.m_unknown = _m_unknown(string(data.get("train")))
    if facts.layers:
        facts.shapes = shape_table(facts.layers, facts.activations, facts.m, facts.dtype, _batch_norm_layers(facts))

    for split in SPLITS:
        score = {k: finite(metrics.get(f"{split}_{k}")) for k in ("accuracy", "rmse", "cost")}
        if split == "validation":  # another spelling a later version may write
            for k in ("accuracy", "rmse", "cost"):
                score[k] = score[k] if score[k] is not None else finite(metrics.get(f"val_{k}"))
        if any(v is not None for v in score.values()):
            facts.scores.append((split, score))

    facts.costs = folder.costs()
    facts.reproduce = folder.json(REPRODUCE)
    _status_notices(facts)
    if evaluate and facts.status != Status.RUNNING:
        _evaluation(facts, folder)
    return facts


def _training_m(data: dict) -> int | None:
    """The training examples of a run whose metrics.json does not record m (written before it did):
    an HDF5 or builtin source's count; a table's rows where every row trains (no validation fraction
    held out, no rows dropped for a missing value); None otherwise."""
    source = string(data.get("train"))
    if not source or not is_table(source):
        return data_m(source)
    if isinstance(data.get("validation"), (int, float)) or data.get("missing") == "drop":
        return None
    try:
        header = data.get("header", "auto")  # absent: a run of before data.header (auto)
        return read_table(source, header if header in (True, False) else "auto").m
    except (NnctlError, OSError, ValueError):
        return None


def _m_unknown(source: str | None) -> str:
    """Why a run's m is unknown, truthfully: no training data named, arrays never stored, a file gone."""
    if not source:
        return "the run's spec names no training data"
    if source.startswith(ARRAY_PREFIX):
        return "the run was trained on arrays passed in Python, which the run folder does not keep"
    if not source.startswith("builtin:") and not Path(source).exists():
        return f"the training data {source} is no longer there"
    if is_table(source):
        return "the run does not record how many of the table's rows it trained on"
    return "the training data cannot be read"


def _batch_norm_layers(facts: RunFacts) -> list:
    """The normalised layers the resolved spec names (read back: only hidden layer numbers count)."""
    bn = (facts.resolved.get("model") or {}).get("batch_norm") if isinstance(facts.resolved.get("model"), dict) else None
    assert facts.layers is not None  # the shapes table is made with the layers
    L = len(facts.layers) - 1
    return [l for l in bn if isinstance(l, int) and not isinstance(l, bool) and 1 <= l < L] if isinstance(bn, list) else []


def resumable(facts: RunFacts) -> bool:
    """Whether `nnctl train --resume` can read the run's data again: not arrays given to nnctl.fit (never kept)."""
    data = facts.resolved.get("data")
    return not (isinstance(data, dict) and isinstance(data.get("train"), str) and data["train"].startswith(ARRAY_PREFIX))


def _status_notices(facts: RunFacts) -> None:
    s, it, total = facts.status, facts.iterations, facts.total_iterations
    at = f" at iteration {it:,}" if it is not None else ""
    of = f" of {total:,}" if total is not None else ""
    msg = string(facts.metrics.get("message"))
    if s == Status.DIVERGED:
        facts.notices.append(
            Notice(
                "bad",
                f"Diverged{at}: {msg or 'the cost stopped being finite'}. The parameters are the last finite ones; train again with a smaller learning_rate.",
            )
        )
    elif s == Status.INTERRUPTED and not resumable(facts):
        facts.notices.append(
            Notice(
                "warn",
                f"Interrupted{at}{of}: this run is unfinished. It cannot be resumed: it was trained on arrays given to nnctl.fit, which a run does not keep.",
            )
        )
    elif s == Status.INTERRUPTED:
        facts.notices.append(Notice("warn", f"Interrupted{at}{of}: this run is unfinished. Resume it with: nnctl train --resume {shell_quote(facts.path)}"))
    elif s == Status.RUNNING:
        facts.notices.append(
            Notice("warn", f"Unfinished: the run is still running (pid {facts.metrics.get('pid')}); this page shows it as it was when written.")
        )
    elif s == "failed":
        facts.notices.append(Notice("bad", f"Failed: {msg or 'the run did not finish'}"))
    elif s == "unknown":
        facts.notices.append(Notice("warn", f"Unfinished or damaged: the run's status is unknown ({METRICS} is missing or unreadable)."))
    elif s != Status.COMPLETED:
        facts.notices.append(Notice("warn", f"Status {s}{at}{of}: not a completed run."))
    if s == Status.COMPLETED and it is not None and total is not None and it < total:
        facts.notices.append(Notice("warn", f"Stopped early at iteration {it:,} of {total:,}: {msg or 'no reason recorded'}"))
    if facts.metrics.get("resumed_from") is not None:
        facts.notices.append(Notice("info", f"Resumed from iteration {facts.metrics.get('resumed_from')}."))
    target = facts.metrics.get("normalize_target")
    if isinstance(target, dict) and target.get("method") == "standardize":
        stats = (
            [(finite(mu), finite(sd)) for mu, sd in zip(target.get("mean") or [], target.get("std") or [])]
            if isinstance(target.get("mean"), list) and isinstance(target.get("std"), list)
            else []
        )
        said = "; ".join(f"mean {mu:.6g}, std {sd:.6g}" for mu, sd in stats if mu is not None and sd is not None)
        facts.notices.append(
            Notice(
                "info",
                f"Target standardised for training{f' ({said})' if said else ''}: the costs and the cost "
                "curve are in standardised units; RMSE and predictions in the target's own.",
            )
        )
    for w in facts.warnings:
        facts.notices.append(Notice("warn", f"Warning: {w}"))
    if facts.missing:
        facts.notices.append(Notice("warn", "Missing or damaged: " + "; ".join(facts.missing)))


# ---------------------------------------------------------------- confusion matrix, gallery, regions


def _evaluation(facts: RunFacts, folder: Folder) -> None:
    """The last `nnctl evaluate`, or the run on its test data; the gallery from that data."""
    found = folder.latest_evaluation()
    run = data = None
    try:
        run = load_run(facts.path)
    except NnctlError:
        run = None
    if found:
        result, file, mtime = found
        when = datetime.fromtimestamp(mtime, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        source = f"from {file.name} (the last `nnctl evaluate`, {when})"
    elif run is None:
        facts.evaluation_note = "no evaluation: the run has no readable parameters"
        return
    else:
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
    probs = [float(p) if finite(p) is not None else float("nan") for p in probs] if isinstance(probs, list) else []
    return {
        "task": "regression" if e.get("task") == "regression" else "classification",
        "source": source,
        "data": string(e.get("data")) or "?",
        "m": whole(e.get("m")),
        "rmse": finite(e.get("rmse")),
        "mae": finite(e.get("mae")),
        "accuracy": finite(e.get("accuracy")),
        "precision": finite(e.get("precision")),
        "recall": finite(e.get("recall")),
        "f1": finite(e.get("f1")),
        "classes": [str(c) for c in e.get("classes") or []],
        "confusion_matrix": e.get("confusion_matrix") or [],
        "misclassified": [i for i in e.get("misclassified") or [] if whole(i) is not None and i >= 0],
        # every mistake counted (an evaluation of many examples lists those of the first EVALUATION_LISTED only)
        "mistakes": whole(e.get("mistakes")) if whole(e.get("mistakes")) is not None else len(e.get("misclassified") or []),
        "probabilities": probs,
        "predicted": [whole(v) for v in predicted] if predicted is not None else None,
        "gallery": [],
        "gallery_note": None,
    }


def _gallery(data, mistakes, probs, pre, classes, predicted=None) -> list:
    """The mistakes' pictures, as pixels (H, W) or (H, W, 3) of uint8; `probs` is the probability of the
    predicted class where `predicted` gives it (k classes), else P(label 1)."""
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
        p = float(probs[i])
        if predicted is None:
            y, guess = int(data.Y.ravel()[i] > 0.5), int(p > 0.5)
        else:
            y, guess = int(data.Y.ravel()[i]), predicted[i] if i < len(predicted) else None
        if guess is None or not (0 <= y < len(classes) and 0 <= guess < len(classes)):
            continue
        out.append({"pixels": pixels, "index": i, "true": classes[y], "pred": classes[guess], "p": p})
    return out


def _decision(facts: RunFacts, run) -> None:
    """For 2-D inputs, what the page needs to draw the regions over the training points."""
    if run is None or not facts.layers or facts.layers[0] != 2 or facts.status == Status.DIVERGED:
        return
    source = string((facts.resolved.get("data") or {}).get("train"))
    if not source:
        return
    try:
        # numeric inputs read in float64, normalised, then cast to the run's dtype, as training did
        train = load_dataset(source, facts.task, dtype=np.dtype(run.meta.get("dtype", "float64")), max_classes=None, normalize=normalization(run).method)
    except NnctlError as exc:
        facts.evaluation_note = (facts.evaluation_note or "") + f" no decision regions: {exc}"
        return
    head = HEADS[loss_of(run)]
    # the predicted label of each point (a regression's output, in the target's units, read against 0.5, as before)
    read = head.predict if head.proba is not None else (lambda A: (to_targets(run, A)[0] > 0.5).astype(int))
    facts.decision = (normalized(run, train.X), train.Y, lambda P: read(predict_proba(P, run.params, run.activations, run.epsilon)))


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
    pages: dict = field(default_factory=dict)  # trial -> its report.html, for the trials that have one (sweep_pages)


def value_text(v) -> str:
    """A swept value as the page shows it: a list in brackets, a missing one as a dash."""
    if isinstance(v, list):
        return "[" + ", ".join(map(str, v)) + "]"
    return "—" if v is None else str(v)


def _plan_search(facts: SweepFacts, plan: dict) -> set:
    """The search's regions and scales, and the trials successive halving pruned, read tolerantly."""
    search = mapping(plan.get("search"))
    for region in search.get("regions") or [] if isinstance(search.get("regions"), list) else []:
        if not isinstance(region, dict):
            continue
        shown = []
        for key, d in region.items():
            if isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("args"), list):
                shown.append((str(key), f"{d['name']}({', '.join(f'{a:.4g}' if isinstance(a, float) else value_text(a) for a in d['args'])})"))
                if d["name"] == "loguniform":
                    facts.log_dims.add(str(key))
                elif d["name"] == "one_minus_loguniform":
                    facts.one_minus.add(str(key))
        facts.regions.append(shown)
    halving = mapping(plan.get("halving"))
    pruned = set()
    for rung in halving.get("rungs") or [] if isinstance(halving.get("rungs"), list) else []:
        if isinstance(rung, dict) and isinstance(rung.get("trials"), list) and isinstance(rung.get("promoted"), list):
            if halving.get("mode") == "async" and not _rung_settled(plan, halving, rung):
                continue  # asynchronous halving may still promote the trials that finished this budget
            pruned |= {t for t in rung["trials"] if isinstance(t, str)} - {t for t in rung["promoted"] if isinstance(t, str)}
    return pruned


def _rung_settled(plan: dict, halving: dict, rung: dict) -> bool:
    """An asynchronous rung has made all its promotions (nnctl.sweep.pruner.caps), read tolerantly."""
    budgets, eta = halving.get("budgets"), halving.get("eta")
    trials = plan.get("trials")
    promoted = rung.get("promoted")
    if (
        not isinstance(trials, list)
        or not isinstance(budgets, list)
        or rung.get("budget") not in budgets[:-1]
        or not isinstance(eta, int)
        or eta < 2
        or not isinstance(promoted, list)
    ):
        return False
    size = sum(isinstance(t, dict) and t.get("round", 1) == rung.get("round") for t in trials)
    return len(promoted) >= caps(size, len(budgets), eta)[budgets.index(rung["budget"])]


def collect_sweep(path) -> SweepFacts:
    path = resolve_run_path(path)
    if not path.is_dir():
        raise RunError(f"{path}: no such sweep directory; give a runs/sweep-... folder (see `nnctl runs`)")
    folder = Folder(path)
    facts = SweepFacts(path=path, name=path.name, missing=folder.problems)
    trials = []  # (name, values)
    pruned = set()
    plan = folder.sweep_plan()
    if plan:
        facts.name = string(plan.get("name")) or facts.name
        dims = plan.get("dimensions")
        facts.dimensions = [d for d in dims if isinstance(d, str)] if isinstance(dims, list) else []
        pruned = _plan_search(facts, plan)
        command = plan.get("command")
        if isinstance(command, list) and all(isinstance(c, str) for c in command):
            facts.command = shell_join(command)
        for t in plan.get("trials") or [] if isinstance(plan.get("trials"), list) else []:
            if not isinstance(t, dict):
                continue
            if safe_child(path, t.get("name")) is None:
                folder.problem(SWEEP_PLAN, f"trial name {quoted(str(t.get('name'))[:60])} is not a folder name; skipped")
                continue
            trials.append((t["name"], mapping(t.get("values"))))
    if not trials:
        trials = [(name, {}) for name in folder.trial_folders()]
    rows = []
    for name, values in trials:
        row = {"trial": name, "values": {d: values.get(d) for d in facts.dimensions}, "link": None}
        m = kept_metrics(folder.trial_metrics(name))
        row["status"] = status_of(m, path / name) if m else ("pending" if not folder.has(name) else "unknown")
        if row["status"] == Status.INTERRUPTED and name in pruned:
            row["status"] = "pruned"  # successive halving stopped it at a rung
        row["validation_cost"] = finite(m.get("validation_cost"))
        row["epochs"] = whole(m.get("epochs"))
        row["layers"] = layer_sizes(m.get("layers"))
        for split in SPLITS:
            row[f"{split}_accuracy"] = finite(m.get(f"{split}_accuracy"))
            row[f"{split}_rmse"] = finite(m.get(f"{split}_rmse"))
        if row["validation_accuracy"] is None:
            row["validation_accuracy"] = finite(m.get("val_accuracy"))
        row["final_cost"] = finite(m.get("final_cost"))
        row["seconds"] = finite(m.get("seconds"))
        row["message"] = string(m.get("message"))
        costs = folder.trial_costs(name)
        if costs is not None:
            facts.curves[name] = (costs_axis(costs)[1], costs["cost"])
            facts.axes.add(costs_axis(costs)[0])
        rows.append(row)
    if any(r["train_accuracy"] is None and r["train_rmse"] is not None for r in rows):
        facts.task = "regression"

    facts.order = [r["trial"] for r in rows]  # the plan's order, for plots against swept values
    facts.rows, c = selection.rank(rows)  # on validation, never on test
    facts.selection, facts.metric = c.note, c.key
    facts.best = next((r for r in facts.rows if r["status"] == Status.COMPLETED and r.get(c.key) is not None), None)
    unfinished = [r for r in rows if r["status"] not in (Status.COMPLETED, "pruned")]
    if not rows:
        facts.notices.append(Notice("warn", "No trials found in this folder."))
    if unfinished:
        kinds: dict[str, int] = {}
        for r in unfinished:
            kinds[r["status"]] = kinds.get(r["status"], 0) + 1
        said = ", ".join(f"{n} {k}" for k, n in kinds.items())
        level = "bad" if "failed" in kinds or Status.DIVERGED in kinds else "warn"
        facts.notices.append(
            Notice(
                level,
                f"Not every trial completed: {said} of {len(rows)}."
                + (f" Resume with: nnctl sweep --resume {shell_quote(path)}" if set(kinds) - {Status.DIVERGED} else ""),
            )
        )
    if facts.missing:
        facts.notices.append(Notice("warn", "Missing or damaged: " + "; ".join(facts.missing)))
    sweep_pages(facts)
    return facts


def sweep_pages(facts: SweepFacts) -> None:
    """facts.pages: each trial's report.html that exists now (write_report calls it again once it has
    written them)."""
    folder = Folder(facts.path)
    facts.pages = {r["trial"]: page for r in facts.rows if (page := folder.page(r["trial"])) is not None}
