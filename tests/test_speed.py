"""The mini-batch loop at the limit (issue 14 §1) and training from disk (§2).

Speed itself is measured in benchmarks/bench_train.py; these tests hold what makes it: no array
allocated per step, float32 kept end to end, and a streamed run equal to the in-memory one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import h5py
import numpy as np
import pytest

from nnctl.data import stream as streaming
from nnctl.spec.config import load_config
from nnctl.data.dataset import load_dataset
from nnctl.errors import DataError
from nnctl.experiment.run import train_run
from nnctl.core.network import initialize_parameters
from nnctl.core.optimizers import make_optimizer
from nnctl.rundir.runs import load_params
from nnctl.core.training import Batches, Trainer, gradient_descent

REPO = Path(__file__).resolve().parents[1]


STEPS = """
import json, sys, tracemalloc
import numpy as np
from nnctl.core.network import initialize_parameters
from nnctl.core.optimizers import make_optimizer
from nnctl.core.training import Batches, Trainer, gradient_descent

out = []
for order in "CF":
    for dtype in (np.float32, np.float64):
        rng = np.random.default_rng(0)
        X = np.asarray(rng.standard_normal((200, 300)), dtype=dtype, order=order)
        Y = (rng.random((1, 300)) > 0.5).astype(dtype)
        params = initialize_parameters([200, 16, 8, 1], "he", rng=rng, dtype=dtype)
        trainer = Trainer(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy",
                          optimizer=make_optimizer("adam", 0.01), batch_size=64)
        batches = Batches(300, 64, "generator", 1)
        gradient_descent(trainer, 2, 1, batches=batches)  # warm up
        tracemalloc.start()
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = gradient_descent(trainer, 44, 1, batches=batches)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        arrays = [trainer.theta, trainer.grad, *trainer.optimizer.m.values(), trainer.optimizer._tmp]
        for B in trainer.buffers.values():
            arrays += [B.X, B.Y, B.ZL, *B.A[1:], *B.dZ[1:]]
        arrays += list(params.values())
        out.append({"order": order, "dtype": np.dtype(dtype).name, "steps": result.iterations, "peak": peak - start,
                    "dtypes": sorted({a.dtype.name for a in arrays}), "sizes": sorted(trainer.buffers)})
print(json.dumps(out))
"""


@pytest.mark.slow  # a fresh process, so tracemalloc sees nothing else (test_backend's allocation test is in process)
def test_minibatch_steps_allocate_no_array_even_briefly():
    """Peak, not only growth: over 220 Adam steps (a cost recorded every epoch) no temporary of a
    batch's size appears, for X in C and F order, float32 and float64. X in F order is how a file
    loads (examples contiguous); gathering its columns with np.take once copied all of X every step.
    In a fresh process: tracemalloc's peak counts every thread's allocations."""
    proc = subprocess.run([sys.executable, "-c", STEPS], capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(rows) == 4
    for row in rows:
        assert row["steps"] == 44 * 5
        batch_x = 200 * 64 * np.dtype(row["dtype"]).itemsize  # 51 KiB in float32: one batch of X
        # NumPy's own buffers (a buffered take or broadcast, whatever the batch size) reach 16,768 B
        # here in float32 C order, on main as well: the bound sits above them and below one batch of X
        assert row["peak"] < 20 * 1024 < batch_x, row
        assert row["dtypes"] == [row["dtype"]]  # float32 end to end: parameters, gradients, moments, buffers
        assert row["sizes"] == [44, 64]  # the two batch sizes' buffers, none for all 300 examples


def test_gather_is_the_batch_whatever_the_layout():
    """Rows gathered from an F-ordered X equal the columns of a C-ordered one, and the trained
    parameters are the same."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((7, 50))
    Y = (rng.random((1, 50)) > 0.5).astype(float)
    out = []
    for x in (np.ascontiguousarray(X), np.asfortranarray(X)):
        params = initialize_parameters([7, 5, 1], "he", rng=np.random.default_rng(1))
        trainer = Trainer(params, x, Y, ["tanh", "sigmoid"], "cross_entropy", optimizer=make_optimizer("adam", 0.01), batch_size=16)
        trainer.use_batch(np.array([49, 3, 17, 0, 8, 22, 31, 5, 9, 10, 11, 12, 40, 41, 42, 1]))
        np.testing.assert_array_equal(trainer.cur.X, X[:, [49, 3, 17, 0, 8, 22, 31, 5, 9, 10, 11, 12, 40, 41, 42, 1]])
        gradient_descent(trainer, 5, 1, batches=Batches(50, 16, "generator", 2))
        out.append(trainer.theta.copy())
    np.testing.assert_allclose(out[0], out[1], rtol=1e-12)


# ---------------------------------------------------------------- §2: data larger than memory


def _file(path, x, y, **kw):
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, **kw)
        f["y"] = y
    return str(path)


def _train_both(source, dtype, batch_size=32, epochs=3, optimizer="adam", window_rows=None):
    """theta after training from memory and from the file, same spec (shuffled, last batch smaller)."""
    out = []
    for load in (load_dataset, streaming.open_streamed):
        d = load(source, dtype=dtype)
        if window_rows and load is streaming.open_streamed:
            d.X.whole, d.X.window_rows = False, window_rows  # as where a quarter of the memory is short
        params = initialize_parameters([d.n_x, 6, 3, 1], "he", rng=np.random.default_rng(4), dtype=dtype)
        trainer = Trainer(
            params, d.X, d.Y.astype(dtype), ["relu", "tanh", "sigmoid"], "cross_entropy", optimizer=make_optimizer(optimizer, 0.01), batch_size=batch_size
        )
        result = gradient_descent(trainer, epochs, 1, batches=Batches(d.m, batch_size, "generator", 9))
        if trainer.stream is not None:
            trainer.stream.close()
        out.append((trainer.theta.copy(), result.costs))
    return out


@pytest.mark.parametrize("layout", ["pixels", "float64 as float32", "chunked", "windows"])
def test_streamed_training_is_bit_identical_to_memory(tmp_path, layout):
    """The same batches in the same order, converted as flatten converts: the same bits. Pixels
    (uint8 / 255), floats cast to float32, a chunked compressed file (read through h5py) and a file
    read a window at a time (several windows per batch)."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 203)
    if layout == "pixels":
        source, dtype = _file(tmp_path / "d.h5", rng.integers(0, 256, (203, 4, 4, 3), dtype=np.uint8), y), np.float64
    elif layout == "chunked":
        source, dtype = _file(tmp_path / "d.h5", rng.standard_normal((203, 30)), y, chunks=(16, 30), compression="gzip"), np.float64
    else:
        source, dtype = _file(tmp_path / "d.h5", rng.standard_normal((203, 30)), y), np.float32
    # windows: 10 examples a mapping, 21 of them, each batch touching most
    (memory_theta, memory_costs), (streamed_theta, streamed_costs) = _train_both(source, dtype, window_rows=10 if layout == "windows" else None)
    assert streamed_theta.dtype == dtype
    np.testing.assert_array_equal(memory_theta, streamed_theta)
    assert memory_costs == streamed_costs
    d = streaming.open_streamed(source, dtype=dtype)
    assert d.X.offset is None if layout == "chunked" else d.X.offset > 0
    assert d.X.whole == (layout != "chunked")


def test_stream_spec_key_trains_the_same_run(tmp_path):
    """`data.stream: always` through train_run: params.h5 and the metrics equal `never`'s, and the
    batch size is required."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (150, 3, 3, 3), dtype=np.uint8)
    y = (x.reshape(150, -1).mean(axis=1) > 127).astype(np.int64)
    _file(tmp_path / "d.h5", x, y)
    (tmp_path / "c.yaml").write_text(
        "data: {train: d.h5, test: d.h5}\nmodel: {hidden: [5]}\n"
        "train: {learning_rate: 0.01, epochs: 4, batch_size: 16, optimizer: adam, dtype: float32, record_every: 1}\n"
    )
    runs = {}
    for mode in ("never", "always"):
        spec = load_config(tmp_path / "c.yaml", [f"data.stream={mode}"])
        summary = train_run(spec, runs_root=tmp_path / mode)
        runs[mode] = (load_params(Path(summary.run_dir) / "params.h5")[0], json.loads((Path(summary.run_dir) / "metrics.json").read_text()))
    for k, v in runs["never"][0].items():
        np.testing.assert_array_equal(v, runs["always"][0][k])
    for key in ("final_cost", "train_accuracy", "test_accuracy", "iterations"):
        assert runs["never"][1][key] == runs["always"][1][key]
    spec = load_config(tmp_path / "c.yaml", ["data.stream=always", "train.batch_size=null"])
    with pytest.raises(DataError, match="needs a train.batch_size below the 150 examples"):
        train_run(spec, runs_root=tmp_path / "x")


LIMITED = textwrap.dedent(
    """
    import json, os, resource, sys
    import numpy as np, h5py
    from nnctl.spec.config import load_config
    from nnctl.errors import DataError
    from nnctl.experiment.run import train_run
    from nnctl.util.memory import _status

    folder, room, big = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    # warm up every lazy import, the prefetch thread and its malloc arena on a small file first
    train_run(load_config(os.path.join(folder, "small.yaml")), runs_root=os.path.join(folder, "warm"))
    limit = _status("VmSize") + room
    resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    out = {"file": os.path.getsize(big), "limit_room": room}
    try:
        train_run(load_config(os.path.join(folder, "big.yaml"), ["data.stream=never"]), runs_root=os.path.join(folder, "never"))
        out["never"] = "trained"
    except (DataError, MemoryError) as exc:
        out["never"] = type(exc).__name__ + ": " + str(exc)
    summary = train_run(load_config(os.path.join(folder, "big.yaml")), runs_root=os.path.join(folder, "auto"))
    out["auto"] = {"status": summary.status, "iterations": summary.iterations, "accuracy": summary.train_accuracy}
    out["peak_vmsize_over_limit"] = _status("VmPeak") - limit
    print(json.dumps(out))
    """
)


@pytest.mark.slow  # a fresh process under an address-space limit
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc/self/status")
def test_trains_a_file_three_times_larger_than_the_memory_limit(tmp_path):
    """A subprocess whose address space may grow by 40 MiB trains a 128 MiB file: read into memory
    it is refused, streamed (chosen by data.stream: auto) it trains and learns."""
    room, m, n_x = 40 << 20, 160_000, 200
    rng = np.random.default_rng(0)
    w = rng.standard_normal(n_x).astype(np.float32)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        x = f.create_dataset("x", (m, n_x), np.float32)
        y = np.empty(m, np.int64)
        for a in range(0, m, 20_000):  # written in blocks: the test itself stays small
            block = rng.standard_normal((20_000, n_x), dtype=np.float32)
            x[a : a + 20_000] = block
            y[a : a + 20_000] = block @ w > 0
        f["y"] = y
    _file(tmp_path / "small.h5", rng.standard_normal((100, n_x)).astype(np.float32), rng.integers(0, 2, 100))
    spec = "data: {{train: {f}}}\nmodel: {{hidden: [8]}}\ntrain: {{learning_rate: 0.01, epochs: 1, batch_size: 1000, optimizer: adam, dtype: float32, first_layer: primal{extra}}}\n"
    (tmp_path / "big.yaml").write_text(spec.format(f="big.h5", extra=""))
    (tmp_path / "small.yaml").write_text(
        "data: {train: small.h5, stream: always}\n" + spec.format(f="small.h5", extra="").split("\n", 1)[1].replace("1000", "50")
    )
    assert (tmp_path / "big.h5").stat().st_size > 3 * room
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", LIMITED, str(tmp_path), str(room), str(tmp_path / "big.h5")], capture_output=True, text=True, env=env, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(out)
    assert out["never"].startswith("DataError") and "of memory is available" in out["never"]
    assert out["auto"]["status"] == "completed" and out["auto"]["iterations"] == 160
    assert out["auto"]["accuracy"] > 90  # a linear rule: one epoch of Adam learns it
    assert out["peak_vmsize_over_limit"] <= 0


IMPORT_PEAK = """
import json, tracemalloc
from nnctl.data import importer
importer.IMPORT_BLOCK = 16
importer.import_folder({folder!r}, {warm!r}, size=8)  # lazy imports, first allocations
tracemalloc.start()
tracemalloc.reset_peak()
start, _ = tracemalloc.get_traced_memory()
report = importer.import_folder({folder!r}, {out!r}, size=64, test_fraction=0.2, seed=3)
_, peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
print(json.dumps({{"start": start, "peak": peak, "report": {{"train_counts": list(report.train_counts), "test_counts": list(report.test_counts)}}}}))
"""


@pytest.mark.slow  # a fresh process, so tracemalloc sees nothing else
def test_import_writes_pictures_without_holding_them_all(tmp_path):
    """`data import` keeps at most a block of pictures in memory (numpy's allocations, traced), and
    the file holds each picture under its own name, split as before."""
    from PIL import Image

    from nnctl.data.images import load_image

    rng = np.random.default_rng(0)
    for cls in ("a", "b"):
        (tmp_path / "in" / cls).mkdir(parents=True)
        for i in range(200):
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / "in" / cls / f"{i:03d}.png")
    # measured in a process of its own: tracemalloc counts every thread of a process, and threads an
    # earlier test left behind (a stream's reader, a Dask worker) allocate when a loaded machine lets them
    code = IMPORT_PEAK.format(folder=str(tmp_path / "in"), warm=str(tmp_path / "warm.h5"), out=str(tmp_path / "out.h5"))
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )
    assert run.returncode == 0, run.stderr
    measured = json.loads(run.stdout)
    peak, start = measured["peak"], measured["start"]
    report = SimpleNamespace(**measured["report"])
    all_pictures = 400 * 64 * 64 * 3  # 4.7 MiB; the block of 16 is 192 KiB
    assert peak - start < all_pictures / 4
    assert report.train_counts == [160, 160] and report.test_counts == [40, 40]
    assert not list(tmp_path.glob(".out.h5.*"))  # the scratch file is gone
    with h5py.File(tmp_path / "out.h5") as f:
        for split in ("train", "test"):
            x, names, y = f[f"{split}_set_x"][()], f[f"{split}_set_files"][()], f[f"{split}_set_y"][()]
            assert x.shape[0] == len(names) == len(y)
            for j in (0, len(names) // 2, len(names) - 1):
                name = names[j].decode()
                np.testing.assert_array_equal(x[j], load_image(tmp_path / "in" / name, (64, 64), "RGB").pixels)
                assert y[j] == (name.startswith("b"))


def test_streamed_run_stopped_mid_epoch_resumes_bit_for_bit(tmp_path):
    """Stopped in the middle of an epoch (the reader thread stopped with it), resumed from the
    checkpoint: the reader starts at the checkpoint's batch of the saved order, and the result is
    the uninterrupted run's."""
    from nnctl.experiment.run import resume_run

    rng = np.random.default_rng(5)
    _file(tmp_path / "d.h5", rng.integers(0, 256, (90, 2, 2, 3), dtype=np.uint8), rng.integers(0, 2, 90))
    (tmp_path / "c.yaml").write_text(
        "data: {train: d.h5, stream: always}\nmodel: {hidden: [4]}\ntrain: {learning_rate: 0.01, epochs: 3, batch_size: 20, optimizer: adam, record_every: 1}\n"
    )
    spec = load_config(tmp_path / "c.yaml")
    whole = train_run(spec, runs_root=tmp_path / "whole")
    calls = {"n": 0}

    def stop_after_7_steps():
        calls["n"] += 1
        return calls["n"] == 7  # epoch 1, batch 2 of 5

    stopped = train_run(spec, runs_root=tmp_path / "stopped", should_stop=stop_after_7_steps)
    assert stopped.status == "interrupted" and stopped.iterations == 7
    resumed = resume_run(stopped.run_dir)
    assert resumed.status == "completed" and resumed.iterations == whole.iterations == 15
    a, b = load_params(Path(whole.run_dir) / "params.h5")[0], load_params(Path(resumed.run_dir) / "params.h5")[0]
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert resumed.final_cost == whole.final_cost
