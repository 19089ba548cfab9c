"""The softmax head: gradient checks, a 3-class example by hand, stability, the fast Trainer and the
dual path against the reference, and k = 2 softmax against the sigmoid head."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATION_NAMES, softmax
from nnctl.core.network import HEADS, compute_cost, forward, initialize_parameters
from oracle import backward
from nnctl.core.optimizers import make_optimizer
from nnctl.core.training import Trainer, gradient_descent
from test_network import gradient_check

CCE = "categorical_cross_entropy"


def _problem(depth, hidden, k, seed, dtype=np.float64, m=7):
    rng = np.random.default_rng(seed)
    dims = [4] + [5, 3, 4][:depth] + [k]
    params = initialize_parameters(dims, "normal", 1.0, rng)
    for l in range(1, depth + 2):  # non-zero biases: no relu sits exactly on its kink at 0
        params[f"b{l}"] += rng.uniform(0.1, 0.5, params[f"b{l}"].shape)
    X = rng.standard_normal((4, m))
    labels = rng.integers(0, k, m)
    Y = HEADS[CCE].encode(labels.reshape(1, m), k, np.float64)
    acts = [hidden] * depth + ["softmax"]
    return X.astype(dtype), Y.astype(dtype), {key: v.astype(dtype) for key, v in params.items()}, acts


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("hidden", ACTIVATION_NAMES)
def test_gradient_check_softmax_head(depth, hidden):
    X, Y, params, acts = _problem(depth, hidden, 3, seed=20 + depth)
    assert gradient_check(X, Y, params, acts, CCE) < 1e-7


@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("hidden", ACTIVATION_NAMES)
def test_float32_gradients_of_the_softmax_head(depth, hidden):
    """float32 backprop (reference and Trainer) against float64 gradients that pass the check above."""
    X, Y, params, acts = _problem(depth, hidden, 4, seed=30 + depth)
    Zs, As = forward(X, params, acts)
    exact = backward(Y, params, Zs, As, acts, CCE)
    X32, Y32 = X.astype(np.float32), Y.astype(np.float32)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    Zs, As = forward(X32, p32, acts)
    assert As[-1].dtype == np.float32
    g32 = backward(Y32, p32, Zs, As, acts, CCE)
    scale = max(float(np.abs(g).max()) for g in exact.values())
    for key, g in exact.items():
        assert g32[key].dtype == np.float32
        np.testing.assert_allclose(g32[key], g, atol=2e-5 * scale, rtol=1e-3)
    trainer = Trainer(p32, X32, Y32, acts, CCE, 0.1)
    trainer.forward()
    assert trainer.backward()
    for l in range(2, depth + 2):
        np.testing.assert_allclose(trainer.dW[l], exact[f"dW{l}"], atol=2e-5 * scale, rtol=1e-3)
    assert trainer.cost() == pytest.approx(compute_cost(Zs[-1], As[-1], Y32, CCE), rel=1e-5)


def test_three_classes_by_hand():
    # one layer, two features, three classes, two examples
    W = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    b = np.array([[0.0], [0.0], [-1.0]])
    X = np.array([[1.0, 0.0], [0.0, 2.0]])  # example 1 = (1, 0), example 2 = (0, 2)
    Y = np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]])  # classes 0 and 2
    Zs, As = forward(X, {"W1": W, "b1": b}, ["softmax"])
    # Z = [[1, 0], [0, 2], [0, 1]]; column 1: e^1, e^0, e^0; column 2: e^0, e^2, e^1
    np.testing.assert_array_equal(Zs[1], [[1.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    s1, s2 = np.e + 2, 1 + np.e**2 + np.e
    np.testing.assert_allclose(As[1], [[np.e / s1, 1 / s2], [1 / s1, np.e**2 / s2], [1 / s1, np.e / s2]], rtol=1e-15)
    # J = -(1/2)(log a_0 of example 1 + log a_2 of example 2) = -(1/2)((1 - log s1) + (1 - log s2))
    J = -0.5 * ((1 - np.log(s1)) + (1 - np.log(s2)))
    assert compute_cost(Zs[1], As[1], Y, CCE) == pytest.approx(J, rel=1e-14)
    grads = backward(Y, {"W1": W, "b1": b}, Zs, As, ["softmax"], CCE)
    dZ = As[1] - Y
    np.testing.assert_allclose(grads["dW1"], dZ @ X.T / 2, rtol=1e-15)
    np.testing.assert_allclose(grads["db1"], dZ.mean(axis=1, keepdims=True), rtol=1e-15)
    # the head's reading: example 1 is class 0, example 2 class 1 (a wrong guess: its label is 2)
    assert HEADS[CCE].predict(As[1]).tolist() == [0, 1]
    assert HEADS[CCE].encode(np.array([[0, 2]]), 3, np.float64).tolist() == Y.tolist()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cost_finite_for_saturated_logits(dtype):
    Z = np.array([[1000.0, -1000.0, 1000.0], [-1000.0, 1000.0, 1000.0], [0.0, 0.0, -1000.0]], dtype=dtype)
    Y = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow, underflow-to-log(0) or invalid warning fails
        A = softmax(Z.copy())
        J = compute_cost(Z, A, Y, CCE)
    assert np.isfinite(A).all() and np.allclose(A.sum(axis=0), 1)
    # cost = logsumexp(z) - z_label: example 1 right (1000 - 1000 = 0), example 2 1000 - (-1000),
    # example 3 (1000 + log 2) - (-1000)
    assert J == pytest.approx((0 + 2000 + 2000 + np.log(2)) / 3, rel=1e-6)
    assert A.dtype == dtype


def test_softmax_backward_is_its_jacobian():
    rng = np.random.default_rng(3)
    Z, dA = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    A = softmax(Z.copy())
    want = np.stack([(np.diag(a) - np.outer(a, a)) @ d for a, d in zip(A.T, dA.T)], axis=1)
    from nnctl.core.activations import ACTIVATIONS

    np.testing.assert_allclose(ACTIVATIONS["softmax"].backward(dA.copy(), A.copy()), want, rtol=1e-12)


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "rmsprop", "adam"])
def test_trainer_equals_reference_for_k_classes(optimizer):
    X, Y, params, acts = _problem(2, "relu", 5, seed=4, m=40)
    ref = {k: v.copy() for k, v in params.items()}
    trainer = Trainer(params, X, Y, acts, CCE, optimizer=make_optimizer(optimizer, 0.05), batch_size=16)
    trainer.use_batch(np.arange(16))
    trainer.forward()
    assert trainer.backward()
    Zs, As = forward(X[:, :16], ref, acts)
    grads = backward(Y[:, :16], ref, Zs, As, acts, CCE)
    np.testing.assert_allclose(trainer.grad[:20].reshape(5, 4), grads["dW1"], rtol=1e-12)
    np.testing.assert_allclose(trainer.dW[3], grads["dW3"], rtol=1e-12)
    assert trainer.cost() == pytest.approx(compute_cost(Zs[-1], As[-1], Y[:, :16], CCE), rel=1e-12)
    result = gradient_descent(trainer, 30, 10)
    assert result.status == "completed" and result.costs[-1][1] < result.costs[0][1]


def test_dual_path_exact_for_the_softmax_head():
    """dZ[L] = A - Y: W1 stays W1_0 + C X^T, so the dual path trains the same network."""
    X, Y, params, acts = _problem(1, "tanh", 3, seed=5, m=6)  # m < n_x is where dual is chosen; exact for any m
    runs = {}
    for path in ("primal", "dual"):
        p = {k: v.copy() for k, v in params.items()}
        trainer = Trainer(p, X, Y, acts, CCE, 0.3, path=path)
        gradient_descent(trainer, 50, 10)
        runs[path] = trainer.materialize()
    for key in params:
        np.testing.assert_allclose(runs["dual"][key], runs["primal"][key], rtol=1e-9, atol=1e-12)


def test_two_class_softmax_is_the_sigmoid_head():
    """A sigmoid unit z equals a softmax over (0, z): the same probabilities and predictions."""
    rng = np.random.default_rng(6)
    z = rng.standard_normal((1, 50)) * 4
    a = HEADS["cross_entropy"].proba(1 / (1 + np.exp(-z)))
    s = softmax(np.vstack([np.zeros_like(z), z]))
    np.testing.assert_allclose(s, a, rtol=1e-12, atol=1e-15)
    assert np.array_equal(HEADS[CCE].predict(s), HEADS["cross_entropy"].predict(a[1:]))


def test_sigmoid_head_reads_labels_and_outputs_as_before():
    """The binary path through the head table: Y is the labels as they were ((1, m), the training dtype),
    a prediction is A > 0.5, and the accuracy is the old formula's, bit for bit."""
    from nnctl.data.dataset import Dataset
    from nnctl.rundir.metrics import evaluate_dataset

    rng = np.random.default_rng(8)
    labels = (rng.random((1, 40)) > 0.5).astype(np.int64)
    for dtype in (np.float64, np.float32):
        Y = HEADS["cross_entropy"].encode(labels, 1, dtype)
        assert Y.dtype == dtype and Y.tobytes() == labels.astype(dtype).tobytes()
    X = rng.standard_normal((3, 40))
    params = initialize_parameters([3, 4, 1], "he", rng=rng)
    AL = forward(X, params, ["tanh", "sigmoid"])[1][-1]
    assert np.array_equal(HEADS["cross_entropy"].predict(AL), (AL[0] > 0.5).astype(int))
    got = evaluate_dataset(params, ["tanh", "sigmoid"], Dataset(X, labels), "cross_entropy")
    assert got["accuracy"] == float(np.mean((AL > 0.5) == (labels > 0.5)) * 100)


def test_every_loss_has_its_head():
    from nnctl.core.network import LOSSES, auto_loss

    assert set(HEADS) == set(LOSSES)
    assert auto_loss("softmax") == CCE and auto_loss("sigmoid") == "cross_entropy" and auto_loss("linear") == "mse"
    for name, head in HEADS.items():
        if head.proba is not None:  # a classifier: k classes in units(k) units, read back as k
            assert all(head.classes(head.units(k)) == k for k in (2, 3, 10) if head.max_classes is None or k <= head.max_classes)
