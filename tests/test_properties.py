"""Property-based tests (hypothesis): the spec parser never crashes, the math holds on random shapes."""

from __future__ import annotations

import numpy as np
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.spec.config import Spec, dump_spec, parse_yaml, validate
from nnctl.errors import ConfigError
from nnctl.core.network import forward, initialize_parameters
from oracle import backward, update_parameters, update_running_averages
from nnctl.core.training import Trainer
from test_network import gradient_check

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(list(ACTIVATION_NAMES) + ["normal", "xavier", "he", "zeros", "float32", "adam", "inverse_time", "course"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
keys = st.sampled_from(
    [
        "data",
        "model",
        "train",
        "name",
        "runs_dir",
        "sweep",
        "train.learning_rate",
        "train.iterations",
        "train.seed",
        "model.hidden",
        "model.layers",
        "model.init",
        "model.activations",
        "model.hidden_activation",
        "train.dtype",
        "data.train",
        "data.test",
        "model.loss",
        "train.first_layer",
        "bogus",
        "model.init_scale",
        "train.epochs",
        "train.batch_size",
        "train.optimizer",
        "train.decay",
        "train.shuffle",
        "train.beta1",
        "train.time_interval",
        "model.batch_norm",
        "model.batch_norm_momentum",
        "model.batch_norm_epsilon",
    ]
)


def _build(pairs):
    raw = {"data": {"train": "t.h5"}, "train": {"learning_rate": 0.1, "iterations": 3}}
    for key, value in pairs:
        node = raw
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {}) if isinstance(node.get(p, {}), dict) else node
        if isinstance(node, dict):
            node[parts[-1]] = value
    return raw


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(keys, values), max_size=5))
def test_spec_parser_gives_a_spec_or_one_config_error(pairs):
    raw = _build(pairs)
    try:
        spec = validate(raw, "x.yaml")
    except ConfigError as exc:
        # one line per error (ConfigError.lines); a value's own control characters (a newline in a name) stay raw
        # in the exception and are escaped where the CLI prints it (nnctl.util.text.visible)
        assert exc.lines and all(line.startswith("x.yaml: ") for line in exc.lines)
        return
    assert isinstance(spec, Spec)
    again = validate(parse_yaml(dump_spec(spec), "y.yaml"), "y.yaml")  # the dump trains as it is
    assert again == spec


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_any_text_parses_or_fails_cleanly(text):
    try:
        raw = parse_yaml(text, "t.yaml")
    except ConfigError:
        return
    try:
        validate(raw, "t.yaml")
    except ConfigError:
        pass


shapes = st.tuples(
    st.integers(1, 5),  # n_x
    st.lists(st.integers(1, 4), max_size=3),  # hidden sizes
    st.integers(1, 6),  # m
    st.sampled_from(ACTIVATION_NAMES),
    st.integers(0, 2**31 - 1),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(shapes, st.sampled_from(["cross_entropy", "mse"]))
def test_gradient_check_random_networks(shape, loss):
    n_x, hidden, m, act, seed = shape
    rng = np.random.default_rng(seed)
    dims = [n_x, *hidden, 1]
    params = initialize_parameters(dims, "normal", 1.0, rng)
    for l in range(1, len(dims)):
        params[f"b{l}"] += rng.uniform(-0.5, 0.5, params[f"b{l}"].shape)
    X = rng.standard_normal((n_x, m))
    # mse with a softmax output is refused by the spec (one softmax unit is the constant 1): linear there
    output = "sigmoid" if loss == "cross_entropy" else act if act != "softmax" else "linear"
    acts = [act] * len(hidden) + [output]
    Zs, _ = forward(X, params, acts)
    # stay away from the kinks of relu-like units, where a finite difference straddles two slopes
    assume(all(np.abs(Z).min() > 1e-3 for Z in Zs[1:]))
    if output in ("relu", "leaky_relu"):
        assume((Zs[-1] > 0).any())
    Y = (rng.random((1, m)) > 0.5).astype(float) if loss == "cross_entropy" else rng.standard_normal((1, m))
    _, As = forward(X, params, acts)
    if np.allclose(backward(Y, params, Zs, As, acts, loss)["dW1"], 0) and output == "relu":
        return
    assert gradient_check(X, Y, params, acts, loss) < 1e-6


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["primal", "dual"]))
def test_trainer_step_equals_course_math(shape, path):
    """One Trainer iteration (buffers, in place) against forward/backward/update written plainly."""
    n_x, hidden, m, act, seed = shape
    rng = np.random.default_rng(seed)
    dims = [n_x, *hidden, 1]
    acts = [act] * len(hidden) + ["sigmoid"]
    ref = initialize_parameters(dims, "he", rng=rng)
    params = {k: v.copy() for k, v in ref.items()}
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    trainer = Trainer(params, X, Y, acts, "cross_entropy", 0.3, path)
    for _ in range(3):
        trainer.forward()
        assert trainer.backward_and_update()
        Zs, As = forward(X, ref, acts)
        update_parameters(ref, backward(Y, ref, Zs, As, acts, "cross_entropy"), 0.3)
    trainer.materialize()
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-10, atol=1e-13)


@settings(max_examples=40, deadline=None)
@given(shapes, st.sampled_from(["primal", "dual"]), st.data())
def test_trainer_step_with_batch_norm_equals_course_math(shape, path, data):
    """The same with batch norm on a drawn set of hidden layers: three Trainer steps against the
    pure forward (training mode), backward, update and running averages; `m` >= 2 (one example
    has no variance, refused by the spec)."""
    n_x, hidden, m, act, seed = shape
    assume(hidden and m >= 2)
    normalised = data.draw(st.lists(st.integers(1, len(hidden)), min_size=1, unique=True))
    rng = np.random.default_rng(seed)
    dims = [n_x, *hidden, 1]
    acts = [act] * len(hidden) + ["sigmoid"]
    ref = initialize_parameters(dims, "he", rng=rng, batch_norm=normalised)
    params = {k: v.copy() for k, v in ref.items()}
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) > 0.5).astype(float)
    trainer = Trainer(params, X, Y, acts, "cross_entropy", 0.3, path, batch_norm_momentum=0.7)
    with np.errstate(all="ignore"):  # a softmax hidden layer of one unit is the constant 1: variance 0, as the math says
        for _ in range(3):
            trainer.forward()
            assert trainer.backward_and_update()
            stats = {}
            Zs, As = forward(X, ref, acts, training=True, stats=stats)
            update_parameters(ref, backward(Y, ref, Zs, As, acts, "cross_entropy"), 0.3)
            update_running_averages(ref, stats, 0.7, m)
    trainer.materialize()
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-8, atol=1e-10, err_msg=k)


def test_yaml_dump_is_plain_yaml():
    spec = validate({"data": {"train": "t.h5"}, "train": {"learning_rate": 0.1, "iterations": 3}}, "x")
    assert yaml.safe_load(dump_spec(spec))["train"]["iterations"] == 3
