"""The output side: predict, evaluate, runs and their files, checked against the run and the terminal."""

from __future__ import annotations

import json
import os
import shutil
import re
import subprocess

import h5py
import numpy as np
import pytest
from PIL import Image
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from conftest import REPO, TINY_SPEC, run_nnctl, write_course_h5
from nnctl.cli.commands import app

runner = CliRunner()


def invoke(*args, **kw):
    return runner.invoke(app, [str(a) for a in args], **kw)


def nnctl(*args, cwd=None, env=None, umask=None):
    """In this process, answered as a subprocess is (conftest.run_nnctl): returncode, stdout, stderr."""
    return run_nnctl(*args, cwd=cwd, env=env, umask=umask)


def train_tiny(tmp_path, *sets, name="runs"):
    result = invoke("train", tmp_path / "tiny.yaml", "-q", "--runs-dir", tmp_path / name, *[a for s in sets for a in ("--set", s)])
    assert result.exit_code == 0, result.output
    latest = tmp_path / name / "latest"
    return tmp_path / name / os.readlink(latest)


# ---------------------------------------------------------------- §2: the data must be the run's


def test_evaluate_refuses_swapped_class_order(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    test = tmp_path / "reimported.h5"  # not the run's own test file (that one changed is test_evaluate_refuses_a_changed_data_file)
    shutil.copyfile(tmp_path / "test.h5", test)
    with h5py.File(test, "r+") as f:  # a re-import without --classes: alphabetical, the labels flipped
        f["test_set_y"][...] = 1 - f["test_set_y"][()]
        del f["list_classes"]
        f["list_classes"] = np.array([b"bright", b"dark"])
    result = invoke("evaluate", run, "--data", test)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        f"Error: {test}: classes in the order [bright, dark] (label 0 first), but {run} was trained on [dark, bright]: "
        "every label would mean the other class; re-import the pictures with --classes dark,bright"
    )
    assert not (run / "evaluation.json").exists()


def test_evaluate_refuses_other_classes(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    other = write_course_h5(tmp_path / "other.h5", "test", m=6)
    with h5py.File(other, "r+") as f:
        del f["list_classes"]
        f["list_classes"] = np.array([b"cat", b"dog"])
    result = invoke("evaluate", run, "--data", other)
    assert result.stderr.strip() == f"Error: {other}: classes [cat, dog], but {run} was trained on [dark, bright]; evaluate with data of the run's classes"


def test_evaluate_refuses_a_changed_data_file(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    test = tmp_path / "test.h5"
    write_course_h5(test, "test", m=6, seed=7)  # the same classes, a new split
    for args in ((run,), (run, "--data", test)):  # by default or named: it is the run's own file
        result = invoke("evaluate", *args)
        assert result.exit_code == 1
        assert result.stderr.strip() == (
            f"Error: {test}: the file changed since {run} was trained on it (its SHA-256 differs from the one in "
            f"{run / 'reproduce.json'}); a new import or split may have moved training examples into the test split "
            "or relabelled them, so its scores would mislead; train the run again on the new file"
        )
    copy = tmp_path / "copy.h5"
    copy.write_bytes(test.read_bytes())  # another file is scored as given
    assert invoke("evaluate", run, "--data", copy).exit_code == 0


def _regression_pictures(tmp_path, lr=0.05, iterations=40):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (20, 4, 4, 3), dtype=np.uint8)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = x, x.reshape(20, -1).mean(axis=1) / 255.0
    (tmp_path / "r.yaml").write_text(
        f"data: {{train: r.h5, test: r.h5}}\nmodel: {{hidden: [], output_activation: linear}}\ntrain: {{learning_rate: {lr}, iterations: {iterations}}}\n"
    )
    return tmp_path / "r.yaml"


def test_evaluate_diverged_regression_says_so_without_warnings(tmp_path):
    x = np.linspace(-100, 100, 40).reshape(40, 1)
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = x, x.ravel()
    (tmp_path / "c.yaml").write_text(
        "data: {train: r.h5, test: r.h5, normalize: none}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 100}\n"
    )
    trained = nnctl("train", "c.yaml", "-q", cwd=tmp_path)
    assert trained.returncode == 3 and "Warning" not in trained.stderr
    result = nnctl("evaluate", "runs/latest", cwd=tmp_path)
    assert "Warning" not in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 0
    assert result.stderr.startswith(
        "Note: diverged run (training diverged at iteration 67: the gradient is no longer finite "
        "with learning_rate=10; try a smaller learning_rate): these are its last finite parameters"
    )
    evaluation = json.loads((tmp_path / "runs" / "latest" / "evaluation.json").read_text())
    assert np.isfinite(evaluation["rmse"]) and evaluation["rmse"] > 1e300  # no overflow to inf
    listing = nnctl("runs", cwd=tmp_path)
    assert listing.returncode == 0 and "Warning" not in listing.stderr and "diverged" in listing.stdout


def test_predict_regression_prints_the_value(tmp_path):
    config = _regression_pictures(tmp_path)
    assert invoke("train", config, "-q", "--runs-dir", tmp_path / "runs").exit_code == 0
    Image.new("RGB", (8, 8), (128, 128, 128)).save(tmp_path / "grey.png")
    result = invoke("predict", tmp_path / "grey.png", "--run", tmp_path / "runs" / "latest", "--json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert list(row) == ["file", "value", "notes", "error"] and isinstance(row["value"], float)
    table = invoke("predict", tmp_path / "grey.png", "--run", tmp_path / "runs" / "latest")
    assert "value" in table.stdout and "P(" not in table.stdout and "class" not in table.stdout
    csv_out = invoke("predict", tmp_path / "grey.png", "--run", tmp_path / "runs" / "latest", "--csv")
    assert csv_out.stdout.splitlines()[0] == "file,value,notes,error"


def test_predict_json_and_csv_together_is_refused(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    result = invoke("predict", tmp_path / "a.png", "--run", run, "--json", "--csv")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr.strip() == "Error: --json and --csv: give one of them (JSON lines or CSV; both have the same fields)"


# ---------------------------------------------------------------- the same number alone and in a batch


@pytest.mark.parametrize("threads", [1, 2])
def test_predict_alone_equals_in_a_batch(tmp_path, threads):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run
    from nnctl.experiment.inference import evaluate, predict_files
    from nnctl.rundir.runs import load_run

    write_course_h5(tmp_path / "train.h5", m=30, shape=(32, 32, 3))
    write_course_h5(tmp_path / "test.h5", "test", m=300, shape=(32, 32, 3), seed=1)
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC.replace("hidden: [3]", "hidden: [7, 5]"))
    summary = train_run(load_config(tmp_path / "tiny.yaml"), runs_root=tmp_path / "runs")
    run = load_run(summary.run_dir)
    with h5py.File(tmp_path / "test.h5") as f:
        pixels = f["test_set_x"][()]
    files = []
    for i in range(300):
        files.append(tmp_path / f"p{i:03d}.png")
        Image.fromarray(pixels[i]).save(files[-1])
    with threadpool_limits(threads, user_api="blas"):
        batch = [p.probability for p in predict_files(run, files)]
        forty = [p.probability for p in predict_files(run, files[:40])]
        alone = [predict_files(run, [files[i]])[0].probability for i in (0, 1, 39, 255, 256, 299)]
        result, _ = evaluate(run, str(tmp_path / "test.h5"))
    assert forty == batch[:40]
    assert alone == [batch[i] for i in (0, 1, 39, 255, 256, 299)]  # bit for bit, wherever it sits in a batch
    assert result["probabilities"] == batch


# ---------------------------------------------------------------- §3: permissions


@pytest.mark.parametrize("umask,file_mode,dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_files_get_the_umask_permissions(tmp_path, tiny_data, umask, file_mode, dir_mode):
    (tmp_path / "tiny.yaml").write_text(TINY_SPEC)
    assert nnctl("train", "tiny.yaml", "-q", cwd=tmp_path, umask=umask).returncode == 0
    assert nnctl("evaluate", "runs/latest", cwd=tmp_path, umask=umask).returncode == 0
    assert nnctl("data", "make", "planar", "-o", "planar.h5", cwd=tmp_path, umask=umask).returncode == 0
    sweep = nnctl("sweep", "tiny.yaml", "--grid", "train.iterations=3,4", "--jobs", "1", "-q", cwd=tmp_path, umask=umask)
    assert sweep.returncode == 0, sweep.stderr
    assert any(p.name == "summary.json" for p in (tmp_path / "runs").rglob("*"))
    written = [p for p in (tmp_path / "runs").rglob("*") if not p.is_symlink()] + [tmp_path / "planar.h5"]
    assert any(p.suffix == ".png" for p in written) and any(p.name == "params.h5" for p in written)
    for p in written:
        want = dir_mode if p.is_dir() else file_mode
        assert p.stat().st_mode & 0o777 == want, f"{p}: {oct(p.stat().st_mode & 0o777)}"


# ---------------------------------------------------------------- §4: tables at 80 and 120 columns


@pytest.fixture
def three_runs(tmp_path, tiny_config):
    train_tiny(tmp_path)
    train_tiny(tmp_path, "train.learning_rate=0.05")
    (tmp_path / "r.yaml").write_text("x")
    config = _regression_pictures(tmp_path)
    # the targets as given (RMSE 0.1639): a standardised target's closer fit prints "rmse 0.02678", one character wider,
    # and at 80 columns the run column then gives up that character (a display limit of its own, not this fixture's subject)
    assert invoke("train", config, "-q", "--runs-dir", tmp_path / "runs", "--set", "data.normalize_target=none").exit_code == 0
    return tmp_path / "runs"


def _rows_whole(stdout, names):
    for name in names:
        assert any(name in line for line in stdout.splitlines()), f"{name} is cut:\n{stdout}"


@pytest.mark.parametrize("columns", [80, 120])
def test_runs_table_fits_the_width(three_runs, columns):
    result = nnctl("runs", "--runs-dir", three_runs, env={"COLUMNS": str(columns)})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    names = sorted(p.name for p in three_runs.iterdir() if not p.is_symlink())
    _rows_whole(result.stdout, names)
    rows = [line for line in lines if any(n in line for n in names) and not line.startswith(" ")]  # not the notes under it
    assert len(rows) == 3  # one line per run: no cell wraps
    assert all(re.search(r"\d+\.\d\d%|rmse", r) and re.search(r"completed", r) for r in rows)
    if columns == 120:  # the width is used: when the run started, seconds, the full layer list
        assert all(h in lines[1] for h in ("started", "seconds", "layers", "hidden"))


def test_runs_listing_skips_a_foreign_metrics_file(three_runs):
    bad = three_runs / "20990101-000000-odd"
    bad.mkdir()
    (bad / "metrics.json").write_text("[1, 2]")
    (three_runs / "20990101-000001-odder").mkdir()
    (three_runs / "20990101-000001-odder" / "metrics.json").write_text('{"status": 3, "layers": "x", "test_accuracy": "high"}')
    (three_runs / "20990101-000002-typed").mkdir()
    (three_runs / "20990101-000002-typed" / "metrics.json").write_text('{"status": "completed", "layers": "x", "test_accuracy": "high"}')
    result = invoke("runs", "--runs-dir", three_runs)
    assert result.exit_code == 0 and "Traceback" not in result.output
    assert "3 runs in" in result.stdout and "20990101-000002-typed" not in result.stdout  # results of the wrong type: not nnctl's
    assert result.stderr.splitlines() == [
        f"skipped {bad}: metrics.json holds a list, not a metrics object",
        f"skipped {three_runs / '20990101-000001-odder'}: metrics.json: status is a number, not one nnctl writes "
        "(running, completed, interrupted, diverged, failed); not an nnctl run's metrics",
        f"skipped {three_runs / '20990101-000002-typed'}: metrics.json: layers is a string, not a list of layer sizes; not an nnctl run's metrics",
    ]


def test_runs_compare_takes_the_listed_names(three_runs, monkeypatch):
    listed = [r["run"] for r in map(json.loads, invoke("runs", "--runs-dir", three_runs, "--json").stdout.splitlines())]
    names = [n for n in listed if "tiny" in n]
    result = invoke("runs", "compare", names[0], names[1], "--runs-dir", three_runs)
    assert result.exit_code == 0, result.output
    assert f"{names[0]}" in result.stdout and f"{names[1]}" in result.stdout
    assert "train.learning_rate" in result.stdout
    assert re.search(r"train_accuracy\s+\d+\.\d\d%\s+\d+\.\d\d%", result.stdout)
    assert not re.search(r"\d\.\d{8,}", result.stdout)  # formatted, not 98.56459330143541
    narrow = nnctl("runs", "compare", names[0], names[1], "--runs-dir", three_runs, env={"COLUMNS": "80"})
    assert any(names[0] in line and names[1] in line for line in narrow.stdout.splitlines())  # the header does not wrap
    assert max(map(len, narrow.stdout.splitlines())) <= 80
    monkeypatch.chdir(three_runs.parent)  # names are looked up in ./runs by default
    other = three_runs.parent / "other"
    train_tiny(three_runs.parent, name="other")
    both = invoke("runs", "compare", "runs/latest", "other/latest")
    assert both.exit_code == 0, both.output
    header = next(line for line in both.stdout.splitlines() if line.lstrip().startswith("key"))
    assert "runs/latest" not in header and header.count("latest") == 0  # the runs they point at, told apart
    assert os.readlink(other / "latest") in header
    missing = invoke("runs", "compare", "nope", names[0], "--runs-dir", three_runs)
    assert missing.stderr.strip() == f"Error: nope: no such run, as a path or in {three_runs}; `nnctl runs` lists the runs (or pass --runs-dir)"


def test_a_sweep_given_as_a_run_is_named_a_sweep(tmp_path, tiny_config):
    result = invoke(
        "sweep", tiny_config, "--grid", "train.learning_rate=0.1,0.05", "-q", "--jobs", "1", "--runs-dir", tmp_path / "runs", "--set", "train.iterations=5"
    )
    assert result.exit_code == 0, result.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    summary = json.loads((sweep / "summary.json").read_text())
    best = summary["trials"][0]["trial"]
    for args in (("evaluate", sweep), ("predict", tmp_path / "a.png", "--run", sweep)):
        out = invoke(*args)
        assert out.exit_code == 1
        assert out.stderr.strip() == (
            f"Error: {sweep}: is a sweep of 2 completed trials, not a run; pass one of its trials, "
            f"e.g. the best: {sweep / best} (all of them: nnctl runs --runs-dir {sweep.parent})"
        )


# ---------------------------------------------------------------- issue 10: what is read back is input


def test_damaged_params_metadata_is_one_line(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    with h5py.File(run / "params.h5", "r+") as f:
        f.attrs["layer_dims"] = json.dumps([48, 5, 1])  # W1 is (3, 48)
    result = invoke("evaluate", run)
    assert result.stderr.strip() == (
        f"Error: {run / 'params.h5'}: W1: expected a float array of shape (5, 48) (got float64 (3, 48)); "
        "the file is damaged or not written by nnctl, so train the run again"
    )
    with h5py.File(run / "params.h5", "r+") as f:
        f.attrs["layer_dims"] = json.dumps([48, 3, 1])
        f.attrs["activations"] = json.dumps(["relu", "softplus"])
    result = invoke("predict", tmp_path / "a.png", "--run", run)
    assert result.stderr.strip() == (
        f"Error: {run / 'params.h5'}: activations: expected 2 of sigmoid, tanh, relu, leaky_relu, linear, softmax "
        "(got ['relu', 'softplus']); the file is damaged or not written by nnctl, so train the run again"
    )
    (run / "metrics.json").write_text('"done"')
    result = invoke("evaluate", run)
    assert result.stderr.strip() == (
        f"Error: {run / 'metrics.json'}: holds a string, not the JSON object nnctl writes; the file is damaged: "
        "delete it to use the run's params.h5 without it (its status then unknown)"
    )


def test_damaged_reproduce_json_is_one_line(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    reproduce = json.loads((run / "reproduce.json").read_text())
    reproduce["data"]["test"]["sha256"] = 12
    (run / "reproduce.json").write_text(json.dumps(reproduce))
    result = invoke("evaluate", run)
    assert result.stderr.strip() == f"Error: {run / 'reproduce.json'}: data.test.sha256: expected 64 hexadecimal digits; the run's files are damaged"


def test_evaluate_on_a_read_only_run_directory(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root; the catalogue's patched case covers the message")
    try:
        subprocess.run(["cp", "-a", str(run), str(mnt)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        copy = mnt / run.name
        result = nnctl("evaluate", copy, "--data", tmp_path / "test.h5")
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "accuracy" in result.stdout  # the scores are shown
        assert result.stderr.strip() == (
            f"Error: {copy}: cannot write the evaluation there (Read-only file system); the scores above were not saved; "
            "make the run folder writable (or copy the run) and evaluate again"
        )
    finally:
        subprocess.run(["umount", str(mnt)])


# ---------------------------------------------------------------- progress and plots


def test_resume_progress_fits_80_columns_and_names_the_spec():
    import io

    from rich.console import Console

    from nnctl.cli.display import RichReporter

    console = Console(file=io.StringIO(), width=80, force_terminal=True)
    reporter = RichReporter(console, "20261129-122148-quickstart (resumed)")
    reporter.on_start(200_000, 150_000)
    reporter.on_cost(160_000, 0.1234567)
    reporter.on_tick(160_000)
    reporter.progress.stop()
    shown = Console(file=io.StringIO(), width=80, record=True)
    shown.print(reporter.progress.get_renderable())
    lines = shown.export_text().rstrip("\n").splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 80, lines
    assert "160000/200000" in lines[0] and "cost 0.123457" in lines[0] and "it/s" in lines[0]


def test_resume_label_is_the_spec_name(tmp_path, tiny_config):
    from nnctl.rundir.runs import spec_name

    run = train_tiny(tmp_path)
    assert spec_name(run) == "tiny"


def _overlaps(labels):
    boxes = [t.get_window_extent() for t in labels if t.get_text()]
    return any(a.x1 > b.x0 for a, b in zip(boxes, boxes[1:]))


def test_cost_plot_ticks_and_scale():
    from nnctl.util.plots import cost_figure

    long_run = [(i, 0.7 * np.exp(-i / 50_000) + 0.1) for i in range(0, 200_001, 100)]
    fig = cost_figure({"long": long_run})
    fig.canvas.draw()
    labels = fig.axes[0].get_xticklabels()
    assert not _overlaps(labels) and "200k" in [t.get_text() for t in labels]
    assert fig.axes[0].get_yscale() == "linear"
    spike = [(0, 5000.0), (10, 40.0), (20, 3.0), (30, 1.0), (40, 0.8)]  # a regression's first spike
    assert cost_figure({"r": spike}).axes[0].get_yscale() == "log"


def test_decision_boundary_has_a_legend_in_the_preview_colours():
    from matplotlib.colors import to_rgba

    from nnctl.util.plots import CLASS_COLOURS, decision_boundary_figure

    X = np.array([[0.0, 1.0, 2.0, 3.0], [0.0, 1.0, 0.0, 1.0]])
    Y = np.array([[0, 0, 1, 1]])
    fig = decision_boundary_figure(lambda P: (P[:1] > 1.5).astype(float), X, Y, "t", ["red", "blue"])
    legend = fig.axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["red", "blue", "predicted red", "predicted blue"]
    colours = [tuple(c.get_facecolor()[0]) for c in fig.axes[0].collections if hasattr(c, "get_offsets") and len(c.get_offsets()) == 2]
    assert colours == [to_rgba(CLASS_COLOURS[0]), to_rgba(CLASS_COLOURS[1])]


def test_gallery_caption_names_the_probability_and_counts_the_mistakes():
    from nnctl.util.plots import misclassified_figure

    m = 60
    X = np.zeros((12, m))
    y = np.zeros(m)
    p = np.full(m, 0.6)
    fig = misclassified_figure(X, y, p, list(range(45)), {"input_shape": [2, 2, 3], "scale": 255.0}, ["non-cat", "cat"])
    assert fig._suptitle.get_text() == "misclassified: 45 of 60 examples (the first 40 shown)"
    assert fig.axes[0].get_title() == "true: non-cat\npred: cat\nP(cat) = 0.60"


def test_predict_shows_a_progress_bar_on_a_terminal(tmp_path, tiny_config, monkeypatch):
    import io

    from rich.console import Console

    from nnctl.cli import display

    run = train_tiny(tmp_path)
    for i in range(5):
        Image.new("RGB", (6, 6), (40 * i, 0, 0)).save(tmp_path / f"{i}.png")
    screen = io.StringIO()
    monkeypatch.setattr(display, "err_console", lambda: Console(file=screen, force_terminal=True, width=80))
    result = invoke("predict", *[tmp_path / f"{i}.png" for i in range(5)], "--run", run, "--json")
    assert result.exit_code == 0, result.output
    assert "predicting" in screen.getvalue() and "5/5" in screen.getvalue()
    assert len(result.stdout.splitlines()) == 5  # the bar is on stderr only


def test_stored_pid_and_attributes_are_input(tmp_path, tiny_config):
    import platform

    from nnctl.rundir.runs import list_runs

    run = train_tiny(tmp_path)
    for pid in ([1], 0, -1, "x", 2**40, True):
        (run / "metrics.json").write_text(json.dumps({"status": "running", "pid": pid, "host": platform.node()}))
        # no process holds the run's lock, so it is not running, whatever pid it records (never os.kill(0 or -1))
        assert [r["status"] for r in list_runs(tmp_path / "runs")] == ["interrupted"]
        assert invoke("runs", "--runs-dir", tmp_path / "runs").exit_code == 0
    with h5py.File(run / "params.h5", "r+") as f:
        f.attrs["dtype"] = 5  # not JSON text
    result = invoke("evaluate", run)
    assert result.stderr.strip() == (
        f"Error: {run / 'params.h5'}: attribute 'dtype': '5' is not the JSON text nnctl writes there; the file was edited or damaged; "
        "restore it from a copy, or train the run again"
    )


def test_resolved_spec_without_a_data_mapping(tmp_path, tiny_config):
    run = train_tiny(tmp_path)
    (run / "config.resolved.yaml").write_text("data: just a string\n")
    result = invoke("evaluate", run)
    assert result.stderr.strip() == (f"Error: {run / 'config.resolved.yaml'}: data: expected a mapping with a test file path; pass the data with --data")


def test_builtin_data_is_not_held_to_its_bytes(tmp_path):
    # a generator's last bits may differ on another CPU: its name and options identify it
    result = invoke("train", REPO / "configs" / "quickstart.yaml", "--runs-dir", tmp_path, "-q", "--set", "train.iterations=10")
    assert result.exit_code == 0
    run = tmp_path / os.readlink(tmp_path / "latest")
    reproduce = json.loads((run / "reproduce.json").read_text())
    reproduce["data"]["test"]["sha256"] = "0" * 64
    (run / "reproduce.json").write_text(json.dumps(reproduce))
    assert invoke("evaluate", run).exit_code == 0


def test_read_evaluation_checks_what_it_reads(tmp_path, tiny_config):
    from nnctl.errors import RunError
    from nnctl.rundir.runs import read_evaluation

    run = train_tiny(tmp_path)
    assert invoke("evaluate", run).exit_code == 0
    path = run / "evaluation.json"
    good = read_evaluation(path)
    assert good["m"] == 6 and len(good["probabilities"]) == 6
    for key, value, message in (
        ("probabilities", [0.5] * 5, "probabilities: expected 6 probabilities (numbers between 0 and 1)"),
        ("confusion_matrix", [[1, 2], [3, "x"]], "confusion_matrix: expected 2×2 counts adding up to m = 6"),
        ("misclassified", [9], "misclassified: expected example indices from 0 to 5"),
        ("m", -1, "m: expected a positive whole number"),
    ):
        path.write_text(json.dumps({**good, key: value}))
        with pytest.raises(RunError) as err:
            read_evaluation(path)
        assert str(err.value) == f"{path}: {message}; run `nnctl evaluate` again"
    path.write_text("[1, 2]")
    with pytest.raises(RunError, match="holds a list, not the JSON object nnctl writes; run `nnctl evaluate` again"):
        read_evaluation(path)
    # the report shows only what this reader takes (rundir.tolerant builds on it)
    from nnctl.rundir.tolerant import valid_evaluation

    assert valid_evaluation(good) and not valid_evaluation({**good, "confusion_matrix": [[1, 2], [3, 1]]})
    assert valid_evaluation({**good, "listed": 2, "probabilities": good["probabilities"][:2], "misclassified": []})


def test_huge_costs_print_in_six_significant_digits(tmp_path):
    """learning_rate=1e9 on the quickstart: costs of 1e154 and beyond were printed with all their
    155 digits in the progress lines and the summary; from 1e6 up they are %.6g, below the course's
    6 decimals."""
    from nnctl.core.stopping import format_cost

    assert format_cost(0.6930480201239823) == "0.693048"
    assert format_cost(999999.0) == "999999.000000"
    assert format_cost(1.4917403854550949e154) == "1.49174e+154"
    assert format_cost(-2.5e7) == "-2.5e+07" and format_cost(float("inf")) == "inf"
    out = nnctl(
        "train",
        REPO / "configs" / "quickstart.yaml",
        "--set",
        "train.learning_rate=1e9",
        "--set",
        "train.iterations=3000",
        "--runs-dir",
        tmp_path / "runs",
        cwd=tmp_path,
    )
    said = out.stdout + out.stderr
    assert "cost 0.693048" in said and re.search(r"cost \d\.\d+e\+\d\d", said), said
    assert not re.search(r"\d{7,}\.", said), said  # no cost of 1e6 or more in fixed point
    assert "Traceback" not in said and "Warning" not in said
