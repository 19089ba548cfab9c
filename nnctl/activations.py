"""The activation table: each name maps to its forward function and its backward step.

`forward(Z, out)` returns A = g(Z). `backward(dA, Z, A)` returns dZ = dA * g'(Z) and may
overwrite dA (callers pass a buffer they no longer need). Everything else (the config's
valid names, error messages) reads this one table.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01


def _exp_limit(dtype) -> float:
    # largest x with exp(x) finite in this dtype, less a margin: 708 for float64, 87 for float32
    return float(np.floor(np.log(np.finfo(dtype).max))) - 1.0


def sigmoid(Z, out=None):
    """1 / (1 + exp(-Z)), the course's formula, with -Z clipped so exp never overflows."""
    lim = _exp_limit(Z.dtype)
    out = np.negative(Z, out=out)
    np.clip(out, -lim, lim, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _sigmoid_backward(dA, Z, A):
    # g'(Z) = A (1 - A)
    dA *= A
    dA *= 1 - A
    return dA


def tanh(Z, out=None):
    return np.tanh(Z, out=out)


def _tanh_backward(dA, Z, A):
    # g'(Z) = 1 - A^2
    dA *= 1 - A * A
    return dA


def relu(Z, out=None):
    return np.maximum(Z, 0, out=out)


def _relu_backward(dA, Z, A):
    # g'(Z) = 1 where Z > 0, else 0
    dA *= Z > 0
    return dA


def leaky_relu(Z, out=None):
    return np.maximum(Z, LEAKY_SLOPE * Z, out=out)


def _leaky_relu_backward(dA, Z, A):
    dA *= np.where(Z > 0, 1.0, LEAKY_SLOPE).astype(dA.dtype, copy=False)
    return dA


def linear(Z, out=None):
    if out is None:
        return Z.copy()
    np.copyto(out, Z)
    return out


def _linear_backward(dA, Z, A):
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
}

ACTIVATION_NAMES = tuple(ACTIVATIONS)
