"""`nnctl gradcheck SPEC`: the network training builds from a spec, checked by nnctl.core.gradcheck.

The math (central differences against the Trainer's backprop, the course's reading) knows
parameters and arrays only; this module knows specs and data: it loads the examples, or draws
random ones of the spec's input size, and initialises the network as a run of the spec would.
"""

from __future__ import annotations

import numpy as np

from nnctl.data.dataset import open_h5, peek_classes, peek_n_x
from nnctl.errors import ConfigError
from nnctl.experiment.run import load_inputs, make_rng
from nnctl.core.gradcheck import DROPOUT_REFUSAL, EPSILON, GradCheck, gradient_check
from nnctl.core.network import HEADS, initialize_parameters


def check_spec(spec, examples: int = 8, random_data: bool = False, max_per_layer: int | None = 1000, where: str = "spec") -> GradCheck:
    """The network training builds from the spec (for k classes its softmax head), initialised as
    training would, on `examples` of its training data (a seeded choice; a streamed file reads only
    those) or on seeded random data of its input size and classes."""
    if spec.train.dropout:
        raise ConfigError(f"{where}: train.keep_prob: {DROPOUT_REFUSAL}")
    if spec.model.batch_norm and examples < 2:
        raise ConfigError(
            f"{where}: model.batch_norm: one example has variance 0, so every normalised unit is 0 and every "
            "gradient before it is 0: nothing to check; use --examples 2 or more"
        )
    notes = []
    if spec.train.dtype != "float64":
        notes.append(
            f"train.dtype is {spec.train.dtype}, but the check runs in float64: central differences with epsilon {EPSILON:g} "
            f"need float64's precision (in {spec.train.dtype}, a step of {EPSILON:g} is lost in rounding); training's formulas are the same"
        )
    rng = np.random.default_rng(np.random.SeedSequence(spec.train.seed, spawn_key=(4,)))
    classification = spec.model.resolved_task == "classification"
    k = 2
    if random_data:
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
        if examples > train.m:
            notes.append(f"--examples {examples}: the training set holds {train.m} examples, so the check uses all {train.m}")
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
    result = gradient_check(
        params,
        X,
        Y,
        resolved.model.activations,
        resolved.model.loss,
        spec.train.l2,
        max_per_layer=max_per_layer,
        seed=spec.train.seed,
        batch_norm_epsilon=m.batch_norm_epsilon,
    )
    result.notes = notes
    return result


def _classes_of(spec, peek_classes) -> int:
    """k for random labels: the softmax layer's units where model.layers gives them, else the data's."""
    if spec.model.layers is not None and HEADS[spec.model.resolved_loss].max_classes is None:
        return spec.model.layers[-1]
    return peek_classes(spec.data.train)


def _columns(X, pick) -> np.ndarray:
    """Examples `pick` (increasing) of X (n_x, m) in memory or streamed from its file: (n_x, len(pick))."""
    if isinstance(X, np.ndarray):
        return X[:, pick]
    rows = np.empty((pick.size, X.n_x), X.stored)
    with open_h5(X.path) as f:
        X.read_sorted(pick, rows, f[X.key])
    out = np.empty((pick.size, X.n_x), X.dtype)
    X.convert(rows, out)
    return out.T
