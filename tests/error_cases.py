"""The catalogue of bad input: what nnctl says and its exit code, one row per case.

`tests/test_errors.py` provokes every case for real and checks the message; it also checks that
docs/errors.md is this table, rendered. After changing a case, regenerate the page with
`python tests/error_cases.py > docs/errors.md`.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import zlib
from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from conftest import as_written

GOOD = "data: {train: train.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n"


@dataclass
class Case:
    what: str  # the bad input, in words
    files: dict  # name -> str (text), bytes, or a callable(path) that writes it
    args: list  # the command line after `nnctl`; {tmp} is the working folder
    stderr: str  # the exact message ({tmp} replaced)
    code: int = 1
    patches: dict = field(default_factory=dict)  # "module.attr" -> value, for limits of the machine
    stdout_has: str = ""  # a per-file error shown in the table or JSON


def course_h5(path, m=8, shape=(4, 4, 3)):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["train_set_x"] = rng.integers(0, 255, (m, *shape), dtype=np.uint8)
        f["train_set_y"] = np.arange(m) % 2
        f["list_classes"] = np.array([b"a", b"b"])


def plain_h5(**arrays):
    def write(path):
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v

    return write


def truncated_h5(path):
    course_h5(path, m=64)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def png(path):
    Image.new("RGB", (20, 20), (200, 10, 10)).save(path)


def truncated_jpg(path):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(path.with_suffix(".tmp.jpg"))
    path.write_bytes(path.with_suffix(".tmp.jpg").read_bytes()[:300])


def trained_run(path):
    """A finished run directory, trained in place (for predict and resume cases)."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    course_h5(path.parent / "train.h5")
    (path.parent / "good.yaml").write_text(GOOD)
    summary = train_run(load_config(path.parent / "good.yaml"), runs_root=path.parent / "runs")
    Path(summary.run_dir).rename(path)  # a stable name for the table


def shrunk_identity(path) -> tuple:
    """file_identity as if the file had been 1 byte longer when it was opened: read back, it has been truncated."""
    from nnctl.data.dataset import file_identity

    dev, ino, size, mtime = file_identity(path)
    return dev, ino, size + 1, mtime


def planar_run(path):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (path.parent / "flower.yaml").write_text(
        "data: {train: 'builtin:planar'}\nmodel: {hidden: [2], hidden_activation: tanh}\ntrain: {learning_rate: 1, iterations: 5}\n"
    )
    Path(train_run(load_config(path.parent / "flower.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)


def edited_interrupted_run(path):
    """A run stopped after 2 iterations whose config.resolved.yaml was edited afterwards."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    course_h5(path.parent / "train.h5")
    (path.parent / "good.yaml").write_text(GOOD)
    calls = []
    summary = train_run(load_config(path.parent / "good.yaml"), runs_root=path.parent / "runs", should_stop=lambda: calls.append(1) or len(calls) == 2)
    Path(summary.run_dir).rename(path)
    resolved = path / "config.resolved.yaml"
    resolved.write_text(resolved.read_text().replace("learning_rate: 0.1", "learning_rate: 0.2"))


def checkpoint_out_of_its_epoch(path):
    """A stopped mini-batch run whose checkpoint says it is at batch 99 of a 3-batch epoch."""
    import json

    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    course_h5(path.parent / "train.h5")
    (path.parent / "mb.yaml").write_text(GOOD.replace("iterations: 5", "epochs: 5, batch_size: 3"))
    calls = []
    summary = train_run(load_config(path.parent / "mb.yaml"), runs_root=path.parent / "runs", should_stop=lambda: calls.append(1) or len(calls) == 4)
    Path(summary.run_dir).rename(path)
    with h5py.File(path / "checkpoint.h5", "a") as f:
        f.attrs["batch"] = json.dumps(99)


def checkpoint_mid_epoch(key, value):
    """A mini-batch run stopped in its second epoch (batch 1 of 3) whose checkpoint attribute `key` was edited."""

    def make(path):
        checkpoint_out_of_its_epoch(path)
        with h5py.File(path / "checkpoint.h5", "a") as f:
            f.attrs["batch"] = json.dumps(1)
            f.attrs[key] = value

    return make


def no_cupy(fused=True):
    raise ImportError("No module named 'cupy'")


def cfg(text):
    return {"train.h5": course_h5, "c.yaml": text}


def sweep_dir(change=lambda plan: None, after=lambda path: None):
    """A sweep directory planned from good.yaml over train.seed=1,2, its sweep.json then changed."""

    def write(path):
        import json
        from dataclasses import asdict

        from nnctl.spec.config import spec_from_text
        from nnctl.sweep.plan import PLAN_FORMAT, plan_sweep

        course_h5(path.parent / "train.h5")
        config = path.parent / "good.yaml"
        config.write_text(GOOD)
        plan = plan_sweep(spec_from_text(GOOD, config), GOOD, config, grid={"train.seed": [1, 2]})
        record = {"format": PLAN_FORMAT, **asdict(plan), "command": None}
        change(record)
        path.mkdir()
        (path / "sweep.json").write_text(json.dumps(record))
        after(path)

    return write


def _set_trial(key, value):
    return lambda plan: plan["trials"][0].update({key: value})


Usage = namedtuple("Usage", "total used free")

# ---- helpers for the output side's cases


def swapped_classes_h5(path):
    """The same pictures re-imported without --classes: alphabetical order flips the labels."""
    course_h5(path)
    with h5py.File(path, "r+") as f:
        f["train_set_y"][...] = 1 - f["train_set_y"][()]
        del f["list_classes"]
        f["list_classes"] = np.array([b"b", b"a"])


def reimported_h5(path):
    """The run's own training file, written again with another split."""
    course_h5(path, m=10)


def params_attr(key, value):
    def write(path):
        with h5py.File(path, "r+") as f:
            f.attrs[key] = value

    return write


def diverged_regression_run(path):
    from nnctl.spec.config import load_config
    from nnctl.errors import DivergedError
    from nnctl.experiment.run import train_run

    plain_h5(x=np.linspace(-100, 100, 40).reshape(40, 1), y=np.linspace(-100, 100, 40))(path.parent / "r.h5")
    (path.parent / "r.yaml").write_text(
        "data: {train: r.h5, test: r.h5, normalize: none}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 100}\n"
    )
    try:
        train_run(load_config(path.parent / "r.yaml"), runs_root=path.parent / "div")
    except DivergedError:
        pass
    next(p for p in (path.parent / "div").iterdir() if not p.is_symlink()).rename(path)


REGRESSION = "data: {train: r.h5}\nmodel: {hidden: [3], output_activation: linear}\ntrain: {learning_rate: 0.01, epochs: 3, batch_size: 8, optimizer: adam}\n"


def regression_h5(path):
    x = np.linspace(-1, 1, 40).reshape(40, 1)
    plain_h5(x=x, y=4000 + 500 * x.ravel())(path)


def regression_run_then(edit=lambda run: None, stop_after=None):
    """A regression of targets about 4000, trained on them standardised (data.normalize_target: auto),
    then edit(run); `stop_after` batches: interrupted there, with its checkpoint."""

    def write(path):
        from nnctl.spec.config import load_config
        from nnctl.experiment.run import train_run

        regression_h5(path.parent / "r.h5")
        (path.parent / "reg.yaml").write_text(REGRESSION.replace("epochs: 3", "epochs: 3, checkpoint_every: 1"))
        calls = []
        stop = (lambda: calls.append(1) or len(calls) == stop_after) if stop_after else None
        Path(train_run(load_config(path.parent / "reg.yaml"), runs_root=path.parent / "runs", should_stop=stop).run_dir).rename(path)
        edit(path)

    return write


def params_array(key, value):
    """An edit of params.h5: array `key` set to `value` (None: removed)."""

    def edit(run):
        with h5py.File(run / "params.h5", "r+") as f:
            if value is None:
                del f[key]
            else:
                f[key][...] = value

    return edit


def read_only(*args, **kwargs):
    raise PermissionError(13, "Permission denied")


# --- run integrity: helpers ---
LONG = "data: {train: train.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 40, record_every: 10}\n"


def _interrupted(folder: Path, name: str, spec: str = LONG) -> Path:
    """A run stopped by request after 25 iterations (its checkpoint and files kept), moved to folder/name."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    if not (folder / "train.h5").exists():
        course_h5(folder / "train.h5")
    (folder / f"{name}.yaml").write_text(spec)
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] >= 25

    summary = train_run(load_config(folder / f"{name}.yaml"), runs_root=folder / f"{name}-runs", should_stop=stop)
    target = folder / name
    Path(summary.run_dir).rename(target)
    return target


def interrupted_run(edit=lambda run: None):
    """An interrupted run in place, then `edit(run)`: a file of it changed by hand or replaced."""

    def write(path):
        edit(_interrupted(path.parent, path.name))

    return write


def edit_text(name, old, new):
    def edit(run):
        f = run / name
        assert old in f.read_text(), (old, f.read_text())
        f.write_text(f.read_text().replace(old, new))

    return edit


def foreign_checkpoint(spec=LONG):
    def edit(run):
        other = _interrupted(run.parent, "other", spec)
        (run / "checkpoint.h5").write_bytes((other / "checkpoint.h5").read_bytes())

    return edit


def checkpoint_attr(key, value=None):
    def edit(run):
        with h5py.File(run / "checkpoint.h5", "a") as f:
            if value is None:
                del f.attrs[key]
            else:
                f.attrs[key] = value

    return edit


def checkpoint_array(key, change):
    def edit(run):
        with h5py.File(run / "checkpoint.h5", "a") as f:
            data = f[key][()]
            del f[key]
            f[key] = change(data)

    return edit


def truncate(name):
    def edit(run):
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) // 3])

    return edit


def bn_run_then(edit):
    """A finished run of GOOD with model.batch_norm: true (params.h5 holds gamma1, beta1, running_*1), then `edit(params.h5)`."""

    def write(path):
        from nnctl.spec.config import load_config
        from nnctl.experiment.run import train_run

        course_h5(path.parent / "train.h5")
        (path.parent / "bn.yaml").write_text(GOOD.replace("hidden: [3]", "hidden: [3], batch_norm: true"))
        summary = train_run(load_config(path.parent / "bn.yaml"), runs_root=path.parent / "runs")
        Path(summary.run_dir).rename(path)
        with h5py.File(path / "params.h5", "r+") as f:
            edit(f)

    return write


def _negative_variance(f):
    f["running_var1"][0, 0] = -1.0


def _bias_beside_beta(f):
    f["b1"] = np.zeros((3, 1))


def _no_gamma(f):
    del f["gamma1"]


def trained_then(*edits):
    """A finished run (trained_run), then each edit(run) applied: the attacks on files read back."""

    def write(path):
        trained_run(path)
        for edit in edits:
            edit(path)

    return write


def fifo_in_run(name):
    def edit(run):
        (run / name).unlink()
        os.mkfifo(run / name)

    return edit


def stopped_minibatch_run_with(key, text):
    """A mini-batch run stopped after 4 batches (5 epochs of 3), its checkpoint.h5 attribute `key` hand-edited to `text`."""

    def write(path):
        checkpoint_out_of_its_epoch(path)
        with h5py.File(path / "checkpoint.h5", "a") as f:
            f.attrs["batch"] = "1"
            f.attrs[key] = text

    return write


def params_attr_edit(key, value):
    """An edit of a trained run: params.h5's attribute `key` set to `value` (as nnctl writes it, JSON)."""
    import json

    def edit(run):
        with h5py.File(run / "params.h5", "r+") as f:
            f.attrs[key] = json.dumps(value)

    return edit


def edit_json(path, **changes):
    """A JSON file of a run with `changes` made to its object (None removes the key)."""
    data = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            data.pop(k, None)
        else:
            data[k] = v
    path.write_text(json.dumps(data, indent=2))


def sparse_file(name, size):
    """A run file of `size` bytes that takes no disk space (a hole): reading it whole would need `size` of memory."""

    def edit(run):
        (run / name).unlink(missing_ok=True)
        with open(run / name, "wb") as fh:
            fh.truncate(size)

    return edit


def params_retyped(key, dtype):
    def edit(run):
        with h5py.File(run / "params.h5", "r+") as f:
            value = f[key][()]
            del f[key]
            f[key] = value.astype(dtype)

    return edit


def params_without_digests(run):
    with h5py.File(run / "params.h5", "r+") as f:
        del f.attrs["integrity"]


def params_forged(key, shape):
    """params.h5's dataset `key` replaced by a chunked one of `shape` that stores nothing (reads as zeros)."""

    def edit(run):
        with h5py.File(run / "params.h5", "r+") as f:
            if key in f:
                del f[key]
            f.create_dataset(key, shape=shape, dtype="float64", chunks=(1, min(shape[1], 1024)))

    return edit


def write_file(name, text):
    def edit(run):
        (run / name).write_text(text)

    return edit


def mat(**arrays):
    def write(path):
        import scipy.io

        scipy.io.savemat(path, arrays)

    return write


TABLE = "species,island,bill_mm\nAdelie,Torgersen,39.1\nAdelie,Dream,39.5\nGentoo,Biscoe,46.1\nGentoo,Biscoe,50.0\n"


def table_run(path):
    """A finished run trained on a small table (for predict and evaluate cases)."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (path.parent / "p.csv").write_text(TABLE)
    (path.parent / "t.yaml").write_text("data: {train: p.csv, target: species}\ntrain: {epochs: 2}\n")
    Path(train_run(load_config(path.parent / "t.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)


def table_run_then(edit):
    def write(path):
        table_run(path)
        edit(path)

    return write


FLAT_TABLE = "a,b,species\n" + "".join(f"{i % 3},{i % 2},{'xy'[i % 2]}\n" for i in range(12))  # features of order one: used as they are


def flat_table_run(path):
    """A finished run on a table whose features are not standardised (their raw values reach the network)."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (path.parent / "f.csv").write_text(FLAT_TABLE)
    (path.parent / "f.yaml").write_text("data: {train: f.csv, target: species}\ntrain: {epochs: 2}\n")
    Path(train_run(load_config(path.parent / "f.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)
    shutil.rmtree(path.parent / "runs")


def metrics_edit(**changes):
    def edit(run):
        f = run / "metrics.json"
        f.write_text(json.dumps({**json.loads(f.read_text()), **changes}))

    return edit


def sparse_x(path):
    import scipy.io
    import scipy.sparse

    scipy.io.savemat(path, {"X": scipy.sparse.csr_matrix(np.eye(4)), "y": np.ones((4, 1))})


def damaged_gzip_h5(path):
    x = np.random.default_rng(0).normal(size=(2000, 4))
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(250, 4), compression="gzip")
        f["y"] = (x[:, 0] > 0).astype(np.int64)
    with h5py.File(path, "r") as f:
        chunk = f["x"].id.get_chunk_info(2)
    data = bytearray(path.read_bytes())
    for i in range(chunk.byte_offset + 10, chunk.byte_offset + chunk.size - 4):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))


CASES = [
    # ---- the spec
    Case("config file missing", {}, ["train", "{tmp}/nope.yaml"], "Error: {tmp}/nope.yaml: no such config file"),
    Case("config path is a directory", {}, ["train", "{tmp}"], "Error: {tmp}: is a directory; give a YAML config file such as configs/quickstart.yaml"),
    Case(
        "YAML that is not a mapping",
        cfg("- 1\n- 2\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: the spec must be a YAML mapping with data, model and train sections (got a list)",
    ),
    Case(
        "empty YAML",
        cfg(""),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: the spec must be a YAML mapping with data, model and train sections (got an empty file)",
    ),
    Case(
        "YAML syntax error",
        cfg("data: [\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: line 2: not valid YAML: expected the node content, but found '<stream end>'",
    ),
    Case(
        "duplicate key",
        cfg(GOOD + "train: {learning_rate: 1, iterations: 1}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: line 4: not valid YAML: duplicate key 'train'; keep one",
    ),
    Case(
        "YAML alias bomb",
        cfg("a: &a [x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefghijklm", "bcdefghijklmn"))),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: too many YAML aliases: the document expands to over 100,000 values; write the values out",
    ),
    Case(
        "huge YAML document",
        cfg("a: " + "x" * (1 << 20) + "\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: the file is over 1024 KiB; a spec is a short YAML mapping",
    ),
    Case(
        "misspelt key",
        cfg(GOOD.replace("learning_rate", "learing_rate")),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: train.learing_rate: unknown key; did you mean 'learning_rate'? (valid keys: learning_rate, iterations, seed, "
        "record_every, dtype, checkpoint_every, blas_threads, device, fused, first_layer, epochs, batch_size, shuffle, optimizer, beta, beta1, beta2, epsilon, "
        "decay, decay_rate, time_interval, one_cycle_warmup, one_cycle_div, one_cycle_final_div, l2, keep_prob, dropout_masks, early_stopping)",
    ),
    Case(
        "wrong type",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.iterations=many"],
        "Error: {tmp}/c.yaml (with --set train.iterations=many): train.iterations: must be a valid integer, unable to parse string as an integer (got 'many')",
    ),
    Case(
        "learning rate ≤ 0",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.learning_rate=0"],
        "Error: {tmp}/c.yaml (with --set train.learning_rate=0): train.learning_rate: must be greater than 0 (got 0)",
    ),
    Case(
        "iterations < 1",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.iterations=0"],
        "Error: {tmp}/c.yaml (with --set train.iterations=0): train.iterations: must be greater than or equal to 1 (got 0)",
    ),
    Case(
        "unknown activation",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden_activation=swish"],
        "Error: {tmp}/c.yaml (with --set model.hidden_activation=swish): model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear' or 'softmax' (got 'swish')",
    ),
    Case(
        "layer of size 0",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden=[3, 0]"],
        "Error: {tmp}/c.yaml (with --set model.hidden=[3, 0]): model.hidden.1: must be greater than 0 (got 0)",
    ),
    Case(
        "zero init with hidden layers",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.init=zeros"],
        "Error: {tmp}/c.yaml (with --set model.init=zeros): model.init: 'zeros' makes every hidden unit compute the same function, so they never become different (symmetry is not broken); use xavier, he or normal, or no hidden layers (or model.allow_symmetry: true to watch it happen, as the course's Initialization notebook does)",
    ),
    Case(
        "malformed --set",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "learning_rate"],
        "Error: --set learning_rate: expected key.path=value, e.g. --set train.learning_rate=0.01",
    ),
    # ---- data files
    Case(
        "data file missing",
        {"c.yaml": GOOD},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: no such data file; check the path (relative paths are read from the config file's folder)",
    ),
    Case(
        "data path is a directory",
        {
            "c.yaml": GOOD.replace("train.h5", "."),
        },
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}: is a directory, not a data file; give an HDF5 data file (.h5)",
    ),
    Case(
        "data path of a table that is a directory",
        {"d.csv": lambda p: p.mkdir()},
        ["train", "--data", "{tmp}/d.csv", "--target", "y"],
        "Error: {tmp}/d.csv: --data: is a directory, not a data file; give a table file (.csv, .tsv or .parquet)",
    ),
    Case(
        "data path of a table that is a FIFO",
        {"f.csv": lambda p: os.mkfifo(p)},
        ["train", "--data", "{tmp}/f.csv", "--target", "y"],
        "Error: {tmp}/f.csv: --data: is a named pipe (FIFO), not a regular file; give a table file (.csv, .tsv or .parquet)",
    ),
    Case(
        "data file is not HDF5",
        {"c.yaml": GOOD, "train.h5": b"GIF89a not hdf5"},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: not an HDF5 file; give a .h5 file in the course or plain layout",
    ),
    Case(
        "truncated HDF5 file",
        {"c.yaml": GOOD, "train.h5": truncated_h5},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: damaged HDF5 file (truncated or partly written); write or download it again",
    ),
    Case(
        "unknown layout",
        {"c.yaml": GOOD, "train.h5": plain_h5(images=np.zeros((3, 2)), labels=np.zeros(3))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: no known layout: expected 'train_set_x'/'train_set_y' or 'test_set_x'/'test_set_y' (course) or 'x'/'y' (plain); the file holds: images (3, 2) float64, labels (3,) float64",
    ),
    Case(
        "NaN or inf in x",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.array([[0.0, np.inf], [1, 2]]), y=np.array([0, 1]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: x holds NaN or infinite values; clean the data first",
    ),
    Case(
        "x of the wrong dtype",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.array([b"a", b"b"]), y=np.array([0, 1]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: x has dtype |S1; expected numbers (uint8 pixels or floats)",
    ),
    Case(
        "labels that leave classes out",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 7]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: labels [0, 1, 7] leave out classes [2, 3, 4, 5, 6]: number the classes 0 to 2 with none left out, "
        "or store a class list ('classes') that names all 8; if y holds values to predict rather than classes, train a regression: "
        "model.output_activation: linear (loss mse)",
    ),
    Case(
        "float targets of a regression read as classes",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((4, 2)), y=np.array([25.0, 31.0, 151.0, 75.0]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: labels [25.0, 31.0, 75.0, 151.0] leave out classes [0, 1, 2, 3, 4]: number the classes 0 to 3 with none left out, "
        "or store a class list ('classes') that names all 152; if y holds values to predict rather than classes, train a regression: "
        "model.output_activation: linear (loss mse)",
    ),
    Case(
        "a sigmoid output of two units",
        {"c.yaml": GOOD.replace("hidden: [3]", "layers: [2, 3, 2], output_activation: sigmoid")},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: model.layers: a sigmoid output has 1 unit (got 2); end model.layers with 1, or leave output_activation out "
        "(or use softmax) for one unit per class",
    ),
    Case(
        "a validation fraction of a streamed file",
        {
            "c.yaml": GOOD.replace("train.h5}", "train.h5, validation: 0.25, stream: always}").replace("iterations: 5", "epochs: 2, batch_size: 2"),
            "train.h5": plain_h5(x=np.zeros((8, 2)), y=np.arange(8) % 2),
        },
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: data.validation as a fraction splits examples held in memory, and this file is streamed (data.stream); "
        "give data.validation a file, or use data.stream: never",
    ),
    Case(
        "x and y counts differ",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((4, 2)), y=np.array([0, 1]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: x holds 4 examples but y has shape (2,); y needs one label per example, shape (4,)",
    ),
    Case(
        "zero examples",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((0, 2)), y=np.zeros(0))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: holds zero examples (x has shape (0, 2)); a dataset needs at least one",
    ),
    Case(
        "first layer does not match the data",
        cfg(GOOD.replace("hidden: [3]", "layers: [10, 3, 1]")),
        ["train", "{tmp}/c.yaml"],
        "Error: model.layers starts with 10 but {tmp}/train.h5 holds examples of 48 features (input shape [4, 4, 3]); set model.layers[0] to 48, or give model.hidden and let the data decide",
    ),
    # ---- before the work
    Case(
        "runs directory not writable",
        {**cfg(GOOD), "blocker": "a file"},
        ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/blocker/runs"],
        "Error: {tmp}/blocker/runs: cannot create the runs directory (Not a directory); choose another with --runs-dir",
    ),
    Case(
        "network too big for memory",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden=[100000000]"],
        "Error: the network's arrays need about 254.8 GiB (parameters and gradients: 74.5 GiB, initial parameters and their draw: 108.8 GiB, "
        "activations and dZ: 11.9 GiB, dual path (G, P, C, W1_0): 47.7 GiB, end-of-run forward pass: 11.9 GiB) but only 1.0 GiB of memory is available; use train.dtype: float32, fewer examples or smaller layers",
        patches={"nnctl.experiment.run.available_memory": lambda: 1 << 30},
    ),
    Case(
        "10,000 layers: training fits, the decision boundary does not",  # issue 20 E: killed in the 300x300 grid's forward pass (24 GB)
        {"c.yaml": "data: {train: 'builtin:moons'}\nmodel: {hidden: [" + ", ".join(["3"] * 10_000) + "]}\ntrain: {learning_rate: 0.1, iterations: 1}\n"},
        ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/runs"],
        "Error: the decision-boundary picture (decision_boundary.png) needs about 40.4 GiB (a forward pass over 90,000 points keeps Z[l] and A[l] "
        "of all 10,001 layers: 40.2 GiB, beside the run's arrays: 140.1 MiB) but only 16.0 GiB of memory is available; "
        "use fewer or narrower layers, or train.dtype: float32",
        patches={"nnctl.experiment.run.available_memory": lambda: 16 << 30},
    ),
    Case(
        "disk too full for the run's files",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/runs"],
        "Error: {tmp}/runs: the run's files need about 2.0 MiB but only 1.0 KiB is free on that disk; free some space or choose another place with --runs-dir",
        patches={"shutil.disk_usage": lambda p: Usage(1 << 40, 1 << 40, 1024)},
    ),
    # ---- training
    Case(
        "diverging run",
        {
            "c.yaml": "data: {train: r.h5, normalize: none}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 100}\n",
            "r.h5": plain_h5(x=np.linspace(-100, 100, 40).reshape(40, 1), y=np.linspace(-100, 100, 40)),
        },
        ["train", "{tmp}/c.yaml", "-q", "--runs-dir", "{tmp}/runs"],
        "Error: training diverged at iteration 67: the gradient is no longer finite with learning_rate=10; try a smaller learning_rate. Run kept at {tmp}/runs/{run} (status: diverged)",
        code=3,
    ),
    Case("resume a finished run", {"run": trained_run}, ["train", "--resume", "{tmp}/run"], "Error: {tmp}/run: the run already completed; nothing to resume"),
    # ---- runs and pictures
    Case(
        "run directory missing",
        {},
        ["predict", "{tmp}/a.png", "--run", "{tmp}/nope"],
        "Error: {tmp}/nope: no such run directory; give a run folder that `nnctl runs` lists, or train one with `nnctl train CONFIG`",
    ),
    Case(
        "model that does not take pictures",
        {"run": planar_run, "a.png": png},
        ["predict", "{tmp}/a.png", "--run", "{tmp}/run"],
        "Error: {tmp}/run: this model takes inputs of shape [2], not pictures; give rows of its features in a CSV or HDF5 file, or use `nnctl evaluate` with an HDF5 file",
    ),
    Case(
        "image file missing",
        {"run": trained_run},
        ["predict", "{tmp}/nope.png", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/nope.png: no such file"',
    ),
    Case(
        "empty image file",
        {"run": trained_run, "e.jpg": b""},
        ["predict", "{tmp}/e.jpg", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/e.jpg: empty file, not an image"',
    ),
    Case(
        "file that is not an image",
        {"run": trained_run, "n.jpg": b"%PDF-1.4 not a picture"},
        ["predict", "{tmp}/n.jpg", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/n.jpg: not an image Pillow can read"',
    ),
    Case(
        "truncated image",
        {"run": trained_run, "t.jpg": truncated_jpg},
        ["predict", "{tmp}/t.jpg", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/t.jpg: damaged or truncated image; take the original file again"',
    ),
    Case(
        "decompression bomb",
        {"run": trained_run, "a.png": png},
        ["predict", "{tmp}/a.png", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/a.png: 20×20 = 400 pixels is over the limit of 100 (a guard against decompression bombs); if you trust the file, raise it with --max-pixels 400"',
        patches={"nnctl.data.images.MAX_PIXELS": 100},
    ),
    Case(
        "image path is a directory",
        {"run": trained_run, "d/.keep": b""},
        ["predict", "{tmp}/d", "--run", "{tmp}/run"],
        "Error: no image files found in {tmp}/d",
    ),
    # --- report ---
    Case(
        "report of a missing folder", {}, ["report", "{tmp}/nope"], "Error: {tmp}/nope: no such run or sweep directory; see `nnctl runs` for the runs there are"
    ),
    Case(
        "report of a folder that is not a run",
        {"notes.txt": "x"},
        ["report", "{tmp}"],
        "Error: {tmp}: not a run or sweep directory (no metrics.json, config.resolved.yaml or sweep.json); give a folder that `nnctl runs` lists",
    ),
    Case(
        "report written where it cannot be",
        {"run": trained_run, "blocker": "x"},
        ["report", "{tmp}/run", "-o", "{tmp}/blocker/page.html"],
        "Error: {tmp}/blocker/page.html: cannot write here (Not a directory); choose another -o",
    ),
    Case(
        "runs show of a missing run",
        {},
        ["runs", "show", "{tmp}/nope"],
        "Error: {tmp}/nope: no such run or sweep directory; see `nnctl runs` for the runs there are",
    ),
    Case(
        "layer shapes without readable data",
        {"c.yaml": "data: {train: missing.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n"},
        ["config", "show", "{tmp}/c.yaml", "--shapes"],
        "Error: {tmp}/missing.h5: cannot be read, so n_x (the input size) is unknown; fix data.train in {tmp}/c.yaml or give model.layers in full",
    ),
    # --- output side ---
    Case(
        "--json and --csv together",
        {"run": trained_run, "a.png": png},
        ["predict", "{tmp}/a.png", "--run", "{tmp}/run", "--json", "--csv"],
        "Error: --json and --csv: give one of them (JSON lines or CSV; both have the same fields)",
    ),
    Case(
        "data whose class order differs from the run's",
        {"run": trained_run, "swapped.h5": swapped_classes_h5},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/swapped.h5"],
        "Error: {tmp}/swapped.h5: classes in the order [b, a] (label 0 first), but {tmp}/run was trained on [a, b]: every label "
        "would mean the other class; re-import the pictures with --classes a,b",
    ),
    Case(
        "the run's data file changed since training",
        {"run": trained_run, "train.h5": reimported_h5},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/train.h5"],
        "Error: {tmp}/train.h5: the file changed since {tmp}/run was trained on it (its SHA-256 differs from the one in "
        "{tmp}/run/reproduce.json); a new import or split may have moved training examples into the test split or relabelled "
        "them, so its scores would mislead; train the run again on the new file",
    ),
    Case(
        "diverged regression run (scored, said)",
        {"run": diverged_regression_run},
        ["evaluate", "{tmp}/run"],
        "Note: diverged run (training diverged at iteration 67: the gradient is no longer finite with learning_rate=10; try a "
        "smaller learning_rate): these are its last finite parameters and its outputs may be meaningless",
        code=0,
    ),
    Case(
        "metrics.json that is not an object",
        {"run": trained_run, "run/metrics.json": "[1, 2]"},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: holds a list, not the JSON object nnctl writes; the file is damaged: delete it to use the "
        "run's params.h5 without it (its status then unknown)",
    ),
    Case(
        "metrics.json cut short",
        {"run": trained_run, "run/metrics.json": '{"status": "compl'},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: cannot be read (Unterminated string starting at: line 1 column 12 (char 11)); the file is "
        "damaged: delete it to use the run's params.h5 without it (its status then unknown)",
    ),
    Case(
        "an unfinished run's metrics.json cut short",
        {"run": interrupted_run(write_file("metrics.json", '{"status": "inter'))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: cannot be read (Unterminated string starting at: line 1 column 12 (char 11)); the file is "
        "damaged: resume the unfinished run (nnctl train --resume {tmp}/run), which writes it anew",
    ),
    Case(
        "params.h5 whose activation was edited to another valid one",
        {"run": trained_then(params_attr_edit("activations", ["tanh", "sigmoid"]))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/train.h5"],
        "Error: {tmp}/run/params.h5: attribute activations does not match what training wrote (digest); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "params.h5 whose weights were set to 1e300 (finite)",
        {"run": trained_then(params_array("W2", 1e300))},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: W2 does not match what training wrote (digest); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "params.h5 whose input scale was edited",
        {
            "run": trained_then(
                params_attr_edit(
                    "preprocessing", {"flatten": "example-per-column", "input_shape": [4, 4, 3], "x_dtype": "uint8", "scale": 1.0, "normalize": "none"}
                )
            )
        },
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: attribute preprocessing does not match what training wrote (digest); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "params.h5 whose W1 was stored as float32",
        {"run": trained_then(params_retyped("W1", "float32"))},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.npz"],
        "Error: {tmp}/run/params.h5: W1 does not match what training wrote (digest); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "params.h5 whose weights hold NaN",
        {"run": trained_then(params_array("W1", np.nan))},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: W1: holds values that are not finite (NaN or inf), which training never writes: the parameters are damaged; "
        "the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 replaced by a file with the right keys but no digests",
        {"run": trained_then(params_without_digests)},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: has no digests (integrity), but {tmp}/run/reproduce.json says training wrote them: it is not the file "
        "training wrote (another run's or another tool's); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "params.h5 whose W1 declares a huge shape (a chunked dataset of no data)",
        {"run": trained_then(params_forged("W1", (5_000_000, 48)))},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: W1: declares shape (5000000, 48), larger than layers [48, 3, 1] give it ((3, 48)); "
        "the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 with a dataset that declares terabytes it does not store",
        {"run": trained_then(params_forged("extra", (1 << 20, 1 << 20)))},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: extra: declares shape (1048576, 1048576) (8 TiB) but the file stores 0 bytes of it; "
        "the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 whose layers do not match its arrays",
        {"run": trained_run, "run/params.h5": params_attr("layer_dims", "[48, 5, 1]")},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: W1: expected a float array of shape (5, 48) (got float64 (3, 48)); the file is damaged "
        "or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 with an unknown activation",
        {"run": trained_run, "run/params.h5": params_attr("activations", '["relu", "swish"]')},
        ["predict", "{tmp}/a.png", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: activations: expected 2 of sigmoid, tanh, relu, leaky_relu, linear, softmax (got ['relu', 'swish']); "
        "the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "a folder in runs/ whose metrics.json is a list",
        {"runs/20990101-000000-odd/metrics.json": "[1, 2]"},
        ["runs", "--runs-dir", "{tmp}/runs"],
        "skipped {tmp}/runs/20990101-000000-odd: metrics.json holds a list, not a metrics object",
        code=0,
    ),
    Case(
        "runs compare with an unknown name",
        {"runs/.keep": ""},
        ["runs", "compare", "nope", "other", "--runs-dir", "{tmp}/runs"],
        "Error: nope: no such run, as a path or in {tmp}/runs; `nnctl runs` lists the runs (or pass --runs-dir)",
    ),
    Case(
        "evaluate in a run folder that cannot be written",
        {"run": trained_run, "data.h5": course_h5},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/data.h5"],
        "Error: {tmp}/run: cannot write the evaluation there (Permission denied); the scores above were not saved; make the "
        "run folder writable (or copy the run) and evaluate again",
        patches={"tempfile.mkstemp": read_only},
    ),
    # --- sweeps ---
    Case(
        "sweep.json trial name that leaves the sweep folder",
        {"s": sweep_dir(_set_trial("name", "./../victim"))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: trials.0.name: './../victim' is not a safe folder name (letters, digits and _ . = - only, "
        "not starting with a dot); the plan is damaged or was edited, start a new sweep",
    ),
    Case(
        "sweep.json with a relative config path",
        {"s": sweep_dir(lambda p: p.update(config_path="../base.yaml"))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: config_path: '../base.yaml' must be an absolute, normalized path; the plan is damaged or was edited, start a new sweep",
    ),
    Case(
        "sweep.json that is not an object",
        {"s/sweep.json": "[1, 2]"},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: the plan must be a JSON object (got a list); the plan is damaged, start a new sweep",
    ),
    Case(
        "sweep.json whose trial no longer validates",
        {"s": sweep_dir(_set_trial("overrides", ["train.iterations=0"]))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: trial 01-seed=1: {tmp}/good.yaml (with --set train.iterations=0): train.iterations: must be greater than or equal to 1 (got 0)",
    ),
    Case(
        "sweep.json trial whose override was edited (another trial under the old name)",
        {"s": sweep_dir(_set_trial("overrides", ["train.seed=7"]))},
        ["sweep", "--resume", "{tmp}/s"],
        'Error: {tmp}/s/sweep.json: trial 01-seed=1: overrides train.seed=7, but its values {"train.seed": 1} give train.seed=1; '
        "sweep.json was edited, and resuming would train another trial under this name; restore sweep.json or start a new sweep",
    ),
    Case(
        "sweep.json override holding a terminal escape",
        {"s": sweep_dir(_set_trial("overrides", ["train.seed=[bold]x\x1b[2J"]))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: trial 01-seed=1: --set train.seed=[bold]x\\x1b[2J: line 1, character 8: not valid YAML: "
        "special characters are not allowed ('\\x1b'); YAML text holds no control characters, remove it",
    ),
    Case(
        "sweep config edited since the sweep started",
        {"s": sweep_dir(after=lambda p: (p.parent / "good.yaml").write_text(GOOD.replace("5", "6")))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/good.yaml: the config file changed since the sweep started (its SHA-256 differs from {tmp}/s/sweep.json); "
        "resuming would mix two specs: restore it or start a new sweep",
    ),
    Case(
        "sweep data file replaced since the sweep started",
        {"s": sweep_dir(after=lambda p: course_h5(p.parent / "train.h5", m=10))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/train.h5: the data changed since the sweep started (its SHA-256 differs from {tmp}/s/sweep.json); "
        "finished trials used the old file: restore it or start a new sweep",
    ),
    Case(
        "trial folder that is a link out of the sweep",
        {"s": sweep_dir(after=lambda p: (p / "01-seed=1").symlink_to(p.parent))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/01-seed=1: a trial folder must be a real folder inside {tmp}/s, not a link; remove it and resume",
    ),
    Case(
        "negative count in --hidden-layers",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--hidden-layers=-1,1", "--width", "3"],
        "Error: --hidden-layers -1,1: a count of hidden layers is a whole number from 0 to 1000 (got -1)",
    ),
    Case(
        "sweep value given twice",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,1"],
        "Error: --grid train.seed: the value 1 is given twice; give each value once",
    ),
    Case(
        "--grid key given twice",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1", "--grid", "train.seed=2"],
        "Error: --grid train.seed is given twice; list all its values in one --grid, e.g. --grid train.seed=1,2",
    ),
    Case(
        "--set and --grid of one key",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--set", "train.seed=5"],
        "Error: --set train.seed=5 and --grid train.seed set the same key; the grid replaces it in every trial, so drop the --set",
    ),
    Case(
        "--search distribution on a log scale from 0",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--trials", "2", "--search", "train.learning_rate=loguniform(0,1)"],
        "Error: --search train.learning_rate: loguniform is on a log scale, so low must be above 0 (got 0)",
    ),
    Case(
        "--search that is not a distribution",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--trials", "2", "--search", "train.learning_rate=0.1"],
        "Error: --search train.learning_rate: expected NAME(args), one of loguniform, one_minus_loguniform, uniform, int, choice, "
        "e.g. loguniform(1e-4, 1) (got '0.1')",
    ),
    Case(
        "--search without --trials",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--search", "train.learning_rate=loguniform(1e-4,1)"],
        "Error: --search needs the number of random draws: give --trials N (or search.trials in the spec)",
    ),
    Case(
        "--trials without --search",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--trials", "3"],
        'Error: --trials draws values at random: give what to draw, e.g. --search "train.learning_rate=loguniform(1e-4,1)" (or search.space in the spec)',
    ),
    Case(
        "--search and --grid of one key",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--trials", "2", "--search", "train.seed=int(1,9)", "--grid", "train.seed=1,2"],
        "Error: --search train.seed and --grid train.seed both vary it; keep one of them",
    ),
    Case(
        "spec search.space with an unknown distribution",
        cfg(GOOD + "search:\n  trials: 2\n  space:\n    train.learning_rate: normal(0, 1)\n"),
        ["sweep", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: search.space.train.learning_rate: 'normal' is not a distribution; use one of loguniform, one_minus_loguniform, uniform, int, choice",
    ),
    Case(
        "--min-budget too large for --halving",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--halving", "3", "--min-budget", "2"],
        "Error: --min-budget 2: with --halving 3 the next budget (6) passes train.iterations (5); give a smaller --min-budget or more train.iterations",
    ),
    Case(
        "--halving without --min-budget",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--halving", "3"],
        "Error: --halving 3: give the first budget in epochs (iterations for a full-batch spec), e.g. --min-budget 10",
    ),
    Case(
        "--halving-mode without --halving",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--halving-mode", "async"],
        "Error: --halving-mode async is a way of successive halving: add --halving ETA (e.g. 3) and --min-budget, or leave it out",
    ),
    Case(
        "--halving-mode neither sync nor async",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--halving", "2", "--min-budget", "1", "--halving-mode", "asha"],
        "Error: --halving-mode asha: must be sync (rung by rung, reproducible) or async (ASHA: promote as trials finish)",
    ),
    Case(
        "spec search.halving_mode without search.halving",
        cfg(GOOD + "search:\n  trials: 2\n  halving_mode: async\n  space:\n    train.learning_rate: loguniform(1e-3, 1)\n"),
        ["sweep", "{tmp}/c.yaml"],
        "Error: search.halving_mode: async is a way of successive halving: add search.halving (e.g. 3) and search.min_budget, or leave it out",
    ),
    Case(
        "lr-find rates the wrong way round",
        cfg(GOOD),
        ["lr-find", "{tmp}/c.yaml", "--low", "1", "--high", "0.001"],
        "Error: --low 1 --high 0.001: the rates need 0 < low < high",
    ),
    Case(
        "sweep.json search region that is not a distribution",
        {
            "s": sweep_dir(
                lambda p: p.update(
                    search={
                        "trials": 2,
                        "seed": 1,
                        "rounds": 1,
                        "regions": [{"train.seed": {"name": "loguniform", "args": [0, 1]}}],
                        "grid": [{"overrides": [], "values": {}}],
                    }
                )
            )
        },
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: search.regions.0.train.seed: loguniform is on a log scale, so low must be above 0 (got 0); "
        "the plan is damaged or was edited, start a new sweep",
    ),
    Case(
        "Dask address that is not one",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--executor", "dask", "--address", "garbage"],
        "Error: --address garbage: expected the Dask scheduler as tcp://HOST:PORT, e.g. --address tcp://10.0.0.5:8786",
    ),
    Case(
        "Dask address without the Dask executor",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--address", "tcp://10.0.0.5:8786"],
        "Error: --address tcp://10.0.0.5:8786 is for --executor dask; add --executor dask, or leave --address out",
    ),
    Case(
        "params.h5 attribute that is not JSON text",
        {"run": trained_run, "run/params.h5": params_attr("dtype", 5)},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: attribute 'dtype': '5' is not the JSON text nnctl writes there; the file was edited or damaged; "
        "restore it from a copy, or train the run again",
    ),
    Case(
        "config.resolved.yaml without a data mapping",
        {"run": trained_run, "run/config.resolved.yaml": "data: just a string\n"},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: data: expected a mapping with a test file path; pass the data with --data",
    ),
    # --- core ---
    Case(
        "full-batch iterations with mini-batches",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.batch_size=4"],
        "Error: {tmp}/c.yaml (with --set train.batch_size=4): train.iterations counts full-batch steps; with train.batch_size give train.epochs instead",
    ),
    Case(
        "neither epochs nor iterations",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.iterations=null"],
        "Error: {tmp}/c.yaml (with --set train.iterations=null): train: give train.epochs (passes over the data) or train.iterations (full-batch steps), one of them",
    ),
    Case(
        "dual path forced where it is not exact",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.optimizer=adam", "--set", "train.first_layer=dual"],
        "Error: {tmp}/c.yaml (with --set train.optimizer=adam --set train.first_layer=dual): train.first_layer: dual is not exact here "
        "(the optimizer's element-wise division by its moments is not linear in the examples); use auto or primal",
    ),
    Case(
        "GPU asked for without CuPy",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--device", "gpu"],
        "Error: train.device: gpu: CuPy is not installed (No module named 'cupy'); install CuPy for your CUDA "
        "(pip install 'nnctl[gpu]') on a machine with an NVIDIA GPU, or use device: cpu (--device cpu)",
        patches={"nnctl.core.backend.BACKENDS": {"cpu": None, "gpu": no_cupy}},
    ),
    Case(
        "unknown device",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--device", "tpu"],
        "Error: {tmp}/c.yaml (with --set train.device=tpu): train.device: must be 'cpu' or 'gpu' (got 'tpu')",
    ),
    Case(
        "batch norm on the GPU",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm=true", "--device", "gpu"],
        "Error: {tmp}/c.yaml (with --set model.batch_norm=true --set train.device=gpu): model.batch_norm: batch norm runs on the "
        "CPU only; use device: cpu, or no batch norm on the gpu",
    ),
    Case(
        "dual path on the GPU",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.first_layer=dual", "--device", "gpu"],
        "Error: {tmp}/c.yaml (with --set train.first_layer=dual --set train.device=gpu): train.first_layer: dual runs on the CPU only; "
        "use auto or primal with device: gpu",
    ),
    Case(
        "unknown optimizer",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.optimizer=sgd"],
        "Error: {tmp}/c.yaml (with --set train.optimizer=sgd): train.optimizer: must be 'gd', 'momentum', 'rmsprop' or 'adam' (got 'sgd')",
    ),
    Case(
        "checkpoint of other settings",
        {"run": edited_interrupted_run},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: is not the spec the run started with (train.learning_rate: 0.2 in the spec, 0.1 when "
        "the run started); put it back as it was, or train the edited spec as a new run: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "checkpoint out of its epoch",
        {"run": checkpoint_out_of_its_epoch},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: batch is 99, but the run's epochs have 3 batches (0 to 2); "
        "delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, "
        "same spec and data)",
    ),
    Case(
        "checkpoint with more right answers than examples",
        {"run": checkpoint_mid_epoch("correct", "1000000")},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: says 1000000 right answers so far in epoch 1, more than its 8 examples can give; "
        "delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, "
        "same spec and data)",
    ),
    Case(
        "checkpoint whose right answers are not a whole number",
        {"run": checkpoint_mid_epoch("correct", "2.5")},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: the checkpoint is damaged (correct: expected a whole number >= 0 (got 2.5)); "
        "delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, "
        "same spec and data)",
    ),
]


# --- input side ---


def fifo(path):
    """A named pipe: opening it for reading blocks until a writer comes; nnctl must refuse it first."""
    os.mkfifo(path)


def group_h5(path):
    with h5py.File(path, "w") as f:
        f.create_group("x")
        f["y"] = np.array([0, 1, 0])


def dangling_link_h5(path):
    with h5py.File(path, "w") as f:
        f["x"] = h5py.ExternalLink("missing.h5", "/x")
        f["y"] = np.array([0, 1, 0])


def huge_declared_h5(path):
    """10 MB on disk, 114 GiB declared: the chunks were never written."""
    with h5py.File(path, "w") as f:
        f.create_dataset("x", shape=(10**7, 64, 64, 3), dtype=np.uint8, chunks=(1, 64, 64, 3))
        f["y"] = np.zeros(10**7, dtype=np.uint8)


def photos(path):
    """photos/cat and photos/non-cat, two pictures each."""
    for name in ("cat", "non-cat"):
        (path / name).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (8, 8), (40 * i, 100, 200 if name == "cat" else 0)).save(path / name / f"{i}.png")


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def truncated_ihdr_png(path):
    """Pillow raises ValueError('Truncated IHDR chunk'), not OSError."""
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", b"\x00\x00\x00\x10") + _chunk(b"IEND", b""))


def bad_header_ppm(path):
    """Pillow raises ValueError(invalid literal for int()) from the header."""
    path.write_bytes(b"P6\n16 1x\n255\n" + bytes(16 * 12 * 3))


def bad_exif_jpg(path):
    """Upright by EXIF orientation 6, with a tag whose type makes Pillow raise struct.error."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), (10, 200, 30)).save(buf, "JPEG")
    jpg = buf.getvalue()
    entries = struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<HHII", 0xA005, 7, 1, 2269302482)
    exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + struct.pack("<H", 2) + entries + b"\x00\x00\x00\x00"
    path.write_bytes(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + jpg[2:])


BUILTIN = "Error: {tmp}/c.yaml (with --set data.train=builtin:planar?%s): data.train: builtin:planar?%s: %s"
DANGLING = (
    "'x' is an external link to '/x' in missing.h5, which cannot be opened (that file or the array in it is missing); "
    "put missing.h5 back beside {name}, or write the array into {name} itself"
)
FIFO_DATA = "is a named pipe (FIFO), not a regular file; give an HDF5 data file (.h5)"
FIFO_SPEC = "not a regular file; give a YAML config file (or pipe the spec in: cat spec.yaml | nnctl train /dev/stdin)"
SMALL = plain_h5(x=np.zeros((2, 2)), y=np.array([0, 1]))

CASES += [
    Case(
        "builtin option that is not a number",
        cfg(GOOD),
        ["config", "show", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=abc"],
        BUILTIN % ("m=abc", "m=abc", "m must be a whole number of at least 2 (got 'abc')"),
    ),
    Case(
        "builtin option without a value",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m"],
        BUILTIN % ("m", "m", "'m' is not key=value; write the options as builtin:planar?m=400&seed=1"),
    ),
    Case(
        "builtin seed below 0",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?seed=-1"],
        BUILTIN % ("seed=-1", "seed=-1", "seed must be a whole number from 0 to 4294967295 (got -1)"),
    ),
    Case(
        "builtin m below 2",
        cfg(GOOD),
        ["config", "show", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=-5"],
        BUILTIN % ("m=-5", "m=-5", "m must be a whole number of at least 2 (got -5)"),
    ),
    Case(
        "builtin option unknown",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?size=3"],
        BUILTIN % ("size=3", "size=3", "unknown option 'size'; planar takes m, seed, noise"),
    ),
    Case(
        "builtin m too big for memory",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=100000000"],
        "Error: builtin:planar: m=100,000,000 examples need about 6.0 GiB of memory but only 1.0 GiB is available; use a smaller m",
        patches={"nnctl.util.memory.available_memory": lambda: 1 << 30},
    ),
    Case(
        "seed beyond 2**32 - 1",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.seed=4294967296"],
        "Error: {tmp}/c.yaml (with --set train.seed=4294967296): train.seed: must be less than or equal to 4294967295 (got 4294967296)",
    ),
    Case(
        "name with a space",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "name=my run"],
        "Error: {tmp}/c.yaml (with --set name=my run): name: use only letters, digits, '_', '.' and '-' (no spaces or slashes), e.g. 'my-run' (got 'my run')",
    ),
    Case(
        "sigmoid output with loss: mse",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.loss=mse"],
        "Error: {tmp}/c.yaml (with --set model.loss=mse): model.loss: mse with a sigmoid output trains a regression squeezed into (0, 1), "
        "not a classifier; for a classifier use loss: cross_entropy (or auto), for a regression use output_activation: linear",
    ),
    Case(
        "YAML nested 600 deep",
        cfg(GOOD + "x: " + "[" * 600 + "]" * 600 + "\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: nested over 64 levels deep; a spec is a short, flat mapping",
    ),
    Case(
        "YAML of 81 aliases in a value",
        cfg(
            "a: &a [x, x, x, x, x, x, x, x, x]\n"
            + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefghi", "bcdefghij"))
            + GOOD.replace("0.1", "*j")
        ),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: too many YAML aliases: the document expands to over 100,000 values; write the values out",
    ),
    Case("spec is a named pipe (FIFO)", {"c.yaml": fifo}, ["train", "{tmp}/c.yaml"], "Error: {tmp}/c.yaml: is a named pipe (FIFO), " + FIFO_SPEC),
    Case("spec is a device", {}, ["config", "show", "/dev/zero"], "Error: /dev/zero: is a character device, " + FIFO_SPEC),
    Case("data file is a named pipe (FIFO)", {"c.yaml": GOOD, "train.h5": fifo}, ["train", "{tmp}/c.yaml"], "Error: {tmp}/train.h5: " + FIFO_DATA),
    Case("data file is a FIFO, config show", {"c.yaml": GOOD, "train.h5": fifo}, ["config", "show", "{tmp}/c.yaml"], "Error: {tmp}/train.h5: " + FIFO_DATA),
    Case("data info on a FIFO", {"d.h5": fifo}, ["data", "info", "{tmp}/d.h5"], "Error: {tmp}/d.h5: " + FIFO_DATA),
    Case("evaluate --data on a FIFO", {"run": trained_run, "d.h5": fifo}, ["evaluate", "{tmp}/run", "--data", "{tmp}/d.h5"], "Error: {tmp}/d.h5: " + FIFO_DATA),
    Case(
        "x is a group",
        {"c.yaml": GOOD, "train.h5": group_h5},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: 'x' is a group (a folder of 0 items), not an array; store the data as one array under 'x'",
    ),
    Case(
        "x is a dangling external link",
        {"c.yaml": GOOD, "train.h5": dangling_link_h5},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: " + DANGLING.format(name="train.h5"),
    ),
    Case(
        "data info with a dangling external link",
        {"d.h5": dangling_link_h5},
        ["data", "info", "{tmp}/d.h5"],
        "Error: {tmp}/d.h5: " + DANGLING.format(name="d.h5"),
    ),
    Case(
        "x with no features, shape (m, 0)",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((4, 0)), y=np.array([0, 1, 0, 1]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: x has shape (4, 0): its examples have no features; store at least one value per example, shape (4, n)",
    ),
    Case(
        "x of complex numbers",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.ones((2, 2), dtype=complex), y=np.array([0, 1]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: x has dtype complex128; expected numbers (uint8 pixels or floats)",
    ),
    Case(
        "HDF5 file that declares more than memory",
        {"c.yaml": GOOD, "train.h5": huge_declared_h5},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: 'x' declares 10000000×64×64×3 values; reading it takes about 1.0 TiB (114.4 GiB of uint8 as stored + 915.5 GiB as float64) "
        "but only 1.0 GiB of memory is available; use fewer examples or smaller pictures",
        patches={"nnctl.util.memory.available_memory": lambda: 1 << 30},
    ),
    Case(
        "data make over an existing file",
        {"p.h5": SMALL},
        ["data", "make", "planar", "-o", "{tmp}/p.h5"],
        "Error: {tmp}/p.h5: already exists; pass --force to replace it, or choose another -o",
    ),
    Case(
        "data make -o a directory", {}, ["data", "make", "planar", "-o", "{tmp}"], "Error: {tmp}: is a directory; give a file name for -o, e.g. {tmp}/data.h5"
    ),
    Case(
        "data make -o under a file",
        {"blocker": "a file"},
        ["data", "make", "planar", "-o", "{tmp}/blocker/p.h5"],
        "Error: {tmp}/blocker/p.h5: cannot write here (Not a directory); choose another -o",
    ),
    Case(
        "data make -o where nothing can be written",
        {},
        ["data", "make", "planar", "-o", "/proc/p.h5"],
        "Error: /proc/p.h5: cannot write in /proc (No such file or directory); choose another -o",
    ),
    Case(
        "data make -o a device",
        {},
        ["data", "make", "planar", "-o", "/dev/null", "--force"],
        "Error: /dev/null: is a character device, not a regular file; choose another -o",
    ),
    Case(
        "data import over an existing file",
        {"photos": photos, "pets.h5": b"keep me"},
        ["data", "import", "{tmp}/photos", "-o", "{tmp}/pets.h5", "-q"],
        "Error: {tmp}/pets.h5: already exists; pass --force to replace it, or choose another -o",
    ),
    Case(
        "data import -o a directory",
        {"photos": photos},
        ["data", "import", "{tmp}/photos", "-o", "{tmp}/photos", "-q"],
        "Error: {tmp}/photos: is a directory; give a file name for -o, e.g. {tmp}/photos/data.h5",
    ),
    Case(
        "data import -o where nothing can be written",
        {"photos": photos},
        ["data", "import", "{tmp}/photos", "-o", "/proc/pets.h5", "-q"],
        "Error: /proc/pets.h5: cannot write in /proc (No such file or directory); choose another -o",
    ),
    Case(
        "data import --classes naming one folder twice",
        {"photos": photos},
        ["data", "import", "{tmp}/photos", "-o", "{tmp}/p.h5", "--classes", "cat,cat"],
        "Error: --classes cat,cat: cat is named more than once; name each class folder once, label 0 first, e.g. --classes non-cat,cat",
    ),
    Case(
        "data import with one class folder",
        {"photos/cat/a.png": png},
        ["data", "import", "{tmp}/photos", "-o", "{tmp}/p.h5"],
        "Error: {tmp}/photos: found 1 class folder (cat); a classifier needs two or more, one sub-folder of pictures per class (or choose them with --classes a,b,c)",
    ),
    Case(
        "--preview-out a directory",
        {"p.h5": SMALL},
        ["data", "info", "{tmp}/p.h5", "--preview-out", "{tmp}"],
        "Error: {tmp}: is a directory; give a file name for --preview-out, e.g. {tmp}/data.png",
    ),
    Case(
        "--preview-out not a PNG",
        {"p.h5": SMALL},
        ["data", "info", "{tmp}/p.h5", "--preview-out", "{tmp}/p.h5"],
        "Error: {tmp}/p.h5: the preview is a PNG picture; give a file name ending in .png with --preview-out",
    ),
    Case(
        "--preview-out where nothing can be written",
        {"p.h5": SMALL},
        ["data", "info", "{tmp}/p.h5", "--preview-out", "/proc/p.png"],
        "Error: /proc/p.png: cannot write in /proc (No such file or directory); choose another --preview-out",
    ),
    Case(
        "picture with a truncated IHDR (ValueError)",
        {"run": trained_run, "t.png": truncated_ihdr_png},
        ["predict", "{tmp}/t.png", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/t.png: damaged image (ValueError: Truncated IHDR chunk); take the original file again"',
    ),
    Case(
        "picture with a bad PPM header (ValueError)",
        {"run": trained_run, "b.ppm": bad_header_ppm},
        ["predict", "{tmp}/b.ppm", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/b.ppm: damaged image (ValueError: invalid literal for int() with base 10: b\'1x\'); take the original file again"',
    ),
    Case(
        "picture with bad EXIF (struct.error)",
        {"run": trained_run, "e.jpg": bad_exif_jpg},
        ["predict", "{tmp}/e.jpg", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/e.jpg: damaged image (error: required argument is not an integer); take the original file again"',
    ),
    Case(
        "picture path is a FIFO",
        {"run": trained_run, "f.png": fifo},
        ["predict", "{tmp}/f.png", "--run", "{tmp}/run", "--json"],
        "Error: 1 of 1 files could not be read",
        stdout_has='"error": "{tmp}/f.png: is a named pipe (FIFO), not a regular file"',
    ),
    Case(
        "grid of too many trials",
        cfg(GOOD),
        [
            "sweep",
            "{tmp}/c.yaml",
            "--grid",
            "train.seed=" + ",".join(map(str, range(1, 101))),
            "--grid",
            "train.iterations=" + ",".join(map(str, range(1, 102))),
        ],
        "Error: the grid makes 10,100 trials (100 train.seed × 101 train.iterations); a sweep has at most 10,000: sweep fewer values",
    ),
    Case(
        "sweep.json nested too deep",
        {"s/sweep.json": "[" * 100000 + "]" * 100000},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/sweep.json: not valid JSON (nested too deeply to be a file nnctl wrote); the plan is damaged, start a new sweep",
    ),
    # --- softmax (issue 13) ---
    Case(
        "a sigmoid output asked for with three classes",
        {"c.yaml": GOOD.replace("{hidden: [3]}", "{hidden: [3], output_activation: sigmoid}"), "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 2]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: 3 classes, labels [2] beyond 0 and 1, but a sigmoid output tells two apart; use output_activation: "
        "softmax (or leave output_activation out: more than two classes pick it)",
    ),
    Case(
        "labels the class list does not name",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 3]), classes=np.array([b"a", b"b", b"c"]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: labels [3] have no class: the file's class list names 3 (a, b, c), labels 0 to 2; add the missing names to the class list",
    ),
    Case(
        "labels that are not class numbers",
        {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1.5, 2]))},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/train.h5: labels [1.5] are not class numbers: classes are numbered 0, 1, 2, ... (for regression use a linear output)",
    ),
    Case(
        "a softmax output of one unit",
        cfg("data: {train: train.h5}\nmodel: {layers: [2, 1], output_activation: softmax}\ntrain: {learning_rate: 0.1, iterations: 5}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: model.layers: a softmax output has one unit per class, so at least 2 (got 1); for two classes in one unit use output_activation: sigmoid",
    ),
    Case(
        "model.layers with another number of classes than the data",
        {
            "c.yaml": "data: {train: train.h5}\nmodel: {layers: [2, 4], output_activation: softmax}\ntrain: {learning_rate: 0.1, iterations: 5}\n",
            "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 2])),
        },
        ["train", "{tmp}/c.yaml"],
        "Error: model.layers ends with 4 but {tmp}/train.h5 holds 3 classes: a softmax output has one unit per class; set model.layers[-1] to 3, "
        "or give model.hidden and let the data decide",
    ),
    Case(
        "mse with a softmax output",
        cfg("data: {train: train.h5}\nmodel: {hidden: [3], output_activation: softmax, loss: mse}\ntrain: {learning_rate: 0.1, iterations: 5}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: model.loss: mse with a softmax output trains a regression squeezed onto the classes' probabilities, not a classifier; "
        "use loss: categorical_cross_entropy (or auto)",
    ),
    Case(
        "test labels beyond the training data's classes",
        {
            "c.yaml": "data: {train: train.h5, test: test.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n",
            "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 2])),
            "test.h5": plain_h5(x=np.zeros((2, 2)), y=np.array([0, 3])),
        },
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/test.h5: labels [3] are beyond the training data's 3 classes (labels 0 to 2); use a test file of the same classes",
    ),
    Case(
        "a spiral of one arm",
        {},
        ["data", "make", "spiral", "--k", "1", "-o", "{tmp}/s.h5"],
        "Error: builtin:spiral: k must be a whole number from 2 to 1000 (got 1)",
    ),
    # --- speed (streaming) ---
    Case(
        "stream a full batch",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.stream=always"],
        "Error: {tmp}/train.h5: data.stream: always reads mini-batches from the file, so it needs a train.batch_size below the 8 examples; set train.batch_size, or use stream: auto",
    ),
    Case(
        "stream a built-in dataset",
        {"c.yaml": "data: {train: 'builtin:moons', stream: always}\ntrain: {learning_rate: 0.1, epochs: 2, batch_size: 64}\n"},
        ["train", "{tmp}/c.yaml"],
        "Error: builtin:moons: data.stream: always reads the examples from a data file, and a built-in dataset is generated in memory; use stream: auto, or a file",
    ),
    # --- regularisation, normalisation, validation, gradient checking (issue 12) ---
    Case(
        "keep_prob per layer of the wrong length",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.keep_prob=[0.8, 0.9]"],
        "Error: {tmp}/c.yaml (with --set train.keep_prob=[0.8, 0.9]): train.keep_prob: the network has 1 hidden layers, so give 1 keep "
        "probabilities (got 2), or one number for all; dropout never applies to the output layer",
    ),
    Case(
        "dropout without hidden layers",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden=[]", "--set", "train.keep_prob=0.5"],
        "Error: {tmp}/c.yaml (with --set model.hidden=[] --set train.keep_prob=0.5): train.keep_prob: dropout applies to hidden layers "
        "and this network has none; use keep_prob: 1",
    ),
    Case(
        "dual path with L2",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.l2=0.1", "--set", "train.first_layer=dual"],
        "Error: {tmp}/c.yaml (with --set train.l2=0.1 --set train.first_layer=dual): train.first_layer: dual is not exact here (L2 "
        "regularisation: its decay shrinks W1_0 too, which W1_0 + C X^T cannot follow); use auto or primal",
    ),
    Case(
        "early stopping without a validation set",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.early_stopping={patience: 2}"],
        "Error: {tmp}/c.yaml (with --set train.early_stopping={patience: 2}): train.early_stopping: it watches a validation set; "
        "add data.validation (a file, or a fraction such as 0.2)",
    ),
    Case(
        "validation fraction that leaves nothing",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.validation=0.01"],
        "Error: {tmp}/train.h5: data.validation: 0.01 of its 8 examples leaves no validation examples; use a fraction between 0.125 and 0.875, "
        "or give a validation file",
    ),
    Case(
        "validation file of another layout",
        {**cfg(GOOD), "v.h5": plain_h5(x=np.zeros((4, 3)), y=np.zeros(4))},
        ["train", "{tmp}/c.yaml", "--set", "data.validation=v.h5"],
        "Error: {tmp}/v.h5: examples have 3 features but the training data's have 48 (input shape [4, 4, 3]); use a validation file of the same layout",
    ),
    Case(
        "MATLAB file without X and y",
        {
            "m.mat": lambda p: __import__("scipy.io").io.savemat(p, {"A": np.zeros((3, 2))}),
            "c.yaml": "data: {train: m.mat}\ntrain: {learning_rate: 0.1, iterations: 5}\n",
        },
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/m.mat: no known MATLAB layout: expected 'X'/'y' (training) and optionally 'Xval'/'yval' (test); the file holds: A (3, 2)",
    ),
    Case(
        "gradient check of a dropout spec",
        cfg(GOOD),
        ["gradcheck", "{tmp}/c.yaml", "--set", "train.keep_prob=0.8"],
        "Error: {tmp}/c.yaml: train.keep_prob: gradient checking does not work with dropout: its cost changes with every mask; "
        "check backprop without dropout (--set train.keep_prob=1), then add dropout back, as the course does",
    ),
    Case(
        "predict rows with a number in full-width digits (U+FF15 is 5 to Python's float())",
        {"run": planar_run, "r.csv": "x1,x2\n1,\uff15\n"},
        ["predict", "{tmp}/r.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/r.csv: data row 1, column 2: '\uff15' holds the digit U+FF15 FULLWIDTH DIGIT FIVE, "
        "so it is not a plain number; write it with the ASCII digits 0-9 (a sign, '.', an exponent and ASCII spaces allowed), or give the column text that is not a number",
    ),
    Case(
        "rows of the wrong width for predict",
        {"run": planar_run, "r.csv": "x1,x2,x3\n1,2,3\n"},
        ["predict", "{tmp}/r.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/r.csv: data row 1 has 3 values; the model takes 2 numbers per row",
    ),
    # --- run integrity ---
    Case(
        "resume after config.resolved.yaml's layers were edited",
        {"run": interrupted_run(edit_text("config.resolved.yaml", "layers: [48, 3, 1]", "layers: [48, 5, 1]"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: is not the spec the run started with (model.layers: [48, 5, 1] in the spec, [48, 3, 1] when "
        "the run started); put it back as it was, or train the edited spec as a new run: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume after config.resolved.yaml's dtype was edited",
        {"run": interrupted_run(edit_text("config.resolved.yaml", "dtype: float64", "dtype: float32"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: is not the spec the run started with (train.dtype: 'float32' in the spec, 'float64' when "
        "the run started); put it back as it was, or train the edited spec as a new run: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume after iterations were lowered below the checkpoint's",
        {"run": interrupted_run(edit_text("config.resolved.yaml", "iterations: 40", "iterations: 10"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: is not the spec the run started with (train.iterations: 10 in the spec, 40 when "
        "the run started); put it back as it was, or train the edited spec as a new run: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume with another run's checkpoint of the same spec",
        {"run": interrupted_run(foreign_checkpoint())},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: belongs to another run (its run id is not the one in {tmp}/run/reproduce.json); put this run's own "
        "checkpoint back, or delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with another run's checkpoint of other layers",
        {"run": interrupted_run(foreign_checkpoint(LONG.replace("[3]", "[4]")))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: was written for other settings than the run's spec (model.layers: [48, 3, 1] in the spec, "
        "[48, 4, 1] when the run started); delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint that has no spec fingerprint",
        {"run": interrupted_run(checkpoint_attr("fingerprint"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: holds no fingerprint of the spec it was written for, so nothing says it belongs to this run; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint whose W2 was set to 1e300 (finite: it trained on to 'completed', every unit dead)",
        {"run": interrupted_run(checkpoint_array("W2", lambda w: np.full_like(w, 1e300)))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: W2 holds other values than training saved (their SHA-256 differs from the one recorded beside them): "
        "the file was edited or damaged; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "predict on an unfinished run (no params.h5) whose checkpoint's W2 was set to 1e300",
        {"run": interrupted_run(lambda run: ((run / "params.h5").unlink(), checkpoint_array("W2", lambda w: np.full_like(w, 1e300))(run)))},
        ["predict", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: W2 holds other values than training saved (their SHA-256 differs from the one recorded beside them): "
        "the file was edited or damaged; restore it from a copy, or train the run again (nnctl train {tmp}/run/config.resolved.yaml)",
    ),
    Case(
        "predict given the run folder as what to predict (nnctl predict RUN FILE)",
        {"run": trained_then()},
        ["predict", "{tmp}/run", "{tmp}/train.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run: is a run folder, not pictures or rows to predict; name the run with --run: nnctl predict FILES --run {tmp}/run",
    ),
    Case(
        "resume with a checkpoint whose W1 has another shape",
        {"run": interrupted_run(checkpoint_array("W1", lambda w: w[:2]))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: W1 has shape (2, 48) but layers [48, 3, 1] need (3, 48); delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint of float32 parameters for a float64 run",
        {"run": interrupted_run(checkpoint_array("W2", lambda w: w.astype(np.float32)))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: W2 is float32 but train.dtype is float64; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint past the run's end",
        {"run": interrupted_run(lambda r: (checkpoint_attr("iterations", "77000")(r), checkpoint_attr("epoch", "77000")(r)))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: epoch is 77000, beyond the run's 40 epochs; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint whose cost curve does not fit its position",
        {"run": interrupted_run(lambda r: (checkpoint_attr("iterations", "35")(r), checkpoint_attr("epoch", "35")(r)))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: its cost curve (recorded at epochs [0, 10, 20], 3 in all) does not match its position, epoch 35, "
        "recording every 10; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint whose first layer names a path",
        {"run": interrupted_run(checkpoint_attr("first_layer", '"../../etc/passwd"'))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: first_layer: expected one of primal, dual (got '../../etc/passwd'); delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint whose position is not a number",
        {"run": interrupted_run(checkpoint_attr("iterations", '"many"'))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: the checkpoint is damaged (iterations: expected a whole number >= 0 (got 'many')); delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a truncated checkpoint",
        {"run": interrupted_run(truncate("checkpoint.h5"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: cannot be read (truncated or damaged); delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    # an unfinished run's damaged metrics.json is written anew by the resume (tests/test_hostile.py); a finished one's says so
    Case(
        "resume of a finished run whose metrics.json is cut short",
        {"run": trained_then(write_file("metrics.json", '{"status": "compl'))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: cannot be read (Unterminated string starting at: line 1 column 12 (char 11)); the run has ended "
        "(params.h5 holds all its 5 iterations), so there is nothing to resume: delete {tmp}/run/metrics.json to evaluate or predict "
        "with the run without it, or train it again: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume with BLAS threads in reproduce.json that are not a number",
        {"run": interrupted_run(write_file("reproduce.json", '{"blas": {"threads": "all"}}'))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/reproduce.json: blas.threads: expected a whole number of threads from 1 to 4096 (got 'all'); the file is damaged "
        "or was edited, so train the run again",
    ),
    Case(
        "runs folder under /proc",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--runs-dir", "/proc/nnctl-runs"],
        "Error: /proc/nnctl-runs: is on a filesystem with no disk blocks (/proc: a virtual one, like /proc and /sys), which cannot hold "
        "runs; choose a folder on a disk with --runs-dir",
    ),
    Case(
        "resume with reproduce.json deleted",
        {"run": interrupted_run(lambda r: (r / "reproduce.json").unlink())},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: belongs to a run whose id is in its reproduce.json, but {tmp}/run/reproduce.json is missing "
        "or has none; put the run's reproduce.json back, or delete {tmp}/run/checkpoint.h5 to restart the run from the beginning "
        "(nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume of a folder that is not a run",
        {"notrun/x.txt": "x"},
        ["train", "--resume", "{tmp}/notrun"],
        "Error: {tmp}/notrun: not a run directory (no config.resolved.yaml); give a runs/... directory to --resume",
    ),
    # --- polish ---
    Case(
        "boolean where a whole number is meant",
        cfg(GOOD.replace("iterations: 5", "iterations: true")),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: train.iterations: must be a whole number, not a boolean (got true)",
    ),
    Case(
        "boolean where a number is meant",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.l2=false"],
        "Error: {tmp}/c.yaml (with --set train.l2=false): train.l2: must be a number, not a boolean (got false)",
    ),
    Case(
        "boolean among layer sizes",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden=[3, true]"],
        "Error: {tmp}/c.yaml (with --set model.hidden=[3, true]): model.hidden: must be a whole number, not a boolean (got [3, true])",
    ),
    Case(
        "infinite learning rate",
        cfg(GOOD.replace("learning_rate: 0.1", "learning_rate: .inf")),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: train.learning_rate: must be a finite number (got inf)",
    ),
    Case(
        "NaN learning rate",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.learning_rate=.nan"],
        "Error: {tmp}/c.yaml (with --set train.learning_rate=.nan): train.learning_rate: must be a finite number (got nan)",
    ),
    Case(
        "keep_prob of 0",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.keep_prob=0"],
        "Error: {tmp}/c.yaml (with --set train.keep_prob=0): train.keep_prob: must be a number in (0, 1] or a list of them, one per hidden layer (got 0)",
    ),
    Case(
        "keep_prob list with a value above 1",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.keep_prob=[0.5, 2]"],
        "Error: {tmp}/c.yaml (with --set train.keep_prob=[0.5, 2]): train.keep_prob: must be a number in (0, 1] or a list of them, one per hidden layer (got [0.5, 2])",
    ),
    Case(
        "name of 300 characters",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "name=" + "n" * 300],
        "Error: {tmp}/c.yaml (with --set name=" + "n" * 300 + "): name: at most 100 characters, so that the run folder's name fits the file system; "
        "use a shorter name (got 300 characters)",
    ),
    # --- read-back ---
    Case(
        "runs show of a folder whose metrics.json is another program's",
        {"run": trained_then(write_file("metrics.json", '{"hello": 1}'))},
        ["runs", "show", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: has no status; not an nnctl run's metrics: train the run again, or remove the folder",
    ),
    Case(
        "runs show with a status nnctl never writes",
        {"run": trained_then(write_file("metrics.json", '{"status": "weird"}'))},
        ["runs", "show", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: status 'weird' is not one nnctl writes (running, completed, interrupted, diverged, failed); "
        "not an nnctl run's metrics: train the run again, or remove the folder",
    ),
    Case(
        "evaluate with an empty metrics.json",
        {"run": trained_then(write_file("metrics.json", "{}"))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: has no status; not an nnctl run's metrics: train the run again, or remove the folder",
    ),
    Case(
        "report of a run whose metrics.json has results of the wrong type",
        {"run": trained_then(write_file("metrics.json", '{"status": "completed", "train_accuracy": "lots", "layers": "x"}'))},
        ["report", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: layers is a string, not a list of layer sizes; not an nnctl run's metrics: train the run again, or remove the folder",
    ),
    Case(
        "evaluate a run whose params.h5 is a named pipe",
        {"run": trained_then(fifo_in_run("params.h5"))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: is a named pipe (FIFO), not a regular file nnctl wrote; remove it and train the run again",
    ),
    Case(
        "resume with a checkpoint whose epoch was edited to 999999",
        {"run": stopped_minibatch_run_with("epoch", "999999")},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: epoch is 999999, beyond the run's 5 epochs; "
        "delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "resume with a checkpoint whose iterations were edited to 99999999",
        {"run": stopped_minibatch_run_with("iterations", "99999999")},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: iterations is 99999999, but epoch 1, batch 1 is iteration 4 in the run's epochs of 3 batches: its position's attributes disagree; "
        "delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    Case(
        "runs compare with a start of a name that two runs share",
        {"runs/moons-a1/x.txt": "x", "runs/moons-a2/x.txt": "x"},
        ["runs", "compare", "moons-a…", "moons-a1", "--runs-dir", "{tmp}/runs"],
        "Error: moons-a…: names 2 runs in {tmp}/runs (moons-a1, moons-a2); give more of the name",
    ),
    # ---- export
    Case(
        "export of a diverged run",
        {"run": diverged_regression_run},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.onnx"],
        "Error: {tmp}/run: the run diverged, so its parameters are not a model to deploy; train it again with a smaller learning_rate, then export",
    ),
    Case(
        "export to a file of unknown suffix",
        {"run": trained_run},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/model.pkl"],
        "Error: {tmp}/model.pkl: the suffix .pkl: not a format nnctl exports; give --format onnx or npz (or a .onnx/.npz file name)",
    ),
    Case(
        "export with an unknown --format",
        {"run": trained_run},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.onnx", "--format", "tflite"],
        "Error: --format tflite: not a format nnctl exports; give --format onnx or npz (or a .onnx/.npz file name)",
    ),
    Case(
        "export over an existing file",
        {"run": trained_run, "m.onnx": "mine"},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.onnx"],
        "Error: {tmp}/m.onnx: already exists; pass --force to replace it, or choose another -o",
    ),
    Case(
        "export of a run whose params.h5 names a preprocessing step nnctl does not know",
        {
            "run": trained_then(
                as_written(
                    params_attr_edit(
                        "preprocessing",
                        {"flatten": "example-per-column", "input_shape": [4, 4, 3], "x_dtype": "uint8", "scale": 255.0, "normalize": "none", "impute": "mean"},
                    )
                )
            )
        },
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.npz"],
        "Error: {tmp}/run: preprocessing.impute: a preprocessing step this version of nnctl cannot export; export it with the nnctl that trained it",
    ),
    # ---- tracking
    Case(
        "train --log with a tracker nnctl does not have",
        {"c.yaml": GOOD},
        ["train", "{tmp}/c.yaml", "--log", "wandb"],
        "Error: --log wandb: not a tracker nnctl logs to; give --log mlflow",
    ),
    Case(
        "train --log-onnx without --log",
        {"c.yaml": GOOD},
        ["train", "{tmp}/c.yaml", "--log-onnx"],
        "Error: --log-onnx logs the model to an experiment tracker; add --log mlflow",
    ),
    Case(
        "train --log mlflow where mlflow is not installed",
        {"c.yaml": GOOD},
        ["train", "{tmp}/c.yaml", "--log", "mlflow"],
        "Error: --log mlflow needs the mlflow package; install it with: pip install 'nnctl[mlflow]'",
        patches={"nnctl.experiment.tracking._installed": lambda package: False},
    ),
    Case(
        "sweep --log with a tracker nnctl does not have",
        {"c.yaml": GOOD},
        ["sweep", "{tmp}/c.yaml", "--grid", "train.learning_rate=0.1,0.2", "--log", "tensorboard"],
        "Error: --log tensorboard: not a tracker nnctl logs to; give --log mlflow",
    ),
    Case(
        "runs log to a tracker nnctl does not have",
        {"run": trained_run},
        ["runs", "log", "{tmp}/run", "--to", "wandb"],
        "Error: --to wandb: not a tracker nnctl logs to; give --to mlflow",
    ),
    # ---- tables (CSV, TSV, Parquet)
    Case(
        "table with a row of fewer fields",
        {"t.csv": "a,b\n1,2\n3\n"},
        ["train", "--data", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: line 3 has 1 fields but line 1 has 2 (fields split at ','); give every row the same columns "
        "(quote a field that holds the delimiter)",
    ),
    Case(
        "table that is not UTF-8",
        {"t.csv": b"a,b\n1,2\n3,\xe9\n"},
        ["train", "--data", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: line 3: byte 0xe9 is not UTF-8 text; save the table as UTF-8 (a spreadsheet's 'CSV UTF-8' format)",
    ),
    Case(
        "table whose target is not finite",
        {"t.csv": "a,b,y\n1,2,1.5\n3,4,1e400\n5,6,2.5\n7,8,0.1\n"},
        ["train", "--data", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: line 3, column 'y': the target is not finite; replace it with a number (or remove the row)",
    ),
    Case(
        "early stopping on accuracy for a table's regression target",
        {"t.csv": "a,y\n" + "".join(f"{i},{i * 0.37:.2f}\n" for i in range(40))},
        ["train", "--data", "{tmp}/t.csv", "--target", "y", "--set", "data.validation=0.25", "--set", "train.early_stopping={monitor: validation_accuracy}"],
        "Error: {tmp}/t.csv: train.early_stopping.monitor: the target 'y' is a regression, which has no accuracy; use validation_cost",
    ),
    Case(
        "table with a missing value (data.missing: error, the default)",
        {"t.csv": "x,y\n1,a\nNA,b\n3,a\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y"],
        "Error: {tmp}/t.csv: line 3, column 'x': the value is missing (1 missing in all); set data.missing: mean, median, most_frequent or drop",
    ),
    Case(
        "table number with '_' digit separators (Python's float() reads '5_0' as 50)",
        {"t.csv": "x,y\n1,a\n5_0,b\n3,a\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y"],
        "Error: {tmp}/t.csv: line 3, column 'x': '5_0' holds a '_' digit separator, "
        "so it is not a plain number; write it with the ASCII digits 0-9 (a sign, '.', an exponent and ASCII spaces allowed), or give the column text that is not a number",
    ),
    Case(
        "table target with a no-break space after the number (U+00A0)",
        {"t.csv": "x,y\n1,1.5\n2,2.5\u00a0\n3,0.5\n4,7.25\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y"],
        "Error: {tmp}/t.csv: line 3, column 'y': '2.5\u00a0' holds the space U+00A0 NO-BREAK SPACE, "
        "so it is not a plain number; write it with the ASCII digits 0-9 (a sign, '.', an exponent and ASCII spaces allowed), or give the column text that is not a number",
    ),
    Case(
        "--target naming no column",
        {"t.csv": TABLE},
        ["train", "--data", "{tmp}/t.csv", "--target", "specie"],
        "Error: {tmp}/t.csv: data.target: no column 'specie'; did you mean 'species'? (columns: species, island, bill_mm)",
    ),
    Case(
        "--target without --data",
        {},
        ["train", "--target", "species"],
        "Error: --target names a column of --data TABLE; give --data too (or a CONFIG whose data.train is a table)",
    ),
    Case(
        "data.target for an HDF5 file",
        cfg(GOOD.replace("train.h5}", "train.h5, target: y}")),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: data.target: for tables only (.csv, .tsv, .parquet); data.train is 'train.h5': leave data.target out",
    ),
    Case(
        "data.features and data.drop together",
        {"t.csv": TABLE, "c.yaml": "data: {train: t.csv, features: [bill_mm], drop: [island]}\n"},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: data.features lists the columns to use and data.drop the columns to leave out; give one of them",
    ),
    Case(
        "model.task: regression of a text target",
        {"t.csv": TABLE},
        ["train", "--data", "{tmp}/t.csv", "--target", "species", "--set", "model.task=regression"],
        "Error: {tmp}/t.csv: line 2, column 'species': 'Adelie' is not a number, and a regression needs numbers; "
        "use model.task: classification (or auto) for a target of classes",
    ),
    Case(
        "data.stream: always with a table",
        {"t.csv": TABLE},
        ["train", "--data", "{tmp}/t.csv", "--set", "data.stream=always"],
        "Error: {tmp}/t.csv: data.stream: always reads mini-batches from an HDF5 file, and a table is read whole; use stream: auto",
    ),
    Case(
        "predict rows without a training column",
        {"run": table_run, "rows.csv": "species,bill_mm\nAdelie,40\n"},
        ["predict", "{tmp}/rows.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/rows.csv: no column 'island', which the model was trained on; give a table with the training columns (bill_mm, island)",
    ),
    Case(
        "predict a category training never saw",
        {"run": table_run, "rows.csv": "island,bill_mm\nAtlantis,40\n"},
        ["predict", "{tmp}/rows.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/rows.csv: line 2, column 'island': category 'Atlantis' was not in the training data ('Biscoe', 'Dream', 'Torgersen'); "
        "fix the value, or train with data.unseen: zeros to encode unseen categories as all zeros",
    ),
    Case(
        "predict a table number in Arabic-Indic digits (U+0664 U+0660 is 40 to Python's float())",
        {"run": table_run, "rows.csv": "island,bill_mm\nDream,\u0664\u0660\n"},
        ["predict", "{tmp}/rows.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/rows.csv: line 2, column 'bill_mm': '\u0664\u0660' holds the digit U+0664 ARABIC-INDIC DIGIT FOUR, "
        "so it is not a plain number; write it with the ASCII digits 0-9 (a sign, '.', an exponent and ASCII spaces allowed), or give the column text that is not a number",
    ),
    Case(
        "evaluate rows of a class the run never saw",
        {"run": table_run, "rows.csv": "species,island,bill_mm\nChinstrap,Dream,46.5\n"},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/rows.csv"],
        "Error: {tmp}/rows.csv: line 2, column 'species': class 'Chinstrap' is not one the run was trained on ('Adelie', 'Gentoo'); "
        "evaluate with rows of the run's classes",
    ),
    Case(
        "a run's table.json edited",
        {
            "run": table_run_then(
                lambda run: (run / "table.json").write_text((run / "table.json").read_text().replace('"unseen": "error"', '"unseen": "ignore"'))
            )
        },
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/table.json: unseen: expected error | zeros; the file is damaged or was edited, so train the run again",
    ),
    Case(
        "a run's table.json whose fill value was edited (valid, but not what training wrote)",
        {"run": table_run_then(lambda run: edit_json(run / "table.json", fill=[123.0]))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/table.json: does not match what training wrote (digest, recorded in params.h5); the file was edited or damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
    Case(
        "a run's table.json missing, though params.h5 records one",
        {"run": table_run_then(lambda run: (run / "table.json").unlink())},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/table.json: missing, but the run was trained on a table (params.h5 records its digest); restore the file from a copy, or train the run again",
    ),
    Case(
        "a metrics.json of 20 GiB (sparse) in a run folder",
        {"run": trained_then(sparse_file("metrics.json", 20 << 30))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/train.h5"],
        "Error: {tmp}/run/metrics.json: is 20 GiB long, over the 16 MiB nnctl reads back of such a file (it writes far less); "
        "the file is damaged or not nnctl's: remove it, or train the run again",
    ),
    Case(
        "a table.json of 20 GiB (sparse) in a run folder",
        {"run": table_run_then(sparse_file("table.json", 20 << 30))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/table.json: is 20 GiB long, over the 64 MiB nnctl reads back of such a file (it writes far less); "
        "the file is damaged or not nnctl's: remove it, or train the run again",
    ),
    Case(
        "a config.resolved.yaml of 20 GiB (sparse) in a run folder",
        {"run": trained_then(sparse_file("config.resolved.yaml", 20 << 30))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/config.resolved.yaml: is 20 GiB long, over the 4 MiB nnctl reads back of such a file (it writes far less); "
        "the file is damaged or not nnctl's: remove it, or train the run again",
    ),
    Case(
        "train --resume of a sweep folder",
        {"s": sweep_dir()},
        ["train", "--resume", "{tmp}/s"],
        "Error: {tmp}/s: is a sweep, not a run; resume it with: nnctl sweep --resume {tmp}/s",
    ),
    # ---- batch normalisation (docs/batch-norm.md)
    Case(
        "batch_norm naming the output layer",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm=[2]"],
        "Error: {tmp}/c.yaml (with --set model.batch_norm=[2]): model.batch_norm: layer 2 is not a hidden layer of this 2-layer network "
        "(its one hidden layer is 1); batch norm normalises hidden layers, never the input or the output layer",
    ),
    Case(
        "batch_norm of a number",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm=1"],
        "Error: {tmp}/c.yaml (with --set model.batch_norm=1): model.batch_norm: must be true, false or a list of hidden layer numbers such as [1, 2] (got 1)",
    ),
    Case(
        "batch_norm without hidden layers",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.hidden=[]", "--set", "model.batch_norm=true"],
        "Error: {tmp}/c.yaml (with --set model.hidden=[] --set model.batch_norm=true): model.batch_norm: this network has no hidden "
        "layers to normalise; add model.hidden, or batch_norm: false",
    ),
    Case(
        "batch_norm with mini-batches of one example",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm=true", "--set", "train.iterations=null", "--set", "train.epochs=2", "--set", "train.batch_size=1"],
        "Error: {tmp}/c.yaml (with --set model.batch_norm=true --set train.iterations=null --set train.epochs=2 --set train.batch_size=1): "
        "train.batch_size: 1 example per mini-batch has variance 0, so model.batch_norm would normalise every unit to 0 (PyTorch refuses "
        "it too); use a batch_size of 2 or more, or model.batch_norm: false",
    ),
    Case(
        "batch_norm whose last mini-batch is one example",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm=true", "--set", "train.iterations=null", "--set", "train.epochs=2", "--set", "train.batch_size=7"],
        "Error: {tmp}/train.h5: model.batch_norm: the last mini-batch of 8 examples in batches of 7 is one example, whose variance is 0, "
        "so batch norm cannot normalise it; use train.batch_size: 6 or 5",
    ),
    Case(
        "gradient check of a batch-normalised spec on one example",
        cfg(GOOD),
        ["gradcheck", "{tmp}/c.yaml", "--set", "model.batch_norm=true", "--examples", "1"],
        "Error: {tmp}/c.yaml: model.batch_norm: one example has variance 0, so every normalised unit is 0 and every gradient "
        "before it is 0: nothing to check; use --examples 2 or more",
    ),
    Case(
        "batch_norm_momentum of 1",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "model.batch_norm_momentum=1"],
        "Error: {tmp}/c.yaml (with --set model.batch_norm_momentum=1): model.batch_norm_momentum: must be less than 1 (got 1)",
    ),
    Case(
        "params.h5 with a negative running variance",
        {"run": bn_run_then(_negative_variance)},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: running_var1: expected variances, numbers >= 0; the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 with b1 beside a batch-normalised layer's beta1",
        {"run": bn_run_then(_bias_beside_beta)},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: b1: not an array of layers [48, 3, 1] with batch norm on [1]; the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "params.h5 of a batch-normalised run without gamma1",
        {"run": bn_run_then(_no_gamma)},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: gamma1: missing; the file is damaged or not written by nnctl, so train the run again",
    ),
    Case(
        "a test file whose class list is in another order than the training file's",
        {
            "c.yaml": "data: {train: train.h5, test: test.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n",
            "train.h5": plain_h5(x=np.eye(4), y=np.array([0, 1, 0, 1]), classes=np.array([b"cat", b"dog"])),
            "test.h5": plain_h5(x=np.eye(4), y=np.array([1, 0, 1, 0]), classes=np.array([b"dog", b"cat"])),
        },
        ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/runs"],
        "Error: {tmp}/test.h5: classes [dog, cat] (label 0 first), but the training data's are [cat, dog]: labels would mean "
        "other classes; use data of the same classes in the same order",
    ),
    Case(
        "train of the resolved spec of a run nnctl.fit trained on arrays (data.train: array:train)",
        {"r.yaml": GOOD.replace("train.h5", "array:train")},
        ["train", "{tmp}/r.yaml", "--runs-dir", "{tmp}/runs"],
        "Error: array:train: arrays given to nnctl.fit in Python, which a run does not keep; "
        "call nnctl.fit(spec, X, y) again, or give the data as a file (data.train: FILE.h5)",
    ),
    # ---- a regression's target (data.normalize_target)
    Case(
        "data.normalize_target: standardize for a classifier",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.normalize_target=standardize"],
        "Error: {tmp}/train.h5: data.normalize_target: standardize scales a regression's target values, and this data trains a "
        "classifier (its labels are classes); use normalize_target: auto or none",
    ),
    Case(
        "data.normalize_target: standardize with a relu output",
        {"c.yaml": REGRESSION, "r.h5": regression_h5},
        ["train", "{tmp}/c.yaml", "--set", "model.output_activation=relu", "--set", "data.normalize_target=standardize"],
        "Error: {tmp}/r.h5: data.normalize_target: standardize makes targets of mean 0 and std 1, which a relu output cannot "
        "reach (values >= 0); use output_activation: linear, or normalize_target: none",
    ),
    Case(
        "params.h5 whose target std was edited to 0",
        {"run": regression_run_then(as_written(params_array("normalize_target/std", 0.0)))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/r.h5"],
        "Error: {tmp}/run/params.h5: normalize_target/std: a standard deviation is not positive; the file is damaged, so train the run again",
    ),
    Case(
        "params.h5 whose target mean is missing",
        {"run": regression_run_then(as_written(params_array("normalize_target/mean", None)))},
        ["predict", "{tmp}/r.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: normalize_target/mean: expected 1 finite number, shape (1, 1); the file is damaged, so train the run again",
    ),
    Case(
        "params.h5 whose preprocessing names a target scaling nnctl does not know",
        {
            "run": regression_run_then(
                as_written(
                    params_attr_edit(
                        "preprocessing",
                        {
                            "flatten": "example-per-column",
                            "input_shape": [1],
                            "x_dtype": "float64",
                            "scale": 1.0,
                            "normalize": "none",
                            "normalize_target": "log",
                        },
                    )
                )
            )
        },
        ["predict", "{tmp}/r.h5", "--run", "{tmp}/run"],
        "Error: {tmp}/run/params.h5: preprocessing.normalize_target: expected none or standardize (got 'log'); the file is damaged, so train the run again",
    ),
    Case(
        "resume of a run whose config.resolved.yaml no longer standardises the target it was begun on",
        {"run": regression_run_then(edit_text("config.resolved.yaml", "normalize_target: standardize", "normalize_target: none"), stop_after=7)},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: was written for a run whose targets were standardised (normalize_target: standardize), but "
        "{tmp}/run/config.resolved.yaml says data.normalize_target: none; put the spec back as it was, or delete {tmp}/run/checkpoint.h5 "
        "to restart the run from the beginning (nnctl train --resume {tmp}/run then starts over, same spec and data)",
    ),
    # ---- hostile input (issue 20; docs/hostile-input.md)
    Case(
        "MATLAB file whose X is sparse",
        {"m.mat": sparse_x},
        ["data", "info", "{tmp}/m.mat"],
        "Error: {tmp}/m.mat: X: a sparse matrix; save it as a full one (MATLAB: X = full(X); save -v7)",
    ),
    Case(
        "MATLAB file whose X has no rows",
        {"m.mat": mat(X=np.zeros((0, 2)), y=np.zeros((0, 1)))},
        ["data", "info", "{tmp}/m.mat"],
        "Error: {tmp}/m.mat: X: (0, 2), no examples; expected a matrix of one example per row",
    ),
    Case(
        "MATLAB file whose X is 3-D",
        {"m.mat": mat(X=np.zeros((4, 2, 2)), y=np.zeros((4, 1)))},
        ["data", "info", "{tmp}/m.mat"],
        "Error: {tmp}/m.mat: X: 3-D, shape (4, 2, 2); X must be 2-D, examples × features: reshape it to one example per row "
        "(MATLAB: X = reshape(X, size(X, 1), []); save -v7)",
    ),
    Case(
        "MATLAB file whose X is a cell array",
        {"m.mat": mat(X=np.array([[1, "a"]], dtype=object), y=np.ones((1, 1)))},
        ["data", "import", "{tmp}/m.mat", "-o", "{tmp}/o.h5"],
        "Error: {tmp}/m.mat: X: a cell array or struct, not numbers; save X as a numeric matrix",
    ),
    Case(
        "damaged gzip chunk met by the finite check of a streamed file",
        {"d.h5": damaged_gzip_h5, "c.yaml": "data: {train: d.h5, stream: always}\ntrain: {learning_rate: 0.1, epochs: 1, batch_size: 100}\n"},
        ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/runs", "-q"],
        "Error: {tmp}/d.h5: the array 'x' cannot be read at rows 0 to 1999 (Can't synchronously read data (filter returned failure during read)); "
        "the file is damaged, write it again",
    ),
    Case(
        "Dask address whose host is not a host name",
        cfg(GOOD),
        ["sweep", "{tmp}/c.yaml", "--grid", "train.seed=1,2", "--executor", "dask", "--address", "tcp://-x..y:8786"],
        "Error: --address tcp://-x..y:8786: -x..y is not a valid host name or IP address (labels of 1 to 63 letters, digits and '-', "
        "not starting or ending with '-'); e.g. --address tcp://10.0.0.5:8786",
    ),
    Case(
        "a file name with Rich markup and a terminal escape sequence",
        {},
        ["train", "{tmp}/[/x]\x1b[2J\u202e.yaml"],
        "Error: {tmp}/[/x]\\x1b[2J\\u202e.yaml: no such config file",
    ),
    Case(
        "HDF5 labels that are values, not class numbers (3e9: a one-hot of 24 GB)",
        {"big.h5": plain_h5(x=np.ones((40, 2)), y=np.where(np.arange(40) % 2, 3_000_000_000, 0).astype(np.int64))},
        ["train", "--data", "{tmp}/big.h5"],
        "Error: {tmp}/big.h5: y: labels up to 3000000000 would make 3000000001 classes for 40 examples, so they are not class numbers "
        "(0, 1, 2, ...); if y holds values to predict, train a regression: model.task: regression (a linear output, model.output_activation: linear)",
    ),
    Case(
        "HDF5 labels of 1e300",
        {"huge.h5": plain_h5(x=np.ones((40, 2)), y=np.where(np.arange(40) % 2, 1e300, 0.0))},
        ["train", "--data", "{tmp}/huge.h5"],
        "Error: {tmp}/huge.h5: y: labels up to 1e+300 would make 1e+300 classes for 40 examples, so they are not class numbers "
        "(0, 1, 2, ...); if y holds values to predict, train a regression: model.task: regression (a linear output, model.output_activation: linear)",
    ),
    # ---- an outside review (docs/hostile-input.md, section G)
    Case(
        "export over a run's own params.h5, even with --force",
        {"run": trained_run},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/run/params.h5", "--format", "npz", "--force"],
        "Error: {tmp}/run/params.h5: is a file of the run in {tmp}/run (its params.h5); nnctl never writes over a run's own files, "
        "not even with --force; choose another -o",
    ),
    Case(
        "report -o over a file that exists, without --force",
        {"run": trained_run, "page.html": "mine"},
        ["report", "{tmp}/run", "-o", "{tmp}/page.html"],
        "Error: {tmp}/page.html: already exists; pass --force to replace it, or choose another -o",
    ),
    Case(
        "report -o of a file that is not a page",
        {"run": trained_run},
        ["report", "{tmp}/run", "-o", "{tmp}/run/params.h5", "--force"],
        "Error: {tmp}/run/params.h5: the report is an HTML page; give a file name ending in .html with -o",
    ),
    Case(
        "data info --preview over a picture that exists, without --force",
        {"p.h5": SMALL, "p-preview.png": b"mine"},
        ["data", "info", "{tmp}/p.h5", "--preview-out", "{tmp}/p-preview.png"],
        "Error: {tmp}/p-preview.png: already exists; pass --force to replace it, or choose another --preview-out",
    ),
    Case(
        "predict on a table run with a value the first layer could overflow on",
        {"run": flat_table_run, "rows.csv": "a,b\n1,0\n1e308,1\n"},
        ["predict", "--run", "{tmp}/run", "{tmp}/rows.csv"],
        "Error: {tmp}/rows.csv: line 3, column 'a': 1e+308 is too large: after normalisation (1e+308) the network's first layer "
        "could overflow float64; correct or remove that value",
    ),
    Case(
        "a regression target too large to square",
        {"t.csv": "a,y\n1,2.5\n2,1e308\n3,4.5\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y", "--set", "model.task=regression", "--runs-dir", "{tmp}/runs"],
        "Error: {tmp}/t.csv: line 3, column 'y': 1e+308 is too large for a regression target: beyond ±1.28e+148 its squared error "
        "overflows float64 (training's cost, evaluation's RMSE); correct or remove that value, or rescale the target",
    ),
    Case(
        "metrics.json with an accuracy above 100",
        {"run": trained_then(metrics_edit(train_accuracy=150))},
        ["runs", "show", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: train_accuracy is 150, outside 0 to 100 (a percentage); not an nnctl run's metrics: "
        "train the run again, or remove the folder",
    ),
    Case(
        "metrics.json with a negative final cost",
        {"run": trained_then(metrics_edit(final_cost=-5))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/metrics.json: final_cost is -5, but a cost is never negative; not an nnctl run's metrics: train the run again, or remove the folder",
    ),
    Case(
        "runs show of a folder that is not a run",
        {"notes.txt": "x"},
        ["runs", "show", "{tmp}"],
        "Error: {tmp}: not a run or sweep directory (no metrics.json, config.resolved.yaml or sweep.json); give a folder that `nnctl runs` lists",
    ),
    Case(
        "--target with --data of an HDF5 file",
        {"p.h5": SMALL},
        ["train", "--data", "{tmp}/p.h5", "--target", "y"],
        "Error: {tmp}/p.h5: --target: names a column of a table (.csv, .tsv, .parquet), and this file is not one; leave --target out "
        "(a data file's labels are its y)",
    ),
    Case(
        "--data of a file that does not exist",
        {},
        ["train", "--data", "{tmp}/nope.xlsx", "--target", "y"],
        "Error: {tmp}/nope.xlsx: --data: no such file; check the path (a relative --data path is read from the working folder)",
    ),
    Case(
        "a checkpoint whose epoch disagrees with its iterations",
        {"run": interrupted_run(checkpoint_attr("epoch", "30"))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/checkpoint.h5: iterations is 25, but epoch 30 is iteration 30 in the run's epochs of 1 batch: its position's "
        "attributes disagree; delete {tmp}/run/checkpoint.h5 to restart the run from the beginning (nnctl train --resume {tmp}/run then "
        "starts over, same spec and data)",
    ),
    # --- issue 20 round 5: text ---
    Case(
        "train.early_stopping: true (a sub-mapping given a boolean)",
        cfg(GOOD.replace("iterations: 5}", "iterations: 5, early_stopping: true}")),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: train.early_stopping: give a mapping such as {patience: 10}, or {} for the defaults (got True)",
    ),
    Case(
        "a spec section given a number (train: 5)",
        cfg("data: {train: train.h5}\nmodel: {hidden: [3]}\ntrain: 5\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: train: give a mapping such as {learning_rate: 0.01}, or {} for the defaults (got 5)",
    ),
    Case(
        "data given a list",
        cfg("data: [train.h5]\nmodel: {hidden: [3]}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: data: give a mapping such as {train: data.h5} (got ['train.h5'])",
    ),
    Case(
        "sweep.grid given a list",
        cfg(GOOD + "sweep: {grid: [train.seed]}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: sweep.grid: give a mapping such as {train.learning_rate: [0.01, 0.1]}, or {} for the defaults (got ['train.seed'])",
    ),
    Case(
        "search.space given text",
        cfg(GOOD + "search: {trials: 2, space: loguniform}\n"),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: search.space: give a mapping such as {train.learning_rate: 'loguniform(1e-4, 1)'} (got 'loguniform')",
    ),
    Case(
        "train.early_stopping given by --set as a number",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "train.early_stopping=3"],
        "Error: {tmp}/c.yaml (with --set train.early_stopping=3): train.early_stopping: give a mapping such as {patience: 10}, or {} for the defaults (got 3)",
    ),
    Case(
        "a spec of two errors, one value holding a newline: one line per error, the newline shown as \\n",
        cfg('data: {train: train.h5}\nmodel: {hidden: [3], hidden_activation: "re\\nlu"}\ntrain: {learning_rate: x}\n'),
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/c.yaml: model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'linear' or 'softmax' "
        "(got 're\\nlu')\n{tmp}/c.yaml: train.learning_rate: must be a valid number, unable to parse string as a number (got 'x')",
    ),
    Case(
        "data.target naming no column, the table's headers holding newlines",
        {"t.csv": '"a\nb",c,"y\nz"\n1,2,p\n3,4,q\n', "c.yaml": 'data: {train: t.csv, target: "y\\nq"}\n'},
        ["train", "{tmp}/c.yaml"],
        "Error: {tmp}/t.csv: data.target: no column 'y\\nq'; did you mean 'y\\nz'? (columns: a\\nb, c, y\\nz)",
    ),
]


# --- issue 20 round 5: runs ---
def interrupted_table_run(edit=lambda run: None):
    """A run on a small table stopped after 2 iterations (its checkpoint and table.json kept), then `edit(run)`."""

    def write(path):
        from nnctl.spec.config import load_config
        from nnctl.experiment.run import train_run

        (path.parent / "p.csv").write_text(TABLE)
        (path.parent / "t.yaml").write_text("data: {train: p.csv, target: species}\ntrain: {epochs: 20}\n")
        calls = []
        summary = train_run(load_config(path.parent / "t.yaml"), runs_root=path.parent / "runs", should_stop=lambda: calls.append(1) or len(calls) == 2)
        Path(summary.run_dir).rename(path)
        shutil.rmtree(path.parent / "runs")
        edit(path)

    return write


PLANAR_LONG = "data: {train: 'builtin:planar'}\nmodel: {hidden: [2], hidden_activation: tanh}\ntrain: {learning_rate: 1, iterations: 40, record_every: 10}\n"


def interrupted_planar_run(edit):
    """A 2-D classifier (its decision boundary drawn) stopped after 25 iterations, then `edit(run)`."""

    def write(path):
        edit(_interrupted(path.parent, path.name, PLANAR_LONG))

    return write


def remove(name):
    def edit(run):
        (run / name).unlink()

    return edit


def folder_in_place_of(name):
    """A run's file replaced by a folder of that name (a missing file: a folder made there)."""

    def edit(run):
        (run / name).unlink(missing_ok=True)
        (run / name).mkdir()
        (run / name / "keep.txt").write_text("mine")

    return edit


def table_json_edit(run):
    data = json.loads((run / "table.json").read_text())
    data["target"] = "island"
    (run / "table.json").write_text(json.dumps(data))


def finished_sweep(after=lambda path: None):
    """A sweep of two trials run to the end in the folder, then `after(path)`."""

    def write(path):
        from nnctl.sweep.run import run_sweep
        from nnctl.sweep.store import load_plan

        sweep_dir()(path)
        run_sweep(load_plan(path), path, jobs=1)
        after(path)

    return write


def file_in_place_of_trial(path):
    shutil.rmtree(path / "01-seed=1")
    (path / "01-seed=1").write_text("mine")


CASES += [
    Case(
        "resume of a table run without its table.json",
        {"run": interrupted_table_run(remove("table.json"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/table.json: missing, but the run trains on a table and predict and evaluate need its encoding; put the run's "
        "table.json back from a copy, or train the run again: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume of a table run whose table.json is a folder",
        {"run": interrupted_table_run(folder_in_place_of("table.json"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/table.json: is a directory, not the table encoding the run needs; move it away and put the run's table.json "
        "back from a copy, or train the run again: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "resume of a table run whose table.json encodes another table",
        {"run": interrupted_table_run(table_json_edit)},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/table.json: is not the file training wrote (its digest, recorded in checkpoint.h5, differs); put the run's "
        "table.json back from a copy, or train the run again: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    *(
        Case(
            f"resume with a folder in place of {name}",
            {"run": interrupted_run(folder_in_place_of(name))},
            ["train", "--resume", "{tmp}/run", "-q"],
            f"Error: {{tmp}}/run/{name}: is a directory, where nnctl writes its {name}; move it away (or delete it), then resume: "
            f"nnctl train --resume {{tmp}}/run{extra}",
        )
        for name, extra in (
            ("costs.png", ""),
            ("costs.csv", ""),
            ("params.h5", ""),
            ("metrics.json", ""),
            ("checkpoint.h5", ""),
            ("report.html", " (or resume with --no-report)"),
        )
    ),
    Case(
        "resume of a 2-D classifier with a folder in place of decision_boundary.png",
        {"run": interrupted_planar_run(folder_in_place_of("decision_boundary.png"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/decision_boundary.png: is a directory, where nnctl writes its decision_boundary.png; move it away (or delete it), "
        "then resume: nnctl train --resume {tmp}/run",
    ),
    Case(
        "evaluate with a folder in place of evaluation.json",
        {"run": trained_then(folder_in_place_of("evaluation.json"))},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/run/evaluation.json: is a directory, where nnctl writes its evaluation.json; move it away (or delete it), then "
        "evaluate again: nnctl evaluate {tmp}/run",
    ),
    Case(
        "evaluate --data with a folder in place of its confusion picture",
        {"run": trained_then(folder_in_place_of("confusion-train.png"))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/train.h5"],
        "Error: {tmp}/run/confusion-train.png: is a directory, where nnctl writes its confusion-train.png; move it away (or delete it), then "
        "evaluate again: nnctl evaluate {tmp}/run --data {tmp}/train.h5",
    ),
    Case(
        "report with a folder in place of report.html",
        {"run": trained_then(folder_in_place_of("report.html"))},
        ["report", "{tmp}/run"],
        "Error: {tmp}/run/report.html: is a directory, where nnctl writes its report.html; move it away (or delete it), then write the "
        "report again: nnctl report {tmp}/run",
    ),
    Case(
        "sweep report with a folder in place of a trial's report.html",
        {"s": finished_sweep(lambda p: folder_in_place_of("report.html")(p / "02-seed=2"))},
        ["report", "{tmp}/s"],
        "Error: {tmp}/s/02-seed=2/report.html: is a directory, where nnctl writes its report.html; move it away (or delete it), then "
        "write the report again: nnctl report {tmp}/s",
    ),
    Case(
        "sweep --resume with a folder in place of summary.csv",
        {"s": finished_sweep(folder_in_place_of("summary.csv"))},
        ["sweep", "--resume", "{tmp}/s", "--no-report"],
        "Error: {tmp}/s/summary.csv: is a directory, where nnctl writes its summary.csv; move it away (or delete it), then resume: "
        "nnctl sweep --resume {tmp}/s",
    ),
    Case(
        "sweep --resume with a folder in place of report.html",
        {"s": finished_sweep(folder_in_place_of("report.html"))},
        ["sweep", "--resume", "{tmp}/s"],
        "Error: {tmp}/s/report.html: is a directory, where nnctl writes its report.html; move it away (or delete it), then resume: "
        "nnctl sweep --resume {tmp}/s (or resume with --no-report)",
    ),
    Case(
        "sweep --resume with a file in place of a trial's folder",
        {"s": finished_sweep(file_in_place_of_trial)},
        ["sweep", "--resume", "{tmp}/s", "--no-report"],
        "Error: {tmp}/s/01-seed=1: is a file, where the sweep keeps trial 01-seed=1's folder; move it away (or delete it), then resume: "
        "nnctl sweep --resume {tmp}/s",
    ),
    *(
        Case(
            f"{what} of a folder that is not a run",
            {"notes/a.txt": "x"},
            cmd,
            "Error: {tmp}/notes: not a run or sweep directory (no metrics.json, config.resolved.yaml or sweep.json); give a folder that `nnctl runs` lists",
        )
        for what, cmd in (
            ("evaluate", ["evaluate", "{tmp}/notes"]),
            ("predict --run", ["predict", "--run", "{tmp}/notes", "{tmp}/notes/a.txt"]),
            ("export --run", ["export", "--run", "{tmp}/notes", "-o", "{tmp}/m.onnx"]),
            ("runs compare", ["runs", "compare", "{tmp}/notes", "{tmp}/notes"]),
        )
    ),
    Case(
        "predict with - (standard input) for rows",
        {"run": planar_run},
        ["predict", "--run", "{tmp}/run", "-"],
        "Error: -: standard input is not read; save the rows to a file (.csv, or an HDF5 .h5) and give its path",
    ),
    Case(
        "predict with rows of a file that does not exist",
        {"run": table_run},
        ["predict", "--run", "{tmp}/run", "{tmp}/nope.csv"],
        "Error: {tmp}/nope.csv: no such file; check the path (a relative path is read from the working folder)",
    ),
    Case(
        "evaluate --data of a file that does not exist",
        {"run": planar_run},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/nope.h5"],
        "Error: {tmp}/nope.h5: no such file; check the path (a relative path is read from the working folder)",
    ),
]


# --- issue 20 round 6: data ---
# A check names the cause, not what it breaks: a data file changed since the run began (resume) or since
# the run was trained on it (evaluate), an edited table.json, edited data settings in the spec.


def csv_edit(old, new):
    """The run's training table (p.csv, beside the run) edited by hand after the run began."""

    def edit(run):
        f = run.parent / "p.csv"
        assert old in f.read_text()
        f.write_text(f.read_text().replace(old, new))

    return edit


def h5_rewritten(name, m, shape):
    """An HDF5 file beside the run written again with other examples (another shape)."""

    def edit(run):
        course_h5(run.parent / name, m=m, shape=shape)

    return edit


def resolved_edit(old, new):
    return edit_text("config.resolved.yaml", old, new)


def table_run_with_test(path):
    """A finished table run with a test file (t.csv), for evaluate's default data."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (path.parent / "p.csv").write_text(TABLE)
    (path.parent / "t.csv").write_text(TABLE)
    (path.parent / "t.yaml").write_text("data: {train: p.csv, test: t.csv, target: species}\ntrain: {epochs: 2}\n")
    Path(train_run(load_config(path.parent / "t.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)


CHANGED = "resuming would train on other data: put the file back as it was, or start a new run on it: nnctl train {tmp}/run/config.resolved.yaml"
SETTINGS = "put them back as they were, or train the edited spec as a new run: nnctl train {tmp}/run/config.resolved.yaml"
MISLEAD = (
    "a new import or split may have moved training examples into the test split or relabelled them, so its scores would mislead; "
    "train the run again on the new file"
)

CASES += [
    Case(
        "resume of a table run whose training CSV was edited (a value changed)",
        {"run": interrupted_table_run(csv_edit("39.5", "41.0"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/p.csv: the training data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of a table run whose training CSV gained a class",
        {"run": interrupted_table_run(csv_edit("Gentoo,Biscoe,50.0", "Chinstrap,Biscoe,50.0"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/p.csv: the training data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of a table run whose training CSV lost a column",
        {"run": interrupted_table_run(lambda run: (run.parent / "p.csv").write_text("species,island\nAdelie,Dream\nGentoo,Biscoe\n"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/p.csv: the training data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of an HDF5 run whose training file was written again with other examples",
        {"run": interrupted_run(h5_rewritten("train.h5", 12, (4, 4, 3)))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/train.h5: the training data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of a table run whose spec's data.missing was edited",
        {"run": interrupted_table_run(resolved_edit("missing: error", "missing: mean"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.missing: 'mean' in the "
        "spec, 'error' when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a table run whose spec's data.drop was edited (fewer features)",
        {"run": interrupted_table_run(resolved_edit("drop: []", "drop: [island]"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.features or data.drop: "
        "features ['bill_mm'] in the spec, ['bill_mm', 'island'] when the run started); " + SETTINGS,
    ),
    Case(
        "evaluate of a table run whose test CSV was edited (a category it never saw)",
        {"run": table_run_with_test, "t.csv": TABLE.replace("Dream", "Biscoe2")},
        ["evaluate", "{tmp}/run"],
        "Error: {tmp}/t.csv: the file changed since {tmp}/run was trained on it (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + MISLEAD,
    ),
    Case(
        "evaluate --data on the run's training CSV after a value became text",
        {"run": table_run_then(csv_edit("39.5", "n/a"))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/p.csv"],
        "Error: {tmp}/p.csv: the file changed since {tmp}/run was trained on it (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + MISLEAD,
    ),
    Case(
        "evaluate --data on the run's training HDF5 file written again with another shape",
        {"run": trained_then(h5_rewritten("train.h5", 8, (5, 5, 3)))},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/train.h5"],
        "Error: {tmp}/train.h5: the file changed since {tmp}/run was trained on it (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + MISLEAD,
    ),
    Case(
        "predict with a table run whose table.json classes were edited",
        {"run": table_run_then(lambda run: edit_json(run / "table.json", classes=["a", "b"]))},
        ["predict", "--run", "{tmp}/run", "{tmp}/p.csv"],
        "Error: {tmp}/run/table.json: does not match what training wrote (digest, recorded in params.h5); the file was edited or "
        "damaged; train the run again (nnctl train {tmp}/run/config.resolved.yaml) or restore the file from a copy",
    ),
]


# --- issue 20 round 6: sweeps ---


def interrupted_sweep(*interrupted):
    """A sweep of two trials (train.seed=1,2) run to the end, then the trials named in `interrupted`
    made what a stop leaves: status interrupted beside their parameters so far (params.h5, as a real
    interrupted trial keeps them), and the summary written again. Default: both."""

    def write(path):
        import json

        from nnctl.sweep.store import load_plan
        from nnctl.sweep.summary import write_summary

        finished_sweep()(path)
        for name in interrupted or ("01-seed=1", "02-seed=2"):
            metrics = path / name / "metrics.json"
            metrics.write_text(json.dumps({**json.loads(metrics.read_text()), "status": "interrupted"}))
        write_summary(path, load_plan(path))

    return write


def stopped_sweep(path):
    """A sweep of two trials stopped before either began (a Ctrl-C at once): its plan, summary and lock
    file, no trial folder."""
    from nnctl.errors import Interrupted
    from nnctl.sweep.run import run_sweep
    from nnctl.sweep.store import load_plan

    sweep_dir()(path)
    try:
        run_sweep(load_plan(path), path, jobs=1, should_stop=lambda: True)
    except Interrupted:
        pass
    assert not [p for p in path.iterdir() if p.is_dir()]


def plan_lost(path):
    (path / "sweep.json").unlink()


CASES += [
    Case(
        "runs show of a sweep folder whose trials have not run",
        {"s": sweep_dir()},
        ["runs", "show", "{tmp}/s"],
        "Error: {tmp}/s: is a sweep, not a run, and none of its 2 trials completed (2 not started); resume it with: nnctl sweep --resume {tmp}/s",
    ),
    *(
        Case(
            f"{cmd[0]} of a sweep whose trials were all interrupted",
            {"s": interrupted_sweep()},
            cmd,
            "Error: {tmp}/s: is a sweep, not a run, and none of its 2 trials completed (2 interrupted); resume it with: nnctl sweep --resume {tmp}/s",
        )
        for cmd in (["evaluate", "{tmp}/s"], ["runs", "show", "{tmp}/s"], ["predict", "--run", "{tmp}/s", "{tmp}/train.h5"])
    ),
    Case(
        "evaluate of a sweep with one trial completed and one interrupted",
        {"s": interrupted_sweep("02-seed=2")},
        ["evaluate", "{tmp}/s"],
        "Error: {tmp}/s: is a sweep of 2 trials, 1 of them completed (1 interrupted), not a run; pass one of its completed trials, "
        "e.g. the best: {tmp}/s/01-seed=1 (all of them: nnctl runs --runs-dir {tmp})",
    ),
    Case(
        "evaluate of a sweep stopped before any trial began, renamed",
        {"lr-search": stopped_sweep},
        ["evaluate", "{tmp}/lr-search"],
        "Error: {tmp}/lr-search: is a sweep, not a run, and none of its 2 trials completed (2 not started); "
        "resume it with: nnctl sweep --resume {tmp}/lr-search",
    ),
    Case(
        "runs show of a sweep stopped before any trial began, its sweep.json lost",
        {"lr-search": lambda p: (stopped_sweep(p), plan_lost(p))},
        ["runs", "show", "{tmp}/lr-search"],
        "Error: {tmp}/lr-search: is a sweep, not a run, with no trial and no plan (sweep.json) to resume; start the sweep again: nnctl sweep CONFIG ...",
    ),
]


# --- issue 20 round 6: data, part 2 ---
# reproduce.json records a validation file's SHA-256 and the data settings a run began with (data.normalize
# as resolved, data.validation): a resume names a changed validation file, or an edited data.normalize or
# data.validation of any run (HDF5, pictures, tables), before what they break. evaluate says which rows
# of a table it left out; predict's last line says why rows have no prediction.

VAL_SPEC = "data: {train: train.h5, validation: val.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 40, record_every: 10}\n"
FRACTION_SPEC = "data: {train: train.h5, validation: 0.25}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 40, record_every: 10}\n"


def interrupted_spec_run(spec, edit=lambda run: None, m=20):
    """A run on pictures (train.h5 of m 4x4 RGB examples, val.h5 of 6) stopped after 25 iterations, then `edit(run)`."""

    def write(path):
        course_h5(path.parent / "train.h5", m=m)
        course_h5(path.parent / "val.h5", m=6)
        edit(_interrupted(path.parent, path.name, spec))

    return write


def val_h5_rewritten(run):
    course_h5(run.parent / "val.h5", m=7)


def before_data_settings(run):
    """reproduce.json as a run begun before it recorded data settings and the validation file wrote it."""
    rec = json.loads((run / "reproduce.json").read_text())
    rec.pop("data_settings", None)
    rec["data"].pop("validation", None)
    (run / "reproduce.json").write_text(json.dumps(rec))


def interrupted_table_val_run(edit=lambda run: None):
    """A run on a small table with a validation table (v.csv), stopped after 2 iterations, then `edit(run)`."""

    def write(path):
        from nnctl.spec.config import load_config
        from nnctl.experiment.run import train_run

        (path.parent / "p.csv").write_text(TABLE)
        (path.parent / "v.csv").write_text(TABLE)
        (path.parent / "t.yaml").write_text("data: {train: p.csv, validation: v.csv, target: species}\ntrain: {epochs: 20}\n")
        calls = []
        summary = train_run(load_config(path.parent / "t.yaml"), runs_root=path.parent / "runs", should_stop=lambda: calls.append(1) or len(calls) == 2)
        Path(summary.run_dir).rename(path)
        shutil.rmtree(path.parent / "runs")
        edit(path)

    return write


DROP_TABLE = "species,island,bill_mm\nAdelie,Torgersen,39.1\nAdelie,Dream,\nAdelie,Dream,38.0\nGentoo,Biscoe,46.1\nGentoo,Biscoe,50.0\n"


def drop_table_run(path):
    """A finished run on a small table trained with data.missing: drop."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (path.parent / "p.csv").write_text(DROP_TABLE)
    (path.parent / "t.yaml").write_text("data: {train: p.csv, target: species, missing: drop}\ntrain: {epochs: 2}\n")
    Path(train_run(load_config(path.parent / "t.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)
    shutil.rmtree(path.parent / "runs")


CASES += [
    Case(
        "resume with a data entry in reproduce.json that is not an object",
        {"run": interrupted_run(write_file("reproduce.json", '{"data": {"train": 5}}'))},
        ["train", "--resume", "{tmp}/run"],
        "Error: {tmp}/run/reproduce.json: data: expected train, test and validation entries, each with its sha256 (got {'train': 5}); "
        "the file is damaged or was edited, so train the run again",
    ),
    Case(
        "resume of a run on pictures whose validation file (data.validation: FILE) was written again",
        {"run": interrupted_spec_run(VAL_SPEC, val_h5_rewritten)},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/val.h5: the validation data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of a table run whose validation CSV was edited",
        {"run": interrupted_table_val_run(lambda run: (run.parent / "v.csv").write_text(TABLE.replace("39.5", "41.0")))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/v.csv: the validation data file changed since the run began (its SHA-256 differs from the one in {tmp}/run/reproduce.json); " + CHANGED,
    ),
    Case(
        "resume of a run on pictures whose spec's data.normalize was edited (none to standardize)",
        {"run": interrupted_spec_run(VAL_SPEC, resolved_edit("normalize: none", "normalize: standardize"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.normalize: standardize in the spec, "
        "none when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a run begun before reproduce.json recorded data settings, its data.normalize edited (the checkpoint's is compared)",
        {"run": interrupted_spec_run(VAL_SPEC, lambda run: (before_data_settings(run), resolved_edit("normalize: none", "normalize: standardize")(run)))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.normalize: standardize in the spec, "
        "none when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a run on pictures whose spec's validation fraction was edited",
        {"run": interrupted_spec_run(FRACTION_SPEC, resolved_edit("validation: 0.25", "validation: 0.5"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.validation: 0.5 in the spec, "
        "0.25 when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a run on pictures whose spec's validation fraction was removed",
        {"run": interrupted_spec_run(FRACTION_SPEC, resolved_edit("validation: 0.25", "validation: null"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.validation: none in the spec, "
        "0.25 when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a run on pictures whose validation file was replaced by a fraction in its spec",
        {"run": interrupted_spec_run(VAL_SPEC, lambda run: edit_text("config.resolved.yaml", f"validation: {run.parent}/val.h5", "validation: 0.2")(run))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.validation: 0.2 in the spec, "
        "'{tmp}/val.h5' when the run started); " + SETTINGS,
    ),
    Case(
        "resume of a table run whose spec's validation fraction was added",
        {"run": interrupted_table_run(resolved_edit("validation: null", "validation: 0.5"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.validation: 0.5 in the spec, "
        "none when the run started); " + SETTINGS,
    ),
    Case(
        "resume with reproduce.json's data_settings.normalize edited to a value nnctl never records",
        {"run": interrupted_spec_run(VAL_SPEC, lambda run: edit_json(run / "reproduce.json", data_settings={"normalize": "auto", "validation": None}))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/reproduce.json: data_settings.normalize: expected none or standardize (got 'auto'); the file is damaged or was edited, "
        "so train the run again",
    ),
    Case(
        "evaluate of a table whose every row lacks the target or a value (run trained with data.missing: drop)",
        {"run": drop_table_run, "z.csv": "species,island,bill_mm\n,Dream,39.5\nGentoo,Biscoe,\n"},
        ["evaluate", "{tmp}/run", "--data", "{tmp}/z.csv"],
        "Error: {tmp}/z.csv: no rows left to score: 1 with a missing value (data.missing: drop, as the run was trained), 1 without a target "
        "'species'; give each row its 'species' and fill in the missing values (or train with data.missing: mean, median or most_frequent)",
    ),
    Case(
        "predict with a run trained with data.missing: drop on rows with a missing value",
        {"run": drop_table_run, "z.csv": "species,island,bill_mm\nAdelie,Dream,39.5\nGentoo,Biscoe,\n,Dream,\n"},
        ["predict", "--run", "{tmp}/run", "{tmp}/z.csv", "--csv"],
        "Error: {tmp}/z.csv: 2 of the 3 rows have a missing value and no prediction (listed with their line): the run was trained with "
        "data.missing: drop, which leaves such rows out of training and evaluate, not out of predict's output; fill the values in, or train "
        "with data.missing: mean, median or most_frequent",
        stdout_has="{tmp}/z.csv: line 3: a value is missing, so no prediction (the run was trained with data.missing: drop); fill it in",
    ),
    # --- issue 20 round 7: tables and messages ---
    Case(
        "validation fraction of 0 (a union key: one line saying what it accepts, no pydantic tags)",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.validation=0"],
        "Error: {tmp}/c.yaml (with --set data.validation=0): data.validation: a fraction between 0 and 1 (exclusive) or a file name (got 0)",
    ),
    Case(
        "validation fraction over 1",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.validation=1.5"],
        "Error: {tmp}/c.yaml (with --set data.validation=1.5): data.validation: a fraction between 0 and 1 (exclusive) or a file name (got 1.5)",
    ),
    Case(
        "validation given as a list",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.validation=[1]"],
        "Error: {tmp}/c.yaml (with --set data.validation=[1]): data.validation: a fraction between 0 and 1 (exclusive) or a file name (got [1])",
    ),
    Case(
        "table whose first line of numbers (read as data) alone names the --target column",
        {"t.csv": "0,1,2\n5,3,1\n4,3,2\n6,1,1\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "2"],
        "Error: {tmp}/t.csv: data.target: no column '2'; the file's first line ('0,1,2') was read as data, not as a header, as its names look "
        "like the data below; set data.header: true to read it as the header, or name the column as read (column1, column2, ...)",
    ),
    Case(
        "table whose first line of numbers (read as data) alone names a data.drop column (given as a YAML number)",
        {"t.csv": "0,1,2\n5,3,1\n4,3,2\n6,1,1\n"},
        ["train", "--data", "{tmp}/t.csv", "--set", "data.drop=[0]"],
        "Error: {tmp}/t.csv: data.drop: no column '0'; the file's first line ('0,1,2') was read as data, not as a header, as its names look "
        "like the data below; set data.header: true to read it as the header, or name the column as read (column1, column2, ...)",
    ),
]


# --- issue 20 round 7: data.header ---
CASES += [
    Case(
        "data.header given a word it does not take",
        {"t.csv": TABLE, "c.yaml": "data: {train: t.csv}\ntrain: {epochs: 1}\n"},
        ["train", "{tmp}/c.yaml", "--set", "data.header=maybe"],
        "Error: {tmp}/c.yaml (with --set data.header=maybe): data.header: auto, true or false: whether the first line of each table is its header (got 'maybe')",
    ),
    Case(
        "data.header on HDF5 data (not a table: refused, as every table key)",
        cfg(GOOD),
        ["train", "{tmp}/c.yaml", "--set", "data.header=true"],
        "Error: {tmp}/c.yaml (with --set data.header=true): data.header: for tables only (.csv, .tsv, .parquet); data.train is 'train.h5': "
        "leave data.header out",
    ),
    Case(
        "data.header: false, and --target names a field of the first line (read as a row, as asked)",
        {"t.csv": "a,b,y\n5,3,1\n4,3,2\n6,1,1\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y", "--set", "data.header=false"],
        "Error: {tmp}/t.csv: data.target: no column 'y'; the file's first line ('a,b,y') was read as data, as data.header: false says; "
        "set data.header: true to read it as the header, or name the column as read (column1, column2, ...)",
    ),
    Case(
        "data.header: true on a table of one line (the header, and no rows)",
        {"t.csv": "5,3,1\n"},
        ["train", "--data", "{tmp}/t.csv", "--set", "data.header=true"],
        "Error: {tmp}/t.csv: holds a header line but no rows of data; data.header: true made its one line the header: "
        "set data.header: false (data info: --header no) to read it as a row",
    ),
    Case(
        "resume of a table run whose spec's data.header was edited (auto when it began)",
        {"run": interrupted_table_run(resolved_edit("header: auto", "header: true"))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/config.resolved.yaml: its data settings are not those the run started with (data.header: true in the spec, "
        "auto when the run started); " + SETTINGS,
    ),
    Case(
        "data info --header given a word it does not take",
        {"t.csv": TABLE},
        ["data", "info", "{tmp}/t.csv", "--header", "maybe"],
        "Error: --header: auto, yes or no (got 'maybe'); yes reads a table's first line as its header, no as a row of data",
    ),
    Case(
        "data info --header on an HDF5 file",
        {"d.h5": course_h5},
        ["data", "info", "{tmp}/d.h5", "--header", "yes"],
        "Error: {tmp}/d.h5: --header: reads a table's first line (.csv, .tsv); this file is not a table: leave --header out",
    ),
    # --- issue 20 round 8: reading ---
    Case(
        "predict rows without a header whose first row has an empty cell (a missing value is data, never a header)",
        {"run": planar_run, "r.csv": ",1\n2,3\n4,5\n"},
        ["predict", "{tmp}/r.csv", "--run", "{tmp}/run", "--csv"],
        "Error: {tmp}/r.csv: data row 1 has values that are not numbers; the model takes 2 numbers per row",
    ),
    Case(
        "a training table that changed while it was read (here: 1 byte shorter than when it was opened)",
        {"t.csv": TABLE},
        ["train", "--data", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: the file changed while it was read (it was truncated); keep it unchanged while nnctl reads it, and run again",
        patches={"nnctl.data.tables.file_identity": shrunk_identity},
    ),
    Case(
        "rows to predict that changed while they were read (here: 1 byte shorter than when the file was opened)",
        {"run": planar_run, "r.csv": "1,2\n3,4\n"},
        ["predict", "{tmp}/r.csv", "--run", "{tmp}/run"],
        "Error: {tmp}/r.csv: the file changed while it was read (it was truncated); no row was scored; run again on a file that is not being written",
        patches={"nnctl.experiment.inference.file_identity": shrunk_identity},
    ),
    Case(
        "a table whose quote opened on line 3 is never closed",
        {"t.csv": 'a,b,y\n1,2,p\n3,"4,q\n5,6,p\n'},
        ["train", "--data", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: line 3: a quoted field opened on this line is never closed (the text runs on to the end of the file as one field); "
        'close the quote on that line, or write a quote inside a quoted field as two ("")',
    ),
    Case(
        "a table whose every line ends with a comma (an empty last column)",
        {"t.csv": "a,b,y,\n1,2,p,\n3,4,q,\n5,6,p,\n"},
        ["train", "--data", "{tmp}/t.csv", "--target", "y"],
        "Error: {tmp}/t.csv: column 'column4' is empty on every line (every line ends with a separator, which makes an empty last column); "
        "leave it out with data.drop: [column4], or remove the separator at the end of each line",
    ),
    # --- issue 20 round 8: tables and export ---
    Case(
        "numbers with a decimal comma in a semicolon CSV",
        {"t.csv": "a;b;c\n0,13;-0,13;yes\n1,5;2,25;no\n3;4,0;yes\n"},
        ["data", "info", "{tmp}/t.csv"],
        "Error: {tmp}/t.csv: line 2, column 'a': '0,13' is a number written with a comma (digit grouping or a decimal comma), "
        "so column 'a' would be read as text; write plain numbers (here 0.13): no grouping, a decimal point",
    ),
    Case(
        "a target of numbers with digit grouping",
        {"t.csv": 'x,price\n1,"1,120"\n2,"2,340"\n3,900\n'},
        ["train", "--data", "{tmp}/t.csv", "--target", "price"],
        "Error: {tmp}/t.csv: line 2, column 'price': '1,120' is a number written with a comma (digit grouping or a decimal comma), "
        "so column 'price' would be read as text; write plain numbers (here 1120, or 1.120 if the comma is a decimal comma): no grouping, a decimal point",
    ),
]


# --- issue 20 round 8: runs and sweeps ---
CASES += [
    Case(
        "predict given the HDF5 file a picture run was trained on (valid HDF5, not pictures)",
        {"run": trained_run},
        ["predict", "--run", "{tmp}/run", "{tmp}/train.h5"],
        "Error: {tmp}/train.h5: is an HDF5 data file; predict takes picture files or folders of them for this run ({tmp}/run); "
        "score an HDF5 file with: nnctl evaluate {tmp}/run --data {tmp}/train.h5",
    ),
    Case(
        "resume of a table run whose reproduce.json is gone and whose data file was edited (not its settings)",
        {"run": interrupted_table_run(lambda run: ((run / "reproduce.json").unlink(), (run.parent / "p.csv").write_text(TABLE + "Gentoo,Dream,60.0\n")))},
        ["train", "--resume", "{tmp}/run", "-q"],
        "Error: {tmp}/run/reproduce.json: missing, so the data the run started with (its SHA-256) cannot be checked, and the table "
        "encoding the data and settings give now is not the run's table.json; put the run's reproduce.json back from a copy "
        "(and its data file as it was), or train the run again: nnctl train {tmp}/run/config.resolved.yaml",
    ),
    Case(
        "train --resume given --runs-dir (ignored before: the run resumes in its own folder)",
        {"run": trained_run},
        ["train", "--resume", "{tmp}/run", "--runs-dir", "{tmp}/elsewhere"],
        "Error: --runs-dir {tmp}/elsewhere: --resume continues the run in its own folder ({tmp}/run); leave --runs-dir out",
    ),
]


# --- issue 20 round 8: damaged run files ---


def h5_attribute(name, key, text):
    """An attribute of the run's params.h5 (or checkpoint.h5) set to other text by hand."""

    def edit(run):
        with h5py.File(run / name, "r+") as f:
            f.attrs[key] = text

    return edit


PARAMS_TASK = (
    "{tmp}/run/params.h5: attribute 'task': 'regression' is not the JSON text nnctl writes there; the file was edited or damaged; "
    "restore it from a copy, or train the run again"
)
CASES += [
    Case(
        "evaluate with params.h5's task attribute edited to plain text (not JSON)",
        {"run": trained_then(h5_attribute("params.h5", "task", "regression"))},
        ["evaluate", "{tmp}/run"],
        "Error: " + PARAMS_TASK,
    ),
    Case(
        "runs show with params.h5's task attribute edited: named, not called missing",
        {"run": trained_then(h5_attribute("params.h5", "task", "regression"))},
        ["runs", "show", "{tmp}/run"],
        "",
        code=0,
        stdout_has="params.h5: damaged (attribute 'task': 'regression' is not the JSON text nnctl writes there)",
    ),
    Case(
        "export of a run whose reproduce.json is empty",
        {"run": trained_then(write_file("reproduce.json", ""))},
        ["export", "--run", "{tmp}/run", "-o", "{tmp}/m.npz"],
        "Error: {tmp}/run/reproduce.json: cannot be read (Expecting value: line 1 column 1 (char 0)); the file is damaged: "
        "restore it from a copy, or train the run again",
    ),
]


def render() -> str:
    lines = [
        "# Errors: what nnctl says, and its exit code",
        "",
        "Generated from `tests/error_cases.py`; `tests/test_errors.py` provokes every row for real and",
        "fails if this page and the table differ. `{tmp}` is the folder the files live in.",
        "",
        "| bad input | command | what nnctl says (stderr) | exit |",
        "| --- | --- | --- | --- |",
    ]
    for c in CASES:
        said = c.stderr.replace("\n", "<br>")
        if c.stdout_has:
            said += f"<br>and, for the file: `{c.stdout_has}`"
        cmd = "nnctl " + " ".join(c.args)
        lines.append(f"| {c.what} | `{cmd}` | {said.replace('|', '&#124;')} | {c.code} |")
    lines += [
        "",
        "Other exit codes: 130 after Ctrl-C and 143 after SIGTERM (the run is kept and `nnctl train --resume`",
        "continues it); any other failure is a bug and keeps its traceback.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
