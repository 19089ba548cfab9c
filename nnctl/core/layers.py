"""The arrays each layer holds, as one table: what params.h5, checkpoints, the Trainer's parameter
vector, the shape checks and the shapes table read instead of assuming W{l} and b{l}.

A plain layer holds W[l] (n[l], n[l-1]) and b[l] (n[l], 1). A batch-normalised layer (the course's
week 3: Z[l] = W[l] A[l-1], Z~[l] = gamma[l] Z^[l] + beta[l]) holds W[l], gamma[l], beta[l] and
the running averages of the batches' mean and variance, no b[l] (beta does its work). `trained`
arrays are in the optimizer's parameter vector, in this order within each layer; the others are
state, updated by the forward pass in training mode and saved with the parameters.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Callable, Collection, Iterable, NamedTuple

if TYPE_CHECKING:
    from nnctl.spec.config import ModelSpec

BATCH_NORM_EPSILON = 1e-5  # PyTorch's BatchNorm1d default
BATCH_NORM_MOMENTUM = 0.9  # the course's beta: running = beta running + (1 - beta) batch (PyTorch's momentum 0.1)


class LayerArray(NamedTuple):
    name: str
    shape: Callable  # (n[l], n[l-1]) -> its shape
    fill: float | None  # its starting value; None: drawn by the init (W)
    trained: bool  # in the optimizer's parameter vector; else state the forward pass keeps


_W = LayerArray("W", lambda n, n_prev: (n, n_prev), None, True)
_column = lambda n, n_prev: (n, 1)  # noqa: E731

KINDS: dict[str, tuple] = {
    "plain": (_W, LayerArray("b", _column, 0.0, True)),
    "batch_norm": (
        _W,
        LayerArray("gamma", _column, 1.0, True),
        LayerArray("beta", _column, 0.0, True),
        LayerArray("running_mean", _column, 0.0, False),
        LayerArray("running_var", _column, 1.0, False),
    ),
}
NAMES = tuple(dict.fromkeys(a.name for kind in KINDS.values() for a in kind))
_NAME = re.compile(rf"({'|'.join(sorted(NAMES, key=len, reverse=True))})([1-9][0-9]*)")


def kind_of(l: int, normalised: Collection[int]) -> tuple:
    return KINDS["batch_norm" if l in normalised else "plain"]


def layer_arrays(layer_dims: Iterable[int], normalised: Collection[int] = ()) -> dict:
    """{"W1": ((n[1], n[0]), row), "b1": ..., ...}: every array of the network, layer by layer in
    the table's order (the course's W1, b1, W2, b2, ... for plain layers)."""
    n = list(layer_dims)
    return {f"{a.name}{l}": (a.shape(n[l], n[l - 1]), a) for l in range(1, len(n)) for a in kind_of(l, normalised)}


def normalised_layers(params: Iterable[str]) -> list:
    """The layers whose arrays include gamma[l]: batch-normalised."""
    return sorted(int(k[5:]) for k in params if k.startswith("gamma") and k[5:].isdigit())


def depth(params: Iterable[str]) -> int:
    """L: the layers that have a W[l]."""
    return sum(1 for k in params if k.startswith("W") and k[1:].isdigit())


def network_arrays(arrays: dict) -> dict:
    """The network's own arrays (W1, b1, gamma2, running_var2, ...) among a file's datasets, which
    may hold others too (a checkpoint's costs, the inputs' normalisation)."""
    return {k: v for k, v in arrays.items() if _NAME.fullmatch(k)}


def parameter_count(layer_dims: Iterable[int], normalised: Collection[int] = ()) -> tuple:
    """(trained numbers, state numbers) of the network."""
    trained = state = 0
    for shape, row in layer_arrays(layer_dims, normalised).values():
        size = shape[0] * shape[1]
        if row.trained:
            trained += size
        else:
            state += size
    return trained, state


def batch_norm_meta(model: ModelSpec) -> dict:
    """What params.h5's attributes say about batch norm (nothing when no layer is normalised):
    {"batch_norm": {"layers": [1, 2], "epsilon": 1e-05, "momentum": 0.9}}."""
    if not model.normalised_layers:
        return {}
    return {"batch_norm": {"layers": model.normalised_layers, "epsilon": model.batch_norm_epsilon, "momentum": model.batch_norm_momentum}}


def batch_norm_epsilon(meta: dict) -> float:
    """The epsilon inference uses, from params.h5's attributes (checked by runs.validate_run_files)."""
    bn = meta.get("batch_norm")
    return float(bn["epsilon"]) if isinstance(bn, dict) else BATCH_NORM_EPSILON
