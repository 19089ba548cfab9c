"""Optimizers, schedules and mini-batches: one step worked by hand per optimizer and schedule,
gradients of a gathered batch, and the Trainer against the course's loop written plainly."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnctl.core.network import LOSSES, forward, initialize_parameters
from oracle import backward
from nnctl.core.optimizers import OPTIMIZER_NAMES, SCHEDULES, epoch_rate, make_optimizer
from nnctl.core.training import Batches, Trainer, gradient_descent
from conftest import REPO
from test_network import gradient_check

LAYOUT = [("W1", (3, 2)), ("b1", (3, 1)), ("W2", (1, 3)), ("b2", (1, 1))]


def _vectors(seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(13), rng.standard_normal(13)


# ---------------------------------------------------------------- one step by hand, per optimizer


def test_gd_step_by_hand():
    W, dW = _vectors(0)
    expected = W - 0.1 * dW
    opt = make_optimizer("gd", 0.1).bind(LAYOUT)
    opt.step(W, dW.copy())
    np.testing.assert_array_equal(W, expected)


def test_momentum_two_steps_by_hand():
    W, dW = _vectors(1)
    W0, v = W.copy(), np.zeros(13)
    opt = make_optimizer("momentum", 0.05, beta=0.8).bind(LAYOUT)
    for k in range(2):
        g = dW * (k + 1)
        v = 0.8 * v + (1 - 0.8) * g  # the course's update_parameters_with_momentum
        W0 = W0 - 0.05 * v
        opt.step(W, g.copy())
    np.testing.assert_array_equal(W, W0)
    np.testing.assert_array_equal(opt.state()["v/W1"], v[:6].reshape(3, 2))


def test_rmsprop_step_by_hand():
    W, dW = _vectors(2)
    s = 0.9 * np.zeros(13) + (1 - 0.9) * dW**2
    expected = W - 0.01 * dW / (np.sqrt(s) + 1e-8)
    opt = make_optimizer("rmsprop", 0.01, beta2=0.9, epsilon=1e-8).bind(LAYOUT)
    opt.step(W, dW.copy())
    np.testing.assert_allclose(W, expected, rtol=1e-15)
    np.testing.assert_allclose(opt.state()["s/b1"].ravel(), s[6:9], rtol=1e-15)


def test_adam_steps_by_hand():
    """As scikit-learn's test_adam_optimizer: the bias-corrected rate recomputed by hand, t from 1."""
    beta1, beta2, eps, lr = 0.9, 0.999, 1e-8, 0.01
    W, dW = _vectors(3)
    ref, v, s = W.copy(), np.zeros(13), np.zeros(13)
    opt = make_optimizer("adam", lr, beta1=beta1, beta2=beta2, epsilon=eps).bind(LAYOUT)
    for t in (1, 2, 3):
        g = dW + t
        v = beta1 * v + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g**2
        v_hat, s_hat = v / (1 - beta1**t), s / (1 - beta2**t)
        ref = ref - lr * v_hat / (np.sqrt(s_hat) + eps)
        opt.step(W, g.copy())
        assert opt.t == t
        np.testing.assert_allclose(W, ref, rtol=1e-14)
    # the first step of Adam moves every weight by about lr, whatever the gradient's scale
    W2, g = np.zeros(13), np.linspace(-1e3, 1e3, 13) + 0.5
    make_optimizer("adam", lr).bind(LAYOUT).step(W2, g.copy())
    np.testing.assert_allclose(np.abs(W2), lr, rtol=1e-6)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_state_round_trip_continues_identically(name):
    W, dW = _vectors(4)
    a = make_optimizer(name, 0.03).bind(LAYOUT)
    for _ in range(3):
        a.step(W, dW.copy())
    b = make_optimizer(name, 0.03).bind(LAYOUT)
    b.load_state({k: v.copy() for k, v in a.state().items()})
    Wa, Wb = W.copy(), W.copy()
    a.step(Wa, dW.copy())
    b.step(Wb, dW.copy())
    assert Wa.tobytes() == Wb.tobytes() and a.t == b.t == 4
    with pytest.raises(ValueError):
        if a.m:
            b.load_state({})
        else:
            raise ValueError("gd has no state to miss")


def test_adam_holds_two_moments_and_a_scratch():
    assert make_optimizer("adam", 0.1).extra_arrays() == 3
    assert make_optimizer("momentum", 0.1).extra_arrays() == 1
    assert make_optimizer("gd", 0.1).extra_arrays() == 0


# ---------------------------------------------------------------- schedules by hand


def test_inverse_time_every_epoch_as_update_lr():
    # the course sets the rate after epoch i from i: epochs 0 and 1 at alpha_0, epoch 2 at alpha_0 / 2, ...
    assert [epoch_rate("inverse_time", 0.1, e, 1.0, 1) for e in range(4)] == [0.1, 0.1, 0.1 / 2, 0.1 / 3]
    assert epoch_rate("inverse_time", 0.5, 3, 1.0, 1) == 0.5 / 3  # update_lr(0.5, 2, 1) = 0.25 ... after epoch 2
    assert epoch_rate("inverse_time", 0.5, 3, 3.0, 1) == 0.5 / 7


def test_inverse_time_every_interval_as_schedule_lr_decay():
    rates = {e: epoch_rate("inverse_time", 0.1, e, 1.0, 1000) for e in (0, 1000, 1001, 2000, 2001, 4999)}
    assert rates == {0: 0.1, 1000: 0.1, 1001: 0.1 / 2, 2000: 0.1 / 2, 2001: 0.1 / 3, 4999: 0.1 / 5}


def test_no_decay_is_constant():
    assert {epoch_rate("none", 0.3, e) for e in range(0, 5000, 7)} == {0.3}
    assert set(SCHEDULES) == {"none", "inverse_time", "one_cycle"}


# ---------------------------------------------------------------- mini-batches


def test_batches_course_order_and_sizes():
    b = Batches(300, 64, "course", seed=3)
    assert b.count == 5 and b.sizes == (44, 64)
    for epoch in (0, 1, 7):
        b.start_epoch(epoch)
        np.random.seed(10 + 1 + epoch)  # the course's random_mini_batches(X, Y, 64, seed)
        perm = list(np.random.permutation(300))
        assert list(b.order) == perm
        assert [len(b.indices(k)) for k in range(b.count)] == [64, 64, 64, 64, 44]
        assert list(np.concatenate([b.indices(k) for k in range(5)])) == perm
    none = Batches(10, 4, "none")
    none.start_epoch(0)
    assert [list(none.indices(k)) for k in range(none.count)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert Batches(10, 10).full and Batches(10, None).full and not Batches(10, 9).full


def test_minibatch_gradients_are_the_batch_gradients():
    """The Trainer's gradients on a gathered batch are the reference backward's (tests/oracle.py) on those columns, which
    pass a gradient check."""
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((3, 11)), (rng.random((1, 11)) > 0.5).astype(float)
    acts = ["tanh", "sigmoid"]
    params = initialize_parameters([3, 4, 1], "normal", 1.0, rng)
    ref = {k: v.copy() for k, v in params.items()}
    trainer = Trainer(params, X, Y, acts, "cross_entropy", 0.1, batch_size=4)
    idx = np.array([7, 2, 9, 0])
    trainer.use_batch(idx)
    trainer.forward()
    assert trainer.backward()
    Zs, As = forward(X[:, idx], ref, acts)
    grads = backward(Y[:, idx], ref, Zs, As, acts, "cross_entropy")
    for l in (1, 2):
        np.testing.assert_allclose(trainer.grad[:12].reshape(4, 3) if l == 1 else trainer.dW[2], grads[f"dW{l}"], rtol=1e-12)
        np.testing.assert_allclose(trainer.db[l], grads[f"db{l}"], rtol=1e-12)
    assert gradient_check(X[:, idx], Y[:, idx], ref, acts, "cross_entropy") < 1e-7
    # the smaller last batch has its own buffers, allocated once
    trainer.use_batch(np.array([1, 3, 5]))
    assert trainer.cur.m == 3 and set(trainer.buffers) == {4, 3}  # no buffers of all m examples with mini-batches


def test_steady_state_allocates_nothing_per_step():
    import tracemalloc

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2, 300)), (rng.random((1, 300)) > 0.5).astype(float)
    params = initialize_parameters([2, 5, 2, 1], "he", rng=rng)
    trainer = Trainer(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy", optimizer=make_optimizer("adam", 0.01), batch_size=64)
    batches = Batches(300, 64, "course")
    gradient_descent(trainer, 2, 1000, batches=batches)  # warm up
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    gradient_descent(trainer, 40, 1000, batches=batches)  # 200 steps, no cost recorded after epoch 0
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename") if s.size_diff > 0)
    assert grown < 64 * 1024  # no array of the batch's size (64 x 8 bytes x layers) per step: 200 steps would be MBs


# ---------------------------------------------------------------- the Trainer against the course's loop


def course_model(X, Y, params, acts, loss, optimizer, lr0, epochs, batch_size, shuffle, seed, hyper, decay, decay_rate, time_interval):
    """The notebook's model(): random_mini_batches, forward, compute_cost, backward, the updates of
    update_parameters_with_gd / _momentum / _adam (and RMSprop), the rate set after each epoch."""
    m = X.shape[1]
    L = len(params) // 2
    v = {k: np.zeros_like(p) for k, p in params.items()}
    s = {k: np.zeros_like(p) for k, p in params.items()}
    t, lr, course_seed, costs = 0, lr0, 10, []
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1,)))
    size = batch_size or m
    for i in range(epochs):
        course_seed += 1
        if size >= m or shuffle == "none":
            perm = np.arange(m)
        elif shuffle == "course":
            np.random.seed(course_seed)
            perm = np.random.permutation(m)
        else:
            perm = rng.permutation(m)
        cost_total = 0.0
        for k in range(0, m, size):
            cols = perm[k : k + size]
            mb_X, mb_Y = X[:, cols], Y[:, cols]
            Zs, As = forward(mb_X, params, acts)
            cost_total += LOSSES[loss].total(Zs[-1], As[-1], mb_Y)
            grads = backward(mb_Y, params, Zs, As, acts, loss)
            t += 1
            for l in range(1, L + 1):
                for key in (f"W{l}", f"b{l}"):
                    g = grads["d" + key]
                    if optimizer == "gd":
                        params[key] = params[key] - lr * g
                    elif optimizer == "momentum":
                        v[key] = hyper["beta"] * v[key] + (1 - hyper["beta"]) * g
                        params[key] = params[key] - lr * v[key]
                    elif optimizer == "rmsprop":
                        s[key] = hyper["beta2"] * s[key] + (1 - hyper["beta2"]) * g**2
                        params[key] = params[key] - lr * g / (np.sqrt(s[key]) + hyper["epsilon"])
                    else:
                        v[key] = hyper["beta1"] * v[key] + (1 - hyper["beta1"]) * g
                        s[key] = hyper["beta2"] * s[key] + (1 - hyper["beta2"]) * g**2
                        v_hat = v[key] / (1 - hyper["beta1"] ** t)
                        s_hat = s[key] / (1 - hyper["beta2"] ** t)
                        params[key] = params[key] - lr * v_hat / (np.sqrt(s_hat) + hyper["epsilon"])
        costs.append(cost_total / (LOSSES[loss].divisor * m))
        if decay != "none":
            lr = lr0 / (1 + decay_rate * math.floor(i / time_interval))
    return params, costs


cases = st.fixed_dictionaries(
    {
        "n_x": st.integers(1, 4),
        "hidden": st.lists(st.integers(1, 4), max_size=2),
        "m": st.integers(1, 23),
        "batch_size": st.one_of(st.none(), st.integers(1, 25)),
        "shuffle": st.sampled_from(["generator", "course", "none"]),
        "optimizer": st.sampled_from(OPTIMIZER_NAMES),
        "act": st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu"]),
        "loss": st.sampled_from(["cross_entropy", "mse"]),
        "decay": st.sampled_from(["none", "inverse_time"]),
        "time_interval": st.integers(1, 3),
        "seed": st.integers(0, 2**31 - 1),
    }
)


@settings(max_examples=60, deadline=None)
@given(cases)
def test_trainer_equals_course_loop(c):
    rng = np.random.default_rng(c["seed"])
    dims = [c["n_x"], *c["hidden"], 1]
    acts = [c["act"]] * len(c["hidden"]) + (["sigmoid"] if c["loss"] == "cross_entropy" else ["linear"])
    X = rng.standard_normal((c["n_x"], c["m"]))
    Y = (rng.random((1, c["m"])) > 0.5).astype(float) if c["loss"] == "cross_entropy" else rng.standard_normal((1, c["m"]))
    params = initialize_parameters(dims, "he", rng=rng)
    ref = {k: v.copy() for k, v in params.items()}
    hyper = {"beta": 0.8, "beta1": 0.85, "beta2": 0.99, "epsilon": 1e-7}
    lr, epochs = 0.05, 4
    ref, ref_costs = course_model(
        X, Y, ref, acts, c["loss"], c["optimizer"], lr, epochs, c["batch_size"], c["shuffle"], c["seed"], hyper, c["decay"], 1.0, c["time_interval"]
    )
    trainer = Trainer(params, X, Y, acts, c["loss"], optimizer=make_optimizer(c["optimizer"], lr, **hyper), batch_size=c["batch_size"])
    rate = None if c["decay"] == "none" else (lambda e: epoch_rate("inverse_time", lr, e, 1.0, c["time_interval"]))
    result = gradient_descent(trainer, epochs, record_every=1, batches=Batches(c["m"], c["batch_size"], c["shuffle"], c["seed"]), rate=rate)
    assert result.status == "completed" and result.epochs == epochs
    assert result.iterations == epochs * -(-c["m"] // min(c["batch_size"] or c["m"], c["m"]))
    np.testing.assert_allclose([cost for _, cost in result.costs], ref_costs, rtol=1e-9)
    for k in ref:
        np.testing.assert_allclose(params[k], ref[k], rtol=1e-9, atol=1e-12)


def test_memory_estimate_counts_optimizer_state_and_batch_buffers():
    from nnctl.core.resources import memory_estimate

    dims, weights = [2, 5, 2, 1], 2 * 5 + 5 + 5 * 2 + 2 + 2 + 1
    gd = memory_estimate(dims, 300, 8, "primal")
    adam = memory_estimate(dims, 300, 8, "primal", optimizer_arrays=make_optimizer("adam", 0.1).extra_arrays(), batch_sizes=(44, 64))
    assert "optimizer state" not in gd and adam["optimizer state"] == 3 * weights * 8
    per_example = 2 * (5 + 2 + 1) + 1 + 2 + 1  # A, dZ, Z[L], and the gathered X and Y columns
    assert adam["mini-batch buffers"] == per_example * (44 + 64) * 8
    # what the Trainer really allocates for them
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((2, 300)), np.ones((1, 300))
    trainer = Trainer(
        initialize_parameters(dims, "he", rng=rng), X, Y, ["relu", "relu", "sigmoid"], "cross_entropy", optimizer=make_optimizer("adam", 0.1), batch_size=64
    )
    buffers = sum(b.nbytes() + b.X.nbytes + b.Y.nbytes for size, b in trainer.buffers.items() if size != 300)
    assert buffers == adam["mini-batch buffers"]
    assert sum(v.nbytes for v in trainer.optimizer.m.values()) + trainer.optimizer._tmp.nbytes == adam["optimizer state"]


def test_memory_estimate_counts_dropout_l2_initialisation_and_the_end_of_run_forward_pass():
    """What the run holds beside the Trainer's buffers, each part against what is really allocated:
    the dropout masks, the L2 scratch, the initial parameters with their draw (randn and its scaled
    copy), and the full forward pass model_warnings/evaluate_dataset make over the training set."""
    import tracemalloc

    from nnctl.core.network import forward
    from nnctl.core.regularization import Dropout
    from nnctl.core.resources import memory_estimate

    dims, m = [3, 40, 7, 1], 300
    weights = 3 * 40 + 40 + 40 * 7 + 7 + 7 + 1
    est = memory_estimate(dims, m, 8, "primal", batch_sizes=(64, 44), dropout_layers=(1, 2), l2=True, initial=True, eval_m=m)
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, m)), np.ones((1, m))
    tracemalloc.start()
    params = initialize_parameters(dims, "normal", 0.01, rng=rng)  # W = randn(...) * scale: a second copy while drawn
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert sum(a.nbytes for a in params.values()) == weights * 8
    assert weights * 8 < peak <= est["initial parameters and their draw"]
    dropout = Dropout([0.8, 0.9, 1.0], "fresh", 1)
    trainer = Trainer(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy", 0.1, batch_size=64, l2=0.7, dropout=dropout)
    assert dropout.layers == [1, 2]
    buffers = [b for size, b in trainer.buffers.items() if size != m]
    assert sum(b.nbytes() + b.X.nbytes + b.Y.nbytes for b in buffers) == est["mini-batch buffers"] + est["dropout masks"]
    assert sum(a.nbytes for a in trainer._decay[1:]) == est["L2 scratch"]
    assert trainer.theta.nbytes + trainer.grad.nbytes == est["parameters and gradients"]
    Zs, As = forward(X, trainer.params, ["relu", "relu", "sigmoid"])
    assert sum(a.nbytes for a in Zs[1:] + As[1:]) == est["end-of-run forward pass"]
    full = memory_estimate(dims, m, 8, "primal", dropout_layers=(1, 2))
    B = trainer._full()
    assert B.nbytes() == full["activations and dZ"] + full["dropout masks"]


def test_a_hidden_layer_of_3_000_000_is_refused_before_training(monkeypatch):
    """The quickstart with model.hidden=[3000000] (m = 400) was let start on a machine with 23 GiB
    and killed by the kernel at 24 GB: the estimate left out the end-of-run forward pass (17.9 GiB)."""
    import nnctl.experiment.run as experiment
    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    monkeypatch.setattr(experiment, "available_memory", lambda: 23 << 30)

    def never(run):
        raise AssertionError("training started")  # never allocate the 36 GiB for real

    monkeypatch.setattr(experiment, "_initialise", never)
    result = CliRunner().invoke(
        app, ["train", str(REPO / "configs" / "quickstart.yaml"), "--set", "model.hidden=[3000000]", "--runs-dir", "/nonexistent-nnctl-runs"]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.strip() == (
        "Error: the network's arrays need about 36.1 GiB (parameters and gradients: 183.1 MiB, initial parameters and their draw: "
        "183.1 MiB, activations and dZ: 17.9 GiB, end-of-run forward pass: 17.9 GiB) but only 23.0 GiB of memory is available; "
        "use train.dtype: float32, fewer examples or smaller layers"
    )


def test_minibatch_divergence_names_epoch_and_iteration():
    X = np.linspace(-100, 100, 40).reshape(1, 40)
    params = initialize_parameters([1, 1], "zeros")
    trainer = Trainer(params, X, X.copy(), ["linear"], "mse", 10.0, batch_size=16)
    result = gradient_descent(trainer, 100, record_every=1000, batches=Batches(40, 16, "generator", 1))
    assert result.status == "diverged" and result.message.startswith("training diverged at epoch ")
    assert ", iteration " in result.message and result.iterations < 100 * 3


@pytest.mark.parametrize("optimizer", ["adam", "rmsprop"])
def test_squared_gradients_that_overflow_stop_the_run_as_diverged(tmp_path, optimizer):
    """Gradients near 1e21 in float32 are finite, their squares are not: the moment becomes inf and every
    step after it is 0. The run stops, diverged, naming the overflow, instead of completing unchanged."""
    import h5py
    from conftest import invoke

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 5)) * 1e21
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["train_set_x"], f["train_set_y"] = x, (x[:, 0] > 0).astype(np.uint8)
    (tmp_path / "s.yaml").write_text(
        "data: {train: d.h5, normalize: none}\nmodel: {hidden: [8]}\n"
        f"train: {{optimizer: {optimizer}, learning_rate: 0.001, epochs: 20, batch_size: 32, dtype: float32}}\n"
    )
    result = invoke("train", tmp_path / "s.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert result.exit_code != 0
    assert f"{optimizer}'s average of squared gradients overflowed float32" in result.output
    assert '"status": "diverged"' in (tmp_path / "runs" / "latest" / "metrics.json").read_text()
