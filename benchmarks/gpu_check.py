"""The GPU check (issue 26): one prepared script, under 5 minutes on a GPU machine.

    PYTHONPATH=$PWD python3 benchmarks/gpu_check.py                 # on a machine with CuPy and CUDA
    PYTHONPATH=$PWD python3 benchmarks/gpu_check.py --device cpu --quick   # the script itself, here

1. Agreement, CPU against GPU from the same spec: the quickstart (full batch, float64), the spiral
   (softmax, Adam, mini-batches, float64) through `train_run` (the files written, in NumPy form), and
   the scale problem (generated 10 classes, 50,000 x 784, [784, 256, 128, 10] ReLU softmax, Adam 1e-3,
   float32, batch 256) through the Trainer: fused kernels and the plain path, the data resident on
   the device and streamed from the host through page-locked batches.
2. The epoch table at batch 64 / 256 / 1024 on the scale problem, side by side in one process and
   alternating: nnctl on the GPU (fused, plain), PyTorch CUDA (same initial weights, same batch order,
   torch.optim.Adam, the default and fused=True), the GEMM floor (the products alone, CuPy), nnctl on
   the CPU at batch 256. Each epoch records its cost, as a user's run does (nnctl from the batches
   computed, PyTorch summing `loss.detach()` on the device, read at the epoch's end). Medians of
   `--repeats` epochs after one untimed.
3. Time to 85%, 87% and 88% validation accuracy (10,000 held-out examples, evaluated after each
   epoch on the device), nnctl against PyTorch, batch 64.
4. A probe: can a CuPy matmul be captured in a CUDA graph on this CuPy?

`--device cpu` runs everything with NumPy in place of CuPy and PyTorch on the CPU (a check of the
script, not a measurement). Prints a report and writes `--json`.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_minibatch import make_data  # noqa: E402  (the scale problem, as the CPU benchmarks make it)

from nnctl.core.backend import CupyBackend, NumpyBackend, devices_seen, make_backend  # noqa: E402
from nnctl.core.network import initialize_parameters  # noqa: E402
from nnctl.core.optimizers import make_optimizer  # noqa: E402
from nnctl.core.training import Batches, Position, Trainer, gradient_descent  # noqa: E402

LAYERS = [784, 256, 128, 10]
ACTS = ["relu", "relu", "softmax"]
LOSS = "categorical_cross_entropy"
LR = 1e-3
OUT: dict = {"sections": {}}


def say(*a, **kw):
    print(*a, flush=True, **kw)


def section(name):
    def wrap(fn):
        def run(*args, **kw):
            say(f"\n== {name}")
            t0 = time.perf_counter()
            try:
                OUT["sections"][name] = fn(*args, **kw)
            except Exception:  # one section's failure must not cost the others' numbers
                traceback.print_exc()
                OUT["sections"][name] = {"error": traceback.format_exc(limit=3)}
            say(f"   ({time.perf_counter() - t0:.1f} s)")

        return run

    return wrap


class Staged(CupyBackend):
    """The GPU backend told that the data does not fit: batches gathered on the host, page-locked."""

    def fits(self, nbytes):
        return False


class StagedNumpy(NumpyBackend):
    device = False


def backends(device):
    if device == "gpu":
        return {"fused": lambda: make_backend("gpu", True), "plain": lambda: make_backend("gpu", False), "staged": lambda: Staged(True)}
    from nnctl.core.backend import FakeDevice

    return {"fused": lambda: FakeDevice(fused=True), "plain": FakeDevice, "staged": lambda: FakeDevice(fused=True, capacity=0)}


def rel(a, b):
    """max |a - b| / max |b| (costs)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-30))


def norm_rel(pa, pb):
    """||a - b|| / ||b|| over all parameters: after many Adam steps in float32 single entries with
    gradients near zero may flip (Adam's step is about +-alpha whatever the gradient's size), so the
    parameters are compared as a whole."""
    num = sum(float(np.sum((np.asarray(pa[k], np.float64) - np.asarray(pb[k], np.float64)) ** 2)) for k in pb)
    den = sum(float(np.sum(np.asarray(pb[k], np.float64) ** 2)) for k in pb)
    return (num / den) ** 0.5


# ---------------------------------------------------------------- 1. agreement


@section("agreement: quickstart and spiral through train_run")
def agreement_specs(device):
    import h5py

    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run
    from nnctl.rundir.runs import read_costs_columns

    from nnctl.core import backend as nnctl_backend
    from nnctl.core.backend import FakeDevice

    if device == "cpu":  # the script's own check: the device path on the fake device
        nnctl_backend.BACKENDS["gpu"] = FakeDevice
    res = {}
    for name, cut in (("quickstart", 7000), ("spiral", None)):
        spec = load_config(HERE.parent / "configs" / f"{name}.yaml")
        runs = {}
        with tempfile.TemporaryDirectory() as tmp:
            for dev in ("cpu", "gpu"):
                s = spec.model_copy(update={"train": spec.train.model_copy(update={"device": dev})})
                t0 = time.perf_counter()
                summary = train_run(s, runs_root=Path(tmp) / dev)
                with h5py.File(Path(summary.run_dir) / "params.h5") as f:
                    params = {k: f[k][()] for k in f if k[0] in "Wb"}
                text = (Path(summary.run_dir) / "costs.csv").read_text().splitlines()[1:]
                costs = [(int(r.split(",")[0]), float(r.split(",")[1])) for r in text]
                accuracy = read_costs_columns(Path(summary.run_dir) / "costs.csv").get("train_accuracy", [])
                runs[dev] = (params, costs, time.perf_counter() - t0, summary, accuracy)
        (pc, cc, tc, sc, ac), (pg, cg, tg, sg, ag) = runs["cpu"], runs["gpu"]
        upto = [i for i, (e, _) in enumerate(cc) if cut is None or e <= cut]
        r = {
            "cost_rel_diff": rel([cg[i][1] for i in upto], [cc[i][1] for i in upto]),
            # costs.csv's train_accuracy, counted on the device from the batches: the CPU's count
            "train_accuracy_records": len(ag),
            "train_accuracy_differs": sum(ac[i] != ag[i] for i in upto if i < min(len(ac), len(ag))) + abs(len(ac) - len(ag)),
            "params_rel_diff": norm_rel(pg, pc),
            "final_cost": [cc[-1][1], cg[-1][1]],
            "test_accuracy": [sc.test_accuracy, sg.test_accuracy],
            "seconds": [round(tc, 2), round(tg, 2)],
            "numpy_form": all(type(v) is np.ndarray for v in pg.values()),
        }
        res[name] = r
        say(
            f"   {name}: costs{'' if cut is None else f' to {cut}'} max rel diff {r['cost_rel_diff']:.2e}; params {r['params_rel_diff']:.2e}; "
            f"train_accuracy differs at {r['train_accuracy_differs']} of {len(upto)} records; "
            f"final cost cpu {cc[-1][1]:.6f} gpu {cg[-1][1]:.6f}; test accuracy {sc.test_accuracy} / {sg.test_accuracy}; {tc:.1f} s cpu, {tg:.1f} s gpu"
        )
    return res


@section("kernels: each fused kernel against the NumPy table it replaces")
def kernel_check(device):
    from nnctl.core.activations import ACTIVATIONS
    from nnctl.core.backend import FUSED_ACTIVATIONS, FUSED_BACKWARD, FUSED_OUTPUTS
    from nnctl.core.optimizers import Adam

    be = backends(device)["fused"]()
    rng = np.random.default_rng(0)
    res = {}

    def check(name, fn):
        try:
            res[name] = float(fn())
            say(f"   {name:40s} max rel diff {res[name]:.1e}")
        except Exception as exc:
            res[name] = f"{type(exc).__name__}: {exc}"[:300]
            say(f"   {name:40s} FAILED {res[name]}")

    def host(a):
        return be.to_host(a) if be.device else a

    for dt in (np.float32, np.float64):
        Z = rng.standard_normal((64, 300)).astype(dt)
        b = rng.standard_normal((64, 1)).astype(dt)
        for act in FUSED_ACTIVATIONS:

            def one(act=act):
                want = ACTIVATIONS[act].forward(Z + b)
                A = be.asarray(Z.copy())
                k = be.bias_activation(act)
                if k is None:
                    return 0.0
                k(be.asarray(b), A)
                return rel(host(A), want)

            check(f"bias+{act} {np.dtype(dt).name}", one)
        for act in FUSED_BACKWARD:

            def back(act=act):
                A = ACTIVATIONS[act].forward(Z.copy())
                dA = rng.standard_normal(Z.shape).astype(dt)
                want = ACTIVATIONS[act].backward(dA.copy(), A.copy())
                k = be.activation_backward(act)
                if k is None:
                    return 0.0
                d = be.asarray(dA)
                k(d, be.asarray(A))
                return rel(host(d), want)

            check(f"backward {act} {np.dtype(dt).name}", back)
        for (loss, out), ref in FUSED_OUTPUTS.items():

            def output(loss=loss, out=out, ref=ref):
                k = be.output_kernel(loss, out)
                if k is None:
                    return 0.0
                n = 10 if out == "softmax" else 1
                Zo = (rng.standard_normal((n, 300)) * 3).astype(dt)
                bo = rng.standard_normal((n, 1)).astype(dt)
                Y = np.zeros((n, 300), dt)
                if n > 1:
                    Y[rng.integers(0, n, 300), np.arange(300)] = 1
                else:
                    Y[0] = rng.integers(0, 2, 300)
                A, dZ, cost = np.empty_like(Zo), np.empty_like(Zo), np.zeros(300)
                Zw = Zo.copy()
                ref(Zw, bo, A, Y, dZ, cost, 1 / 300)
                dZd, Ad, Zd, costd = be.asarray(np.empty_like(Zo)), be.asarray(np.empty_like(Zo)), be.asarray(Zo.copy()), be.asarray(np.zeros(300))
                k(Zd, be.asarray(bo), Ad, be.asarray(Y), dZd, costd, 1 / 300)
                return max(rel(host(Ad), A), rel(host(dZd), dZ), rel(host(costd), cost), rel(host(Zd), Zw))

            check(f"output {out} {np.dtype(dt).name}", output)

        def adam():
            theta = rng.standard_normal(5000).astype(dt)
            layout = [("W1", (5000,))]
            ref = Adam(1e-3).bind(layout, dt)
            dev = Adam(1e-3).bind(layout, dt, be)
            t_ref, t_dev = theta.copy(), be.asarray(theta.copy())
            for _ in range(3):
                g = rng.standard_normal(5000).astype(dt)
                ref.step(t_ref, g.copy())
                dev.step(t_dev, be.asarray(g.copy()))
            return rel(host(t_dev), t_ref) if dev._fused is not None else 0.0

        check(f"adam {np.dtype(dt).name}", adam)
    return res


def scale_data(m, quick):
    X, Y, y = make_data(m + (2000 if quick else 10_000), np.float32)
    m_val = X.shape[1] - m
    Xt, Yt = np.asfortranarray(X[:, :m]), np.ascontiguousarray(Y[:, :m])
    Xv, yv = np.asfortranarray(X[:, m:]), y[m:]
    return Xt, Yt, y[:m], Xv, yv, m_val


def nnctl_trainer(be, X, Y, batch, seed=1):
    params = initialize_parameters(LAYERS, "he", rng=np.random.default_rng(seed), dtype=X.dtype)
    trainer = Trainer(params, X, Y, ACTS, LOSS, optimizer=make_optimizer("adam", LR), batch_size=batch, backend=be)
    batches = Batches(X.shape[1], batch, "generator", seed)
    return trainer, batches, Position()


def nnctl_epochs(trainer, batches, pos, k):
    r = gradient_descent(trainer, pos.epoch + k, record_every=1, batches=batches, position=pos)
    trainer.be.synchronize()
    return r


@section("agreement: the scale problem (float32, batch 256, 2 epochs)")
def agreement_scale(device, data):
    X, Y = data[0], data[1]
    out = {}

    def one_step(be):
        tr, b, p = nnctl_trainer(be, X, Y, 256)
        b.start_epoch(0)
        tr.begin_epoch(b.order)
        tr.use_batch(b.indices(0), 0)
        tr.forward()
        tr.backward_and_update()
        return {k: v.copy() for k, v in tr.materialize().items()}

    ref_step = one_step(NumpyBackend())
    ref, rb, rp = nnctl_trainer(NumpyBackend(), X, Y, 256)
    ref_costs = nnctl_epochs(ref, rb, rp, 2).costs
    ref_params = {k: v.copy() for k, v in ref.materialize().items()}
    for name, make in backends(device).items():
        try:
            step = norm_rel(one_step(make()), ref_step)
            tr, b, p = nnctl_trainer(make(), X, Y, 256)
            costs = nnctl_epochs(tr, b, p, 2).costs
            params = tr.materialize()
        except Exception:
            traceback.print_exc()
            out[name] = {"error": traceback.format_exc(limit=3)}
            continue
        out[name] = {
            "resident": tr.resident,
            "one_step_params_rel_diff": step,
            "cost_rel_diff": rel([c for _, c in costs], [c for _, c in ref_costs]),
            "params_rel_diff": norm_rel(params, ref_params),
            "costs": [c for _, c in costs],
        }
        say(
            f"   {name:7s} (data {'resident' if tr.resident else 'staged from the host'}): after one step ||dparams||/||params|| {step:.1e}; "
            f"epoch costs {[f'{c:.6f}' for _, c in costs]} against cpu {[f'{c:.6f}' for _, c in ref_costs]}: max rel diff {out[name]['cost_rel_diff']:.1e}, "
            f"params after 2 epochs {out[name]['params_rel_diff']:.1e}"
        )
    return out


# ---------------------------------------------------------------- 2. epoch table


def make_torch(X, Y, y, batch, dev, fused=False, seed=1):
    import torch

    tdev = torch.device("cuda" if dev == "gpu" else "cpu")
    init = initialize_parameters(LAYERS, "he", rng=np.random.default_rng(seed), dtype=X.dtype)
    mods = []
    for l in range(1, len(LAYERS)):
        lin = torch.nn.Linear(LAYERS[l - 1], LAYERS[l])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(init[f"W{l}"]))
            lin.bias.copy_(torch.from_numpy(init[f"b{l}"].ravel()))
        mods.append(lin)
        if l < len(LAYERS) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods).to(tdev)
    Xt = torch.from_numpy(np.ascontiguousarray(X.T)).to(tdev)
    yt = torch.from_numpy(y).to(tdev)
    ce = torch.nn.CrossEntropyLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR, betas=(0.9, 0.999), eps=1e-8, **({"fused": True} if fused else {}))
    batches = Batches(X.shape[1], batch, "generator", seed)  # nnctl's batch order
    state = {"epoch": 0, "costs": []}

    def sync():
        if dev == "gpu":
            torch.cuda.synchronize()

    def epochs(k):
        for _ in range(k):
            batches.start_epoch(state["epoch"])
            state["epoch"] += 1
            order = torch.from_numpy(batches.order).to(tdev)
            total = torch.zeros((), device=tdev)
            for j in range(batches.count):
                idx = order[j * batch : (j + 1) * batch]
                opt.zero_grad(set_to_none=True)
                loss = ce(model(Xt.index_select(0, idx)), yt.index_select(0, idx))
                loss.backward()
                opt.step()
                total += loss.detach() * idx.shape[0]
            state["costs"].append(float(total) / X.shape[1])
        sync()

    def accuracy(Xv_t, yv_t):
        with torch.no_grad():
            return float((model(Xv_t).argmax(1) == yv_t).float().mean()) * 100

    return epochs, accuracy, lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(tdev)


def make_floor(X, batch, be):
    """The products alone, per batch: W A forward, dZ A^T and W^T dZ backward, into buffers."""
    xp = be.xp
    rng = np.random.default_rng(0)
    m, dt, L = X.shape[1], X.dtype, len(LAYERS) - 1
    W = [None] + [be.asarray((rng.standard_normal((LAYERS[l], LAYERS[l - 1])) * 0.01).astype(dt)) for l in range(1, L + 1)]
    sizes = [batch] * (m // batch) + ([m % batch] if m % batch else [])

    def buffers(b):
        A = [be.asarray(np.asfortranarray(X[:, :b]))] + [be.asarray(rng.random((n, b)).astype(dt)) for n in LAYERS[1:]]
        dZ = [None] + [be.asarray((rng.random((n, b)) * 0.01).astype(dt)) for n in LAYERS[1:]]
        return A, dZ, [be.empty((n, b), dt) for n in LAYERS]

    bufs = {b: buffers(b) for b in set(sizes)}
    dW = [None] + [be.empty(w.shape, dt) for w in W[1:]]

    def epochs(k):
        for _ in range(k):
            for b in sizes:
                A, dZ, out = bufs[b]
                for l in range(1, L + 1):
                    xp.matmul(W[l], A[l - 1], out=out[l])
                for l in range(L, 0, -1):
                    xp.matmul(dZ[l], A[l - 1].T, out=dW[l])
                    if l > 1:
                        xp.matmul(W[l].T, dZ[l], out=out[l - 1])
        be.synchronize()

    return epochs


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@section("epoch table (float32, scale problem)")
def epoch_table(device, data, sizes, repeats, cpu_batch):
    X, Y, y = data[0], data[1], data[2]
    rows = {}
    make = backends(device)
    for batch in sizes:
        impls = {}
        for name in ("fused", "plain"):
            tr, b, p = nnctl_trainer(make[name](), X, Y, batch)
            impls[f"nnctl {device} ({name})"] = lambda tr=tr, b=b, p=p: nnctl_epochs(tr, b, p, 1)
        # where the time goes: no cost recorded; and no read of the finiteness check (one sync a step)
        tr, b, p = nnctl_trainer(make["fused"](), X, Y, batch)
        impls[f"nnctl {device} (fused, no cost)"] = lambda tr=tr, b=b, p=p: (
            gradient_descent(tr, p.epoch + 1, record_every=10**9, batches=b, position=p),
            tr.be.synchronize(),
        )
        tr, b, p = nnctl_trainer(make["fused"](), X, Y, batch)
        tr.be.finite = lambda total: True
        impls[f"nnctl {device} (fused, no sync)"] = lambda tr=tr, b=b, p=p: nnctl_epochs(tr, b, p, 1)
        try:
            impls[f"PyTorch {device}"] = make_torch(X, Y, y, batch, device)[0]
            if device == "gpu":
                impls["PyTorch gpu (fused Adam)"] = make_torch(X, Y, y, batch, device, fused=True)[0]
        except ImportError:
            say("   (no PyTorch here)")
        impls["GEMM floor"] = make_floor(X, batch, make["fused"]())
        if batch == cpu_batch:
            tr, b, p = nnctl_trainer(NumpyBackend(), X, Y, batch)
            impls["nnctl cpu"] = lambda tr=tr, b=b, p=p: nnctl_epochs(tr, b, p, 1)
        for name, fn in list(impls.items()):  # untimed: kernels compiled, memory pools filled
            try:
                fn(1) if name.startswith(("PyTorch", "GEMM")) else fn()
            except Exception:
                say(f"   {name}: failed, left out"), traceback.print_exc()
                del impls[name]
        times = {k: [] for k in impls}
        for _ in range(repeats):
            for name, fn in impls.items():
                if name == "nnctl cpu" and len(times[name]) >= 2:
                    continue
                times[name].append(timed((lambda fn=fn: fn(1)) if name.startswith(("PyTorch", "GEMM")) else fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        rows[batch] = med
        torch_s = med.get(f"PyTorch {device}")
        for k, v in med.items():
            ratio = f"  {v / torch_s:.2f}x PyTorch" if torch_s else ""
            say(f"   batch {batch:5d}  {k:28s} {v:8.4f} s{ratio}")
    return rows


# ---------------------------------------------------------------- 3. time to accuracy


class _Val:
    def __init__(self, X, y):
        self.X, self.Y = X, y.reshape(1, -1)


@section("time to validation accuracy (batch 64)")
def time_to_accuracy(device, data, targets, max_epochs, batch=64):
    """Seconds from a fresh model (data already on the device) until the validation accuracy, taken
    after every epoch, first reaches each target; the evaluation is timed too."""
    from nnctl.core.validation import ValidationMonitor

    X, Y, y, Xv, yv = data[:5]
    out = {}

    def run(name, epoch, accuracy, t0):
        reached, epochs, acc = {}, 0, 0.0
        while epochs < max_epochs and len(reached) < len(targets):
            epoch()
            acc, epochs = accuracy(), epochs + 1
            for t in targets:
                if acc >= t and t not in reached:
                    reached[t] = (time.perf_counter() - t0, epochs)
        out[name] = {"reached": {str(t): v for t, v in reached.items()}, "epochs": epochs, "last_accuracy": acc}
        say(
            f"   {name:8s} "
            + "; ".join(f"{t}%: {reached[t][0]:.2f} s ({reached[t][1]} epochs)" if t in reached else f"{t}%: not in {epochs} epochs" for t in targets)
            + f"; last {acc:.2f}%"
        )

    t0 = time.perf_counter()
    tr, b, p = nnctl_trainer(backends(device)["fused"](), X, Y, batch)
    mon = ValidationMonitor(tr, _Val(Xv, yv), LOSS, ACTS, "classification")
    run("nnctl", lambda: gradient_descent(tr, p.epoch + 1, record_every=1, batches=b, position=p, monitor=mon), lambda: mon.rows[-1][2], t0)
    try:
        t0 = time.perf_counter()
        ep, accuracy, to_dev = make_torch(X, Y, y, batch, device)
        Xv_t, yv_t = to_dev(Xv.T), to_dev(yv)
        run("PyTorch", lambda: ep(1), lambda: accuracy(Xv_t, yv_t), t0)
    except ImportError:
        pass
    return out


@section("probe: a CuPy matmul inside CUDA stream capture")
def graph_probe(device):
    if device != "gpu":
        return {"skipped": "no GPU"}
    import cupy

    a = cupy.ones((256, 784), cupy.float32)
    w = cupy.ones((128, 256), cupy.float32)
    out = cupy.empty((128, 784), cupy.float32)
    s = cupy.cuda.Stream(non_blocking=True)
    res = {}
    for what, fn in (("elementwise", lambda: cupy.multiply(a, 2, out=a)), ("matmul", lambda: cupy.matmul(w, a, out=out))):
        try:
            with s:
                s.begin_capture()
                try:
                    fn()
                finally:
                    g = s.end_capture()
            g.launch(stream=s)
            s.synchronize()
            res[what] = "captured and replayed"
        except Exception as exc:
            res[what] = f"{type(exc).__name__}: {exc}"[:200]
        say(f"   {what}: {res[what]}")
    return res


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="gpu", choices=("gpu", "cpu"))
    ap.add_argument("--quick", action="store_true", help="small sizes: a check that the script runs")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    ap.add_argument("--parts", default="kernels,agree,scale,table,accuracy,probe")
    a = ap.parse_args(argv)
    parts = a.parts.split(",")
    m = 6000 if a.quick else 50_000
    say("nnctl GPU check; devices seen:", *devices_seen(), sep="\n   ")
    try:
        import torch

        say(f"   torch {torch.__version__}, CUDA {torch.version.cuda}, available: {torch.cuda.is_available()}")
        OUT["torch"] = torch.__version__
    except ImportError:
        say("   torch: not installed")
    OUT.update(machine=platform.node(), python=platform.python_version(), numpy=np.__version__, device=a.device)
    t0 = time.perf_counter()
    if "kernels" in parts:
        kernel_check(a.device)
    if "agree" in parts:
        agreement_specs(a.device)
    data = scale_data(m, a.quick)
    say(f"\nscale problem: {data[0].shape[1]} x {data[0].shape[0]} train, {data[5]} validation, float32")
    if "scale" in parts:
        agreement_scale(a.device, data)
    if "table" in parts:
        epoch_table(a.device, data, (64, 256, 1024), a.repeats, 256)
    if "accuracy" in parts:
        time_to_accuracy(a.device, data, (85.0, 87.0, 88.0), 3 if a.quick else 25)
    if "probe" in parts:
        graph_probe(a.device)
    say(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if a.json:
        Path(a.json).write_text(json.dumps(OUT, indent=1, default=str))


if __name__ == "__main__":
    main()
