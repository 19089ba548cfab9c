"""Gradient checking, as the course's "Gradient Checking" notebook does it.

The backprop under test is the Trainer's (the one training uses); the reference is the cost alone:
each parameter theta_i is moved by +-epsilon (1e-7) and gradapprox_i = (J(theta + eps e_i) -
J(theta - eps e_i)) / (2 eps), J from the pure forward pass and cost of nnctl.network (with the
L2 term when the spec has one). The verdict is the course's relative difference

    ||grad - gradapprox||_2 / (||grad||_2 + ||gradapprox||_2)

per layer (W[l] and b[l] together; W[l], gamma[l] and beta[l] on a batch-normalised layer, whose
cost is the training mode's, over the batch) and over every parameter checked. Its reading: below 1e-7
great, above 1e-3 almost surely a bug, in between worth a closer look. Always in float64 (epsilon =
1e-7 would be below float32's resolution). Dropout is refused: its cost changes with every mask,
so the course says to check backprop without it, then add it.

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

import numpy as np

from nnctl.errors import NnctlError
from nnctl.layers import BATCH_NORM_EPSILON
from nnctl.network import HEADS, compute_cost, forward
from nnctl.training import Trainer

EPSILON = 1e-7
GREAT, BUG = 1e-7, 1e-3
DROPOUT_REFUSAL = (
    "gradient checking does not work with dropout: its cost changes with every mask; check backprop "
    "without dropout (--set train.keep_prob=1), then add dropout back, as the course does"
)
KINKS = {"relu": 0.0, "leaky_relu": 0.0}  # activations with no derivative at one value of Z: that value


def kink_note(result) -> str:
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


def relative_difference(grad, approx) -> float:
    denominator = np.linalg.norm(grad) + np.linalg.norm(approx)
    return float(np.linalg.norm(grad - approx) / denominator) if denominator > 0 else 0.0


def gradient_check(params, X, Y, activations, loss, l2: float = 0.0, epsilon: float = EPSILON,
                   max_per_layer: int | None = None, seed: int = 0, reference_cost=None,
                   batch_norm_epsilon: float = BATCH_NORM_EPSILON) -> GradCheck:
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

    def cost():
        """J, and the side of its kink each kinked unit is on ((n[l], m) of -1, 0, 1 per kinked layer)."""
        Zs = None
        if reference_cost is None or kinked:
            Zs, As = forward(X, work, activations, training=True, epsilon=batch_norm_epsilon)
        J = float(reference_cost(work)) if reference_cost is not None else compute_cost(Zs[-1], As[-1], Y, loss, work, l2)
        return J, [np.sign(Zs[l] - KINKS[activations[l - 1]]) for l in kinked] if kinked else []

    _, sides = cost()

    sizes = dict.fromkeys(range(1, L + 1), 0)  # numbers each layer trains (W1, b1, gamma2, ...: the layout's names end in l)
    for name, start, stop, _ in trainer.optimizer.layout:
        sizes[int(re.search(r"[0-9]+$", name).group())] += stop - start
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


def check_spec(spec, examples: int = 8, random_data: bool = False, max_per_layer: int | None = 1000, where: str = "spec") -> GradCheck:
    """The network training builds from the spec (for k classes its softmax head), initialised as
    training would, on `examples` of its training data (a seeded choice; a streamed file reads only
    those) or on seeded random data of its input size and classes."""
    from nnctl.errors import ConfigError
    from nnctl.experiment import load_inputs, make_rng
    from nnctl.network import initialize_parameters

    if spec.train.dropout:
        raise ConfigError(f"{where}: train.keep_prob: {DROPOUT_REFUSAL}")
    if spec.model.batch_norm and examples < 2:
        raise ConfigError(
            f"{where}: model.batch_norm: one example has variance 0, so every normalised unit is 0 and every "
            "gradient before it is 0: nothing to check; use --examples 2 or more"
        )
    rng = np.random.default_rng(np.random.SeedSequence(spec.train.seed, spawn_key=(4,)))
    classification = spec.model.resolved_task == "classification"
    k = 2
    if random_data:
        from nnctl.data import peek_classes, peek_n_x

        n_x = spec.model.layers[0] if spec.model.layers is not None else peek_n_x(spec.data.train)
        if n_x is None:
            raise ConfigError(f"{where}: data.train cannot be read for its input size; give model.layers with --random")
        k = _classes_of(spec, peek_classes) if classification else 0
        X = rng.standard_normal((n_x, examples))
        Y = rng.integers(0, k, (1, examples)).astype(np.float64) if classification else rng.standard_normal((1, examples))
    else:
        inputs = load_inputs(spec)
        train, spec = inputs.train, inputs.spec or spec  # a table's target may have chosen the task
        if spec.model.resolved_task == "classification":
            spec, k = spec.for_classes(train.k), train.k  # over two classes: softmax, k units
        pick = np.sort(rng.choice(train.m, min(examples, train.m), replace=False))
        X, Y = _columns(train.X, pick), train.Y[:, pick]  # a streamed file: only these examples are read
        if inputs.target.active:  # the problem training solves: the regression's targets standardised
            Y = inputs.target.apply(Y, np.float64)
        n_x = train.n_x
    if random_data and classification:
        spec = spec.for_classes(k)  # as training does: over two classes a softmax head unless the spec chose one
    resolved = spec.resolved(spec.layer_dims(n_x, k))
    m = spec.model
    params = initialize_parameters(resolved.model.layers, m.init, m.init_scale, make_rng(spec), np.float64, resolved.model.normalised_layers)
    return gradient_check(params, X, Y, resolved.model.activations, resolved.model.loss, spec.train.l2,
                          max_per_layer=max_per_layer, seed=spec.train.seed, batch_norm_epsilon=m.batch_norm_epsilon)


def _classes_of(spec, peek_classes) -> int:
    """k for random labels: the softmax layer's units where model.layers gives them, else the data's."""
    from nnctl.network import HEADS

    if spec.model.layers is not None and HEADS[spec.model.resolved_loss].max_classes is None:
        return spec.model.layers[-1]
    return peek_classes(spec.data.train)


def _columns(X, pick) -> np.ndarray:
    """Examples `pick` (increasing) of X (n_x, m) in memory or streamed from its file: (n_x, len(pick))."""
    if isinstance(X, np.ndarray):
        return X[:, pick]
    from nnctl.data import open_h5

    rows = np.empty((pick.size, X.n_x), X.stored)
    with open_h5(X.path) as f:
        X.read_sorted(pick, rows, f[X.key])
    out = np.empty((pick.size, X.n_x), X.dtype)
    X.convert(rows, out)
    return out.T
