"""What batch norm costs per epoch: the Trainer with and without it, same network and batches.

    python benchmarks/bench_batchnorm.py

Process CPU time (less disturbed by a busy machine than the wall clock), 1 BLAS thread, plain
gradient descent, the best of 3 runs of 20 epochs for each of two networks: a deep narrow one
(where NumPy's per-call overhead shows) and a wide one (where the products dominate).
"""

from __future__ import annotations

import time

import numpy as np
from threadpoolctl import threadpool_limits

from nnctl.core.network import initialize_parameters
from nnctl.core.optimizers import make_optimizer
from nnctl.core.training import Batches, Trainer, gradient_descent

CASES = [(2, [32] * 8, 800, 64), (784, [256, 128], 4096, 256)]  # n_x, hidden, m, batch size
EPOCHS, REPEATS = 20, 3


def epoch_seconds(X, Y, dims, acts, batch_size, normalised) -> float:
    params = initialize_parameters(dims, "he", rng=np.random.default_rng(1), batch_norm=normalised)
    trainer = Trainer(params, X, Y, acts, "cross_entropy", optimizer=make_optimizer("gd", 0.01), batch_size=batch_size)
    t0 = time.process_time()
    gradient_descent(trainer, EPOCHS, batches=Batches(X.shape[1], batch_size))
    return (time.process_time() - t0) / EPOCHS


def main() -> None:
    rng = np.random.default_rng(0)
    print("| network, batch | plain | batch norm on every hidden layer | ratio |\n|---|---|---|---|")
    for n_x, hidden, m, batch_size in CASES:
        X, Y = rng.standard_normal((n_x, m)), (rng.random((1, m)) < 0.5).astype(np.float64)
        dims, acts = [n_x, *hidden, 1], ["relu"] * len(hidden) + ["sigmoid"]
        best = {}
        with threadpool_limits(1, user_api="blas"):
            for _ in range(REPEATS):  # alternating, so a busy moment hits both
                for normalised in ((), tuple(range(1, len(dims) - 1))):
                    t = epoch_seconds(X, Y, dims, acts, batch_size, normalised)
                    best[bool(normalised)] = min(best.get(bool(normalised), t), t)
        print(f"| {dims}, m = {m}, batches of {batch_size} | {best[False] * 1e3:.1f} ms | {best[True] * 1e3:.1f} ms | {best[True] / best[False]:.2f} |")


if __name__ == "__main__":
    main()
