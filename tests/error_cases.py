"""The catalogue of bad input: what nnctl says and its exit code, one row per case.

`tests/test_errors.py` provokes every case for real and checks the message; it also checks that
docs/errors.md is this table, rendered. After changing a case, regenerate the page with
`python tests/error_cases.py > docs/errors.md`.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
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
         ["train", "{tmp}/c.yaml"], "Error: {tmp}/c.yaml: too many YAML aliases: the document expands to over 100,000 values; write the values out"),
    Case("huge YAML document", cfg("a: " + "x" * (1 << 20) + "\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: the file is over 1024 KiB; a spec is a short YAML mapping"),
    Case("misspelt key", cfg(GOOD.replace("learning_rate", "learing_rate")), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: train.learing_rate: unknown key; did you mean 'learning_rate'? (valid keys: learning_rate, iterations, seed, "
         "record_every, dtype, checkpoint_every, blas_threads, first_layer)"),
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
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/a.png: 20×20 = 400 pixels is over the limit of 100 (a guard against decompression bombs); if you trust the file, raise it with --max-pixels 400"',
         patches={"nnctl.images.MAX_PIXELS": 100}),
    Case("image path is a directory", {"run": trained_run, "d/.keep": b""}, ["predict", "{tmp}/d", "--run", "{tmp}/run"],
         "Error: no image files found in {tmp}/d"),
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
DANGLING = ("'x' is an external link to '/x' in missing.h5, which cannot be opened (that file or the array in it is missing); "
            "put missing.h5 back beside {name}, or write the array into {name} itself")
FIFO_DATA = "is a named pipe (FIFO), not a regular file; give an HDF5 data file (.h5)"
FIFO_SPEC = "not a regular file; give a YAML config file (or pipe the spec in: cat spec.yaml | nnctl train /dev/stdin)"
SMALL = plain_h5(x=np.zeros((2, 2)), y=np.array([0, 1]))

CASES += [
    Case("builtin option that is not a number", cfg(GOOD), ["config", "show", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=abc"],
         BUILTIN % ("m=abc", "m=abc", "m must be a whole number of at least 2 (got 'abc')")),
    Case("builtin option without a value", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m"],
         BUILTIN % ("m", "m", "'m' is not key=value; write the options as builtin:planar?m=400&seed=1")),
    Case("builtin seed below 0", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?seed=-1"],
         BUILTIN % ("seed=-1", "seed=-1", "seed must be a whole number from 0 to 4294967295 (got -1)")),
    Case("builtin m below 2", cfg(GOOD), ["config", "show", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=-5"],
         BUILTIN % ("m=-5", "m=-5", "m must be a whole number of at least 2 (got -5)")),
    Case("builtin option unknown", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?size=3"],
         BUILTIN % ("size=3", "size=3", "unknown option 'size'; planar takes m, seed, noise")),
    Case("builtin m too big for memory", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "data.train=builtin:planar?m=100000000"],
         "Error: builtin:planar: m=100,000,000 examples need about 6.0 GiB of memory but only 1.0 GiB is available; use a smaller m",
         patches={"nnctl.memory.available_memory": lambda: 1 << 30}),
    Case("seed beyond 2**32 - 1", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "train.seed=4294967296"],
         "Error: {tmp}/c.yaml (with --set train.seed=4294967296): train.seed: must be less than or equal to 4294967295 (got 4294967296)"),
    Case("name with a space", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "name=my run"],
         "Error: {tmp}/c.yaml (with --set name=my run): name: use only letters, digits, '_', '.' and '-' (no spaces or slashes), "
         "e.g. 'my-run' (got 'my run')"),
    Case("sigmoid output with loss: mse", cfg(GOOD), ["train", "{tmp}/c.yaml", "--set", "model.loss=mse"],
         "Error: {tmp}/c.yaml (with --set model.loss=mse): model.loss: mse with a sigmoid output trains a regression squeezed into (0, 1), "
         "not a classifier; for a classifier use loss: cross_entropy (or auto), for a regression use output_activation: linear"),
    Case("YAML nested 600 deep", cfg(GOOD + "x: " + "[" * 600 + "]" * 600 + "\n"), ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: nested over 64 levels deep; a spec is a short, flat mapping"),
    Case("YAML of 81 aliases in a value", cfg("a: &a [x, x, x, x, x, x, x, x, x]\n"
                                              + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefghi", "bcdefghij"))
                                              + GOOD.replace("0.1", "*j")),
         ["train", "{tmp}/c.yaml"], "Error: {tmp}/c.yaml: too many YAML aliases: the document expands to over 100,000 values; write the values out"),
    Case("spec is a named pipe (FIFO)", {"c.yaml": fifo}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/c.yaml: is a named pipe (FIFO), " + FIFO_SPEC),
    Case("spec is a device", {}, ["config", "show", "/dev/zero"], "Error: /dev/zero: is a character device, " + FIFO_SPEC),
    Case("data file is a named pipe (FIFO)", {"c.yaml": GOOD, "train.h5": fifo}, ["train", "{tmp}/c.yaml"], "Error: {tmp}/train.h5: " + FIFO_DATA),
    Case("data file is a FIFO, config show", {"c.yaml": GOOD, "train.h5": fifo}, ["config", "show", "{tmp}/c.yaml"], "Error: {tmp}/train.h5: " + FIFO_DATA),
    Case("data info on a FIFO", {"d.h5": fifo}, ["data", "info", "{tmp}/d.h5"], "Error: {tmp}/d.h5: " + FIFO_DATA),
    Case("evaluate --data on a FIFO", {"run": trained_run, "d.h5": fifo}, ["evaluate", "{tmp}/run", "--data", "{tmp}/d.h5"], "Error: {tmp}/d.h5: " + FIFO_DATA),
    Case("x is a group", {"c.yaml": GOOD, "train.h5": group_h5}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: 'x' is a group (a folder of 0 items), not an array; store the data as one array under 'x'"),
    Case("x is a dangling external link", {"c.yaml": GOOD, "train.h5": dangling_link_h5}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: " + DANGLING.format(name="train.h5")),
    Case("data info with a dangling external link", {"d.h5": dangling_link_h5}, ["data", "info", "{tmp}/d.h5"],
         "Error: {tmp}/d.h5: " + DANGLING.format(name="d.h5")),
    Case("x with no features, shape (m, 0)", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.zeros((4, 0)), y=np.array([0, 1, 0, 1]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: x has shape (4, 0): its examples have no features; store at least one value per example, shape (4, n)"),
    Case("x of complex numbers", {"c.yaml": GOOD, "train.h5": plain_h5(x=np.ones((2, 2), dtype=complex), y=np.array([0, 1]))}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: x has dtype complex128; expected numbers (uint8 pixels or floats)"),
    Case("HDF5 file that declares more than memory", {"c.yaml": GOOD, "train.h5": huge_declared_h5}, ["train", "{tmp}/c.yaml"],
         "Error: {tmp}/train.h5: 'x' declares 10000000×64×64×3 values; reading it takes about 1.0 TiB (114.4 GiB of uint8 as stored + 915.5 GiB as float64) "
         "but only 1.0 GiB of memory is available; use fewer examples or smaller pictures",
         patches={"nnctl.memory.available_memory": lambda: 1 << 30}),
    Case("data make over an existing file", {"p.h5": SMALL}, ["data", "make", "planar", "-o", "{tmp}/p.h5"],
         "Error: {tmp}/p.h5: already exists; pass --force to replace it, or choose another -o"),
    Case("data make -o a directory", {}, ["data", "make", "planar", "-o", "{tmp}"],
         "Error: {tmp}: is a directory; give a file name for -o, e.g. {tmp}/data.h5"),
    Case("data make -o under a file", {"blocker": "a file"}, ["data", "make", "planar", "-o", "{tmp}/blocker/p.h5"],
         "Error: {tmp}/blocker/p.h5: cannot write here (Not a directory); choose another -o"),
    Case("data make -o where nothing can be written", {}, ["data", "make", "planar", "-o", "/proc/p.h5"],
         "Error: /proc/p.h5: cannot write in /proc (No such file or directory); choose another -o"),
    Case("data make -o a device", {}, ["data", "make", "planar", "-o", "/dev/null", "--force"],
         "Error: /dev/null: is a character device, not a regular file; choose another -o"),
    Case("data import over an existing file", {"photos": photos, "pets.h5": b"keep me"}, ["data", "import", "{tmp}/photos", "-o", "{tmp}/pets.h5", "-q"],
         "Error: {tmp}/pets.h5: already exists; pass --force to replace it, or choose another -o"),
    Case("data import -o a directory", {"photos": photos}, ["data", "import", "{tmp}/photos", "-o", "{tmp}/photos", "-q"],
         "Error: {tmp}/photos: is a directory; give a file name for -o, e.g. {tmp}/photos/data.h5"),
    Case("data import -o where nothing can be written", {"photos": photos}, ["data", "import", "{tmp}/photos", "-o", "/proc/pets.h5", "-q"],
         "Error: /proc/pets.h5: cannot write in /proc (No such file or directory); choose another -o"),
    Case("data import --classes naming one folder twice", {"photos": photos}, ["data", "import", "{tmp}/photos", "-o", "{tmp}/p.h5", "--classes", "cat,cat"],
         "Error: --classes cat,cat: cat is named more than once; give two different class folders, negative first, e.g. --classes non-cat,cat"),
    Case("data import with one class folder", {"photos/cat/a.png": png}, ["data", "import", "{tmp}/photos", "-o", "{tmp}/p.h5"],
         "Error: {tmp}/photos: found 1 class folder (cat); nnctl trains binary classifiers, so give exactly two (or choose them with --classes a,b)"),
    Case("--preview-out a directory", {"p.h5": SMALL}, ["data", "info", "{tmp}/p.h5", "--preview-out", "{tmp}"],
         "Error: {tmp}: is a directory; give a file name for --preview-out, e.g. {tmp}/data.png"),
    Case("--preview-out not a PNG", {"p.h5": SMALL}, ["data", "info", "{tmp}/p.h5", "--preview-out", "{tmp}/p.h5"],
         "Error: {tmp}/p.h5: the preview is a PNG picture; give a file name ending in .png with --preview-out"),
    Case("--preview-out where nothing can be written", {"p.h5": SMALL}, ["data", "info", "{tmp}/p.h5", "--preview-out", "/proc/p.png"],
         "Error: /proc/p.png: cannot write in /proc (No such file or directory); choose another --preview-out"),
    Case("picture with a truncated IHDR (ValueError)", {"run": trained_run, "t.png": truncated_ihdr_png}, ["predict", "{tmp}/t.png", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read",
         stdout_has='"error": "{tmp}/t.png: damaged image (ValueError: Truncated IHDR chunk); take the original file again"'),
    Case("picture with a bad PPM header (ValueError)", {"run": trained_run, "b.ppm": bad_header_ppm}, ["predict", "{tmp}/b.ppm", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read",
         stdout_has="\"error\": \"{tmp}/b.ppm: damaged image (ValueError: invalid literal for int() with base 10: b'1x'); take the original file again\""),
    Case("picture with bad EXIF (struct.error)", {"run": trained_run, "e.jpg": bad_exif_jpg}, ["predict", "{tmp}/e.jpg", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read",
         stdout_has='"error": "{tmp}/e.jpg: damaged image (error: required argument is not an integer); take the original file again"'),
    Case("data import that needs more memory than there is", {"photos": photos}, ["data", "import", "{tmp}/photos", "-o", "{tmp}/p.h5", "--size", "4096"],
         "Error: {tmp}/photos: 4 pictures of 4096×4096 RGB need about 384.0 MiB of memory but only 1.0 MiB is available; use a smaller --size or fewer pictures",
         patches={"nnctl.memory.available_memory": lambda: 1 << 20}),
    Case("picture path is a FIFO", {"run": trained_run, "f.png": fifo}, ["predict", "{tmp}/f.png", "--run", "{tmp}/run", "--json"],
         "Error: 1 of 1 files could not be read", stdout_has='"error": "{tmp}/f.png: is a named pipe (FIFO), not a regular file"'),
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
