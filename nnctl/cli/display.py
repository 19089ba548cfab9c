"""What the terminal shows: progress, tables, plain lines for logs. Part of the CLI layer (Rich)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import textwrap
import time
from pathlib import Path

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.segment import Segment
from rich.text import Text

from nnctl.core.training import Reporter
from nnctl.core.stopping import format_cost
from nnctl.rundir.layout import Status
from nnctl.rundir.runs import rerun_command
from nnctl.util.text import CONTROL, Escaped, quoted, shell_join, shell_quote, strip_controls, visible
from contextlib import nullcontext
from rich.live import Live
from nnctl.report.shapes import HEADERS, size_text, table_rows
from nnctl.rundir.runs import costs_axis
from nnctl.core.gradcheck import kink_note


# ---------------------------------------------------------------- the boundary for text from outside
#
# Every string nnctl prints may hold text from outside (file, folder, class and spec names, CSV
# headers, values read back from run files and sweep plans). Two layers keep it text:
# - SafeConsole: markup, emoji codes and highlighting are off, so "[bold]" or "[/x]" is printed as
#   typed (never a MarkupError), and every control character left in the text it writes is dropped
#   (ESC, OSC 8, CSI, \r, C1, bidi overrides): only Rich's own styles and cursor moves reach the terminal.
# - cell()/line()/SafeTable: text from outside is shown with its control characters as visible
#   escapes (nnctl.util.text.visible), so a name keeps its information and the table its widths.
#   A cell, a message and a progress label are one line: a newline in them (a --runs-dir path, a
#   CSV header, a class or run name) shows as \n, never splitting them. A message of several lines
#   (a spec with several errors: NnctlError.lines) is printed line by line, each one line.


class SafeConsole(Console):
    """A Rich console that prints text as text; see above."""

    def __init__(self, **kwargs):
        super().__init__(markup=False, emoji=False, highlight=False, **kwargs)

    def _render_buffer(self, buffer) -> str:
        # the last step before the terminal: Rich's control segments (cursor moves of a live
        # display) are its own; every other segment is text and loses its control characters
        return super()._render_buffer(
            segment if segment.control else Segment(strip_controls(segment.text), segment.style, segment.control) for segment in buffer
        )


class Shown(Text):
    """A Text that cell() or line() made: its text is visible already, so cell() keeps it as it is
    (escaping it again would double its backslashes: SafeTable passes headers through twice)."""


def cell(value, style: str = "") -> Text:
    """A table cell or line from anything (str() of it), control characters made visible. Give
    text from outside as a str, never as Text: Rich's Text drops BEL, \\r and others unseen."""
    if isinstance(value, Shown):
        return value
    if isinstance(value, Text):
        plain = visible(value.plain)
        return value if plain == value.plain else Shown(plain, style=value.style)
    return Shown(visible(value), style=style)


def line(text, style: str = "") -> Text:
    """One printed line whose parts may come from outside: control characters (a newline too) visible, no markup."""
    return Shown(visible(text), style=style)


class SafeTable(Table):
    """A Rich table whose title, headers and cells go through cell()."""

    def __init__(self, *headers, title=None, **kwargs):
        super().__init__(*map(cell, headers), title=None if title is None else cell(title), **kwargs)

    def add_column(self, header="", *args, **kwargs):
        return super().add_column(cell(header), *args, **kwargs)

    def add_row(self, *renderables, **kwargs):
        return super().add_row(*(r if r is None or not isinstance(r, (str, Text)) else cell(r) for r in renderables), **kwargs)


def out_console() -> Console:
    console = SafeConsole(soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = SafeConsole(soft_wrap=True, width=160)  # logs: keep table rows whole
    return console


def err_console() -> Console:
    return SafeConsole(stderr=True, soft_wrap=True)


def say(text: str, err: bool = False) -> None:
    """One plain line (no markup, control characters visible) on stdout or stderr."""
    (err_console() if err else out_console()).print(line(text))


def say_error(prefix: str, exc: BaseException) -> None:
    """`prefix: message` on stderr: each of the error's lines (NnctlError.lines; one, unless a spec
    had several errors) as one line, a newline inside one (a path, a name) shown as \\n."""
    lines = getattr(exc, "lines", None) or [str(exc)]
    console = err_console()
    for k, text in enumerate(lines):
        console.print(line(f"{prefix}: {text}" if k == 0 else text))


def _json_escape(match) -> str:
    """A character as JSON writes it escaped: \\uXXXX, a character beyond U+FFFF as its UTF-16 pair."""
    c = ord(match.group())
    if c < 0x10000:
        return f"\\u{c:04x}"
    c -= 0x10000
    return f"\\u{0xD800 + (c >> 10):04x}\\u{0xDC00 + (c & 0x3FF):04x}"


def json_line(obj) -> str:
    """One JSON line for scripts: as json.dumps(ensure_ascii=False), with the control characters
    JSON leaves raw (C1, bidi overrides, line separators, the invisible format characters such as
    U+200B or the tags U+E0000..U+E007F) written as \\u escapes, so the line is safe on a terminal
    and decodes to the very same strings (JSON is for programs: a name is kept exactly)."""
    return CONTROL.sub(_json_escape, json.dumps(obj, ensure_ascii=False))


# ---------------------------------------------------------------- training progress


class _RateColumn(ProgressColumn):
    def render(self, task):
        return line(f"{task.speed:,.0f} it/s" if task.speed else "… it/s", style="cyan")


class RichReporter(Reporter):
    """A live bar (iteration, cost, rate, time left) on a terminal's stderr."""

    def __init__(self, console: Console, name: str):
        self.console, self.name = console, name

    def on_start(self, total, start):
        # one line at 80 columns: the bar takes what the other columns leave
        self.progress = Progress(
            TextColumn("{task.description}", style="bold", markup=False),
            BarColumn(bar_width=None),
            TextColumn("{task.completed}/{task.total} " + self.unit + "s"),
            TextColumn("cost {task.fields[cost]}"),
            _RateColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            expand=True,
        )
        self.progress.start()
        self.task = self.progress.add_task(visible(short_label(self.name)), total=total, completed=start, cost="…")

    def on_train_accuracy(self, iteration, accuracy):
        self.accuracy = accuracy

    def on_validation(self, iteration, cost, accuracy):
        self.validation = cost

    def on_cost(self, iteration, cost):
        val, acc = getattr(self, "validation", None), getattr(self, "accuracy", None)
        self.progress.update(self.task, cost=format_cost(cost) + ("" if acc is None else f" {_accuracy(acc)}") + ("" if val is None else f" val {val:.4f}"))

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

    def on_train_accuracy(self, iteration, accuracy):
        self.accuracy = f" accuracy {_accuracy(accuracy)}"

    def on_validation(self, iteration, cost, accuracy):
        self.validation = f"  validation cost {format_cost(cost)}" + ("" if accuracy is None else f" accuracy {accuracy:.2f}%")

    def on_cost(self, iteration, cost):
        elapsed = time.perf_counter() - self.t0
        val, acc = getattr(self, "validation", ""), getattr(self, "accuracy", "")
        self.console.print(line(f"{self.name}: {self.unit} {iteration}/{self.total}  cost {format_cost(cost)}{acc}{val}  {elapsed:.1f}s"))


def _accuracy(accuracy: float) -> str:
    """A recorded training accuracy: '90.75%', or '—' where it was not counted (NaN)."""
    return "—" if accuracy != accuracy else f"{accuracy:.2f}%"


def short_label(name: str, limit: int = 20) -> str:
    """A progress label that leaves the bar room at 80 columns."""
    return name if len(name) <= limit else name[: limit - 1] + "…"


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


def wall_time(seconds: float, sessions=None) -> str:
    """'3.10 s', or after a resume how it adds up: '3.10 s (2.60 s + 0.50 s after resume)'."""
    text = f"{seconds:.2f} s"
    if sessions and len(sessions) > 1:
        parts = " + ".join(f"{x:.2f} s" for x in sessions[:4]) + (" + ..." if len(sessions) > 4 else "")
        text += f" ({parts} after resume)" if len(sessions) == 2 else f" ({parts}: {len(sessions)} sessions)"
    return text


def summary_table(s) -> Table:
    table = SafeTable(title=f"{s.name}: {s.status}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    table.add_row("layers", str(s.layers))
    if s.task == "classification":
        table.add_row("train accuracy", _pct(s.train_accuracy))
        table.add_row("test accuracy", _pct(s.test_accuracy))
    else:
        table.add_row("train RMSE", "—" if s.train_rmse is None else f"{s.train_rmse:.6g}")
        table.add_row("test RMSE", "—" if s.test_rmse is None else f"{s.test_rmse:.6g}")
    if getattr(s, "validation_accuracy", None) is not None:
        table.add_row("validation accuracy", _pct(s.validation_accuracy))
    if getattr(s, "best_iteration", None) is not None:
        table.add_row("early stopping", f"best at iteration {s.best_iteration}")
    table.add_row("final cost", "—" if s.final_cost is None else format_cost(s.final_cost) + _cost_recorded(s))
    table.add_row("iterations", str(s.iterations))
    table.add_row("wall time", wall_time(s.seconds, s.sessions))
    table.add_row("iterations/s", f"{s.iterations_per_second:,.1f}")
    return table


def _cost_recorded(s) -> str:
    """Where a run stopped before its last epoch (Ctrl-C, divergence), its final cost is the last one
    recorded, some iterations back: say at which ("" where it is the last epoch's)."""
    epoch, at = getattr(s, "final_cost_epoch", None), getattr(s, "final_cost_iteration", None)
    if epoch is None or s.epochs is None or epoch >= s.epochs - 1:
        return ""
    return f" (at iteration {at})" if s.iterations == s.epochs else f" (epoch {epoch}'s mean)"


def predictions(preds, names, run_path, fmt: str, task: str = "classification") -> None:
    """Predictions as a table, JSON lines or CSV on stdout; JSON and CSV have the same fields.

    Classification: file, class, label, probability, probability_of (the class the probability is
    for: label 1 of a sigmoid output, the predicted class of a softmax one), notes, error; over two
    classes also top (the three most probable) and P(class) for each class. Regression: file, value, notes, error.
    """
    if fmt == "json":
        for p in preds:
            print(json_line(p.fields(task)))
        return
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        rows = [p.fields(task) for p in preds]
        header = list(max(rows, key=len).keys()) if rows else ["file", "error"]  # an error's row has no class columns
        writer.writerow([visible(h) for h in header])  # P(<class name>): a name from outside
        for row in rows:
            writer.writerow([_csv_cell(row.get(key)) for key in header])
        return
    many = any(p.classes for p in preds)  # over two classes: the top class and the top three
    if task == "regression":
        title, value_col = f"predicted values of {run_path}", "value"
    elif many:
        title, value_col = f"predictions of {run_path} (P: the probability of the predicted class; top 3 of {len(names)} classes)", "P"
    else:
        title, value_col = f"predictions of {run_path} (P: the probability of {names[1]}, label 1)", f"P({names[1]})"
    table = SafeTable(title=title, title_justify="left")
    columns = (
        ("file", "class", value_col, *(("top 3",) if many else ()), "what was changed") if task != "regression" else ("file", value_col, "what was changed")
    )
    for col in columns:
        table.add_column(col, overflow="fold")
    for p in preds:
        if p.error:
            cells = [cell("error", style="red"), "—", *(["—"] if many else [])] if task != "regression" else ["—"]
            table.add_row(cell(p.file), *cells, cell(p.error.removeprefix(f"{p.file}: "), style="red"))
        elif task == "regression":
            table.add_row(cell(p.file), f"{p.value:.6g}", cell("; ".join(p.notes) or "—"))
        else:
            top = [cell(", ".join(f"{c} {v:.4f}" for c, v in p.top()))] if many else []
            table.add_row(cell(p.file), cell(p.class_name), f"{p.probability:.4f}", *top, cell("; ".join(p.notes) or "—"))
    out_console().print(table)


def prediction_stream(chunks, names, run_path, fmt: str, task: str = "classification") -> tuple:
    """Predictions that come in chunks (predict on rows): JSON lines and CSV are written as each
    chunk is produced, so memory stays one chunk; a table needs them all (use --csv for big inputs).
    Returns (rows, rows with an error)."""
    if fmt == "table":
        preds = [p for chunk in chunks for p in chunk]
        predictions(preds, names, run_path, fmt, task)
        return len(preds), sum(p.error is not None for p in preds)
    total = failed = 0
    writer = csv.writer(sys.stdout)
    header = None
    for chunk in chunks:
        for p in chunk:
            row = p.fields(task)
            if fmt == "json":
                print(json_line(row))
            else:
                if header is None:  # every column a row of this run can have (an error's row lacks the class columns)
                    header = (
                        [*row]
                        if task == "regression" or len(names) <= 2
                        else ["file", "class", "label", "probability", "probability_of", "top", *(f"P({c})" for c in names), "notes", "error"]
                    )
                    writer.writerow([visible(h) for h in header])  # P(<class name>): a name from outside
                writer.writerow([_csv_cell(row.get(key)) for key in header])
            failed += p.error is not None
        total += len(chunk)
        sys.stdout.flush()
    return total, failed


def _csv_cell(v):
    """A CSV cell: lists joined by '; ' (top: class=probability; notes), floats in full, None empty;
    every text in it (class names, file names, notes) with its control characters visible."""
    if isinstance(v, list):
        return "; ".join(f"{visible(t['class'])}={t['probability']!r}" if isinstance(t, dict) else visible(t) for t in v)
    return "" if v is None else repr(v) if isinstance(v, float) else visible(v) if isinstance(v, str) else v


def evaluation(result: dict, run_name: str) -> None:
    console = out_console()
    rows = result.get("rows")
    if isinstance(rows, dict) and rows.get("in_file", result["m"]) != result["m"]:  # a table's rows left out: the scores are of the rest
        of = f"{result['m']} of its {rows['in_file']} rows, {rows['in_file'] - result['m']} left out"
    else:
        of = f"{result['m']} examples"
    table = SafeTable(title=f"{run_name} on {result['data']} ({of})", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    if result["task"] == "regression":
        table.add_row("RMSE", f"{result['rmse']:.6g}")
        table.add_row("MAE", f"{result['mae']:.6g}")
        if result.get("r2") is not None:
            table.add_row("R²", f"{result['r2']:.6g}")
        console.print(table)
    else:
        table.add_row("accuracy", f"{result['accuracy']:.2f}%")
        of = f" ({result['classes'][1]})" if len(result["classes"]) == 2 else " (macro)"
        for key in ("precision", "recall", "f1"):
            table.add_row(cell(key + of), f"{result[key]:.4f}")
        console.print(table)
        if result.get("per_class"):
            per = SafeTable(title="per class", title_justify="left")
            for col in ("class", "precision", "recall", "F1", "support"):
                per.add_column(col, justify="left" if col == "class" else "right")
            rows = [(r["class"], r) for r in result["per_class"]] + [("macro avg", result["macro"]), ("weighted avg", result["weighted"])]
            for name, r in rows:
                per.add_row(cell(str(name)), f"{r['precision']:.4f}", f"{r['recall']:.4f}", f"{r['f1']:.4f}", str(r["support"]))
            console.print(per)
        names = result["classes"]
        cm = SafeTable(title="confusion matrix (rows: true, columns: predicted)", title_justify="left")
        cm.add_column("")
        for n in names:
            cm.add_column(cell(n), justify="right")
        for n, row in zip(names, result["confusion_matrix"]):
            cm.add_row(cell(n), *map(str, row))
        console.print(cm)
    if result.get("listed_note"):
        console.print(line(f"evaluation file: {result['listed_note']}"))
    for label, path in result["files"].items():
        console.print(line(f"{label}: {path}"))


def item_progress(label: str, quiet: bool = False):
    """(context manager, on_item callback): a bar over files on a terminal's stderr, else nothing."""
    console = err_console()
    if quiet or not console.is_terminal:
        return nullcontext(), None
    bar = Progress(TextColumn(visible(label), markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console, transient=True)
    task = bar.add_task(label, total=None)
    return bar, lambda k, n: bar.update(task, completed=k, total=n)


def import_progress(quiet: bool):
    """(context manager, on_item callback) for `data import`: a bar on a terminal, else nothing."""
    console = err_console()
    if quiet or not console.is_terminal:
        return nullcontext(), None
    bar = Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), console=console)
    task = bar.add_task("import", total=None)
    return bar, lambda k, n: bar.update(task, completed=k, total=n)


def data_info(info: dict, file) -> None:
    console = out_console()
    table = SafeTable(title=f"{file}: {info['layout']} layout", title_justify="left")
    for col in ("array", "shape", "dtype", "min", "max"):
        table.add_column(col)
    for a in info["arrays"]:
        lo = f"{a['min']:g}" if "min" in a else "—"
        hi = f"{a['max']:g}" if "max" in a else "—"
        table.add_row(a["name"], str(tuple(a["shape"])) if a["shape"] is not None else "—", a["dtype"], lo, hi)
    console.print(table)
    for s in info["splits"]:
        balance = ", ".join(f"{k}: {v}" for k, v in s["balance"].items())
        console.print(line(f"{s['split']}: {s['m']} examples of shape {tuple(s['example_shape'])}; {balance}"))
    per_class = info.get("per_class") or []
    if len(per_class) > 2:  # k classes: a row each, its label and its examples in every split
        table = SafeTable(title=f"{len(per_class)} classes", title_justify="left")
        splits = [s["split"] for s in info["splits"]]
        for col in ("label", "class", *splits):
            table.add_column(col, justify="left" if col == "class" else "right")
        for row in per_class:
            table.add_row(f"{row['label']:g}", str(row["class"]), *(str(row[s]) for s in splits))
        console.print(table)
    labels = info.get("labels") or []
    if labels and len(per_class) <= 2 and all(s.get("categorical", True) for s in info["splits"]):
        pairs = ", ".join(f"{row['label']} = {row['class']}" for row in labels)
        positive = f"; the positive class is {labels[1]['class']} (predict's probability is P({labels[1]['class']}))" if len(labels) == 2 else ""
        console.print(line(f"labels: {pairs}{positive}"))


def table_info(columns: list, file, m: int, header: bool) -> None:
    """`nnctl data info TABLE`: a row per column, its kind, missing cells and range or commonest values.
    Names and values come from the file: shown as Text, never read as markup."""
    console = out_console()
    title = f"{file}: a table of {m} rows and {len(columns)} columns" + ("" if header else " (no header line: columns numbered)")
    table = Table(title=cell(title), title_justify="left")
    for col in ("column", "kind", "missing", "distinct", "range or commonest values"):
        table.add_column(col, justify="right" if col in ("missing", "distinct") else "left", overflow="fold")
    for c in columns:
        if c["kind"] == "number" and "min" in c:
            what = f"{c['min']:g} to {c['max']:g}, mean {c['mean']:.4g}" + (" (whole numbers)" if c["whole"] else "")
        else:
            what = ", ".join(f"{v} ({n})" for v, n in c.get("top", [])) + (", ..." if c["distinct"] > len(c.get("top", [])) else "")
        table.add_row(cell(c["column"]), c["kind"], str(c["missing"]), str(c["distinct"]), cell(what))
    console.print(table)
    for c in columns:
        if c.get("stripped"):
            n = c["stripped"]
            say(
                f"Note: column {quoted(c['column'])}: {n} text value{'s' if n > 1 else ''} with spaces or tabs around "
                f"{'them' if n > 1 else 'it'}, stripped as training reads them ('cat ' is 'cat')"
            )


# ---------------------------------------------------------------- sweeps and runs


class SweepDisplay:
    """Finished and running trials with their live cost: a Rich table on a terminal, lines otherwise."""

    def __init__(self, plan, quiet: bool):
        self.console = err_console()
        self.quiet = quiet
        self.live_mode = self.console.is_terminal and not quiet
        self.plan = plan
        self.state: dict[int, dict] = {}  # trial index -> its row
        self._add_trials()
        self.live = None

    def _add_trials(self):
        """The plan's trials not shown yet (a coarse-to-fine round adds trials as it starts)."""
        for t in self.plan.trials:
            self.state.setdefault(t.index, {"name": t.name, "status": "pending", "iteration": "", "cost": ""})

    def __enter__(self):
        if self.live_mode:
            self.live = Live(self._table(), console=self.console, refresh_per_second=4)
            self.live.start()
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Show the last state and stop the live table (before the summary is printed)."""
        if self.live:
            self.live.update(self._table())
            self.live.stop()
            self.live = None

    def _table(self):
        table = SafeTable(title="sweep", title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("trial", overflow="ellipsis", no_wrap=True)  # a long name is cut; the numbers never are
        for col in ("status", "iteration", "cost"):
            table.add_column(col, no_wrap=True)
        for st in self.state.values():
            style = {Status.COMPLETED: "green", Status.DIVERGED: "yellow", Status.INTERRUPTED: "yellow", "failed": "red", Status.RUNNING: "cyan"}.get(
                st["status"]
            )
            table.add_row(st["name"], cell(st["status"], style=style or ""), str(st["iteration"]), st["cost"])
        return table

    def event(self, kind, index, iteration, value):
        if index not in self.state:
            self._add_trials()
        st = self.state.get(index)
        if kind == "start" and st is not None and st["status"] == "paused":
            st["status"] = "pending"  # successive halving continues it
        if st is None or st["status"] not in ("pending", Status.RUNNING):
            return  # a late progress message from a trial already stored
        if kind == "start":
            st["status"] = Status.RUNNING
            if not self.live_mode and not self.quiet:
                self.console.print(line(f"started {st['name']}"))
        st["iteration"] = iteration if iteration is not None else st["iteration"]
        if kind == "cost":
            st["cost"] = format_cost(value)
        if self.live:
            self.live.update(self._table())

    def result(self, result):
        if result["index"] not in self.state:
            self._add_trials()
        st = self.state[result["index"]]
        st["status"] = result["status"]
        if result["status"] == "pending":  # the stop request came while it loaded its data
            if not self.quiet:
                self.console.print(line(f"{result['name']}: stopped while loading its data, before training; nothing to keep, --resume starts it"))
        elif result.get("budget") is not None:
            st["status"] = "paused"
            if not self.live_mode and not self.quiet:
                self.console.print(cell(f"{result['name']}: trained to {result['budget']} (successive halving)"))
        elif result["status"] == Status.INTERRUPTED:
            if not self.quiet:
                self.console.print(line(f"{result['name']}: interrupted; its checkpoint is kept for --resume"))
        elif result["status"] != Status.COMPLETED:  # reported at once, the sweep goes on
            self.console.print(line(f"{result['name']}: {result['status']}: {result['message']}"))
        elif not self.live_mode and not self.quiet:
            self.console.print(line(f"finished {result['name']}"))
        if self.live:
            self.live.update(self._table())


def _layers(layers) -> str:
    return "—" if not layers else "-".join(map(str, layers))


def _swept(value) -> str:
    """A swept value as the table shows it: lists as 20x7 (like the trial's name), numbers as typed."""
    if isinstance(value, list):
        return "x".join(map(str, value)) or "none"
    if isinstance(value, float) and len(str(value)) > 8:
        return f"{value:.4g}"  # a random draw; summary.csv keeps every digit
    return "—" if value is None else str(value)


# columns a narrow terminal may drop, in this order, until the table fits (summary.csv keeps them all);
# a swept hidden stack is dropped first because `layers` shows it too, and then `layers` stays
_SWEEP_OPTIONAL = ("hidden dimension", "s", "layers", "train")


def sweep_table(rows, dimensions, title, width: int | None = None) -> Table:
    """Best first; trials by number (their full names are in summary.csv), swept values by key.

    Fits `width` (the terminal's, or $COLUMNS): numbers are never cut; where the columns do not
    fit, the swept hidden stack (shown again in `layers`), the seconds, the layers and the train
    score are left out in that order, and long swept values wrap inside their column.
    """
    width = width or out_console().width
    cells: dict[str, list[str]] = {
        "#": [visible(r["trial"].split("-", 1)[0]) for r in rows],
        **{d: [visible(_swept(r[d])) for r in rows] for d in dimensions},
        "layers": [_layers(r["layers"]) for r in rows],
        "train": [_score(r, "train") for r in rows],
        **(
            {"val": [_score(r, "validation") for r in rows]}
            if any(r.get("validation_accuracy") is not None or r.get("validation_rmse") is not None for r in rows)
            else {}
        ),
        "test": [_score(r, "test") for r in rows],
        "cost": ["—" if r["final_cost"] is None else format_cost(r["final_cost"]) for r in rows],
        "s": ["—" if r["seconds"] is None else f"{r['seconds']:.2f}" for r in rows],
        "status": [visible(r["status"] or "—") for r in rows],
    }
    headers = {d: visible(d.split(".")[-1].replace("_", " ")) for d in dimensions}
    hidden_dims = [d for d in dimensions if d in ("model.hidden", "model.layers")]

    def build(cols, measuring=False) -> Table:
        table = SafeTable(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
        for c in cols:
            if c in headers:  # a swept value may wrap in its column; the header folds between words
                narrow = max(len(x) for x in headers[c].split())
                table.add_column(headers[c], overflow="fold", min_width=min(narrow, 12), max_width=max(narrow, 12) if measuring else None)
            else:
                table.add_column(c, no_wrap=True, justify="right" if c in ("train", "val", "test", "cost", "s") else "left")
        for i in range(len(rows)):
            table.add_row(*[cells[c][i] for c in cols])
        return table

    measure = Console(width=10_000, file=io.StringIO()).measure
    shown = list(cells)
    for drop in _SWEEP_OPTIONAL:
        if measure(build(shown, measuring=True)).maximum <= width:
            break
        if drop == "layers" and hidden_dims and not set(hidden_dims) & set(shown):
            continue  # the swept stack is shown only there now
        for c in hidden_dims if drop == "hidden dimension" else [drop]:
            if c in shown:
                shown.remove(c)
    return build(shown)


def _hidden(layers) -> str:
    """The hidden layers of [n_x, ..., n_L] ("20-7-5"), the part a spec chooses; "none" for logistic regression."""
    if not layers:
        return "—"
    return "-".join(map(str, layers[1:-1])) or "none"


def _started(text) -> str:
    return text[:16].replace("T", " ") if text else "—"


GAP = 2  # spaces between columns


def fit_columns(columns, width: int) -> list:
    """columns: [(header, cells, required)]; the required ones, then optional ones while they fit."""

    def need(col):
        return max(len(col[0]), *(len(c) for c in col[1])) if col[1] else len(col[0])

    chosen = [c for c in columns if c[2]]
    used = sum(need(c) for c in chosen) + GAP * (len(chosen) - 1)
    for c in columns:
        if not c[2] and used + GAP + need(c) <= width:
            chosen.append(c)
            used += GAP + need(c)
    return [c for c in columns if c in chosen]  # in their given order


def _plain_table(title, columns, styles=None, cut_first=False) -> Table:
    """`cut_first`: the first column is cut with an ellipsis when it does not fit, never folded onto a
    second line (a folded run name reads as a whole one; `nnctl runs compare` takes a cut one as a prefix)."""
    table = SafeTable(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
    for i, (header, cells, _) in enumerate(columns):
        if cut_first and i > 0:  # the other columns keep their width; the first gives way
            table.add_column(header, no_wrap=True, min_width=max(map(len, [header, *cells])))
        else:
            table.add_column(header, no_wrap=i > 0, overflow="ellipsis" if cut_first else "fold")
    for k in range(len(columns[0][1]) if columns else 0):
        row = [c[1][k] for c in columns]
        if styles:
            row = [cell(v, style=styles[k]) if h == "status" else v for (h, _, _), v in zip(columns, row)]
        table.add_row(*row)
    return table


def middle_cut(name: str, width: int) -> str:
    """`name` in `width` characters, cut in the middle: the start (the time) and the end (a sweep
    trial's label) are what tell runs apart; `nnctl runs compare` and `runs show` take it back."""
    if len(name) <= width:
        return name
    head = (width - 1) // 2
    cut = name[:head] + "…" + name[len(name) - (width - 1 - head) :]
    return Escaped(cut) if isinstance(name, Escaped) else cut  # a name visible() made stays made


def runs_table(rows, root) -> None:
    """Run name, hidden layers, scores (validation too where a run has one), cost, status at 80 columns;
    seconds, start and layers when wider."""
    console = out_console()
    columns = [
        ("run", [visible(r["run"]) for r in rows], True),
        ("started", [_started(r["started"]) for r in rows], False),
        ("hidden", [_hidden(r["layers"]) for r in rows], True),
        ("layers", [_layers(r["layers"]) for r in rows], False),
        ("train", [_score(r, "train") for r in rows], True),
        # held-out scores where some run has a validation set; none has one: no column
        *(
            [("val", [_score(r, "validation") for r in rows], True)]
            if any(r.get("validation_accuracy") is not None or r.get("validation_rmse") is not None for r in rows)
            else []
        ),
        ("test", [_score(r, "test") for r in rows], True),
        ("final cost", ["—" if r["final_cost"] is None else format_cost(r["final_cost"]) for r in rows], True),
        ("seconds", ["—" if r["seconds"] is None else f"{r['seconds']:.2f}" for r in rows], False),
        ("status", [r["status"] + ("*" if r.get("warnings") else "") for r in rows], True),
    ]
    styles = [{Status.COMPLETED: "", Status.DIVERGED: "yellow", Status.INTERRUPTED: "yellow", Status.RUNNING: "cyan"}.get(r["status"], "red") for r in rows]
    # required columns first in priority: seconds, then layers, then started
    order = {"seconds": 0, "layers": 1, "started": 2}
    optional = sorted([c for c in columns if not c[2]], key=lambda c: order[c[0]])
    chosen = fit_columns([c for c in columns if c[2]] + optional, console.width)
    chosen = [c for c in columns if c in chosen]
    others = sum(max([len(c[0]), *map(len, c[1])]) for c in chosen[1:]) + GAP * (len(chosen) - 1)
    room = max(console.width - others, 12)
    chosen[0] = (chosen[0][0], [middle_cut(n, room) for n in chosen[0][1]], True)
    console.print(_plain_table(f"{len(rows)} runs in {root}", chosen, styles, cut_first=True))
    for r in rows:
        if r.get("trials") == 0:  # a sweep folder none of whose trials has begun (nnctl.rundir.runs._empty_sweeps)
            then = "it is running now" if r["status"] == Status.RUNNING else f"resume it with: nnctl sweep --resume {shell_quote(Path(root) / r['run'])}"
            console.print(line(f"{r['run']}: a sweep with 0 trials run so far; {then}"))
    flagged = [r for r in rows if r.get("warnings")]
    if flagged:  # a degenerate model: said under the table, in full
        console.print(f"* a degenerate model ({len(flagged)} of {len(rows)} runs):", highlight=False)
        for r in flagged:  # wrapped at words to the width, the continuation lines indented
            text = visible(f"{r['run']}: {r['warnings'][0]}")
            console.print(
                textwrap.fill(text, console.width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False), markup=False, highlight=False
            )


def format_metric(key: str, value) -> str:
    """A metric as people read it: 98.56%, 0.217908, 0.49 s, 20,930.2 it/s."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if key.endswith("accuracy"):
        return f"{value:.2f}%"
    if key.endswith("rmse") or key.endswith("cost"):
        return format_cost(value)
    if key == "seconds":
        return f"{value:.2f} s"
    if key == "iterations_per_second":
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.6g}"


def comparison(diff: dict, name_a: str, name_b: str) -> None:
    """Two tables: the spec keys that differ, the metrics side by side. A table with no row is not
    printed (identical specs are said in a line); a run compared with itself is said to be one."""
    console = out_console()
    if diff.get("same"):
        console.print(line(f"{name_a} and {name_b} are the same run: nothing to compare; give two different runs (`nnctl runs` lists them)"))
        return
    if not diff["spec"]:
        console.print(line("specs are identical"))
    for title, rows, fmt in (
        ("spec differences", diff["spec"], lambda k, v: "—" if v is None else str(v)),
        ("metrics", diff["metrics"], format_metric),
    ):
        if not rows:
            continue
        # the labels stay whole (they are what `nnctl runs` prints); long values (paths) fold
        table = SafeTable(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1), header_style="bold underline")
        table.add_column("key", no_wrap=True)
        for col in (name_a, name_b):
            table.add_column(col, overflow="fold", min_width=len(col))
        for key, (a, b) in rows.items():
            table.add_row(key, fmt(key, a), fmt(key, b))
        console.print(table)


# ---------------------------------------------------------------- a run's facts (nnctl runs show, config show --shapes)


def shapes_table(table, title: str) -> None:
    """The course's "getting your matrix dimensions right": one row per layer."""
    m = f"m = {table.m:,}" if table.m else "m unknown"
    out = SafeTable(title=f"{title}: layer shapes for {m}, {table.dtype}", title_justify="left", box=box.SIMPLE_HEAD)
    for h in HEADERS:
        out.add_column(cell(h), justify="left" if h == "g[l]" else "right", no_wrap=True)
    for row in table_rows(table):
        out.add_row(*row)
    out.add_section()
    out.add_row("", "", "total", "", "", "", "", f"{table.parameters:,}", size_text(table.parameter_bytes + (table.activation_bytes or 0)))
    console = out_console()
    console.print(out)
    console.print(
        Text(
            f"Z[l] = W[l] A[l-1] + b[l], A[l] = g[l](Z[l]); memory: W, b ({size_text(table.parameter_bytes)}) "
            f"and Z, A for m examples ({size_text(table.activation_bytes)}); training adds dW, db, dZ of the same shapes."
        )
    )
    if any(r.normalised for r in table.rows):
        console.print(
            Text(
                "γ, β: a batch-normalised layer, Z[l] = W[l] A[l-1], Z~[l] = γ[l] (Z[l] - μ) / sqrt(σ² + ε) + β[l] (no b[l]); "
                "its memory holds the running averages of μ and σ² too."
            )
        )


def run_facts(f) -> None:
    """`nnctl runs show`: what the run's page shows, as text."""
    console = out_console()
    style = {Status.COMPLETED: "green", Status.DIVERGED: "red", "failed": "red"}.get(f.status, "yellow")
    head = line(f"{f.name}  ", style="bold")
    head.append(f.status, style=style)
    console.print(head)
    console.print(line(f"run {f.path}" + (f" · started {f.started}" if f.started else "")))
    for n in f.notices:
        console.print(line(n.text, style={"bad": "red", "warn": "yellow"}.get(n.level, "")))

    table = SafeTable(title="metrics", title_justify="left", box=box.SIMPLE_HEAD)
    for col in ("data", "accuracy" if f.task == "classification" else "RMSE", "cost"):
        table.add_column(col, justify="right")
    for split, s in f.scores:
        score = _pct(s["accuracy"]) if f.task == "classification" else ("—" if s["rmse"] is None else f"{s['rmse']:.6g}")
        cost = s["cost"] if s["cost"] is not None else (f.final_cost if split == "train" else None)
        table.add_row(split, score, "—" if cost is None else format_cost(cost))
    if f.scores:
        console.print(table)
    facts = [
        ("iterations", "—" if f.iterations is None else f"{f.iterations:,}" + (f" of {f.total_iterations:,}" if f.total_iterations else "")),
        ("wall time", "—" if f.seconds is None else f"{f.seconds:.2f} s"),
        ("learning rate", "—" if f.learning_rate is None else f"{f.learning_rate:g}"),
    ]

    axis, its = costs_axis(f.costs)
    costs = f.costs.get("cost") or []
    if its:
        finite = [c for c in costs if c == c and abs(c) != float("inf")]
        facts.append(
            (
                "costs recorded",
                f"{len(its)}: first {format_cost(costs[0])} at {axis} {its[0]:,}, last {format_cost(costs[-1])} at {axis} {its[-1]:,}"
                + (f", lowest {format_cost(min(finite))}" if finite else ""),
            )
        )
    for extra in sorted(set(f.costs) - {axis, "iteration", "cost"}):
        values = [v for v in f.costs[extra] if v == v]
        if values:
            text = f"last {values[-1]:.6g}"
            if extra == "learning_rate" and len(set(values)) > 1:
                text = f"{values[0]:.6g} at {axis} {its[0]:,}, down to {values[-1]:.6g} at {axis} {its[-1]:,}"
            facts.append((extra.replace("_", " "), text))
    kv = SafeTable(show_header=False, box=None, pad_edge=False)
    kv.add_column(style="bold")
    kv.add_column(overflow="fold")
    for k, v in facts:
        kv.add_row(k, v)
    console.print(kv)
    if f.shapes is not None:
        shapes_table(f.shapes, "network")
    ev = f.evaluation
    if ev and ev.get("task") != "regression" and ev.get("confusion_matrix"):
        cm = SafeTable(title=f"confusion matrix on {ev['data']} ({ev['source']}); rows: true, columns: predicted", title_justify="left")
        cm.add_column("")
        for n in ev["classes"]:
            cm.add_column(str(n), justify="right")
        for n, row in zip(ev["classes"], ev["confusion_matrix"]):
            cm.add_row(str(n), *map(str, row))
        console.print(cm)
        console.print(line(f"accuracy {ev['accuracy']:.2f}%, {ev['mistakes']} mistakes"))
    elif ev:
        console.print(line(f"on {ev['data']} ({ev['source']}): RMSE {ev['rmse'] if ev['rmse'] is not None else float('nan'):.6g}"))
    elif f.evaluation_note:
        console.print(line(f.evaluation_note))
    repro = SafeTable(title="reproduce", title_justify="left", show_header=False, box=None, pad_edge=False)
    repro.add_column(style="bold")
    repro.add_column(overflow="fold")
    r = f.reproduce
    repro.add_row("seed", str(r.get("seed", "—")))
    for role, d in (r.get("data") or {}).items() if isinstance(r.get("data"), dict) else []:
        if isinstance(d, dict):
            repro.add_row(f"{role} data", f"{d.get('source')} (SHA-256 {d.get('sha256')})")
    if isinstance(r.get("versions"), dict):
        repro.add_row("versions", ", ".join(f"{k} {v}" for k, v in r["versions"].items()))
    command = r.get("command")
    if isinstance(command, list):
        command = shell_join(map(str, command))
    repro.add_row("command", str(command or "—"))
    repro.add_row("rerun", rerun_command(f.path, r))
    console.print(repro)


def gradcheck_table(result, reading, title: str) -> None:
    """Per layer: parameters checked, relative difference, the course's reading; then overall."""
    table = SafeTable(title=f"{title}: gradient check on {result.m} examples, epsilon {result.epsilon:g}", box=box.SQUARE)
    excluded = getattr(result, "excluded", 0)
    columns = ("layer", "checked", "at a kink", "difference", "reading") if excluded else ("layer", "checked", "difference", "reading")
    for col in columns:
        table.add_column(col, justify="left" if col == "reading" else "right")

    def row(name, checked, kink, difference, text):
        table.add_row(name, checked, *([str(kink)] if excluded else []), difference, text)

    for layer in result.layers:
        drawn = layer.checked + getattr(layer, "excluded", 0)
        checked = f"{layer.checked}" if drawn == layer.total and not getattr(layer, "excluded", 0) else f"{layer.checked} of {layer.total}"
        if layer.checked:
            row(str(layer.layer), checked, layer.excluded, f"{layer.difference:.3e}", reading(layer.difference))
        else:
            row(str(layer.layer), checked, layer.excluded, "-", "not compared: every parameter drawn is at a kink")
    row("all", str(sum(x.checked for x in result.layers)), excluded, f"{result.difference:.3e}", reading(result.difference))
    out_console().print(table)
    if excluded:
        out_console().print(kink_note(result), markup=False, highlight=False, soft_wrap=True)
