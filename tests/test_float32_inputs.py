"""A float32 run reads its numeric inputs in float64, fits and applies the normalisation in float64,
and only then casts to float32: a timestamp column (about 1.7e9) is not first rounded to float32's
spacing there, 128, which collapses a spread of a few hundred seconds to a handful of values.

The label depends on the timestamp alone (t > 1.7e9, t = 1.7e9 + 100 * N(0, 1)): rounded to float32
first (what a float32 run did before), about half the examples fall in the one float32 step that
holds both classes. Every expected value comes from an oracle (NumPy's mean and std of the file's
own numbers, the standardisation written out by hand, ONNX Runtime on the exported graph), never
from a recorded output.
"""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from conftest import invoke

import nnctl
from nnctl.rundir.runs import load_run
from nnctl.util import memory

T0 = 1.7e9  # a Unix time of 2023; exactly a float32 (1.7e9 / 128 is a whole number)
SPREAD = 100.0  # seconds: below float32's step of 128 at T0 the variation is lost

SPEC = """\
data: {{train: {train}, test: {test}, target: y, normalize: standardize}}
model: {{hidden: [8], hidden_activation: tanh}}
train: {{optimizer: adam, learning_rate: 0.01, epochs: 40, batch_size: 32, seed: 1, record_every: 10, dtype: {dtype}}}
"""


def _times(rng, m):
    """(t, u, y): timestamps, a column of noise, and a label that only the timestamps' variation tells."""
    t = T0 + SPREAD * rng.normal(size=m)
    u = rng.normal(size=m)
    return t, u, (t > T0).astype(int)


def _csv(path, t, u, y):
    path.write_text("t,u,y\n" + "".join(f"{float(a)!r},{float(b)!r},{c}\n" for a, b, c in zip(t, u, y)))
    return path


def _train(folder, name, train, test, dtype):
    spec = folder / f"{name}.yaml"
    spec.write_text(f"name: {name}\n" + SPEC.format(train=train.name, test=test.name, dtype=dtype))
    result = invoke("train", spec, "--runs-dir", folder / f"runs-{name}", "-q", "--no-report")
    assert result.exit_code == 0, result.output
    return load_run(folder / f"runs-{name}" / "latest")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same table trained in float64 and in float32, and (float64) on the timestamps rounded to
    float32 beforehand: what the float32 run saw before the fix."""
    folder = tmp_path_factory.mktemp("f32")
    rng = np.random.default_rng(5)
    t, u, y = _times(rng, 800)
    train, test = _csv(folder / "train.csv", t[:400], u[:400], y[:400]), _csv(folder / "test.csv", t[400:], u[400:], y[400:])
    t32 = t.astype(np.float32).astype(np.float64)
    old_train, old_test = _csv(folder / "old-train.csv", t32[:400], u[:400], y[:400]), _csv(folder / "old-test.csv", t32[400:], u[400:], y[400:])
    return {
        "folder": folder,
        "t": t,
        "float64": _train(folder, "f64", train, test, "float64"),
        "float32": _train(folder, "f32", train, test, "float32"),
        "rounded": _train(folder, "rounded", old_train, old_test, "float64"),
    }


def _metrics(run):
    return json.loads((run.path / "metrics.json").read_text())


def test_a_float32_runs_statistics_are_the_float64_runs(runs):
    """(a) params.h5's normalize/mean and normalize/std of the float32 run equal the float64 run's to
    1e-13, and NumPy's of the training column as the CSV writes it (the oracle)."""
    f32, f64 = runs["float32"].normalization, runs["float64"].normalization
    assert f32.method == f64.method == "standardize"
    np.testing.assert_allclose(f32.mean, f64.mean, rtol=1e-13, atol=0)
    np.testing.assert_allclose(f32.std, f64.std, rtol=1e-13, atol=0)
    # the oracle: NumPy's, of the times less T0 (exact in float64), so its std has no cancellation to lose
    table = np.loadtxt(runs["folder"] / "train.csv", delimiter=",", skiprows=1)[:, :2] - [T0, 0.0]
    np.testing.assert_allclose(f32.mean[:, 0] - [T0, 0.0], table.mean(axis=0), rtol=1e-6)  # the times' mean is within seconds of T0
    np.testing.assert_allclose(f32.mean[:, 0], table.mean(axis=0) + [T0, 0.0], rtol=1e-15)
    np.testing.assert_allclose(f32.std[:, 0], table.std(axis=0), rtol=1e-9)  # nnctl's std of values of 1.7e9, not shifted: ~1e-11
    # the check could fail: statistics of the column rounded to float32 (what they were fitted on before) are 1% off or more
    rounded = (table[:, 0] + T0).astype(np.float32).astype(np.float64)
    assert abs(rounded.std() / table[:, 0].std() - 1) > 1e-2


def test_predict_and_the_api_equal_onnx_runtime_on_a_float32_run(runs, tmp_path):
    """(b) `nnctl predict`'s probabilities and nnctl.load(run)'s equal ONNX Runtime's on the exported
    graph (float64 inputs, standardised in float64) to 1e-6."""
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    pd = pytest.importorskip("pandas")
    run, test = runs["float32"], runs["folder"] / "test.csv"
    assert invoke("export", "--run", run.path, "-o", tmp_path / "m.onnx").exit_code == 0
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    table = np.loadtxt(test, delimiter=",", skiprows=1)
    feeds = {"t": table[:, :1].copy(), "u": table[:, 1:2].copy()}
    onnx_p = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))["probabilities"][:, 1]

    result = invoke("predict", "--run", run.path, test, "--json")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    predicted = np.array([r["probability"] for r in rows])
    assert predicted.shape == onnx_p.shape == (400,)
    np.testing.assert_allclose(predicted, onnx_p, rtol=0, atol=1e-6)
    api = nnctl.load(run.path).predict_proba(pd.DataFrame({"t": table[:, 0], "u": table[:, 1]}))[:, 1]
    np.testing.assert_allclose(api, onnx_p, rtol=0, atol=1e-6)
    # the check could fail: the same rows rounded to float32 first (as a float32 run read them before) are far off
    rounded = {k: v.astype(np.float32).astype(np.float64) for k, v in feeds.items()}
    moved = session.run(["probabilities"], rounded)[0][:, 1]
    assert np.abs(moved - onnx_p).max() > 1e-3


def test_a_float32_run_learns_what_the_timestamps_tell(runs):
    """(c) float32 keeps only a handful of the timestamps' values, yet the float32 run learns the label
    as the float64 run does; trained on the float32-rounded timestamps (what it saw before) it cannot."""
    t = runs["t"]
    assert np.unique(t).size == t.size
    assert np.unique(t.astype(np.float32)).size < t.size / 50  # the collapse: a few float32 steps of 128 s
    acc32, acc64 = _metrics(runs["float32"])["test_accuracy"], _metrics(runs["float64"])["test_accuracy"]
    old = _metrics(runs["rounded"])["test_accuracy"]
    assert acc64 >= 97
    assert abs(acc32 - acc64) <= 1.0
    assert old < acc64 - 10  # rounded to float32 first, half the examples share the step that holds both classes


# ---------------------------------------------------------------- validation, test, streamed


def _h5(path, x, y):
    with h5py.File(path, "w") as f:
        f["x"], f["y"] = x, y
    return path


def _columns(rng, m):
    t, u, y = _times(rng, m)
    return np.stack([t, u, rng.normal(size=m)], axis=1), y  # three features: no decision-boundary picture


HDF5_SPEC = """\
data: {train: tr.h5, validation: va.h5, test: te.h5, normalize: standardize}
model: {hidden: [4], hidden_activation: tanh}
train: {optimizer: adam, learning_rate: 0.01, epochs: 20, batch_size: 50, seed: 2, record_every: 5, dtype: float32}
"""


@pytest.fixture
def hdf5_data(tmp_path):
    rng = np.random.default_rng(11)
    sets = {name: _columns(rng, m) for name, m in (("tr", 300), ("va", 3000), ("te", 5000))}
    for name, (x, y) in sets.items():
        _h5(tmp_path / f"{name}.h5", x, y)
    (tmp_path / "s.yaml").write_text(HDF5_SPEC)
    return sets


def _small_memory(monkeypatch):
    """Memory for the training file (300 examples) but not for the 3000 and 5000 of the others:
    data.stream: auto streams those from their files (the training set stays in memory)."""
    monkeypatch.setattr(memory, "available_memory", lambda: 64 << 10)


def _oracle(x, norm):
    """X (n_x, m) as a float32 run takes it: standardised in float64 by hand, then cast."""
    return ((x.T - norm.mean) / norm.std).astype(np.float32)


def _streamed(X):
    assert not isinstance(X, np.ndarray)
    return np.concatenate([block for _, block in X.blocks()], axis=1)


def test_validation_test_and_streamed_sets_are_normalised_alike(tmp_path, hdf5_data, monkeypatch):
    """(d) the training, validation and test sets of a float32 run, in memory and streamed block by
    block, are the same float32 numbers: standardised in float64 with the training set's statistics,
    then cast."""
    from nnctl.experiment.run import load_inputs
    from nnctl.spec.config import load_config

    monkeypatch.chdir(tmp_path)
    spec = load_config(tmp_path / "s.yaml")
    loaded = load_inputs(spec)
    norm = loaded.normalization
    x_train = hdf5_data["tr"][0]
    shifted = x_train - [T0, 0.0, 0.0]  # exact in float64: the oracle's statistics lose nothing to cancellation
    np.testing.assert_allclose(norm.mean[:, 0], shifted.mean(axis=0) + [T0, 0.0, 0.0], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(norm.std[:, 0], shifted.std(axis=0), rtol=1e-9)
    for name, data in (("tr", loaded.train), ("va", loaded.validation), ("te", loaded.test)):
        assert isinstance(data.X, np.ndarray) and data.X.dtype == np.float32
        np.testing.assert_array_equal(data.X, _oracle(hdf5_data[name][0], norm), err_msg=name)

    _small_memory(monkeypatch)
    streamed = load_inputs(spec)
    assert isinstance(streamed.train.X, np.ndarray)
    np.testing.assert_array_equal(streamed.normalization.mean, norm.mean)
    for name, data in (("va", streamed.validation), ("te", streamed.test)):
        blocks = _streamed(data.X)
        assert blocks.dtype == np.float32
        np.testing.assert_array_equal(blocks, _oracle(hdf5_data[name][0], norm), err_msg=name)
    streamed.test.X.close()
    streamed.validation.X.close()


def test_training_with_a_streamed_test_file_and_standardize(tmp_path, hdf5_data, monkeypatch):
    """A test (and validation) file streamed with data.normalize: standardize trains (it raised a
    TypeError: the normalisation was applied to the stream object), and its accuracies are those of
    the same run with every set in memory, of `nnctl evaluate` on the file, and of the oracle's."""
    from nnctl.experiment.inference import evaluate

    assert invoke("train", tmp_path / "s.yaml", "--runs-dir", tmp_path / "mem", "-q", "--no-report").exit_code == 0
    _small_memory(monkeypatch)
    result = invoke("train", tmp_path / "s.yaml", "--runs-dir", tmp_path / "str", "-q", "--no-report")
    assert result.exit_code == 0, result.output
    in_memory, streamed = _metrics(load_run(tmp_path / "mem" / "latest")), _metrics(load_run(tmp_path / "str" / "latest"))
    for key in ("train_accuracy", "validation_accuracy", "test_accuracy", "final_cost"):
        assert streamed[key] == in_memory[key], key

    run = load_run(tmp_path / "str" / "latest")
    x, y = hdf5_data["te"]
    W1, b1, W2, b2 = (run.params[k] for k in ("W1", "b1", "W2", "b2"))
    p = 1 / (1 + np.exp(-(W2.astype(np.float64) @ np.tanh(W1.astype(np.float64) @ _oracle(x, run.normalization) + b1) + b2)))
    oracle = 100 * np.mean((p[0] > 0.5) == y)
    assert oracle > 95  # the label is learnt: standardised in float32 after rounding, about half the examples would be guesses
    assert abs(streamed["test_accuracy"] - oracle) <= 100 * 2 / y.size  # an example within float32's rounding of p = 0.5 may differ

    evaluated, _ = evaluate(run, str(tmp_path / "te.h5"))  # `nnctl evaluate`'s scores: the file read in chunks
    assert evaluated["accuracy"] == pytest.approx(streamed["test_accuracy"], abs=1e-9)
