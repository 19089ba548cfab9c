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
from nnctl.images import MAX_PIXELS

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
        from nnctl.backend import devices_seen

        print(f"nnctl {__version__}")
        for line in devices_seen():  # what train.device can use here
            print(f"  {line}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version and the devices seen (cpu, each CUDA GPU), and exit."),
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
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html (the run's page) into the run folder."),
    device: Optional[str] = typer.Option(None, "--device", help="cpu or gpu: where the math runs (train.device); with --resume, moves the run."),
):
    """Train a network from a spec and write a run directory under runs/.

    Ctrl-C (or SIGTERM) finishes the current iteration, keeps everything and prints the command
    that resumes the run; a second Ctrl-C stops at once.

    Example: nnctl train configs/quickstart.yaml --set train.iterations=2000
    """
    from nnctl.config import load_config_text
    from nnctl.experiment import resume_run, train_run
    from nnctl.runs import spec_name
    from nnctl.stopping import StopRequest

    if resume is not None:
        if config is not None or overrides:
            raise NnctlError("--resume continues a run with its own spec; give no CONFIG or --set with it")
        with StopRequest() as stop:
            label = f"{spec_name(resume) or 'run'} (resumed)"
            summary = _reported(no_report, resume, resume_run, resume, reporter=display.make_reporter(quiet, label), should_stop=stop,
                                device=device)
    elif config is None:
        raise NnctlError("give a CONFIG to train (e.g. configs/quickstart.yaml), or --resume RUN")
    else:
        if device is not None:
            overrides = [*overrides, f"train.device={device}"]  # checked like the file's own key
        spec, text = load_config_text(config, overrides)  # read once: a pipe gives its text only once
        from nnctl.config import spec_warnings

        for warning in spec_warnings(spec):
            display.say(f"Warning: {warning}", err=True)
        with StopRequest() as stop:
            summary = _reported(
                no_report, Path(runs_dir or spec.runs_dir) / "latest", train_run,
                spec,
                config_text=text,
                runs_root=runs_dir,
                reporter=display.make_reporter(quiet, spec.name or "run"),
                command=_command_line(),
                should_stop=stop,
            )
    try:
        display.out_console().print(display.summary_table(summary))
        if summary.status == "completed" and summary.message:
            display.say(f"Note: {summary.message}")
        for warning in summary.warnings or ():
            display.say(f"Warning: {warning}", err=True)
        if not no_report:
            _write_report(summary.run_dir)
        display.say(f"run: {summary.run_dir}")
    except KeyboardInterrupt:  # a second Ctrl-C after training: every file of the run is written already
        raise Interrupted(f"{stop.name} twice: the run is kept in {summary.run_dir} (status: {summary.status}); "
                          + (f"resume with: nnctl train --resume {summary.run_dir}" if summary.status == "interrupted" else "its report was not written: nnctl report " + summary.run_dir),
                          exit_code=stop.exit_code) from None
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
    shapes: bool = typer.Option(False, "--shapes", help="Instead: each layer's n[l], g[l] and the shapes of W, b, Z, A for the data's m."),
):
    """Print the resolved spec: defaults filled in, data paths absolute, layers from the data.

    Example: nnctl config show configs/cat-deep.yaml --set train.learning_rate=0.01
    """
    from nnctl.config import dump_spec, load_config
    from nnctl.data import peek_classes, peek_n_x

    spec = load_config(config, overrides)
    n_x = peek_n_x(spec.data.train)
    if spec.model.task == "classification" and n_x is not None:
        spec = spec.for_classes(peek_classes(spec.data.train))  # over two classes: softmax, k units
    if shapes:
        from nnctl.shapes import spec_shapes

        display.shapes_table(spec_shapes(spec, n_x, config), str(config))
        return
    if n_x is not None or spec.model.layers is not None:
        spec = spec.resolved(spec.layer_dims(n_x or 0, peek_classes(spec.data.train) if n_x is not None else 2))
    sys.stdout.write(dump_spec(spec))
    if n_x is not None:  # what data.normalize does to these inputs
        from nnctl.experiment import load_inputs

        try:
            norm = load_inputs(spec).normalization
        except NnctlError:
            return
        sys.stdout.write(f"# data.normalize: {spec.data.normalize} -> {norm.method} ({norm.reason})\n")


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
    from nnctl.config import load_config
    from nnctl.gradcheck import check_spec, reading

    spec = load_config(config, overrides)
    result = check_spec(spec, examples, random_data, max_per_layer, where=str(config))
    display.gradcheck_table(result, reading, str(config))
    if not result.difference <= threshold:
        raise NnctlError(
            f"the overall relative difference {result.difference:.3g} is above --threshold {threshold:g}: "
            "backprop's gradients disagree with the cost's slope"
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
    from nnctl.data import generate, prepare_output, write_dataset

    prepare_output(output, force)
    given = {"m": m, "seed": seed, "k": k}
    x, y, classes = generate(name, **{key: v for key, v in given.items() if v is not None})
    write_dataset(output, x, y, classes, force=force)
    display.say(f"wrote {output}: {x.shape[0]} examples, {x.shape[1]} features, classes {', '.join(classes)}")


@data_app.command("import")
@handles_errors
def data_import(
    folder: Path = typer.Argument(..., help="A folder with one sub-folder of pictures per class."),
    output: Path = typer.Option(..., "--output", "-o", help="The .h5 file to write (course layout)."),
    size: int = typer.Option(64, "--size", min=1, max=4096, help="Pictures become size × size RGB."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.0, max=0.99, help="Share of each class kept for test."),
    seed: int = typer.Option(1, "--seed", min=0, help="Seed of the split."),
    classes: Optional[str] = typer.Option(None, "--classes", help="Class folders in label order, label 0 first: negative,positive or a,b,c,..."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    force: bool = typer.Option(False, "--force", help="Replace the output file if it exists."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", min=1, help=f"Skip pictures with more pixels (default {MAX_PIXELS:,}; a decompression-bomb guard)."),
):
    """Build a training file from your own photos: upright, RGB, resized, split by class.

    A MATLAB 5 file of points (X/y, and Xval/yval for test, as the course's football data) is
    written as HDF5 in the course's layout instead.

    Example: nnctl data import photos_by_class/ --size 64 -o datasets/pets.h5 --test-fraction 0.2 --seed 1
    """
    from nnctl.importer import import_folder

    if folder.is_file():
        from nnctl.data import is_mat
        from nnctl.importer import import_mat

        if is_mat(folder):
            counts = import_mat(folder, output, force)
            display.say(f"wrote {output}: " + ", ".join(f"{k}: {v} examples" for k, v in counts.items()))
            return

    order = [c.strip() for c in classes.split(",") if c.strip()] if classes else None
    bar, on_item = display.import_progress(quiet)
    with bar:
        report = import_folder(folder, output, size, test_fraction, seed, order, on_item=on_item, force=force, max_pixels=max_pixels)
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
    from nnctl.importer import dataset_info, preview_target, write_preview

    target = preview_target(preview_out or Path(f"{file.stem}-preview.png")) if preview or preview_out else None
    display.data_info(dataset_info(file), file)
    if target is not None:
        target = write_preview(file, target)
        display.say(f"preview: {target}")


# ---------------------------------------------------------------- using a run


@app.command()
@handles_errors
def predict(
    paths: List[Path] = typer.Argument(..., help="Image files or folders (walked for images); for a model of features, CSV or HDF5 files of rows."),
    run: Path = typer.Option(Path("runs/latest"), "--run", help="The trained run directory."),
    as_json: bool = typer.Option(False, "--json", help="JSON lines on stdout, for scripts."),
    as_csv: bool = typer.Option(False, "--csv", help="CSV on stdout, for spreadsheets."),
    max_pixels: Optional[int] = typer.Option(None, "--max-pixels", min=1, help=f"Refuse pictures with more pixels (default {MAX_PIXELS:,}; a decompression-bomb guard)."),
):
    """Classify your own pictures with a trained run; exit 1 if any file could not be read.

    A model trained on features (not pictures) takes rows instead: a CSV file (with or without a
    header line naming the features) or an HDF5 file in the plain layout (x; y not needed).

    Example: nnctl predict my_cat.jpg photos/ --run runs/latest
    """
    from nnctl.images import find_images
    from nnctl.inference import class_names, is_image_model, predict_files, predict_rows, task_of
    from nnctl.runs import find_run, load_run

    if as_json and as_csv:
        raise NnctlError("--json and --csv: give one of them (JSON lines or CSV; both have the same fields)")
    trained = load_run(find_run(run))
    if trained.note:
        display.say(f"Note: {trained.note}", err=True)
    fmt = "json" if as_json else "csv" if as_csv else "table"
    if not is_image_model(trained):  # rows of features: CSV or a data file
        total, failed = display.prediction_stream(predict_rows(trained, paths), class_names(trained), trained.path, fmt, task_of(trained))
        if failed:
            raise NnctlError(f"{failed} of {total} rows have no finite output")
        return
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
    data: Optional[Path] = typer.Option(None, "--data", help="An HDF5 dataset (default: the run's test file)."),
):
    """Accuracy, precision, recall, F1, confusion matrix and a gallery of the mistakes.

    Example: nnctl evaluate runs/latest --data datasets/pets.h5
    """
    from nnctl.inference import evaluate as evaluate_run
    from nnctl.inference import save_evaluation
    from nnctl.runs import find_run, load_run

    trained = load_run(find_run(run))
    if trained.note:
        display.say(f"Note: {trained.note}", err=True)
    result, dataset = evaluate_run(trained, str(data) if data else None)
    try:
        saved = save_evaluation(trained, result, dataset, source_given=data is not None)
    except NnctlError:
        display.evaluation(result, trained.path.name)  # the scores, then the one line saying they were not saved
        raise
    display.evaluation(saved, trained.path.name)


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
    executor: str = typer.Option("local", "--executor", help="local (worker processes) or dask (a cluster at --address; without it, a local one of --jobs processes)."),
    address: Optional[str] = typer.Option(None, "--address", help="The Dask scheduler, e.g. tcp://scheduler:8786."),
    resume: Optional[Path] = typer.Option(None, "--resume", help="A sweep directory: run only its unfinished trials."),
    runs_dir: Optional[Path] = typer.Option(None, "--runs-dir", help="Root for the sweep directory (default: the spec's runs_dir)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress display."),
    no_report: bool = typer.Option(False, "--no-report", help="Do not write report.html (the sweep's page and each trial's)."),
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
    if address and executor != "dask":
        raise NnctlError(f"--address {address} is for --executor dask; add --executor dask, or leave --address out")
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
    title = f"{plan.name}: {len(plan.trials)} trials, best first"
    # the first Ctrl-C (or SIGTERM) asks running trials to stop and keep their checkpoints; a second stops at once
    with StopRequest() as stop, display.SweepDisplay(plan, quiet) as shown:
        try:
            sweep_dir, rows, seconds = run_sweep(
                plan, sweep_dir, root, jobs, executor, address, shown.event, shown.result, _command_line(), should_stop=stop
            )
        except Interrupted as exc:
            shown.close()
            if getattr(exc, "rows", None):
                display.out_console().print(display.sweep_table(exc.rows, plan.dimensions, title))
            raise Interrupted(f"{stop.name}: {exc}", exit_code=stop.exit_code) from None
    display.out_console().print(display.sweep_table(rows, plan.dimensions, title))
    if not no_report:
        _write_report(sweep_dir)
    where = "dask" if executor == "dask" and address else f"a local Dask cluster of {min(jobs, len(plan.trials))} processes" if executor == "dask" else f"{jobs} jobs"
    display.say(f"sweep: {sweep_dir}  ({seconds:.1f} s, {where})")
    failed = [r for r in rows if r["status"] not in ("completed", "diverged")]
    if failed:
        names = ", ".join(r["trial"] for r in failed[:3]) + (", ..." if len(failed) > 3 else "")
        raise NnctlError(
            f"{len(failed)} of {len(rows)} trials failed ({names}); see {sweep_dir}/summary.csv, then nnctl sweep --resume {sweep_dir}"
        )


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

    skipped = []
    rows = list_runs(runs_dir, skipped)
    if as_json:
        for r in rows:
            print(json.dumps(r))
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
    from nnctl.runs import compare_runs

    diff = compare_runs(run_a, run_b, runs_dir)
    display.comparison(diff, *diff["labels"])


@runs_app.command("show")
@handles_errors
def runs_show(run: Path = typer.Argument(Path("runs/latest"), help="A run directory.")):
    """A run's facts in the terminal: status, network shapes, metrics, costs, evaluation, how to rerun it.

    Example: nnctl runs show runs/latest
    """
    from nnctl.report import collect_run
    from nnctl.runs import find_run

    display.run_facts(collect_run(find_run(run)))


@app.command()
@handles_errors
def report(
    path: Path = typer.Argument(Path("runs/latest"), help="A run or sweep directory."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="The HTML file to write (default: report.html in the folder)."),
):
    """One self-contained HTML page of a run or a sweep (and a page for each of a sweep's trials).

    Example: nnctl report runs/latest -o quickstart.html
    """
    from nnctl.report import write_report

    display.say(f"report: {write_report(path, output)}")


def _reported(no_report: bool, run_dir, func, *args, **kwargs):
    """func(*args, **kwargs); a run that diverged still gets its page before the error is shown."""
    from nnctl.errors import DivergedError

    try:
        return func(*args, **kwargs)
    except DivergedError:
        if not no_report:
            _write_report(run_dir)
        raise


def _write_report(run_dir) -> None:
    """report.html after train or sweep; the run is kept whatever happens here."""
    from nnctl.report import write_report

    try:
        display.say(f"report: {write_report(run_dir)}")
    except Exception as exc:  # the run is complete; a page that cannot be written must not undo that
        display.say(f"Note: report.html not written ({exc.__class__.__name__}: {exc}); try: nnctl report {run_dir}", err=True)


def main():
    app(prog_name="nnctl")
