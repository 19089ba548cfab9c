"""The activation table: each name maps to its forward function and its backward step.

`forward(Z, out)` returns A = g(Z) and may work in place (`out=Z`). `backward(dA, A, scratch)`
returns dZ = dA * g'(Z), written over dA, with g'(Z) expressed through A = g(Z) alone, so the
training loop keeps one array per layer. `scratch` is an optional buffer shaped like A. Everything
else (the config's valid names, error messages) reads this one table.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

LEAKY_SLOPE = 0.01


def _exp_limit(dtype) -> float:
    # largest x with exp(x) finite in this dtype, less a margin: 708 for float64, 87 for float32
    return float(np.floor(np.log(np.finfo(dtype).max))) - 1.0


def _scratch(A, scratch):
    return np.empty_like(A) if scratch is None else scratch


def sigmoid(Z, out=None):
    """1 / (1 + exp(-Z)), the course's formula, with -Z clipped so exp never overflows."""
    lim = _exp_limit(Z.dtype)
    out = np.negative(Z, out=out)
    np.clip(out, -lim, lim, out=out)
    np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _sigmoid_backward(dA, A, scratch=None):
    s = np.subtract(1, A, out=_scratch(A, scratch))  # g'(Z) = A (1 - A), as the course: dA * s * (1 - s)
    dA *= A
    dA *= s
    return dA


def tanh(Z, out=None):
    return np.tanh(Z, out=out)


def _tanh_backward(dA, A, scratch=None):
    s = np.multiply(A, A, out=_scratch(A, scratch))  # g'(Z) = 1 - A^2
    np.subtract(1, s, out=s)
    dA *= s
    return dA


def relu(Z, out=None):
    return np.maximum(Z, 0, out=out)


def _relu_backward(dA, A, scratch=None):
    dA *= np.sign(A, out=_scratch(A, scratch))  # g'(Z) = 1 where Z > 0 (A > 0), else 0
    return dA


def leaky_relu(Z, out=None):
    return np.maximum(Z, LEAKY_SLOPE * Z, out=out)


def _leaky_relu_backward(dA, A, scratch=None):
    s = _scratch(A, scratch)  # g'(Z) = 1 where A > 0, else the slope
    s.fill(LEAKY_SLOPE)
    np.copyto(s, 1, where=A > 0)
    dA *= s
    return dA


def linear(Z, out=None):
    if out is None:
        return Z.copy()
    if out is not Z:
        np.copyto(out, Z)
    return out


def _linear_backward(dA, A, scratch=None):
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
