"""A spec read from stdin or a pipe has no folder of its own: its relative data paths are read from
the working folder, and a sweep planned from it resumes without it (sweep.json keeps its text)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import TINY_SPEC

pytestmark = pytest.mark.slow  # real processes with a real stdin


def nnctl(args, cwd, stdin_path=None, text=None):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    stdin = open(stdin_path) if stdin_path else None
    try:
        return subprocess.run(
            [sys.executable, "-m", "nnctl", *map(str, args)], cwd=cwd, env=env, stdin=stdin, input=text, capture_output=True, text=True, timeout=600
        )
    finally:
        if stdin:
            stdin.close()


@pytest.mark.parametrize("how", ["pipe", "redirect"])
def test_a_spec_on_stdin_reads_its_data_from_the_working_folder(tmp_path, tiny_data, how):
    """`nnctl train /dev/stdin < spec.yaml` read train.h5 as /dev/train.h5."""
    (tmp_path / "spec.yaml").write_text(TINY_SPEC)
    if how == "pipe":
        r = nnctl(["train", "/dev/stdin", "--runs-dir", "runs", "-q"], tmp_path, text=TINY_SPEC)
    else:
        r = nnctl(["train", "/dev/stdin", "--runs-dir", "runs", "-q"], tmp_path, stdin_path=tmp_path / "spec.yaml")
    assert r.returncode == 0, r.stderr
    assert "/dev/train.h5" not in r.stderr


def test_a_sweep_planned_from_stdin_resumes_without_it(tmp_path, tiny_data):
    """--resume said "/dev/stdin: the config file this sweep was planned from is gone; put it back"."""
    r = nnctl(["sweep", "/dev/stdin", "--grid", "train.seed=1,2", "--jobs", "1", "--runs-dir", "runs", "-q"], tmp_path, text=TINY_SPEC)
    assert r.returncode == 0, r.stderr
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    plan = json.loads((sweep_dir / "sweep.json").read_text())
    assert plan["text"] == TINY_SPEC
    resumed = nnctl(["sweep", "--resume", sweep_dir, "--jobs", "1", "-q"], tmp_path, text="")
    assert resumed.returncode == 0, resumed.stderr
    assert "is gone" not in resumed.stderr
