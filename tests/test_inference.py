"""From a folder of photos to a prediction: import, train, predict, evaluate, info."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import invoke, REPO
from nnctl.experiment.inference import evaluate, predict_files
from nnctl.rundir.runs import load_run


@pytest.fixture
def photos(tmp_path):
    """Two classes of pictures in assorted sizes and modes, plus two files that are not pictures."""
    rng = np.random.default_rng(0)
    root = tmp_path / "photos"
    for name, base in (("night", 40), ("day", 210)):
        (root / name).mkdir(parents=True)
        for i in range(10):
            arr = np.clip(rng.normal(base, 25, (30 + i, 24 + 2 * i, 3)), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr)
            if i % 3 == 1:
                img = img.convert("L")
            elif i % 3 == 2:
                img = img.convert("RGBA")
            img.save(root / name / f"{i}.{'png' if i % 2 or img.mode == 'RGBA' else 'jpg'}")
    (root / "night" / "readme.txt").write_text("not a picture")
    (root / "day" / "cut.jpg").write_bytes((root / "day" / "0.jpg").read_bytes()[:200])
    return root


@pytest.fixture
def trained(tmp_path, photos):
    out = tmp_path / "pets.h5"
    result = invoke("data", "import", photos, "-o", out, "--size", "12", "--classes", "night,day", "--seed", "3")
    assert result.exit_code == 0, result.output
    (tmp_path / "pets.yaml").write_text(
        "data: {train: pets.h5, test: pets.h5}\nmodel: {hidden: [4], init: he}\ntrain: {learning_rate: 0.05, iterations: 60, record_every: 20}\n"
    )
    result = invoke("train", tmp_path / "pets.yaml", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    return out, tmp_path / "runs" / "latest"


def test_import_layout_split_and_skipped(tmp_path, photos):
    out = tmp_path / "pets.h5"
    result = invoke("data", "import", photos, "-o", out, "--size", "12", "--classes", "night,day")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"wrote {out}: night: 8 train + 2 test, day: 8 train + 2 test; 2 files skipped"
    assert f"skipped {photos / 'day' / 'cut.jpg'}: damaged or truncated image" in result.stderr
    assert f"skipped {photos / 'night' / 'readme.txt'}: not an image Pillow can read" in result.stderr
    with h5py.File(out) as f:
        assert f["train_set_x"].shape == (16, 12, 12, 3) and f["train_set_x"].dtype == np.uint8
        assert f["test_set_x"].shape == (4, 12, 12, 3)
        assert sorted(f["test_set_y"][()].tolist()) == [0, 0, 1, 1]  # stratified
        assert [c.decode() for c in f["list_classes"][()]] == ["night", "day"]
        files = [n.decode() for n in np.r_[f["train_set_files"][()], f["test_set_files"][()]]]
    assert len(set(files)) == 20
    # seeded: the same call gives the same split
    again = tmp_path / "again.h5"
    invoke("data", "import", photos, "-o", again, "--size", "12", "--classes", "night,day")
    with h5py.File(out) as a, h5py.File(again) as b:
        assert (a["test_set_files"][()] == b["test_set_files"][()]).all()


def test_import_needs_two_classes(tmp_path):
    (tmp_path / "only").mkdir()
    result = invoke("data", "import", tmp_path, "-o", tmp_path / "x.h5")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {tmp_path}: found 1 class folder (only); a classifier needs two or more, "
        "one sub-folder of pictures per class (or choose them with --classes a,b,c)"
    )


def test_round_trip_predict_equals_evaluate(trained, photos):
    data, run_link = trained
    run = load_run(run_link)
    result, _ = evaluate(run, str(data))
    with h5py.File(data) as f:
        files = [photos / n.decode() for n in f["test_set_files"][()]]
    preds = predict_files(run, files)
    assert [p.error for p in preds] == [None] * len(files)
    assert [p.probability for p in preds] == result["probabilities"]  # the very same pixels, the very same number


def test_pictures_are_predicted_a_chunk_at_a_time(trained, photos, monkeypatch):
    """IMAGES_PER_CHUNK pictures are held at once: with chunks of 3 (a damaged file in between), every
    file keeps its place, its error or its class, and the probability of all of them predicted together."""
    from nnctl.experiment import inference

    _, run_link = trained
    run = load_run(run_link)
    files = sorted((photos / "night").iterdir()) + [photos / "day" / "cut.jpg"] + sorted((photos / "day").glob("[0-9].*"))
    whole = predict_files(run, files)
    monkeypatch.setattr(inference, "IMAGES_PER_CHUNK", 3)
    held = []
    monkeypatch.setattr(inference, "probabilities", lambda r, x, f=inference.probabilities: held.append(x.shape[0]) or f(r, x))
    chunked = predict_files(run, files)
    assert max(held) == 3 and sum(held) == sum(p.error is None for p in whole) == 20
    assert [(p.file, p.error, p.class_name) for p in chunked] == [(p.file, p.error, p.class_name) for p in whole]
    assert sum(p.error is not None for p in whole) == 2  # readme.txt and cut.jpg
    np.testing.assert_allclose([p.probability or 0 for p in chunked], [p.probability or 0 for p in whole], rtol=1e-12)


def test_predict_cli_mixed_good_and_bad(trained, photos):
    _, run = trained
    result = invoke("predict", photos / "night", photos / "day" / "cut.jpg", "--run", run, "--json")
    assert result.exit_code == 1
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(rows) == 11
    bad = [r for r in rows if r["error"]]
    assert [r["file"] for r in bad] == [str(photos / "day" / "cut.jpg")]
    good = [r for r in rows if not r["error"]]
    assert all(0 <= r["probability"] <= 1 and r["class"] in ("night", "day") and r["probability_of"] == "day" for r in good)
    assert list(rows[0]) == ["file", "class", "label", "probability", "probability_of", "notes", "error"]
    assert any("→12×12" in n for r in good for n in r["notes"])
    assert result.stderr.strip() == "Error: 1 of 11 files could not be read"


def test_predict_table_and_csv(trained, photos):
    _, run = trained
    table = invoke("predict", photos / "day" / "1.png", "--run", run)
    assert table.exit_code == 0 and "P(day)" in table.stdout and "1.png" in table.stdout
    csv_out = invoke("predict", photos / "day" / "1.png", "--run", run, "--csv")
    header, row = csv_out.stdout.splitlines()
    # the same fields as --json, in the same order; the probability is named for its class
    assert header == "file,class,label,probability,probability_of,notes,error" and row.startswith(f"{photos / 'day' / '1.png'},")
    assert row.split(",")[4] == "day"
    assert "(P: the probability of day, label 1)" in table.stdout


def test_evaluate_cli_writes_files(trained):
    data, run = trained
    result = invoke("evaluate", run)
    assert result.exit_code == 0, result.output
    evaluation = json.loads((run / "evaluation.json").read_text())
    assert evaluation["m"] == 4 and sum(map(sum, evaluation["confusion_matrix"])) == 4
    assert set(evaluation) >= {"accuracy", "precision", "recall", "f1", "confusion_matrix", "probabilities"}
    assert "confusion matrix" in result.stdout and "accuracy" in result.stdout


def test_misclassified_gallery(trained, monkeypatch):
    data, run = trained
    r = load_run(run)
    r.params["b2"][:] = 50.0  # force every prediction to class 1: the class-0 pictures are wrong
    result, dataset = evaluate(r, str(data))
    from nnctl.experiment.inference import write_evaluation

    written = write_evaluation(r, result, dataset, source_given=True)
    assert result["misclassified"] and (r.path / "misclassified-pets.png").exists()
    assert written["files"]["misclassified"].endswith("misclassified-pets.png")
    with Image.open(r.path / "misclassified-pets.png") as img:
        assert img.format == "PNG"


def test_predict_refuses_non_image_model(tmp_path):
    result = invoke("train", REPO / "configs" / "quickstart.yaml", "--runs-dir", tmp_path, "-q", "--set", "train.iterations=10")
    assert result.exit_code == 0
    img = tmp_path / "a.png"
    Image.new("RGB", (4, 4)).save(img)
    result = invoke("predict", img, "--run", tmp_path / "latest")
    run = (tmp_path / "latest").resolve()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {tmp_path / run.name}: this model takes inputs of shape [2], not pictures; "
        "give rows of its features in a CSV or HDF5 file, or use `nnctl evaluate` with an HDF5 file"
    )
    # evaluate on 2-D data draws the decision boundary
    result = invoke("evaluate", tmp_path / "latest")
    assert result.exit_code == 0 and (run / "evaluation-boundary.png").exists()


def test_missing_and_unfinished_runs(tmp_path):
    result = invoke("predict", tmp_path / "a.png", "--run", tmp_path / "nope")
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"Error: {tmp_path / 'nope'}: no such run directory; give a run folder that `nnctl runs` lists, or train one with `nnctl train CONFIG`"
    )
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "metrics.json").write_text('{"status": "running"}')
    result = invoke("evaluate", tmp_path / "half")
    assert result.stderr.strip() == f"Error: {tmp_path / 'half'}: the run has no params.h5 and no checkpoint.h5 (unfinished or failed run); train it again"


def test_data_info_and_preview(trained, tmp_path):
    data, _ = trained
    preview = tmp_path / "sheet.png"
    result = invoke("data", "info", data, "--preview-out", preview)
    assert result.exit_code == 0
    assert "train: 16 examples of shape (12, 12, 3); night: 8, day: 8" in result.stdout
    assert "test: 4 examples of shape (12, 12, 3); night: 2, day: 2" in result.stdout
    with Image.open(preview) as img:
        assert img.format == "PNG"


@pytest.mark.parametrize("name,classes", [("moons", "upper, lower"), ("circles", "outer, inner")])
def test_data_make_other_generators(tmp_path, name, classes):
    out = tmp_path / f"{name}.h5"
    result = invoke("data", "make", name, "-o", out, "--m", "50")
    assert result.exit_code == 0 and result.stdout.strip() == f"wrote {out}: 50 examples, 2 features, classes {classes}"


def test_predict_given_the_hdf5_file_of_a_picture_run_points_to_evaluate(trained):
    """It said "damaged or truncated image; take the original file again" of a valid HDF5 file."""
    data, run = trained
    result = invoke("predict", "--run", run, data)
    assert result.exit_code == 1
    real = run.resolve()
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: {data}: is an HDF5 data file; predict takes picture files or folders of them for this run ({real}); "
        f"score an HDF5 file with: nnctl evaluate {real} --data {data}"
    )
