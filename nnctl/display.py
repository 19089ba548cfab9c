"""What the terminal shows: progress, tables, plain lines for logs. Part of the CLI layer (Rich)."""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import asdict

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from nnctl.training import Reporter


def out_console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=True, width=160)  # logs: keep table rows whole
    return console


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def say(text: str, err: bool = False) -> None:
    """One plain line (no markup) on stdout or stderr."""
    (err_console() if err else out_console()).print(Text(text))


# ---------------------------------------------------------------- training progress


class _RateColumn(ProgressColumn):
    def render(self, task):
        return Text(f"{task.speed:,.0f} it/s" if task.speed else "… it/s", style="cyan")


class RichReporter(Reporter):
    """A live bar (iteration, cost, rate, time left) on a terminal's stderr."""

    def __init__(self, console: Console, name: str):
        self.console, self.name = console, name

    def on_start(self, total, start):
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} " + self.unit + "s"),
            TextColumn("cost {task.fields[cost]}"),
            _RateColumn(),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(self.name, total=total, completed=start, cost="…")

    def on_cost(self, iteration, cost):
        self.progress.update(self.task, cost=f"{cost:.6f}")

    def on_tick(self, iteration):
        self.progress.update(self.task, completed=iteration)

    def on_end(self, iteration):
        self.progress.update(self.task, completed=iteration)
        self.progress.stop()


class PlainReporter(Reporter):
    """Plain lines at each recorded cost, for logs and CI."""

    def __init__(self, console: Console, name: str):
        self.console, self.name = console, name

    def on_start(self, total, start):
        self.total, self.t0 = total, time.perf_counter()

    def on_cost(self, iteration, cost):
        elapsed = time.perf_counter() - self.t0
        self.console.print(f"{self.name}: {self.unit} {iteration}/{self.total}  cost {cost:.6f}  {elapsed:.1f}s")


def make_reporter(quiet: bool, name: str) -> Reporter:
    if quiet:
        return Reporter()
    console = err_console()
    return RichReporter(console, name) if console.is_terminal else PlainReporter(console, name)


def _pct(x):
    return "—" if x is None else f"{x:.2f}%"


def _score(row: dict, split: str) -> str:
    """Accuracy for classification, RMSE for regression."""
    rmse = row.get(f"{split}_rmse")
    if row.get(f"{split}_accuracy") is None and rmse is not None:
        return f"rmse {rmse:.4g}"
    return _pct(row.get(f"{split}_accuracy"))


def summary_table(s) -> Table:
    table = Table(title=f"{s.name}: {s.status}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("layers", str(s.layers))
    if s.task == "classification":
        table.add_row("train accuracy", _pct(s.train_accuracy))
        table.add_row("test accuracy", _pct(s.test_accuracy))
    else:
        table.add_row("train RMSE", "—" if s.train_rmse is None else f"{s.train_rmse:.6g}")
        table.add_row("test RMSE", "—" if s.test_rmse is None else f"{s.test_rmse:.6g}")
    table.add_row("final cost", "—" if s.final_cost is None else f"{s.final_cost:.6f}")
    table.add_row("iterations", str(s.iterations))
    table.add_row("wall time", f"{s.seconds:.2f} s")
    table.add_row("iterations/s", f"{s.iterations_per_second:,.1f}")
    return table


def predictions(preds, names, run_path, fmt: str) -> None:
    """Predictions as a table, JSON lines or CSV on stdout."""
    if fmt == "json":
        for p in preds:
            print(json.dumps(asdict(p), ensure_ascii=False))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["file", "class", f"p_{names[1]}", "notes", "error"])
        for p in preds:
            prob = "" if p.probability is None else f"{p.probability:.6f}"
            writer.writerow([p.file, p.class_name or "", prob, "; ".join(p.notes), p.error or ""])
        return
    table = Table(title=f"predictions of {run_path}", title_justify="left")
    for col in ("file", "class", f"P({names[1]})", "what was changed"):
        table.add_column(col, overflow="fold")
    for p in preds:
        if p.error:
            table.add_row(p.file, Text("error", style="red"), "—", Text(p.error.removeprefix(f"{p.file}: "), style="red"))
        else:
            table.add_row(p.file, p.class_name, f"{p.probability:.4f}", "; ".join(p.notes) or "—")
    out_console().print(table)


def evaluation(result: dict, run_name: str) -> None:
    console = out_console()
    table = Table(title=f"{run_name} on {result['data']} ({result['m']} examples)", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if result["task"] == "regression":
        table.add_row("RMSE", f"{result['rmse']:.6g}")
        table.add_row("MAE", f"{result['mae']:.6g}")
        console.print(table)
    else:
        table.add_row("accuracy", f"{result['accuracy']:.2f}%")
        for key in ("precision", "recall", "f1"):
            table.add_row(key, f"{result[key]:.4f}")
        console.print(table)
        names = result["classes"]
        cm = Table(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
        cm.add_column("")
        for n in names:
            cm.add_column(n, justify="right")
        for n, row in zip(names, result["confusion_matrix"]):
            cm.add_row(n, *map(str, row))
        console.print(cm)
    for label, path in result["files"].items():
        console.print(Text(f"{label}: {path}"))


def import_progress(quiet: bool):
    """(context manager, on_item callback) for `data import`: a bar on a terminal, else nothing."""
    from contextlib import nullcontext

    console = err_console()
    if quiet or not console.is_terminal:
        return nullcontext(), None
    bar = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=console)
    task = bar.add_task("import", total=None)
    return bar, lambda k, n: bar.update(task, completed=k, total=n)


def data_info(info: dict, file) -> None:
    console = out_console()
    table = Table(title=f"{file}: {info['layout']} layout", title_justify="left")
    for col in ("array", "shape", "dtype", "min", "max"):
        table.add_column(col)
    for a in info["arrays"]:
        lo = f"{a['min']:g}" if "min" in a else "—"
        hi = f"{a['max']:g}" if "max" in a else "—"
        table.add_row(a["name"], str(tuple(a["shape"])), a["dtype"], lo, hi)
    console.print(table)
    for s in info["splits"]:
        balance = ", ".join(f"{k}: {v}" for k, v in s["balance"].items())
        console.print(Text(f"{s['split']}: {s['m']} examples of shape {tuple(s['example_shape'])}; {balance}"))


# ---------------------------------------------------------------- sweeps and runs


class SweepDisplay:
    """Finished and running trials with their live cost: a Rich table on a terminal, lines otherwise."""

    def __init__(self, plan, quiet: bool):
        self.console = err_console()
        self.quiet = quiet
        self.live_mode = self.console.is_terminal and not quiet
        self.state = {t.index: {"name": t.name, "status": "pending", "iteration": "", "cost": ""} for t in plan.trials}
        self.live = None

    def __enter__(self):
        if self.live_mode:
            from rich.live import Live

            self.live = Live(self._table(), console=self.console, refresh_per_second=4)
            self.live.start()
        return self

    def __exit__(self, *exc):
        if self.live:
            self.live.update(self._table())
            self.live.stop()

    def _table(self):
        table = Table(title="sweep", title_justify="left")
        for col in ("trial", "status", "iteration", "cost"):
            table.add_column(col)
        for st in self.state.values():
            style = {"completed": "green", "diverged": "yellow", "failed": "red", "running": "cyan"}.get(st["status"])
            table.add_row(st["name"], Text(st["status"], style=style or ""), str(st["iteration"]), st["cost"])
        return table

    def event(self, kind, index, iteration, value):
        st = self.state[index]
        if kind == "start":
            st["status"] = "running"
            if not self.live_mode and not self.quiet:
                self.console.print(Text(f"started {st['name']}"))
        st["iteration"] = iteration if iteration is not None else st["iteration"]
        if kind == "cost":
            st["cost"] = f"{value:.6f}"
        if self.live:
            self.live.update(self._table())

    def result(self, result):
        st = self.state[result["index"]]
        st["status"] = result["status"]
        if result["status"] != "completed":  # reported at once, the sweep goes on
            self.console.print(Text(f"{result['name']}: {result['status']}: {result['message']}"))
        elif not self.live_mode and not self.quiet:
            self.console.print(Text(f"finished {result['name']}"))
        if self.live:
            self.live.update(self._table())


def _layers(layers) -> str:
    return "—" if not layers else "-".join(map(str, layers))


def sweep_table(rows, dimensions, title) -> Table:
    """Best first; trials by number (their full names are in summary.csv), swept values by key."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    fixed = ("#", "layers", "train", "test", "final cost", "s", "status")
    table.add_column("#", no_wrap=True)
    for d in dimensions:  # the header may fold; the values are never cut
        header = d.split(".")[-1].replace("_", " ")
        width = max([len(str(r[d])) for r in rows] + [len(w) for w in header.split()])
        table.add_column(header, overflow="fold", min_width=width)
    for col in fixed[1:]:
        table.add_column(col, no_wrap=True)
    for r in rows:
        table.add_row(
            r["trial"].split("-", 1)[0],
            *[str(r[d]) for d in dimensions],
            _layers(r["layers"]),
            _score(r, "train"),
            _score(r, "test"),
            "—" if r["final_cost"] is None else f"{r['final_cost']:.6f}",
            "—" if r["seconds"] is None else f"{r['seconds']:.2f}",
            r["status"] or "—",
        )
    return table


def runs_table(rows, root) -> None:
    table = Table(title=f"{len(rows)} runs in {root}", title_justify="left")
    for col in ("run", "started", "layers", "train acc", "test acc", "final cost", "seconds", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"completed": "", "diverged": "yellow", "interrupted": "yellow", "running": "cyan"}.get(r["status"], "red")
        table.add_row(
            r["run"], r["started"] or "—", str(r["layers"] or "—"), _score(r, "train"), _score(r, "test"),
            "—" if r["final_cost"] is None else f"{r['final_cost']:.6f}",
            "—" if r["seconds"] is None else f"{r['seconds']:.2f}", Text(r["status"], style=style),
        )
    out_console().print(table)


def comparison(diff: dict, name_a: str, name_b: str) -> None:
    console = out_console()
    for title, rows in (("spec differences" if diff["spec"] else "specs are identical", diff["spec"]), ("metrics", diff["metrics"])):
        table = Table(title=title, title_justify="left")
        for col in ("key", name_a, name_b):
            table.add_column(col, overflow="fold")
        for key, (a, b) in rows.items():
            table.add_row(key, str(a), str(b))
        console.print(table)
