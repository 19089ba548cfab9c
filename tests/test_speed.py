"""The mini-batch loop at the limit (issue 14 §1) and training from disk (§2).

Speed itself is measured in benchmarks/bench_train.py; these tests hold what makes it: no array
allocated per step, float32 kept end to end, and a streamed run equal to the in-memory one.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from nnctl.network import initialize_parameters
from nnctl.optimizers import make_optimizer
from nnctl.training import Batches, Trainer, gradient_descent


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_minibatch_steps_allocate_no_array_even_briefly(order, dtype):
    """Peak, not only growth: over 210 Adam steps (a cost recorded every epoch) no temporary of a
    batch's size appears. X in F order is how a file loads (examples contiguous); gathering its
    columns with np.take once copied all of X every step."""
    rng = np.random.default_rng(0)
    X = np.asarray(rng.standard_normal((200, 300)), dtype=dtype, order=order)
    Y = (rng.random((1, 300)) > 0.5).astype(dtype)
    params = initialize_parameters([200, 16, 8, 1], "he", rng=rng, dtype=dtype)
    trainer = Trainer(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy",
                      optimizer=make_optimizer("adam", 0.01), batch_size=64)
    batches = Batches(300, 64, "generator", 1)
    gradient_descent(trainer, 2, 1, batches=batches)  # warm up
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        result = gradient_descent(trainer, 44, 1, batches=batches)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.iterations == 44 * 5
    batch_x = 200 * 64 * np.dtype(dtype).itemsize  # 51 KiB in float32: one batch of X
    assert peak - start < 16 * 1024 < batch_x
    # float32 end to end: parameters, gradients, the optimizer's moments and every buffer
    arrays = [trainer.theta, trainer.grad, *trainer.optimizer.m.values(), trainer.optimizer._tmp]
    for B in trainer.buffers.values():
        arrays += [B.X, B.Y, B.ZL, *B.A[1:], *B.dZ[1:]]
    assert {a.dtype for a in arrays} == {np.dtype(dtype)}
    assert all(v.dtype == dtype for v in params.values())
    # buffers for the two batch sizes only (64 and the last 44), none for all 300 examples
    assert sorted(trainer.buffers) == [44, 64]


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
