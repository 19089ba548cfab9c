"""The device code path without a GPU: nnctl.core.backend's FakeDevice keeps NumPy's arithmetic but holds
its arrays in a type of its own and copies on every transfer, so the suite runs the GPU path's
transfers (data resident or staged batch by batch, masks drawn on the host, the parameters and the
optimizer's moments copied back) and checks that it agrees with NumPy bit for bit and that nothing it
writes stays in device form. CUDA itself is checked by benchmarks/gpu_check.py on a GPU."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import invoke
from nnctl.core import backend as backend_module
from nnctl.core.backend import DeviceArray, FakeDevice, NumpyBackend, make_backend
from nnctl.core.network import initialize_parameters
from nnctl.core.optimizers import make_optimizer
from nnctl.core.regularization import Dropout
from nnctl.core.training import Batches, Position, Trainer, gradient_descent


def softmax_problem(m=300, n_x=12, k=4, dtype=np.float32, seed=0):
    """k Gaussian clusters; X (n_x, m) F-ordered (one example contiguous, as nnctl loads a file)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, m)
    centres = rng.standard_normal((k, n_x)) * 2
    X = np.asfortranarray((centres[y] + rng.standard_normal((m, n_x))).T.astype(dtype))
    Y = np.zeros((k, m), dtype)
    Y[y, np.arange(m)] = 1
    return X, Y


def train(be, X, Y, *, layers, acts, loss, optimizer="adam", lr=0.01, batch=32, epochs=4, l2=0.0, keep=None, seed=3):
    params = initialize_parameters(layers, "he", rng=np.random.default_rng(seed), dtype=X.dtype)
    dropout = Dropout([keep] * (len(layers) - 2) + [1.0], "fresh", seed) if keep else None
    trainer = Trainer(params, X, Y, acts, loss, optimizer=make_optimizer(optimizer, lr), batch_size=batch, l2=l2, dropout=dropout, backend=be)
    result = gradient_descent(trainer, epochs, 1, batches=Batches(X.shape[1], batch, "generator", seed))
    return trainer, result


CASES = {
    "adam-softmax": dict(optimizer="adam"),
    "gd-l2": dict(optimizer="gd", lr=0.1, l2=0.7),
    "momentum-dropout": dict(optimizer="momentum", lr=0.05, keep=0.8),
    "rmsprop-full-batch": dict(optimizer="rmsprop", lr=0.005, batch=None),
    "adam-last-batch-smaller": dict(optimizer="adam", batch=47),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("capacity", [None, 0], ids=["resident", "staged"])
def test_fake_device_agrees_with_numpy_bit_for_bit(case, dtype, capacity):
    X, Y = softmax_problem(dtype=dtype)
    spec = dict(layers=[12, 16, 8, 4], acts=["relu", "tanh", "softmax"], loss="categorical_cross_entropy", **CASES[case])
    ref, ref_result = train(NumpyBackend(), X, Y, **spec)
    fake = FakeDevice(capacity=capacity)
    dev, result = train(fake, X, Y, **spec)
    assert dev.resident == (capacity is None or spec.get("batch", 32) is None)
    assert result.costs == ref_result.costs and len(result.costs) == 4  # every epoch's cost, the same bits
    # and its training accuracy, counted on the device without a read per batch: the same count
    assert result.accuracy == ref_result.accuracy and all(0 < a <= 100 for a in result.accuracy)
    assert result.iterations == ref_result.iterations
    host = dev.materialize()
    for key, value in ref.materialize().items():
        assert type(host[key]) is np.ndarray, key  # written in NumPy form
        assert host[key].dtype == dtype and host[key].tobytes() == value.tobytes(), key
    for key, value in ref.optimizer.state().items():
        got = dev.optimizer.state()[key]
        assert type(got) is np.ndarray and np.array_equal(got, value), key
    assert isinstance(dev.theta, DeviceArray) and fake.transfers["out"] >= 1
    # batches gathered on the device (one order per epoch) or staged on the host (X and Y per batch)
    size = spec.get("batch", 32)
    batches = -(-300 // size) if size else 0
    masks = 2 * 4 * batches if spec.get("keep") else 0  # two hidden layers' masks per step, drawn on the host
    if capacity == 0 and batches:
        assert fake.transfers["in"] >= 2 * 4 * batches + masks
    elif batches:
        assert fake.transfers["in"] < 4 * batches + masks


@pytest.mark.parametrize("case", ["adam-softmax", "momentum-dropout", "rmsprop-full-batch", "adam-last-batch-smaller"])
def test_fused_step_agrees_with_numpy_to_rounding(case):
    """The fused step's control flow (the output layer's kernel leaves the cost per example and
    dZ[L] / m; no other division by m; one finiteness check over the gradient vector), with NumPy's
    statement of each kernel: the same run to float64 rounding, not bit for bit (another order)."""
    X, Y = softmax_problem(dtype=np.float64)
    spec = dict(layers=[12, 16, 8, 4], acts=["relu", "tanh", "softmax"], loss="categorical_cross_entropy", **CASES[case])
    ref, ref_result = train(NumpyBackend(), X, Y, **spec)
    dev, result = train(FakeDevice(fused=True), X, Y, **spec)
    assert dev.out_fused is not None
    np.testing.assert_allclose([c for _, c in result.costs], [c for _, c in ref_result.costs], rtol=1e-12)
    assert result.accuracy == ref_result.accuracy  # the same decisions: A[L] differs only by rounding
    host = dev.materialize()
    for key, value in ref.materialize().items():
        np.testing.assert_allclose(host[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_fused_sigmoid_output_agrees_and_l2_keeps_the_plain_output():
    X, Y = softmax_problem(k=2, dtype=np.float64)
    y = Y[1:2].copy()
    spec = dict(layers=[12, 6, 1], acts=["relu", "sigmoid"], loss="cross_entropy", optimizer="adam", lr=0.01)
    _, ra = train(NumpyBackend(), X, y, **spec)
    b, rb = train(FakeDevice(fused=True), X, y, **spec)
    assert b.out_fused is not None
    np.testing.assert_allclose([c for _, c in rb.costs], [c for _, c in ra.costs], rtol=1e-12)
    assert rb.accuracy == ra.accuracy
    c, _ = train(FakeDevice(fused=True), X, y, **spec, l2=0.5)
    assert c.out_fused is None  # the penalty is part of the cost: the plain output layer


def test_sigmoid_output_and_mse_on_the_fake_device():
    X, Y = softmax_problem(k=2)
    y = Y[1:2].copy()
    for acts, loss in ((["leaky_relu", "sigmoid"], "cross_entropy"), (["sigmoid", "linear"], "mse")):
        spec = dict(layers=[12, 6, 1], acts=acts, loss=loss, optimizer="adam", lr=0.01)
        a, ra = train(NumpyBackend(), X, y, **spec)
        b, rb = train(FakeDevice(), X, y, **spec)
        assert ra.costs == rb.costs and np.array_equal(ra.accuracy, rb.accuracy, equal_nan=True)
        assert all(np.isnan(ra.accuracy)) if loss == "mse" else all(0 < a <= 100 for a in ra.accuracy)  # a regression counts none
        assert all(np.array_equal(a.params[k], b.materialize()[k]) for k in a.params)


def test_a_diverging_run_is_caught_on_the_device_too():
    X, Y = softmax_problem()
    X *= 1e30
    spec = dict(layers=[12, 8, 4], acts=["relu", "softmax"], loss="categorical_cross_entropy", optimizer="gd", lr=1e10)
    cpu, ref = train(NumpyBackend(), X, Y, **spec)
    dev, got = train(FakeDevice(), X, Y, **spec)
    # the device reads no batch cost (that would stall it): the step's gradient check stops it, at the same step
    assert ref.status == got.status == "diverged" and got.iterations == ref.iterations
    assert got.message == ref.message.replace("the cost", "the gradient")
    assert dev.params_finite() == cpu.params_finite()
    assert all(np.array_equal(cpu.params[k], dev.materialize()[k], equal_nan=True) for k in cpu.params)


def test_dual_first_layer_is_refused_on_a_device():
    X, Y = softmax_problem()
    params = initialize_parameters([12, 4, 4], "he", rng=np.random.default_rng(0), dtype=X.dtype)
    with pytest.raises(ValueError, match="dual first layer runs on the CPU only"):
        Trainer(params, X, Y, ["relu", "softmax"], "categorical_cross_entropy", 0.1, path="dual", backend=FakeDevice())


def test_make_backend_names_what_is_missing(monkeypatch):
    class NoCuda(NumpyBackend):
        def __init__(self, fused=True):
            raise RuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")

    monkeypatch.setitem(backend_module.BACKENDS, "gpu", NoCuda)
    with pytest.raises(backend_module.DeviceUnavailable, match="no usable CUDA device .RuntimeError: cudaErrorNoDevice"):
        make_backend("gpu")


# ---------------------------------------------------------------- end to end: `--device gpu` on the fake

SPEC = """\
name: clusters
data:
  train: {data}
  test: {data}
  validation: 0.2
model:
  hidden: [16, 8]
train:
  learning_rate: 0.01
  epochs: 6
  batch_size: 32
  optimizer: adam
  dtype: float32
  record_every: 1
  checkpoint_every: 2
  early_stopping: {{patience: 50}}
"""


@pytest.fixture
def clusters(tmp_path):
    X, Y = softmax_problem(dtype=np.float64)
    path = tmp_path / "clusters.h5"
    with h5py.File(path, "w") as f:
        f["train_set_x"] = X.T
        f["train_set_y"] = Y.argmax(axis=0)
        f["test_set_x"] = X.T[:60]
        f["test_set_y"] = Y.argmax(axis=0)[:60]
    config = tmp_path / "clusters.yaml"
    config.write_text(SPEC.format(data=path))
    return config


def _params(run_dir):
    with h5py.File(Path(run_dir) / "params.h5") as f:
        return {k: f[k][()] for k in f if k[0] in "Wb"}


@pytest.fixture
def fake_gpu(monkeypatch):
    """`device: gpu` on the fake device, plain path (the fused one is not bit for bit: see above)."""
    monkeypatch.setitem(backend_module.BACKENDS, "gpu", lambda fused=True: FakeDevice())


def test_cli_device_gpu_writes_what_the_cpu_writes(tmp_path, clusters, fake_gpu):
    cpu = invoke("train", clusters, "-q", "--no-report", "--runs-dir", tmp_path / "cpu")
    gpu = invoke("train", clusters, "-q", "--no-report", "--runs-dir", tmp_path / "gpu", "--device", "gpu")
    assert cpu.exit_code == 0 and gpu.exit_code == 0, gpu.output
    a, b = [next((tmp_path / d).glob("*-clusters")) for d in ("cpu", "gpu")]
    pa, pb = _params(a), _params(b)
    assert pa.keys() == pb.keys() and all(pa[k].tobytes() == pb[k].tobytes() for k in pa)
    assert (a / "costs.csv").read_text() == (b / "costs.csv").read_text()
    # k = 4 classes with a validation set (its cost once crashed on one-hot targets): scored per epoch
    last = (a / "costs.csv").read_text().splitlines()[-1].split(",")
    assert len(last) == 6 and float(last[5]) > 60  # validation accuracy, chance being 25%
    assert float(last[3]) > 60  # and the training accuracy, counted on the device from its batches: the CPU's count
    assert "device: gpu" in (b / "config.resolved.yaml").read_text()


@pytest.mark.parametrize("first,then", [("cpu", "gpu"), ("gpu", "cpu")])
def test_resume_moves_between_devices(tmp_path, clusters, fake_gpu, first, then):
    """Stopped mid-epoch on one device, resumed on the other: the uninterrupted run's bits."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import resume_run, train_run

    ref = train_run(load_config(clusters), runs_root=tmp_path / "ref")
    spec = load_config(clusters)
    spec = spec.model_copy(update={"train": spec.train.model_copy(update={"device": first})})
    calls = []
    stopped = train_run(spec, runs_root=tmp_path / "runs", should_stop=lambda: calls.append(1) or len(calls) == 2 * 10 + 3)
    assert stopped.status == "interrupted"
    done = resume_run(stopped.run_dir, device=then)
    assert done.status == "completed" and done.resumed_from == 23
    pa, pb = _params(ref.run_dir), _params(done.run_dir)
    assert all(pa[k].tobytes() == pb[k].tobytes() for k in pa)
    assert (Path(ref.run_dir) / "costs.csv").read_text() == (Path(done.run_dir) / "costs.csv").read_text()


def test_device_gpu_without_cupy_is_one_line_and_writes_nothing(tmp_path, clusters, monkeypatch):
    def no_cupy(fused=True):
        raise ImportError("No module named 'cupy'")

    monkeypatch.setitem(backend_module.BACKENDS, "gpu", no_cupy)
    result = invoke("train", clusters, "-q", "--runs-dir", tmp_path / "runs", "--device", "gpu")
    assert result.exit_code == 1
    assert result.output == (
        "Error: train.device: gpu: CuPy is not installed (No module named 'cupy'); install CuPy for your CUDA "
        "(pip install 'nnctl[gpu]') on a machine with an NVIDIA GPU, or use device: cpu (--device cpu)\n"
    )
    assert not (tmp_path / "runs").exists()


def test_device_and_dual_first_layer_refused_in_the_spec(tmp_path, clusters):
    result = invoke(
        "train",
        clusters,
        "--set",
        "train.batch_size=null",
        "--set",
        "train.optimizer=gd",
        "--set",
        "train.first_layer=dual",
        "--device",
        "gpu",
        "--runs-dir",
        tmp_path / "r",
    )
    assert result.exit_code == 1 and "train.first_layer: dual runs on the CPU only; use auto or primal with device: gpu" in result.output


def test_version_lists_the_devices_seen():
    result = invoke("--version")
    lines = result.output.splitlines()
    assert result.exit_code == 0 and lines[0].startswith("nnctl ") and lines[1].strip().startswith("cpu: ")
    assert any(line.strip().startswith("gpu") for line in lines[2:])


# ---------------------------------------------------------------- BLAS threads from the work (issue 25 §2)


def test_blas_threads_follow_the_work_and_the_load():
    from nnctl.core.resources import SINGLE_THREAD_WORK, choose_blas_threads, step_work

    # [784, 256, 128, 10]: 3 * b * (784*256 + 256*128 + 128*10) multiply-adds per step
    assert step_work([784, 256, 128, 10], 256) == 3 * 256 * 234752
    assert choose_blas_threads([30, 16, 1], 455, cores=2, load=0.0) == 1  # breast cancer: small work
    assert choose_blas_threads([784, 256, 128, 10], 256, cores=2, load=0.3) is None  # the cores (or a sweep's share)
    assert choose_blas_threads([784, 256, 128, 10], 256, cores=2, load=2.6) == 1  # every core already busy
    assert choose_blas_threads([784, 256, 128, 10], 256, cores=1, load=9.0) is None
    b = SINGLE_THREAD_WORK // (3 * 234752)
    assert choose_blas_threads([784, 256, 128, 10], b, cores=2, load=0) == 1
    assert choose_blas_threads([784, 256, 128, 10], b + 1, cores=2, load=0) is None


def test_a_small_network_trains_and_records_one_thread(tmp_path, clusters):
    import json

    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    summary = train_run(load_config(clusters), runs_root=tmp_path / "runs")
    rec = json.loads((Path(summary.run_dir) / "reproduce.json").read_text())
    assert rec["blas"]["threads"] == 1  # and --resume reuses what is recorded


# ---------------------------------------------------------------- no allocation per step (issue 25 §1)


def _step_peak(batch, dtype, record):
    """Peak traced memory above the start over two epochs of steps, after one epoch of warm-up."""
    import tracemalloc

    X, Y = softmax_problem(m=4 * 1024, n_x=64, k=10, dtype=dtype)
    trainer, _ = train(
        NumpyBackend(), X, Y, layers=[64, 128, 64, 10], acts=["relu", "relu", "softmax"], loss="categorical_cross_entropy", batch=batch, epochs=1
    )
    batches, pos = Batches(X.shape[1], batch, "generator", 3), Position(epoch=1)
    gradient_descent(trainer, 2, 1, batches=batches, position=pos)  # warm-up: every buffer made
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        gradient_descent(trainer, 4, 1 if record else 10**6, batches=batches, position=pos)
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_step_allocates_no_array_of_the_batch(dtype):
    """Over many steps (the cost recorded every epoch, from the batches' own Z[L]) the peak of traced
    memory grows by NumPy's ufunc buffers alone (8192 elements, whatever the batch size), never by
    an array of the batch: a (128, 1024) temporary would be 512 KiB in float32, the (10, 1024) of
    the softmax or the cost 40 KiB."""
    itemsize = np.dtype(dtype).itemsize
    small, large = _step_peak(256, dtype, True), _step_peak(1024, dtype, True)
    assert large <= 2 * 8192 * itemsize + 8192, large
    assert large <= small + 4096, (small, large)  # independent of the batch size


def test_streamed_data_on_the_device_is_the_cpu_run(tmp_path, clusters, fake_gpu):
    """data.stream: always with device gpu: each batch read on the host and copied over (with its
    labels through the staged buffers); the same parameters and costs as the CPU reading into memory."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    done = {}
    for device, stream in (("cpu", "never"), ("gpu", "always")):
        spec = load_config(clusters, [f"data.stream={stream}", f"train.device={device}", "data.validation=null", "train.early_stopping=null"])
        done[device] = train_run(spec, runs_root=tmp_path / device).run_dir
    pa, pb = _params(done["cpu"]), _params(done["gpu"])
    assert all(pa[k].tobytes() == pb[k].tobytes() for k in pa)
    assert (Path(done["cpu"]) / "costs.csv").read_text() == (Path(done["gpu"]) / "costs.csv").read_text()
