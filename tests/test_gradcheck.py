"""nnctl gradcheck (issue 12 §4): the course's test case, every activation and loss, L2, a planted bug."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from nnctl.core.activations import ACTIVATION_NAMES
from nnctl.cli.commands import app
from nnctl.core.gradcheck import gradient_check, reading
from nnctl.core.network import initialize_parameters
from nnctl.core.training import Trainer
from tests.conftest import REPO

runner = CliRunner()


def course_case():
    """The notebook's gradient_check_n_test_case: all drawn after np.random.seed(1)."""
    np.random.seed(1)
    x = np.random.randn(4, 3)
    y = np.array([1, 1, 0])
    params = {}
    for k, shape in (("W1", (5, 4)), ("b1", (5, 1)), ("W2", (3, 5)), ("b2", (3, 1)), ("W3", (1, 3)), ("b3", (1, 1))):
        params[k] = np.random.randn(*shape)
    return x, y, params


def course_cost(x, y):
    """forward_propagation_n's cost, as the notebook writes it: -log(a) and -log(1 - a)."""

    def J(p):
        A1 = np.maximum(0, p["W1"] @ x + p["b1"])
        A2 = np.maximum(0, p["W2"] @ A1 + p["b2"])
        A3 = 1 / (1 + np.exp(-(p["W3"] @ A2 + p["b3"])))
        logprobs = np.multiply(-np.log(A3), y) + np.multiply(-np.log(1 - A3), 1 - y)
        return 1.0 / 3 * np.sum(logprobs)

    return J


def test_course_network_gives_the_notebooks_difference():
    """With the notebook's J the corrected backprop's difference is the published 1.19e-7 (it comes
    from that J's rounding: -log(1 - a) for a = 0.9989); with nnctl's J, from Z[L] by logaddexp, the
    same gradients agree to about 1e-9."""
    x, y, params = course_case()
    acts = ["relu", "relu", "sigmoid"]
    course = gradient_check(params, x, y, acts, "cross_entropy", reference_cost=course_cost(x, y))
    assert course.difference == pytest.approx(1.1890913e-07, rel=1e-3)
    ours = gradient_check(params, x, y, acts, "cross_entropy")
    assert ours.difference < 1e-8
    assert [layer.checked for layer in ours.layers] == [25, 18, 4]
    assert reading(ours.difference).startswith("great") and reading(course.difference).startswith("fine")


@pytest.mark.parametrize("hidden", ACTIVATION_NAMES)
@pytest.mark.parametrize("loss,output", [("cross_entropy", "sigmoid"), ("mse", "linear"), ("mse", "tanh")])
@pytest.mark.parametrize("l2", [0.0, 0.7])
def test_every_activation_loss_and_l2(hidden, loss, output, l2):
    rs = np.random.RandomState(2)
    X = rs.randn(3, 6)
    Y = (rs.rand(1, 6) > 0.5).astype(float) if loss == "cross_entropy" else rs.randn(1, 6) * 0.5
    params = initialize_parameters([3, 5, 4, 1], "xavier", rng=np.random.RandomState(3))
    result = gradient_check(params, X, Y, [hidden, hidden, output], loss, l2=l2)
    assert result.difference < 1e-6, (hidden, loss, output, l2, result)


def test_a_planted_bug_is_caught(monkeypatch):
    """The notebook's exercise: a wrong dW2 (here doubled) must read as a bug."""
    original = Trainer.backward

    def wrong(self):
        finite = original(self)
        self.dW[2] *= 2
        return finite

    monkeypatch.setattr(Trainer, "backward", wrong)
    x, y, params = course_case()
    result = gradient_check(params, x, y, ["relu", "relu", "sigmoid"], "cross_entropy")
    assert result.difference > 1e-3 and reading(result.difference).startswith("a bug")
    assert result.layers[1].difference > 1e-3 and result.layers[0].difference < 1e-6  # it says which layer


def test_cli_checks_a_spec_and_exits_on_the_threshold(tmp_path):
    spec = tmp_path / "g.yaml"
    spec.write_text("data: {train: builtin:moons}\nmodel: {hidden: [5, 3], hidden_activation: tanh}\ntrain: {learning_rate: 0.1, iterations: 1, l2: 0.3}\n")
    ok = runner.invoke(app, ["gradcheck", str(spec), "--examples", "16"])
    assert ok.exit_code == 0, ok.output
    lines = ok.stdout.splitlines()
    assert lines[0] == f"{spec}: gradient check on 16 examples, epsilon 1e-07"
    assert sum("great: backprop agrees with the cost's slope" in line for line in lines) == 4  # 3 layers + all
    strict = runner.invoke(app, ["gradcheck", str(spec), "--threshold", "0"])
    assert strict.exit_code == 1
    assert strict.stderr.startswith("Error: the overall relative difference ")
    assert strict.stderr.rstrip().endswith("is above --threshold 0: backprop's gradients disagree with the cost's slope")
    random = runner.invoke(app, ["gradcheck", str(spec), "--random", "--max-per-layer", "5"])
    assert random.exit_code == 0 and "5 of 15" in random.stdout


def test_cli_refuses_dropout_with_the_courses_advice():
    config = REPO / "configs" / "course2" / "regularization-dropout.yaml"
    result = runner.invoke(app, ["gradcheck", str(config)])
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"Error: {config}: train.keep_prob: gradient checking does not work with dropout: its cost changes with every "
        "mask; check backprop without dropout (--set train.keep_prob=1), then add dropout back, as the course does"
    )


def test_units_on_a_relu_kink_are_left_out_and_counted():
    """Issue 20 E: a one-example standardised data set gives X = 0, and with b = 0 every Z[l] sits on
    ReLU's kink: central differences there give 0.5 x slope, backprop 0, which read as "a bug". The
    parameters whose +-epsilon crosses a kink are left out of the comparison and counted."""
    X, Y = np.zeros((2, 1)), np.ones((1, 1))
    params = initialize_parameters([2, 4, 3, 1], "he", rng=np.random.RandomState(0))
    result = gradient_check(params, X, Y, ["relu", "relu", "sigmoid"], "cross_entropy")
    assert result.difference < 1e-7, result
    assert [layer.excluded for layer in result.layers] == [4, 3, 0]  # b1 and b2: on the kink
    assert result.excluded == 7 and [layer.checked for layer in result.layers] == [8, 12, 4]
    smooth = gradient_check(params, X, Y, ["tanh", "tanh", "sigmoid"], "cross_entropy")
    assert smooth.excluded == 0  # no kink: everything compared


def test_a_bug_is_still_caught_beside_a_kink(monkeypatch):
    original = Trainer.backward

    def wrong(self):
        finite = original(self)
        self.db[3] *= 2  # the output bias: its gradient is not 0 here
        return finite

    monkeypatch.setattr(Trainer, "backward", wrong)
    params = initialize_parameters([2, 4, 3, 1], "he", rng=np.random.RandomState(0))
    result = gradient_check(params, np.zeros((2, 1)), np.ones((1, 1)), ["relu", "relu", "sigmoid"], "cross_entropy")
    assert result.difference > 1e-3 and result.layers[2].difference > 1e-3


def test_cli_on_one_standardised_example_has_no_false_alarm(tmp_path):
    (tmp_path / "one.csv").write_text("x1,x2,y\n3.0,5.0,1\n")
    spec = tmp_path / "g.yaml"
    spec.write_text("data: {train: one.csv, normalize: standardize}\nmodel: {hidden: [4, 3], task: regression}\ntrain: {learning_rate: 0.1, iterations: 1}\n")
    result = runner.invoke(app, ["gradcheck", str(spec), "--examples", "1"])
    assert result.exit_code == 0, result.output
    assert "a bug" not in result.stdout
    assert "7 of 31 parameters not compared: moving them by +-epsilon moves a unit's Z across the kink of relu at Z = 0" in result.stdout


def test_cli_says_each_adjustment_of_its_inputs(tmp_path):
    """Issue 20 round 7: --examples over the training set and a float32 spec are each a Note, never silent."""
    spec = tmp_path / "g.yaml"
    spec.write_text("data: {train: builtin:moons}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 1}\n")
    m = 300  # builtin:moons
    over = runner.invoke(app, ["gradcheck", str(spec), "--examples", "500", "--set", "train.dtype=float32"])
    assert over.exit_code == 0, over.output
    assert over.stderr.splitlines() == [
        "Note: train.dtype is float32, but the check runs in float64: central differences with epsilon 1e-07 need float64's "
        "precision (in float32, a step of 1e-07 is lost in rounding); training's formulas are the same",
        f"Note: --examples 500: the training set holds {m} examples, so the check uses all {m}",
    ]
    assert over.stdout.splitlines()[0] == f"{spec}: gradient check on {m} examples, epsilon 1e-07"
    plain = runner.invoke(app, ["gradcheck", str(spec), "--examples", "16"])
    assert plain.exit_code == 0 and plain.stderr == ""  # nothing adjusted: nothing said
