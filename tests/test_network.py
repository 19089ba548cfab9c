"""The math: gradient checks, a forward pass by hand, stability, dtype, seeding."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from nnctl.core.activations import ACTIVATION_NAMES, ACTIVATIONS, sigmoid
from nnctl.core.network import compute_cost, forward, initialize_parameters
from oracle import backward, update_parameters


def _cost(X, Y, params, activations, loss):
    Zs, As = forward(X, params, activations)
    return compute_cost(Zs[-1], As[-1], Y, loss)


def gradient_check(X, Y, params, activations, loss, eps=1e-6):
    """Relative error ||g - g_num|| / (||g|| + ||g_num||) by centred differences, as the course does."""
    Zs, As = forward(X, params, activations)
    grads = backward(Y, params, Zs, As, activations, loss)
    analytic, numeric = [], []
    for key, value in params.items():
        for idx in np.ndindex(value.shape):
            old = value[idx]
            value[idx] = old + eps
            plus = _cost(X, Y, params, activations, loss)
            value[idx] = old - eps
            minus = _cost(X, Y, params, activations, loss)
            value[idx] = old
            numeric.append((plus - minus) / (2 * eps))
            analytic.append(grads["d" + key][idx])
    analytic, numeric = np.array(analytic), np.array(numeric)
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    assert denom > 0, "degenerate check: all gradients are zero"
    return np.linalg.norm(analytic - numeric) / denom


def _problem(depth, hidden, output, loss, seed):
    rng = np.random.default_rng(seed)
    dims = [4] + [5, 3, 4][:depth] + [1]
    params = initialize_parameters(dims, "normal", 1.0, rng)
    for l in range(1, depth + 2):  # non-zero biases: no relu sits exactly on its kink at 0
        params[f"b{l}"] += rng.uniform(0.1, 0.5, params[f"b{l}"].shape)
    X = rng.standard_normal((4, 7))
    Y = (rng.random((1, 7)) > 0.5).astype(float) if loss == "cross_entropy" else rng.standard_normal((1, 7))
    if output == "relu":  # keep the output unit alive so the check is not 0 against 0
        params[f"b{depth + 1}"] += 3.0
    return X, Y, params, [hidden] * depth + [output]


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("hidden", ACTIVATION_NAMES)
def test_gradient_check_cross_entropy(depth, hidden):
    X, Y, params, acts = _problem(depth, hidden, "sigmoid", "cross_entropy", seed=depth)
    assert gradient_check(X, Y, params, acts, "cross_entropy") < 1e-7


@pytest.mark.parametrize("depth", [0, 1, 3])
@pytest.mark.parametrize("activation", [a for a in ACTIVATION_NAMES if a != "softmax"])  # softmax: one unit is constant 1; tests/test_softmax.py
def test_gradient_check_mse(depth, activation):
    X, Y, params, acts = _problem(depth, activation, activation, "mse", seed=10 + depth)
    assert gradient_check(X, Y, params, acts, "mse") < 1e-7


def test_forward_and_cost_by_hand():
    # One hidden tanh unit, one sigmoid output, two examples.
    params = {
        "W1": np.array([[0.5, -1.0]]),
        "b1": np.array([[0.25]]),
        "W2": np.array([[2.0]]),
        "b2": np.array([[-1.0]]),
    }
    X = np.array([[1.0, 0.0], [0.5, 2.0]])  # (n_x=2, m=2)
    Y = np.array([[1.0, 0.0]])
    Zs, As = forward(X, params, ["tanh", "sigmoid"])
    # Z1 = 0.5*1 - 1*0.5 + 0.25 = 0.25 ; 0.5*0 - 1*2 + 0.25 = -1.75
    np.testing.assert_allclose(Zs[1], [[0.25, -1.75]])
    a1 = np.tanh([0.25, -1.75])
    np.testing.assert_allclose(As[1], [a1])
    z2 = 2 * a1 - 1
    a2 = 1 / (1 + np.exp(-z2))
    np.testing.assert_allclose(As[2], [a2])
    J = -(np.log(a2[0]) + np.log(1 - a2[1])) / 2
    assert compute_cost(Zs[2], As[2], Y, "cross_entropy") == pytest.approx(J, rel=1e-12)
    # Backward, by hand: dZ2 = A2 - Y, dW2 = (1/m) dZ2 A1^T, db2 = mean(dZ2)
    grads = backward(Y, params, Zs, As, ["tanh", "sigmoid"], "cross_entropy")
    dZ2 = a2 - np.array([1.0, 0.0])
    assert grads["dW2"][0, 0] == pytest.approx(np.dot(dZ2, a1) / 2)
    assert grads["db2"][0, 0] == pytest.approx(dZ2.mean())
    dZ1 = 2 * dZ2 * (1 - a1**2)
    np.testing.assert_allclose(grads["dW1"], [[np.dot(dZ1, X[0]) / 2, np.dot(dZ1, X[1]) / 2]])


def test_one_update_step_by_hand():
    # Logistic regression from zeros: A = 0.5 everywhere, so dW = (1/m)(A - Y) X^T.
    params = initialize_parameters([2, 1], "zeros")
    X = np.array([[1.0, 3.0], [2.0, -1.0]])
    Y = np.array([[1.0, 0.0]])
    Zs, As = forward(X, params, ["sigmoid"])
    assert compute_cost(Zs[1], As[1], Y, "cross_entropy") == pytest.approx(np.log(2))
    grads = backward(Y, params, Zs, As, ["sigmoid"], "cross_entropy")
    # dZ = [-0.5, 0.5]; dW = [(-0.5*1 + 0.5*3)/2, (-0.5*2 + 0.5*-1)/2] = [0.5, -0.75]; db = 0
    np.testing.assert_allclose(grads["dW1"], [[0.5, -0.75]])
    np.testing.assert_allclose(grads["db1"], [[0.0]])
    W_before = params["W1"]
    update_parameters(params, grads, 0.1)
    assert params["W1"] is W_before  # in place
    np.testing.assert_allclose(params["W1"], [[-0.05, 0.075]])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cost_finite_when_outputs_saturate(dtype):
    Z = np.array([[800.0, -800.0, 40.0, -40.0]], dtype=dtype)
    Y = np.array([[0.0, 1.0, 1.0, 0.0]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any overflow or divide warning fails the test
        A = sigmoid(Z)
        J = compute_cost(Z, A, Y, "cross_entropy")
    assert np.isfinite(J)
    # the two wrong saturated outputs cost about |z| each; the two right ones almost nothing
    assert J == pytest.approx((800 + 800 + 2 * np.log1p(np.exp(-40))) / 4, rel=1e-3 if dtype == np.float32 else 1e-9)
    assert np.all((A >= 0) & (A <= 1))


def test_sigmoid_matches_course_formula():
    Z = np.linspace(-30, 30, 101)
    np.testing.assert_array_equal(sigmoid(Z), 1 / (1 + np.exp(-Z)))


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_activations_keep_float32(name):
    Z = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    A = ACTIVATIONS[name].forward(Z)
    assert A.dtype == np.float32
    assert ACTIVATIONS[name].backward(np.ones_like(Z), A.copy()).dtype == np.float32


def test_float32_training_keeps_float32():
    rng = np.random.default_rng(0)
    params = initialize_parameters([3, 4, 1], "he", rng=rng, dtype=np.float32)
    X = rng.standard_normal((3, 10)).astype(np.float32)
    Y = (rng.random((1, 10)) > 0.5).astype(np.float32)
    Zs, As = forward(X, params, ["relu", "sigmoid"])
    grads = backward(Y, params, Zs, As, ["relu", "sigmoid"], "cross_entropy")
    update_parameters(params, grads, 0.1)
    assert all(v.dtype == np.float32 for v in params.values())
    assert all(g.dtype == np.float32 for g in grads.values())


def test_legacy_init_equals_course_global_seeding():
    dims = [6, 4, 3, 1]
    params = initialize_parameters(dims, "xavier", rng=np.random.RandomState(1))
    np.random.seed(1)  # the course's initialize_parameters_deep, verbatim
    for l in range(1, len(dims)):
        W = np.random.randn(dims[l], dims[l - 1]) / np.sqrt(dims[l - 1])
        np.testing.assert_array_equal(params[f"W{l}"], W)
        np.testing.assert_array_equal(params[f"b{l}"], np.zeros((dims[l], 1)))


@pytest.mark.parametrize("init,std", [("normal", 0.01), ("xavier", 1 / np.sqrt(400)), ("he", np.sqrt(2 / 400))])
def test_init_scales(init, std):
    params = initialize_parameters([400, 300, 1], init, 0.01, np.random.default_rng(0))
    assert params["W1"].std() == pytest.approx(std, rel=0.02)


def test_same_seed_bit_identical():
    a = initialize_parameters([5, 4, 1], "he", rng=np.random.default_rng(7))
    b = initialize_parameters([5, 4, 1], "he", rng=np.random.default_rng(7))
    for key in a:
        assert a[key].tobytes() == b[key].tobytes()
