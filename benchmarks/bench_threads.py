"""The thread table (issue 25 §2): each network's step time with 1 and with all BLAS threads, on an
idle machine and beside 1 and 2 busy processes (`python3 -c 'while 1: pass'`), and the count
nnctl's rule (nnctl.core.resources.choose_blas_threads) picks.

    python benchmarks/bench_threads.py              # about 2 minutes on 2 cores
    python benchmarks/bench_threads.py --busy 0     # idle only

Each cell is the median over `--repeats` rounds of a fixed number of training steps; within a round
the thread counts alternate, so a neighbour's load falls on both alike. "within 10%" compares the
rule's choice with the better count of that cell.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nnctl.core.network import initialize_parameters  # noqa: E402
from nnctl.core.optimizers import make_optimizer  # noqa: E402
from nnctl.core.resources import choose_blas_threads  # noqa: E402
from nnctl.core.training import Batches, Position, Trainer, gradient_descent  # noqa: E402

# (name, layer sizes, m, batch or None for the full batch, epochs per timing)
NETWORKS = [
    ("breast cancer [30, 16, 1], full batch", [30, 16, 1], 455, None, 400),
    ("digits [64, 32, 10], batch 32", [64, 32, 10], 1437, 32, 6),
    ("[784, 64, 10], batch 64", [784, 64, 10], 6000, 64, 1),
    ("[784, 256, 128, 10], batch 64", [784, 256, 128, 10], 6000, 64, 1),
    ("[784, 256, 128, 10], batch 256", [784, 256, 128, 10], 6000, 256, 1),
    ("[784, 256, 128, 10], batch 1024", [784, 256, 128, 10], 6000, 1024, 1),
]


def make(layers, m, batch, seed=0):
    rng = np.random.default_rng(seed)
    X = np.asfortranarray(rng.standard_normal((layers[0], m)).astype(np.float32))
    k = layers[-1]
    if k == 1:
        Y = (rng.random((1, m)) < 0.5).astype(np.float32)
        acts, loss = ["relu"] * (len(layers) - 2) + ["sigmoid"], "cross_entropy"
    else:
        Y = np.zeros((k, m), np.float32)
        Y[rng.integers(0, k, m), np.arange(m)] = 1
        acts, loss = ["relu"] * (len(layers) - 2) + ["softmax"], "categorical_cross_entropy"
    params = initialize_parameters(layers, "he", rng=np.random.default_rng(1), dtype=np.float32)
    trainer = Trainer(params, X, Y, acts, loss, optimizer=make_optimizer("adam", 1e-3), batch_size=batch)
    return trainer, Batches(m, batch, "generator", 1), Position()


def run(trainer, batches, pos, epochs, threads):
    with threadpool_limits(threads, user_api="blas"):
        t0 = time.perf_counter()
        gradient_descent(trainer, pos.epoch + epochs, record_every=1, batches=batches, position=pos)
        return time.perf_counter() - t0


def table(repeats, cores):
    rows = []
    for name, layers, m, batch, epochs in NETWORKS:
        trainer, batches, pos = make(layers, m, batch)
        run(trainer, batches, pos, 1, 1)  # untimed
        times = {1: [], cores: []}
        for _ in range(repeats):
            for t in times:
                times[t].append(run(trainer, batches, pos, epochs, t))
        med = {t: statistics.median(v) for t, v in times.items()}
        chosen = choose_blas_threads(layers, batch or m) or cores  # with the load average as it is now
        best = min(med.values())
        rows.append((name, med[1], med[cores], chosen, med[chosen] / best))
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--busy", default="0,1,2", help="busy neighbour counts to measure beside")
    a = ap.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for busy in [int(b) for b in a.busy.split(",")]:
        hogs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(busy)]
        try:
            time.sleep(0.5)
            load = os.getloadavg()[0]
            rows = table(a.repeats, cores)
        finally:
            for h in hogs:
                h.kill()
                h.wait()
        print(f"\nbeside {busy} busy process(es); load average {load:.2f} at the start; {cores} cores")
        print(f"| network | 1 thread | {cores} threads | nnctl's choice | choice / best |")
        print("| --- | --- | --- | --- | --- |")
        for name, one, many, chosen, ratio in rows:
            print(f"| {name} | {one * 1e3:.1f} ms | {many * 1e3:.1f} ms | {chosen} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
