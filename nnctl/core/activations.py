"""The activation table: each name maps to its forward function and its backward step.

`forward(Z, out, work)` returns A = g(Z) and may work in place (`out=Z`); `work`, a (1, m) buffer,
spares softmax its per-column temporaries. `backward(dA, A)` returns
dZ = dA * g'(Z), written over dA, with g'(Z) expressed through A = g(Z) alone and computed in
A's own memory: backward consumes A. The training loop calls it only once A[l] has served its
last use in the iteration, so a layer needs no array beyond A[l] and dZ[l]. Everything else (the
config's valid names, error messages) reads this one table. Every function works on NumPy or
CuPy arrays alike: `xp` is the array's own module (nnctl.core.backend.namespace).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from nnctl.core.backend import Array, namespace

LEAKY_SLOPE = 0.01


def _exp_limit(dtype: np.dtype) -> float:
    # largest x with exp(x) finite in this dtype, less a margin: 708 for float64, 87 for float32
    return float(np.floor(np.log(np.finfo(dtype).max))) - 1.0


def sigmoid(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    """1 / (1 + exp(-Z)), the course's formula, with -Z clipped so exp never overflows."""
    xp = namespace(Z)
    lim = _exp_limit(Z.dtype)
    out = xp.negative(Z, out=out)
    xp.clip(out, -lim, lim, out=out)
    xp.exp(out, out=out)
    out += 1
    return xp.reciprocal(out, out=out)


def _sigmoid_backward(dA: Array, A: Array) -> Array:
    xp = namespace(dA)
    dA *= A  # the course's order: dA * s * (1 - s)
    xp.subtract(1, A, out=A)
    dA *= A
    return dA


def tanh(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    xp = namespace(Z)
    return xp.tanh(Z, out=out)


def _tanh_backward(dA: Array, A: Array) -> Array:
    xp = namespace(A)
    xp.multiply(A, A, out=A)  # g'(Z) = 1 - A^2
    xp.subtract(1, A, out=A)
    dA *= A
    return dA


def relu(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    xp = namespace(Z)
    return xp.maximum(Z, 0, out=out)


def _relu_backward(dA: Array, A: Array) -> Array:
    # g'(Z) = 1 where Z > 0 (A > 0), else 0; a comparison, not np.sign, which is ten times
    # slower on the half-zero arrays relu makes
    xp = namespace(A)
    dA *= xp.greater(A, 0, out=A)
    return dA


def leaky_relu(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    xp = namespace(Z)
    return xp.maximum(Z, LEAKY_SLOPE * Z, out=out)


def _leaky_relu_backward(dA: Array, A: Array) -> Array:
    xp = namespace(A)
    xp.greater(A, 0, out=A)  # 1 where A > 0, else 0
    xp.maximum(A, LEAKY_SLOPE, out=A)  # g'(Z) = 1 where A > 0, else the slope
    dA *= A
    return dA


def linear(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    if out is None:
        return Z.copy()
    if out is not Z:
        out[...] = Z
    return out


def _linear_backward(dA: Array, A: Array) -> Array:
    return dA


def softmax(Z: Array, out: Array | None = None, work: Array | None = None) -> Array:
    """e^Z / sum over the k rows of e^Z, per column. The column's largest logit is subtracted first
    (the quotient is unchanged), so exp never overflows and the sum is at least 1. `work`: a (1, m)
    buffer for the per-column max and sum (the training loop's, so that a step allocates nothing)."""
    xp = namespace(Z)
    top = Z.max(axis=0, keepdims=True, out=work)
    out = xp.subtract(Z, top, out=out)
    xp.exp(out, out=out)
    out /= out.sum(axis=0, keepdims=True, out=work)
    return out


def _softmax_backward(dA: Array, A: Array) -> Array:
    # g'(Z) is the Jacobian diag(a) - a a^T per column: dZ = A * (dA - sum_k dA_k A_k)
    xp = namespace(dA)
    dA -= xp.einsum("ij,ij->j", dA, A)
    dA *= A
    return dA


class Activation(NamedTuple):
    forward: Callable
    backward: Callable


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(sigmoid, _sigmoid_backward),
    "tanh": Activation(tanh, _tanh_backward),
    "relu": Activation(relu, _relu_backward),
    "leaky_relu": Activation(leaky_relu, _leaky_relu_backward),
    "linear": Activation(linear, _linear_backward),
    "softmax": Activation(softmax, _softmax_backward),
}

ACTIVATION_NAMES = tuple(ACTIVATIONS)
