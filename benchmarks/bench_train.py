"""Training-loop benchmark: nnctl against the floor, a course-style baseline, PyTorch and scikit-learn.

    python benchmarks/bench_train.py              # every workload, float64 and float32 (several minutes)
    python benchmarks/bench_train.py --quick      # fewer repeats, shorter timings
    python benchmarks/bench_train.py --workloads cat-deep,wide-10k --dtypes float64 --json
    python benchmarks/bench_train.py --minibatch  # mini-batch Adam, softmax head: see bench_minibatch.py

All implementations train the same network on the same data with full-batch gradient descent (no
momentum, no weight decay) and run side by side in one process, alternating, `--repeats` times; the
median seconds per iteration is reported. The floor is only the matrix products one primal iteration
must do: W·A forward, dZ·A_prevᵀ and, except for the first layer, Wᵀ·dZ. Peak memory is measured
in a fresh process per implementation: the high-water mark of resident memory while it sets up and
trains, above what the data already took. PyTorch and scikit-learn rows appear when installed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SHARED = HERE.parent.parent / "shared" / "datasets"
WORKLOADS = {
    "cat-logreg": {"layers": [12288, 1], "lr": 0.005, "data": "cat"},
    "cat-2layer": {"layers": [12288, 7, 1], "lr": 0.0075, "data": "cat"},
    "cat-deep": {"layers": [12288, 20, 7, 5, 1], "lr": 0.0075, "data": "cat"},
    "wide-10k": {"layers": [784, 256, 128, 1], "lr": 0.01, "data": 10_000},
    "wide-60k": {"layers": [784, 256, 128, 1], "lr": 0.01, "data": 60_000},
}
IMPLS = ["floor", "nnctl", "nnctl-primal", "course", "torch", "sklearn"]


# ---------------------------------------------------------------- data


def load_workload(name, dtype):
    """X (n_x, m) laid out as nnctl loads it (one example per column) and Y (1, m)."""
    w = WORKLOADS[name]
    if w["data"] == "cat":
        from nnctl.data.dataset import load_dataset

        path = SHARED / "train_catvnoncat.h5"
        if not path.exists():
            return None
        d = load_dataset(str(path))
        return d.X.astype(dtype), d.Y.astype(dtype)
    rng = np.random.default_rng(0)
    m, n_x = w["data"], w["layers"][0]
    X = rng.random((m, n_x)).astype(dtype).T  # as load_dataset gives it: x.reshape(m, -1).T
    Y = (rng.random((1, m)) > 0.5).astype(dtype)
    return X, Y


def _acts(layers):
    return ["relu"] * (len(layers) - 2) + ["sigmoid"]


# ---------------------------------------------------------------- implementations: make(...) -> step(k)


def make_nnctl(layers, lr, X, Y, path="auto"):
    from nnctl.experiment.run import available_memory
    from nnctl.core.network import initialize_parameters
    from nnctl.core.training import Trainer, choose_path, gradient_descent

    path = choose_path(path, X.shape[0], X.shape[1], X.dtype.itemsize, 0.25 * available_memory())
    params = initialize_parameters(layers, "xavier", rng=np.random.RandomState(1), dtype=X.dtype)
    trainer = Trainer(params, X, Y, _acts(layers), "cross_entropy", lr, path)

    def step(k):
        gradient_descent(trainer, k, record_every=100)

    step.path = path
    return step


def make_floor(layers, lr, X, Y):
    rng = np.random.default_rng(0)
    m, dt = X.shape[1], X.dtype
    W = [None] + [rng.standard_normal((layers[l], layers[l - 1])).astype(dt) * 0.01 for l in range(1, len(layers))]
    A = [X] + [rng.random((n, m)).astype(dt) for n in layers[1:]]
    dZ = [None] + [rng.random((n, m)).astype(dt) * 0.01 for n in layers[1:]]
    dW = [None] + [np.empty_like(w) for w in W[1:]]
    dA = [np.empty((n, m), dt) for n in layers]
    L = len(layers) - 1

    def step(k):
        for _ in range(k):
            for l in range(1, L + 1):
                np.matmul(W[l], A[l - 1], out=dA[l])  # forward products (into a spare buffer)
            for l in range(L, 0, -1):
                np.matmul(dZ[l], A[l - 1].T, out=dW[l])
                if l > 1:
                    np.matmul(W[l].T, dZ[l], out=dA[l - 1])

    return step


def make_course(layers, lr, X, Y):
    from course_baseline import L_layer_model, initialize_parameters_deep

    params = initialize_parameters_deep(layers, dtype=X.dtype)
    state = {"params": params}

    def step(k):
        state["params"], _ = L_layer_model(X, Y, layers, lr, k, parameters=state["params"])

    return step


def make_torch(layers, lr, X, Y):
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    tdt = torch.float64 if X.dtype == np.float64 else torch.float32
    mods = []
    for l in range(1, len(layers)):
        mods.append(torch.nn.Linear(layers[l - 1], layers[l], dtype=tdt))
        if l < len(layers) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    Xt = torch.from_numpy(np.ascontiguousarray(X.T))  # (m, n_x): a view when X came from load_dataset
    yt = torch.from_numpy(np.ascontiguousarray(Y.T))
    loss_fn = torch.nn.BCEWithLogitsLoss()
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.0)

    def step(k):
        for _ in range(k):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt), yt)
            loss.backward()
            opt.step()

    return step


def make_sklearn(layers, lr, X, Y):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    Xr, y = np.ascontiguousarray(X.T), Y.ravel().astype(int)
    clf = MLPClassifier(
        hidden_layer_sizes=tuple(layers[1:-1]),
        activation="relu",
        solver="sgd",
        learning_rate_init=lr,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=Xr.shape[0],
        shuffle=False,
        tol=0.0,
        n_iter_no_change=10**9,
        warm_start=True,
        max_iter=1,
        random_state=1,
    )

    def step(k):
        clf.set_params(max_iter=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(Xr, y)

    return step


MAKERS = {
    "floor": make_floor,
    "nnctl": make_nnctl,
    "nnctl-primal": lambda *a: make_nnctl(*a, path="primal"),
    "course": make_course,
    "torch": make_torch,
    "sklearn": make_sklearn,
}


def available(impl):
    if impl in ("torch", "sklearn"):
        try:
            __import__(impl)
        except ImportError:
            return False
    return True


# ---------------------------------------------------------------- measuring


def time_per_iteration(step, k):
    t0 = time.perf_counter()
    step(k)
    return (time.perf_counter() - t0) / k


def _status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def probe_memory(impl, workload, dtype):
    """Run in a fresh process: peak resident memory of setting up and training, above the data's."""
    data = load_workload(workload, np.dtype(dtype))
    X, Y = data
    if impl in ("torch", "sklearn"):
        __import__(impl)
        if impl == "sklearn":
            from sklearn.neural_network import MLPClassifier  # noqa: F401
    import nnctl.core.training  # noqa: F401  (imports counted for nobody)

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the high-water mark
    except OSError:
        pass
    rss0 = _status_kib("VmRSS")
    w = WORKLOADS[workload]
    step = MAKERS[impl](w["layers"], w["lr"], X, Y)
    step(2)
    return max(0, _status_kib("VmHWM") - rss0)


def measure_memory(impl, workload, dtype):
    out = subprocess.run([sys.executable, __file__, "--probe", impl, workload, dtype], capture_output=True, text=True, timeout=1800)
    try:
        return int(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def bench_workload(name, dtype, impls, repeats, target, memory):
    data = load_workload(name, np.dtype(dtype))
    if data is None:
        print(f"skipped {name}: course data not found in {SHARED}", file=sys.stderr)
        return None
    X, Y = data
    w = WORKLOADS[name]
    steps, ks, setup = {}, {}, {}
    for impl in impls:
        t0 = time.perf_counter()
        steps[impl] = MAKERS[impl](w["layers"], w["lr"], X, Y)
        setup[impl] = time.perf_counter() - t0
        one = time_per_iteration(steps[impl], 1)  # warm-up and calibration
        ks[impl] = max(1, min(5000, math.ceil(target / max(one, 1e-6))))
    times = {impl: [] for impl in impls}
    for _ in range(repeats):  # alternating, so drifts of the machine hit every implementation alike
        for impl in impls:
            steps[impl](1)  # untimed: wakes this library's thread pool after the previous one's turn
            times[impl].append(time_per_iteration(steps[impl], ks[impl]))
    result = {
        "workload": name,
        "dtype": dtype,
        "layers": w["layers"],
        "m": X.shape[1],
        "nnctl_path": getattr(steps["nnctl"], "path", None),
        "rows": {},
    }
    for impl in impls:
        result["rows"][impl] = {
            "seconds_per_iteration": statistics.median(times[impl]),
            # ratios of the same repeat, whose implementations ran back to back: steadier than medians' ratios
            "ratio_to_floor": statistics.median(a / f for a, f in zip(times[impl], times["floor"])),
            "ratio_to_nnctl": statistics.median(a / n for a, n in zip(times[impl], times["nnctl"])),
            "all": times[impl],
            "iterations_timed": ks[impl],
            "setup_seconds": setup[impl],
            "peak_bytes": measure_memory(impl, name, dtype) if memory and impl != "floor" else None,
        }
    return result


def scaling(repeats, target, quick):
    """Seconds per iteration and memory of both paths as m grows and as the first layer widens."""
    from nnctl.experiment.run import available_memory, memory_estimate

    rows = []
    cases = [("m", [784, 256, 128, 1], m, 784) for m in ((2_000, 10_000) if quick else (10_000, 20_000, 60_000))]
    cases += [("n[1]", [12288, n1, 7, 5, 1], 209, 12288) for n1 in ((20, 200) if quick else (20, 100, 500))]
    cases += [("n_x", [n_x, 20, 7, 5, 1], 2_000, n_x) for n_x in ((1_000, 12_288) if quick else (1_000, 4_000, 12_288))]
    rng = np.random.default_rng(0)
    for what, layers, m, n_x in cases:
        X = rng.random((m, n_x)).T
        Y = (rng.random((1, m)) > 0.5).astype(float)
        row = {"vary": what, "layers": layers, "m": m}
        for path in ("primal", "dual"):
            est = sum(memory_estimate(layers, m, 8, path).values()) + X.nbytes
            if path == "dual" and m * m * 8 > 0.25 * available_memory():
                row[path] = {"seconds_per_iteration": None, "memory_bytes": est, "note": "G = XᵀX does not fit"}
                continue
            t0 = time.perf_counter()
            step = make_nnctl(layers, 0.01, X, Y, path)
            setup = time.perf_counter() - t0
            one = time_per_iteration(step, 1)
            k = max(1, min(2000, math.ceil(target / max(one, 1e-6))))
            t = statistics.median(time_per_iteration(step, k) for _ in range(repeats))
            row[path] = {"seconds_per_iteration": t, "setup_seconds": setup, "memory_bytes": est}
        rows.append(row)
    return rows


# ---------------------------------------------------------------- report


def fmt_t(s):
    if s is None:
        return "—"
    return f"{s * 1e3:.3f} ms" if s < 1 else f"{s:.2f} s"


def fmt_mib(b):
    return "—" if b is None else f"{b / 2**20:,.0f} MiB"


def report(results, scale, dtype_ratios=None):
    lines = []
    head = f"{'workload':<11} {'dtype':<8} {'implementation':<14} {'s/iteration':>12} {'× floor':>8} {'nnctl faster by':>16} {'peak memory':>12} {'setup':>9}"
    lines += [head, "-" * len(head)]
    for r in results:
        rows = r["rows"]
        for impl, row in rows.items():
            t = row["seconds_per_iteration"]
            label = impl if impl != "nnctl" else f"nnctl ({r['nnctl_path']})"
            faster = "" if impl in ("nnctl", "floor") else f"{row['ratio_to_nnctl']:.2f}×"
            lines.append(
                f"{r['workload']:<11} {r['dtype']:<8} {label:<14} {fmt_t(t):>12} {row['ratio_to_floor']:>7.2f}× {faster:>16} "
                f"{fmt_mib(row['peak_bytes']):>12} {row['setup_seconds']:>8.3f}s"
            )
        lines.append("")
    if scale:
        lines.append("Scaling (float64): nnctl's seconds per iteration and estimated memory, primal and dual first layer")
        head = f"{'vary':<6} {'layers':<26} {'m':>7} {'primal s/it':>12} {'primal mem':>11} {'dual s/it':>12} {'dual mem':>11}"
        lines += [head, "-" * len(head)]
        for row in scale:
            p, d = row["primal"], row["dual"]
            lines.append(
                f"{row['vary']:<6} {str(row['layers']):<26} {row['m']:>7} {fmt_t(p['seconds_per_iteration']):>12} "
                f"{fmt_mib(p['memory_bytes']):>11} {fmt_t(d['seconds_per_iteration']) if d['seconds_per_iteration'] else d.get('note', '—'):>12} "
                f"{fmt_mib(d['memory_bytes']):>11}"
            )
        lines.append("")
    lines += check_targets(results, dtype_ratios)
    return "\n".join(lines)


def check_targets(results, dtype_ratios=None):
    out = ["Targets (issue 6):"]

    def line(ok, text):
        out.append(f"  [{'met' if ok else 'MISSED'}] {text}")

    for r in results:
        rows = r["rows"]
        if r["nnctl_path"] == "primal":
            x = rows["nnctl"]["ratio_to_floor"]
            line(x <= 1.15, f"{r['workload']} {r['dtype']}: primal path {x:.2f}× the floor (≤ 1.15×)")
        if "nnctl-primal" in rows and r["nnctl_path"] != "primal":
            x = rows["nnctl-primal"]["ratio_to_floor"]
            line(x <= 1.15, f"{r['workload']} {r['dtype']}: forced primal path {x:.2f}× the floor (≤ 1.15×; not the path nnctl uses here)")
        peers = [i for i in ("course", "torch", "sklearn") if i in rows]
        if peers:
            closest = min(rows[i]["ratio_to_nnctl"] for i in peers)
            line(closest >= 1, f"{r['workload']} {r['dtype']}: faster than every peer (closest peer {closest:.2f}× slower)")
        if r["workload"] in ("cat-deep", "cat-2layer") and r["dtype"] == "float64":
            for peer in ("torch", "course"):
                if peer in rows:
                    ratio = rows[peer]["ratio_to_nnctl"]
                    line(ratio >= 10, f"{r['workload']} float64: {ratio:.1f}× faster than {peer} (≥ 10×)")
        if "torch" in rows and rows["nnctl"]["peak_bytes"] is not None and rows["torch"]["peak_bytes"] is not None:
            a, b = rows["nnctl"]["peak_bytes"], rows["torch"]["peak_bytes"]
            line(a <= b, f"{r['workload']} {r['dtype']}: peak memory {fmt_mib(a)} vs PyTorch {fmt_mib(b)}")
    for wl, ratio in (dtype_ratios or {}).items():
        line(ratio >= 1.7, f"{wl}: float32 {ratio:.2f}× faster than float64 (≥ 1.7×; measured back to back)")
    return out


def dtype_ratio(name, repeats, target):
    """float64 time / float32 time of nnctl on one workload, the two alternating."""
    steps, ks, times = {}, {}, {"float64": [], "float32": []}
    for dtype in times:
        X, Y = load_workload(name, np.dtype(dtype))
        w = WORKLOADS[name]
        steps[dtype] = make_nnctl(w["layers"], w["lr"], X, Y)
        ks[dtype] = max(1, math.ceil(target / time_per_iteration(steps[dtype], 1)))
    for _ in range(repeats):
        for dtype in times:
            steps[dtype](1)
            times[dtype].append(time_per_iteration(steps[dtype], ks[dtype]))
    return statistics.median(a / b for a, b in zip(times["float64"], times["float32"]))


def machine():
    try:
        from threadpoolctl import threadpool_info

        blas = [(i.get("internal_api"), i.get("num_threads"), i.get("architecture")) for i in threadpool_info()]
    except ImportError:
        blas = []
    return {"python": platform.python_version(), "numpy": np.__version__, "cores": os.cpu_count(), "blas": blas, "platform": platform.platform()}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--minibatch" in argv:  # issue 14: mini-batch Adam epochs, time to accuracy, scaling, streaming
        import bench_minibatch

        return bench_minibatch.main([a for a in argv if a != "--minibatch"])
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated; empty for the scaling table alone")
    ap.add_argument("--dtypes", default="float64,float32")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="3 repeats of about 0.2 s each, smaller scaling")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--probe", nargs=3, metavar=("IMPL", "WORKLOAD", "DTYPE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.probe:
        print(probe_memory(*args.probe))
        return
    repeats, target = (3, 0.2) if args.quick else (args.repeats, 0.5)
    impls = [i for i in args.impls.split(",") if available(i)]
    if "floor" not in impls or "nnctl" not in impls:
        impls = ["floor", "nnctl"] + [i for i in impls if i not in ("floor", "nnctl")]
    missing = [i for i in ("torch", "sklearn") if not available(i)]
    if missing:
        print(f"not installed, left out: {', '.join(missing)}", file=sys.stderr)
    results = []
    for name in filter(None, args.workloads.split(",")):
        for dtype in args.dtypes.split(","):
            chosen = [i for i in impls if not (i == "nnctl-primal" and not WORKLOADS[name]["data"] == "cat")]
            print(f"measuring {name} {dtype} …", file=sys.stderr, flush=True)
            r = bench_workload(name, dtype, chosen, repeats, target, not args.no_memory)
            if r:
                results.append(r)
    dtypes = args.dtypes.split(",")
    ratios = {}
    if "float32" in dtypes and "float64" in dtypes:
        for name in (n for n in args.workloads.split(",") if n.startswith("wide")):
            print(f"measuring {name} float64 against float32 …", file=sys.stderr, flush=True)
            ratios[name] = dtype_ratio(name, repeats, target)
    scale = None if args.no_scaling else scaling(repeats, target, args.quick)
    if args.json:
        print(json.dumps({"machine": machine(), "results": results, "scaling": scale, "dtype_ratios": ratios}, indent=2))
    else:
        print(json.dumps(machine()))
        print(report(results, scale, ratios))


if __name__ == "__main__":
    main()
