"""Mini-batch benchmarks (issue 14): epochs of Adam on a [784, 256, 128, 10] network, against PyTorch,
scikit-learn, a course-style NumPy loop and the floor; time to accuracy; scaling; streamed data.

    python benchmarks/bench_train.py --minibatch            # everything (about 15 minutes on 2 cores)
    python benchmarks/bench_train.py --minibatch --quick    # tiny sizes: checks that it runs
    python benchmarks/bench_minibatch.py --parts epoch,accuracy,scaling,stream --repeats 3

Epoch time: every implementation trains the same generated 60,000 x 784 set, one epoch at a time,
side by side in one process and alternating (implementation A's epoch, B's, ..., then again), each
`--repeats` times after one untimed epoch; a row's ratio is the median over repeats of (its epoch /
the floor's or nnctl's epoch in the same round). PyTorch starts from nnctl's initial weights and
visits the examples in nnctl's batch order (nnctl's own Batches), with torch.optim.Adam (the same
update, beta1 0.9, beta2 0.999, epsilon 1e-8). scikit-learn: MLPClassifier(solver="adam", same batch
size, alpha=0), one partial_fit per epoch (its own shuffling). The course-style loop is the Course 2
notebook's: random_mini_batches (a shuffled copy of X every epoch), dictionaries of caches and
gradients, update_parameters_with_adam. The floor is only the matrix products each batch must do:
W A forward, dZ A_prev^T and (except the first layer) W^T dZ backward.

The output head: nnctl's side is written against the spec (model.layers ending in 10,
model.output_activation: softmax). Where this checkout has no softmax head yet, every implementation
trains ten sigmoid units on one-hot labels instead (cross-entropy summed over the ten, divided by the
batch), and the tables say so in their title.

PyTorch and scikit-learn are not dependencies of nnctl: their rows are left out where not installed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

LAYERS = [784, 256, 128, 10]
LR = 1e-3
PAUSE = 0.2  # seconds between timed epochs: the previous library's spinning threads go idle
SHARP = 0.25  # the teacher's tanh: nearly linear in z
NOISE = 0.2  # per feature, over the 784


# ---------------------------------------------------------------- data


def make_data(m, dtype, seed=0, n_x=784, classes=10, latent=16):
    """A learnable 10-class problem: a latent z ~ N(0, 1) of 16 dimensions, the label the argmax of
    a random teacher network on z (tanh(0.25 z T1) T2, 32 hidden units), and x = z P + noise in 784
    dimensions (P a fixed random projection, the noise N(0, 0.2^2) per feature). The network of the
    benchmark reaches about 85% validation accuracy in 5 epochs of Adam. Returns X (n_x, m) one example
    per column (F order, as nnctl loads a file), one-hot Y (10, m) and the labels y (m,)."""
    rng = np.random.default_rng(seed)
    teacher = np.random.default_rng(12345)  # the same problem whatever the seed
    T1 = teacher.standard_normal((latent, 32)).astype(np.float32)
    T2 = teacher.standard_normal((32, classes)).astype(np.float32)
    P = teacher.standard_normal((latent, n_x)).astype(np.float32) / np.sqrt(latent)
    x = np.empty((m, n_x), dtype)
    y = np.empty(m, np.int64)
    for a in range(0, m, 20_000):  # in blocks: no float64 copy of a 240k set
        b = min(20_000, m - a)
        z = rng.standard_normal((b, latent), dtype=np.float32)
        y[a : a + b] = np.argmax(np.tanh(SHARP * (z @ T1)) @ T2, axis=1)
        x[a : a + b] = z @ P + NOISE * rng.standard_normal((b, n_x), dtype=np.float32)
    Y = np.zeros((classes, m), dtype)
    Y[y, np.arange(m)] = 1
    return x.T, Y, y


# ---------------------------------------------------------------- the output head nnctl offers here


def nnctl_head(layers):
    """(activations, loss, label): the spec's resolution of a softmax head, or ten sigmoid units
    where this checkout has no softmax yet."""
    from nnctl.spec.config import Spec

    try:
        spec = Spec.model_validate(
            {
                "data": {"train": "builtin:moons"},
                "model": {"layers": layers, "hidden_activation": "relu", "output_activation": "softmax"},
                "train": {"learning_rate": LR, "epochs": 1, "batch_size": 64, "optimizer": "adam"},
            }
        )
        model = spec.resolved(layers).model
        return list(model.activations), model.loss, "softmax"
    except ValueError:  # pydantic's ValidationError: no softmax head on this branch
        return ["relu"] * (len(layers) - 2) + ["sigmoid"], "cross_entropy", "sigmoid x10 (softmax not in this checkout)"


def initial_params(layers, dtype, seed=1):
    from nnctl.core.network import initialize_parameters

    return initialize_parameters(layers, "he", rng=np.random.default_rng(seed), dtype=dtype)


# ---------------------------------------------------------------- implementations: epochs(k), predict(X)


class Impl:
    """An implementation under test: `epochs(k)` trains k epochs; `predict(X)` gives class indices."""

    def __init__(self, epochs, predict=None, note=""):
        self.epochs, self.predict, self.note = epochs, predict, note


def make_nnctl(X, Y, y, layers, batch, head, seed=1):
    from nnctl.core.network import predict_proba
    from nnctl.core.optimizers import make_optimizer
    from nnctl.core.training import Batches, Position, Trainer, gradient_descent

    acts, loss, _ = head
    params = initial_params(layers, X.dtype, seed)
    trainer = Trainer(params, X, Y, acts, loss, optimizer=make_optimizer("adam", LR), batch_size=batch)
    batches = Batches(X.shape[1], batch, "generator", seed)
    pos = Position()

    def epochs(k):
        gradient_descent(trainer, pos.epoch + k, record_every=1, batches=batches, position=pos)  # the epoch's cost too

    return Impl(epochs, lambda Xv: np.argmax(predict_proba(Xv, params, acts), axis=0))


def make_torch(X, Y, y, layers, batch, head, seed=1):
    import torch

    from nnctl.core.training import Batches

    torch.set_num_threads(os.cpu_count() or 1)
    tdt = torch.float64 if X.dtype == np.float64 else torch.float32
    init = initial_params(layers, X.dtype, seed)
    mods = []
    for l in range(1, len(layers)):
        lin = torch.nn.Linear(layers[l - 1], layers[l], dtype=tdt)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(init[f"W{l}"]))  # (n[l], n[l-1]): the course's W is torch's weight
            lin.bias.copy_(torch.from_numpy(init[f"b{l}"].ravel()))
        mods.append(lin)
        if l < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    Xt = torch.from_numpy(X.T)  # (m, n_x), a view of nnctl's X
    if head[2] == "softmax":
        target = torch.from_numpy(y)
        ce = torch.nn.CrossEntropyLoss()
        loss_fn = ce
    else:
        target = torch.from_numpy(np.ascontiguousarray(Y.T))
        bce = torch.nn.BCEWithLogitsLoss(reduction="sum")

        def loss_fn(out, t):
            return bce(out, t) / t.shape[0]

    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8)
    batches = Batches(X.shape[1], batch, "generator", seed)  # nnctl's batch order
    state = {"epoch": 0}

    def epochs(k):
        for _ in range(k):
            batches.start_epoch(state["epoch"])
            state["epoch"] += 1
            for j in range(batches.count):
                idx = torch.from_numpy(batches.indices(j))
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt.index_select(0, idx)), target.index_select(0, idx))
                loss.backward()
                opt.step()

    def predict(Xv):
        with torch.no_grad():
            return model(torch.from_numpy(np.ascontiguousarray(Xv.T))).argmax(1).numpy()

    return Impl(epochs, predict)


def make_sklearn(X, Y, y, layers, batch, head, seed=1, defaults=False):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xr = X.T  # (m, n_x) C-contiguous: no copy
    if defaults:  # time to accuracy: scikit-learn as a user runs it
        clf = MLPClassifier(hidden_layer_sizes=tuple(layers[1:-1]), random_state=seed)
    else:
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(layers[1:-1]),
            activation="relu",
            solver="adam",
            batch_size=batch,
            learning_rate_init=LR,
            alpha=0.0,
            shuffle=True,
            random_state=seed,
        )
    classes = np.arange(layers[-1])

    def epochs(k):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for _ in range(k):
                clf.partial_fit(Xr, y, classes=classes)  # one epoch, Adam's state kept

    return Impl(epochs, lambda Xv: clf.predict(Xv.T), note="softmax")


def make_course(X, Y, y, layers, batch, head, seed=1):
    """The Course 2 notebook's loop, written the notebook's way (see the module's docstring)."""
    params = {k: v.copy() for k, v in initial_params(layers, X.dtype, seed).items()}
    L = len(layers) - 1
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    state = {"t": 0, "seed": 10}
    softmax = head[2] == "softmax"

    def random_mini_batches(X, Y, size, seed):
        np.random.seed(seed)
        m = X.shape[1]
        permutation = list(np.random.permutation(m))
        shuffled_X, shuffled_Y = X[:, permutation], Y[:, permutation]
        return [(shuffled_X[:, k : k + size], shuffled_Y[:, k : k + size]) for k in range(0, m, size)]

    def forward(Xb):
        caches, A = [], Xb
        for l in range(1, L + 1):
            Z = np.dot(params[f"W{l}"], A) + params[f"b{l}"]
            caches.append((A, Z))
            if l < L:
                A = np.maximum(0, Z)
            elif softmax:
                e = np.exp(Z - np.max(Z, axis=0, keepdims=True))
                A = e / np.sum(e, axis=0, keepdims=True)
            else:
                A = 1 / (1 + np.exp(-Z))
        return A, caches

    def backward(AL, Yb, caches):
        grads, m = {}, Yb.shape[1]
        dZ = AL - Yb
        for l in range(L, 0, -1):
            A_prev, Z = caches[l - 1]
            grads[f"dW{l}"] = 1.0 / m * np.dot(dZ, A_prev.T)
            grads[f"db{l}"] = 1.0 / m * np.sum(dZ, axis=1, keepdims=True)
            if l > 1:
                dA = np.dot(params[f"W{l}"].T, dZ)
                dZ = np.array(dA, copy=True)
                dZ[caches[l - 2][1] <= 0] = 0
        return grads

    def update_parameters_with_adam(grads, t, beta1=0.9, beta2=0.999, epsilon=1e-8):
        for k in params:
            g = grads["d" + k]
            v[k] = beta1 * v[k] + (1 - beta1) * g
            v_corrected = v[k] / (1 - beta1**t)
            s[k] = beta2 * s[k] + (1 - beta2) * np.power(g, 2)
            s_corrected = s[k] / (1 - beta2**t)
            params[k] = params[k] - LR * v_corrected / (np.sqrt(s_corrected) + epsilon)

    def epochs(k):
        for _ in range(k):
            state["seed"] += 1
            for Xb, Yb in random_mini_batches(X, Y, batch, state["seed"]):
                AL, caches = forward(Xb)
                grads = backward(AL, Yb, caches)
                state["t"] += 1
                update_parameters_with_adam(grads, state["t"])

    return Impl(epochs, lambda Xv: np.argmax(forward(Xv)[0], axis=0))


def make_floor(X, Y, y, layers, batch, head, seed=1):
    """Only the products: per batch W A forward, dZ A^T and W^T dZ backward, into buffers."""
    rng = np.random.default_rng(0)
    m, dt, L = X.shape[1], X.dtype, len(layers) - 1
    W = [None] + [rng.standard_normal((layers[l], layers[l - 1])).astype(dt) * 0.01 for l in range(1, L + 1)]
    sizes = [batch] * (m // batch) + ([m % batch] if m % batch else [])

    def buffers(b):
        Xb = np.asfortranarray(X[:, :b])
        A = [Xb] + [rng.random((n, b)).astype(dt) for n in layers[1:]]
        dZ = [None] + [rng.random((n, b)).astype(dt) * 0.01 for n in layers[1:]]
        return A, dZ, [np.empty((n, b), dt) for n in layers]

    bufs = {b: buffers(b) for b in set(sizes)}
    dW = [None] + [np.empty_like(w) for w in W[1:]]

    def epochs(k):
        for _ in range(k):
            for b in sizes:
                A, dZ, out = bufs[b]
                for l in range(1, L + 1):
                    np.matmul(W[l], A[l - 1], out=out[l])
                for l in range(L, 0, -1):
                    np.matmul(dZ[l], A[l - 1].T, out=dW[l])
                    if l > 1:
                        np.matmul(W[l].T, dZ[l], out=out[l - 1])

    return Impl(epochs)


MAKERS = {
    "floor": make_floor,
    "nnctl": make_nnctl,
    "torch": make_torch,
    "sklearn": make_sklearn,
    "course": make_course,
}


def available(name):
    if name in ("torch", "sklearn"):
        try:
            __import__(name)
        except ImportError:
            return False
    return True


def timed(fn, *args):
    time.sleep(PAUSE)  # untimed: OpenMP and OpenBLAS threads of the last library stop spinning
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


# ---------------------------------------------------------------- 1. epoch time


def bench_epochs(m, batches, dtypes, impls, repeats, head):
    rows = []
    for dtype in dtypes:
        X, Y, y = make_data(m, np.dtype(dtype))
        for batch in batches:
            print(f"  epoch time: {dtype}, batch {batch} …", file=sys.stderr, flush=True)
            made = {name: MAKERS[name](X, Y, y, LAYERS, batch, head) for name in impls}
            for impl in made.values():
                impl.epochs(1)  # untimed: warm caches, thread pools, lazy set-up
            times = {name: [] for name in impls}
            for _ in range(repeats):
                for name, impl in made.items():
                    times[name].append(timed(impl.epochs, 1))
            row = {"dtype": dtype, "batch": batch, "m": m, "impls": {}}
            for name in impls:
                row["impls"][name] = {
                    "seconds_per_epoch": statistics.median(times[name]),
                    "x_floor": statistics.median(a / f for a, f in zip(times[name], times["floor"])),
                    "x_nnctl": statistics.median(a / n for a, n in zip(times[name], times["nnctl"])),
                    "all": times[name],
                }
            rows.append(row)
            del made
    return rows


def bench_dtype_ratio(m, batch, repeats, head):
    """float64 epoch / float32 epoch of nnctl, the two alternating."""
    made = {}
    for dtype in ("float64", "float32"):
        X, Y, y = make_data(m, np.dtype(dtype))
        made[dtype] = make_nnctl(X, Y, y, LAYERS, batch, head)
        made[dtype].epochs(1)
    times = {d: [] for d in made}
    for _ in range(repeats):
        for d, impl in made.items():
            times[d].append(timed(impl.epochs, 1))
    return statistics.median(a / b for a, b in zip(times["float64"], times["float32"]))


# ---------------------------------------------------------------- 2. time to accuracy


def bench_accuracy(m, m_val, batch, dtype, max_epochs, target, head, impls):
    """Training seconds (evaluation excluded) until validation accuracy first reaches `target`;
    the systems alternate epoch by epoch."""
    X, Y, y = make_data(m + m_val, np.dtype(dtype), seed=7)
    Xt, Yt, yt = np.asfortranarray(X[:, :m]), np.ascontiguousarray(Y[:, :m]), y[:m]
    Xv, yv = np.asfortranarray(X[:, m:]), y[m:]
    settings = {
        "nnctl": f"Adam {LR}, batch {batch}, {dtype}",
        "torch": f"torch.optim.Adam {LR}, batch {batch}, {dtype}, nnctl's weights and batch order",
        "sklearn": "MLPClassifier defaults (adam 0.001, batch 200, alpha 1e-4), softmax",
    }
    made = {}
    for name in impls:
        if name == "sklearn":
            made[name] = make_sklearn(Xt, Yt, yt, LAYERS, batch, head, defaults=True)
        else:
            made[name] = MAKERS[name](Xt, Yt, yt, LAYERS, batch, head)
    out = {name: {"settings": settings[name], "seconds": 0.0, "epochs": None, "curve": []} for name in impls}
    for epoch in range(1, max_epochs + 1):
        for name, impl in made.items():
            row = out[name]
            if row["epochs"] is not None:
                continue
            row["seconds"] += timed(impl.epochs, 1)
            acc = float(np.mean(impl.predict(Xv) == yv) * 100)
            row["curve"].append(round(acc, 2))
            if acc >= target:
                row["epochs"] = epoch
        if all(r["epochs"] is not None for r in out.values()):
            break
    return {"target": target, "m": m, "m_val": m_val, "rows": out}


# ---------------------------------------------------------------- 3. scaling (each case in a fresh process)


def _status(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def probe_scaling(m, batch, dtype):
    """Seconds of one epoch and peak resident memory of a process that generates the data and trains."""
    import nnctl.core.training  # noqa: F401  (imports before the baseline)

    head = nnctl_head(LAYERS)
    base = _status("VmRSS")
    X, Y, y = make_data(m, np.dtype(dtype))
    del y
    impl = make_nnctl(X, Y, None, LAYERS, batch, head)
    impl.epochs(1)
    t = timed(impl.epochs, 1)
    return {"m": m, "batch": batch, "dtype": dtype, "seconds_per_epoch": t, "peak_bytes": _status("VmHWM") - base, "data_bytes": X.nbytes + Y.nbytes}


def bench_scaling(cases):
    rows = []
    for m, batch, dtype in cases:
        print(f"  scaling: m={m}, batch {batch}, {dtype} …", file=sys.stderr, flush=True)
        out = subprocess.run([sys.executable, __file__, "--probe", str(m), str(batch), dtype], capture_output=True, text=True, timeout=3600)
        try:
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            rows.append({"m": m, "batch": batch, "dtype": dtype, "error": out.stderr[-400:]})
    return rows


# ---------------------------------------------------------------- 4. streamed against in memory


def bench_stream(m, batches, repeats, head, dtype="float32"):
    """nnctl's epoch from memory and streamed from the same file (uint8 pixels, in the page cache),
    alternating; and the reading alone: the exact batches (sorted-index gathers) against reading the
    file in contiguous runs (what a chunk-wise shuffle would read)."""
    import h5py

    from nnctl.data.dataset import load_dataset
    from nnctl.data.stream import open_streamed
    from nnctl.core.training import Batches

    folder = Path(tempfile.mkdtemp(prefix="nnctl-bench-"))
    path = folder / "pixels.h5"
    X, Y, y = make_data(m, np.float32)
    x = np.clip(X.T * 40 + 128, 0, 255).astype(np.uint8)
    del X, Y
    with h5py.File(path, "w") as f:
        f["x"], f["y"] = x, y
    del x
    rows = []
    try:
        memory = load_dataset(str(path), task="regression", dtype=np.dtype(dtype))
        streamed = open_streamed(str(path), task="regression", dtype=np.dtype(dtype))
        Y = np.zeros((10, m), dtype)
        Y[y, np.arange(m)] = 1
        for batch in batches:
            print(f"  streamed vs memory: batch {batch} …", file=sys.stderr, flush=True)
            made = {"memory": make_nnctl(memory.X, Y, y, LAYERS, batch, head), "streamed": make_nnctl(streamed.X, Y, y, LAYERS, batch, head)}
            for impl in made.values():
                impl.epochs(1)
            times = {k: [] for k in made}
            for _ in range(repeats):
                for k, impl in made.items():
                    times[k].append(timed(impl.epochs, 1))
            # reading alone, one epoch of batches
            b = Batches(m, batch, "generator", 1)
            b.start_epoch(0)
            rows_out = np.empty((batch, streamed.X.n_x), streamed.X.stored)
            conv = np.empty((batch, streamed.X.n_x), dtype)

            def exact():
                for k in range(b.count):
                    idx = b.indices(k)
                    where = np.argsort(idx)
                    streamed.X.read_sorted(idx[where], rows_out[: len(idx)])
                    streamed.X.convert(rows_out[: len(idx)], conv[: len(idx)])

            def runs():
                for k in range(b.count):
                    a, e = k * batch, min((k + 1) * batch, m)
                    rows_out[: e - a] = streamed.X._rows(a, e) if not streamed.X.whole else streamed.X._map[a:e]
                    streamed.X.convert(rows_out[: e - a], conv[: e - a])

            exact()
            runs()
            read = {"exact": [], "runs": []}
            for _ in range(repeats):
                read["exact"].append(timed(exact))
                read["runs"].append(timed(runs))
            rows.append(
                {
                    "batch": batch,
                    "dtype": dtype,
                    "m": m,
                    "file_bytes": path.stat().st_size,
                    "memory_s": statistics.median(times["memory"]),
                    "streamed_s": statistics.median(times["streamed"]),
                    "speed_ratio": statistics.median(a / s for a, s in zip(times["memory"], times["streamed"])),  # streamed speed / memory speed
                    "read_exact_s": statistics.median(read["exact"]),
                    "read_runs_s": statistics.median(read["runs"]),
                }
            )
            del made
        streamed.X.close()
    finally:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
    return rows


# ---------------------------------------------------------------- report


def fmt_s(s):
    return "—" if s is None else (f"{s * 1e3:.0f} ms" if s < 1 else f"{s:.2f} s")


def fmt_mib(b):
    return "—" if b is None else f"{b / 2**20:,.0f} MiB"


def report(res):
    lines = []
    head = res["head"]
    if res.get("epoch"):
        lines.append(f"Epoch time: {LAYERS}, head {head}, Adam, m = {res['epoch'][0]['m']:,} (median of {res['repeats']} paired rounds)")
        h = f"{'dtype':<8} {'batch':>5}  {'implementation':<16} {'s/epoch':>9} {'x floor':>8} {'x nnctl':>8}"
        lines += [h, "-" * len(h)]
        for row in res["epoch"]:
            for name, r in row["impls"].items():
                lines.append(f"{row['dtype']:<8} {row['batch']:>5}  {name:<16} {fmt_s(r['seconds_per_epoch']):>9} {r['x_floor']:>7.2f}x {r['x_nnctl']:>7.2f}x")
            lines.append("")
    if res.get("dtype_ratio") is not None:
        lines.append(f"nnctl float64 / float32 epoch at batch 256 (paired): {res['dtype_ratio']:.2f}x\n")
    acc = res.get("accuracy")
    if acc:
        lines.append(f"Time to {acc['target']}% validation accuracy (m = {acc['m']:,}, {acc['m_val']:,} held out; training seconds, evaluation excluded)")
        h = f"{'system':<8} {'seconds':>8} {'epochs':>7}  settings / accuracy after each epoch"
        lines += [h, "-" * len(h)]
        for name, r in acc["rows"].items():
            lines.append(f"{name:<8} {fmt_s(r['seconds']) if r['epochs'] else 'not reached':>8} {r['epochs'] or '—':>7}  {r['settings']}; {r['curve']}")
        lines.append("")
    if res.get("scaling"):
        lines.append("Scaling: nnctl seconds per epoch and peak resident memory (data included) of a fresh process")
        h = f"{'m':>8} {'batch':>5} {'dtype':<8} {'s/epoch':>9} {'peak memory':>12} {'of it data':>11}"
        lines += [h, "-" * len(h)]
        for r in res["scaling"]:
            if "error" in r:
                lines.append(f"{r['m']:>8,} {r['batch']:>5} {r['dtype']:<8} failed: {r['error'][-120:]!r}")
                continue
            lines.append(
                f"{r['m']:>8,} {r['batch']:>5} {r['dtype']:<8} {fmt_s(r['seconds_per_epoch']):>9} {fmt_mib(r['peak_bytes']):>12} {fmt_mib(r['data_bytes']):>11}"
            )
        lines.append("")
    if res.get("stream"):
        lines.append("Streamed from the file (page cache warm) against in memory: nnctl epoch, and reading one epoch alone")
        h = f"{'batch':>5} {'dtype':<8} {'memory':>9} {'streamed':>9} {'speed':>7}  {'exact reads':>11} {'runs':>8}"
        lines += [h, "-" * len(h)]
        for r in res["stream"]:
            lines.append(
                f"{r['batch']:>5} {r['dtype']:<8} {fmt_s(r['memory_s']):>9} {fmt_s(r['streamed_s']):>9} {r['speed_ratio']:>6.2f}x  "
                f"{fmt_s(r['read_exact_s']):>11} {fmt_s(r['read_runs_s']):>8}"
            )
        lines.append("")
    lines += targets(res)
    return "\n".join(lines)


def targets(res):
    out = ["Targets (issue 14):"]

    def line(ok, text):
        out.append(f"  [{'met' if ok else 'MISSED'}] {text}")

    for row in res.get("epoch") or []:
        r = row["impls"]
        where = f"{row['dtype']} batch {row['batch']}"
        for peer in ("torch", "sklearn"):
            if peer in r:
                x = r[peer]["x_nnctl"]
                line(x >= 1, f"{where}: nnctl {x:.2f}x faster than {peer}" if x >= 1 else f"{where}: nnctl {1 / x:.2f}x slower than {peer}")
        if row["batch"] >= 256:
            x = r["nnctl"]["x_floor"]
            line(x <= 1.3, f"{where}: nnctl {x:.2f}x the floor (≤ 1.3x)")
    if res.get("dtype_ratio") is not None:
        line(res["dtype_ratio"] >= 1.5, f"float32 {res['dtype_ratio']:.2f}x faster than float64 at batch 256 (≥ 1.5x)")
    acc = res.get("accuracy")
    if acc:
        rows = acc["rows"]
        n = rows["nnctl"]["seconds"] if rows["nnctl"]["epochs"] else None
        for peer, bound, text in (("sklearn", 0.5, "at most half scikit-learn's time"), ("torch", 1.0, "no slower than PyTorch")):
            if peer in rows and n is not None and rows[peer]["epochs"]:
                ratio = n / rows[peer]["seconds"]
                line(ratio <= bound, f"time to {acc['target']}%: nnctl {fmt_s(n)} vs {peer} {fmt_s(rows[peer]['seconds'])} = {ratio:.2f}x ({text})")
    for r in res.get("stream") or []:
        line(r["speed_ratio"] >= 0.7, f"streamed at {r['speed_ratio']:.2f}x the in-memory speed, batch {r['batch']} (≥ 0.7x)")
    return out


def machine():
    import platform

    try:
        from threadpoolctl import threadpool_info

        blas = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()]
    except ImportError:
        blas = []
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cores": os.cpu_count(),
        "blas": blas,
        "cpu": _cpu(),
        "load_average": os.getloadavg(),
        "platform": platform.platform(),
    }


def _cpu():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="epoch,accuracy,scaling,stream")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="tiny sizes and one repeat: checks that everything runs")
    ap.add_argument("--impls", default=",".join(MAKERS))
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--probe", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        m, batch, dtype = args.probe
        print(json.dumps(probe_scaling(int(m), int(batch), dtype)))
        return
    parts = set(args.parts.split(","))
    impls = [i for i in args.impls.split(",") if available(i)]
    impls = ["floor", "nnctl"] + [i for i in impls if i not in ("floor", "nnctl")]
    missing = [i for i in ("torch", "sklearn") if not available(i)]
    if missing:
        print(f"not installed, left out: {', '.join(missing)}", file=sys.stderr)
    quick = args.quick
    repeats = 1 if quick else args.repeats
    head = nnctl_head(LAYERS)
    res = {"machine": machine(), "head": head[2], "repeats": repeats}
    print(json.dumps(res["machine"]), file=sys.stderr)
    m = 1_000 if quick else 60_000
    if "epoch" in parts:
        res["epoch"] = bench_epochs(m, (64, 256, 1024), ("float64", "float32"), impls, repeats, head)
        res["dtype_ratio"] = bench_dtype_ratio(m, 256, max(repeats, 3), head)
    if "accuracy" in parts:
        print("  time to accuracy …", file=sys.stderr, flush=True)
        res["accuracy"] = bench_accuracy(
            m,
            500 if quick else 10_000,
            256,
            "float32",
            3 if quick else 20,
            50.0 if quick else 84.0,
            head,
            [i for i in impls if i in ("nnctl", "torch", "sklearn")],
        )
    if "scaling" in parts:
        ms = (1_000, 2_000) if quick else (10_000, 60_000, 240_000)
        mid = ms[1]
        cases = [(mm, 256, d) for d in ("float32", "float64") for mm in ms]
        cases += [(mid, b, d) for d in ("float32", "float64") for b in (64, 1024)]
        res["scaling"] = bench_scaling(cases)
    if "stream" in parts:
        res["stream"] = bench_stream(m, (64, 256), repeats, head)
    res["machine"]["load_average_end"] = os.getloadavg()
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))
    print(
        f"machine: {res['machine']['cpu']}, {res['machine']['cores']} cores, numpy {np.__version__}, BLAS {res['machine']['blas']}; "
        f"load average at start {tuple(round(x, 2) for x in res['machine']['load_average'])}, at end {tuple(round(x, 2) for x in res['machine']['load_average_end'])}"
    )
    print(report(res))


if __name__ == "__main__":
    main()
