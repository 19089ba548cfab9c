"""Gradient checking, as the course's "Gradient Checking" notebook does it.

The backprop under test is the Trainer's (the one training uses); the reference is the cost alone:
each parameter theta_i is moved by +-epsilon (1e-7) and gradapprox_i = (J(theta + eps e_i) -
J(theta - eps e_i)) / (2 eps), J from the pure forward pass and cost of nnctl.core.network (with the
L2 term when the spec has one). The verdict is the course's relative difference

    ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

per layer (W[l] and b[l] together; W[l], gamma[l] and beta[l] on a batch-normalised layer, whose
cost is the training mode's, over the batch) and over every parameter checked. Its reading: below 1e-7
great, above 1e-3 almost surely a bug, in between worth a closer look. Always in float64 (epsilon =
1e-7 would be below float32's resolution). Dropout is refused: its cost changes with every mask,
so the course says to check backprop without it, then add it. Arrays in, a verdict out: the network
a spec builds, on its data, is nnctl.experiment.gradcheck's (`nnctl gradcheck`).

Kinks: ReLU and leaky ReLU have no derivative at Z = 0. Where theta_i +- epsilon moves some unit's Z
across (or off) that kink, (J+ - J-) / (2 eps) averages two one-sided slopes (0.5 x slope for ReLU)
while backprop takes one side: not a bug, and no derivative to compare. Such parameters are found
exactly (the side of every kinked unit, for every example, at theta, theta + eps e_i and
theta - eps e_i), left out of the comparison and counted (LayerCheck.excluded); the table says
how many and why. A standardised one-example data set (X = 0, b = 0: every Z on the kink) was the
false alarm this answers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import numpy.typing as npt

from nnctl.errors import NnctlError
from nnctl.core.layers import BATCH_NORM_EPSILON
from nnctl.core.network import HEADS, compute_cost, forward
from nnctl.core.training import Trainer

EPSILON = 1e-7
GREAT, BUG = 1e-7, 1e-3
DROPOUT_REFUSAL = (
    "gradient checking does not work with dropout: its cost changes with every mask; check backprop "
    "without dropout (--set train.keep_prob=1), then add dropout back, as the course does"
)
KINKS = {"relu": 0.0, "leaky_relu": 0.0}  # activations with no derivative at one value of Z: that value


def kink_note(result: GradCheck) -> str:
    """One line on the parameters left out at a kink ('' when none)."""
    if not result.excluded:
        return ""
    names = " and ".join(sorted(set(result.kinked)))
    return (
        f"{result.excluded} of {result.excluded + sum(x.checked for x in result.layers)} parameters not compared: moving "
        f"them by +-epsilon moves a unit's Z across the kink of {names} at Z = 0, where the cost has no derivative "
        "(central differences average the two one-sided slopes, backprop takes one)"
    )


def reading(difference: float) -> str:
    """The course's reading of a relative difference."""
    if not np.isfinite(difference):
        return "not a number: the cost or gradient is not finite here"
    if difference < GREAT:
        return "great: backprop agrees with the cost's slope"
    if difference > BUG:
        return "a bug: backprop disagrees with the cost's slope"
    return "fine but worth a closer look"


@dataclass
class LayerCheck:
    layer: int
    checked: int  # parameters compared
    total: int  # parameters of the layer
    difference: float  # nan when every drawn parameter was excluded
    excluded: int = 0  # drawn but not compared: +-epsilon crosses a kink (see KINKS)


@dataclass
class GradCheck:
    layers: list = field(default_factory=list)
    difference: float = 0.0
    epsilon: float = EPSILON
    m: int = 0
    l2: float = 0.0  # the L2 term the cost and the gradients were checked with
    excluded: int = 0  # parameters left out at a kink, all layers
    kinked: tuple = ()  # the non-smooth activations of the network
    notes: list = field(default_factory=list)  # what the check changed of what it was asked (nnctl gradcheck prints each)


def relative_difference(grad: np.ndarray, approx: np.ndarray) -> float:
    denominator = np.linalg.norm(grad) + np.linalg.norm(approx)
    return float(np.linalg.norm(grad - approx) / denominator) if denominator > 0 else 0.0


def gradient_check(
    params: dict[str, np.ndarray],
    X: npt.ArrayLike,
    Y: npt.ArrayLike,
    activations: Sequence[str],
    loss: str,
    l2: float = 0.0,
    epsilon: float = EPSILON,
    max_per_layer: int | None = None,
    seed: int = 0,
    reference_cost: Callable[[dict[str, np.ndarray]], float] | None = None,
    batch_norm_epsilon: float = BATCH_NORM_EPSILON,
) -> GradCheck:
    """Check the Trainer's gradients of `params` on X (n_x, m), Y (1, m) (or one-hot (k, m) for
    softmax) against central differences.

    `reference_cost(params)`: another J to differentiate (default: nnctl's, from Z[L] with logaddexp).
    The course's -log(a) and -log(1 - a) lose digits where a is near 1, and central differences
    magnify that: on the course's network its J gives 1.19e-7, nnctl's about 1e-9, with the same
    gradients (tests/test_gradcheck.py shows both).

    With `max_per_layer`, a layer with more parameters has that many of them checked, drawn from
    a generator seeded with `seed` (every one of the course's small networks is checked whole).
    """
    X = np.asarray(X, np.float64)
    Y = np.asarray(Y, np.float64)
    L = len(activations)
    if Y.ndim == 1 or Y.shape[0] == 1:  # labels (1, m): as the loss takes them (one-hot (k, m) for softmax)
        Y = HEADS[loss].encode(Y.reshape(1, -1), params[f"W{L}"].shape[0], np.float64)
    work = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    trainer = Trainer(work, X, Y, activations, loss, learning_rate=1.0, l2=l2, batch_norm_epsilon=batch_norm_epsilon)
    with np.errstate(all="ignore"):
        trainer.forward()
        trainer.backward()
    grad = trainer.grad.copy()
    theta = trainer.theta  # W1, b1, W2, b2, ... as the course's dictionary_to_vector; `work` views it

    kinked = [l for l in range(1, L + 1) if activations[l - 1] in KINKS]

    def cost() -> tuple[float, list]:
        """J, and the side of its kink each kinked unit is on ((n[l], m) of -1, 0, 1 per kinked layer)."""
        Zs: list = []  # forward's, where the cost or the kinks need it
        if reference_cost is None or kinked:
            Zs, As = forward(X, work, activations, training=True, epsilon=batch_norm_epsilon)
        J = float(reference_cost(work)) if reference_cost is not None else compute_cost(Zs[-1], As[-1], Y, loss, work, l2)
        return J, [np.sign(Zs[l] - KINKS[activations[l - 1]]) for l in kinked] if kinked else []

    _, sides = cost()

    sizes = dict.fromkeys(range(1, L + 1), 0)  # numbers each layer trains (W1, b1, gamma2, ...: the layout's names end in l)
    for name, start, stop, _ in trainer.optimizer.layout:
        digits = re.search(r"[0-9]+$", name)
        assert digits is not None, name  # the layout's names end in their layer
        sizes[int(digits.group())] += stop - start
    rng = np.random.default_rng(seed)
    result = GradCheck(epsilon=epsilon, m=X.shape[1], l2=float(l2))
    all_g, all_a = [], []
    offset = 0
    with np.errstate(all="ignore"):
        for l in range(1, L + 1):
            size = sizes[l]
            index = np.arange(offset, offset + size)
            if max_per_layer is not None and size > max_per_layer:
                index = np.sort(rng.choice(index, max_per_layer, replace=False))
            approx = np.empty(index.size)
            smooth = np.ones(index.size, bool)
            for k, i in enumerate(index):
                old = theta[i]
                theta[i] = old + epsilon
                J_plus, plus = cost()
                theta[i] = old - epsilon
                J_minus, minus = cost()
                theta[i] = old
                approx[k] = (J_plus - J_minus) / (2 * epsilon)
                smooth[k] = all(np.array_equal(s, p) and np.array_equal(s, q) for s, p, q in zip(sides, plus, minus))
            g, a = grad[index][smooth], approx[smooth]
            difference = relative_difference(g, a) if smooth.any() else float("nan")
            result.layers.append(LayerCheck(l, int(smooth.sum()), size, difference, int(index.size - smooth.sum())))
            all_g.append(g)
            all_a.append(a)
            offset += size
    result.excluded = sum(layer.excluded for layer in result.layers)
    result.kinked = tuple(activations[l - 1] for l in kinked)
    if not any(layer.checked for layer in result.layers):
        raise NnctlError(
            f"every parameter checked moves a unit's Z across the kink of {' and '.join(sorted(set(result.kinked)))} at Z = 0, "
            "where the cost has no derivative: nothing to compare; use more examples (--examples) or --random"
        )
    result.difference = relative_difference(np.concatenate(all_g), np.concatenate(all_a))
    return result
