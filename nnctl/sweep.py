"""Sweeps: one spec trained over a grid of variants, in worker processes or on a Dask cluster.

Each trial is an ordinary run of the spec with `--set`-style overrides, so it gets the spec's
seed and the same parameters as training that variant alone. A trial trains in a temporary
directory wherever it runs and sends its files back as bytes; the sweep directory on the
machine that started the sweep receives them whole, so a trial's directory is complete or absent.

runs/sweep-<time>-<name>/
    sweep.json            the plan: spec text, config path, trials and their overrides
    <NN-label>/           each trial's full run directory
    summary.csv, summary.json, costs.png, accuracy.png
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nnctl.config import Spec, parse_yaml, spec_from_text
from nnctl.errors import ConfigError, DivergedError, Interrupted, NnctlError, RunError
from nnctl.runs import METRICS, atomic_write, create_run_dir, read_json, result_fields, write_json
from nnctl.training import Reporter

PLAN = "sweep.json"
DASK_CONNECT_TIMEOUT = "20s"
FINISHED = ("completed", "diverged")


@dataclass
class Trial:
    index: int
    name: str
    overrides: list
    values: dict  # {dimension: value shown in tables and plots}


@dataclass
class SweepPlan:
    name: str
    config_path: str
    text: str
    trials: list = field(default_factory=list)
    dimensions: list = field(default_factory=list)
    base_overrides: list = field(default_factory=list)  # --set, applied to every trial first


# ---------------------------------------------------------------- the grid


def split_values(text: str) -> list:
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
    return [parse_yaml(p, f"--grid value {p.strip()!r}") for p in parts if p.strip()]


def parse_grid(assignments) -> dict:
    grid = {}
    for a in assignments:
        key, sep, values = a.partition("=")
        if not sep or not key.strip() or not values.strip():
            raise ConfigError(f"--grid {a}: expected key.path=v1,v2,..., e.g. --grid train.learning_rate=0.01,0.001")
        grid[key.strip()] = split_values(values)
    return grid


def _label(value) -> str:
    if isinstance(value, list):
        return "x".join(map(str, value)) or "none"
    return str(value)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_.-=" else "-" for c in text)


def plan_sweep(spec: Spec, text: str, config_path, hidden_layers=None, width=None, grid=None, base_overrides=()) -> SweepPlan:
    """The trials: the product of the hidden-layer dimension and every grid key.

    Command-line choices replace the spec's `sweep:` block dimension by dimension; `spec` is the
    spec with `base_overrides` (--set) already applied.
    """
    block = spec.sweep
    hidden_layers = hidden_layers if hidden_layers is not None else (block.hidden_layers if block else None)
    width = width if width is not None else (block.width if block else None)
    stacks = block.hidden if block and hidden_layers is None else None
    merged = {**(block.grid if block else {}), **(grid or {})}

    dims = []  # [(dimension, [(shown value, [overrides])])]
    if hidden_layers is not None:
        if width is None:
            raise ConfigError(
                "--hidden-layers needs the width of each hidden layer: give --width N (or sweep.width), "
                "or list the stacks in the spec's sweep.hidden"
            )
        dims.append(("hidden_layers", [(k, ["model.layers=null", f"model.hidden={[width] * k}"]) for k in hidden_layers]))
    elif stacks:
        dims.append(("model.hidden", [(s, ["model.layers=null", f"model.hidden={s}"]) for s in stacks]))
    for key, values in merged.items():
        if dims and dims[0][0] in ("hidden_layers", "model.hidden") and key in ("model.hidden", "model.layers"):
            raise ConfigError(f"--grid {key}: the hidden layers are already swept; give one or the other")
        dims.append((key, [(v, [f"{key}={json.dumps(v)}"]) for v in values]))
    if not dims or any(not choices for _, choices in dims):
        raise ConfigError("nothing to sweep: give --hidden-layers with --width, --grid key=v1,v2, or a sweep: block in the spec")

    plan = SweepPlan(
        name=spec.name or "sweep", config_path=str(config_path), text=text,
        dimensions=[d for d, _ in dims], base_overrides=list(base_overrides),
    )
    for i, combo in enumerate(itertools.product(*(choices for _, choices in dims)), start=1):
        overrides = [*base_overrides, *(o for _, ovs in combo for o in ovs)]
        values = {d: v for (d, _), (v, _) in zip(dims, combo)}
        label = "_".join(f"{d.split('.')[-1]}={_label(v)}" for d, v in values.items())
        # the trial's name shows only what varies
        plan.trials.append(Trial(i, _safe(f"{i:02d}-{label}"), overrides, values))
    for trial in plan.trials:  # every variant is checked before anything runs
        spec_from_text(text, config_path, trial.overrides)
    return plan


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


def run_trial(payload: dict) -> dict:
    """Train one trial in a temporary directory and return its status and files as bytes.

    Progress goes to the local pool's queue where there is one (not on Dask workers).
    """
    from threadpoolctl import threadpool_limits

    from nnctl.experiment import train_run

    reporter = _QueueReporter(_WORKER_QUEUE, payload["index"]) if _WORKER_QUEUE is not None else None
    result = {"index": payload["index"], "name": payload["name"], "status": "failed", "message": None, "files": {}}
    with threadpool_limits(payload.get("blas_threads")), tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / payload["name"]
        try:
            spec = spec_from_text(payload["text"], payload["config_path"], payload["overrides"])
            train_run(spec, config_text=payload["text"], run_dir=run_dir, reporter=reporter, command=payload["command"])
            result["status"] = "completed"
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


def _worker_init(queue):
    """Workers ignore Ctrl-C (the parent decides) and report progress on the pool's queue."""
    import signal

    global _WORKER_QUEUE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _WORKER_QUEUE = queue


# ---------------------------------------------------------------- executors


def run_local(payloads, jobs, on_event, on_result):
    """Trials in `jobs` spawned worker processes; progress comes back on a queue."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    blas = max(1, (os.cpu_count() or 1) // jobs)
    for p in payloads:
        p["blas_threads"] = blas
    pool = ctx.Pool(min(jobs, len(payloads)), initializer=_worker_init, initargs=(q,))
    try:
        pending = {p["index"]: pool.apply_async(run_trial, (p,)) for p in payloads}
        while pending:
            try:
                on_event(*q.get(timeout=0.1))
                while True:
                    on_event(*q.get_nowait())
            except queue_mod.Empty:
                pass
            for index in [i for i, r in pending.items() if r.ready()]:
                on_result(pending.pop(index).get())
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def run_dask(payloads, address, on_event, on_result):
    """The same trials on an existing Dask cluster, through Dask's own API."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise NnctlError("the Dask executor needs the optional extra: pip install 'nnctl[dask]'") from None
    try:
        client = Client(address, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise NnctlError(f"cannot reach the Dask scheduler at {address} ({exc}); check --address") from None
    try:
        futures = {}
        for p in payloads:
            p["blas_threads"] = 1
            futures[client.submit(run_trial, p, pure=False, key=f"nnctl-{p['sweep']}-{p['name']}")] = p
            on_event("start", p["index"], 0, None)
        for future in as_completed(futures):
            try:
                on_result(future.result())
            except Exception as exc:  # the worker died or could not run the task
                p = futures[future]
                on_result({"index": p["index"], "name": p["name"], "status": "failed", "message": f"dask: {exc}", "files": {}})
    except BaseException:
        client.cancel(list(futures))
        raise
    finally:
        client.close()


# ---------------------------------------------------------------- the sweep directory


def _store_trial(sweep_dir: Path, result: dict) -> None:
    """Write a trial's files into a hidden folder, then rename it into place."""
    target = sweep_dir / result["name"]
    tmp = sweep_dir / f".{result['name']}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for name, data in result["files"].items():
        (tmp / name).write_bytes(data)
    metrics = json.loads(result["files"][METRICS]) if METRICS in result["files"] else {}
    if result["status"] != "completed" or metrics.get("status") != result["status"]:
        metrics.update(status=result["status"], message=result["message"])
        write_json(tmp / METRICS, metrics)
    if target.exists():
        shutil.rmtree(target)
    os.replace(tmp, target)


def trial_status(sweep_dir: Path, trial: Trial) -> str:
    metrics = sweep_dir / trial.name / METRICS
    if not metrics.exists():
        return "pending"
    try:
        return read_json(metrics).get("status", "failed")
    except RunError:
        return "failed"


def load_plan(sweep_dir) -> SweepPlan:
    sweep_dir = Path(sweep_dir)
    if not (sweep_dir / PLAN).exists():
        raise RunError(f"{sweep_dir}: not a sweep directory (no {PLAN}); give a runs/sweep-... directory to --resume")
    data = read_json(sweep_dir / PLAN)
    plan = SweepPlan(**{k: data[k] for k in ("name", "config_path", "text", "dimensions", "base_overrides")})
    plan.trials = [Trial(**t) for t in data["trials"]]
    return plan


def summary_rows(sweep_dir: Path, plan: SweepPlan) -> list:
    """One row per trial, best test accuracy first (then lowest final cost), unfinished last."""
    rows = []
    for t in plan.trials:
        path = sweep_dir / t.name / METRICS
        m = read_json(path) if path.exists() else {"status": "pending"}
        rows.append(
            {
                "trial": t.name,
                **{d: t.values.get(d) for d in plan.dimensions},
                **result_fields(m),
                "status": m.get("status"),
                "message": m.get("message"),
            }
        )

    def key(r):
        acc = r["test_accuracy"] if r["test_accuracy"] is not None else r["train_accuracy"]
        return (r["status"] != "completed", -(acc if acc is not None else -1), r["final_cost"] if r["final_cost"] is not None else float("inf"))

    return sorted(rows, key=key)


def write_summary(sweep_dir: Path, plan: SweepPlan, seconds: float | None = None) -> list:
    import csv
    import io

    from nnctl.plots import plot_costs, plot_sweep_accuracy
    from nnctl.runs import read_costs_csv

    rows = summary_rows(sweep_dir, plan)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: json.dumps(v) if isinstance(v, list) else v for k, v in r.items()})
    atomic_write(sweep_dir / "summary.csv", buf.getvalue())
    write_json(sweep_dir / "summary.json", {"name": plan.name, "dimensions": plan.dimensions, "seconds": seconds, "trials": rows})
    curves = {}
    for t in plan.trials:
        costs = sweep_dir / t.name / "costs.csv"
        if costs.exists():
            curves[t.name] = read_costs_csv(costs)
    if curves:
        plot_costs(sweep_dir / "costs.png", curves, f"{plan.name}: every trial")
    if any(r["status"] == "completed" and r["train_accuracy"] is not None for r in rows):
        plot_sweep_accuracy(sweep_dir / "accuracy.png", plan, rows)
    return rows


# ---------------------------------------------------------------- the whole sweep


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
) -> tuple[Path, list, float]:
    """Run the plan's unfinished trials; returns (sweep directory, summary rows, seconds).

    A new sweep writes its plan first; a resumed one (sweep_dir given) skips finished trials.
    Ctrl-C stops the workers, keeps every finished trial and raises `Interrupted`.
    """
    if sweep_dir is None:
        sweep_dir = create_run_dir(runs_root, plan.name, prefix="sweep-")
        write_json(sweep_dir / PLAN, {**asdict(plan), "command": command})
    sweep_dir = Path(sweep_dir)
    todo = [t for t in plan.trials if trial_status(sweep_dir, t) not in FINISHED]
    payloads = [
        {**asdict(t), "text": plan.text, "config_path": plan.config_path, "command": command, "sweep": sweep_dir.name}
        for t in todo
    ]

    def store(result):
        _store_trial(sweep_dir, result)
        on_result(result)

    t0 = time.perf_counter()
    try:
        if payloads and executor == "dask":
            run_dask(payloads, address, on_event, store)
        elif payloads:
            run_local(payloads, jobs, on_event, store)
    except KeyboardInterrupt:
        write_summary(sweep_dir, plan)
        done = sum(trial_status(sweep_dir, t) in FINISHED for t in plan.trials)
        raise Interrupted(
            f"sweep interrupted: {done} of {len(plan.trials)} trials finished and kept in {sweep_dir}; "
            f"resume with: nnctl sweep --resume {sweep_dir}"
        ) from None
    seconds = time.perf_counter() - t0
    return sweep_dir, write_summary(sweep_dir, plan, seconds), seconds
