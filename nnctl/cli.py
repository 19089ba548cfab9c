"""The command line: parse, call, print. Only this module imports typer and rich."""

from __future__ import annotations

import functools
import os
import shlex
import sys
import time
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from nnctl import __version__
from nnctl.errors import Interrupted, NnctlError
from nnctl.training import Reporter

app = typer.Typer(
    help="Train fully-connected neural networks from YAML specs, the course's way.\n\n"
    "Example: nnctl train configs/quickstart.yaml",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect specs.\n\nExample: nnctl config show configs/cat-deep.yaml", no_args_is_help=True)
data_app = typer.Typer(help="Make and inspect datasets.\n\nExample: nnctl data make planar -o datasets/planar.h5", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")


def out_console() -> Console:
    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, soft_wrap=True, width=160)  # logs: keep table rows whole
    return console


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def handles_errors(func):
    """Turn the error family into `Error: ...` and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Interrupted as exc:
            err_console().print(Text(f"Interrupted: {exc}"))
            raise typer.Exit(exc.exit_code) from None
        except NnctlError as exc:
            err_console().print(Text(f"Error: {exc}"))
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console().print(Text("Interrupted"))
            raise typer.Exit(130) from None

    return wrapper


def _version(value: bool):
    if value:
        print(f"nnctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and exit."),
):
    pass


# ---------------------------------------------------------------- progress display


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
            TextColumn("{task.completed}/{task.total}"),
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
        self.console.print(f"{self.name}: iteration {iteration}/{self.total}  cost {cost:.6f}  {elapsed:.1f}s")


def make_reporter(quiet: bool, name: str) -> Reporter:
    if quiet:
        return Reporter()
    console = err_console()
    return RichReporter(console, name) if console.is_terminal else PlainReporter(console, name)


def _pct(x):
    return "—" if x is None else f"{x:.2f}%"


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


# ---------------------------------------------------------------- commands


@app.command()
@handles_errors
def train(
    config: Optional[Path] = typer.Argument(None, help="The YAML spec (not needed with --resume)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key: --set train.learning_rate=0.01 (repeatable)."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for run directories (default: the spec's runs_dir, 'runs')."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted or killed run from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Train a network from a spec and write a run directory under runs/.

    Ctrl-C (or SIGTERM) finishes the current iteration, keeps everything and prints the command
    that resumes the run; a second Ctrl-C stops at once.

    Example: nnctl train configs/quickstart.yaml --set train.iterations=2000
    """
    from nnctl.config import load_config
    from nnctl.experiment import resume_run, train_run
    from nnctl.stopping import StopRequest

    if resume is not None:
        if config is not None or overrides:
            raise NnctlError("--resume continues a run with its own spec; give no CONFIG or --set with it")
        with StopRequest() as stop:
            summary = resume_run(resume, reporter=make_reporter(quiet, resume.name), should_stop=stop)
    elif config is None:
        raise NnctlError("give a CONFIG to train (e.g. configs/quickstart.yaml), or --resume RUN")
    else:
        spec = load_config(config, overrides)
        with StopRequest() as stop:
            summary = train_run(
                spec,
                config_text=config.read_text(encoding="utf-8"),
                runs_root=runs_dir,
                reporter=make_reporter(quiet, spec.name or "run"),
                command=["nnctl", *sys.argv[1:]] if sys.argv else [],
                should_stop=stop,
            )
    console = out_console()
    console.print(summary_table(summary))
    console.print(Text(f"run: {summary.run_dir}"), soft_wrap=True)
    if summary.status == "interrupted":
        raise Interrupted(
            f"{stop.name} at iteration {summary.iterations}: parameters, checkpoint and costs so far are kept in "
            f"{summary.run_dir}; resume with: nnctl train --resume {summary.run_dir}",
            exit_code=stop.exit_code,
        )


@config_app.command("show")
@handles_errors
def config_show(
    config: Path = typer.Argument(..., help="The YAML spec."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key (repeatable)."),
):
    """Print the resolved spec: defaults filled in, data paths absolute, layers from the data.

    Example: nnctl config show configs/cat-deep.yaml --set train.learning_rate=0.01
    """
    from nnctl.config import dump_spec, load_config
    from nnctl.data import peek_n_x

    spec = load_config(config, overrides)
    n_x = peek_n_x(spec.data.train)
    if n_x is not None or spec.model.layers is not None:
        spec = spec.resolved(spec.layer_dims(n_x or 0))
    sys.stdout.write(dump_spec(spec))


@data_app.command("make")
@handles_errors
def data_make(
    name: str = typer.Argument(..., help="Generator: planar (the course's flower), moons or circles."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write."),
    m: int = typer.Option(400, "--m", min=2, help="Number of examples."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed (the course's is 1)."),
):
    """Write a built-in dataset to an HDF5 file in the plain layout (x, y, classes).

    Example: nnctl data make planar -o datasets/planar.h5
    """
    from nnctl.data import generate, write_dataset

    x, y, classes = generate(name, m=m, seed=seed)
    write_dataset(output, x, y, classes)
    out_console().print(Text(f"wrote {output}: {x.shape[0]} examples, {x.shape[1]} features, classes {', '.join(classes)}"))


@app.command()
@handles_errors
def predict(
    paths: List[Path] = typer.Argument(..., help="Image files or folders (walked for images)."),
    run: Path = typer.Option(Path("runs/latest"), "--run", help="The trained run directory."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout, for scripts."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout, for spreadsheets."),
):
    """Classify your own pictures with a trained run; exit 1 if any file could not be read.

    Example: nnctl predict my_cat.jpg photos/ --run runs/latest
    """
    from nnctl.images import find_images
    from nnctl.inference import class_names, predict_files
    from nnctl.runs import load_run

    trained = load_run(run)
    if trained.note:
        err_console().print(Text(f"Note: {trained.note}"))
    files = find_images(paths)
    if not files:
        raise NnctlError(f"no image files found in {', '.join(map(str, paths))}")
    preds = predict_files(trained, files)
    names = class_names(trained)
    if as_json:
        import json
        from dataclasses import asdict

        for p in preds:
            print(json.dumps(asdict(p), ensure_ascii=False))
    elif as_csv:
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["file", "class", f"p_{names[1]}", "notes", "error"])
        for p in preds:
            prob = "" if p.probability is None else f"{p.probability:.6f}"
            writer.writerow([p.file, p.class_name or "", prob, "; ".join(p.notes), p.error or ""])
    else:
        table = Table(title=f"predictions of {trained.path}", title_justify="left")
        for col in ("file", "class", f"P({names[1]})", "what was changed"):
            table.add_column(col, overflow="fold")
        for p in preds:
            if p.error:
                table.add_row(p.file, Text("error", style="red"), "—", Text(p.error.removeprefix(f"{p.file}: "), style="red"))
            else:
                table.add_row(p.file, p.class_name, f"{p.probability:.4f}", "; ".join(p.notes) or "—")
        out_console().print(table)
    failed = sum(p.error is not None for p in preds)
    if failed:
        err_console().print(Text(f"Error: {failed} of {len(preds)} files could not be read"))
        raise typer.Exit(1)


@app.command()
@handles_errors
def evaluate(
    run: Path = typer.Argument(Path("runs/latest"), help="The trained run directory."),
    data: Optional[Path] = typer.Option(None, "--data", help="An HDF5 dataset (default: the run's test file)."),
):
    """Accuracy, precision, recall, F1, confusion matrix and a gallery of the mistakes.

    Example: nnctl evaluate runs/latest --data datasets/pets.h5
    """
    from nnctl.inference import evaluate as evaluate_run
    from nnctl.inference import write_evaluation
    from nnctl.runs import load_run

    trained = load_run(run)
    if trained.note:
        err_console().print(Text(f"Note: {trained.note}"))
    result, dataset = evaluate_run(trained, str(data) if data else None)
    result = write_evaluation(trained, result, dataset, source_given=data is not None)
    console = out_console()
    table = Table(title=f"{trained.path.name} on {result['data']} ({result['m']} examples)", show_header=False, title_justify="left")
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


@data_app.command("import")
@handles_errors
def data_import(
    folder: Path = typer.Argument(..., help="A folder with one sub-folder of pictures per class."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write (course layout)."),
    size: int = typer.Option(64, "--size", min=1, max=4096, help="Pictures become size × size RGB."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.0, max=0.99, help="Share of each class kept for test."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the split."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Class folders in label order: negative,positive."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Build a training file from your own photos: upright, RGB, resized, split by class.

    Example: nnctl data import photos_by_class/ --size 64 -o datasets/pets.h5 --test-fraction 0.2 --seed 1
    """
    from nnctl.importer import import_folder

    order = [c.strip() for c in classes.split(",")] if classes else None
    console = err_console()
    if quiet or not console.is_terminal:
        report = import_folder(folder, output, size, test_fraction, seed, order)
    else:
        with Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.completed}/{task.total}"), console=console) as bar:
            task = bar.add_task("import", total=None)
            report = import_folder(
                folder, output, size, test_fraction, seed, order, on_item=lambda k, n: bar.update(task, completed=k, total=n)
            )
    out = out_console()
    for path, reason in report.skipped:
        err_console().print(Text(f"skipped {path}: {reason}"))
    counts = ", ".join(f"{c}: {a} train + {b} test" for c, a, b in zip(report.classes, report.train_counts, report.test_counts))
    out.print(Text(f"wrote {report.output}: {counts}; {len(report.skipped)} files skipped"))


@data_app.command("info")
@handles_errors
def data_info(
    file: Path = typer.Argument(..., help="An HDF5 data file."),
    preview: bool = typer.Option(False, "--preview", help="Also write a PNG contact sheet of a few examples per class."),
    preview_out: Optional[Path] = typer.Option(None, "--preview-out", help="Where the contact sheet goes (default: ./<name>-preview.png)."),
):
    """Layout, shapes, dtypes, value ranges and class balance of a data file.

    Example: nnctl data info datasets/pets.h5 --preview
    """
    from nnctl.importer import dataset_info

    info = dataset_info(file)
    console = out_console()
    table = Table(title=f"{file}: {info['layout']} layout", title_justify="left")
    for col in ("array", "shape", "dtype", "min", "max"):
        table.add_column(col)
    for a in info["arrays"]:
        table.add_row(a["name"], str(tuple(a["shape"])), a["dtype"], f"{a.get('min', '—'):g}" if "min" in a else "—", f"{a['max']:g}" if "max" in a else "—")
    console.print(table)
    for s in info["splits"]:
        balance = ", ".join(f"{k}: {v}" for k, v in s["balance"].items())
        console.print(Text(f"{s['split']}: {s['m']} examples of shape {tuple(s['example_shape'])}; {balance}"))
    if preview or preview_out:
        import h5py

        from nnctl.plots import plot_preview

        split = info["splits"][0]["split"] if info["splits"] else None
        if split is None:
            raise NnctlError(f"{file}: no examples to preview")
        xk, yk = ("x", "y") if split == "data" else (f"{split}_set_x", f"{split}_set_y")
        with h5py.File(file) as f:
            x, y = f[xk][()], f[yk][()]
        target = preview_out or Path(f"{file.stem}-preview.png")
        plot_preview(target, x, y, info["classes"])
        console.print(Text(f"preview: {target}"))


# ---------------------------------------------------------------- sweeps


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


def sweep_table(rows, dimensions, title) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("trial", *dimensions, "layers", "train acc", "test acc", "final cost", "seconds", "status"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["trial"],
            *[str(r[d]) for d in dimensions],
            str(r["layers"] or "—"),
            _pct(r["train_accuracy"]),
            _pct(r["test_accuracy"]),
            "—" if r["final_cost"] is None else f"{r['final_cost']:.6f}",
            "—" if r["seconds"] is None else f"{r['seconds']:.2f}",
            r["status"] or "—",
        )
    return table


def _int_list(text: Optional[str], option: str):
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise NnctlError(f"{option} {text}: expected whole numbers separated by commas, e.g. {option} 0,1,2,3") from None


@app.command()
@handles_errors
def sweep(
    config: Optional[Path] = typer.Argument(None, help="The YAML spec (not needed with --resume)."),
    hidden_layers: Optional[str] = typer.Option(None, "--hidden-layers", help="Hidden-layer counts, e.g. 0,1,2,3."),
    width: Optional[int] = typer.Option(None, "--width", min=1, help="Units in each hidden layer, for --hidden-layers."),
    grid: List[str] = typer.Option([], "--grid", help="key.path=v1,v2,... over any spec key (repeatable: the product)."),
    jobs: int = typer.Option(os.cpu_count() or 1, "--jobs", "-j", min=1, help="Worker processes (default: the cores)."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or dask (an existing cluster)."),
    address: Optional[str] = typer.Option(None, "--address", help="The Dask scheduler, e.g. tcp://scheduler:8786."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="A sweep directory: run only its unfinished trials."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for the sweep directory (default: the spec's runs_dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Train one spec over hidden-layer counts and any grid of keys, in parallel; compare them.

    Example: nnctl sweep configs/cat-deep.yaml --hidden-layers 0,1,2,3,4 --width 7 --jobs 2
    """
    from nnctl.config import read_config_text, spec_from_text
    from nnctl.sweep import load_plan, parse_grid, plan_sweep, run_sweep

    if executor not in ("local", "dask"):
        raise NnctlError(f"--executor {executor}: must be local or dask")
    if executor == "dask" and not address:
        raise NnctlError("--executor dask needs --address tcp://HOST:PORT of a running Dask scheduler")
    if resume is not None:
        plan, sweep_dir, root = load_plan(resume), resume, None
    elif config is None:
        raise NnctlError("give a CONFIG to sweep, or --resume runs/sweep-...")
    else:
        text = read_config_text(config)
        spec = spec_from_text(text, config)
        plan = plan_sweep(spec, text, config, _int_list(hidden_layers, "--hidden-layers"), width, parse_grid(grid))
        sweep_dir, root = None, runs_dir or spec.runs_dir
    from nnctl.stopping import StopRequest

    with StopRequest(raise_at_once=True) as stop, SweepDisplay(plan, quiet) as display:
        try:
            sweep_dir, rows, seconds = run_sweep(
                plan, sweep_dir, root, jobs, executor, address, display.event, display.result, ["nnctl", *sys.argv[1:]]
            )
        except Interrupted as exc:
            raise Interrupted(f"{stop.name}: {exc}", exit_code=stop.exit_code) from None
    console = out_console()
    console.print(sweep_table(rows, plan.dimensions, f"{plan.name}: {len(rows)} trials, best first"))
    console.print(Text(f"sweep: {sweep_dir}  ({seconds:.1f} s, {'dask' if executor == 'dask' else f'{jobs} jobs'})"))
    failed = [r for r in rows if r["status"] not in ("completed", "diverged")]
    if failed:
        raise NnctlError(f"{len(failed)} of {len(rows)} trials failed; see {sweep_dir}/summary.csv, then nnctl sweep --resume {sweep_dir}")


# ---------------------------------------------------------------- runs


runs_app = typer.Typer(help="List and compare runs.\n\nExample: nnctl runs --runs-dir runs", invoke_without_command=True)
app.add_typer(runs_app, name="runs")


@runs_app.callback()
@handles_errors
def runs_list(
    ctx: typer.Context,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the runs are."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines, for scripts."),
):
    """A table of runs (sweep trials included): name, time, layers, accuracies, cost, seconds, status.

    Example: nnctl runs --runs-dir runs
    """
    if ctx.invoked_subcommand is not None:
        return
    from nnctl.runs import list_runs

    rows = list_runs(runs_dir)
    if as_json:
        import json

        for r in rows:
            print(json.dumps(r))
        return
    table = Table(title=f"{len(rows)} runs in {runs_dir}", title_justify="left")
    for col in ("run", "started", "layers", "train acc", "test acc", "final cost", "seconds", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        style = {"completed": "", "diverged": "yellow", "interrupted": "yellow", "running": "cyan"}.get(r["status"], "red")
        table.add_row(
            r["run"], r["started"] or "—", str(r["layers"] or "—"), _pct(r["train_accuracy"]), _pct(r["test_accuracy"]),
            "—" if r["final_cost"] is None else f"{r['final_cost']:.6f}",
            "—" if r["seconds"] is None else f"{r['seconds']:.2f}", Text(r["status"], style=style),
        )
    out_console().print(table)


@runs_app.command("compare")
@handles_errors
def runs_compare(
    run_a: Path = typer.Argument(..., help="A run directory."),
    run_b: Path = typer.Argument(..., help="Another run directory."),
):
    """What differs between two runs' resolved specs, and their metrics side by side.

    Example: nnctl runs compare runs/20261126-101500-cat-deep runs/20261126-103000-cat-deep
    """
    from nnctl.runs import compare_runs

    diff = compare_runs(run_a, run_b)
    console = out_console()
    table = Table(title="spec differences" if diff["spec"] else "specs are identical", title_justify="left")
    for col in ("key", run_a.name, run_b.name):
        table.add_column(col, overflow="fold")
    for key, (a, b) in diff["spec"].items():
        table.add_row(key, str(a), str(b))
    console.print(table)
    metrics = Table(title="metrics", title_justify="left")
    for col in ("metric", run_a.name, run_b.name):
        metrics.add_column(col, overflow="fold")
    for key, (a, b) in diff["metrics"].items():
        metrics.add_row(key, str(a), str(b))
    console.print(metrics)


def main():
    app(prog_name="nnctl")


def command_line() -> str:
    return shlex.join(sys.argv)
