"""Hypothesis strategies that draw valid specs from the whole spec space (issue 19).

A drawn `Case` is a data source (tiny: a built-in generator, HDF5 files in the course and plain
layouts, an image-folder import, CSV/TSV tables, all written once per session by `make_sources`) and a spec as the
YAML mapping a user writes, with the data paths left as roles (`@train`, `@test`, `@validation`)
that `Case.spec_for(files, runs_dir)` fills in.

How to extend it (a new spec key is one row):
- a key of data, model or train: add a row to `DATA`, `MODEL` or `TRAIN` below: the key and a
  function `(draw, ctx) -> value` (return `OMIT` to leave the key out: its default). Rows run in
  order and may read what earlier rows put in `ctx.spec` and `ctx` (the source, its task, the
  hidden sizes). A key of a new section: a table of its own in `SECTIONS`.
- a new data source (a Parquet table, another layout): a row of `SOURCES` and its files in
  `make_sources` (tables: `make_tables`; their keys are drawn by `_table` from the row's columns).
- `tests/test_combinations.py::test_every_spec_key_is_drawn` compares these tables with the pydantic
  models of nnctl/spec/config.py and fails, naming the key, until a new key has its row (or is in
  `NOT_DRAWN` with the reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
from hypothesis import strategies as st
from PIL import Image

from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.spec.config import DataSpec, EarlyStoppingSpec, ModelSpec, SearchSpec, Spec, SweepSpec, TrainSpec
from nnctl.core.firstlayer import AUTO, FIRST_LAYERS, DualFirstLayer
from nnctl.core.network import INIT_NAMES
from nnctl.core.optimizers import OPTIMIZER_NAMES, OPTIMIZERS, SCHEDULE_NAMES
from nnctl.core.training import SHUFFLES

OMIT = object()  # a row's answer for "leave the key out"


# ---------------------------------------------------------------- data sources


@dataclass(frozen=True)
class Source:
    name: str
    task: str  # binary | multi | regression
    n_x: int
    m: int  # training examples
    k: int  # classes (0: a regression)
    files: bool  # HDF5 files (streamable), not a built-in generator
    test: bool = True
    validation_file: bool = True
    kind: str = "table"  # what `predict` takes from it: table (an HDF5 file), picture, or csv (a CSV/TSV table)
    target: str = ""  # csv: the target column ("" with last_target: the last column, left out of the spec at times)
    columns: tuple = ()  # csv: the feature columns, (name, width once encoded): a text column's categories
    gaps: bool = False  # csv: missing cells in the training file
    unseen_in_predict: bool = False  # csv: the predict file holds a category the training rows never had
    last_target: bool = False  # csv: the target is the last column (data.target may be left out)


SOURCES = {
    s.name: s
    for s in (
        Source("planar", "binary", 2, 40, 2, files=False),
        Source("spiral", "multi", 2, 45, 3, files=False),
        Source("course", "binary", 48, 24, 2, files=True, kind="picture"),  # uint8 4x4x3 pictures, course layout
        Source("plain-k", "multi", 3, 30, 3, files=True),  # float features, plain layout, a class list
        Source("plain-1d", "binary", 1, 30, 2, files=True, validation_file=False),  # x stored as (m,)
        Source("regression", "regression", 2, 30, 0, files=True),  # float targets
        Source("images", "multi", 27, 21, 3, files=True, validation_file=False, kind="picture"),  # data import of 3 folders
        # CSV/TSV tables (docs/tables.md): numbers, a text column one-hot encoded, a text or numeric target
        Source(
            "csv-binary", "binary", 0, 30, 2, files=True, kind="csv", target="label", last_target=True, columns=(("a", 1), ("b", 1), ("colour", 3), ("id", 1))
        ),  # comma, text labels yes/no, no gaps
        Source(
            "csv-multi",
            "multi",
            0,
            30,
            3,
            files=True,
            kind="csv",
            target="species",
            gaps=True,
            unseen_in_predict=True,
            columns=(("a", 1), ("colour", 3), ("b", 1)),
        ),  # ';', a BOM, gaps (one a target), target not last
        Source(
            "tsv-reg", "regression", 0, 30, 0, files=True, kind="csv", target="y", columns=(("a", 1), ("b", 1), ("colour", 3), ("grade", 1))
        ),  # tab (.tsv), a float target
        Source(
            "tsv-grade", "multi", 0, 30, 3, files=True, kind="csv", target="grade", columns=(("a", 1), ("b", 1), ("colour", 3), ("y", 1))
        ),  # the same file, whole numbers 0-2 as classes
    )
}

BUILTINS = {
    "planar": ("builtin:planar?m=40", "builtin:planar?m=20&seed=2", "builtin:planar?m=20&seed=3"),
    "spiral": ("builtin:spiral?k=3&m=45", "builtin:spiral?k=3&m=21&seed=2", "builtin:spiral?k=3&m=21&seed=3"),
}


def make_sources(folder: Path, invoke) -> dict:
    """Write every source's files into `folder`: {name: {"train": ..., "test": ..., "validation": ..., "pictures": [...]}}.
    `invoke` is the in-process CLI (conftest.invoke): the image source goes through `nnctl data import`."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = {name: dict(zip(("train", "test", "validation"), paths)) for name, paths in BUILTINS.items()}
    rng = np.random.default_rng(19)

    def course(path, prefix, m, seed):
        r = np.random.default_rng(seed)
        y = (np.arange(m) % 2).astype(np.int64)
        x = r.integers(0, 128, size=(m, 4, 4, 3)).astype(np.uint8)
        x[y == 1] += 127
        with h5py.File(path, "w") as f:
            f[f"{prefix}_set_x"], f[f"{prefix}_set_y"] = x, y
            f["list_classes"] = np.array([b"dark", b"bright"])
        return str(path)

    out["course"] = {
        "train": course(folder / "course-train.h5", "train", 24, 0),
        "test": course(folder / "course-test.h5", "test", 10, 1),
        "validation": course(folder / "course-val.h5", "test", 10, 2),
        "pictures": [str(folder / "dark.png"), str(folder / "bright.jpg")],
    }
    Image.fromarray(np.full((4, 4, 3), 40, np.uint8)).save(folder / "dark.png")
    Image.fromarray(np.full((8, 6, 3), 230, np.uint8)).save(folder / "bright.jpg")  # resized to 4 x 4 by predict

    def plain(path, m, kind, seed):
        r = np.random.default_rng(seed)
        with h5py.File(path, "w") as f:
            if kind == "plain-k":
                y = np.arange(m) % 3
                f["x"] = r.standard_normal((m, 3)) + 2.0 * np.eye(3)[y]
                f["y"] = y.astype(np.uint8)
                f["classes"] = np.array([b"red", b"green", b"blue"])
            elif kind == "plain-1d":
                x = r.standard_normal(m) * 3 + 5  # of another scale than order one: auto standardises it
                f["x"], f["y"] = x, (x > 5).astype(np.int64)
            else:
                x = r.standard_normal((m, 2))
                f["x"], f["y"] = x, (1.5 * x[:, 0] - x[:, 1] + 0.1 * r.standard_normal(m)).astype(np.float64)
        return str(path)

    for kind in ("plain-k", "plain-1d", "regression"):
        out[kind] = {role: plain(folder / f"{kind}-{role}.h5", m, kind, seed) for role, m, seed in (("train", 30, 0), ("test", 12, 1), ("validation", 12, 2))}
    out["plain-1d"]["validation"] = None

    pictures = folder / "pictures"
    for c, colour in enumerate(((220, 30, 30), (30, 200, 30), (30, 30, 220))):
        (pictures / f"c{c}").mkdir(parents=True, exist_ok=True)
        for j in range(10):
            pixels = np.clip(np.array(colour) + rng.integers(-30, 30, size=(5, 5, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(pictures / f"c{c}" / f"{j}.png")
    imported = folder / "images.h5"
    result = invoke("data", "import", pictures, "--size", "3", "--test-fraction", "0.3", "--seed", "1", "--classes", "c0,c1,c2", "-o", imported, "--quiet")
    assert result.exit_code == 0, result.output
    out["images"] = {"train": str(imported), "test": str(imported), "validation": None, "pictures": [str(pictures / f"c{c}" / "0.png") for c in range(3)]}
    out.update(make_tables(folder))
    return out


COLOURS = ("red", "green", "blue")


def make_tables(folder: Path) -> dict:
    """The CSV/TSV sources' files: train, test, validation (with the target), predict (the same
    columns, in another order; csv-multi's with a colour training never saw)."""
    out = {}

    def rows(m, seed, kind):
        r = np.random.default_rng(seed)
        for i in range(m):
            c = i % 3
            colour = COLOURS[(i + (i // 3)) % 3]
            a, b = r.standard_normal() + 2.0 * (c == 1), r.standard_normal() * 10 + 20 * (c == 2)
            if kind == "csv-binary":
                yield {"a": f"{a:.3f}", "b": f"{b:.2f}", "colour": colour, "id": str(i), "label": ("no", "yes")[i % 2]}
            elif kind == "csv-multi":
                yield {"a": f"{a:.3f}", "colour": colour, "species": ("Adelie", "Gentoo", "Chinstrap")[c], "b": f"{b:.2f}"}
            else:
                y = 1.5 * a - 0.05 * b + 0.1 * r.standard_normal()
                yield {"a": f"{a:.3f}", "b": f"{b:.2f}", "colour": colour, "grade": str(c), "y": f"{y:.4f}"}

    def write(path, records, sep, bom=False, drop=(), order=None, gaps=(), unseen=False):
        records = [dict(rec) for rec in records]
        names = [n for n in (order or list(records[0])) if n not in drop]
        for line, col, value in gaps:
            records[line][col] = value
        if unseen:
            records[1]["colour"] = "purple"
        text = sep.join(names) + "\n" + "".join(sep.join(rec[n] for n in names) + "\n" for rec in records)
        Path(path).write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
        return str(path)

    gaps = ((2, "a", ""), (5, "colour", "NA"), (7, "b", "?"), (10, "species", ""))
    for kind, ext, sep, bom in (("csv-binary", "csv", ",", False), ("csv-multi", "csv", ";", True), ("tsv-reg", "tsv", "\t", False)):
        paths = {}
        for role, m, seed in (("train", 30, 0), ("test", 12, 1), ("validation", 12, 2), ("predict", 6, 3)):
            recs = list(rows(m, seed, kind))
            paths[role] = write(
                folder / f"{kind}-{role}.{ext}",
                recs,
                sep,
                bom=bom,
                gaps=gaps if kind == "csv-multi" and role in ("train", "validation") else (),
                drop=("label",) if kind == "csv-binary" and role == "predict" else (),  # predict: the target may be absent
                order=list(reversed(list(recs[0]))) if role == "predict" else None,  # found by name, in any order
                unseen=kind == "csv-multi" and role == "predict",
            )
        out[kind] = paths
    out["tsv-grade"] = dict(out["tsv-reg"])
    return out


# ---------------------------------------------------------------- the spec, key by key


@dataclass
class Ctx:
    source: Source
    spec: dict = field(default_factory=lambda: {"data": {}, "model": {}, "train": {}})
    hidden: list = field(default_factory=list)  # the hidden layers' sizes
    units: int = 1  # of the output layer
    head: dict = field(default_factory=dict)  # the head's keys (output_activation, loss)
    n_x: int = 0  # features once encoded (a table: from the columns drawn)

    def __post_init__(self):
        self.n_x = self.source.n_x

    @property
    def m_train(self) -> int:
        """Training examples after a validation fraction is held out (at least)."""
        v = self.spec["data"].get("validation")
        return self.source.m - (int(np.ceil(v * self.source.m)) if isinstance(v, float) else 0)


def _maybe(draw, value, p_omit=0.3):
    return OMIT if draw(st.floats(0, 1)) < p_omit else value


def _validation(draw, ctx):
    options = ["none", "fraction"] + (["file"] if ctx.source.validation_file else [])
    kind = draw(st.sampled_from(options))
    return {"none": OMIT, "fraction": draw(st.sampled_from([0.2, 0.25, 0.3])), "file": "@validation"}[kind]


# heads: (spec keys, output units as a function of k) allowed for each task
HEADS = {
    "binary": [
        ({}, 1),
        ({"output_activation": "sigmoid"}, 1),
        ({"loss": "cross_entropy"}, 1),
        ({"output_activation": "softmax"}, 2),
        ({"output_activation": "softmax", "loss": "categorical_cross_entropy"}, 2),
    ],
    "multi": [({}, 3), ({"output_activation": "softmax"}, 3), ({"output_activation": "softmax", "loss": "categorical_cross_entropy"}, 3)],
    "regression": [({"output_activation": out, **loss}, 1) for out in ("linear", "tanh", "leaky_relu", "relu") for loss in ({}, {"loss": "mse"})],
}
HIDDEN_ACTIVATIONS = [a for a in ACTIVATION_NAMES if a != "softmax"]


def _head(draw, ctx):
    ctx.head, ctx.units = draw(st.sampled_from(HEADS[ctx.source.task]))
    return ctx.head.get("output_activation", OMIT)


def _layers_or_hidden(key):
    def row(draw, ctx):
        full = draw(st.booleans())  # model.layers: the full list; else model.hidden
        if key == "layers":
            return [ctx.n_x, *ctx.hidden, ctx.units] if full else OMIT
        return OMIT if "layers" in ctx.spec["model"] else (ctx.hidden if ctx.hidden or draw(st.booleans()) else OMIT)

    return row


def _activations(draw, ctx):
    """One per layer, sometimes, in place of hidden_activation (the output kept as the head chose it)."""
    out = ctx.spec["model"].get("output_activation")
    if out is None or not draw(st.booleans()):
        return OMIT
    return [draw(st.sampled_from(HIDDEN_ACTIVATIONS)) for _ in ctx.hidden] + [out]


def _init(draw, ctx):
    init = draw(st.sampled_from(INIT_NAMES))
    if init == "zeros" and ctx.hidden:
        ctx.spec["model"]["allow_symmetry"] = True  # else refused, as it should be
    return init


def _schedule(draw, ctx):
    """train.iterations (full batch) or train.epochs with a batch size from 1 to more than m."""
    streamed = ctx.spec["data"].get("stream") == "always"  # reads mini-batches: needs a batch below m
    if not streamed and draw(st.booleans()):
        ctx.spec["train"]["iterations"] = draw(st.integers(1, 25))
    else:
        ctx.spec["train"]["epochs"] = draw(st.integers(1, 5))
        most = ctx.m_train - 1 if streamed else ctx.source.m + 5
        ctx.spec["train"]["batch_size"] = draw(st.one_of(st.integers(1, 8), st.integers(8, most)))
    return OMIT


def _keep_prob(draw, ctx):
    kind = draw(st.sampled_from(["one", "one", "number", "per-layer"]))
    if kind == "one" or not ctx.hidden:
        return OMIT
    if kind == "number":
        return draw(st.sampled_from([0.5, 0.8, 0.95]))
    return [draw(st.sampled_from([0.6, 0.9, 1.0])) for _ in ctx.hidden]


def _early_stopping(draw, ctx):
    if "validation" not in ctx.spec["data"] or not draw(st.booleans()):
        return OMIT
    monitors = ["validation_cost"] + (["validation_accuracy"] if ctx.source.task != "regression" else [])
    rows = {
        "monitor": st.sampled_from(monitors),
        "patience": st.integers(1, 3),
        "min_delta": st.sampled_from([0.0, 1e-4, 0.01]),
        "restore_best": st.booleans(),
    }
    return {k: v for k, s in rows.items() if (v := _maybe(draw, draw(s))) is not OMIT}


def _first_layer(draw, ctx):
    """auto, primal, or dual where it is exact for the optimizer, batch and L2 drawn (else it is refused)."""
    t = ctx.spec["train"]
    why = DualFirstLayer.not_exact_for(OPTIMIZERS[t.get("optimizer", "gd")].make.linear, "batch_size" not in t, t.get("l2", 0) > 0)
    return _maybe(draw, draw(st.sampled_from([AUTO, *(n for n in FIRST_LAYERS if n != "dual" or not why)])))


def _fixed(value):
    return lambda draw, ctx: value


def _pick(values, p_omit=0.3):
    return lambda draw, ctx: _maybe(draw, draw(st.sampled_from(list(values))), p_omit)


def _stream(draw, ctx):
    # a built-in is never streamed, nor a table (read whole): both refused
    choices = ["auto", "never"] + (["always"] if ctx.source.files and ctx.source.kind != "csv" else [])
    return _maybe(draw, draw(st.sampled_from(choices)))


def _table(draw, ctx):
    """A table's keys, consistent with its source: the target, features or drop (n_x follows), missing, unseen, header."""
    src, data = ctx.source, ctx.spec["data"]
    if src.kind != "csv":
        return OMIT
    if not (src.last_target and draw(st.booleans())):
        data["target"] = src.target
    names = [n for n, _ in src.columns]
    kind = draw(st.sampled_from(["all", "features", "drop"]))
    keep = names
    if kind != "all":
        chosen = draw(st.lists(st.sampled_from(names), min_size=1, max_size=len(names) - 1 if kind == "drop" else len(names), unique=True))
        data[kind] = chosen
        keep = chosen if kind == "features" else [n for n in names if n not in chosen]
    ctx.n_x = sum(w for n, w in src.columns if n in keep)
    if src.gaps:  # mostly a policy that fills or drops (error: a clean refusal, naming line and column)
        data["missing"] = draw(st.sampled_from(["mean", "median", "most_frequent", "drop", "mean", "drop", "error"]))
    elif (v := _maybe(draw, draw(st.sampled_from(["error", "mean", "median", "most_frequent", "drop"])), 0.6)) is not OMIT:
        data["missing"] = v
    if (v := _maybe(draw, draw(st.sampled_from(["error", "zeros"])), 0.5)) is not OMIT:
        data["unseen"] = v
    if (v := _maybe(draw, draw(st.sampled_from(["auto", True])), 0.5)) is not OMIT:  # these files' headers are names: false reads them as rows
        data["header"] = v
    return OMIT


def _data_key(key):
    return lambda draw, ctx: ctx.spec["data"].get(key, OMIT)


DATA = {
    "train": _fixed("@train"),
    "test": lambda draw, ctx: "@test" if ctx.source.test and draw(st.booleans()) else OMIT,
    "validation": _validation,
    "normalize": _pick(["auto", "none", "standardize"]),
    # a regression's target: standardize with a bounded head (tanh, relu) and on a classifier is a clean refusal
    "normalize_target": lambda draw, ctx: _maybe(
        draw, draw(st.sampled_from(["auto", "none", "standardize"] if ctx.source.task == "regression" else ["auto", "none", "auto", "none", "standardize"]))
    ),
    "stream": _stream,
    "_table": _table,  # a table's keys, written by the next rows
    "target": _data_key("target"),
    "features": _data_key("features"),
    "drop": _data_key("drop"),
    "missing": _data_key("missing"),
    "unseen": _data_key("unseen"),
    "header": _data_key("header"),
}


def _hidden_sizes(draw, ctx):
    ctx.hidden = draw(st.lists(st.integers(1, 5), max_size=2))
    return OMIT


MODEL = {
    "output_activation": _head,  # one of the heads the task allows (HEADS)
    "loss": lambda draw, ctx: ctx.head.get("loss", OMIT),
    "_sizes": _hidden_sizes,  # the hidden layers' sizes, written by the next two rows
    "layers": _layers_or_hidden("layers"),
    "hidden": _layers_or_hidden("hidden"),
    "hidden_activation": _pick(HIDDEN_ACTIVATIONS),
    "activations": _activations,
    "init": _init,
    "init_scale": _pick([0.01, 0.1, 1.0], 0.6),
    "init_rng": _pick(["generator", "legacy"]),
    "allow_symmetry": lambda draw, ctx: ctx.spec["model"].get("allow_symmetry", OMIT),
    "task": lambda draw, ctx: _maybe(draw, draw(st.sampled_from(["auto", "regression" if ctx.source.task == "regression" else "classification"])), 0.7),
    "batch_norm": lambda draw, ctx: _maybe(draw, True, 0.8) if ctx.hidden else OMIT,
    "batch_norm_momentum": _pick([0.5, 0.9], 0.8),
    "batch_norm_epsilon": _pick([1e-5, 1e-3], 0.8),
}
TRAIN = {
    "learning_rate": lambda draw, ctx: draw(st.sampled_from([0.001, 0.01, 0.05, 0.2])),
    "_schedule": _schedule,  # iterations, or epochs with batch_size
    "iterations": lambda draw, ctx: ctx.spec["train"].get("iterations", OMIT),
    "epochs": lambda draw, ctx: ctx.spec["train"].get("epochs", OMIT),
    "batch_size": lambda draw, ctx: ctx.spec["train"].get("batch_size", OMIT),
    "seed": lambda draw, ctx: _maybe(draw, draw(st.integers(0, 2**32 - 1))),
    "record_every": lambda draw, ctx: _maybe(draw, draw(st.integers(1, 4))),
    "checkpoint_every": lambda draw, ctx: _maybe(draw, draw(st.integers(1, 4))),
    "dtype": _pick(["float64", "float32"]),
    "blas_threads": _pick([1]),
    "shuffle": _pick(list(SHUFFLES)),
    "optimizer": _pick(OPTIMIZER_NAMES, 0.2),
    "beta": _pick([0.0, 0.5, 0.9], 0.7),
    "beta1": _pick([0.0, 0.5, 0.9], 0.7),
    "beta2": _pick([0.5, 0.9, 0.999], 0.7),
    "epsilon": _pick([1e-8, 1e-4], 0.7),
    "decay": _pick(SCHEDULE_NAMES),
    "decay_rate": _pick([0.0, 0.5, 2.0], 0.6),
    "time_interval": _pick([1, 2, 3], 0.6),
    "l2": _pick([0.0, 0.1, 1.0]),
    "keep_prob": _keep_prob,
    "dropout_masks": _pick(["fresh", "course"]),
    "early_stopping": _early_stopping,
    "first_layer": _first_layer,
    "device": _pick(["cpu"]),  # gpu: refused cleanly where no GPU is present; drawn on a machine with one by editing this row
    "fused": _pick([True, False], 0.6),
    "one_cycle_div": _pick([10.0, 25.0], 0.8),
    "one_cycle_final_div": _pick([1.0, 1e4], 0.8),
    "one_cycle_warmup": _pick([0.2, 0.5], 0.8),
}
SECTIONS = {"data": DATA, "model": MODEL, "train": TRAIN}

# sub-keys drawn inside a row (the models nested in a section's key)
NESTED = {"train.early_stopping": EarlyStoppingSpec}
EARLY_STOPPING_KEYS = {"monitor", "patience", "min_delta", "restore_best"}  # what _early_stopping draws

# keys of the spec the test sets itself rather than draws, with the reason
NOT_DRAWN = {
    "name": "the test names each case (any valid name is a folder name; test_config covers the pattern)",
    "runs_dir": "the test's temporary runs folder (also given as --runs-dir)",
}


@dataclass
class Case:
    source: Source
    spec: dict

    def spec_for(self, files: dict, runs_dir) -> dict:
        """The spec with the roles (`@train`, ...) made paths of `files` (make_sources) and runs_dir set."""
        paths = files[self.source.name]
        data = {k: paths[v[1:]] if isinstance(v, str) and v.startswith("@") else v for k, v in self.spec["data"].items()}
        return {"name": "case", **self.spec, "data": data, "runs_dir": str(runs_dir)}


@st.composite
def cases(draw, sources=tuple(SOURCES)) -> Case:
    source = SOURCES[draw(st.sampled_from(list(sources)))]
    ctx = Ctx(source)
    for section, rows in SECTIONS.items():
        for key, row in rows.items():
            value = row(draw, ctx)
            if key.startswith("_"):
                continue
            if value is OMIT:
                ctx.spec[section].pop(key, None)
            else:
                ctx.spec[section][key] = value
    if not ctx.spec["model"]:
        del ctx.spec["model"]
    return Case(source, ctx.spec)


# ---------------------------------------------------------------- a sweep over two keys


# what a sweep may vary, with two values each (`--grid key=a,b` text); sweep.* keys of the spec too
SWEEPABLE = {
    "train.learning_rate": ["0.01", "0.05"],
    "train.seed": ["1", "2"],
    "train.l2": ["0", "0.1"],
    "train.optimizer": ["gd", "adam"],
    "train.dtype": ["float64", "float32"],
    "model.hidden_activation": ["tanh", "relu"],
    "model.init": ["xavier", "he"],
    "data.normalize": ["auto", "standardize"],
    "data.normalize_target": ["auto", "none"],
}


@st.composite
def sweeps(draw, case: Case) -> tuple[list, dict, dict]:
    """(--grid arguments over two keys, a `sweep:` section for the spec or {}, a `search:` section or {})
    for a case. With a search the grid keeps one key (a draw is tried at each grid point: few trials)."""
    keys = draw(st.lists(st.sampled_from(sorted(SWEEPABLE)), min_size=2, max_size=2, unique=True))
    search = {}
    if draw(st.booleans()):
        keys = keys[: draw(st.integers(0, 1))]
        search = draw(searches(case, keys))
    grid = [f"{k}={','.join(SWEEPABLE[k])}" for k in keys]
    section = {}
    if draw(st.booleans()):  # the same two keys through the spec's sweep section instead
        section = {"grid": {k: [_yaml_value(v) for v in SWEEPABLE[k]] for k in keys}} if keys else {}
        grid = []
    elif "layers" not in case.spec.get("model", {}) and draw(st.booleans()):
        section = draw(st.sampled_from([{"hidden_layers": [0, 1], "width": 2}, {"hidden": [[2], [3, 2]]}]))
        grid = grid[: 0 if search else 1]
    return grid, section, search


# what a search may draw, with its distributions (`search.space` text)
SEARCHABLE = {
    "train.learning_rate": ["loguniform(1e-3, 0.3)", "uniform(0.01, 0.1)", "choice(0.01, 0.05)"],
    "train.l2": ["uniform(0, 0.5)", "loguniform(1e-4, 1)", "choice(0, 0.1)"],
    "model.hidden_activation": ["choice(tanh, relu)", "choice(sigmoid)"],
    "train.beta1": ["one_minus_loguniform(1e-2, 0.5)"],
}
SEARCH_KEYS = {"trials", "seed", "rounds", "space", "halving", "min_budget", "halving_mode"}  # what `searches` can write into search:


@st.composite
def searches(draw, case: Case, grid_keys) -> dict:
    """A `search:` section for a case: 1-3 trials, 1-2 rounds, over keys the grid does not vary;
    successive halving (synchronous or ASHA) where the spec's length allows a second budget."""
    free = [k for k in SEARCHABLE if k not in grid_keys]
    keys = draw(st.lists(st.sampled_from(free), min_size=1, max_size=2, unique=True))
    out = {"trials": draw(st.integers(1, 3)), "space": {k: draw(st.sampled_from(SEARCHABLE[k])) for k in keys}}
    if draw(st.booleans()):
        out["rounds"] = draw(st.integers(1, 2))
    if draw(st.booleans()):
        out["seed"] = draw(st.integers(0, 2**32 - 1))
    t = case.spec["train"]
    length = t.get("epochs", t.get("iterations", 0))
    if length >= 2 and draw(st.booleans()):
        eta = draw(st.integers(2, 3))
        if length >= eta:
            out["halving"] = eta
            out["min_budget"] = draw(st.integers(1, length // eta))
            if draw(st.booleans()):
                out["halving_mode"] = draw(st.sampled_from(["sync", "async"]))
    return out


def _yaml_value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


SWEEP_KEYS = {"grid", "hidden_layers", "width", "hidden"}  # what `sweeps` can write into sweep:


def drawn_keys() -> set:
    """Every dotted key the strategies can put in a spec, and those the test sets itself."""
    keys = {f"{section}.{k}" for section, rows in SECTIONS.items() for k in rows if not k.startswith("_")}
    keys |= {f"train.early_stopping.{k}" for k in EARLY_STOPPING_KEYS}
    keys |= {f"sweep.{k}" for k in SWEEP_KEYS} | {"sweep"} | set(NOT_DRAWN) | set(SECTIONS)
    keys |= {f"search.{k}" for k in SEARCH_KEYS} | {"search"}
    return keys


def model_keys() -> set:
    """Every dotted key of the spec's pydantic models (nnctl/spec/config.py)."""
    keys = set()

    def walk(model, prefix):
        for name, info in model.model_fields.items():
            keys.add(prefix + name)
            for sub in (DataSpec, ModelSpec, TrainSpec, EarlyStoppingSpec, SweepSpec, SearchSpec):
                if sub.__name__ in repr(info.annotation):
                    walk(sub, f"{prefix}{name}.")

    walk(Spec, "")
    return keys
