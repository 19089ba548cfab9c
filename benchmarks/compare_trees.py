"""Two checkouts side by side: the mini-batch epoch of one against the other's, alternating, each
in a fresh process (the CPU path unchanged in speed, issue 26).

    python benchmarks/compare_trees.py /work/main /work/wt/speedgpu --rounds 5

Each round runs one process per tree: [784, 256, 128, 10] ReLU + softmax, Adam, float32, 1 BLAS thread,
on a generated 10,000 x 784 set, one untimed epoch, then `--epochs` timed ones (the cost recorded
every epoch). Prints each tree's median epoch and the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from nnctl.core.network import initialize_parameters
from nnctl.core.optimizers import make_optimizer
from nnctl.core.training import Batches, Position, Trainer, gradient_descent
batch, epochs = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
m, layers = 10_000, [784, 256, 128, 10]
X = np.asfortranarray(rng.standard_normal((784, m)).astype(np.float32))
Y = np.zeros((10, m), np.float32)
Y[rng.integers(0, 10, m), np.arange(m)] = 1
params = initialize_parameters(layers, "he", rng=np.random.default_rng(1), dtype=np.float32)
with threadpool_limits(1, user_api="blas"):
    tr = Trainer(params, X, Y, ["relu", "relu", "softmax"], "categorical_cross_entropy", optimizer=make_optimizer("adam", 1e-3), batch_size=batch)
    b, p = Batches(m, batch, "generator", 1), Position()
    gradient_descent(tr, 1, 1, batches=b, position=p)
    t0 = time.perf_counter()
    gradient_descent(tr, 1 + epochs, 1, batches=b, position=p)
    print(json.dumps((time.perf_counter() - t0) / epochs))
"""


def epoch(tree, batch, epochs):
    env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(batch), str(epochs)], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("base")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=2)
    a = ap.parse_args(argv)
    times = {a.base: [], a.new: []}
    for _ in range(a.rounds):
        for tree in times:
            times[tree].append(epoch(tree, a.batch, a.epochs))
    ratios = [n / b for n, b in zip(times[a.new], times[a.base])]
    load = os.getloadavg()[0]
    for tree, t in times.items():
        print(f"{tree}: median epoch {statistics.median(t):.3f} s ({', '.join(f'{x:.3f}' for x in t)})")
    print(f"new / base: median {statistics.median(ratios):.3f} (per round {', '.join(f'{r:.2f}' for r in ratios)}); load average {load:.1f}")


if __name__ == "__main__":
    main()
