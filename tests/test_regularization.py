"""L2 and dropout (issue 12 §2): the Trainer against the course's formulas written out by hand,
against the pure reference functions, on both first-layer paths, and through a resumed run."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from nnctl.spec.config import load_config, validate
from nnctl.errors import ConfigError
from nnctl.experiment.run import resume_run, train_run
from nnctl.core.firstlayer import choose_first_layer
from nnctl.core.network import compute_cost, forward, initialize_parameters
from oracle import backward
from nnctl.core.optimizers import make_optimizer
from nnctl.core.regularization import Dropout, keep_probs_per_layer
from nnctl.core.training import Trainer, gradient_descent

ACTS = ["relu", "relu", "sigmoid"]


def _net(dims=(2, 5, 3, 1), m=7, seed=3):
    rs = np.random.RandomState(seed)
    X = rs.randn(dims[0], m)
    Y = (rs.rand(1, m) > 0.5).astype(np.float64)
    params = initialize_parameters(list(dims), "xavier", rng=np.random.RandomState(seed))
    return params, X, Y


def _grads(t: Trainer) -> dict:
    out = {"dW1": t.first.dW1.copy()}
    for l in range(1, t.L + 1):
        out[f"db{l}"] = t.db[l].copy()
        if l > 1:
            out[f"dW{l}"] = t.dW[l].copy()
    return out


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


# ---------------------------------------------------------------- L2


def test_l2_cost_and_gradient_are_the_course_formulas():
    params, X, Y = _net()
    lam, m = 0.7, X.shape[1]
    ref = _copy(params)
    Zs, As = forward(X, ref, ACTS)
    J = compute_cost(Zs[-1], As[-1], Y, "cross_entropy")
    penalty = sum(np.sum(np.square(ref[f"W{l}"])) for l in (1, 2, 3))
    t = Trainer(params, X, Y, ACTS, "cross_entropy", learning_rate=0.1, l2=lam)
    t.forward()
    # compute_cost_with_regularization: J + (1/m)(lambda/2) sum ||W||^2
    assert t.cost() == pytest.approx(J + 1 / m * lam / 2 * penalty, rel=1e-14)
    assert t.cost() > J + 0.01  # the penalty is there
    t.backward()
    plain = backward(Y, ref, Zs, As, ACTS, "cross_entropy")
    got = _grads(t)
    for l in (1, 2, 3):  # backward_propagation_with_regularization: dW + (lambda/m) W; db unchanged
        np.testing.assert_allclose(got[f"dW{l}"], plain[f"dW{l}"] + lam / m * ref[f"W{l}"], rtol=1e-13, atol=1e-16)
        np.testing.assert_array_equal(got[f"db{l}"], plain[f"db{l}"])
    ref_l2 = backward(Y, ref, Zs, As, ACTS, "cross_entropy", l2=lam)
    for k, v in ref_l2.items():
        np.testing.assert_allclose(got[k], v, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
def test_l2_with_mini_batches_uses_the_batch_size(optimizer):
    """m in lambda/m is the batch's examples, as the course and scikit-learn (alpha * W / n) do."""
    params, X, Y = _net(m=10)
    lam, idx = 0.5, np.array([7, 2, 5, 0])
    ref = _copy(params)
    t = Trainer(params, X, Y, ACTS, "cross_entropy", optimizer=make_optimizer(optimizer, 0.05), batch_size=4, l2=lam)
    t.use_batch(idx)
    t.forward()
    Zs, As = forward(X[:, idx], ref, ACTS)
    assert t.cost() == pytest.approx(compute_cost(Zs[-1], As[-1], Y[:, idx], "cross_entropy", ref, lam), rel=1e-14)
    t.backward()
    expected = backward(Y[:, idx], ref, Zs, As, ACTS, "cross_entropy", l2=lam)
    np.testing.assert_allclose(_grads(t)["dW2"], expected["dW2"], rtol=1e-13)
    before = t.theta.copy()
    t.step()
    assert not np.array_equal(before, t.theta)  # the optimizer took the regularised gradient


def test_l2_is_not_dual_exact_and_auto_takes_primal():
    path, reason = choose_first_layer("auto", n_x=12288, m=209, itemsize=8, memory_budget=1e12, l2=True)
    assert path == "primal" and "L2" in reason
    with pytest.raises(ConfigError, match=r"train.first_layer: dual is not exact here \(L2 regularisation"):
        validate({"data": {"train": "builtin:planar"}, "train": {"learning_rate": 1, "iterations": 1, "l2": 0.1, "first_layer": "dual"}}, "c.yaml")


# ---------------------------------------------------------------- dropout


def test_course_masks_and_formulas():
    """forward/backward_propagation_with_dropout of the notebook, written out, against the Trainer."""
    params, X, Y = _net(dims=(2, 20, 3, 1), m=9)
    kp, m = 0.86, X.shape[1]
    W1, b1, W2, b2, W3, b3 = (params[k].copy() for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    np.random.seed(1)
    Z1 = W1 @ X + b1
    A1 = np.maximum(0, Z1)
    D1 = np.random.rand(A1.shape[0], A1.shape[1]) < kp
    A1 = A1 * D1 / kp
    Z2 = W2 @ A1 + b2
    A2 = np.maximum(0, Z2)
    D2 = np.random.rand(A2.shape[0], A2.shape[1]) < kp
    A2 = A2 * D2 / kp
    A3 = 1 / (1 + np.exp(-(W3 @ A2 + b3)))
    dZ3 = A3 - Y
    dW3 = 1.0 / m * dZ3 @ A2.T
    dA2 = W3.T @ dZ3 * D2 / kp
    dZ2 = dA2 * (A2 > 0)
    dW2 = 1.0 / m * dZ2 @ A1.T
    dA1 = W2.T @ dZ2 * D1 / kp
    dZ1 = dA1 * (A1 > 0)
    dW1 = 1.0 / m * dZ1 @ X.T

    t = Trainer(params, X, Y, ACTS, "cross_entropy", learning_rate=0.3, dropout=Dropout(keep_probs_per_layer(kp, 3), "course"))
    for _ in range(2):  # the course reseeds at every forward pass: the same masks twice
        t.forward()
        np.testing.assert_array_equal(t.cur.D[1], D1)
        np.testing.assert_array_equal(t.cur.D[2], D2)
        np.testing.assert_allclose(t.cur.A[3], A3, rtol=1e-14)
    t.backward()
    g = _grads(t)
    for got, want in ((g["dW3"], dW3), (g["dW2"], dW2), (g["dW1"], dW1)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("hidden", ["tanh", "sigmoid", "leaky_relu"])
def test_dropout_matches_reference_functions(hidden):
    """g'(Z[l]) comes from the activation before its mask (A * D / keep_prob would be wrong for tanh)."""
    acts = [hidden, hidden, "sigmoid"]
    params, X, Y = _net(dims=(3, 6, 4, 1), m=8)
    ref = _copy(params)
    drop = Dropout(keep_probs_per_layer([0.7, 0.5], 3), "fresh", seed=5)
    t = Trainer(params, X, Y, acts, "cross_entropy", learning_rate=0.1, dropout=drop)
    t.forward()
    masks = {l: (t.cur.D[l].copy(), drop.keep[l]) for l in (1, 2)}
    Zs, As = forward(X, ref, acts, dropout=masks)
    assert t.cost() == pytest.approx(compute_cost(Zs[-1], As[-1], Y, "cross_entropy"), rel=1e-14)
    t.backward()
    expected = backward(Y, ref, Zs, As, acts, "cross_entropy", dropout=masks)
    for k, v in _grads(t).items():
        np.testing.assert_allclose(v, expected[k], rtol=1e-12, atol=1e-15)


def test_fresh_masks_are_new_each_step_and_seeded():
    params, X, Y = _net(dims=(2, 30, 1), m=50)

    def masks(seed, steps=3):
        t = Trainer(_copy(params), X, Y, ["relu", "sigmoid"], "cross_entropy", learning_rate=0.1, dropout=Dropout([0.5, 1.0], "fresh", seed))
        out = []
        for _ in range(steps):
            t.forward()
            out.append(t.cur.D[1].copy())
        return out

    a, b, c = masks(1), masks(1), masks(2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[0], c[0])
    assert 0.35 < a[0].mean() < 0.65  # keep_prob 0.5
    assert set(np.unique(a[0])) <= {0.0, 1.0}


def test_dropout_is_dual_exact():
    """Dropout masks hidden activations, never X: W1 stays W1_0 + C X^T (firstlayer.py)."""
    rs = np.random.RandomState(0)
    X, Y = rs.randn(40, 12), (rs.rand(1, 12) > 0.5).astype(float)
    params = initialize_parameters([40, 6, 1], "xavier", rng=np.random.RandomState(1))
    out = {}
    for path in ("primal", "dual"):
        t = Trainer(_copy(params), X, Y, ["tanh", "sigmoid"], "cross_entropy", learning_rate=0.5, path=path, dropout=Dropout([0.8, 1.0], "fresh", 3))
        gradient_descent(t, 60, record_every=10)
        out[path] = t.materialize()
    for k in out["primal"]:
        np.testing.assert_allclose(out["dual"][k], out["primal"][k], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    "train,message",
    [
        ({"keep_prob": [0.8]}, "train.keep_prob: the network has 2 hidden layers, so give 2 keep probabilities (got 1)"),
        ({"keep_prob": 0}, "train.keep_prob"),
        ({"keep_prob": 1.5}, "train.keep_prob"),
    ],
)
def test_keep_prob_checked(train, message):
    raw = {"data": {"train": "builtin:planar"}, "model": {"hidden": [4, 3]}, "train": {"learning_rate": 1, "iterations": 1, **train}}
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        validate(raw, "c.yaml")


def test_no_hidden_layer_no_dropout():
    raw = {"data": {"train": "builtin:planar"}, "model": {"hidden": []}, "train": {"learning_rate": 1, "iterations": 1, "keep_prob": 0.5}}
    with pytest.raises(ConfigError, match="dropout applies to hidden layers and this network has none"):
        validate(raw, "c.yaml")


# ---------------------------------------------------------------- resumed runs: every generator saved


SPEC = """\
name: reg
data:
  train: builtin:moons?m=120
  validation: 0.25
model:
  hidden: [8, 4]
train:
  learning_rate: 0.01
  optimizer: adam
  epochs: 40
  batch_size: 32
  seed: 4
  record_every: 5
  checkpoint_every: 7
  keep_prob: [0.8, 0.7]
  l2: 0.05
  early_stopping: {patience: 100, monitor: validation_accuracy}
"""


def _params(run_dir):
    with h5py.File(f"{run_dir}/params.h5") as f:
        return {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}


def test_interrupted_dropout_run_resumes_bit_for_bit(tmp_path):
    """Fresh masks, mini-batches, Adam, L2, a validation split and early stopping's best: stopped in
    the middle of an epoch and resumed, the run ends with the uninterrupted run's parameters, costs
    and validation curve."""
    cfg = tmp_path / "reg.yaml"
    cfg.write_text(SPEC)
    spec = load_config(cfg)
    whole = train_run(spec, runs_root=tmp_path / "a")
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] == 50  # step 50: epoch 12, batch 2 of 3

    part = train_run(spec, runs_root=tmp_path / "b", should_stop=stop)
    assert part.status == "interrupted"
    done = resume_run(part.run_dir)
    assert done.status == "completed" and done.iterations == whole.iterations == 120
    a, b = _params(whole.run_dir), _params(done.run_dir)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert (tmp_path / "a").glob("*/costs.csv")
    costs_a = open(f"{whole.run_dir}/costs.csv").read()
    assert costs_a == open(f"{done.run_dir}/costs.csv").read()
    assert costs_a.splitlines()[0] == "epoch,cost,iteration,train_accuracy,validation_cost,validation_accuracy"
