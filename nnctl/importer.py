"""`nnctl data import`: a folder of pictures, one sub-folder per class, into the course's layout."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.atomic import atomic_path
from nnctl.data import describe_h5
from nnctl.errors import DataError, NnctlError
from nnctl.images import load_image


@dataclass
class ImportReport:
    output: str
    classes: list
    train_counts: list
    test_counts: list
    skipped: list = field(default_factory=list)  # [(file, reason)]


def class_folders(folder: Path, classes=None) -> list[Path]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; give a folder with one sub-folder of pictures per class")
    found = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = [p.name for p in found]
    if classes:
        missing = [c for c in classes if c not in names]
        if missing:
            raise DataError(f"{folder}: no sub-folder {', '.join(missing)}; found: {', '.join(names) or 'none'}")
        found = [folder / c for c in classes]
    if len(found) != 2:
        raise DataError(
            f"{folder}: found {len(found)} class folders ({', '.join(p.name for p in found) or 'none'}); "
            "nnctl trains binary classifiers, so give exactly two (or choose them with --classes a,b)"
        )
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


def import_folder(folder, output, size=64, test_fraction=0.2, seed=1, classes=None, on_item=None) -> ImportReport:
    """Read every file under each class folder; unreadable ones are skipped and reported."""
    folder, output = Path(folder), Path(output)
    if not 0 <= test_fraction < 1:
        raise DataError(f"--test-fraction must be at least 0 and below 1 (got {test_fraction})")
    folders = class_folders(folder, classes)
    files = [(label, f) for label, d in enumerate(folders) for f in sorted(d.rglob("*")) if f.is_file()]
    pixels, labels, names, skipped = [], [], [], []
    for k, (label, path) in enumerate(files):
        try:
            pixels.append(load_image(path, (size, size), "RGB").pixels)
            labels.append(label)
            names.append(str(path.relative_to(folder)).encode())
        except NnctlError as exc:
            skipped.append((str(path), str(exc).removeprefix(f"{path}: ")))
        if on_item:
            on_item(k + 1, len(files))
    y = np.array(labels, dtype=np.int64)
    for label, d in enumerate(folders):
        if not np.any(y == label):
            raise DataError(f"{d}: no readable pictures in this class folder")
    x = np.stack(pixels)
    train_idx, test_idx = stratified_split(y, test_fraction, seed)
    names = np.array(names)
    output.parent.mkdir(parents=True, exist_ok=True)
    import h5py

    with atomic_path(output) as tmp, h5py.File(tmp, "w") as f:
        f["train_set_x"], f["train_set_y"] = x[train_idx], y[train_idx]
        f["test_set_x"], f["test_set_y"] = x[test_idx], y[test_idx]
        f["train_set_files"], f["test_set_files"] = names[train_idx], names[test_idx]
        f["list_classes"] = np.array([d.name.encode() for d in folders])
        f.attrs.update(source=str(folder), size=size, seed=seed, test_fraction=test_fraction, skipped=len(skipped))
    counts = lambda idx: [int(np.sum(y[idx] == c)) for c in range(len(folders))]  # noqa: E731
    return ImportReport(str(output), [d.name for d in folders], counts(train_idx), counts(test_idx), skipped)


def dataset_info(path) -> dict:
    """What a data file holds: each array's shape, dtype and range; each split's class balance."""
    from nnctl.data import _decode

    from nnctl.data import open_h5

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such data file")
    f = open_h5(path)
    info = {"file": str(path), "arrays": [], "splits": []}
    with f:
        names = _decode(f[k][()]) if (k := next((k for k in ("list_classes", "classes") if k in f), None)) else []
        info["classes"] = names
        for key in sorted(f.keys()):
            ds = f[key]
            row = {"name": key, "shape": list(ds.shape), "dtype": str(ds.dtype)}
            if ds.dtype.kind in "iufb" and ds.size:
                arr = ds[()]
                row["min"], row["max"] = float(arr.min()), float(arr.max())
            info["arrays"].append(row)
        for split, (xk, yk) in {"train": ("train_set_x", "train_set_y"), "test": ("test_set_x", "test_set_y"), "data": ("x", "y")}.items():
            if xk in f and yk in f:
                y = f[yk][()].ravel()
                values, counts = np.unique(y, return_counts=True)
                balance = {
                    (names[int(v)] if names and float(v).is_integer() and 0 <= int(v) < len(names) else str(v)): int(c)
                    for v, c in zip(values, counts)
                } if len(values) <= 20 else {"distinct values": int(len(values))}
                info["splits"].append({"split": split, "m": int(len(y)), "example_shape": list(f[xk].shape[1:]), "balance": balance})
        if not info["splits"]:
            info["layout"] = f"unknown (holds {describe_h5(f)})"
        else:
            info["layout"] = "course" if any(s["split"] != "data" for s in info["splits"]) else "plain"
    return info


def write_preview(path, target) -> Path:
    """A contact sheet of a few examples per class of the file's first split."""
    from nnctl.data import open_h5
    from nnctl.plots import plot_preview

    info = dataset_info(path)
    if not info["splits"]:
        raise DataError(f"{path}: no examples to preview")
    split = info["splits"][0]["split"]
    xk, yk = ("x", "y") if split == "data" else (f"{split}_set_x", f"{split}_set_y")
    with open_h5(path) as f:
        x, y = f[xk][()], f[yk][()]
    return plot_preview(target, x, y, info["classes"])
