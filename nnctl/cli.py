"""The command line: parse, call, print. Only this module and display.py import typer and rich."""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from nnctl import __version__
from nnctl import display
from nnctl.errors import Interrupted, NnctlError

app = typer.Typer(
    help="Train fully-connected neural networks from YAML specs, the course's way.\n\n"
    "Example: nnctl train configs/quickstart.yaml",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Inspect specs.\n\nExample: nnctl config show configs/cat-deep.yaml", no_args_is_help=True)
data_app = typer.Typer(help="Make and inspect datasets.\n\nExample: nnctl data make planar -o datasets/planar.h5", no_args_is_help=True)
runs_app = typer.Typer(help="List and compare runs.\n\nExample: nnctl runs --runs-dir runs", invoke_without_command=True)
app.add_typer(config_app, name="config")
app.add_typer(data_app, name="data")
app.add_typer(runs_app, name="runs")


def handles_errors(func):
    """Turn the error family into `Error: ...` and its exit code; Ctrl-C into exit 130."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Interrupted as exc:
            display.say(f"Interrupted: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except NnctlError as exc:
            display.say(f"Error: {exc}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            display.say("Interrupted", err=True)
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


def _command_line() -> list:
    return ["nnctl", *sys.argv[1:]]


# ---------------------------------------------------------------- train and specs


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
            summary = resume_run(resume, reporter=display.make_reporter(quiet, resume.name), should_stop=stop)
    elif config is None:
        raise NnctlError("give a CONFIG to train (e.g. configs/quickstart.yaml), or --resume RUN")
    else:
        spec = load_config(config, overrides)
        with StopRequest() as stop:
            summary = train_run(
                spec,
                config_text=config.read_text(encoding="utf-8"),
                runs_root=runs_dir,
                reporter=display.make_reporter(quiet, spec.name or "run"),
                command=_command_line(),
                should_stop=stop,
            )
    display.out_console().print(display.summary_table(summary))
    display.say(f"run: {summary.run_dir}")
    if summary.status == "interrupted":
        raise Interrupted(
            f"{stop.name} at iteration {summary.iterations}{_epoch_note(summary)}: parameters, checkpoint and costs so far are kept in "
            f"{summary.run_dir}; resume with: nnctl train --resume {summary.run_dir}",
            exit_code=stop.exit_code,
        )


def _epoch_note(summary) -> str:
    """With mini-batches an iteration is one batch: say which epoch it fell in."""
    return f" (epoch {summary.epochs})" if summary.epochs not in (None, summary.iterations) else ""


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


# ---------------------------------------------------------------- data


@data_app.command("make")
@handles_errors
def data_make(
    name: str = typer.Argument(..., help="Generator: planar (the course's flower), moons or circles."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write."),
    m: Optional[int] = typer.Option(None, "--m", min=2, help="Number of examples (default: the course's, planar 400, moons 300)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed (default: the course's, planar 1, moons 3)."),
):
    """Write a built-in dataset to an HDF5 file in the plain layout (x, y, classes).

    Example: nnctl data make planar -o datasets/planar.h5
    """
    from nnctl.data import generate, write_dataset

    x, y, classes = generate(name, **{k: v for k, v in (("m", m), ("seed", seed)) if v is not None})
    write_dataset(output, x, y, classes)
    display.say(f"wrote {output}: {x.shape[0]} examples, {x.shape[1]} features, classes {', '.join(classes)}")


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
    bar, on_item = display.import_progress(quiet)
    with bar:
        report = import_folder(folder, output, size, test_fraction, seed, order, on_item=on_item)
    for path, reason in report.skipped:
        display.say(f"skipped {path}: {reason}", err=True)
    counts = ", ".join(f"{c}: {a} train + {b} test" for c, a, b in zip(report.classes, report.train_counts, report.test_counts))
    display.say(f"wrote {report.output}: {counts}; {len(report.skipped)} files skipped")


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
    from nnctl.importer import dataset_info, write_preview

    display.data_info(dataset_info(file), file)
    if preview or preview_out:
        target = write_preview(file, preview_out or Path(f"{file.stem}-preview.png"))
        display.say(f"preview: {target}")


# ---------------------------------------------------------------- using a run


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
        display.say(f"Note: {trained.note}", err=True)
    files = find_images(paths)
    if not files:
        raise NnctlError(f"no image files found in {', '.join(map(str, paths))}")
    preds = predict_files(trained, files)
    display.predictions(preds, class_names(trained), trained.path, "json" if as_json else "csv" if as_csv else "table")
    failed = sum(p.error is not None for p in preds)
    if failed:
        raise NnctlError(f"{failed} of {len(preds)} files could not be read")


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
        display.say(f"Note: {trained.note}", err=True)
    result, dataset = evaluate_run(trained, str(data) if data else None)
    display.evaluation(write_evaluation(trained, result, dataset, source_given=data is not None), trained.path.name)


# ---------------------------------------------------------------- sweeps and runs


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
    overrides: List[str] = typer.Option([], "--set", help="Override a key in every trial: --set train.iterations=500 (repeatable)."),
    jobs: int = typer.Option(os.cpu_count() or 1, "--jobs", "-j", min=1, help="Worker processes (default: the cores)."),
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or dask (an existing cluster)."),
    address: Optional[str] = typer.Option(None, "--address", help="The Dask scheduler, e.g. tcp://scheduler:8786."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="A sweep directory: run only its unfinished trials."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for the sweep directory (default: the spec's runs_dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
):
    """Train one spec over hidden-layer counts and any grid of keys, in parallel; compare them.

    Each trial gets its share of the cores' BLAS threads unless train.blas_threads says otherwise
    (bit-identical results need the same thread count: --set train.blas_threads=1).

    Example: nnctl sweep configs/cat-deep.yaml --hidden-layers 0,1,2,3,4 --width 7 --jobs 2
    """
    from nnctl.config import read_config_text, spec_from_text
    from nnctl.stopping import StopRequest
    from nnctl.sweep import load_plan, parse_grid, plan_sweep, run_sweep

    if executor not in ("local", "dask"):
        raise NnctlError(f"--executor {executor}: must be local or dask")
    if executor == "dask" and not address:
        raise NnctlError("--executor dask needs --address tcp://HOST:PORT of a running Dask scheduler")
    if resume is not None:
        if config is not None or overrides or grid or hidden_layers or width:
            raise NnctlError("--resume runs the plan kept in the sweep directory; give no CONFIG, --set, --grid or --hidden-layers with it")
        plan, sweep_dir, root = load_plan(resume), resume, None
    elif config is None:
        raise NnctlError("give a CONFIG to sweep, or --resume runs/sweep-...")
    else:
        text = read_config_text(config)
        spec = spec_from_text(text, config, overrides)
        plan = plan_sweep(spec, text, config, _int_list(hidden_layers, "--hidden-layers"), width, parse_grid(grid), overrides)
        sweep_dir, root = None, runs_dir or spec.runs_dir
    with StopRequest(raise_at_once=True) as stop, display.SweepDisplay(plan, quiet) as shown:
        try:
            sweep_dir, rows, seconds = run_sweep(
                plan, sweep_dir, root, jobs, executor, address, shown.event, shown.result, _command_line()
            )
        except Interrupted as exc:
            raise Interrupted(f"{stop.name}: {exc}", exit_code=stop.exit_code) from None
    display.out_console().print(display.sweep_table(rows, plan.dimensions, f"{plan.name}: {len(rows)} trials, best first"))
    display.say(f"sweep: {sweep_dir}  ({seconds:.1f} s, {'dask' if executor == 'dask' else f'{jobs} jobs'})")
    failed = [r for r in rows if r["status"] not in ("completed", "diverged")]
    if failed:
        raise NnctlError(f"{len(failed)} of {len(rows)} trials failed; see {sweep_dir}/summary.csv, then nnctl sweep --resume {sweep_dir}")


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
    import json

    from nnctl.runs import list_runs

    rows = list_runs(runs_dir)
    if as_json:
        for r in rows:
            print(json.dumps(r))
    else:
        display.runs_table(rows, runs_dir)


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

    display.comparison(compare_runs(run_a, run_b), run_a.name, run_b.name)


def main():
    app(prog_name="nnctl")
