"""k classes end to end: labels in both layouts, the spiral, import of k folders, train, predict,
evaluate, the report, resume, sweeps, and the 10-class picture folder of digits drawn here."""

from __future__ import annotations

import csv
import io
import json
import os

import h5py
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import invoke, REPO
from nnctl.spec.config import load_config
from nnctl.data.dataset import generate, load_dataset
from nnctl.errors import DataError
from nnctl.experiment.run import resume_run, train_run
from nnctl.experiment.inference import evaluate, predict_files
from nnctl.rundir.runs import load_run

ONE_THREAD = ("--set", "train.blas_threads=1")  # the machine is shared: one BLAS thread is the fastest here


def _latest(runs):
    return runs / os.readlink(runs / "latest")


# ---------------------------------------------------------------- data


def test_spiral_has_k_arms_of_even_size():
    x, y, classes = generate("spiral", m=302, k=4, seed=1)
    assert x.shape == (302, 2) and classes == ["arm0", "arm1", "arm2", "arm3"]
    assert np.bincount(y).tolist() == [76, 76, 75, 75]  # the first m mod k arms one longer
    assert np.all(np.hypot(x[:, 0], x[:, 1]) <= 1 + 1e-12)  # radius 0 to 1
    again, _, _ = generate("spiral", m=302, k=4, seed=1)
    assert again.tobytes() == x.tobytes()
    data = load_dataset("builtin:spiral?k=5&m=100", max_classes=None)
    assert data.k == 5 and data.classes == [f"arm{j}" for j in range(5)]


def test_data_make_spiral(tmp_path):
    out = tmp_path / "s.h5"
    result = invoke("data", "make", "spiral", "--k", "4", "--m", "80", "-o", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"wrote {out}: 80 examples, 2 features, classes arm0, arm1, arm2, arm3"
    info = invoke("data", "info", out)
    assert "4 classes" in info.stdout and "data: 80 examples of shape (2,); arm0: 20, arm1: 20, arm2: 20, arm3: 20" in info.stdout


@pytest.mark.parametrize("ydtype", [np.int8, np.uint8, np.uint16, np.int32, np.int64, np.float32])
@pytest.mark.parametrize("names", ["fixed bytes", "vlen str", "vlen bytes", "none"])
@pytest.mark.parametrize("layout", ["plain", "course"])
def test_labels_of_any_width_and_class_lists_of_any_kind(tmp_path, ydtype, names, layout):
    classes = ["alpha", "b", "a much longer class name"]
    path = tmp_path / "d.h5"
    y = np.array([0, 1, 2, 2, 1, 0], dtype=ydtype)
    xk, yk, ck = ("x", "y", "classes") if layout == "plain" else ("train_set_x", "train_set_y", "list_classes")
    with h5py.File(path, "w") as f:
        f[xk], f[yk] = np.arange(12, dtype=np.float64).reshape(6, 2), y
        if names == "fixed bytes":
            f[ck] = np.array([c.encode() for c in classes])
        elif names != "none":
            kind = h5py.string_dtype("utf-8" if names == "vlen str" else "ascii")
            f.create_dataset(ck, data=[c if names == "vlen str" else c.encode() for c in classes], dtype=kind)
    data = load_dataset(str(path), max_classes=None)
    assert data.k == 3 and data.Y.ravel().tolist() == [0, 1, 2, 2, 1, 0]
    assert data.classes == (classes if names != "none" else [])
    with pytest.raises(DataError, match="a sigmoid output needs labels 0 or 1"):
        load_dataset(str(path))  # the binary reading of the same file


def test_three_class_file_trains_softmax_by_default(tmp_path):
    rng = np.random.default_rng(0)
    centres = np.array([[0, 0], [4, 0], [0, 4]])
    y = np.repeat(np.arange(3, dtype=np.int16), 30)
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"], f["y"] = centres[y] + rng.normal(0, 0.5, (90, 2)), y
        f["classes"] = np.array([b"here", b"right", b"up"])
    (tmp_path / "c.yaml").write_text("data: {train: d.h5}\nmodel: {hidden: [5]}\ntrain: {learning_rate: 0.5, iterations: 200}\n")
    shown = invoke("config", "show", tmp_path / "c.yaml").stdout
    assert "layers: [2, 5, 3]" in shown and "output_activation: softmax" in shown
    result = invoke("train", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs", "-q", *ONE_THREAD)
    assert result.exit_code == 0, result.output
    run = _latest(tmp_path / "runs")
    resolved = (run / "config.resolved.yaml").read_text()
    assert "layers: [2, 5, 3]" in resolved and "activations: [relu, softmax]" in resolved and "loss: categorical_cross_entropy" in resolved
    assert json.loads((run / "metrics.json").read_text())["train_accuracy"] >= 95.0
    with Image.open(run / "decision_boundary.png") as img:
        assert img.format == "PNG"


def test_two_class_softmax_reaches_the_sigmoid_heads_accuracy(tmp_path):
    acc = {}
    for out in ("sigmoid", "softmax"):
        (tmp_path / f"{out}.yaml").write_text(
            "data: {train: 'builtin:moons'}\n"
            f"model: {{hidden: [8], hidden_activation: tanh, output_activation: {out}}}\n"
            "train: {learning_rate: 0.02, epochs: 300, batch_size: 64, optimizer: adam, seed: 2}\n"
        )
        result = invoke("train", tmp_path / f"{out}.yaml", "--runs-dir", tmp_path / out, "-q", "--no-report", *ONE_THREAD)
        assert result.exit_code == 0, result.output
        run = _latest(tmp_path / out)
        acc[out] = json.loads((run / "metrics.json").read_text())["train_accuracy"]
        assert json.loads(json.dumps(load_run(run).meta["layer_dims"]))[-1] == (1 if out == "sigmoid" else 2)
    assert acc["sigmoid"] >= 90.0 and abs(acc["softmax"] - acc["sigmoid"]) <= 1.0, acc


# ---------------------------------------------------------------- pictures: import, train, predict, evaluate


@pytest.fixture
def colours(tmp_path):
    """Four classes of noisy pictures: mostly red, green, blue or grey."""
    rng = np.random.default_rng(1)
    root = tmp_path / "colours"
    for name, rgb in (("red", (200, 40, 40)), ("green", (40, 200, 40)), ("blue", (40, 40, 200)), ("grey", (128, 128, 128))):
        (root / name).mkdir(parents=True)
        for i in range(10):
            arr = np.clip(rng.normal(rgb, 40, (10 + i, 12, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(root / name / f"{i}.png")
    return root


def test_import_train_predict_evaluate_four_classes(tmp_path, colours):
    out = tmp_path / "colours.h5"
    result = invoke("data", "import", colours, "-o", out, "--size", "8", "--classes", "red,green,blue,grey", "--test-fraction", "0.3")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        f"wrote {out}: red: 7 train + 3 test, green: 7 train + 3 test, blue: 7 train + 3 test, grey: 7 train + 3 test; 0 files skipped"
    )
    with h5py.File(out) as f:
        assert [c.decode() for c in f["list_classes"][()]] == ["red", "green", "blue", "grey"]
        assert np.bincount(f["test_set_y"][()]).tolist() == [3, 3, 3, 3]  # stratified, every class
    (tmp_path / "c.yaml").write_text(
        "data: {train: colours.h5, test: colours.h5}\nmodel: {hidden: [6], init: he}\n"
        "train: {learning_rate: 0.01, epochs: 80, batch_size: 8, optimizer: adam, seed: 1}\n"
    )
    result = invoke("train", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs", "-q", *ONE_THREAD)
    assert result.exit_code == 0, result.output
    run_dir = _latest(tmp_path / "runs")
    assert json.loads((run_dir / "metrics.json").read_text())["test_accuracy"] == 100.0

    # evaluate: scores, k×k matrix, its picture; predict on the test pictures gives the same probabilities
    result = invoke("evaluate", run_dir)
    assert result.exit_code == 0, result.output
    assert "per class" in result.stdout and "weighted avg" in result.stdout and "precision (macro)" in result.stdout
    ev = json.loads((run_dir / "evaluation.json").read_text())
    assert ev["classes"] == ["red", "green", "blue", "grey"] and ev["accuracy"] == 100.0
    assert ev["confusion_matrix"] == [[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0], [0, 0, 0, 3]]
    assert [r["support"] for r in ev["per_class"]] == [3, 3, 3, 3] and ev["macro"]["f1"] == 1.0 and ev["weighted"]["recall"] == 1.0
    assert (run_dir / "confusion.png").exists()
    with h5py.File(out) as f:
        files = [colours / n.decode() for n in f["test_set_files"][()]]
    preds = predict_files(load_run(run_dir), files)
    assert [list(p.classes.values()) for p in preds] == ev["probabilities"]  # the same pixels, the same numbers
    assert [p.label for p in preds] == ev["predicted"]

    # predict's three forms: the top class, its probability, the top 3, and a column per class
    pic = colours / "blue" / "0.png"
    rows = [json.loads(line) for line in invoke("predict", pic, "--run", run_dir, "--json").stdout.splitlines()]
    row = rows[0]
    assert list(row) == ["file", "class", "label", "probability", "probability_of", "top", "P(red)", "P(green)", "P(blue)", "P(grey)", "notes", "error"]
    assert row["class"] == row["probability_of"] == "blue" and row["label"] == 2
    assert [t["class"] for t in row["top"]][0] == "blue" and len(row["top"]) == 3
    assert row["probability"] == row["P(blue)"] == row["top"][0]["probability"]
    assert sum(row[f"P({c})"] for c in ("red", "green", "blue", "grey")) == pytest.approx(1.0)
    assert [t["probability"] for t in row["top"]] == sorted((row[f"P({c})"] for c in ("red", "green", "blue", "grey")), reverse=True)[:3]
    table = invoke("predict", pic, "--run", run_dir)
    assert table.exit_code == 0 and "top 3" in table.stdout and "blue" in table.stdout
    got = list(csv.DictReader(io.StringIO(invoke("predict", pic, colours / "grey" / "1.png", "--run", run_dir, "--csv").stdout)))
    assert list(got[0]) == list(row) and [r["class"] for r in got] == ["blue", "grey"]
    assert float(got[0]["P(blue)"]) == row["P(blue)"] and got[0]["top"].startswith("blue=")

    # the page shows the 4×4 matrix
    result = invoke("report", run_dir)
    assert result.exit_code == 0, result.output
    html = (run_dir / "report.html").read_text()
    confusion = html[html.index('id="confusion"') :]
    confusion = confusion[: confusion.index("</table>")]
    assert confusion.count("<tr>") == 5 and confusion.count('class="hit"') == 4 and "grey" in confusion


def test_report_gallery_says_true_to_predicted(tmp_path, colours):
    out = tmp_path / "colours.h5"
    assert invoke("data", "import", colours, "-o", out, "--size", "6", "--classes", "red,green,blue,grey").exit_code == 0
    (tmp_path / "c.yaml").write_text("data: {train: colours.h5, test: colours.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.01, iterations: 2}\n")
    assert invoke("train", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", *ONE_THREAD).exit_code == 0
    run_dir = _latest(tmp_path / "runs")
    ev = evaluate(load_run(run_dir))[0]  # two iterations from the start: many mistakes
    assert ev["misclassified"]
    assert invoke("evaluate", run_dir).exit_code == 0 and invoke("report", run_dir).exit_code == 0
    html = (run_dir / "report.html").read_text()
    i = ev["misclassified"][0]
    true, guess = ev["classes"][_label(out, i)], ev["classes"][ev["predicted"][i]]
    assert f"<figcaption>#{i} {true} →<br>{guess} ({ev['confidence'][i]:.2f})</figcaption>" in html


def _label(path, i):
    with h5py.File(path) as f:
        return int(f["test_set_y"][i])


def test_mistakes_are_labelled_true_to_predicted(tmp_path, colours):
    from nnctl.experiment.inference import write_evaluation
    from nnctl.util.plots import misclassified_figure

    out = tmp_path / "colours.h5"
    assert invoke("data", "import", colours, "-o", out, "--size", "6", "--classes", "red,green,blue,grey").exit_code == 0
    (tmp_path / "c.yaml").write_text("data: {train: colours.h5, test: colours.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.01, iterations: 2}\n")
    assert invoke("train", tmp_path / "c.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", *ONE_THREAD).exit_code == 0
    run = load_run(_latest(tmp_path / "runs"))
    run.params["b2"][:] = [[0.0], [0.0], [50.0], [0.0]]  # every picture called blue
    result, data = evaluate(run, str(out))
    assert result["predicted"] == [2] * data.m and len(result["misclassified"]) == data.m - 2
    assert result["confusion_matrix"][0] == [0, 0, 2, 0] and result["per_class"][0]["precision"] == 0.0
    assert result["per_class"][2]["precision"] == 0.25 and result["per_class"][2]["recall"] == 1.0
    assert result["macro"]["recall"] == 0.25 and result["precision"] == result["macro"]["precision"]
    written = write_evaluation(run, result, data, source_given=True)
    assert written["files"]["misclassified"].endswith("misclassified-colours.png")
    i = result["misclassified"][0]
    fig = misclassified_figure(
        data.X, data.Y.ravel(), np.array(result["confidence"]), [i], run.meta["preprocessing"], result["classes"], predicted=result["predicted"]
    )
    assert fig.axes[0].get_title() == f"{result['classes'][int(data.Y.ravel()[i])]} → blue ({result['confidence'][i]:.2f})"


# ---------------------------------------------------------------- resume, float32, dual, sweeps


def test_resume_of_a_k_class_run_equals_the_whole_run(tmp_path):
    spec = load_config(REPO / "configs" / "spiral.yaml", ["train.epochs=20", "train.checkpoint_every=5", "train.blas_threads=1"])
    whole = load_run(train_run(spec, runs_root=tmp_path / "whole").run_dir)
    calls = []
    stopped = train_run(spec, runs_root=tmp_path / "cut", should_stop=lambda: calls.append(1) or len(calls) >= 23)
    assert stopped.status == "interrupted"
    resumed = load_run(resume_run(stopped.run_dir).run_dir)
    for key in whole.params:
        assert resumed.params[key].tobytes() == whole.params[key].tobytes()


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_every_optimizer_in_float32_learns_the_spiral(tmp_path, optimizer):
    rate = {"gd": 0.5, "momentum": 0.5, "rmsprop": 0.01, "adam": 0.01}[optimizer]
    spec = load_config(
        REPO / "configs" / "spiral.yaml",
        [
            "train.dtype=float32",
            f"train.optimizer={optimizer}",
            f"train.learning_rate={rate}",
            "train.epochs=150",
            "train.blas_threads=1",
        ],
    )
    summary = train_run(spec, runs_root=tmp_path)
    assert load_run(summary.run_dir).params["W3"].dtype == np.float32
    assert summary.train_accuracy >= 85.0, summary  # a third (33%) is chance


def test_dual_path_trains_the_same_k_class_network(tmp_path):
    sets = [
        "data.train=builtin:spiral?k=4&m=40",
        "data.test=null",
        "model.hidden=[200]",
        "train.batch_size=null",
        "train.optimizer=gd",
        "train.learning_rate=0.5",
        "train.epochs=60",
        "train.blas_threads=1",
    ]
    runs = {}
    for path in ("primal", "dual"):
        summary = train_run(load_config(REPO / "configs" / "spiral.yaml", [*sets, f"train.first_layer={path}"]), runs_root=tmp_path / path)
        assert summary.first_layer == path
        runs[path] = (summary, load_run(summary.run_dir))
    (p, primal), (d, dual) = runs["primal"], runs["dual"]
    assert d.train_accuracy == p.train_accuracy and d.final_cost == pytest.approx(p.final_cost, rel=1e-9)
    for key in primal.params:
        np.testing.assert_allclose(dual.params[key], primal.params[key], rtol=1e-7, atol=1e-10)


def test_sweep_runs_and_compare_with_k_classes(tmp_path):
    # no output_activation in the spec: every trial picks softmax from the data's three classes
    spec = (REPO / "configs" / "spiral.yaml").read_text().replace("  output_activation: softmax", "")
    assert "output_activation:" not in spec
    (tmp_path / "spiral.yaml").write_text(spec)
    result = invoke(
        "sweep",
        tmp_path / "spiral.yaml",
        "--grid",
        "train.optimizer=gd,adam",
        "--set",
        "train.epochs=30",
        "--set",
        "train.blas_threads=1",
        "--jobs",
        "1",
        "--runs-dir",
        tmp_path,
        "-q",
        "--no-report",
    )
    assert result.exit_code == 0, result.output
    summary = next(tmp_path.glob("sweep-*")) / "summary.csv"
    rows = list(csv.DictReader(summary.open()))
    assert [r["status"] for r in rows] == ["completed", "completed"] and all(float(r["train_accuracy"]) > 33.4 for r in rows)
    listed = invoke("runs", "--runs-dir", tmp_path, "--json")
    names = [json.loads(line)["run"] for line in listed.stdout.splitlines()]
    assert len(names) == 2 and all(json.loads(line)["layers"] == [2, 32, 16, 3] for line in listed.stdout.splitlines())
    compared = invoke("runs", "compare", *(tmp_path / n for n in names))
    assert compared.exit_code == 0, compared.output
    assert "optimizer" in compared.stdout and "adam" in compared.stdout


def test_shipped_spiral_spec_reaches_high_accuracy(tmp_path):
    summary = train_run(load_config(REPO / "configs" / "spiral.yaml", ["train.blas_threads=1"]), runs_root=tmp_path)
    assert summary.layers == [2, 32, 16, 3]
    assert summary.train_accuracy >= 98.0 and summary.test_accuracy >= 97.0  # README: 99.67% and 99.33%


# ---------------------------------------------------------------- ten classes: digits drawn here


def draw_digits(root, per_class=30, size=16, seed=0):
    """Ten folders 0..9 of small grey pictures of the digit, drawn with Pillow's font at random sizes and offsets."""
    rng = np.random.default_rng(seed)
    for d in range(10):
        (root / str(d)).mkdir(parents=True)
        for i in range(per_class):
            canvas = Image.new("L", (28, 28), 0)
            try:
                font = ImageFont.load_default(size=int(rng.integers(16, 21)))
            except TypeError:  # Pillow before 10.1: one bitmap size
                font = ImageFont.load_default()
            ImageDraw.Draw(canvas).text((int(rng.integers(6, 10)), int(rng.integers(0, 4))), str(d), fill=int(rng.integers(170, 256)), font=font)
            canvas.resize((size, size), Image.BILINEAR).save(root / str(d) / f"{i}.png")
    return root


def test_ten_digit_classes_import_train_predict_evaluate(tmp_path):
    digits = draw_digits(tmp_path / "digits")
    data = tmp_path / "digits.h5"
    result = invoke("data", "import", digits, "-o", data, "--size", "12", "--test-fraction", "0.3")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {data}: 0: 21 train + 9 test, 1: 21 train + 9 test,")
    info = invoke("data", "info", data)
    assert "10 classes" in info.stdout and "train: 210 examples of shape (12, 12, 3); 0: 21, 1: 21," in info.stdout
    (tmp_path / "digits.yaml").write_text(
        "name: digits\ndata: {train: digits.h5, test: digits.h5}\nmodel: {hidden: [64], hidden_activation: relu, init: he}\n"
        "train: {learning_rate: 0.005, epochs: 60, batch_size: 32, optimizer: adam, seed: 1, record_every: 10}\n"
    )
    result = invoke("train", tmp_path / "digits.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", *ONE_THREAD)
    assert result.exit_code == 0, result.output
    run_dir = _latest(tmp_path / "runs")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["layers"] == [432, 64, 10]
    # 100% and 80% here; chance is 10%, and a head that mixed up the classes would stay near it
    assert metrics["train_accuracy"] >= 95.0 and metrics["test_accuracy"] >= 55.0, metrics
    result = invoke("evaluate", run_dir)
    assert result.exit_code == 0, result.output
    ev = json.loads((run_dir / "evaluation.json").read_text())
    assert ev["accuracy"] == metrics["test_accuracy"] and ev["classes"] == [str(d) for d in range(10)]
    assert np.array(ev["confusion_matrix"]).shape == (10, 10) and np.trace(ev["confusion_matrix"]) == round(ev["accuracy"] * 0.9)
    assert (run_dir / "confusion.png").exists() and (run_dir / "misclassified.png").exists()
    seven = sorted((digits / "7").iterdir())
    rows = [json.loads(line) for line in invoke("predict", *seven, "--run", run_dir, "--json").stdout.splitlines()]
    assert len(rows) == 30 and all(len(r["top"]) == 3 and len([k for k in r if k.startswith("P(")]) == 10 for r in rows)
    assert sum(r["class"] == "7" for r in rows) >= 20  # most sevens (training and test pictures) called 7
