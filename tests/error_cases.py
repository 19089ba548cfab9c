"""The catalogue of bad input: what nnctl says and its exit code, one row per case.

`tests/test_errors.py` provokes every case for real and checks the message; it also checks that
docs/errors.md is this table, rendered. After changing a case, regenerate the page with
`python tests/error_cases.py > docs/errors.md`.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

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
    from nnctl.config import load_config
    from nnctl.experiment import train_run

    course_h5(path.parent / "train.h5")
    (path.parent / "good.yaml").write_text(GOOD)
    summary = train_run(load_config(path.parent / "good.yaml"), runs_root=path.parent / "runs")
    Path(summary.run_dir).rename(path)  # a stable name for the table


def planar_run(path):
    from nnctl.config import load_config
    from nnctl.experiment import train_run

    (path.parent / "flower.yaml").write_text(
        "data: {train: 'builtin:planar'}\nmodel: {hidden: [2], hidden_activation: tanh}\ntrain: {learning_rate: 1, iterations: 5}\n"
    )
    Path(train_run(load_config(path.parent / "flower.yaml"), runs_root=path.parent / "runs").run_dir).rename(path)


def edited_interrupted_run(path):
    """A run stopped after 2 iterations whose config.resolved.yaml was edited afterwards."""
    from nnctl.config import load_config
    from nnctl.experiment import train_run

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

    from nnctl.config import load_config
    from nnctl.experiment import train_run

    course_h5(path.parent / "train.h5")
    (path.parent / "mb.yaml").write_text(GOOD.replace("iterations: 5", "epochs: 5, batch_size: 3"))
    calls = []
    summary = train_run(load_config(path.parent / "mb.yaml"), runs_root=path.parent / "runs", should_stop=lambda: calls.append(1) or len(calls) == 4)
    Path(summary.run_dir).rename(path)
    with h5py.File(path / "checkpoint.h5", "a") as f:
        f.attrs["batch"] = json.dumps(99)


def cfg(text):
    return {"train.h5": course_h5, "c.yaml": text}


Usage = namedtuple("Usage", "total used free")

CASES = [
    # ---- the spec
    Case("config file missing", {}, ["train", "{tmp}/nope.yaml"], "Error: {tmp}/nope.yaml: no such config file"),
    Case("config path is a directory", {}, ["train", "{tmp}"], "Error: {tmp}: is a directory; give a YAML config file such as configs/quickstart.yaml"),
    Case("YAML that is not a mapping", cfg("- 1\n- 2\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: the spec must be a YAML mapping with data, model and train sections (got a list)"),
    Case("empty YAML", cfg(""), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: the spec must be a YAML mapping with data, model and train sections (got an empty file)"),
    Case("YAML syntax error", cfg("data: [\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: line 2: not valid YAML: expected the node content, but found '<stream end>'"),
    Case("duplicate key", cfg(GOOD + "train: {learning_rate: 1, iterations: 1}\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: line 4: not valid YAML: duplicate key 'train'; keep one"),
    Case("YAML alias bomb", cfg("a: &a [x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefghijklm", "bcdefghijklmn"))),
         ["train", "{tmp}/c.yaml"], "Error: {tmp}/c.yaml: too many YAML aliases; write the values out"),
    Case("huge YAML document", cfg("a: " + "x" * (1 << 20) + "\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: the file is over 1024 KiB; a spec is a short YAML mapping"),
    Case("misspelt key", cfg(GOOD.replace("learning_rate", "learing_rate")), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: train.learing_rate: unknown key; did you mean 'learning_rate'? (valid keys: learning_rate, iterations, seed, "
         "record_every, dtype, checkpoint_every, blas_threads, first_layer, epochs, batch_size, shuffle, optimizer, beta, beta1, beta2, epsilon, "
         "decay, decay_rate, time_interval)"),
    Case("wrong type", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.iterations=many"],
         "Error: {tmp}/c.yaml (with --set train.iterations=many): train.iterations: must be a valid integer, unable to parse string as an integer (got 'many')"),
    Case("learning rate ≤ 0", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.learning_rate=0"],
         "Error: {tmp}/c.yaml (with --set train.learning_rate=0): train.learning_rate: must be greater than 0 (got 0)"),
    Case("iterations < 1", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.iterations=0"],
         "Error: {tmp}/c.yaml (with --set train.iterations=0): train.iterations: must be greater than or equal to 1 (got 0)"),
    Case("unknown activation", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "model.hidden_activation=swish"],
         "Error: {tmp}/c.yaml (with --set model.hidden_activation=swish): model.hidden_activation: must be 'sigmoid', 'tanh', 'relu', 'leaky_relu' or 'linear' (got 'swish')"),
    Case("layer of size 0", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "model.hidden=[3, 0]"],
         "Error: {tmp}/c.yaml (with --set model.hidden=[3, 0]): model.hidden.1: must be greater than 0 (got 0)"),
    Case("zero init with hidden layers", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "model.init=zeros"],
         "Error: {tmp}/c.yaml (with --set model.init=zeros): model.init: 'zeros' makes every hidden unit compute the same function, so they never become different (symmetry is not broken); use xavier, he or normal, or no hidden layers"),
    Case("malformed --set", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "learning_rate"],
         "Error: --set learning_rate: expected key.path=value, e.g. --set train.learning_rate=0.01"),
    # ---- data files
    Case("data file missing", {"c.yaml": GOOD}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: no such data file; check the path (relative paths are read from the config file's folder)"),
    Case("data path is a directory", {"c.yaml": GOOD.replace("train.h5", "."), }, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}: is a directory, not an HDF5 data file"),
    Case("data file is not HDF5", {"c.yaml": GOOD, "train.h5": b"GIF89a not hdf5"}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: not an HDF5 file; give a .h5 file in the course or plain layout"),
    Case("truncated HDF5 file", {"c.yaml": GOOD, "train.h5": truncated_h5}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: damaged HDF5 file (truncated or partly written); write or download it again"),
    Case("unknown layout", {"c.yaml": GOOD, "train.h5": plain_h5(images=np.zeros((3, 2)), labels=np.zeros(3))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: no known layout: expected 'train_set_x'/'train_set_y' or 'test_set_x'/'test_set_y' (course) or 'x'/'y' (plain); the file holds: images (3, 2) float64, labels (3,) float64"),
    Case("NaN or inf in x", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.array([[0.0, np.inf], [1, 2]]), y=np.array([0, 1]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: x holds NaN or infinite values; clean the data first"),
    Case("x of the wrong dtype", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.array([b"a", b"b"]), y=np.array([0, 1]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: x has dtype |S1; expected numbers (uint8 pixels or floats)"),
    Case("labels outside the task", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((3, 2)), y=np.array([0, 1, 7]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: labels [7] are outside the task: a sigmoid output needs labels 0 or 1 (for regression use a linear output)"),
    Case("x and y counts differ", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((4, 2)), y=np.array([0, 1]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: x holds 4 examples but y has shape (2,); y needs one label per example, shape (4,)"),
    Case("zero examples", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((0, 2)), y=np.zeros(0))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: holds zero examples (x has shape (0, 2)); a dataset needs at least one"),
    Case("first layer does not match the data", cfg(GOOD.replace("hidden: [3]", "layers: [10, 3, 1]")), ["train", "{tmp}/c.yaml"],
         "Error: model.layers starts with 10 but {tmp}/train.h5 holds examples of 48 features (input shape [4, 4, 3]); set model.layers[0] to 48, or give model.hidden and let the data decide"),
    # ---- before the work
    Case("runs directory not writable", {**cfg(GOOD), "blocker": "a file"}, ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/blocker/runs"],
         "Error: {tmp}/blocker/runs: cannot create the runs directory (Not a directory); choose another with --runs-dir"),
    Case("network too big for memory", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "model.hidden=[100000000]"],
         "Error: the network's arrays need about 134.1 GiB (parameters and gradients: 74.5 GiB, activations and dZ: 11.9 GiB, "
         "dual path (G, P, C, W1_0): 47.7 GiB) but only 1.0 GiB of memory is available; use train.dtype: float32, fewer examples or smaller layers",
         patches={"nnctl.experiment.available_memory": lambda: 1 << 30}),
    Case("disk too full for the run's files", cfg(GOOD), ["train", "{tmp}/c.yaml", "--runs-dir", "{tmp}/runs"],
         "Error: {tmp}/runs: the run's files need about 2.0 MiB but only 1.0 KiB is free on that disk; free some space or choose another place with --runs-dir",
         patches={"shutil.disk_usage": lambda p: Usage(1 << 40, 1 << 40, 1024)}),
    # ---- training
    Case("diverging run", {"c.yaml": "data: {train: r.h5}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 100}\n",
                           "r.h5": plain_h5(x=np.linspace(-100, 100, 40).reshape(40, 1), y=np.linspace(-100, 100, 40))},
         ["train", "{tmp}/c.yaml", "-q", "--runs-dir", "{tmp}/runs"],
         "Error: training diverged at iteration 67: the gradient is no longer finite with learning_rate=10; try a smaller learning_rate. Run kept at {tmp}/runs/{run} (status: diverged)", code=3),
    Case("resume a finished run", {"run": trained_run}, ["train", "--resume", "{tmp}/run"],
         "Error: {tmp}/run: the run already completed; nothing to resume"),
    # ---- runs and pictures
    Case("run directory missing", {}, ["predict", "{tmp}/a.png", "--run", "{tmp}/nope"],
         "Error: {tmp}/nope: no such run directory; train one with `nnctl train CONFIG` or pass --run"),
    Case("model that does not take pictures", {"run": planar_run, "a.png": png}, ["predict", "{tmp}/a.png", "--run", "{tmp}/run"],
         "Error: {tmp}/run: this model takes inputs of shape [2], not pictures; use `nnctl evaluate` with an HDF5 file instead"),
    Case("image file missing", {"run": trained_run}, ["predict", "{tmp}/nope.png", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/nope.png: no such file"'),
    Case("empty image file", {"run": trained_run, "e.jpg": b""}, ["predict", "{tmp}/e.jpg", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/e.jpg: empty file, not an image"'),
    Case("file that is not an image", {"run": trained_run, "n.jpg": b"%PDF-1.4 not a picture"}, ["predict", "{tmp}/n.jpg", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/n.jpg: not an image Pillow can read"'),
    Case("truncated image", {"run": trained_run, "t.jpg": truncated_jpg}, ["predict", "{tmp}/t.jpg", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/t.jpg: damaged or truncated image; take the original file again"'),
    Case("decompression bomb", {"run": trained_run, "a.png": png}, ["predict", "{tmp}/a.png", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/a.png: 20×20 is over 100 pixels, refused as a possible decompression bomb"',
         patches={"nnctl.images.MAX_PIXELS": 100}),
    Case("image path is a directory", {"run": trained_run, "d/.keep": b""}, ["predict", "{tmp}/d", "--run", "{tmp}/run"],
         "Error: no image files found in {tmp}/d"),
    # --- core ---
    Case("full-batch iterations with mini-batches", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.batch_size=4"],
         "Error: {tmp}/c.yaml (with --set train.batch_size=4): train.iterations counts full-batch steps; with train.batch_size give train.epochs instead"),
    Case("neither epochs nor iterations", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.iterations=null"],
         "Error: {tmp}/c.yaml (with --set train.iterations=null): train: give train.epochs (passes over the data) or train.iterations (full-batch steps), one of them"),
    Case("dual path forced where it is not exact", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.optimizer=adam", "--set", "train.first_layer=dual"],
         "Error: {tmp}/c.yaml (with --set train.optimizer=adam --set train.first_layer=dual): train.first_layer: dual is not exact here "
         "(the optimizer's element-wise division by its moments is not linear in the examples); use auto or primal"),
    Case("unknown optimizer", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.optimizer=sgd"],
         "Error: {tmp}/c.yaml (with --set train.optimizer=sgd): train.optimizer: must be 'gd', 'momentum', 'rmsprop' or 'adam' (got 'sgd')"),
    Case("checkpoint of other settings", {"run": edited_interrupted_run}, ["train", "--resume", "{tmp}/run"],
         "Error: {tmp}/run/checkpoint.h5: the checkpoint was written for other model or train settings than the run's spec; train it again"),
    Case("checkpoint out of its epoch", {"run": checkpoint_out_of_its_epoch}, ["train", "--resume", "{tmp}/run"],
         "Error: {tmp}/run/checkpoint.h5: the checkpoint's position or learning rate does not fit the run's spec; train the run again"),
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
