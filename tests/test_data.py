"""Data files: both layouts, the course's flattening, the built-in flower, and bad files."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from conftest import CAT_TRAIN, needs_cat_data, write_course_h5
from nnctl.data.dataset import load_dataset, make_planar, read_raw, write_dataset
from nnctl.errors import DataError


def test_course_layout_flattened_the_course_way(tmp_path):
    path = write_course_h5(tmp_path / "t.h5", m=5, shape=(2, 3, 3))
    with h5py.File(path) as f:
        x = f["train_set_x"][()]
    data = load_dataset(str(path))
    assert data.X.shape == (18, 5) and data.Y.shape == (1, 5)
    np.testing.assert_array_equal(data.X, x.reshape(5, -1).T / 255.0)  # the course's line
    assert data.classes == ["dark", "bright"]
    assert data.preprocessing == {"flatten": "example-per-column", "input_shape": [2, 3, 3], "x_dtype": "uint8", "scale": 255.0}


def test_plain_layout_floats_unscaled(tmp_path):
    x = np.arange(12, dtype=float).reshape(6, 2)
    path = write_dataset(tmp_path / "p.h5", x, np.array([0, 1, 0, 1, 0, 1]), ["a", "b"])
    data = load_dataset(str(path))
    np.testing.assert_array_equal(data.X, x.T)
    assert data.preprocessing["scale"] == 1.0 and data.classes == ["a", "b"]


@needs_cat_data
def test_cat_file():
    data = load_dataset(str(CAT_TRAIN))
    assert data.X.shape == (12288, 209) and data.Y.shape == (1, 209)
    assert data.classes == ["non-cat", "cat"] and 0 <= data.X.min() and data.X.max() <= 1


def test_planar_is_the_course_flower():
    x, y = make_planar()
    assert x.shape == (400, 2) and y.shape == (400,) and set(np.unique(y)) == {0, 1}
    # the course's load_planar_dataset, verbatim (global seeding), for comparison
    np.random.seed(1)
    X = np.zeros((400, 2))
    for j in range(2):
        ix = range(200 * j, 200 * (j + 1))
        t = np.linspace(j * 3.12, (j + 1) * 3.12, 200) + np.random.randn(200) * 0.2
        r = 4 * np.sin(4 * t) + np.random.randn(200) * 0.2
        X[ix] = np.c_[r * np.sin(t), r * np.cos(t)]
    np.testing.assert_array_equal(x, X)


def test_builtin_source_with_arguments():
    x, y, classes, digest = read_raw("builtin:planar?m=100&seed=2")
    assert x.shape == (100, 2) and classes == ["red", "blue"] and len(digest) == 64


def _h5(path, **arrays):
    with h5py.File(path, "w") as f:
        for key, value in arrays.items():
            f[key] = value
    return str(path)


def test_unknown_layout_shows_contents(tmp_path):
    path = _h5(tmp_path / "bad.h5", features=np.zeros((3, 2)), labels=np.zeros(3))
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert str(info.value) == (
        f"{path}: no known layout: expected 'train_set_x'/'train_set_y' or 'test_set_x'/'test_set_y' (course) "
        "or 'x'/'y' (plain); the file holds: features (3, 2) float64, labels (3,) float64"
    )


@pytest.mark.parametrize(
    "arrays,problem",
    [
        ({"x": np.zeros((4, 2)), "y": np.zeros(3)}, "x holds 4 examples but y has shape (3,); y needs one label per example, shape (4,)"),
        (
            {"x": np.zeros((3, 2)), "y": np.array([0, 1, 2])},
            "labels [2] are outside the task: a sigmoid output needs labels 0 or 1 (for regression use a linear output)",
        ),
        ({"x": np.array([[0.0, np.nan]]), "y": np.zeros(1)}, "x holds NaN or infinite values; clean the data first"),
        ({"x": np.zeros((0, 2)), "y": np.zeros(0)}, "holds zero examples (x has shape (0, 2)); a dataset needs at least one"),
        ({"x": np.array([b"a", b"b"]), "y": np.zeros(2)}, "x has dtype |S1; expected numbers (uint8 pixels or floats)"),
    ],
)
def test_bad_contents(tmp_path, arrays, problem):
    path = _h5(tmp_path / "bad.h5", **arrays)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert str(info.value) == f"{path}: {problem}"


def test_regression_accepts_any_finite_label(tmp_path):
    path = _h5(tmp_path / "r.h5", x=np.zeros((3, 2)), y=np.array([0.5, -2.0, 7.0]))
    assert load_dataset(path, "regression").Y.tolist() == [[0.5, -2.0, 7.0]]


def test_not_hdf5_missing_and_directory(tmp_path):
    junk = tmp_path / "junk.h5"
    junk.write_text("not hdf5")
    with pytest.raises(DataError, match=r"junk.h5: not an HDF5 file; give a .h5 file in the course or plain layout$"):
        load_dataset(str(junk))
    with pytest.raises(DataError, match=r"nope.h5: no such data file; check the path"):
        load_dataset(str(tmp_path / "nope.h5"))
    with pytest.raises(DataError, match=r": is a directory, not a data file; give an HDF5 data file \(\.h5\)"):
        load_dataset(str(tmp_path))
