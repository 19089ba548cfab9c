"""The command line: parse, call, print. Only this module and display.py import typer and rich.

Imports: what every command needs is imported here, at the top (the run folder's readers, the core,
datasets). The machinery of one command (training, the spec's pydantic models, sweeps, the report,
export, tracking, tables, the importer) is imported inside that command, when it runs: `nnctl --help`,
shell completion and `nnctl runs` then start in about 0.2 s instead of 0.5 s (measured on 2 cores:
`import nnctl.cli.commands` against it plus nnctl.experiment, nnctl.sweep, nnctl.report, h5py and
pydantic). tests/test_layers.py holds every other function-local import to a reason on its line.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer
from typer.core import TyperOption

from nnctl.util.text import shell_quote
from nnctl import __version__
from nnctl.cli import display
from nnctl.errors import Interrupted, NnctlError
from nnctl.data.images import MAX_PIXELS
from nnctl.rundir.layout import REPORT, SUMMARY_CSV, Status
import signal
from nnctl.rundir.runs import check_outputs, find_run, is_run_dir, load_run, resolve_run_path
from nnctl.core.stopping import StopRequest
from nnctl.core.stopping import finish, last_signal
from nnctl.util.atomic import output_set
from nnctl.util.signals import own_process
from nnctl.util.memory import available_memory, format_bytes
from nnctl.rundir.runs import spec_name
from nnctl.rundir.runs import list_runs
from nnctl.rundir.runs import is_sweep_dir
from nnctl.rundir.runs import compare_runs
from nnctl.report.shapes import spec_shapes
from nnctl.errors import DivergedError
from nnctl.data.images import find_images
from nnctl.data.dataset import regular_file
from nnctl.data.dataset import prepare_output
from nnctl.data.dataset import peek_classes, peek_n_x
from nnctl.data.dataset import HDF5_SIGNATURE, is_mat
from nnctl.data.dataset import generate, write_dataset
from nnctl.core.gradcheck import reading
from nnctl.core.backend import devices_seen


def _flag_type(display_type_rich):
    """Typer 0.2x labels every flag `<bool>` in help, as if it took a value; a flag shows no type."""

    def shown(self, ctx):
        return None if getattr(self, "is_flag", False) else display_type_rich(self, ctx)

    return shown


TyperOption.display_type_rich = _flag_type(TyperOption.display_type_rich)  # type: ignore[method-assign]  # Typer's method, replaced on purpose

app = typer.Typer(
    help="Train fully-connected neural networks from YAML specs, the course's way.\n\nExample: nnctl train configs/quickstart.yaml",
    no_args_is_help=True,
    add_completion=True,
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
        starting = _STARTING[0]  # main()'s: a signal while nnctl started was only counted
        early = starting is not None and starting()
        try:
            if early:
                raise KeyboardInterrupt
            if starting is not None:
                starting.heed()  # from here a signal stops the command at once (unless it holds its own handler)
            result = func(*args, **kwargs)
            if getattr(kwargs.get("ctx"), "invoked_subcommand", None) is None:  # not a group's callback: its subcommand is still to run
                finish()  # its last line is out (a command that writes files finished as they were put in place)
            return result
        except Interrupted as exc:
            finish()  # the outcome is decided: a signal now changes neither the line nor the exit status
            display.say_error("Interrupted", exc)
            raise typer.Exit(exc.exit_code) from None
        except NnctlError as exc:
            finish()
            display.say_error("Error", exc)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            finish()
            signum = last_signal() or signal.SIGINT
            display.say(f"Interrupted: {signal.Signals(signum).name}" + (" while nnctl was starting; nothing was done" if early else ""), err=True)
            raise typer.Exit(128 + signum) from None

    return wrapper


def _version(value: bool):
    if value:
        print(f"nnctl {__version__}")
        for line in devices_seen():  # what train.device can use here
            print(f"  {line}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version and the devices seen (cpu, each CUDA GPU), and exit."
    ),
):
    pass


def _command_line() -> list:
    return ["nnctl", *sys.argv[1:]]


# ---------------------------------------------------------------- train and specs


@app.command()
@handles_errors
def train(
    ctx: typer.Context,
    config: Optional[Path] = typer.Argument(None, help="The YAML spec (not needed with --resume)."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key: --set train.learning_rate=0.01 (repeatable)."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for run directories (default: the spec's runs_dir, 'runs')."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="Continue an interrupted or killed run from its last checkpoint."),
    data: Optional[Path] = typer.Option(None, "--data", help="A table (.csv, .tsv, .parquet) to train on; without CONFIG, with defaults for every key."),
    target: Optional[str] = typer.Option(None, "--target", help="The table's column to predict (default: the last column)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    no_report: bool = typer.Option(False, "--no-report", help=f"Do not write {REPORT} (the run's page) into the run folder."),
    log: Optional[str] = typer.Option(None, "--log", help="Also log the run to an experiment tracker: mlflow (see docs/mlflow.md)."),
    log_onnx: bool = typer.Option(False, "--log-onnx", help="With --log: also log the model as model.onnx."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or gpu: where the math runs (train.device); with --resume, moves the run."),
):
    """Train a network from a spec and write a run directory under runs/.

    Ctrl-C (or SIGTERM) finishes the current iteration, keeps everything and prints the command
    that resumes the run; a second Ctrl-C stops at once.

    Without a spec, --data TABLE --target COLUMN trains with the defaults of docs/tables.md and
    writes the whole spec into the run (nnctl train runs/<run>/config.resolved.yaml repeats it).

    Example: nnctl train configs/quickstart.yaml --set train.iterations=2000

    Example: nnctl train --data penguins.csv --target species --set data.missing=most_frequent
    """
    # Until the run folder is made a signal stops at once (nothing is lost yet); from then to the end the
    # first only asks (nnctl.experiment.run.train_run switches): training stops after its current iteration,
    # every file, the summary and the report are written, then the command says so; a second stops at once.
    with StopRequest(raise_at_once=True) as stop:
        try:
            summary, tracker = _train_command(stop, ctx, config, overrides, runs_dir, resume, data, target, quiet, no_report, log, log_onnx, device)
        except KeyboardInterrupt:  # before the run folder: none was made, or the resumed run is as it was
            kept = f"{resume} is as it was; resume with: nnctl train --resume {shell_quote(resume)}" if resume is not None else "no run folder was made"
            raise Interrupted(f"{stop.name} before training began; {kept}", exit_code=stop.exit_code) from None
        report = None
        if no_report and tracker is None:
            finish()  # the run's files are in place (metrics.json last): a signal now changes nothing
        try:
            display.out_console().print(display.summary_table(summary))
            if summary.status == Status.COMPLETED and summary.message:
                display.say(f"Note: {summary.message}")
            for note in summary.notes or ():
                display.say(f"Note: {note}")
            for warning in summary.warnings or ():
                display.say(f"Warning: {warning}", err=True)
            if not no_report:
                report = _write_report(summary.run_dir, final=tracker is None)  # in place: from then on the command is done
            display.say(f"run: {summary.run_dir}")
            _finish_tracking(tracker, summary.run_dir)
        except KeyboardInterrupt:  # a second signal after training: every file of the run is written already
            if report is None and not no_report:
                _drop_stale_report(summary.run_dir)
            raise Interrupted(_stopped_after(stop, summary.run_dir, summary.status, no_report, report), exit_code=stop.exit_code) from None
        if summary.status == Status.INTERRUPTED:
            raise Interrupted(
                f"{stop.name} at iteration {summary.iterations}{_epoch_note(summary)}: parameters, checkpoint and costs so far are kept in "
                f"{summary.run_dir}; resume with: nnctl train --resume {shell_quote(summary.run_dir)}",
                exit_code=stop.exit_code,
            )
        if stop():  # asked after the last iteration, while the files, the table or the report were written: all of them were
            raise Interrupted(_stopped_after(stop, summary.run_dir, summary.status, no_report, report), exit_code=stop.exit_code)


def _drop_stale_report(folder) -> None:
    """A report.html of an earlier state of the folder (a resumed run, a sweep run again), when the
    new one was not written: it would describe files that are no longer there."""
    page = Path(folder) / REPORT
    if page.is_file() and not page.is_symlink():
        page.unlink(missing_ok=True)


def _stopped_after(stop, run_dir, status, no_report: bool, report) -> str:
    """What a signal after training says: where the run is (every file of it whole) and how to do what was left undone."""
    if status == Status.INTERRUPTED:
        return f"{stop.name}{stop.twice}: the run is kept in {run_dir} (status: {Status.INTERRUPTED}); resume with: nnctl train --resume {shell_quote(run_dir)}"
    page = "" if no_report or report is not None else f"; its report was not written: nnctl report {shell_quote(run_dir)}"
    return f"{stop.name}{stop.twice} after training: the run is kept in {run_dir} (status: {status}){page}"


def _train_command(stop, ctx, config, overrides, runs_dir, resume, data, target, quiet, no_report, log, log_onnx, device):
    """`train` up to its summary: (the summary, --log's tracker or None)."""
    from nnctl.spec.config import data_overrides, load_config_text, spec_from_text, table_spec_text
    from nnctl.experiment.run import resume_run, train_run

    tracker = _tracker(log, log_onnx, spec_name(resume) if resume is not None else None)
    tracked = (tracker,) if tracker is not None else ()
    if resume is not None:
        if config is not None or overrides or data is not None or target is not None:
            raise NnctlError("--resume continues a run with its own spec; give no CONFIG, --set, --data or --target with it")
        if runs_dir is not None:  # it was ignored: the run went on in its own folder, not under the root given
            raise NnctlError(f"--runs-dir {runs_dir}: --resume continues the run in its own folder ({resume}); leave --runs-dir out")
        if not no_report:  # the page is written after training: a folder in its place is named before
            run = resolve_run_path(resume)
            check_outputs([run / REPORT], f"resume: nnctl train --resume {shell_quote(run)} (or resume with --no-report)")
        if tracker is not None:
            tracker.connect()  # before training: mlflow's import would slow the loop down
        label = f"{spec_name(resume) or 'run'} (resumed)"
        summary = _reported(
            no_report,
            resume,
            stop,
            resume_run,
            resume,
            reporter=display.make_reporter(quiet, label),
            should_stop=stop,
            listeners=tracked,
            tracker=tracker,
            device=device,
        )
    elif config is None and data is None:
        if target is not None:
            raise NnctlError("--target names a column of --data TABLE; give --data too (or a CONFIG whose data.train is a table)")
        # bare `nnctl train`: a command line that does not parse, so its usage and exit 2
        usage = [*ctx.get_usage().splitlines(), "Try 'nnctl train --help' for help.", ""]
        for text in [*usage, "Error: give a CONFIG to train (e.g. configs/quickstart.yaml), --data TABLE, or --resume RUN"]:
            display.say(text, err=True)  # one say per line: say shows a newline inside one as \n
        raise typer.Exit(2)
    else:
        if device is not None:
            overrides = [*overrides, f"train.device={device}"]  # checked like the file's own key
        if data is not None:
            _check_data_option(data, target)
        if config is None:
            assert data is not None  # no CONFIG: --data TABLE (refused above without either)
            text = table_spec_text(str(data), target, overrides)
            # messages name --data (there is no spec file); --set paths are read from the working folder
            spec = spec_from_text(text, Path.cwd() / f"{Path(data).stem}.yaml", overrides, where=f"--data {data}")
        else:
            spec, text = load_config_text(config, [*data_overrides(data, target), *overrides])  # read once: a pipe gives its text only once
        from nnctl.spec.config import spec_warnings

        for warning in spec_warnings(spec):
            display.say(f"Warning: {warning}", err=True)
        if tracker is not None:
            tracker.name = spec.name or "run"
            tracker.connect()  # before training: mlflow's import would slow the loop down
        summary = _reported(
            no_report,
            Path(runs_dir or spec.runs_dir) / "latest",
            stop,
            train_run,
            spec,
            config_text=text,
            runs_root=runs_dir,
            reporter=display.make_reporter(quiet, spec.name or "run"),
            command=_command_line(),
            should_stop=stop,
            listeners=tracked,
            tracker=tracker,
        )
    return summary, tracker


def _check_data_option(data: Path, target: Optional[str]) -> None:
    """--data names a file that exists (read from the working folder, not a spec's), and --target
    goes with a table; each refused naming the file and the option."""
    from nnctl.data.tables import TABLE_SUFFIXES, is_table

    path = Path(data).expanduser().resolve()
    want = "a table file (.csv, .tsv or .parquet)" if is_table(path) else "a table file (.csv, .tsv or .parquet) or an HDF5 data file (.h5)"
    regular_file(
        path,
        NnctlError,
        missing="{name}: --data: no such file; check the path (a relative --data path is read from the working folder)",
        unreadable="{name}: --data: cannot be read ({reason}); check the path and its permissions",
        directory="{name}: --data: is a directory, not a data file; give " + want,
        other="{name}: --data: is {kind}, not a regular file; give " + want,
    )
    if target is not None and not is_table(path):
        raise NnctlError(
            f"{path}: --target: names a column of a table ({', '.join(TABLE_SUFFIXES)}), and this file is not one; "
            "leave --target out (a data file's labels are its y)"
        )


def _epoch_note(summary) -> str:
    """With mini-batches an iteration is one batch: say which epoch it fell in."""
    return f" (epoch {summary.epochs})" if summary.epochs not in (None, summary.iterations) else ""


@config_app.command("show")
@handles_errors
def config_show(
    config: Path = typer.Argument(..., help="The YAML spec."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key (repeatable)."),
    shapes: bool = typer.Option(False, "--shapes", help="Instead: each layer's n[l], g[l] and the shapes of W, b, Z, A for the data's m."),
):
    """Print the resolved spec: defaults filled in, data paths absolute, layers from the data.

    Example: nnctl config show configs/cat-deep.yaml --set train.learning_rate=0.01
    """
    from nnctl.spec.config import dump_spec, load_config
    from nnctl.data.tables import is_table

    spec = load_config(config, overrides)
    m: int | None = None
    n_x: int | None  # None where the data cannot be read
    if is_table(spec.data.train):  # read (and checked) whole: its columns make n_x, its target the task and k
        from nnctl.experiment.run import load_inputs

        inputs = load_inputs(spec)
        assert inputs.spec is not None  # load_inputs gives the spec it checked the data with
        spec, n_x, k, m = inputs.spec, inputs.train.n_x, inputs.train.k, inputs.train.m
    else:
        n_x = peek_n_x(spec.data.train)
        k = peek_classes(spec.data.train) if n_x is not None else 2
    if spec.model.resolved_task == "classification" and n_x is not None:
        spec = spec.for_classes(k)  # over two classes: softmax, k units
    if shapes:
        display.shapes_table(spec_shapes(spec, n_x, config, k=k, m=m), str(config))
        return
    if n_x is not None or spec.model.layers is not None:
        spec = spec.resolved(spec.layer_dims(n_x or 0, k))
    sys.stdout.write(dump_spec(spec))
    if n_x is not None:  # what data.normalize does to these inputs
        from nnctl.experiment.run import load_inputs

        try:
            inputs = load_inputs(spec)
        except NnctlError:
            return
        norm, target = inputs.normalization, inputs.target
        from nnctl.util.text import visible

        # the reasons may name columns of the data: text from outside, made visible as every printed line
        sys.stdout.write(visible(f"# data.normalize_target: {spec.data.normalize_target} -> {target.method} ({target.reason})") + "\n")
        sys.stdout.write(visible(f"# data.normalize: {spec.data.normalize} -> {norm.method} ({norm.reason})") + "\n")


@app.command()
@handles_errors
def gradcheck(
    config: Path = typer.Argument(..., help="The YAML spec whose network is checked."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key (repeatable)."),
    examples: int = typer.Option(8, "--examples", min=1, max=10_000, help="Examples of the training data (a seeded choice) to check on."),
    random_data: bool = typer.Option(False, "--random", help="Seeded random inputs and labels instead of the data (needs model.layers)."),
    max_per_layer: int = typer.Option(1000, "--max-per-layer", min=1, help="Check at most this many parameters of each layer (a seeded choice)."),
    threshold: float = typer.Option(1e-5, "--threshold", min=0.0, help="Exit 1 when the overall relative difference is above this."),
):
    """Compare backprop's gradients with central differences (epsilon 1e-7), per layer and overall.

    The course's reading: below 1e-7 great, above 1e-3 a bug. Refuses dropout, as the course does.

    Example: nnctl gradcheck configs/course2/regularization-l2.yaml --examples 16
    """
    from nnctl.spec.config import load_config
    from nnctl.experiment.gradcheck import check_spec

    spec = load_config(config, overrides)
    result = check_spec(spec, examples, random_data, max_per_layer, where=str(config))
    for note in result.notes:
        display.say(f"Note: {note}", err=True)
    display.gradcheck_table(result, reading, str(config))
    if not result.difference <= threshold:
        raise NnctlError(
            f"the overall relative difference {result.difference:.3g} is above --threshold {threshold:g}: backprop's gradients disagree with the cost's slope"
        )


# ---------------------------------------------------------------- data


@data_app.command("make")
@handles_errors
def data_make(
    name: str = typer.Argument(..., help="Generator: planar (the course's flower), moons, circles or spiral (k classes)."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write."),
    m: Optional[int] = typer.Option(None, "--m", min=2, help="Number of examples (default: the course's, planar 400, moons 300)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Seed (default: the course's, planar 1, moons 3)."),
    k: Optional[int] = typer.Option(None, "--k", help="Classes, for spiral (its arms; default 3)."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
):
    """Write a built-in dataset to an HDF5 file in the plain layout (x, y, classes).

    Example: nnctl data make planar -o datasets/planar.h5
    """
    prepare_output(output, force)
    given = {"m": m, "seed": seed, "k": k}
    x, y, classes = generate(name, **{key: v for key, v in given.items() if v is not None})
    with output_set(final=True):
        write_dataset(output, x, y, classes, force=force)
    display.say(f"wrote {output}: {x.shape[0]} examples, {x.shape[1]} features, classes {', '.join(classes)}")


@data_app.command("import")
@handles_errors
def data_import(
    folder: Path = typer.Argument(..., help="A folder with one sub-folder of pictures per class."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write (course layout)."),
    size: int = typer.Option(64, "--size", min=1, max=4096, help="Pictures become size × size RGB."),
    grayscale: bool = typer.Option(False, "--grayscale", help="Keep one channel (luminance): size × size × 1 values per picture, not × 3."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.0, max=0.99, help="Share of each class kept for test."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the split."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Class folders in label order, label 0 first: negative,positive or a,b,c,..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
    max_pixels: Optional[int] = typer.Option(
        None, "--max-pixels", min=1, help=f"Skip pictures with more pixels (default {MAX_PIXELS:,}; a decompression-bomb guard)."
    ),
):
    """Build a training file from your own photos: upright, RGB, resized, split by class.

    A MATLAB 5 file of points (X/y, and Xval/yval for test, as the course's football data) is
    written as HDF5 in the course's layout instead.

    Example: nnctl data import photos_by_class/ --size 64 -o datasets/pets.h5 --test-fraction 0.2 --seed 1
    """
    from nnctl.data.importer import import_folder

    if folder.is_file():
        from nnctl.data.importer import import_mat

        if is_mat(folder):
            with output_set(final=True):
                mat_counts = import_mat(folder, output, force)
            display.say(f"wrote {output}: " + ", ".join(f"{k}: {v} examples" for k, v in mat_counts.items()))
            return

    order = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    bar, on_item = display.import_progress(quiet)
    with bar, output_set(final=True):
        report = import_folder(folder, output, size, test_fraction, seed, order, on_item=on_item, force=force, max_pixels=max_pixels, grayscale=grayscale)
    for path, reason in report.skipped:
        display.say(f"skipped {path}: {reason}", err=True)
    counts = ", ".join(f"{c}: {a} train + {b} test" for c, a, b in zip(report.classes, report.train_counts, report.test_counts))
    display.say(f"wrote {report.output}: {counts}; {len(report.skipped)} files skipped")


@data_app.command("info")
@handles_errors
def data_info(
    file: Path = typer.Argument(..., help="An HDF5 data file, or a table (.csv, .tsv, .parquet)."),
    preview: bool = typer.Option(False, "--preview", help="Also write a PNG contact sheet of a few examples per class."),
    preview_out: Optional[Path] = typer.Option(None, "--preview-out", help="Where the contact sheet goes (default: ./<name>-preview.png)."),
    force: bool = typer.Option(False, "--force", help="Replace the preview file if it exists."),
    header: str = typer.Option(
        "auto", "--header", help="A CSV/TSV table's first line: auto (detected), yes (the header) or no (a row of data), as data.header."
    ),
):
    """Layout, shapes, dtypes, value ranges and class balance of a data file; a table's columns.

    For a table: each column's kind (number or text), missing cells, distinct values, and its range
    or commonest values. --header yes or no reads its first line as the spec's data.header: true or false would.

    Example: nnctl data info datasets/pets.h5 --preview
    """
    from nnctl.data.importer import dataset_info, preview_target, write_preview
    from nnctl.data.tables import describe, is_table, read_table

    choice = {"auto": "auto", "yes": True, "true": True, "no": False, "false": False}.get(header.strip().lower())
    if choice is None:
        raise NnctlError(f"--header: auto, yes or no (got {header!r}); yes reads a table's first line as its header, no as a row of data")
    if is_table(file):
        if preview or preview_out:
            raise NnctlError(f"{file}: --preview draws pictures of HDF5 data; for a table, data info lists its columns")
        table = read_table(file, choice)
        display.table_info(describe(table), file, table.m, table.header)
        return
    if choice != "auto" and file.exists():  # a missing file: dataset_info says so
        raise NnctlError(f"{file}: --header: reads a table's first line (.csv, .tsv); this file is not a table: leave --header out")
    target = preview_target(preview_out or Path(f"{file.stem}-preview.png"), force) if preview or preview_out else None
    display.data_info(dataset_info(file), file)
    if target is not None:
        with output_set(final=True):
            target = write_preview(file, target, force)
        display.say(f"preview: {target}")


# ---------------------------------------------------------------- using a run


@app.command()
@handles_errors
def predict(
    paths: List[Path] = typer.Argument(..., help="Image files or folders (walked for images); for a model of features, CSV or HDF5 files of rows."),
    run: Path = typer.Option(Path("runs/latest"), "--run", help="The trained run directory."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout, for scripts."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout, for spreadsheets."),
    max_pixels: Optional[int] = typer.Option(
        None, "--max-pixels", min=1, help=f"Refuse pictures with more pixels (default {MAX_PIXELS:,}; a decompression-bomb guard)."
    ),
):
    """Predict with a trained run: its classes (or values, for a regression) for pictures, table rows or an HDF5 file; exit 1 if any file could not be read.

    A model trained on features (not pictures) takes rows instead: a CSV file (with or without a
    header line naming the features) or an HDF5 file in the plain layout (x; y not needed).

    Example: nnctl predict my_cat.jpg photos/ --run runs/latest
    """
    from nnctl.experiment.inference import class_names, is_image_model, predict_files, predict_rows, rows_failed, task_of

    if as_json and as_csv:
        raise NnctlError("--json and --csv: give one of them (JSON lines or CSV; both have the same fields)")
    for path in paths:  # its plots are pictures: walked as photos, they would be predicted without a word
        if is_run_dir(path):
            raise NnctlError(f"{path}: is a run folder, not pictures or rows to predict; name the run with --run: nnctl predict FILES --run {path}")
    trained = load_run(find_run(run))
    if trained.note:
        display.say(f"Note: {trained.note}", err=True)
    fmt = "json" if as_json else "csv" if as_csv else "table"
    if not is_image_model(trained):  # rows of features: a table, CSV or a data file
        notes: list = []
        missing: dict = {}  # a table's rows with a missing value, by file: listed with their error, not left out
        rows = predict_rows(trained, paths, notes=notes, missing=missing)
        total, failed = display.prediction_stream(rows, class_names(trained), trained.path, fmt, task_of(trained))
        from nnctl.data.tables import Warned

        for note in notes:  # a Warned one: a column empty in every row (its feature ignored)
            display.say(f"{'Warning' if isinstance(note, Warned) else 'Note'}: {note}", err=True)
        if failed:
            raise NnctlError(rows_failed(total, failed, missing))
        return
    for path in paths:  # the pictures it was trained on, as an HDF5 file: "damaged or truncated image" said nothing useful
        if _is_hdf5(path):
            raise NnctlError(
                f"{path}: is an HDF5 data file; predict takes picture files or folders of them for this run "
                f"({trained.path}); score an HDF5 file with: nnctl evaluate {trained.path} --data {path}"
            )
    files = find_images(paths)
    if not files:
        raise NnctlError(f"no image files found in {', '.join(map(str, paths))}")
    bar, on_item = display.item_progress("predicting", quiet=False)
    with bar:
        preds = predict_files(trained, files, max_pixels=max_pixels, on_item=on_item)
    fmt = "json" if as_json else "csv" if as_csv else "table"
    display.predictions(preds, class_names(trained), trained.path, fmt, task_of(trained))
    failed = sum(p.error is not None for p in preds)
    if failed:
        raise NnctlError(f"{failed} of {len(preds)} files could not be read")


@app.command()
@handles_errors
def evaluate(
    run: Path = typer.Argument(Path("runs/latest"), help="The trained run directory."),
    data: Optional[Path] = typer.Option(
        None, "--data", help="A labelled dataset: HDF5, or a table (.csv, .tsv, .parquet) for a run trained on one (default: the run's test file)."
    ),
):
    """Score a run on labelled data: accuracy, precision, recall, F1, confusion matrix and a gallery of the mistakes (RMSE and MAE for a regression).

    Example: nnctl evaluate runs/latest --data datasets/pets.h5
    """
    from nnctl.experiment.inference import evaluate as evaluate_run
    from nnctl.experiment.inference import evaluation_files, save_evaluation

    trained = load_run(find_run(run))
    if trained.note:
        display.say(f"Note: {trained.note}", err=True)
    check_outputs(
        evaluation_files(trained, str(data) if data else None),
        f"evaluate again: nnctl evaluate {shell_quote(trained.path)}" + (f" --data {shell_quote(data)}" if data else ""),
    )  # before scoring
    from nnctl.data.tables import Warned

    try:
        result, dataset = evaluate_run(trained, str(data) if data else None)
        for note in result.get("notes", ()):  # rows of a table left out, cells filled (evaluation*.json keeps the note)
            display.say(f"{'Warning' if isinstance(note, Warned) else 'Note'}: {note}", err=True)
        try:
            saved = save_evaluation(trained, result, dataset, source_given=data is not None, final=True)
        except NnctlError:
            display.evaluation(result, trained.path.name)  # the scores, then the one line saying they were not saved
            raise
    except MemoryError:
        raise NnctlError(
            f"{data or 'the test data'}: out of memory while evaluating {trained.path} ({format_bytes(available_memory())} "
            "available to this process; evaluate holds a chunk of examples, its tallies and the outputs of the first 10,000 examples); free some memory"
        ) from None
    display.evaluation(saved, trained.path.name)


@app.command("export")
@handles_errors
def export_cmd(
    output: Path = typer.Option(..., "--output", "-o", help="The file to write: FILE.onnx or FILE.npz."),
    run: Path = typer.Option(Path("runs/latest"), "--run", help="The trained run directory (default: the latest run)."),
    fmt: Optional[str] = typer.Option(None, "--format", help="onnx or npz (default: from the output's suffix)."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
):
    """Write a trained run as one ONNX graph (raw rows in, probabilities and label out) or a NumPy .npz.

    Both start from the raw rows `predict` takes (pictures: their 0-255 values, flattened as stored)
    and include the run's scaling and normalisation; see docs/export.md.

    Example: nnctl export --run runs/latest -o model.onnx
    """
    from nnctl.experiment.export import export_format, export_run

    kind = export_format(output, fmt)
    prepare_output(output, force, suffix=f".{kind}")
    trained = load_run(find_run(run))
    with output_set(final=True):  # renamed into place with the signals held: from then on the command is done
        written = export_run(trained, output, kind)  # a run that cannot be exported is refused before any note
    if trained.note:
        display.say(f"Note: {trained.note}", err=True)
    display.say(f"wrote {written} ({kind}, from {trained.path})")


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
    search: List[str] = typer.Option(
        [], "--search", help="key.path=DIST drawn at random: loguniform(a,b), one_minus_loguniform(a,b), uniform(a,b), int(a,b), choice(a,b,...) (repeatable)."
    ),
    trials: Optional[int] = typer.Option(None, "--trials", min=1, help="Random draws (per round) for --search."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, max=2**32 - 1, help="Seed of the draws (default: train.seed)."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, max=20, help="Coarse to fine: each round draws inside the region of the best trials so far."),
    halving: Optional[int] = typer.Option(None, "--halving", min=2, help="Successive halving: keep the best 1/ETA at each budget."),
    min_budget: Optional[int] = typer.Option(None, "--min-budget", min=1, help="First budget of --halving, in epochs (iterations full batch)."),
    halving_mode: Optional[str] = typer.Option(
        None, "--halving-mode", help="sync (default: rung by rung, reproducible) or async (ASHA: promote as trials finish, no worker waits)."
    ),
    jobs: int = typer.Option(os.cpu_count() or 1, "--jobs", "-j", min=1, help="Worker processes (default: the cores)."),
    executor: str = typer.Option(
        "local", "--executor", help="local (worker processes) or dask (a cluster at --address; without it, a local one of --jobs processes)."
    ),
    address: Optional[str] = typer.Option(None, "--address", help="The Dask scheduler, e.g. tcp://scheduler:8786."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="A sweep directory: run only its unfinished trials."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for the sweep directory (default: the spec's runs_dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    no_report: bool = typer.Option(False, "--no-report", help=f"Do not write {REPORT} (the sweep's page and each trial's)."),
    log: Optional[str] = typer.Option(None, "--log", help="Also log the sweep to an experiment tracker: mlflow (a parent run, one nested run per trial)."),
    log_onnx: bool = typer.Option(False, "--log-onnx", help="With --log: also log each trial's model as model.onnx."),
):
    """Train one spec over hidden-layer counts, any grid of keys or random draws, in parallel; choose on validation.

    Each trial gets its share of the cores' BLAS threads unless train.blas_threads says otherwise
    (bit-identical results need the same thread count: --set train.blas_threads=1).

    Random search, coarse to fine, successive halving: docs/search.md.

    Example: nnctl sweep configs/cat-deep.yaml --hidden-layers 0,1,2,3,4 --width 7 --jobs 2

    Example: nnctl sweep configs/spiral.yaml --trials 30 --search "train.learning_rate=loguniform(1e-4,1)"
    """
    from nnctl.spec.config import read_config_text, spec_from_text
    from nnctl.sweep.sampler import parse_search
    from nnctl.sweep.plan import halving_from, parse_grid, plan_sweep, search_from
    from nnctl.sweep.run import run_sweep
    from nnctl.sweep.store import load_plan

    if executor not in ("local", "dask"):
        raise NnctlError(f"--executor {executor}: must be local or dask")
    _tracker(log, log_onnx, None)  # checked before any work
    if address and executor != "dask":
        raise NnctlError(f"--address {address} is for --executor dask; add --executor dask, or leave --address out")
    if resume is not None:
        if (
            config is not None
            or overrides
            or grid
            or hidden_layers
            or width
            or search
            or any(v is not None for v in (trials, seed, rounds, halving, min_budget, halving_mode))
        ):
            raise NnctlError(
                "--resume runs the plan kept in the sweep directory; give no CONFIG, --set, --grid, --hidden-layers, "
                "--search, --trials, --seed, --rounds, --halving, --min-budget or --halving-mode with it"
            )
        plan, sweep_dir, root = load_plan(resume), resume, None
        if not no_report:  # the page is written after the trials: a folder in its place is named before
            check_outputs([Path(resume) / REPORT], f"resume: nnctl sweep --resume {shell_quote(resume)} (or resume with --no-report)")
    elif config is None:
        raise NnctlError("give a CONFIG to sweep, or --resume runs/sweep-...")
    else:
        text = read_config_text(config)
        spec = spec_from_text(text, config, overrides)
        drawn = search_from(spec, config, parse_search(search), trials, seed, rounds)
        plan = plan_sweep(
            spec,
            text,
            config,
            _int_list(hidden_layers, "--hidden-layers"),
            width,
            parse_grid(grid),
            overrides,
            drawn,
            halving_from(spec, halving, min_budget, halving_mode),
        )
        sweep_dir, root = None, runs_dir or spec.runs_dir
    title = lambda: f"{plan.name}: {len(plan.trials)} trials, best first"  # noqa: E731 (later rounds add theirs)
    # the first Ctrl-C (or SIGTERM) asks running trials to stop and keep their checkpoints; a second stops at once.
    # It stays in force to the end: a signal while the summary or the report is written says what is kept.
    with StopRequest() as stop:
        with display.SweepDisplay(plan, quiet) as shown:
            try:
                sweep_dir, rows, seconds = run_sweep(
                    plan, sweep_dir, root, jobs, executor, address, shown.event, shown.result, _command_line(), should_stop=stop
                )
            except Interrupted as exc:
                shown.close()
                if getattr(exc, "rows", None):
                    display.out_console().print(display.sweep_table(exc.rows, plan.dimensions, title()))
                raise Interrupted(f"{stop.name}: {exc}", exit_code=stop.exit_code) from None
        try:
            _sweep_finished(plan, sweep_dir, rows, seconds, title(), stop, no_report, log, log_onnx, executor, address, jobs)
        except KeyboardInterrupt:  # the second stop request, after the trials and the summary
            raise Interrupted(
                f"{stop.name} twice: every trial has run; the trials and the summary are kept in {sweep_dir}; "
                f"its report was not written: nnctl report {shell_quote(sweep_dir)}",
                exit_code=stop.exit_code,
            ) from None


def _sweep_finished(plan, sweep_dir, rows, seconds, title, stop, no_report, log, log_onnx, executor, address, jobs) -> None:
    """The table, the report, the tracker and the exit status of a sweep whose trials have run; a stop
    request that came while the summary or this was written ends it there, saying what is kept."""

    def stopped(what):
        if stop():
            raise Interrupted(f"{stop.name}: every trial has run; {what}", exit_code=stop.exit_code)

    if no_report and log is None:
        finish()  # the summary is in place (run_sweep): a signal now changes nothing
    display.out_console().print(display.sweep_table(rows, plan.dimensions, title))
    stopped(f"the trials and the summary are kept in {sweep_dir}; the report was not written: nnctl report {shell_quote(sweep_dir)}")
    if not no_report:
        _write_report(sweep_dir, final=log is None)  # in place: from then on the command is done
    where = (
        "dask"
        if executor == "dask" and address
        else f"a local Dask cluster of {min(jobs, len(plan.trials))} processes"
        if executor == "dask"
        else f"{jobs} jobs"
    )
    display.say(f"sweep: {sweep_dir}  ({seconds:.1f} s, {where})")
    stopped(
        f"the trials, the summary{'' if no_report else ' and the report'} are kept in {sweep_dir}"
        + (f"; not logged to mlflow: nnctl runs log {sweep_dir}" if log is not None else "")
    )
    if log is not None:
        _log_sweep(sweep_dir, [Path(sweep_dir) / r["trial"] for r in rows], log_onnx)
    failed = [r for r in rows if r["status"] not in (Status.COMPLETED, Status.DIVERGED, "pruned")]
    if failed:
        names = ", ".join(r["trial"] for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
        raise NnctlError(
            f"{len(failed)} of {len(rows)} trials failed ({names}); see {sweep_dir}/{SUMMARY_CSV}, then nnctl sweep --resume {shell_quote(sweep_dir)}"
        )


@app.command("lr-find")
@handles_errors
def lr_find(
    config: Path = typer.Argument(..., help="The YAML spec."),
    overrides: List[str] = typer.Option([], "--set", help="Override a key: --set train.batch_size=32 (repeatable)."),
    low: float = typer.Option(1e-7, "--low", help="The first learning rate."),
    high: float = typer.Option(10.0, "--high", help="The last learning rate."),
    steps: int = typer.Option(100, "--steps", min=2, max=100_000, help="Mini-batch steps (full-batch iterations), one rate each."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for the lr-find folder (default: the spec's runs_dir)."),
):
    """The learning-rate range test: raise the rate exponentially over a short run, plot cost against rate.

    Suggests a tenth of the rate at the smoothed cost's minimum (docs/search.md says why).

    Example: nnctl lr-find configs/spiral.yaml --steps 200
    """
    from nnctl.spec.config import load_config
    from nnctl.experiment.lrfind import SUGGESTION, range_test, write_range_test
    from nnctl.experiment.lrfind import warnings as lr_warnings

    spec = load_config(config, overrides)
    test = range_test(spec, low, high, steps)
    name = spec.name or config.stem
    folder = write_range_test(
        test, runs_dir or spec.runs_dir, name, {"config": str(config), "overrides": list(overrides), "low": low, "high": high, "steps": steps}, final=True
    )
    steepest = f"{test.steepest:.3g}" if test.steepest is not None else "—"
    display.out_console().print(
        f"suggested learning_rate: {test.suggested:.3g} ({SUGGESTION})\n"
        f"smoothed cost lowest at {test.minimum:.3g}; steepest descent at {steepest}; "
        f"{len(test.rates)} of {steps} steps ({test.stopped})",
        markup=False,
        highlight=False,
    )
    for warning in lr_warnings(test):
        display.say(f"Warning: {warning}", err=True)
    display.say(f"lr-find: {folder}")


@runs_app.callback()
@handles_errors
def runs_list(
    ctx: typer.Context,
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where the runs are."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines, for scripts."),
):
    """A table of runs (sweep trials included), oldest first: name, time, layers, accuracies, cost, seconds, status.

    Example: nnctl runs --runs-dir runs
    """
    if ctx.invoked_subcommand is not None:
        return

    skipped: list[tuple[Path, str]] = []
    rows = list_runs(runs_dir, skipped)
    if as_json:
        for r in rows:
            print(display.json_line(r))  # as every --json: names kept, control and format characters as \u escapes
    else:
        display.runs_table(rows, runs_dir)
    for folder, reason in skipped:
        display.say(f"skipped {folder}: {reason}", err=True)


@runs_app.command("compare")
@handles_errors
def runs_compare(
    run_a: Path = typer.Argument(..., help="A run directory, or a name that `nnctl runs` prints."),
    run_b: Path = typer.Argument(..., help="Another run directory or name."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where names are looked up."),
):
    """What differs between two runs' resolved specs, and their metrics side by side.

    Example: nnctl runs compare 20261126-101500-cat-deep 20261126-103000-cat-deep
    """
    diff = compare_runs(run_a, run_b, runs_dir)
    display.comparison(diff, *diff["labels"])


@runs_app.command("log")
@handles_errors
def runs_log(
    run: Path = typer.Argument(Path("runs/latest"), help="A run (or sweep) directory, or a name that `nnctl runs` prints."),
    to: str = typer.Option("mlflow", "--to", help="The experiment tracker: mlflow (MLFLOW_TRACKING_URI; see docs/mlflow.md)."),
    onnx: bool = typer.Option(False, "--onnx", help="Also log the model as model.onnx."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where names are looked up."),
):
    """Import a finished run folder into MLflow: spec as parameters, cost curve, scores, files.

    A sweep folder becomes a parent run with one nested run per trial.

    Example: nnctl runs log runs/latest --onnx
    """
    from nnctl.experiment.tracking import check_tracker, log_run_folder

    check_tracker(to, "--to")
    path = find_run(run, runs_dir)
    if path.is_dir() and is_sweep_dir(path):
        _log_sweep(path, [path / r["run"] for r in list_runs(path)], onnx)
        return
    load_run(path)  # a run folder nnctl can read, checked before anything is sent
    run_id = log_run_folder(path, warn=lambda text: display.say(f"Warning: {text}", err=True), onnx=onnx)
    if run_id is None:
        raise NnctlError(f"{path}: not logged to MLflow (see the warning above); check MLFLOW_TRACKING_URI and try again")
    display.say(f"mlflow: run {run_id} (from {path})")


def _log_sweep(sweep_dir, trials, log_onnx: bool) -> None:
    from nnctl.experiment.tracking import log_sweep

    run_id = log_sweep(sweep_dir, trials, warn=lambda text: display.say(f"Warning: {text}", err=True), onnx=log_onnx)
    if run_id is not None:
        display.say(f"mlflow: sweep run {run_id} with {len(trials)} nested trial runs")


@runs_app.command("show")
@handles_errors
def runs_show(
    run: Path = typer.Argument(Path("runs/latest"), help="A run directory, or a name that `nnctl runs` prints."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where names are looked up."),
):
    """A run's facts in the terminal: status, network shapes, metrics, costs, evaluation, how to rerun it.

    Example: nnctl runs show latest --runs-dir /tmp/runs
    """
    from nnctl.report.collect import collect_run
    from nnctl.rundir.runs import check_run_folder

    display.run_facts(collect_run(check_run_folder(find_run(run, runs_dir))))


@app.command()
@handles_errors
def report(
    path: Path = typer.Argument(Path("runs/latest"), help="A run or sweep directory."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help=f"The HTML file to write (default: {REPORT} in the folder); never a file of a run."),
    force: bool = typer.Option(False, "--force", help="Replace the -o file if it exists."),
):
    """One self-contained HTML page of a run or a sweep (and a page for each of a sweep's trials).

    Example: nnctl report runs/latest -o quickstart.html
    """
    from nnctl.report.page import write_report

    display.say(f"report: {write_report(path, output, force, final=True)}")


def _reported(no_report: bool, run_dir, stop, func, *args, tracker=None, **kwargs):
    """func(*args, **kwargs); a run that diverged still gets its page (and its tracker run) before the
    error is shown (and after a signal, `stop`, what it stopped); a run that failed otherwise closes its tracker run as failed."""
    try:
        return func(*args, **kwargs)
    except DivergedError as exc:
        report = None
        try:
            if not no_report:
                report = _write_report(run_dir, final=tracker is None)
            _finish_tracking(tracker, run_dir)
        except KeyboardInterrupt:  # a second signal
            pass
        if stop():  # a signal after the last iteration: the run diverged, and the command was asked to stop
            display.say_error("Error", exc)
            run = Path(run_dir).resolve() if Path(run_dir).is_symlink() else run_dir  # runs/latest: the run it names
            raise Interrupted(_stopped_after(stop, run, Status.DIVERGED, no_report, report), exit_code=stop.exit_code) from None
        raise
    except BaseException:
        if tracker is not None:
            tracker.abandon()
        raise


def _tracker(log: Optional[str], log_onnx: bool, name: Optional[str]):
    """The listener that logs a training to `--log`'s tracker (None without --log), checked before any work."""
    from nnctl.experiment.tracking import MlflowListener, check_tracker

    check_tracker(log)
    if log is None:
        if log_onnx:
            raise NnctlError("--log-onnx logs the model to an experiment tracker; add --log mlflow")
        return None
    return MlflowListener(name or "run", warn=lambda text: display.say(f"Warning: {text}", err=True), onnx=log_onnx)


def _finish_tracking(tracker, run_dir) -> None:
    """The tracker's run completed from the run folder, and where it is said."""
    if tracker is not None:
        # runs/latest (what a diverged or failed run is known by here) names the tracker run after the link
        run_id = tracker.finish(Path(run_dir).resolve() if Path(run_dir).is_symlink() else run_dir)
        if run_id is not None:
            display.say(f"mlflow: run {run_id}")


def _write_report(run_dir, final: bool = False):
    """report.html after train or sweep (its path; None if it could not be written); the run is kept whatever happens here.
    `final`: the command's last output (no tracker to tell): once it is in place a signal changes nothing."""
    from nnctl.report.page import write_report

    try:
        page = write_report(run_dir, final=final)
    except Exception as exc:  # the run is complete; a page that cannot be written must not undo that
        display.say(f"Note: {REPORT} not written ({exc.__class__.__name__}: {exc}); try: nnctl report {shell_quote(run_dir)}", err=True)
        return None
    display.say(f"report: {page}")
    return page


_STARTING = [None]  # main()'s StopRequest, for the process


def main():
    """The console script. A SIGINT or SIGTERM while nnctl starts (held by __main__ while the modules
    load, counted from here) stops the command before it begins, saying so; during the command either
    stops it as Ctrl-C does, with a message and exit 130 or 143 (handles_errors; `train` and `sweep`
    hold their own handlers while they work). After the command's last line a signal is only
    counted: the exit status is the command's, and nothing is printed."""

    own_process()  # from a command's result on, its signals are held for good (nnctl.util.signals.finish)
    stop = StopRequest(raise_at_once=True)
    stop.ignore()  # Typer would turn a KeyboardInterrupt while it parses into a silent exit 130
    _STARTING[0] = stop.__enter__()  # never restored: the process ends here
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        try:
            app(prog_name="nnctl")
        finally:
            finish()  # blocked to the end: the interpreter's teardown (default handlers again) is never cut
    except KeyboardInterrupt as exc:  # one that came between the command's end and finish(), outside its handler
        finish()
        if isinstance(exc.__context__, SystemExit):  # the command had ended: its exit status stands
            raise exc.__context__ from None
        signum = last_signal() or signal.SIGINT
        display.say(f"Interrupted: {signal.Signals(signum).name}", err=True)
        raise SystemExit(128 + signum) from None


def _is_hdf5(path) -> bool:
    """A regular file that starts with HDF5's signature (whatever its name ends with)."""
    try:
        if not os.path.isfile(path):
            return False
        with open(path, "rb") as fh:
            return fh.read(8) == HDF5_SIGNATURE
    except OSError:
        return False
