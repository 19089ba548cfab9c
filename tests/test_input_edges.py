"""The input side, provoked for real: files read once, FIFOs refused in time, YAML bounded, overrides
that replace, previews that fit the data, one pixel limit, Pillow failures kept to one file, memory
limits seen, integer features left alone. (Bad inputs with a one-line message are in error_cases.py.)"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import invoke, REPO, TINY_SPEC, run_nnctl, write_course_h5
from error_cases import bad_exif_jpg, bad_header_ppm, truncated_ihdr_png
from nnctl.data import images
from nnctl.util import memory
from nnctl.spec.config import load_config, load_config_text, parse_yaml, spec_from_text
from nnctl.data.dataset import load_dataset
from nnctl.errors import ConfigError
from nnctl.sweep.plan import parse_grid, plan_sweep

LAYERS_SPEC = TINY_SPEC.replace("hidden: [3]", "layers: [48, 3, 1]")


def nnctl(*args, timeout=60, **kw):
    """nnctl in a real process: for a real pipe on its standard input, and one evaluate."""
    return subprocess.run([sys.executable, "-m", "nnctl", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


def photo_folder(root, per_class=3, size=(10, 8)):
    for k, name in enumerate(("cat", "non-cat")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", size, (200 * k, 20 * i, 90)).save(root / name / f"{i}.png")
    return root


# ---------------------------------------------------------------- issue 10 §3: read once, never block


@pytest.mark.slow  # a real process reading a real pipe
def test_spec_from_a_pipe_is_read_once_and_kept_whole(tmp_path):
    """`cat spec | nnctl train /dev/stdin`: spec.yaml holds the text that was trained (it was empty)."""
    write_course_h5(tmp_path / "train.h5")
    text = TINY_SPEC.replace("train: train.h5", f"train: {tmp_path / 'train.h5'}").replace("  test: test.h5\n", "")
    result = nnctl("train", "/dev/stdin", "-q", "--runs-dir", tmp_path / "runs", input=text)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs" / "latest" / "spec.yaml").read_text() == text
    # relative data paths of a piped spec are read from the working folder (it has no folder of its own)
    relative = TINY_SPEC.replace("  test: test.h5\n", "")
    result = nnctl("train", "/dev/stdin", "-q", "--runs-dir", "runs2", input=relative, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "runs2" / "latest" / "spec.yaml").read_text() == relative


def test_load_config_text_returns_what_it_parsed(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(TINY_SPEC)
    spec, text = load_config_text(path)
    assert text == TINY_SPEC and spec.name == "tiny"


@pytest.mark.parametrize(
    "where,args",
    [
        ("spec", ["train", "{fifo}"]),
        ("spec", ["config", "show", "{fifo}"]),
        ("data", ["train", "{spec}"]),
        ("data", ["config", "show", "{spec}"]),
        ("data", ["data", "info", "{fifo}"]),
        ("data", ["data", "info", "{fifo}", "--preview"]),
    ],
)
def test_a_fifo_is_refused_at_once_not_opened(tmp_path, where, args):
    """A FIFO with no writer blocks `open` for ever (and Ctrl-C with it): a real FIFO, the command in this
    process; a read that blocks fails the test after 60 s (conftest.run_nnctl's watchdog)."""
    fifo = tmp_path / ("c.yaml" if where == "spec" else "train.h5")
    os.mkfifo(fifo)
    (tmp_path / "spec.yaml").write_text(TINY_SPEC.replace("  test: test.h5\n", ""))
    argv = [a.replace("{fifo}", str(fifo)).replace("{spec}", str(tmp_path / "spec.yaml")) for a in args]
    result = run_nnctl(*argv, timeout=60, cwd=tmp_path)  # the old code never returned
    assert result.returncode == 1
    kind = "give a YAML config file" if where == "spec" else "give an HDF5 data file (.h5)"
    assert result.stderr.strip().startswith(f"Error: {fifo}: is a named pipe (FIFO), not a regular file; {kind}")
    assert "Traceback" not in result.stderr


@pytest.mark.slow  # a real process (test_a_fifo_is_refused_at_once_not_opened: the others in this one)
def test_evaluate_data_fifo_refused_in_a_real_process(tmp_path):
    write_course_h5(tmp_path / "train.h5")
    (tmp_path / "spec.yaml").write_text(TINY_SPEC.replace("  test: test.h5\n", ""))
    assert nnctl("train", tmp_path / "spec.yaml", "-q", "--runs-dir", tmp_path / "runs").returncode == 0
    os.mkfifo(tmp_path / "other.h5")
    result = nnctl("evaluate", tmp_path / "runs" / "latest", "--data", tmp_path / "other.h5")
    assert result.returncode == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'other.h5'}: is a named pipe (FIFO), not a regular file; give an HDF5 data file (.h5)"


def test_yaml_work_is_bounded_not_the_count_of_a_character():
    anchors = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefghi", "bcdefghij"))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to over 100,000 values"):
        parse_yaml(anchors + "v: *j\n", "bomb.yaml")  # 81 aliases, 9**10 values once expanded
    with pytest.raises(ConfigError, match="nested over 64 levels deep"):
        parse_yaml("x: " + "[" * 600 + "]" * 600 + "\n", "deep.yaml")
    assert time.perf_counter() - t0 < 10  # the old parse ran for minutes; any bound is far below this
    # many aliases of a small anchor are fine: it is the expanded size that counts, not the '*'
    ok = "grid: &g [1, 2, 3]\n" + "".join(f"k{i}: *g\n" for i in range(150))
    assert len(parse_yaml(ok, "ok.yaml")) == 151
    assert parse_yaml("x: " + "[" * 30 + "]" * 30 + "\n", "fine.yaml")["x"] is not None


# ---------------------------------------------------------------- issue 9 §4: overrides replace, the schema


def test_set_hidden_replaces_layers_and_back(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text(LAYERS_SPEC)
    spec = load_config(path, ["model.hidden=[20,7]"])
    assert spec.model.hidden == [20, 7] and spec.model.layers is None
    (tmp_path / "hidden.yaml").write_text(TINY_SPEC)
    spec = load_config(tmp_path / "hidden.yaml", ["model.layers=[48, 5, 1]"])
    assert spec.model.layers == [48, 5, 1] and spec.model.hidden is None
    with pytest.raises(ConfigError, match="not both"):  # both in the file itself is still a mistake
        spec_from_text(TINY_SPEC.replace("hidden: [3]", "hidden: [3]\n  layers: [48, 3, 1]"), path)


def test_train_and_sweep_grid_on_a_spec_with_layers(tmp_path):
    write_course_h5(tmp_path / "train.h5")
    write_course_h5(tmp_path / "test.h5", "test", m=6, seed=1)
    (tmp_path / "deep.yaml").write_text(LAYERS_SPEC)
    result = invoke("train", tmp_path / "deep.yaml", "--set", "model.hidden=[5,2]", "-q", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "runs" / "latest" / "metrics.json").read_text())["layers"] == [48, 5, 2, 1]
    spec = spec_from_text(LAYERS_SPEC, tmp_path / "deep.yaml")
    plan = plan_sweep(spec, LAYERS_SPEC, tmp_path / "deep.yaml", grid=parse_grid(["model.hidden=[20,7],[7]"]))
    assert [t.values["model.hidden"] for t in plan.trials] == [[20, 7], [7]]
    with pytest.raises(ConfigError, match=r"train.seed: must be less than or equal to 4294967295 \(got 4294967296\)"):
        plan_sweep(spec, LAYERS_SPEC, tmp_path / "deep.yaml", grid=parse_grid(["train.seed=1,4294967296"]))


def test_config_show_and_train_agree_on_builtin_queries(tmp_path):
    (tmp_path / "c.yaml").write_text("data: {train: 'builtin:planar?m=abc'}\ntrain: {learning_rate: 1, iterations: 2}\n")
    shown, trained = invoke("config", "show", tmp_path / "c.yaml"), invoke("train", tmp_path / "c.yaml")
    assert shown.exit_code == trained.exit_code == 1
    assert (
        shown.stderr
        == trained.stderr
        == (f"Error: {tmp_path / 'c.yaml'}: data.train: builtin:planar?m=abc: m must be a whole number of at least 2 (got 'abc')\n")
    )
    (tmp_path / "ok.yaml").write_text("data: {train: 'builtin:planar?m=40&seed=3&noise=0.1'}\ntrain: {learning_rate: 1, iterations: 2}\n")
    assert invoke("config", "show", tmp_path / "ok.yaml").exit_code == 0


def test_regression_with_a_linear_output_still_allowed(tmp_path):
    (tmp_path / "r.yaml").write_text(TINY_SPEC.replace("init: he", "init: he\n  output_activation: linear\n  loss: mse"))
    assert load_config(tmp_path / "r.yaml").model.resolved_task == "regression"


# ---------------------------------------------------------------- issue 9 §2: import overwrites, labels


def test_import_refuses_to_overwrite_unless_force(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    out = tmp_path / "pets.h5"
    out.write_bytes(b"an earlier import")
    result = invoke("data", "import", photos, "-o", out, "-q")
    assert result.exit_code == 1 and out.read_bytes() == b"an earlier import"  # nothing lost
    result = invoke("data", "import", photos, "-o", out, "-q", "--force", "--classes", "non-cat,cat")
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert [c.decode() for c in f["list_classes"][()]] == ["non-cat", "cat"]


def test_data_info_names_the_label_of_each_class(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    invoke("data", "import", photos, "-o", tmp_path / "pets.h5", "-q", "--classes", "non-cat,cat")
    result = invoke("data", "info", tmp_path / "pets.h5")
    assert result.exit_code == 0
    assert "labels: 0 = non-cat, 1 = cat; the positive class is cat (predict's probability is P(cat))" in result.stdout


def test_readme_import_states_the_class_order():
    readme = (REPO / "README.md").read_text()
    assert "nnctl data import photos_by_class/ --classes non-cat,cat" in readme
    pets = (REPO / "configs" / "pets.yaml").read_text()
    assert "--classes non-cat,cat" in pets


# ---------------------------------------------------------------- issue 9 §4 and 10 §5: previews that fit


def _tabular(path, n_features, y):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["x"] = rng.standard_normal((len(y), n_features))
        f["y"] = y


@pytest.mark.parametrize(
    "n_features,targets",
    [(10, "classes"), (30, "classes"), (3, "classes"), (1, "classes"), (3, "regression"), (1, "regression")],
)
def test_tabular_preview(tmp_path, n_features, targets):
    m = 2000
    y = np.arange(m) % 2 if targets == "classes" else np.random.default_rng(1).standard_normal(m)  # 2000 distinct targets
    _tabular(tmp_path / "t.h5", n_features, y)
    result = invoke("data", "info", tmp_path / "t.h5", "--preview-out", tmp_path / "t.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "t.png") as img:
        assert img.format == "PNG" and img.height < 1000  # one picture, not one row per distinct value
    if targets == "regression":
        assert "distinct values: 2000" in result.stdout and "labels:" not in result.stdout


def test_picture_preview_with_regression_targets(tmp_path):
    with h5py.File(tmp_path / "p.h5", "w") as f:
        f["x"] = np.random.default_rng(0).integers(0, 255, (500, 8, 8, 3), dtype=np.uint8)
        f["y"] = np.linspace(0, 1, 500)
    result = invoke("data", "info", tmp_path / "p.h5", "--preview-out", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "p.png") as img:
        assert img.height < 600  # two rows of examples, each titled with its target


# ---------------------------------------------------------------- pictures: one limit, one bad file at a time


def test_max_pixels_option_on_import_and_predict(tmp_path, monkeypatch):
    photos = photo_folder(tmp_path / "photos")
    Image.new("RGB", (40, 30)).save(photos / "cat" / "big.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    result = invoke("data", "import", photos, "-o", tmp_path / "a.h5", "-q")
    assert result.exit_code == 0
    assert (
        f"skipped {photos / 'cat' / 'big.png'}: 40×30 = 1,200 pixels is over the limit of 1,000 "
        "(a guard against decompression bombs); if you trust the file, raise it with --max-pixels 1200"
    ) in result.stderr
    result = invoke("data", "import", photos, "-o", tmp_path / "b.h5", "-q", "--max-pixels", "1200")
    assert result.exit_code == 0 and "0 files skipped" in result.stdout
    (tmp_path / "s.yaml").write_text("data: {train: b.h5}\nmodel: {hidden: [2]}\ntrain: {learning_rate: 0.1, iterations: 3}\n")
    assert invoke("train", tmp_path / "s.yaml", "-q", "--runs-dir", tmp_path / "runs").exit_code == 0
    run = tmp_path / "runs" / "latest"
    refused = invoke("predict", photos / "cat" / "big.png", "--run", run, "--json")
    assert refused.exit_code == 1 and "is over the limit of 1,000" in refused.stdout
    allowed = invoke("predict", photos / "cat" / "big.png", "--run", run, "--json", "--max-pixels", "1200")
    assert allowed.exit_code == 0 and json.loads(allowed.stdout)["probability"] is not None


def test_pillow_failures_are_one_row_or_one_skipped_file(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    truncated_ihdr_png(photos / "cat" / "ihdr.png")
    bad_header_ppm(photos / "cat" / "header.ppm")
    bad_exif_jpg(photos / "non-cat" / "exif.jpg")
    result = invoke("data", "import", photos, "-o", tmp_path / "p.h5", "-q")
    assert result.exit_code == 0, result.output
    assert "3 files skipped" in result.stdout and "cat: 2 train + 1 test" in result.stdout
    for name in ("ihdr.png", "header.ppm", "exif.jpg"):
        assert name in result.stderr
    (tmp_path / "s.yaml").write_text("data: {train: p.h5}\nmodel: {hidden: [2]}\ntrain: {learning_rate: 0.1, iterations: 3}\n")
    assert invoke("train", tmp_path / "s.yaml", "-q", "--runs-dir", tmp_path / "runs").exit_code == 0
    result = invoke("predict", photos, "--run", tmp_path / "runs" / "latest", "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.exit_code == 1 and len(rows) == 9
    assert sum(r["error"] is None for r in rows) == 6  # the good pictures are still predicted
    assert result.stderr.strip() == "Error: 3 of 9 files could not be read"


def test_import_file_name_that_is_not_utf8(tmp_path):
    photos = photo_folder(tmp_path / "photos")
    raw = os.fsencode(photos / "cat") + b"/caf\xe9.png"  # Latin-1 bytes, not UTF-8
    Image.new("RGB", (10, 8), (1, 2, 3)).save(raw.decode("utf-8", "surrogateescape"))
    with open(os.fsencode(photos / "non-cat") + b"/\xff.png", "wb") as fh:
        fh.write(b"not a picture")
    result = invoke("data", "import", photos, "-o", tmp_path / "p.h5", "-q", "--test-fraction", "0")
    assert result.exit_code == 0, result.output
    assert f"skipped {photos / 'non-cat'}/\\xff.png: not an image Pillow can read" in result.stderr
    with h5py.File(tmp_path / "p.h5") as f:
        assert b"cat/caf\xe9.png" in list(f["train_set_files"][()])  # the name's bytes, as on disk


# ---------------------------------------------------------------- memory: rlimits and cgroups


@pytest.mark.slow  # fresh processes under an address-space limit
def test_available_memory_respects_rlimit_as(tmp_path):
    """Under `ulimit -v` a data file that needs more is refused with the numbers, not a MemoryError."""
    limit = 3 << 30

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    code = "from nnctl.util.memory import available_memory; print(available_memory())"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, preexec_fn=cap, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert 0 < int(out.stdout) < limit
    with h5py.File(tmp_path / "big.h5", "w") as f:  # 2 GiB declared: fits the machine, not the limit
        f.create_dataset("x", shape=(2**18, 1024), dtype=np.float64, chunks=(1024, 1024))
        f["y"] = np.zeros(2**18, dtype=np.uint8)
    (tmp_path / "c.yaml").write_text("data: {train: big.h5}\nmodel: {hidden: [2]}\ntrain: {learning_rate: 0.1, iterations: 2}\n")
    result = subprocess.run(
        [sys.executable, "-m", "nnctl", "train", str(tmp_path / "c.yaml")], capture_output=True, text=True, preexec_fn=cap, env=env, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"Error: {tmp_path / 'big.h5'}: 'x' declares 262144×1024 values; reading it takes about 4.0 GiB")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_available_memory_respects_the_cgroup(tmp_path, monkeypatch, version):
    root = tmp_path / "cgroup"
    if version == "v2":
        d = root / "user.slice" / "job"
        d.mkdir(parents=True)
        (d / "memory.max").write_text("1073741824\n")
        (d / "memory.current").write_text("268435456\n")
        (root / "user.slice" / "memory.max").write_text("max\n")
        line = "0::/user.slice/job\n"
    else:
        d = root / "memory" / "docker" / "abc"
        d.mkdir(parents=True)
        (d / "memory.limit_in_bytes").write_text("1073741824\n")
        (d / "memory.usage_in_bytes").write_text("268435456\n")
        line = "4:memory:/docker/abc\n"
    (tmp_path / "cgroup.txt").write_text(line)
    monkeypatch.setattr(memory, "CGROUP_ROOT", root)
    monkeypatch.setattr(memory, "PROC_CGROUP", tmp_path / "cgroup.txt")
    monkeypatch.setattr(memory, "_rlimits", lambda: [])  # whatever limits the test runner has
    assert memory.available_memory() == min(768 << 20, memory._meminfo())


# ---------------------------------------------------------------- issue 10 §5: integer features


def test_integer_features_are_not_divided_by_the_dtype_maximum(tmp_path):
    x = np.array([[1, 200], [3, 40], [5, 60]], dtype=np.int64)
    with h5py.File(tmp_path / "i.h5", "w") as f:
        f["x"], f["y"] = x, np.array([0, 1, 0])
    data = load_dataset(str(tmp_path / "i.h5"))
    assert data.preprocessing["scale"] == 1.0 and np.array_equal(data.X, x.T.astype(float))  # was x / (2**63 - 1)
    with h5py.File(tmp_path / "u.h5", "w") as f:
        f["x"], f["y"] = x.astype(np.uint8), np.array([0, 1, 0])
    assert load_dataset(str(tmp_path / "u.h5")).preprocessing["scale"] == 255.0  # pixels, as the course


# ---------------------------------------------------------------- issue 10 §4: data info on odd files


def test_data_info_shows_extra_groups_and_dangling_links(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"], f["y"] = np.zeros((3, 2)), np.array([0, 1, 0])
        f.create_group("meta").create_dataset("note", data=1)
        f["old"] = h5py.ExternalLink("gone.h5", "/x")
        f["classes"] = np.array([b"caf\xe9", b"tea"])  # Latin-1 bytes, not UTF-8
        f["labels_text"] = np.array([b"a", b"b", b"a"])
    result = invoke("data", "info", tmp_path / "d.h5")
    assert result.exit_code == 0, result.output
    assert "group of 1 items" in result.stdout and "missing: external link to gone.h5:/x" in result.stdout
    # the class name is the text caf\xe9 (its byte written out), so its backslash shows doubled: never a byte or an escape
    assert "labels: 0 = caf\\\\xe9, 1 = tea" in result.stdout


def test_data_info_with_text_labels(tmp_path):
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"], f["y"] = np.zeros((3, 2)), np.array([b"a", b"b", b"a"])
    result = invoke("data", "info", tmp_path / "d.h5")
    assert result.exit_code == 0 and "labels: not numbers (|S1); nnctl needs numeric labels" in result.stdout
    result = invoke("data", "info", tmp_path / "d.h5", "--preview-out", tmp_path / "p.png")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: {tmp_path / 'd.h5'}: 'x' (float64) and 'y' (|S1) must hold numbers to be previewed"


def test_import_lists_fifos_devices_and_dangling_links_as_skipped(tmp_path):
    """They were left out without a word ("2 files skipped" for 5 bad files): each is named with its reason."""
    root = photo_folder(tmp_path / "pics")
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    os.mkfifo(classes[0] / "pipe.png")
    (classes[0] / "zero.png").symlink_to("/dev/zero")
    (classes[1] / "gone.png").symlink_to(tmp_path / "nowhere.png")
    result = run_nnctl("data", "import", root, "-o", tmp_path / "p.h5", "--size", "8", timeout=60)
    assert result.returncode == 0, result.stderr
    said = result.stdout + result.stderr
    assert "pipe.png: is a named pipe (FIFO), not a regular file" in said
    assert "zero.png: is a character device, not a regular file" in said
    assert "gone.png: no such file" in said
    assert "3 files skipped" in said
