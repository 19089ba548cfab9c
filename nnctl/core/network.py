"""The network's math, in the course's notation: pure functions and the tables they index.

Orientation is the course's: X is (n_x, m), one example per column; W[l] is (n[l], n[l-1]),
b[l] is (n[l], 1). Parameters live in a dict keyed "W1", "b1", ... like the course's notebooks.

These functions are the readable reference: `nnctl.core.training.Trainer` is the fast, buffered
training math, and the tests hold it to them (never a second version kept in step by hand).
Tables, not branches: ACTIVATIONS (in activations.py), LOSSES (cost and dZ[L]), HEADS (output
units, label encoding, prediction) and INITS;
the config's valid names come from them.
"""

from __future__ import annotations

from typing import Callable, Collection, NamedTuple, Sequence

import numpy as np
import numpy.typing as npt

from nnctl.core.activations import ACTIVATIONS
from nnctl.core.backend import Array, namespace
from nnctl.core.layers import BATCH_NORM_EPSILON, depth, kind_of, normalised_layers
from nnctl.core.regularization import l2_cost

# ---------------------------------------------------------------- inits


class Init(NamedTuple):
    scale: Callable | None  # (W drawn from randn, n[l-1], init_scale) -> W, or None for zeros
    random: bool = True


INITS: dict[str, Init] = {
    "normal": Init(lambda W, n_prev, scale: W * scale),
    "xavier": Init(lambda W, n_prev, scale: W / np.sqrt(n_prev)),  # divided, as the course does
    "he": Init(lambda W, n_prev, scale: W * np.sqrt(2.0 / n_prev)),
    "zeros": Init(None, random=False),
}
INIT_NAMES = tuple(INITS)


def initialize_parameters(
    layer_dims: Sequence[int],
    init: str = "xavier",
    scale: float = 0.01,
    rng: np.random.Generator | np.random.RandomState | None = None,
    dtype: npt.DTypeLike = np.float64,
    batch_norm: Collection[int] = (),
) -> dict[str, np.ndarray]:
    """Small random weights break the symmetry between hidden units; biases start at zero.
    Layers in `batch_norm` get gamma = 1, beta = 0 and running averages mean 0, variance 1 instead
    of b (nnctl.core.layers); the draws of W are the same either way.

    `rng` is an `np.random.Generator`, or an `np.random.RandomState` to draw exactly as the
    course's notebooks did (`np.random.seed(s)` then one `randn` per layer, in order).
    normal: randn * scale; xavier: randn / sqrt(n[l-1]); he: randn * sqrt(2 / n[l-1]); zeros.
    """
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; valid: {', '.join(INITS)}")
    row = INITS[init]
    params: dict[str, np.ndarray] = {}
    for l in range(1, len(layer_dims)):
        n, n_prev = layer_dims[l], layer_dims[l - 1]
        if row.random:
            assert row.scale is not None and rng is not None  # a random init has its scale, and needs a generator
            W = row.scale(rng.standard_normal((n, n_prev)), n_prev, scale)
        else:
            W = np.zeros((n, n_prev))
        params[f"W{l}"] = W.astype(dtype, copy=False)
        for a in kind_of(l, batch_norm)[1:]:
            params[f"{a.name}{l}"] = np.full(a.shape(n, n_prev), a.fill, dtype=dtype)
    return params


layer_count = depth


# ---------------------------------------------------------------- losses (the output heads)


def _cross_entropy_total(ZL: Array, AL: Array, Y: Array, work: tuple | None = None) -> float:
    """-sum[y log a + (1-y) log(1-a)] from Z[L] with logaddexp (log a = -log(1 + e^-z)), so
    saturated outputs give a large finite cost, never log(0). `work`: buffers (two (k, m), one
    (2, m)) of the training loop's, so that recording a cost allocates nothing; the same arithmetic
    without them."""
    xp = namespace(ZL)
    t1, t2, _ = work if work is not None else (None, None, None)
    first = xp.dot(Y.ravel(), xp.logaddexp(0, xp.negative(ZL, out=t1), out=t1).ravel())
    return first + xp.dot(xp.subtract(1, Y, out=t1).ravel(), xp.logaddexp(0, ZL, out=t2).ravel())


def _categorical_total(ZL: Array, AL: Array, Y: Array, work: tuple | None = None) -> float:
    """-sum y_k log a_k from Z[L]: log a_k = z_k - logsumexp(z), the logsumexp taken after
    subtracting each column's largest logit, so saturated logits (+-1000) give a finite cost.
    `work`: buffers, as for cross-entropy; the same arithmetic without them."""
    xp = namespace(ZL)
    t1, _, rows = work if work is not None else (None, None, None)
    top = ZL.max(axis=0, out=None if rows is None else rows[0])  # (m,)
    e = xp.exp(xp.subtract(ZL, top, out=t1), out=t1)
    lse = e.sum(axis=0, out=None if rows is None else rows[1])
    xp.log(lse, out=lse)
    lse += top  # (m,) logsumexp of each column: top + log(sum e^(z - top))
    return xp.vdot(Y, xp.subtract(lse, ZL, out=t1))


def _squared_total(ZL: Array, AL: Array, Y: Array, work: tuple | None = None) -> float:
    """sum (a - y)^2; the cost divides by 2m, which makes dJ/dA[L] = (A[L] - Y)/m."""
    diff = namespace(AL).subtract(AL, Y, out=None if work is None else work[0])
    return namespace(diff).dot(diff.ravel(), diff.ravel())


def _dZ_is_A_minus_Y(dZ: Array, AL: Array, output: str) -> Array:
    """sigmoid + cross-entropy, softmax + categorical cross-entropy: dZ[L] = A[L] - Y exactly,
    never via dA[L]; `dZ` holds A[L] - Y."""
    return dZ


def _dZ_through_output(dZ: Array, AL: Array, output: str) -> Array:
    """squared error: dZ[L] = (A[L] - Y) * g'(Z[L]); consumes A[L] (the cost was taken before)."""
    return ACTIVATIONS[output].backward(dZ, AL)


def _accuracy(AL: Array, Y: Array) -> dict:
    """Percent of examples on the right side of 0.5."""
    return {"accuracy": float(namespace(AL).mean((AL > 0.5) == (Y > 0.5)) * 100)}


def _top_class_accuracy(AL: Array, Y: Array) -> dict:
    """Percent of examples whose most probable class (A[L] (k, m)) is their label (Y (1, m))."""
    return {"accuracy": float(namespace(AL).mean(AL.argmax(axis=0) == Y.ravel()) * 100)}


def _rmse(AL: np.ndarray, Y: np.ndarray) -> dict:
    return {"rmse": float(np.sqrt(np.mean((AL - Y) ** 2)))}


# Counting right answers while training (nnctl.core.training): from the forward pass of each batch, Y as
# the loss takes it (a row of 0/1, or one-hot (k, m)), in the loop's scratch buffers `work` (two (k, m)
# and one (2, m), the cost's) so that counting allocates nothing. Each returns (count, decisions): the
# count a 0-d array of A[L]'s namespace, never read here (on a device it is summed there), and how
# many decisions it counted over (a host int). Only arithmetic in A[L]'s dtype: a comparison's boolean
# written into a float buffer would make NumPy buffer the cast (a temporary growing with the batch).


def _threshold_correct(AL: Array, Y: Array, work: Sequence[Array] | None = None, rank: Array | None = None) -> tuple:
    """How many outputs are on the right side of 0.5 (`_accuracy`'s count), of A[L].size:
    max(sign(a - 0.5), 0) is 1 where a > 0.5, else 0 (NaN stays NaN: wrong), the same of y, and
    the decisions where they differ are the wrong ones."""
    xp = namespace(AL)
    t1, t2 = (work[0], work[1]) if work is not None else (None, None)
    said = xp.maximum(xp.sign(xp.subtract(AL, 0.5, out=t1), out=t1), 0, out=t1)  # (k, m) 1: a > 0.5
    truth = xp.maximum(xp.sign(xp.subtract(Y, 0.5, out=t2), out=t2), 0, out=t2)
    wrong = xp.count_nonzero(xp.subtract(said, truth, out=said))
    return AL.size - wrong, AL.size


def top_class_rank(k: int, dtype: npt.DTypeLike) -> np.ndarray:
    """(k, 1): k, k-1, ..., 1, the weights `_top_class_correct` finds the first largest output with."""
    return np.arange(k, 0, -1, dtype=dtype).reshape(k, 1)


def _top_class_correct(AL: Array, Y: Array, work: Sequence[Array] | None = None, rank: Array | None = None) -> tuple:
    """How many of the m examples have their label (Y one-hot (k, m)) as the most probable class,
    ties going to the first, as argmax does (`_top_class_accuracy`'s count), of m.

    NumPy's argmax along the classes copies A[L] first (it wants that axis last and contiguous);
    this takes each column's largest value (a reduction, no copy), marks where it is (a - top is 0
    exactly there and negative elsewhere: 1 + sign(a - top) is 1 or 0), and weighs the marks by
    `rank` (k, k-1, ..., 1): the largest weighed mark is k - argmax, and Y weighed the same way
    gives k - label. Exact: the weights are small whole numbers."""
    xp = namespace(AL)
    k, m = AL.shape
    rank = rank if rank is not None else xp.asarray(top_class_rank(k, AL.dtype))
    t1, t2, rows = work if work is not None else (None, None, xp.empty((2, m), AL.dtype))
    top = AL.max(axis=0, out=rows[0])  # (m,)
    marks = xp.sign(xp.subtract(AL, top, out=t1), out=t1)  # (k, m): 0 at the largest, -1 below (NaN: NaN)
    marks += 1
    marks *= rank  # (k, 1) broadcast over the m columns
    first = marks.max(axis=0, out=rows[0])  # k - the first most probable class
    label = xp.multiply(Y, rank, out=t2).max(axis=0, out=rows[1])  # k - the label
    wrong = xp.count_nonzero(xp.subtract(first, label, out=first))
    return m - wrong, m


class Loss(NamedTuple):
    total: Callable  # (Z[L], A[L], Y) -> the cost summed over the examples, unnormalised (0-d, in Z[L]'s namespace)
    divisor: int  # the cost is total / (divisor * m)
    dZ: Callable  # (A[L] - Y in a buffer, A[L], output activation) -> dZ[L], in that buffer
    task: str  # classification | regression
    output: str | None  # the output activation it needs, or None for any
    score: Callable  # (A[L], Y) -> {"accuracy": %} or {"rmse": ...}
    correct: Callable | None = None  # (A[L], Y as the loss takes it, work, rank) -> (right answers, decisions); None: a regression


LOSSES: dict[str, Loss] = {
    "cross_entropy": Loss(_cross_entropy_total, 1, _dZ_is_A_minus_Y, "classification", "sigmoid", _accuracy, _threshold_correct),
    "mse": Loss(_squared_total, 2, _dZ_through_output, "regression", None, _rmse),
    "categorical_cross_entropy": Loss(_categorical_total, 1, _dZ_is_A_minus_Y, "classification", "softmax", _top_class_accuracy, _top_class_correct),
}
LOSS_NAMES = tuple(LOSSES)


def auto_loss(output: str) -> str:
    """The loss `loss: auto` means: the one made for this output activation, else mean squared error."""
    return next((name for name, row in LOSSES.items() if row.output == output), "mse")


# ---------------------------------------------------------------- heads: how the output reads as classes


def _one_hot(labels: npt.ArrayLike, units: int, dtype: npt.DTypeLike) -> np.ndarray:
    """Y (k, m): Y[c, j] = 1 where example j is of class c."""
    labels = np.asarray(labels).ravel().astype(np.intp)
    Y = np.zeros((units, labels.size), dtype=dtype)
    Y[labels, np.arange(labels.size)] = 1
    return Y


def _as_row(labels: npt.ArrayLike, units: int, dtype: npt.DTypeLike) -> np.ndarray:
    """Y (1, m): the labels (or targets) themselves."""
    return np.asarray(labels).reshape(1, -1).astype(dtype)


def _both_classes(AL: np.ndarray) -> np.ndarray:
    """(2, m): P(label 0) = 1 - a, P(label 1) = a."""
    return np.vstack([1 - AL[0], AL[0]])


class Head(NamedTuple):
    units: Callable  # k classes -> units of the output layer
    classes: Callable  # units of the output layer -> k classes (0: a regression)
    max_classes: int | None  # the most classes it tells apart (None: any number)
    encode: Callable[[npt.ArrayLike, int, npt.DTypeLike], np.ndarray]  # (labels (1, m), units, dtype) -> Y as the loss takes it
    predict: Callable  # A[L] (units, m) -> the predicted label of each example (m,)
    proba: Callable | None  # A[L] -> (k, m): the probability of each class


# One row per loss: how its output layer is sized, how labels become Y and how A[L] becomes a
# class. Nothing else branches on sigmoid against softmax.
HEADS: dict[str, Head] = {
    "cross_entropy": Head(lambda k: 1, lambda u: 2, 2, _as_row, lambda AL: (AL[0] > 0.5).astype(np.intp), _both_classes),
    "categorical_cross_entropy": Head(lambda k: k, lambda u: u, None, _one_hot, lambda AL: AL.argmax(axis=0), lambda AL: AL),
    "mse": Head(lambda k: 1, lambda u: 0, 0, _as_row, lambda AL: AL[0], None),
}


def l2_penalty(params: dict[str, Array]) -> float:
    """sum over l of ||W[l]||_F^2."""
    return float(sum(np.sum(np.square(W)) for k, W in params.items() if k.startswith("W")))


def compute_cost(ZL: Array, AL: Array, Y: Array, loss: str, params: dict[str, Array] | None = None, l2: float = 0.0) -> float:
    """The mean cost over the m examples, as a Python float.

    cross_entropy: J = -(1/m) sum[y log a + (1-y) log(1-a)]; mse: J = (1/2m) sum (a - y)^2;
    categorical_cross_entropy: J = -(1/m) sum_j sum_k y_kj log a_kj (Y one-hot (k, m)).
    With L2 (lambda = `l2`, `params` given): J + lambda/(2m) sum ||W[l]||_F^2.
    """
    row = LOSSES[loss]
    m = Y.shape[1]
    J = float(row.total(ZL, AL, Y)) / (row.divisor * m)
    if not l2:
        return J
    assert params is not None  # the L2 term sums the weights
    return J + l2_cost(l2, l2_penalty(params), 1.0 / m)


# ---------------------------------------------------------------- propagation


def batch_norm_forward(
    Z: Array, gamma: Array, beta: Array, epsilon: float = BATCH_NORM_EPSILON, running: tuple[Array, Array] | None = None
) -> tuple[Array, Array, Array, Array, Array]:
    """Z~ = gamma Z^ + beta with Z^ = (Z - mu) / sqrt(sigma^2 + epsilon), Z (n[l], m).

    Training mode (`running` None): mu and sigma^2 are the batch's, the variance biased (over m).
    Inference: `running` = (mean, variance), the running averages kept during training.
    Returns (Z~, Z^, 1 / sqrt(sigma^2 + epsilon), mu, sigma^2).
    """
    if running is None:
        mu = Z.mean(axis=1, keepdims=True)  # (n[l], 1)
        var = np.square(Z - mu).mean(axis=1, keepdims=True)
    else:
        mu, var = running
    inv_std = 1.0 / np.sqrt(var + epsilon)
    Zhat = (Z - mu) * inv_std
    return gamma * Zhat + beta, Zhat, inv_std, mu, var


def forward(
    X: Array,
    params: dict[str, Array],
    activations: Sequence[str],
    dropout: dict[int, tuple[Array, float]] | None = None,
    *,
    training: bool = False,
    epsilon: float = BATCH_NORM_EPSILON,
    stats: dict[int, tuple[Array, Array]] | None = None,
) -> tuple[list, list[Array]]:
    """Forward propagation. Returns (Zs, As) with As[0] = X and As[L] the output; Zs[0] is None.

    Z[l] = W[l] A[l-1] + b[l]   # (n[l], m), b broadcast over the m columns
    A[l] = g[l](Z[l])
    With `dropout` {l: (D[l], keep_prob[l])} (hidden layers only): A[l] = A[l] * D[l] / keep_prob[l].
    A batch-normalised layer (gamma{l} in params): Z[l] = W[l] A[l-1], then Zs[l] is
    Z~[l] = gamma Z^ + beta (see batch_norm_forward), over the batch when `training`, with the
    running averages otherwise; `stats`, a dict, receives each layer's batch (mu, sigma^2).
    """
    L = layer_count(params)
    normalised = normalised_layers(params)
    dropout = dropout or {}
    Zs: list  # Zs[0] is None, Zs[l] an array: no list type says both
    Zs, As = [None], [X]
    for l in range(1, L + 1):
        Z = params[f"W{l}"] @ As[l - 1]
        if l in normalised:
            running = None if training else (params[f"running_mean{l}"], params[f"running_var{l}"])
            Z, _, _, mu, var = batch_norm_forward(Z, params[f"gamma{l}"], params[f"beta{l}"], epsilon, running)
            if training and stats is not None:
                stats[l] = (mu, var)
        else:
            Z += params[f"b{l}"]
        A = ACTIVATIONS[activations[l - 1]].forward(Z)
        if l in dropout:
            D, keep = dropout[l]
            A = A * D
            A = A / keep
        As.append(A)
        Zs.append(Z)
    return Zs, As


def predict_proba(X: Array, params: dict[str, Array], activations: Sequence[str], epsilon: float = BATCH_NORM_EPSILON) -> Array:
    """The network's output A[L] (units, m): P(label 1) for a sigmoid output, the k classes'
    probabilities for a softmax one, a value otherwise. Inference mode: batch norm uses the
    running averages, so each example's output is its own, whatever the batch."""
    _, As = forward(X, params, activations, epsilon=epsilon)
    return As[-1]
