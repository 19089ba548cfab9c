"""Issue 22 §4, the small things a new user hit: help without <bool>, shell completion, one-channel
imports, a --classes folder that is not there, sweep trials told apart at 80 columns."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import h5py
import pytest
from conftest import invoke, run_nnctl
from PIL import Image

from nnctl.cli.display import middle_cut


def nnctl(*args, env=None):
    return run_nnctl(*args, env=env)  # in this process, answered as a subprocess is


@pytest.mark.parametrize("command", [["train"], ["sweep"], ["predict"], ["data", "import"], ["runs"]])
def test_help_shows_no_bool_placeholder(command):
    out = invoke(*command, "--help")
    assert out.exit_code == 0
    assert "<bool>" not in out.stdout and "--help" in out.stdout


@pytest.mark.slow  # a real shell and a fresh process read the completion
def test_shell_completion_script_and_answers():
    bash = shutil.which("bash")
    if bash is not None:  # --show-completion detects the shell it runs in: run it in one (a second command, so that
        # bash stays the parent rather than exec'ing Python, whose parent would then be whatever started pytest)
        script = subprocess.run([bash, "-c", f"'{sys.executable}' -m nnctl --show-completion; exit $?"], capture_output=True, text=True, check=False)
        assert script.returncode == 0 and "_nnctl_completion" in script.stdout, script.stderr
    env = {"_NNCTL_COMPLETE": "complete_bash", "COMP_WORDS": "nnctl tr", "COMP_CWORD": "1"}
    done = subprocess.run(
        [sys.executable, "-c", "from nnctl.cli.commands import main; main()"], capture_output=True, text=True, check=False, env={**os.environ, **env}
    )
    assert done.stdout.split() == ["train"]


def _pictures(folder, classes=("dark", "light")):
    for k, name in enumerate(classes):
        (folder / name).mkdir(parents=True)
        for j in range(6):
            value = 40 + 150 * k + j
            Image.new("RGB", (10, 10), (value, value, value)).save(folder / name / f"{j}.png")


def test_grayscale_import_keeps_one_channel_and_predict_reads_it(tmp_path):
    _pictures(tmp_path / "pics")
    out = invoke("data", "import", tmp_path / "pics", "--grayscale", "--size", "8", "-o", tmp_path / "g.h5", "--test-fraction", "0.5", "-q")
    assert out.exit_code == 0, out.output
    with h5py.File(tmp_path / "g.h5") as f:
        assert f["train_set_x"].shape == (6, 8, 8) and f.attrs["mode"] == "L"
        x = f["train_set_x"][()]
        assert set(x[:, 0, 0].tolist()) <= set(range(40, 46)) | set(range(190, 196))  # grey in, the same grey out
        assert (x == x[:, :1, :1]).all()  # one uniform channel per picture
    (tmp_path / "g.yaml").write_text("data: {train: g.h5, test: g.h5}\ntrain: {learning_rate: 0.5, iterations: 50}\n")
    out = invoke("train", tmp_path / "g.yaml", "-q", "--no-report", "--runs-dir", tmp_path / "runs")
    assert out.exit_code == 0, out.output
    assert "[64, 1]" in out.stdout
    rgb = tmp_path / "new.png"
    Image.new("RGB", (20, 20), (230, 230, 230)).save(rgb)
    pred = invoke("predict", rgb, "--run", tmp_path / "runs" / "latest", "--csv")
    assert pred.exit_code == 0, pred.output
    assert ",light," in pred.stdout and "RGB→L" in pred.stdout


def test_classes_naming_a_missing_folder_is_an_error(tmp_path):
    _pictures(tmp_path / "pics")
    out = invoke("data", "import", tmp_path / "pics", "--classes", "dark,lite", "-o", tmp_path / "x.h5")
    assert out.exit_code == 1
    assert out.stderr == f"Error: {tmp_path}/pics: no sub-folder lite; found: dark, light\n"
    assert not (tmp_path / "x.h5").exists()


def test_middle_cut():
    name = "sweep-20261204-170102-a-rather-long-experiment/03-learning_rate=0.05"
    assert middle_cut(name, 100) == name
    assert middle_cut(name, 30) == "sweep-20261204…ing_rate=0.05"[:14] + "…" + name[-15:]
    assert len(middle_cut(name, 30)) == 30


def test_sweep_trials_stay_distinguishable_at_80_columns(tmp_path, tiny_config):
    config = tmp_path / "a-rather-long-experiment-name.yaml"
    config.write_text(tiny_config.read_text().replace("name: tiny\n", ""))
    out = invoke("sweep", config, "--grid", "train.learning_rate=0.1,0.05,0.02", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert out.exit_code == 0, out.output
    listed = nnctl("runs", "--runs-dir", tmp_path / "runs", env={"COLUMNS": "80"})
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert max(map(len, lines)) <= 80
    shown = [line.split()[0] for line in lines if "…" in line.split()[0]]
    assert len(shown) == 3 and len(set(shown)) == 3  # cut in the middle, each still its own
    assert sorted(s.rsplit("=", 1)[-1] for s in shown) == ["0.02", "0.05", "0.1"]
    for other in shown[1:]:  # the printed names find their trials again
        compared = invoke("runs", "compare", shown[0], other, "--runs-dir", tmp_path / "runs")
        assert compared.exit_code == 0, compared.output
        assert "train.learning_rate" in compared.stdout
