"""The command line: parse, call, print. Only this module imports typer and rich."""

from __future__ import annotations

import functools
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
from nnctl.errors import NnctlError
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
    return Console(highlight=False, soft_wrap=True)


def err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def handles_errors(func):
    """Turn the error family into `Error: ...` and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
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
    config: Path = typer.Argument(..., help="The YAML spec."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key: --set train.learning_rate=0.01 (repeatable)."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for run directories (default: the spec's runs_dir, 'runs')."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Train a network from a spec and write a run directory under runs/.

    Example: nnctl train configs/quickstart.yaml --set train.iterations=2000
    """
    from nnctl.config import load_config
    from nnctl.experiment import train_run

    spec = load_config(config, overrides)
    text = config.read_text(encoding="utf-8")
    summary = train_run(
        spec,
        config_text=text,
        runs_root=runs_dir,
        reporter=make_reporter(quiet, spec.name or "run"),
        command=["nnctl", *sys.argv[1:]] if sys.argv else [],
    )
    console = out_console()
    console.print(summary_table(summary))
    console.print(Text(f"run: {summary.run_dir}"), soft_wrap=True)


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
    name: str = typer.Argument(..., help="Generator: planar."),
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


def main():
    app(prog_name="nnctl")


def command_line() -> str:
    return shlex.join(sys.argv)
