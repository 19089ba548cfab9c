"""Before the work: what a run needs in memory and on disk, refused early if it cannot fit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from nnctl.errors import RunError
from nnctl.core.firstlayer import FIRST_LAYERS
from nnctl.core.layers import parameter_count


from nnctl.util.memory import available_memory, format_bytes  # noqa: E402,F401  (MemAvailable, rlimits and cgroups)
from threadpoolctl import threadpool_info


_size = format_bytes  # 1536 -> '1.5 KiB'


def memory_estimate(
    layer_dims,
    m: int,
    itemsize: int,
    path: str,
    optimizer_arrays: int = 0,
    batch_sizes=(),
    *,
    dropout_layers=(),
    l2: bool = False,
    initial: bool = False,
    eval_m: int = 0,
    batch_norm_layers=(),
) -> dict:
    """Bytes the run's arrays take, by kind: what `Trainer` allocates, from the shapes alone, and
    (keyword arguments) what the run holds beside it.

    `optimizer_arrays`: arrays of each parameter's size the optimizer holds (Adam: v, s and a
    scratch); `batch_sizes`: the mini-batch sizes, each with its own buffers; `dropout_layers`:
    the layers with a mask D[l] (itemsize), its uniform draw (float64) and the dropped copy of A[l]
    in every buffer; `l2`: the (lambda/m) W[l] scratch of each weight matrix; `initial`: the
    initial parameters, alive while the Trainer copies them into its parameter vector, and the
    largest layer's draw (`randn` in float64 and its scaled copy, e.g. `randn(...) * scale`);
    `eval_m`: the examples of the largest data set given a full forward pass at the end of the run
    (model checks, evaluation, validation) while the Trainer still exists: Z[l] and A[l] (n[l], eval_m)
    of every layer. `batch_norm_layers`: gamma, beta in the vectors, the running averages beside
    them, and Z^[l] with a scratch array (n[l], batch) in every buffer.
    """
    n = layer_dims
    weights, state = parameter_count(n, batch_norm_layers)
    per_example = 2 * sum(n[1:]) + n[-1]  # A[l], dZ[l] and Z[L]
    per_dropout = sum(n[l] for l in dropout_layers) * (2 * itemsize + 8)  # D[l], fwd[l]; the uniform draw in float64
    est = {"parameters and gradients": (2 * weights + state) * itemsize}
    if initial:
        largest = max(n[l] * n[l - 1] for l in range(1, len(n)))
        est["initial parameters and their draw"] = weights * itemsize + 2 * largest * 8
    if not batch_sizes:  # with mini-batches the Trainer makes no buffers of all m examples
        est["activations and dZ"] = per_example * m * itemsize
        if dropout_layers:
            est["dropout masks"] = per_dropout * m
    else:
        est["mini-batch buffers"] = sum((per_example + n[0] + n[-1]) * b for b in batch_sizes) * itemsize
        if dropout_layers:
            est["dropout masks"] = per_dropout * sum(batch_sizes)
    if batch_norm_layers:
        est["batch norm Z^ and scratch"] = 2 * sum(n[l] for l in batch_norm_layers) * (sum(batch_sizes) or m) * itemsize
    if optimizer_arrays:
        est["optimizer state"] = optimizer_arrays * weights * itemsize
    if l2:
        est["L2 scratch"] = sum(n[l] * n[l - 1] for l in range(1, len(n))) * itemsize
    est.update(FIRST_LAYERS[path].extra_bytes(n[1], n[0], m, itemsize))
    if eval_m:
        est["end-of-run forward pass"] = 2 * sum(n[1:]) * eval_m * itemsize
    return est


def forward_pass_bytes(layer_dims, points: int, itemsize: int) -> int:
    """An inference forward pass over `points` examples (nnctl.core.network.forward): Z[l] and A[l] of
    every layer, all alive until it returns; with the points themselves (and, for a grid, its
    float64 coordinates)."""
    return (2 * sum(layer_dims[1:]) + layer_dims[0]) * points * itemsize + 3 * points * 8


def preflight(
    layer_dims, m: int, dtype, path: str, root: Path, free: int, optimizer_arrays: int = 0, batch_sizes=(), resume: bool = False, stages=(), **more
) -> None:
    """Refuse, before anything is written, a run that cannot fit in memory (`free` bytes) or on disk.

    Memory: training (the Trainer's arrays and the end-of-run forward pass, memory_estimate), then
    each of `stages` (what, points, fix): a later forward pass over `points` examples (the decision
    boundary's grid) beside the run's arrays, refused by name.

    A place whose filesystem has no blocks at all (/proc, /sys: statvfs says 0 of 0) cannot hold
    runs, whatever it says is free."""
    itemsize = np.dtype(dtype).itemsize
    est = memory_estimate(layer_dims, m, itemsize, path, optimizer_arrays, batch_sizes, **more)  # more: see memory_estimate
    need = sum(est.values())
    if need > free:
        parts = ", ".join(f"{k}: {_size(v)}" for k, v in est.items())
        raise RunError(
            f"the network's arrays need about {_size(need)} ({parts}) but only {_size(free)} of memory is "
            f"available; use train.dtype: float32, fewer examples or smaller layers"
        )
    # the stages after training, each beside the run's arrays (the end-of-run pass is over by then)
    held = need - est.get("end-of-run forward pass", 0)
    for stage, points, fix in stages:
        pass_bytes = forward_pass_bytes(layer_dims, points, itemsize)
        if held + pass_bytes > free:
            raise RunError(
                f"{stage} needs about {_size(held + pass_bytes)} (a forward pass over {points:,} points keeps Z[l] and A[l] "
                f"of all {len(layer_dims) - 1:,} layers: {_size(pass_bytes)}, beside the run's arrays: {_size(held)}) but only "
                f"{_size(free)} of memory is available; {fix}"
            )
    weights = sum(parameter_count(layer_dims, more.get("batch_norm_layers", ())))
    extra = FIRST_LAYERS[path].saved_elements(layer_dims[1], layer_dims[0], m)
    # params.h5, checkpoint.h5 (with the optimizer's moments) and its temporary, pictures
    disk = 3 * (weights * (1 + optimizer_arrays) + extra) * itemsize + (2 << 20)
    probe = root
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stat = os.statvfs(probe)
        free_disk = shutil.disk_usage(probe).free
    except OSError:
        return
    if stat.f_blocks == 0:
        raise RunError(
            f"{root}: is on a filesystem with no disk blocks ({probe}: a virtual one, like /proc and /sys), which cannot hold runs; "
            + ("move the run folder to a disk and resume it there" if resume else "choose a folder on a disk with --runs-dir")
        )
    if disk > free_disk:
        raise RunError(
            f"{root}: the run's files need about {_size(disk)} but only {_size(free_disk)} is free on that disk; "
            + ("free some space there, then resume" if resume else "free some space or choose another place with --runs-dir")
        )


def blas_info() -> dict:
    """The BLAS library and its thread count now: products round differently with other counts."""
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    if not blas:
        return {}
    return {"library": blas[0].get("internal_api"), "version": blas[0].get("version"), "threads": blas[0].get("num_threads")}


# Multiply-adds of a step's products below which a network trains single-threaded: the threads'
# start and spin cost more than they save, and beside busy neighbours far more (issue 25 §2:
# breast cancer, 30 features, 4.8 s with the default threads against 0.085 s with one, under load).
# 2^23 is a [784, 256, 128, 10] step at batch ~12, or [30, 16, 1] at m ~ 6000 (benchmarks/bench_threads.py).
SINGLE_THREAD_WORK = 1 << 23


def step_work(layer_dims, batch: int) -> int:
    """Multiply-adds of one step's products: W A forward, dZ A^T and W^T dZ backward, per layer."""
    return 3 * batch * sum(a * b for a, b in zip(layer_dims[:-1], layer_dims[1:]))


def choose_blas_threads(layer_dims, batch: int, cores: int | None = None, load: float | None = None) -> int | None:
    """1 for a network whose step is small work, or when the machine is already oversubscribed (the
    1-minute load average at least the cores + 0.5: other processes hold every core, and BLAS threads
    that wait on each other then cost 5-20x, benchmarks/bench_threads.py); None otherwise (the
    threads already allowed: all cores, or a sweep worker's share)."""
    if step_work(layer_dims, batch) < SINGLE_THREAD_WORK:
        return 1
    cores = cores if cores is not None else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    load = load if load is not None else (os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0)
    return 1 if cores > 1 and load >= cores + 0.5 else None
