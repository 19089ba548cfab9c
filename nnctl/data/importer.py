"""`nnctl data import`: a folder of pictures, one sub-folder per class (two or more), into the course's layout."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nnctl.util.atomic import atomic_path
from nnctl.data.dataset import describe_h5, prepare_output, writing
from nnctl.errors import DataError, NnctlError
from nnctl.data.images import load_image, shown, stored
from nnctl.data.dataset import h5_array
from nnctl.data.dataset import read_block
from nnctl.data.dataset import decode_names, is_mat, open_h5, read_array
from nnctl.data.dataset import read_mat
from nnctl.data.images import image_geometry
from nnctl.util.plots import plot_features, plot_preview


@dataclass
class ImportReport:
    output: str
    classes: list
    train_counts: list
    test_counts: list
    skipped: list = field(default_factory=list)  # [(file, reason)]


def class_folders(folder: Path, classes=None) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{shown(folder)}: not a folder; give a folder with one sub-folder of pictures per class")
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [p.name for p in found]
    if classes:
        repeated = sorted({c for c in classes if classes.count(c) > 1})
        if repeated:
            raise DataError(
                f"--classes {','.join(classes)}: {', '.join(repeated)} is named more than once; "
                "name each class folder once, label 0 first, e.g. --classes non-cat,cat"
            )
        missing = [c for c in classes if c not in names]
        if missing:
            raise DataError(f"{shown(folder)}: no sub-folder {', '.join(missing)}; found: {', '.join(map(shown, names)) or 'none'}")
        found = [folder / c for c in classes]
    if len(found) < 2:
        noun = "class folder" if len(found) == 1 else "class folders"
        raise DataError(
            f"{shown(folder)}: found {len(found)} {noun} ({', '.join(shown(p.name) for p in found) or 'none'}); "
            "a classifier needs two or more, one sub-folder of pictures per class (or choose them with --classes a,b,c)"
        )
    for d in found:
        try:
            d.name.encode("utf-8")
        except UnicodeEncodeError:
            raise DataError(f"{shown(d)}: a class folder's name becomes the class name, and this one is not valid UTF-8; rename it") from None
    return found


def stratified_split(y, test_fraction: float, seed: int):
    """(train_idx, test_idx): each class shuffled with the seed, round(fraction * n) to test."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def import_folder(
    folder, output, size=64, test_fraction=0.2, seed=1, classes=None, on_item=None, force=False, max_pixels=None, grayscale=False
) -> ImportReport:
    """Read every file under each class folder; unreadable ones are skipped and reported.

    Pictures become size × size RGB (m, size, size, 3), or with `grayscale` one channel of
    luminance (m, size, size), as Pillow's "L" conversion weighs R, G and B.

    `output` must not exist unless `force`; pictures over `max_pixels` are skipped (see load_image).
    """
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    folder, output = Path(folder), Path(output)
    if not 0 <= test_fraction < 1:
        raise DataError(f"--test-fraction must be at least 0 and below 1 (got {test_fraction})")
    folders = class_folders(folder, classes)
    prepare_output(output, force)  # before the work: an import of many pictures is not thrown away at the end
    # every entry but folders: a FIFO, a device or a dangling link is listed as skipped, with its reason
    files = [(label, f) for label, d in enumerate(folders) for f in sorted(d.rglob("*")) if not f.is_dir()]
    labels: list[int]
    labels, names, skipped = [], [], []
    mode, shape = ("L", (size, size)) if grayscale else ("RGB", (size, size, 3))
    # the pictures go to a scratch file beside the output as they are read, never all in memory
    fd, scratch = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.", suffix=".pictures")
    os.close(fd)
    try:
        with writing(output), h5py.File(scratch, "w") as s:
            pictures = s.create_dataset("x", (max(len(files), 1), *shape), np.uint8)
            for k, (label, path) in enumerate(files):
                try:
                    pixels = load_image(path, (size, size), mode, max_pixels).pixels
                    pictures[len(labels)] = pixels
                    labels.append(label)
                    names.append(os.fsencode(path.relative_to(folder)))  # the name's bytes as on disk, UTF-8 or not
                except NnctlError as exc:
                    skipped.append((shown(path), str(exc).removeprefix(f"{shown(path)}: ")))
                if on_item:
                    on_item(k + 1, len(files))
        y = np.array(labels, dtype=np.int64)
        for label, d in enumerate(folders):
            if not np.any(y == label):
                raise DataError(f"{shown(d)}: no readable pictures in this class folder")
        train_idx, test_idx = stratified_split(y, test_fraction, seed)
        name_array = np.array(names)
        with writing(output), atomic_path(output) as tmp, h5py.File(tmp, "w") as f, h5py.File(scratch, "r") as s:
            _write_split(
                s["x"],
                train_idx,
                test_idx,
                f.create_dataset("train_set_x", (len(train_idx), *shape), np.uint8),
                f.create_dataset("test_set_x", (len(test_idx), *shape), np.uint8),
            )
            f["train_set_y"], f["test_set_y"] = y[train_idx], y[test_idx]
            f["train_set_files"], f["test_set_files"] = name_array[train_idx], name_array[test_idx]
            f["list_classes"] = np.array([d.name.encode() for d in folders])
            f.attrs.update(source=stored(folder), size=size, seed=seed, test_fraction=test_fraction, skipped=len(skipped), mode=mode)
    finally:
        Path(scratch).unlink(missing_ok=True)
    counts = lambda idx: [int(np.sum(y[idx] == c)) for c in range(len(folders))]  # noqa: E731
    return ImportReport(str(output), [d.name for d in folders], counts(train_idx), counts(test_idx), skipped)


IMPORT_BLOCK = 1024  # pictures copied at a time from the scratch file into the split arrays


def _write_split(pictures, train_idx, test_idx, train_x, test_x) -> None:
    """Copy the pictures into the train and test arrays a block at a time: both index lists are
    increasing, so each block's pictures land in one run of each array."""
    m = len(train_idx) + len(test_idx)
    for a in range(0, m, IMPORT_BLOCK):
        b = min(a + IMPORT_BLOCK, m)
        block = pictures[a:b]
        ta, tb = np.searchsorted(train_idx, [a, b])
        sa, sb = np.searchsorted(test_idx, [a, b])
        if tb > ta:
            train_x[ta:tb] = block[train_idx[ta:tb] - a]
        if sb > sa:
            test_x[sa:sb] = block[test_idx[sa:sb] - a]


SPLITS = {"train": ("train_set_x", "train_set_y"), "test": ("test_set_x", "test_set_y"), "data": ("x", "y")}
RANGE_LIMIT = 1 << 30  # arrays up to 1 GiB get their min and max; larger ones are not scanned
PREVIEW_POINTS = 5000  # a tabular preview draws at most this many examples


def _member(f, key: str, path) -> dict:
    """One row of `data info`: an array's shape, dtype and range, or what the key is instead."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    link = f.get(key, getlink=True)
    try:
        obj = f[key]
    except (KeyError, OSError, ValueError):
        if isinstance(link, h5py.ExternalLink):
            what = f"missing: external link to {link.filename}:{link.path}"
        elif isinstance(link, h5py.SoftLink):
            what = f"missing: link to {link.path}"
        else:
            what = "unreadable"
        return {"name": key, "shape": None, "dtype": what}
    if not isinstance(obj, h5py.Dataset):
        return {"name": key, "shape": None, "dtype": f"group of {len(obj)} items"}
    ds = h5_array(f, key, path)
    row: dict[str, Any] = {"name": key, "shape": list(ds.shape), "dtype": str(ds.dtype)}
    if ds.dtype.kind in "iufb" and ds.size and ds.size * ds.dtype.itemsize <= RANGE_LIMIT:
        try:
            lo, hi = _range(ds, path, key)
        except DataError as exc:  # a damaged chunk: said in the table, the other arrays still shown
            row["dtype"] += f" (damaged: {str(exc).split('(', 1)[-1].rsplit(')', 1)[0]})"
            return row
        if lo is not None:
            row["min"], row["max"] = lo, hi
    return row


def _range(ds, path, key):
    """(min, max) of the finite values, read 64 MiB of rows at a time; (None, None) where there are
    none; a DataError where a block cannot be read (a damaged chunk)."""
    rows = ds.shape[0] if ds.ndim else 1
    row_bytes = ds.dtype.itemsize * (ds.size // rows if rows else 0)
    step = max(1, (64 << 20) // max(row_bytes, 1))
    lo, hi = np.inf, -np.inf
    for start in range(0, rows, step):
        block = np.asarray(read_block(ds, start, start + step, path, key) if ds.ndim else ds[()], dtype=np.float64)
        finite = block[np.isfinite(block)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else (None, None)


def _is_categorical(y, k: int = 0) -> bool:
    """Labels (a few whole numbers, or up to the k a class list names) rather than regression targets."""
    if y.dtype == bool:
        return True
    if y.dtype.kind not in "iuf" or not y.size:
        return False
    values = np.unique(y)
    return len(values) <= max(20, k) and bool(np.all(np.isfinite(values))) and bool(np.all(values == np.round(values)))


def dataset_info(path) -> dict:
    """What a data file holds: each array's shape, dtype and range; each split's class balance;
    the label (0, 1, ...) of each class."""
    path = Path(path)
    if is_mat(path):  # refuses a missing file, a folder, a FIFO or a device, and says which
        return mat_info(path)
    f = open_h5(path)
    info: dict[str, Any] = {"file": str(path), "arrays": [], "splits": []}
    per_split = {}  # split -> {label: examples}
    with f:
        key = next((k for k in ("list_classes", "classes") if k in f), None)
        names = decode_names(read_array(f, key, path)) if key else []
        info["classes"] = names
        info["arrays"] = [_member(f, k, path) for k in sorted(f.keys())]
        for split, (xk, yk) in SPLITS.items():
            if xk in f and yk in f:
                x = h5_array(f, xk, path)
                y = read_array(f, yk, path).ravel()
                if y.dtype.kind not in "biuf":
                    balance: dict[str, str | int] = {"labels": f"not numbers ({y.dtype}); nnctl needs numeric labels"}
                elif _is_categorical(y, len(names)):
                    values, counts = np.unique(y, return_counts=True)
                    balance = {(names[int(v)] if names and 0 <= int(v) < len(names) else f"{v:g}"): int(c) for v, c in zip(values, counts)}
                else:
                    distinct = len(np.unique(y)) if y.size else 0
                    balance = {"targets": f"{float(np.min(y)):g} to {float(np.max(y)):g}" if y.size else "none", "distinct values": distinct}
                info["splits"].append(
                    {
                        "split": split,
                        "m": int(x.shape[0]) if x.ndim else 0,
                        "example_shape": list(x.shape[1:]),
                        "balance": balance,
                        "categorical": _is_categorical(y, len(names)),
                    }
                )
                if _is_categorical(y, len(names)):
                    values, counts = np.unique(y, return_counts=True)
                    per_split[split] = {float(v): int(c) for v, c in zip(values, counts)}
        if not info["splits"]:
            info["layout"] = f"unknown (holds {describe_h5(f)})"
        else:
            info["layout"] = "course" if any(s["split"] != "data" for s in info["splits"]) else "plain"
        info["labels"] = [{"label": i, "class": n} for i, n in enumerate(names)]
        if per_split and len(per_split) == len(info["splits"]):  # every split holds classes: count each one
            labels = sorted(set(range(len(names))) | {v for c in per_split.values() for v in c})
            info["per_class"] = [
                {
                    "label": v,
                    "class": names[int(v)] if names and v == int(v) and 0 <= v < len(names) else f"{v:g}",
                    **{split: counts.get(v, 0) for split, counts in per_split.items()},
                }
                for v in labels
            ]
    return info


MAT_SPLITS = {"train": ("X", "y"), "test": ("Xval", "yval")}


def _mat_arrays(path) -> dict:
    import scipy.io  # start-up: ~0.25 s, and only MATLAB files need it

    read_mat(path)  # the same checks and message as training
    return {k: np.asarray(v) for k, v in scipy.io.loadmat(str(path)).items() if not k.startswith("__")}


def mat_info(path) -> dict:
    """`data info` of a MATLAB 5 file: X/y is the training split, Xval/yval the test split."""
    arrays = _mat_arrays(path)
    info: dict[str, Any] = {"file": str(path), "arrays": [], "splits": [], "classes": [], "labels": [], "layout": "MATLAB (X/y, Xval/yval)"}
    for k in sorted(arrays):
        v = arrays[k]
        row: dict[str, Any] = {"name": k, "shape": list(v.shape), "dtype": str(v.dtype)}
        if v.dtype.kind in "iuf" and v.size:
            row["min"], row["max"] = float(np.nanmin(v)), float(np.nanmax(v))
        info["arrays"].append(row)
    for split, (xk, yk) in MAT_SPLITS.items():
        if xk in arrays and yk in arrays:
            y = arrays[yk].ravel()
            categorical = _is_categorical(y)
            if categorical:
                values, counts = np.unique(y, return_counts=True)
                balance: dict[str, str | int] = {f"{v:g}": int(c) for v, c in zip(values, counts)}
            else:
                balance = {"targets": f"{float(np.min(y)):g} to {float(np.max(y)):g}", "distinct values": len(np.unique(y))}
            x = arrays[xk]
            info["splits"].append({"split": split, "m": int(x.shape[0]), "example_shape": list(x.shape[1:]), "balance": balance, "categorical": categorical})
    return info


def import_mat(path, output, force: bool = False) -> dict:
    """A MATLAB 5 file of points (X/y, Xval/yval) as an HDF5 file in the course's layout
    (train_set_x/train_set_y, test_set_x/test_set_y): the same numbers, a format h5py reads."""
    import h5py  # start-up: h5py takes ~0.13 s to load; a command that reads no HDF5 file never pays it

    output = prepare_output(output, force)
    splits = {"train": read_mat(path, "train")}
    arrays = _mat_arrays(path)
    if "Xval" in arrays and "yval" in arrays:
        splits["test"] = read_mat(path, "test")
    with writing(output), atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        for split, (x, y) in splits.items():
            f.create_dataset(f"{split}_set_x", data=x)
            f.create_dataset(f"{split}_set_y", data=y.ravel())
    return {split: int(x.shape[0]) for split, (x, _) in splits.items()}


def preview_target(target, force: bool = False) -> Path:
    """Where a preview goes, checked before any work: a .png file name, not an existing file unless
    `force` (the rule of every file nnctl writes: data.prepare_output)."""
    target = prepare_output(target, force=True, option="--preview-out", suffix=".png")  # a folder, a device, a run's file
    if target.suffix.lower() != ".png":
        raise DataError(f"{target}: the preview is a PNG picture; give a file name ending in .png with --preview-out")
    return prepare_output(target, force=force, option="--preview-out", suffix=".png")


def write_preview(path, target, force: bool = False) -> Path:
    """A picture of the file's first split that fits its data: a contact sheet of a few examples per
    class for pictures; for tabular data a scatter of the first two features (or a histogram of the
    only one), coloured by class or by target. At most PREVIEW_POINTS examples are read."""
    target = preview_target(target, force)
    info = dataset_info(path)
    if not info["splits"]:
        raise DataError(f"{path}: no examples to preview (no known layout: {info['layout']})")
    split = info["splits"][0]
    if "MATLAB" in info["layout"]:
        x, y = read_mat(path, "train")
        y = y.ravel()
        m = x.shape[0]
        idx = np.arange(m) if m <= PREVIEW_POINTS else np.sort(np.random.default_rng(0).choice(m, PREVIEW_POINTS, replace=False))
        x = np.asarray(x, dtype=np.float64).reshape(m, -1)
        title = f"{Path(path).name} (train): {len(idx)} of {m} examples"
        with writing(target, "--preview-out"):
            return plot_features(target, x[idx, :2], y[idx], [], _is_categorical(y), x.shape[1], title)
    xk, yk = SPLITS[split["split"]]
    with open_h5(path) as f:
        ds = h5_array(f, xk, path)
        y = read_array(f, yk, path).ravel()
        m = ds.shape[0] if ds.ndim else 0
        if m == 0 or 0 in ds.shape[1:]:
            raise DataError(f"{path}: '{xk}' has shape {ds.shape}: nothing to preview")
        if ds.dtype.kind not in "biuf" or y.dtype.kind not in "biuf":
            raise DataError(f"{path}: '{xk}' ({ds.dtype}) and '{yk}' ({y.dtype}) must hold numbers to be previewed")
        if len(y) != m:
            raise DataError(f"{path}: '{xk}' holds {m} examples but '{yk}' holds {len(y)} labels; nothing to preview")
        categorical = _is_categorical(y, len(info["classes"]))
        picture = image_geometry(ds.shape[1:]) is not None and ds.ndim >= 3
        if picture:
            per_class = 6
            if categorical:
                idx = np.sort(np.concatenate([np.flatnonzero(y == v)[:per_class] for v in np.unique(y)]))
            else:
                idx = np.arange(min(m, 2 * per_class))
            x = ds[idx.tolist()] if len(idx) < m else ds[()]
            with writing(target, "--preview-out"):
                return plot_preview(target, x, y[idx], info["classes"], per_class, categorical)
        idx = np.arange(m) if m <= PREVIEW_POINTS else np.sort(np.random.default_rng(0).choice(m, PREVIEW_POINTS, replace=False))
        n_features = int(np.prod(ds.shape[1:])) if ds.ndim > 1 else 1
        if ds.ndim == 2:
            x = ds[idx.tolist() if len(idx) < m else slice(None), : min(2, n_features)]
        else:
            x = np.asarray(ds[idx.tolist()] if len(idx) < m else ds[()]).reshape(len(idx), -1)[:, :2]
    title = f"{Path(path).name} ({split['split']}): {len(idx)} of {m} examples"
    with writing(target, "--preview-out"):
        return plot_features(target, np.asarray(x, dtype=np.float64), y[idx], info["classes"], categorical, n_features, title)
