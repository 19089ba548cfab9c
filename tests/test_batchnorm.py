"""Batch normalisation: forward, backward and running averages equal to PyTorch's BatchNorm1d
(float64, training and eval mode) on random networks; the Trainer equal to the pure reference;
a gradient check; the spec, the run's files and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO, invoke, write_course_h5

from nnctl.core import batchnorm
from nnctl.api import fit
from nnctl.spec.config import load_config
from nnctl.data.dataset import load_dataset
from nnctl.errors import DivergedError
from nnctl.experiment.run import resume_run, train_run
from nnctl.core.gradcheck import gradient_check
from nnctl.experiment.inference import outputs
from nnctl.core.layers import layer_arrays, network_arrays, normalised_layers
from nnctl.core.network import compute_cost, forward, initialize_parameters, predict_proba
from oracle import backward, update_parameters, update_running_averages
from nnctl.core.optimizers import make_optimizer
from nnctl.core.resources import memory_estimate
from nnctl.rundir.runs import load_params, load_run
from nnctl.core.training import Trainer, gradient_descent

LOSS_OF = {"sigmoid": "cross_entropy", "softmax": "categorical_cross_entropy", "linear": "mse"}


def _problem(seed, output="sigmoid", m=13):
    """A random network of 2-4 layers, some of them normalised, with gamma and beta moved off 1, 0."""
    rng = np.random.default_rng(seed)
    L = int(rng.integers(2, 5))
    units = 3 if output == "softmax" else 1
    dims = [int(rng.integers(2, 7))] + [int(rng.integers(2, 8)) for _ in range(L - 1)] + [units]
    hidden = list(range(1, L))
    normalised = sorted(rng.choice(hidden, int(rng.integers(1, L)), replace=False).tolist())
    acts = [str(rng.choice(["relu", "tanh", "sigmoid", "leaky_relu"])) for _ in range(L - 1)] + [output]
    params = initialize_parameters(dims, "he", rng=rng, batch_norm=normalised)
    for l in normalised:
        params[f"gamma{l}"] += rng.uniform(-0.5, 0.5, params[f"gamma{l}"].shape)
        params[f"beta{l}"] += rng.uniform(-0.5, 0.5, params[f"beta{l}"].shape)
    for l in set(range(1, L + 1)) - set(normalised):
        params[f"b{l}"] += rng.uniform(-0.3, 0.3, params[f"b{l}"].shape)
    X = rng.standard_normal((dims[0], m)) * 2 + 1
    if output == "softmax":
        Y = np.zeros((units, m))
        Y[rng.integers(0, units, m), np.arange(m)] = 1
    elif output == "sigmoid":
        Y = (rng.random((1, m)) < 0.5).astype(np.float64)
    else:
        Y = rng.standard_normal((1, m))
    return dims, acts, normalised, params, X, Y


def _torch_net(torch, dims, acts, normalised, params, momentum, epsilon):
    """The same network in PyTorch: Linear (no bias where normalised), BatchNorm1d, activation."""
    nn = torch.nn
    ACT = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": lambda: nn.LeakyReLU(0.01)}
    modules, named = [], {}
    for l in range(1, len(dims)):
        lin = nn.Linear(dims[l - 1], dims[l], bias=l not in normalised).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(params[f"W{l}"]))
            if l not in normalised:
                lin.bias.copy_(torch.from_numpy(params[f"b{l}"].ravel()))
        named[f"W{l}"], named[f"b{l}"] = lin.weight, lin.bias
        modules.append(lin)
        if l in normalised:
            bn = nn.BatchNorm1d(dims[l], eps=epsilon, momentum=1 - momentum).double()
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(params[f"gamma{l}"].ravel()))
                bn.bias.copy_(torch.from_numpy(params[f"beta{l}"].ravel()))
            named.update({f"gamma{l}": bn.weight, f"beta{l}": bn.bias, f"running_mean{l}": bn.running_mean, f"running_var{l}": bn.running_var})
            modules.append(bn)
        if l < len(dims) - 1:
            modules.append(ACT[acts[l - 1]]())
    return nn.Sequential(*modules), named


def _torch_loss(torch, output, logits, Y):
    F = torch.nn.functional
    if output == "sigmoid":
        return F.binary_cross_entropy_with_logits(logits, torch.from_numpy(Y.T))
    if output == "softmax":
        return F.cross_entropy(logits, torch.from_numpy(Y.argmax(axis=0)))
    return F.mse_loss(logits, torch.from_numpy(Y.T)) / 2  # nnctl's J = (1/2m) sum (a - y)^2


def _trainer_grads(trainer) -> dict:
    return {name: trainer.grad[a:b].reshape(shape).copy() for name, a, b, shape in trainer.optimizer.layout}


@pytest.mark.slow  # the PyTorch oracle (its import alone takes seconds); worked by hand and gradient checks in the default run
@pytest.mark.parametrize("output", ["sigmoid", "softmax", "linear"])
@pytest.mark.parametrize("seed", range(4))
def test_training_steps_equal_pytorch(seed, output):
    """Three SGD steps on one batch: each step's cost and gradients (W, gamma, beta, b), the
    parameters after it and the running averages equal PyTorch's in training mode; then the
    eval-mode outputs (running averages) equal predict_proba's."""
    torch = pytest.importorskip("torch")
    dims, acts, normalised, params, X, Y = _problem(seed, output)
    momentum, epsilon, rate = 0.8, 1e-3, 0.05
    net, named = _torch_net(torch, dims, acts, normalised, params, momentum, epsilon)
    sgd = torch.optim.SGD(net.parameters(), lr=rate)
    loss = LOSS_OF[output]
    trainer = Trainer(
        {k: v.copy() for k, v in params.items()}, X.copy(), Y, acts, loss, learning_rate=rate, batch_norm_momentum=momentum, batch_norm_epsilon=epsilon
    )
    xt = torch.from_numpy(X.T.copy())
    for step in range(3):
        net.train()
        sgd.zero_grad()
        J = _torch_loss(torch, output, net(xt), Y)
        J.backward()
        trainer.forward()
        assert trainer.cost() == pytest.approx(J.item(), rel=1e-12)
        assert trainer.backward()
        grads = _trainer_grads(trainer)
        for name, g in grads.items():
            want = named[name].grad.numpy().reshape(g.shape)
            np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-12, err_msg=f"d{name} at step {step}")
        sgd.step()
        trainer.step()
        for name, value in named.items():
            if value is not None:
                got = trainer.params[name]
                np.testing.assert_allclose(got, value.detach().numpy().reshape(got.shape), rtol=1e-10, atol=1e-13, err_msg=name)
    net.eval()
    with torch.no_grad():
        want = net(xt).numpy().T
    AL = predict_proba(X, trainer.params, acts, epsilon=epsilon)
    if output == "sigmoid":
        want = 1 / (1 + np.exp(-want))
    elif output == "softmax":
        want = np.exp(want - want.max(axis=0)) / np.exp(want - want.max(axis=0)).sum(axis=0)
    np.testing.assert_allclose(AL, want, rtol=1e-10, atol=1e-13)


@pytest.mark.slow  # the PyTorch oracle
@pytest.mark.parametrize("seed", range(6))
def test_pure_reference_equals_pytorch_and_the_trainer(seed):
    """nnctl.core.network's forward (training mode), backward and running averages: PyTorch's numbers
    and the Trainer's, one step."""
    torch = pytest.importorskip("torch")
    dims, acts, normalised, params, X, Y = _problem(seed, "sigmoid", m=9)
    net, named = _torch_net(torch, dims, acts, normalised, params, 0.9, 1e-5)
    net.train()
    J = _torch_loss(torch, "sigmoid", net(torch.from_numpy(X.T.copy())), Y)
    J.backward()
    stats = {}
    Zs, As = forward(X, params, acts, training=True, stats=stats)
    assert compute_cost(Zs[-1], As[-1], Y, "cross_entropy") == pytest.approx(J.item(), rel=1e-12)
    grads = backward(Y, params, Zs, As, acts, "cross_entropy")
    trainer = Trainer({k: v.copy() for k, v in params.items()}, X, Y, acts, "cross_entropy", learning_rate=1.0)
    trainer.forward()
    trainer.backward()
    fast = _trainer_grads(trainer)
    assert set(fast) == {k[1:] for k in grads}
    for key, g in grads.items():
        np.testing.assert_allclose(g, named[key[1:]].grad.numpy().reshape(g.shape), rtol=1e-9, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(fast[key[1:]], g, rtol=1e-10, atol=1e-13, err_msg=key)
    update_running_averages(params, stats, 0.9, X.shape[1])
    for l in normalised:
        for name in (f"running_mean{l}", f"running_var{l}"):
            np.testing.assert_allclose(params[name], named[name].numpy().reshape(-1, 1), rtol=1e-12, err_msg=name)
            np.testing.assert_allclose(trainer.params[name], params[name], rtol=1e-12, err_msg=name)
    before = params[f"running_var{normalised[0]}"].copy()
    update_parameters(params, grads, 1.0)  # running averages have no gradient: left alone
    assert np.array_equal(params[f"running_var{normalised[0]}"], before)


def test_worked_by_hand():
    """One unit, batch of four: Z = [1, 2, 3, 6], mu = 3, sigma^2 = (4 + 1 + 0 + 9) / 4 = 3.5;
    with epsilon = 0.5, sqrt(4) = 2: Z^ = [-1, -0.5, 0, 1.5]; gamma 2, beta 1 give Z~ = [-1, 0, 1, 4].
    Running averages from (0, 1), momentum 0.9: mean 0.3, variance 0.9 + 0.1 * 3.5 * 4/3 = 1.3666..."""
    params = {
        "W1": np.array([[1.0]]),
        "gamma1": np.array([[2.0]]),
        "beta1": np.array([[1.0]]),
        "running_mean1": np.zeros((1, 1)),
        "running_var1": np.ones((1, 1)),
        "W2": np.array([[1.0]]),
        "b2": np.zeros((1, 1)),
    }
    X = np.array([[1.0, 2.0, 3.0, 6.0]])
    stats = {}
    Zs, _ = forward(X, params, ["linear", "linear"], training=True, epsilon=0.5, stats=stats)
    np.testing.assert_allclose(Zs[1], [[-1.0, 0.0, 1.0, 4.0]])
    update_running_averages(params, stats, 0.9, 4)
    np.testing.assert_allclose([params["running_mean1"][0, 0], params["running_var1"][0, 0]], [0.3, 0.9 + 0.35 * 4 / 3])
    # inference: (Z - 0.3) / sqrt(1.3667 + 0.5) * 2 + 1, independent of the other examples
    Zs, _ = forward(X[:, :1], params, ["linear", "linear"], epsilon=0.5)
    assert Zs[1][0, 0] == pytest.approx((1 - 0.3) / np.sqrt(0.9 + 0.35 * 4 / 3 + 0.5) * 2 + 1)


@pytest.mark.parametrize("seed", range(3))
def test_gradient_check_in_training_mode(seed):
    """The Trainer's gradients of W, gamma, beta against central differences of the training-mode cost."""
    dims, acts, normalised, params, X, Y = _problem(seed, "softmax" if seed == 2 else "sigmoid", m=10)
    loss = "categorical_cross_entropy" if seed == 2 else "cross_entropy"
    result = gradient_check(params, X, Y, acts, loss, l2=0.3 * seed)
    assert result.difference < 1e-7, result
    assert [c.total for c in result.layers] == [
        sum(shape[0] * shape[1] for name, (shape, row) in layer_arrays(dims, normalised).items() if row.trained and name[-1] == str(l))
        for l in range(1, len(dims))
    ]


def test_a_planted_bug_in_the_backward_step_is_caught(monkeypatch):
    """dZ without the Z^ dgamma term (the mean's term alone): the check sees it."""
    _, acts, _, params, X, Y = _problem(0, m=10)
    real = batchnorm.BatchNormStep.backward

    def wrong(self, dZ, dbeta):
        out = real(self, dZ, dbeta)
        dZ += 0.3 * self.buffers[dZ.shape[1]][0] * self.gamma * self.inv_std  # a Z^-proportional error
        return out

    monkeypatch.setattr(batchnorm.BatchNormStep, "backward", wrong)
    assert gradient_check(params, X, Y, acts, "cross_entropy").difference > 1e-3


def test_layer_table_names_the_arrays():
    arrays = layer_arrays([4, 3, 2, 1], normalised=[1, 2])
    assert list(arrays) == ["W1", "gamma1", "beta1", "running_mean1", "running_var1", "W2", "gamma2", "beta2", "running_mean2", "running_var2", "W3", "b3"]
    assert arrays["W2"][0] == (2, 3) and arrays["running_var2"][0] == (2, 1) and not arrays["running_var2"][1].trained
    params = initialize_parameters([4, 3, 2, 1], rng=np.random.default_rng(0), batch_norm=[2])
    assert normalised_layers(params) == [2] and "b2" not in params and params["gamma2"].tolist() == [[1.0], [1.0]]
    assert set(network_arrays({**params, "costs": np.zeros(3), "normalize/mean": np.zeros(2)})) == set(params)
    plain = initialize_parameters([4, 3, 2, 1], rng=np.random.default_rng(0))
    assert all(np.array_equal(plain[f"W{l}"], params[f"W{l}"]) for l in (1, 2, 3))  # the same draws


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_keeps_its_dtype(dtype):
    _, acts, _, params, X, Y = _problem(1, m=8)
    params = {k: v.astype(dtype) for k, v in params.items()}
    trainer = Trainer(params, X.astype(dtype), Y.astype(dtype), acts, "cross_entropy", learning_rate=0.1)
    for _ in range(3):
        trainer.forward()
        assert trainer.backward_and_update()
    assert all(v.dtype == dtype for v in trainer.params.values())
    ref = {k: v.astype(np.float64) for k, v in trainer.params.items()}
    trainer.forward()
    Zs, As = forward(X, ref, acts, training=True)
    assert trainer.cost() == pytest.approx(compute_cost(Zs[-1], As[-1], Y, "cross_entropy"), rel=1e-4 if dtype == np.float32 else 1e-12)


# ---------------------------------------------------------------- with the rest of nnctl


@pytest.mark.slow  # three trainings of an eight-layer config (the resume and inference tests below train with batch norm)
def test_deep_config_trains_with_batch_norm_and_diverges_without(tmp_path):
    """configs/batchnorm-deep.yaml: eight ReLU layers, gradient descent at learning_rate 2. With
    batch norm about 98% train / 95% test here; without it the cost overflows in the first epoch."""
    spec = load_config(REPO / "configs" / "batchnorm-deep.yaml")
    done = train_run(spec, runs_root=tmp_path / "bn")
    assert done.status == "completed"
    assert done.train_accuracy >= 95 and done.test_accuracy >= 92 and done.validation_accuracy >= 95
    with pytest.raises(DivergedError, match="training diverged at epoch 0"):
        train_run(load_config(REPO / "configs" / "batchnorm-deep.yaml", ["model.batch_norm=false"]), runs_root=tmp_path / "plain")
    (plain,) = [p for p in (tmp_path / "plain").iterdir() if not p.is_symlink()]
    assert json.loads((plain / "metrics.json").read_text())["status"] == "diverged"
    # the same network without batch norm does learn at a tenth of the rate: the rate is what fails
    slow = train_run(load_config(REPO / "configs" / "batchnorm-deep.yaml", ["model.batch_norm=false", "train.learning_rate=0.1"]), runs_root=tmp_path / "slow")
    assert slow.status == "completed" and slow.train_accuracy >= 90


MOONS = """\
name: bnmoons
data: {{train: "builtin:moons", validation: 0.2}}
model: {{layers: [2, 6, 5, 1], init: he, batch_norm: {bn}, batch_norm_momentum: 0.8}}
train:
  learning_rate: {lr}
  epochs: 12
  batch_size: 16
  optimizer: {optimizer}
  keep_prob: {keep}
  dtype: {dtype}
  decay: {decay}
  seed: 3
  record_every: 1
  checkpoint_every: 2
  early_stopping: {{patience: 100}}
"""
RESUME_CASES = {  # optimizer: (learning rate, batch_norm, keep_prob, dtype, decay)
    "gd": (0.1, "true", 1.0, "float64", "none"),
    "momentum": (0.1, "[2]", 0.8, "float32", "inverse_time"),
    "adam": (0.01, "[1, 2]", 0.9, "float64", "none"),
}


@pytest.mark.parametrize("optimizer", list(RESUME_CASES))
def test_stop_mid_epoch_then_resume_is_bit_identical(tmp_path, optimizer):
    """Stopped after 3 epochs and 5 steps of the 4th (15 per epoch), then resumed: params.h5 (the
    running averages included) and the cost curve equal an uninterrupted run's, bit for bit; with
    dropout, float32, a schedule, validation and early stopping's best parameters."""
    lr, bn, keep, dtype, decay = RESUME_CASES[optimizer]
    config = tmp_path / "moons.yaml"
    config.write_text(MOONS.format(bn=bn, lr=lr, optimizer=optimizer, keep=keep, dtype=dtype, decay=decay))
    reference = train_run(load_config(config), runs_root=tmp_path / "ref")
    calls = []

    def stop():
        calls.append(1)
        return len(calls) == 3 * 15 + 5

    stopped = train_run(load_config(config), runs_root=tmp_path / "runs", should_stop=stop)
    assert stopped.status == "interrupted" and stopped.iterations == 3 * 15 + 5
    saved, _ = load_params(f"{stopped.run_dir}/checkpoint.h5")
    assert {"running_mean2", "running_var2", "gamma2", "beta2"} <= set(saved) and "b2" not in saved
    done = resume_run(stopped.run_dir)
    assert done.status == "completed" and done.iterations == 12 * 15
    params, meta = load_params(f"{done.run_dir}/params.h5")
    ref, _ = load_params(f"{reference.run_dir}/params.h5")
    assert sorted(params) == sorted(ref)
    for k in ref:
        assert params[k].tobytes() == ref[k].tobytes(), k
    assert Path(done.run_dir, "costs.csv").read_text() == Path(reference.run_dir, "costs.csv").read_text()
    layers = [1, 2] if bn == "true" else json.loads(bn)
    assert meta["batch_norm"] == {"layers": layers, "epsilon": 1e-5, "momentum": 0.8}
    assert params["running_var2"].dtype == np.dtype(dtype) and not np.array_equal(params["running_var2"], np.ones((5, 1)))


def test_dual_first_layer_equals_primal_with_batch_norm():
    """Batch norm on layer 1 keeps the dual path exact (W1 = W1_0 + C X^T; Z[1] = P + C G before
    the normalisation): 200 steps of gd and of momentum agree with the primal path."""
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((50, 20)), (rng.random((1, 20)) < 0.5).astype(np.float64)
    for opt in ("gd", "momentum"):
        out = {}
        for path in ("primal", "dual"):
            p = initialize_parameters([50, 6, 4, 1], "he", rng=np.random.default_rng(1), batch_norm=[1, 2])
            t = Trainer(p, X, Y, ["relu", "tanh", "sigmoid"], "cross_entropy", path=path, optimizer=make_optimizer(opt, 0.1))
            gradient_descent(t, 200)
            out[path] = t.materialize()
        for k, v in out["primal"].items():
            np.testing.assert_allclose(out["dual"][k], v, rtol=1e-10, atol=1e-12, err_msg=k)


def test_inference_uses_the_running_averages_and_the_runs_epsilon(tmp_path):
    """evaluate/predict's outputs are (Z - running mean) / sqrt(running var + epsilon) gamma + beta
    layer by layer with the run's own epsilon (0.5 here, far from the default), each example
    alone as in a batch; metrics.json's accuracy is those outputs' accuracy; softmax, 3 classes."""
    (tmp_path / "s.yaml").write_text(
        "data: {train: 'builtin:spiral?k=3&m=300', test: 'builtin:spiral?k=3&m=150&seed=2'}\n"
        "model: {hidden: [16, 8], batch_norm: true, batch_norm_epsilon: 0.5}\n"
        "train: {learning_rate: 0.01, epochs: 30, batch_size: 32, optimizer: adam, seed: 2}\n"
    )
    done = train_run(load_config(tmp_path / "s.yaml"), runs_root=tmp_path / "runs")
    run = load_run(done.run_dir)
    assert run.epsilon == 0.5 and "costs" not in run.params
    test = load_dataset("builtin:spiral?k=3&m=150&seed=2", "classification", max_classes=None)
    A = test.X
    p = run.params
    for l in (1, 2):
        Z = p[f"W{l}"] @ A
        Z = (Z - p[f"running_mean{l}"]) / np.sqrt(p[f"running_var{l}"] + 0.5) * p[f"gamma{l}"] + p[f"beta{l}"]
        A = np.maximum(Z, 0)
    ZL = p["W3"] @ A + p["b3"]
    want = np.exp(ZL - ZL.max(axis=0)) / np.exp(ZL - ZL.max(axis=0)).sum(axis=0)
    got = outputs(run, test.X)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_allclose(outputs(run, test.X[:, 7:8]), got[:, 7:8], rtol=1e-12)
    assert done.test_accuracy == pytest.approx(np.mean(want.argmax(axis=0) == test.Y.ravel()) * 100)
    assert done.test_accuracy > 60  # chance is 33%
    result = invoke("evaluate", done.run_dir)
    assert result.exit_code == 0, result.output
    assert json.loads((Path(done.run_dir) / "evaluation.json").read_text())["accuracy"] == pytest.approx(done.test_accuracy)
    result = invoke("report", done.run_dir)
    assert result.exit_code == 0, result.output
    page = (Path(done.run_dir) / "report.html").read_text()
    assert "γ, β (16, 1)" in page and "γ, β (8, 1)" in page  # the shapes table: gamma, beta in place of b


def test_streamed_training_equals_in_memory(tmp_path):
    """data.stream: always with batch norm and L2: params.h5 (running averages included) equal never's."""
    write_course_h5(tmp_path / "d.h5", "train", m=150, shape=(3, 3, 3))
    (tmp_path / "c.yaml").write_text(
        "data: {train: d.h5}\nmodel: {hidden: [5, 4], batch_norm: [1]}\n"
        "train: {learning_rate: 0.01, epochs: 4, batch_size: 16, optimizer: adam, l2: 0.5, record_every: 1}\n"
    )
    runs = {}
    for mode in ("never", "always"):
        summary = train_run(load_config(tmp_path / "c.yaml", [f"data.stream={mode}"]), runs_root=tmp_path / mode)
        runs[mode] = load_params(Path(summary.run_dir) / "params.h5")[0]
    assert "running_var1" in runs["never"] and "b2" in runs["never"] and "b1" not in runs["never"]
    for k, v in runs["never"].items():
        np.testing.assert_array_equal(v, runs["always"][k], err_msg=k)


def test_l2_decays_W_only():
    """L2 adds (lambda/m) W[l] to dW[l] and nothing to dgamma, dbeta (the course's cost has ||W||^2 alone)."""
    _, acts, _, params, X, Y = _problem(3, m=10)
    grads = {}
    for l2 in (0.0, 2.0):
        t = Trainer({k: v.copy() for k, v in params.items()}, X, Y, acts, "cross_entropy", learning_rate=1.0, l2=l2)
        t.forward()
        t.backward()
        grads[l2] = _trainer_grads(t)
    for name, g in grads[0.0].items():
        if name.startswith("W"):
            np.testing.assert_allclose(grads[2.0][name] - g, 2.0 / 10 * params[name], rtol=1e-10, atol=1e-14)
        else:
            np.testing.assert_array_equal(grads[2.0][name], g)


def test_cli_gradcheck_and_shapes_of_a_normalised_spec(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "data: {train: 'builtin:moons'}\nmodel: {hidden: [4, 3], batch_norm: [2], hidden_activation: tanh}\n"
        "train: {learning_rate: 0.1, epochs: 2, batch_size: 32}\n"
    )
    result = invoke("gradcheck", tmp_path / "c.yaml")
    assert result.exit_code == 0, result.output
    assert "great: backprop agrees" in result.output and "a bug" not in result.output
    result = invoke("config", "show", tmp_path / "c.yaml", "--shapes")
    assert result.exit_code == 0, result.output
    row2 = next(line for line in result.output.splitlines() if line.split()[:1] == ["2"])
    assert "γ, β (3, 1)" in row2 and row2.split()[-3] == "18"  # W2 12 + gamma 3 + beta 3 (trained)


def test_memory_estimate_counts_batch_norm():
    dims, m = [3, 40, 7, 1], 300
    est = memory_estimate(dims, m, 8, "primal", batch_sizes=(64, 44), batch_norm_layers=(1, 2))
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((3, m)), np.ones((1, m))
    params = initialize_parameters(dims, "he", rng=rng, batch_norm=(1, 2))
    trainer = Trainer(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy", 0.1, batch_size=64)
    for idx in (np.arange(64), np.arange(44)):
        trainer.use_batch(idx)
        trainer.forward()
    state = sum(v.nbytes for k, v in params.items() if k.startswith("running"))
    assert trainer.theta.nbytes + trainer.grad.nbytes + state == est["parameters and gradients"]
    assert sum(step.nbytes(size) for step in trainer.bn.values() for size in (64, 44)) == est["batch norm Z^ and scratch"]


def test_a_sweep_over_batch_norm(tmp_path):
    (tmp_path / "c.yaml").write_text("data: {train: 'builtin:moons'}\nmodel: {hidden: [4, 3]}\ntrain: {learning_rate: 0.1, epochs: 3, batch_size: 32}\n")
    result = invoke("sweep", tmp_path / "c.yaml", "--grid", "model.batch_norm=false,true,[2]", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    files = sorted((tmp_path / "runs").glob("sweep-*/*/params.h5"))
    assert len(files) == 3
    held = sorted(tuple(sorted(k for k in load_params(f)[0] if k.startswith(("b", "gamma")))) for f in files)
    assert held == [("b1", "b2", "b3"), ("b1", "b3", "beta2", "gamma2"), ("b3", "beta1", "beta2", "gamma1", "gamma2")]


def test_nnctl_fit_with_batch_norm_predicts_in_inference_mode():
    """The Python API (nnctl.fit): gamma, beta and running averages in the model, the spec's
    epsilon read back, each example's probabilities its own whatever the batch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 3))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    model = fit(
        {
            "model": {"hidden": [8, 8], "batch_norm": [2], "batch_norm_epsilon": 0.5},
            "train": {"learning_rate": 0.05, "epochs": 30, "batch_size": 32, "optimizer": "adam"},
        },
        X,
        y,
    )
    assert {"gamma2", "beta2", "running_mean2", "running_var2", "b1"} <= set(model.params) and "b2" not in model.params
    assert model._run.epsilon == 0.5
    P = model.predict_proba(X[:5])
    np.testing.assert_allclose(model.predict_proba(X[2:3]), P[2:3], rtol=1e-12)
