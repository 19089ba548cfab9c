"""nnctl export: ONNX Runtime and the documented NumPy function against nnctl's own predict.

Runs of every head (sigmoid, softmax, linear), every activation and every preprocessing (pixels
divided by 255, standardisation, none) and both dtypes are trained once per module; each export is
then run by software nnctl does not control (ONNX Runtime) or by the ten lines on docs/export.md,
on the run's test data, and compared with `nnctl.experiment.inference.probabilities`, the function behind
`nnctl predict` and `nnctl evaluate`.
"""

from __future__ import annotations

import copy
import json
import re

import h5py
import numpy as np
import pytest
import yaml
from conftest import REPO, invoke, needs_cat_data, write_course_h5

from nnctl.spec.config import ModelSpec
from nnctl.data.dataset import read_raw
from nnctl.errors import NnctlError
from nnctl.experiment.export import describe, export_run
from nnctl.experiment.inference import default_test_source, probabilities
from nnctl.core.network import HEADS
from nnctl.rundir.runs import load_run

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
sklearn_datasets = pytest.importorskip("sklearn.datasets")


def _plain(path, x, y, classes=None):
    with h5py.File(path, "w") as f:
        f["x"], f["y"] = x, y
        if classes is not None:
            f["classes"] = np.array([c.encode() for c in classes])


def _digits(folder):
    d = sklearn_datasets.load_digits()  # 8×8 pictures of 0-16 as floats
    x, y = d.data, d.target
    _plain(folder / "digits-train.h5", x[:1200], y[:1200], [str(c) for c in range(10)])
    _plain(folder / "digits-test.h5", x[1200:], y[1200:], [str(c) for c in range(10)])


def _diabetes(folder):
    d = sklearn_datasets.load_diabetes()  # 10 features (std 0.048: normalize: auto standardises), targets 25 to 346
    _plain(folder / "diabetes-train.h5", d.data[:350], d.target[:350])
    _plain(folder / "diabetes-test.h5", d.data[350:], d.target[350:])


def _offset(folder):
    """Targets of a large offset and scale (about 50,000 +- 2,500, body masses in grams, prices): trained on
    standardised (data.normalize_target: auto), so every export has to turn its output back."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(300, 4))
    y = 50_000 + 2_000 * (x[:, 0] - 0.5 * x[:, 1] + np.tanh(x[:, 2])) + 50 * rng.normal(size=300)
    _plain(folder / "offset-train.h5", x[:220], y[:220])
    _plain(folder / "offset-test.h5", x[220:], y[220:])


def _pictures(folder):
    write_course_h5(folder / "pics-train.h5", "train", m=40, shape=(6, 5, 3), seed=0)
    write_course_h5(folder / "pics-test.h5", "test", m=20, shape=(6, 5, 3), seed=1)


# name -> (writes the data files, the spec): every head, activation, preprocessing and dtype
RUNS = {
    "pictures": (
        _pictures,
        """
data: {train: pics-train.h5, test: pics-test.h5, validation: 0.25}
model: {hidden: [5, 3], hidden_activation: relu, init: he}
train: {learning_rate: 0.05, iterations: 200, seed: 1, record_every: 10, early_stopping: {patience: 5, restore_best: true}}
""",
    ),
    "flower": (
        None,
        """
data: {train: 'builtin:planar', test: 'builtin:planar?seed=2'}
model: {hidden: [4], hidden_activation: tanh, init: normal}
train: {learning_rate: 1.2, iterations: 300, seed: 2, record_every: 100, first_layer: dual}
""",
    ),
    "spiral": (
        None,
        """
data: {train: 'builtin:spiral?k=3&m=300', test: 'builtin:spiral?k=3&m=150&seed=2'}
model: {hidden: [16, 8], hidden_activation: leaky_relu}
train: {learning_rate: 0.01, epochs: 30, batch_size: 64, optimizer: adam, seed: 1, record_every: 10}
""",
    ),
    "digits": (
        _digits,
        """
data: {train: digits-train.h5, test: digits-test.h5, normalize: standardize}
model: {hidden: [32], hidden_activation: relu}
train: {learning_rate: 0.005, epochs: 20, batch_size: 64, optimizer: adam, seed: 1, record_every: 5, keep_prob: 0.9, l2: 0.1}
""",
    ),
    "regression": (
        _diabetes,
        """
data: {train: diabetes-train.h5, test: diabetes-test.h5, normalize: auto}
model: {hidden: [8], hidden_activation: relu, output_activation: linear}
train: {learning_rate: 0.05, epochs: 40, batch_size: 32, optimizer: adam, seed: 1, record_every: 10}
""",
    ),
    "offset-regression": (
        _offset,
        """
data: {train: offset-train.h5, test: offset-test.h5}
model: {hidden: [16], hidden_activation: tanh, output_activation: linear}
train: {learning_rate: 0.01, epochs: 30, batch_size: 32, optimizer: adam, seed: 1, record_every: 10}
""",
    ),
    "streamed": (
        _pictures,
        """
data: {train: pics-train.h5, test: pics-test.h5, stream: always}
model: {hidden: [4], hidden_activation: tanh}
train: {learning_rate: 0.1, epochs: 20, batch_size: 16, optimizer: momentum, seed: 2, record_every: 5}
""",
    ),
    "odd-activations": (
        None,
        """
data: {train: 'builtin:moons', test: 'builtin:moons?seed=5'}
model: {layers: [2, 6, 5, 4, 1], activations: [sigmoid, linear, softmax, sigmoid]}
train: {learning_rate: 0.5, iterations: 200, seed: 4, record_every: 50}
""",
    ),
    "float32": (
        _digits,
        """
data: {train: digits-train.h5, test: digits-test.h5, normalize: standardize}
model: {hidden: [16], hidden_activation: tanh, output_activation: softmax}
train: {learning_rate: 0.01, epochs: 10, batch_size: 128, optimizer: rmsprop, seed: 1, dtype: float32, record_every: 5}
""",
    ),
}

if "batch_norm" in ModelSpec.model_fields:  # batch norm (model.batch_norm) where this nnctl has it
    RUNS["batchnorm"] = (
        None,
        """
data: {train: 'builtin:moons?m=400', test: 'builtin:moons?m=200&seed=5'}
model: {hidden: [8, 6], hidden_activation: relu, batch_norm: [1, 2], init: he}
train: {learning_rate: 0.1, epochs: 15, batch_size: 32, optimizer: momentum, seed: 1, record_every: 5}
""",
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    out = {}
    for name, (write_data, spec) in RUNS.items():
        if write_data is not None:
            write_data(folder)
        (folder / f"{name}.yaml").write_text(f"name: {name}\n" + spec.strip() + "\n")
        result = invoke("train", folder / f"{name}.yaml", "--runs-dir", folder / "runs", "--quiet", "--no-report")
        assert result.exit_code == 0, (name, result.output, result.exception)
        out[name] = load_run(folder / "runs" / "latest")
    return out


def _test_rows(run):
    """The run's test data as raw rows (m, n_x), float64, as `predict` reads it."""
    x = read_raw(default_test_source(run), "test")[0]
    return np.asarray(x, np.float64).reshape(x.shape[0], -1)


def _predicted(run, rows):
    """(probabilities (m, k) or predictions (m, n), labels or None) from nnctl's own predict path."""
    AL = probabilities(run, rows.reshape(rows.shape[0], *run.meta["preprocessing"]["input_shape"]))
    head = HEADS[run.meta["loss"]]
    if head.proba is None:
        return AL.T, None
    return head.proba(AL).T, head.predict(AL)


def _npz_function():
    """predict_npz as docs/export.md prints it, executed from the page."""
    page = (REPO / "docs" / "export.md").read_text()
    block = next(b for b in re.findall(r"```python\n(.*?)```", page, re.DOTALL) if "def predict_npz" in b)
    function = block[block.index("def predict_npz") :]
    assert len([line for line in function.splitlines() if line.strip()]) <= 10, "the documented function grew past ten lines"
    scope = {}
    exec(block, scope)  # noqa: S102 - the documentation's own code is what is tested
    return scope["predict_npz"]


@pytest.mark.parametrize("name", list(RUNS))
def test_onnx_runtime_equals_predict(runs, name, tmp_path):
    run = runs[name]
    path = export_run(run, tmp_path / "model.onnx", "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    rows = _test_rows(run)
    expected, labels = _predicted(run, rows)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": rows})))
    if labels is None:
        assert set(got) == {"prediction"}
        assert got["prediction"].dtype == np.float32 and got["prediction"].shape == expected.shape
        np.testing.assert_allclose(got["prediction"], expected, rtol=1e-5, atol=1e-5)
        return
    assert set(got) == {"label", "probabilities"}
    assert got["label"].dtype == np.int64 and got["label"].shape == (rows.shape[0],)
    assert got["probabilities"].dtype == np.float32 and got["probabilities"].shape == expected.shape
    np.testing.assert_allclose(got["probabilities"], expected, rtol=0, atol=1e-5)
    top2 = np.sort(expected, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4  # a near-tie may flip with float32 outputs; none of these runs has one
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(got["label"][clear], labels[clear])
    assert 0 < labels.min() + 1 and len(np.unique(labels)) >= 2  # a run that predicts one class would prove little


@pytest.mark.parametrize("name", list(RUNS))
def test_npz_function_from_the_docs_equals_predict(runs, name, tmp_path):
    run = runs[name]
    path = export_run(run, tmp_path / "model.npz", "npz")
    rows = _test_rows(run)
    expected, _ = _predicted(run, rows)
    got = _npz_function()(path, rows)
    assert got.shape == expected.shape
    tolerance = 1e-5 if run.meta["dtype"] == "float32" else 1e-12  # predict computes in the run's dtype
    np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)


def test_npz_holds_params_under_their_names_without_pickles(runs, tmp_path):
    run = runs["digits"]
    path = export_run(run, tmp_path / "d.npz", "npz")
    with np.load(path) as f:  # allow_pickle=False, numpy's default
        for key, value in run.params.items():
            np.testing.assert_array_equal(f[key], value)
        np.testing.assert_array_equal(f["normalize/mean"], run.normalization.mean)
        np.testing.assert_array_equal(f["normalize/std"], run.normalization.std)
        assert float(f["scale"]) == 1.0 and list(f["activations"]) == ["relu", "softmax"]
        assert list(f["classes"]) == [str(c) for c in range(10)] and str(f["head"]) == "categorical_cross_entropy"


def test_onnx_metadata_and_graph(runs, tmp_path):
    run = runs["pictures"]
    model = onnx.load(str(export_run(run, tmp_path / "p.onnx", "onnx")))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["classes"]) == ["dark", "bright"]
    assert meta["nnctl_version"] == run.meta["nnctl_version"]
    assert yaml.safe_load(meta["spec"])["model"]["layers"] == [90, 5, 3, 1]
    shas = json.loads(meta["data"])
    assert set(shas) == {"train", "test"} and "data_sha256" not in meta  # two files: no single hash
    assert model.opset_import[0].version >= 17
    (x,) = model.graph.input
    assert x.type.tensor_type.elem_type == onnx.TensorProto.DOUBLE  # raw rows in float64, whatever the run's dtype
    assert [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim] == ["batch", 90]
    ops = [n.op_type for n in model.graph.node]
    assert ops[:2] == ["Div", "Gemm"]  # a float64 run: no Cast; pixels / 255, no standardisation
    assert "Mul" not in ops and "Add" not in ops  # a classifier's head: nothing turned back


def test_a_standardised_target_is_turned_back_in_both_files(runs, tmp_path):
    """The regression of large offset: the graph ends in Mul by the target's std and Add of its mean, the
    npz holds both as float64 (zeros and ones for a classifier), each the run's own."""
    run = runs["offset-regression"]
    model = onnx.load(str(export_run(run, tmp_path / "o.onnx", "onnx")))
    ops = [n.op_type for n in model.graph.node]
    assert ops[-4:] == ["Mul", "Add", "Cast", "Identity"]  # after the last Gemm: turned back, then float32 out
    consts = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    np.testing.assert_array_equal(consts["nnctl/normalize_target_std"], run.target.std.T)
    np.testing.assert_array_equal(consts["nnctl/normalize_target_mean"], run.target.mean.T)
    with np.load(export_run(run, tmp_path / "o.npz", "npz")) as f:
        assert f["normalize_target/mean"].dtype == np.float64
        np.testing.assert_array_equal(f["normalize_target/mean"], run.target.mean)
        np.testing.assert_array_equal(f["normalize_target/std"], run.target.std)
    with np.load(export_run(runs["spiral"], tmp_path / "s.npz", "npz")) as f:
        np.testing.assert_array_equal(f["normalize_target/mean"], np.zeros((3, 1)))
        np.testing.assert_array_equal(f["normalize_target/std"], np.ones((3, 1)))


def test_one_data_file_gives_data_sha256(tmp_path):
    write_course_h5(tmp_path / "both.h5", "train", m=20)
    (tmp_path / "one.yaml").write_text("data: {train: both.h5}\nmodel: {hidden: [2]}\ntrain: {learning_rate: 0.1, iterations: 5}\n")
    assert invoke("train", tmp_path / "one.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report").exit_code == 0
    run = load_run(tmp_path / "runs" / "latest")
    sha = json.loads((run.path / "reproduce.json").read_text())["data"]["train"]["sha256"]
    assert describe(run).metadata["data_sha256"] == sha


def test_cli_export_then_predict_csv_equals_onnx(runs, tmp_path):
    """End to end: `nnctl export` writes the file, `nnctl predict rows.csv --json` gives the same numbers."""
    run = runs["digits"]
    out = tmp_path / "digits.onnx"
    result = invoke("export", "--run", run.path, "-o", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out} (onnx, from {run.path})"
    rows = _test_rows(run)[:25]
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", fmt="%.17g")
    result = invoke("predict", tmp_path / "rows.csv", "--run", run.path, "--json")
    assert result.exit_code == 0, result.output
    printed = [json.loads(line) for line in result.output.splitlines()]
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    label, probs = session.run(["label", "probabilities"], {"X": rows})
    assert [p["label"] for p in printed] == label.tolist()
    np.testing.assert_allclose([[p[f"P({c})"] for c in range(10)] for p in printed], probs, atol=1e-5)


def test_cli_export_refuses_an_existing_file_and_replaces_it_with_force(runs, tmp_path):
    out = tmp_path / "m.npz"
    out.write_text("keep me")
    result = invoke("export", "--run", runs["flower"].path, "-o", out)
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {out}: already exists; pass --force to replace it, or choose another -o"
    assert out.read_text() == "keep me"
    assert invoke("export", "--run", runs["flower"].path, "-o", out, "--force").exit_code == 0
    assert np.load(out)["W1"].shape == (4, 2)


def test_refuses_a_parameter_it_does_not_know(runs, tmp_path):
    run = copy.copy(runs["flower"])
    run.params = {**run.params, "alpha1": np.ones((4, 1))}
    with pytest.raises(NnctlError, match=r": alpha1: a parameter this version of nnctl cannot export"):
        describe(run)


def test_refuses_inputs_other_than_rows_pictures_and_tables(runs):
    """Inputs of another kind, or a table's run without its encoding, are refused, never exported as
    if their encoded features were raw rows."""
    run = copy.copy(runs["flower"])
    run.meta = {**run.meta, "preprocessing": {**run.meta["preprocessing"], "flatten": "columns"}}
    with pytest.raises(NnctlError, match=r": preprocessing.flatten: columns: inputs this version of nnctl cannot export"):
        describe(run)
    run.meta = {**run.meta, "preprocessing": {**run.meta["preprocessing"], "flatten": "table"}}
    run.table = None
    with pytest.raises(NnctlError, match=r": preprocessing.flatten: table, but the run has no table encoding"):
        describe(run)


def test_batch_norm_layers_in_inference_form(runs, tmp_path):
    """A network whose first layer is batch-normalised (params.h5's names for it, as the batch norm
    branch writes them): ONNX Runtime's BatchNormalization and the documented NumPy function agree,
    and both equal the formula worked here."""
    rng = np.random.default_rng(7)
    run = copy.copy(runs["flower"])
    n = run.params["W1"].shape[0]
    bn = {
        "gamma1": rng.uniform(0.5, 2, (n, 1)),
        "beta1": rng.normal(size=(n, 1)),
        "running_mean1": rng.normal(size=(n, 1)),
        "running_var1": rng.uniform(0.1, 3, (n, 1)),
    }
    run.params = {**{k: v for k, v in run.params.items() if k != "b1"}, **bn}
    run.meta = {**run.meta, "batch_norm": {"layers": [1], "epsilon": 1e-3, "momentum": 0.9}}
    rows = _test_rows(run)
    Z = run.params["W1"] @ rows.T
    A1 = np.tanh(bn["gamma1"] * (Z - bn["running_mean1"]) / np.sqrt(bn["running_var1"] + 1e-3) + bn["beta1"])
    p = 1 / (1 + np.exp(-(run.params["W2"] @ A1 + run.params["b2"])))
    expected = np.vstack([1 - p, p]).T
    got_npz = _npz_function()(export_run(run, tmp_path / "bn.npz", "npz"), rows)
    np.testing.assert_allclose(got_npz, expected, rtol=1e-12, atol=1e-12)
    session = ort.InferenceSession(str(export_run(run, tmp_path / "bn.onnx", "onnx")), providers=["CPUExecutionProvider"])
    assert "BatchNormalization" in [node.op_type for node in onnx.load(str(tmp_path / "bn.onnx")).graph.node]
    label, probs = session.run(["label", "probabilities"], {"X": rows})
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_array_equal(label, (p[0] > 0.5).astype(np.int64))
    del run.params["beta1"]
    with pytest.raises(NnctlError, match=r": beta1: missing from the parameters"):
        describe(run)


def test_refuses_a_preprocessing_step_it_does_not_know(runs):
    run = copy.copy(runs["flower"])
    run.meta = {**run.meta, "preprocessing": {**run.meta["preprocessing"], "impute": "mean"}}
    with pytest.raises(NnctlError, match=r": preprocessing.impute: a preprocessing step this version"):
        describe(run)


@needs_cat_data
def test_course_cats_onnx(tmp_path):
    from conftest import CAT_TEST, CAT_TRAIN

    (tmp_path / "cat.yaml").write_text(
        f"data: {{train: {CAT_TRAIN}, test: {CAT_TEST}}}\nmodel: {{hidden: [7]}}\ntrain: {{learning_rate: 0.0075, iterations: 50, seed: 1}}\n"
    )
    assert invoke("train", tmp_path / "cat.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report").exit_code == 0
    run = load_run(tmp_path / "runs" / "latest")
    session = ort.InferenceSession(str(export_run(run, tmp_path / "cat.onnx", "onnx")), providers=["CPUExecutionProvider"])
    rows = _test_rows(run)
    expected, labels = _predicted(run, rows)
    label, probs = session.run(["label", "probabilities"], {"X": rows})
    np.testing.assert_allclose(probs, expected, atol=1e-5)
    np.testing.assert_array_equal(label, labels)


def test_the_runs_cover_what_they_claim(runs):
    """Each run of RUNS took the path it is there for (a silently different path would test less)."""
    assert runs["pictures"].meta["preprocessing"]["scale"] == 255 and runs["pictures"].normalization.method == "none"
    assert "best_iteration" in runs["pictures"].meta  # early stopping restored its best parameters
    assert runs["flower"].meta["first_layer"] == "dual"
    assert runs["spiral"].meta["loss"] == "categorical_cross_entropy" and runs["spiral"].meta["layer_dims"][-1] == 3
    assert runs["digits"].normalization.method == "standardize" and runs["digits"].meta["layer_dims"] == [64, 32, 10]
    assert runs["regression"].meta["loss"] == "mse" and runs["regression"].normalization.method == "standardize"  # by auto
    assert runs["regression"].target.active and runs["regression"].target.mean[0, 0] == pytest.approx(152, abs=5)  # diabetes
    offset = runs["offset-regression"]
    assert offset.target.active and offset.target.mean[0, 0] == pytest.approx(50_000, abs=500)  # data.normalize_target: auto
    assert offset.metrics["test_rmse"] < 500  # a good fit in the target's own units (its std is about 2,500)
    assert runs["digits"].target.method == "none"  # a classifier's labels are classes
    assert runs["odd-activations"].activations == ["sigmoid", "linear", "softmax", "sigmoid"]
    assert runs["float32"].meta["dtype"] == "float32" and runs["float32"].params["W1"].dtype == np.float32
    if "batchnorm" in runs:
        assert {"gamma1", "running_var2"} <= set(runs["batchnorm"].params) and "b1" not in runs["batchnorm"].params


@pytest.mark.parametrize("fmt", ["onnx", "npz"])
def test_export_file_gets_the_users_umask(runs, tmp_path, fmt):
    import os

    old = os.umask(0o027)
    try:
        path = export_run(runs["flower"], tmp_path / f"m.{fmt}", fmt)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_an_interrupted_run_exports_its_parameters_so_far_with_a_note(tmp_path):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    write_course_h5(tmp_path / "train.h5", "train", m=20)
    (tmp_path / "s.yaml").write_text("data: {train: train.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 50, checkpoint_every: 10}\n")
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] >= 25

    summary = train_run(load_config(tmp_path / "s.yaml"), runs_root=tmp_path / "runs", should_stop=stop)
    assert summary.status == "interrupted"
    result = invoke("export", "--run", summary.run_dir, "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("Note: unfinished run (interrupted at iteration 25)")
    run = load_run(summary.run_dir)
    rows = read_raw(str(tmp_path / "train.h5"))[0].reshape(20, -1)
    np.testing.assert_allclose(_npz_function()(tmp_path / "m.npz", rows), _predicted(run, rows)[0], rtol=1e-12, atol=1e-12)


def test_onnx_without_the_onnx_package_says_how_to_install_it(runs, tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError, as where it is not installed
    result = invoke("export", "--run", runs["flower"].path, "-o", tmp_path / "m.onnx")
    assert result.exit_code == 1
    assert result.stderr.strip() == "Error: ONNX export needs the onnx package; install it with: pip install 'nnctl[onnx]'"
    assert not (tmp_path / "m.onnx").exists() and list(tmp_path.iterdir()) == []  # no temporary file left either


# ---------------------------------------------------------------- tables (where this nnctl reads them)


def _penguin_feeds(run, path):
    """ONNX Runtime's inputs for a table file: one (m, 1) array per column, numbers as float64 (NaN where
    missing), text as it is in the file."""
    tables = pytest.importorskip("nnctl.data.tables")
    table = tables.read_table(path)
    feeds = {}
    for name in run.table.numeric:
        cells = table.column(name)
        absent = tables.missing_mask(cells)
        feeds[name] = np.where(absent, "nan", cells).astype(np.float64).reshape(-1, 1)
    for name in run.table.categorical:
        feeds[name] = np.char.strip(table.column(name).astype(str)).astype(object).reshape(-1, 1)
    return table, feeds


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_table_with_text_columns_and_missing_values(tmp_path, task):
    """The Palmer penguins (palmerpenguins' CSV: islands and sex as text, NA in both kinds of column)
    through ONNX Runtime, one input per column, against nnctl's own table predict path."""
    tables = pytest.importorskip("nnctl.data.tables")
    penguins = pytest.importorskip("palmerpenguins")
    from pathlib import Path

    from nnctl.experiment.inference import normalized, outputs

    source = Path(penguins.__file__).parent / "data" / "penguins.csv"
    lines = source.read_text().splitlines()
    (tmp_path / "train.csv").write_text("\n".join(lines[:1] + lines[2::3] + lines[3::3]) + "\n")
    (tmp_path / "test.csv").write_text("\n".join(lines[:1] + lines[1::3]) + "\n")  # holds line 4, NA in every column
    target = "species" if task == "classification" else "body_mass_g"
    drop = "[year]" if task == "classification" else "[year, species]"
    (tmp_path / "t.yaml").write_text(
        f"data: {{train: train.csv, test: test.csv, target: {target}, missing: mean, drop: {drop}}}\n"
        f"model: {{hidden: [6], hidden_activation: tanh, task: {task}}}\n"
        "train: {learning_rate: 0.01, epochs: 30, batch_size: 32, optimizer: adam, seed: 1, record_every: 10}\n"
    )
    result = invoke("train", tmp_path / "t.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert result.exit_code == 0, result.output
    run = load_run(tmp_path / "runs" / "latest")
    assert run.table.categorical == ["island", "sex"]
    table, feeds = _penguin_feeds(run, tmp_path / "test.csv")
    assert np.isnan(feeds["bill_length_mm"]).any() and "NA" in feeds["sex"]  # both kinds of missing cell are tested
    x, _, kept = run.table.transform(table, need_target=False)
    AL = outputs(run, normalized(run, np.ascontiguousarray(x.T)))  # predict's own path for a table's rows
    head = HEADS[run.meta["loss"]]
    session = ort.InferenceSession(str(export_run(run, tmp_path / "t.onnx", "onnx")), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == sorted(run.table.numeric + run.table.categorical)
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    if head.proba is None:
        np.testing.assert_allclose(got["prediction"][kept], AL.T, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(got["probabilities"][kept], head.proba(AL).T, atol=1e-5)
        np.testing.assert_array_equal(got["label"][kept], head.predict(AL))
        assert json.loads({p.key: p.value for p in onnx.load(str(tmp_path / "t.onnx")).metadata_props}["classes"]) == run.table.classes
    with pytest.raises(NnctlError, match="a run trained on a table takes named columns"):
        export_run(run, tmp_path / "t.npz", "npz")
    del tables


def test_table_columns_named_like_the_graphs_own_names(tmp_path):
    """Columns named W1, b1, scale (names the graph once used for its weights) are inputs like any other
    and the graph still equals predict; a column named as an output (label) is refused in one line."""
    from nnctl.experiment.inference import normalized, outputs
    from nnctl.data.tables import read_table

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    rows = "".join(f"{a:.4f},{b:.4f},{c:.4f},{'yes' if t else 'no'}\n" for (a, b, c), t in zip(x, y))
    (tmp_path / "t.csv").write_text("W1,b1,scale,y\n" + rows)
    result = invoke("train", "--data", tmp_path / "t.csv", "--target", "y", "--set", "train.epochs=3", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert result.exit_code == 0, result.output
    run = load_run(tmp_path / "runs" / "latest")
    session = ort.InferenceSession(str(export_run(run, tmp_path / "t.onnx", "onnx")), providers=["CPUExecutionProvider"])
    assert sorted(i.name for i in session.get_inputs()) == ["W1", "b1", "scale"]
    table = read_table(tmp_path / "t.csv")
    feeds = {name: x[:, [j]] for j, name in enumerate(("W1", "b1", "scale"))}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    X, _, _ = run.table.transform(table, need_target=False)
    AL = outputs(run, normalized(run, np.ascontiguousarray(X.T)))
    head = HEADS[run.meta["loss"]]
    np.testing.assert_allclose(got["probabilities"], head.proba(AL).T, atol=1e-5)

    (tmp_path / "l.csv").write_text("label,b,c,y\n" + rows)
    assert (
        invoke(
            "train", "--data", tmp_path / "l.csv", "--target", "y", "--set", "train.epochs=3", "--runs-dir", tmp_path / "runs2", "-q", "--no-report"
        ).exit_code
        == 0
    )
    result = invoke("export", "--run", tmp_path / "runs2" / "latest", "-o", tmp_path / "l.onnx")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.strip() == (
        "Error: column 'label': an ONNX graph's inputs are the table's columns, and 'label' is one of its outputs; "
        "rename the column in the table and train again"
    )
    assert not (tmp_path / "l.onnx").exists()


# ---------------------------------------------------------------- inputs of a large offset (issue 20)


def _timestamps(rng, m):
    """Features such as Unix times: about 1.7e9, std about 1e5, the label in their variation."""
    return 1.7e9 + 1e5 * rng.normal(size=(m, 2))


@pytest.mark.parametrize("head", ["sigmoid", "softmax", "linear"])
def test_inputs_of_a_large_offset_are_standardised_in_float64(tmp_path, head):
    """Features of 1.7e9 +- 1e5 lose their variation in float32 (its last bit at 1.7e9 is 128): the graph
    takes float64 and standardises in float64, so it equals predict to 1e-5 (it differed by 0.02 before),
    for every head, on an array run and on a table run (one numeric column of times and one of text)."""
    from nnctl.data.tables import read_table
    from nnctl.experiment.inference import normalized, outputs

    rng = np.random.default_rng(7)
    x = _timestamps(rng, 300)
    z = (x - 1.7e9) / 1e5
    if head == "linear":
        y = 3.0 * z[:, 0] - z[:, 1]
    elif head == "softmax":
        y = np.digitize(z[:, 0] + z[:, 1], [-0.5, 0.5])
    else:
        y = (z[:, 0] - z[:, 1] > 0).astype(int)
    model = {"linear": "task: regression", "softmax": "output_activation: softmax", "sigmoid": "output_activation: sigmoid"}[head]
    train = "train: {learning_rate: 0.01, epochs: 40, batch_size: 32, optimizer: adam, seed: 1, record_every: 10}\n"
    _plain(tmp_path / "a-train.h5", x[:200], y[:200], None if head == "linear" else [f"c{k}" for k in range(int(y.max()) + 1)])
    _plain(tmp_path / "a-test.h5", x[200:], y[200:], None if head == "linear" else [f"c{k}" for k in range(int(y.max()) + 1)])
    (tmp_path / "a.yaml").write_text(
        f"data: {{train: a-train.h5, test: a-test.h5, normalize: standardize}}\nmodel: {{hidden: [8], hidden_activation: tanh, {model}}}\n" + train
    )
    assert invoke("train", tmp_path / "a.yaml", "--runs-dir", tmp_path / "ra", "-q", "--no-report").exit_code == 0
    run = load_run(tmp_path / "ra" / "latest")
    rows = x[200:]
    expected, labels = _predicted(run, rows)
    session = ort.InferenceSession(str(export_run(run, tmp_path / "a.onnx", "onnx")), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(double)"
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"X": rows})))
    value = got["prediction" if labels is None else "probabilities"]
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5)
    if labels is not None:
        np.testing.assert_array_equal(got["label"], labels)
    # the check could fail: the same rows rounded to float32 (what the graph took before) are far off
    rounded, _ = _predicted(run, rows.astype(np.float32).astype(np.float64))
    assert np.abs(rounded - expected).max() > 1e-3

    # a table: the same times as a column of numbers beside a column of text (one-hot), the target last
    colour = np.where(rng.random(300) < 0.5, "red", "blue")
    target = [f"{v:.6f}" for v in y] if head == "linear" else [f"k{v}" for v in y]
    lines = [f"{a:.3f},{c},{b:.3f},{t}" for (a, b), c, t in zip(x, colour, target)]
    (tmp_path / "t-train.csv").write_text("time,colour,time2,y\n" + "\n".join(lines[:200]) + "\n")
    (tmp_path / "t-test.csv").write_text("time,colour,time2,y\n" + "\n".join(lines[200:]) + "\n")
    task = "regression" if head == "linear" else "classification"
    (tmp_path / "t.yaml").write_text(
        f"data: {{train: t-train.csv, test: t-test.csv, target: y, normalize: standardize}}\n"
        f"model: {{hidden: [8], hidden_activation: tanh, task: {task}}}\n" + train
    )
    result = invoke("train", tmp_path / "t.yaml", "--runs-dir", tmp_path / "rt", "-q", "--no-report")
    assert result.exit_code == 0, result.output
    run = load_run(tmp_path / "rt" / "latest")
    assert run.table.numeric == ["time", "time2"] and run.table.categorical == ["colour"]
    session = ort.InferenceSession(str(export_run(run, tmp_path / "t.onnx", "onnx")), providers=["CPUExecutionProvider"])
    assert {i.name: i.type for i in session.get_inputs()} == {"time": "tensor(double)", "time2": "tensor(double)", "colour": "tensor(string)"}
    feeds = {"time": rows[:, [0]], "time2": rows[:, [1]], "colour": colour[200:].astype(object).reshape(-1, 1)}
    got = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    X, _, _ = run.table.transform(read_table(tmp_path / "t-test.csv"), need_target=False)
    AL = outputs(run, normalized(run, np.ascontiguousarray(X.T)))
    hd = HEADS[run.meta["loss"]]
    if hd.proba is None:
        np.testing.assert_allclose(got["prediction"], AL.T, rtol=1e-5, atol=1e-5)
    else:
        np.testing.assert_allclose(got["probabilities"], hd.proba(AL).T, atol=1e-5)
        np.testing.assert_array_equal(got["label"], hd.predict(AL))


# ---------------------------------------------------------------- issue 20 round 8: a model fitted on a DataFrame


@pytest.mark.parametrize("fmt", ["onnx", "npz"])
def test_a_model_fitted_on_a_dataframe_exports_by_position_with_its_column_names(tmp_path, monkeypatch, fmt):
    """nnctl.fit on a DataFrame records its column names (preprocessing.feature_names); export refused
    them as an unknown preprocessing step. The file takes rows by position as before and says the names."""
    pd = pytest.importorskip("pandas")
    import nnctl

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 3)) * [1.0, 10.0, 0.1] + [0.0, 50.0, 3.0]
    y = (x[:, 0] + (x[:, 1] - 50) / 10 > 0).astype(int)
    frame = pd.DataFrame(x, columns=["height", "weight", "age"])
    spec = {"model": {"hidden": [5], "hidden_activation": "tanh"}, "train": {"learning_rate": 0.5, "iterations": 40}}
    model = nnctl.fit(spec, frame, y)
    model.save("fitdf")
    result = invoke("export", "--run", "fitdf", "-o", f"fitdf.{fmt}")
    assert result.exit_code == 0, result.output
    expected = nnctl.load("fitdf").predict_proba(frame)
    p1 = expected[:, 1] if expected.ndim == 2 and expected.shape[1] == 2 else np.ravel(expected)
    if fmt == "onnx":
        proto = onnx.load(str(tmp_path / "fitdf.onnx"))
        meta = {p.key: p.value for p in proto.metadata_props}
        assert json.loads(meta["feature_names"]) == ["height", "weight", "age"]
        assert '["height", "weight", "age"]' in meta["input"] and '["height", "weight", "age"]' in proto.doc_string
        session = ort.InferenceSession(str(tmp_path / "fitdf.onnx"), providers=["CPUExecutionProvider"])
        label, proba = session.run(["label", "probabilities"], {"X": x.astype(np.float64)})
        np.testing.assert_allclose(proba[:, 1], p1, atol=1e-6)
        np.testing.assert_array_equal(label, nnctl.load("fitdf").predict(frame))
    else:
        f = np.load(tmp_path / "fitdf.npz")
        assert list(f["feature_names"]) == ["height", "weight", "age"]
        assert json.loads(json.loads(str(f["metadata"]))["feature_names"]) == ["height", "weight", "age"]
        np.testing.assert_allclose(_npz_function()(tmp_path / "fitdf.npz", x)[:, 1], p1, atol=1e-6)
    pd.DataFrame(x, columns=["height", "weight", "age"]).to_csv("rows.csv", index=False)
    shown = invoke("predict", "rows.csv", "--run", "fitdf", "--json")
    assert shown.exit_code == 0, shown.output
    printed = [json.loads(line)["probability"] for line in shown.stdout.splitlines()]
    np.testing.assert_allclose(printed, p1, atol=1e-6)  # nnctl predict, the API and the exported file agree
