"""A classifier's training accuracy at each record, counted from the forward passes training already
did (issues 24 and 25): held to the network's pure functions, batch by batch, worked again by hand."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from nnctl.core.backend import DeviceArray, FakeDevice
from nnctl.core.network import HEADS, LOSSES, _threshold_correct, _top_class_correct, forward, initialize_parameters, top_class_rank
from nnctl.core.optimizers import make_optimizer
from nnctl.core.regularization import Dropout
from nnctl.core.training import Batches, Listener, Trainer, gradient_descent


def clusters(m=300, n_x=6, k=3, seed=0, dtype=np.float64):
    """k overlapping Gaussian clusters (no network gets all of them right): X (n_x, m), labels (m,)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, m)
    X = (rng.standard_normal((k, n_x))[y] + 1.2 * rng.standard_normal((m, n_x))).T.astype(dtype)
    return np.ascontiguousarray(X), y


HEADS_CASES = {  # loss: (output activation, how many classes)
    "categorical_cross_entropy": ("softmax", 3),
    "cross_entropy": ("sigmoid", 2),
}


def problem(loss, m=300, seed=0):
    output, k = HEADS_CASES[loss]
    X, y = clusters(m=m, k=k, seed=seed)
    units = HEADS[loss].units(k)
    return X, y, HEADS[loss].encode(y.reshape(1, -1), units, X.dtype), units, output


def by_hand(A, y, loss) -> int:
    """Right answers of A[L] (units, m) against labels y (m,): argmax, or the side of 0.5."""
    said = A.argmax(axis=0) if loss == "categorical_cross_entropy" else (A[0] > 0.5).astype(int)
    return int(np.sum(said == y))


# ---------------------------------------------------------------- the counts themselves


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_top_class_count_is_argmax_ties_and_nan_included(dtype):
    """The count without argmax (which copies A[L]) is argmax's, ties to the first class included:
    equal outputs (a network of zeros) name class 0; a NaN column is never right."""
    rng = np.random.default_rng(1)
    k, m = 5, 400
    A = rng.random((k, m)).astype(dtype)
    A[:, :40] = 0.2  # every class tied: argmax says class 0
    A[1:3, 40:80] = 0.95  # classes 1 and 2 tied for the top: argmax says 1
    A[:, 80] = np.nan
    labels = rng.integers(0, k, m)
    labels[:20], labels[40:60] = 0, 2  # right for 0..19, wrong for 40..59 (the tie goes to class 1)
    Y = HEADS["categorical_cross_entropy"].encode(labels.reshape(1, -1), k, dtype)
    want = int(np.sum(np.argmax(np.nan_to_num(A, nan=-1), axis=0) == labels)) - (labels[80] == 0)
    work = (np.empty((k, m), dtype), np.empty((k, m), dtype), np.empty((2, m), dtype))
    for got in (_top_class_correct(A, Y), _top_class_correct(A, Y, work, top_class_rank(k, dtype))):
        assert (int(got[0]), got[1]) == (want, m)
    assert LOSSES["categorical_cross_entropy"].score(A[:, 81:], labels[81:])["accuracy"] == pytest.approx(
        100 * _top_class_correct(A[:, 81:], Y[:, 81:])[0] / (m - 81), abs=1e-12
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_threshold_count_is_the_side_of_one_half(dtype):
    a = np.array([[0.0, 0.2, 0.5, 0.5, 0.50001, 0.9, 1.0, np.nan]], dtype)
    y = np.array([[0, 1, 0, 1, 1, 0, 1, 0]], dtype)  # 0.5 itself says 0, as A[L] > 0.5 does
    work = (np.empty_like(a), np.empty_like(a), np.empty((2, a.shape[1]), dtype))
    for got in (_threshold_correct(a, y), _threshold_correct(a, y, work)):
        assert (int(got[0]), got[1]) == (4, 8)  # right: 0.0, 0.5 with y 0, 0.50001, 1.0; NaN never
    np.testing.assert_array_equal(a[:, :2], np.array([[0.0, 0.2]], dtype))  # A[L] itself untouched


# ---------------------------------------------------------------- against the parameters, by hand


class Recorded(Listener):
    """The loop's events, and the parameters at each full-batch record (taken before that iteration's update)."""

    def __init__(self, trainer=None):
        self.trainer, self.events, self.params = trainer, [], {}

    def on_train_accuracy(self, iteration, accuracy):
        self.events.append(("train_accuracy", iteration, accuracy))
        if self.trainer is not None:
            self.params[iteration] = {k: v.copy() for k, v in self.trainer.materialize().items()}

    def on_validation(self, iteration, cost, accuracy):
        self.events.append(("validation", iteration, accuracy))

    def on_cost(self, iteration, cost):
        self.events.append(("cost", iteration, cost))


@pytest.mark.parametrize("loss", list(HEADS_CASES))
def test_full_batch_accuracy_is_that_of_the_parameters_at_the_recorded_iteration(loss):
    """Full batch: the recorded accuracy is the accuracy, recomputed with the pure forward pass, of
    the parameters at that iteration (before its update): not those after it, not the final ones."""
    X, y, Y, units, output = problem(loss)
    params = initialize_parameters([6, 5, units], "he", rng=np.random.default_rng(2))
    trainer = Trainer(params, X, Y, ["tanh", output], loss, optimizer=make_optimizer("gd", 0.3))
    seen = Recorded(trainer)
    result = gradient_descent(trainer, 60, 7, listeners=[seen])
    epochs = [e for e, _ in result.costs]
    assert epochs == [0, 7, 14, 21, 28, 35, 42, 49, 56, 59] and len(result.accuracy) == len(epochs)
    assert [e[:2] for e in seen.events] == [(k, e) for e in epochs for k in ("train_accuracy", "cost")]  # accuracy, then cost
    hand = []
    for epoch, accuracy in zip(epochs, result.accuracy):
        _, As = forward(X, seen.params[epoch], ["tanh", output])
        hand.append(100.0 * by_hand(As[-1], y, loss) / X.shape[1])
        assert accuracy == hand[-1], epoch
    assert len(set(hand)) > 3  # it moved: a count that lagged an iteration behind would differ somewhere
    final = LOSSES[loss].score(forward(X, trainer.materialize(), ["tanh", output])[1][-1], y)["accuracy"]
    assert 40 < final < 100


def _by_batch(trainer):
    """Wrap trainer.step: before each update, the batch's X and labels, dropout masks and the
    parameters its forward pass used (a copy of each)."""
    batches, step = [], trainer.step

    def recording_step():
        B = trainer.cur
        masks = {l: (B.D[l].copy(), trainer.dropout.keep[l]) for l in B.D}
        params = {k: v.copy() for k, v in trainer.materialize().items()}
        batches.append((B.X.copy(), B.Y.copy(), masks, params))
        step()

    trainer.step = recording_step
    return batches


@pytest.mark.parametrize("loss", list(HEADS_CASES))
@pytest.mark.parametrize("regularise", ["none", "dropout", "batch_norm"])
def test_minibatch_accuracy_is_the_epochs_batches_counted_by_hand(loss, regularise):
    """Mini-batches of 47 (the last of 18): each recorded epoch's accuracy is the right answers of
    every batch's training-mode forward pass (dropout masks applied, batch norm on the batch's own
    statistics), worked again by hand from the parameters before that batch's update, over m. The
    last batch is smaller, so a plain mean of per-batch accuracies would differ; epochs not recorded
    have no value."""
    X, y, Y, units, output = problem(loss, m=300, seed=4)
    layers, acts = [6, 8, 5, units], ["relu", "tanh", output]
    normalised = (1, 2) if regularise == "batch_norm" else ()
    params = initialize_parameters(layers, "he", rng=np.random.default_rng(5), batch_norm=normalised)
    dropout = Dropout([0.7, 0.8, 1.0], "fresh", 9) if regularise == "dropout" else None
    trainer = Trainer(params, X, Y, acts, loss, optimizer=make_optimizer("adam", 0.02), batch_size=47, dropout=dropout)
    batches = _by_batch(trainer)
    result = gradient_descent(trainer, 7, 3, batches=Batches(300, 47, "generator", 6))
    assert [e for e, _ in result.costs] == [0, 3, 6] and len(batches) == 7 * 7
    plain_means = []
    for record, epoch in enumerate([0, 3, 6]):
        right, per_batch = 0, []
        for Xb, Yb, masks, p in batches[7 * epoch : 7 * epoch + 7]:
            labels = Yb.argmax(axis=0) if loss == "categorical_cross_entropy" else Yb[0].astype(int)
            _, As = forward(Xb, p, acts, masks, training=True)
            right += by_hand(As[-1], labels, loss)
            per_batch.append(by_hand(As[-1], labels, loss) / Xb.shape[1])
        assert result.accuracy[record] == 100.0 * right / 300, (epoch, result.accuracy[record], 100.0 * right / 300)
        plain_means.append(100.0 * np.mean(per_batch))
    assert plain_means != result.accuracy  # the last batch of 18 weighs 18/300, not 1/7


def test_the_count_changes_nothing_it_is_counted_from():
    """Counting uses the cost's scratch buffers: with it switched off, parameters and costs are the
    same bits (the count is read-only on A[L] and Y; the buffers are written before every read)."""
    X, y, Y, units, output = problem("categorical_cross_entropy", seed=7)
    runs = []
    for count in (True, False):
        params = initialize_parameters([6, 8, units], "he", rng=np.random.default_rng(1), dtype=np.float32)
        trainer = Trainer(
            params,
            X.astype(np.float32),
            Y.astype(np.float32),
            ["relu", output],
            "categorical_cross_entropy",
            optimizer=make_optimizer("adam", 0.01),
            batch_size=64,
        )
        trainer.counts = count
        result = gradient_descent(trainer, 6, 1, batches=Batches(300, 64, "generator", 2))
        runs.append((trainer.materialize(), result))
    (a, ra), (b, rb) = runs
    assert all(a[k].tobytes() == b[k].tobytes() for k in a) and ra.costs == rb.costs
    assert all(0 < x <= 100 for x in ra.accuracy) and all(np.isnan(rb.accuracy))


def test_on_a_device_the_count_is_summed_there_and_read_once_an_epoch():
    """Like the batch costs, each batch's count stays on the device (no read per batch); the epoch's
    total is read at its end and equals the CPU's."""
    X, y, Y, units, output = problem("categorical_cross_entropy")
    params = initialize_parameters([6, 8, units], "he", rng=np.random.default_rng(1))
    trainer = Trainer(params, X, Y, ["relu", output], "categorical_cross_entropy", optimizer=make_optimizer("adam", 0.01), batch_size=64, backend=FakeDevice())
    trainer.begin_epoch(np.arange(300), 0.0, 0.0)
    trainer.use_batch(np.arange(64), 0)
    trainer.forward()
    assert trainer.batch_correct() is None  # not read: added up where the arrays are (a CuPy 0-d array on a GPU)
    assert trainer.epoch_correct() == by_hand(trainer.cur.A[-1].view(np.ndarray), y[:64], "categorical_cross_entropy")
    assert isinstance(trainer.cur.A[-1], DeviceArray)
    for fused in (False, True):
        cpu = Trainer(
            initialize_parameters([6, 8, units], "he", rng=np.random.default_rng(1)),
            X,
            Y,
            ["relu", output],
            "categorical_cross_entropy",
            optimizer=make_optimizer("adam", 0.01),
            batch_size=64,
        )
        dev = Trainer(
            initialize_parameters([6, 8, units], "he", rng=np.random.default_rng(1)),
            X,
            Y,
            ["relu", output],
            "categorical_cross_entropy",
            optimizer=make_optimizer("adam", 0.01),
            batch_size=64,
            backend=FakeDevice(fused=fused),
        )
        a = gradient_descent(cpu, 5, 2, batches=Batches(300, 64, "generator", 2))
        b = gradient_descent(dev, 5, 2, batches=Batches(300, 64, "generator", 2))
        assert a.accuracy == b.accuracy and len(a.accuracy) == 3 and (dev.out_fused is not None) == fused


# ---------------------------------------------------------------- the run folder


def _regression_file(path):
    with h5py.File(path, "w") as f:
        x = np.linspace(-1, 1, 40).reshape(40, 1)
        f["x"], f["y"] = x, 3 * x.ravel() + 0.5
    return path


def test_a_regression_has_no_training_accuracy(tmp_path):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    _regression_file(tmp_path / "r.h5")
    (tmp_path / "r.yaml").write_text(
        "data: {train: r.h5}\nmodel: {hidden: [3], output_activation: linear}\ntrain: {learning_rate: 0.1, iterations: 50, record_every: 10}\n"
    )
    summary = train_run(load_config(tmp_path / "r.yaml"), runs_root=tmp_path / "runs")
    assert summary.status == "completed"
    assert (Path(summary.run_dir) / "costs.csv").read_text().splitlines()[0] == "iteration,cost"


def test_a_checkpoint_with_more_right_answers_than_examples_is_refused(tmp_path):
    from nnctl.spec.config import load_config
    from nnctl.errors import RunError
    from nnctl.experiment.run import resume_run, train_run

    spec = tmp_path / "c.yaml"
    spec.write_text(
        "data: {train: builtin:moons}\nmodel: {hidden: [4]}\n"
        "train: {learning_rate: 0.05, epochs: 6, batch_size: 16, seed: 1, record_every: 1, checkpoint_every: 2}\n"
    )
    calls = []
    stopped = train_run(load_config(spec), runs_root=tmp_path / "runs", should_stop=lambda: calls.append(1) or len(calls) == 25)
    assert stopped.status == "interrupted"
    with h5py.File(f"{stopped.run_dir}/checkpoint.h5", "r+") as f:
        assert 0 < json.loads(f.attrs["correct"]) <= 16 * 6
        f.attrs["correct"] = json.dumps(10**6)
    with pytest.raises(RunError, match="right answers so far in epoch 1, more than its 300 examples can give"):
        resume_run(stopped.run_dir)


def test_every_listener_gets_a_records_accuracies_then_its_cost_as_costs_csv_holds_them(tmp_path):
    """Through train_run with a validation set: each record is on_train_accuracy, on_validation (to
    every listener, not only the progress display), then on_cost, with costs.csv's values."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run
    from nnctl.rundir.runs import read_costs_columns

    spec = tmp_path / "v.yaml"
    spec.write_text(
        "data: {train: builtin:moons, validation: 0.25}\nmodel: {hidden: [5]}\n"
        "train: {learning_rate: 0.05, epochs: 9, batch_size: 32, optimizer: adam, seed: 1, record_every: 4}\n"
    )
    seen = Recorded()
    summary = train_run(load_config(spec), runs_root=tmp_path / "runs", listeners=(seen,), pictures=False)
    costs = read_costs_columns(Path(summary.run_dir) / "costs.csv")
    assert list(costs) == ["epoch", "cost", "iteration", "train_accuracy", "validation_cost", "validation_accuracy"]
    assert costs["epoch"] == [0, 4, 8]
    want = []
    for i, epoch in enumerate(costs["epoch"]):
        want += [
            ("train_accuracy", epoch, costs["train_accuracy"][i]),
            ("validation", epoch, costs["validation_accuracy"][i]),
            ("cost", epoch, costs["cost"][i]),
        ]
    assert seen.events == want


def test_several_sigmoid_outputs_count_every_decision_and_the_accuracy_is_their_share():
    """Two sigmoid units (two yes/no labels per example): each of the 2m decisions is counted, and the
    accuracy is the share of right ones, in percent (a count divided by m alone would pass 100)."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((4, 50))
    Y = (rng.random((2, 50)) < 0.5).astype(np.float64)
    params = initialize_parameters([4, 3, 2], "he", rng=np.random.default_rng(4))
    trainer = Trainer(params, X, Y, ["tanh", "sigmoid"], "cross_entropy", optimizer=make_optimizer("gd", 0.1))
    trainer.forward()
    right = trainer.correct()
    _, As = forward(X, params, ["tanh", "sigmoid"])
    assert right == int(np.sum((As[-1] > 0.5) == (Y > 0.5)))
    assert trainer.accuracy(right) == pytest.approx(100.0 * right / Y.size, rel=1e-15)
    assert 0 < trainer.accuracy(right) < 100
