"""Shared fixtures: tiny HDF5 files in both layouts and a tiny spec, all written in tmp_path."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
CAT_TRAIN = SHARED / "train_catvnoncat.h5"
CAT_TEST = SHARED / "test_catvnoncat.h5"

needs_cat_data = pytest.mark.skipif(
    not (CAT_TRAIN.exists() and CAT_TEST.exists()), reason=f"course data not found in {SHARED}"
)


def write_course_h5(path, prefix="train", m=12, shape=(4, 4, 3), seed=0):
    """A tiny file in the course's layout: bright images are class 1, dark ones class 0."""
    rng = np.random.default_rng(seed)
    y = (np.arange(m) % 2).astype(np.int64)
    x = rng.integers(0, 128, size=(m, *shape)).astype(np.uint8)
    x[y == 1] += 127
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = x
        f[f"{prefix}_set_y"] = y
        f["list_classes"] = np.array([b"dark", b"bright"])
    return path


@pytest.fixture
def tiny_data(tmp_path):
    return write_course_h5(tmp_path / "train.h5", "train"), write_course_h5(tmp_path / "test.h5", "test", m=6, seed=1)


TINY_SPEC = """\
name: tiny
data:
  train: train.h5
  test: test.h5
model:
  hidden: [3]
  hidden_activation: relu
  init: he
train:
  learning_rate: 0.1
  iterations: 30
  seed: 3
  record_every: 10
"""


@pytest.fixture
def tiny_config(tmp_path, tiny_data):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPEC)
    return path


# A training step that raises `{exc}` at step 9000 (a bug, MemoryError, a second Ctrl-C), run as
# `python -c FAULT.format(exc=...) train ...`: the process dies in the middle of training for real.
FAULT = """
import sys
from nnctl.core import training
from nnctl.cli.commands import main
real = training.Trainer.backward_and_update
calls = [0]
def faulty(self):
    calls[0] += 1
    if calls[0] == 9000:
        raise {exc}
    return real(self)
training.Trainer.backward_and_update = faulty
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def invoke(*args):
    """`nnctl ARGS...` in this process (Typer's CliRunner), every argument made a string."""
    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    return CliRunner().invoke(app, [str(a) for a in args])
