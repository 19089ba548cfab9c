"""The course's week-1 notebooks of "Improving Deep Neural Networks" through nnctl's specs (issue 12 §5):
Initialization (circles) and Regularization (football). Every number pinned here was seen equal with
1 and 2 BLAS threads; the course's own printouts are the reference (its cost takes -log(a), nnctl's
logaddexp of Z[L], and its backprop multiplies by 1/m first: the last digit may differ, the accuracies
may not)."""

from __future__ import annotations

import numpy as np
import pytest

from nnctl.spec.config import load_config
from nnctl.data.dataset import load_dataset, make_circles
from nnctl.experiment.run import train_run
from tests.conftest import REPO, SHARED

COURSE2 = REPO / "configs" / "course2"
FOOTBALL = SHARED / "football.mat"
needs_football = pytest.mark.skipif(not FOOTBALL.exists(), reason=f"course data not found in {SHARED}")


def _first_costs(tmp_path, name, iterations=3, record_every=1):
    spec = load_config(COURSE2 / f"{name}.yaml", [f"train.iterations={iterations}", f"train.record_every={record_every}"])
    summary = train_run(spec, runs_root=tmp_path)
    rows = (tmp_path.joinpath(summary.run_dir) / "costs.csv").read_text().splitlines()[1:]
    return [float(r.split(",")[1]) for r in rows], summary


def test_circles_are_scikit_learns_bit_for_bit():
    """make_circles(300, noise=.05) after np.random.seed(1) and (100, .05) after seed(2): checked equal,
    array for array, to scikit-learn 1.9.1's here (whose angles, linspace(n, endpoint=False), are the
    course's 0.19-era linspace(n + 1)[:-1] for even n). The digits below are those arrays'; a libm
    may round cos/sin differently in the last place, so they are compared to 1e-14."""
    x, y = make_circles()
    assert x.shape == (300, 2) and y.tolist()[:10] == [1, 0, 1, 1, 0, 0, 1, 0, 1, 1] and y.sum() == 150
    assert x[0].tolist() == pytest.approx([-0.07741354010048114, 0.8526022642742742], rel=1e-14)
    assert x[-1, 1] == pytest.approx(0.9298264080659127, rel=1e-14)
    assert float(x.sum()) == pytest.approx(0.10318058999808777, rel=1e-12)
    t, ty = make_circles(100, 2)
    assert t[0].tolist() == pytest.approx([-0.5242373850862546, -0.6091036148461817], rel=1e-14)
    assert t[-1].tolist() == pytest.approx([0.3438483715909715, -0.9192735912720769], rel=1e-14)
    assert ty.sum() == 50


def test_zeros_never_break_symmetry(tmp_path):
    costs, summary = _first_costs(tmp_path, "initialization-zeros", iterations=200, record_every=50)
    assert costs == [0.6931471805599453] * 5  # log 2: every output stays sigmoid(0) = 0.5
    assert summary.train_accuracy == 50.0 and summary.test_accuracy == 50.0


def test_large_random_init_first_cost_is_finite(tmp_path):
    """The course prints inf: log(0) of a sigmoid saturated by weights * 10. nnctl takes the cost from
    Z[L] (log a = -logaddexp(0, -z)), so the same parameters give the large finite cost they have."""
    costs, _ = _first_costs(tmp_path, "initialization-random")
    assert np.isfinite(costs).all() and costs[0] == pytest.approx(1773.5859549373833, rel=1e-12)


def test_he_init_reproduces_the_notebook(tmp_path):
    costs, summary = _first_costs(tmp_path, "initialization-he", iterations=15000, record_every=1000)
    assert costs[0] == pytest.approx(0.8830537463419761, rel=1e-15)  # the course's first cost
    assert costs[1] == pytest.approx(0.6879825919728063, rel=1e-14)  # and its iteration 1000
    assert summary.train_accuracy == pytest.approx(99.333, abs=1e-3) and summary.test_accuracy == 96.0


@needs_football
def test_football_mat_is_read_as_train_and_test():
    train, test = load_dataset(str(FOOTBALL)), load_dataset(str(FOOTBALL), role="test")
    assert train.X.shape == (2, 211) and test.X.shape == (2, 200)
    assert train.Y.sum() == 106 and test.Y.sum() == 87


@needs_football
@pytest.mark.parametrize(
    "name,first",
    [
        ("regularization-none", 0.6557412523481002),
        ("regularization-l2", 0.6974484493131264),
        ("regularization-dropout", 0.6543912405149825),
    ],
)
def test_regularization_first_costs(tmp_path, name, first):
    costs, _ = _first_costs(tmp_path, name)
    assert costs[0] == pytest.approx(first, rel=1e-15)


@pytest.mark.slow  # a course reproduction (test_regularization_first_costs: dropout's first cost)
@needs_football
def test_dropout_with_the_notebooks_masks_reproduces_its_accuracy(tmp_path):
    """keep_prob 0.86 and np.random.seed(1) at every forward pass: 30,000 iterations, 0.9289/0.95."""
    costs, summary = _first_costs(tmp_path, "regularization-dropout", iterations=30000, record_every=10000)
    assert costs[1:3] == pytest.approx([0.061016986574905605, 0.060582435798513114], rel=1e-13)
    assert round(summary.train_accuracy / 100, 4) == 0.9289 and summary.test_accuracy == 95.0


def test_zeros_init_runs_only_when_asked_and_warns(tmp_path):
    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    config = COURSE2 / "initialization-zeros.yaml"
    result = CliRunner().invoke(app, ["train", str(config), "-q", "--no-report", "--runs-dir", str(tmp_path), "--set", "train.iterations=2"])
    assert result.exit_code == 0
    assert result.stderr.startswith("Warning: model.init: zeros with hidden layers: every hidden unit of a layer computes the same function")
    metrics = (tmp_path / "latest" / "metrics.json").read_text()
    assert "symmetry is never broken" in metrics
    refused = CliRunner().invoke(app, ["train", str(config), "--set", "model.allow_symmetry=false"])
    assert refused.exit_code == 1 and "model.allow_symmetry: true to watch it happen" in refused.stderr


def test_mat_files_in_data_info_import_and_training(tmp_path):
    """A MATLAB 5 file of points (X/y, Xval/yval), written by scipy here: the course's football layout."""
    import scipy.io
    from typer.testing import CliRunner

    from nnctl.cli.commands import app

    rs = np.random.RandomState(0)
    X, Xval = rs.randn(30, 2) * 0.3, rs.randn(20, 2) * 0.3
    scipy.io.savemat(tmp_path / "pts.mat", {"X": X, "y": (X[:, :1] > 0).astype(np.uint8), "Xval": Xval, "yval": (Xval[:, :1] > 0).astype(np.uint8)})
    runner = CliRunner()
    info = runner.invoke(app, ["data", "info", str(tmp_path / "pts.mat")])
    assert info.exit_code == 0 and "MATLAB (X/y, Xval/yval) layout" in info.stdout
    assert "train: 30 examples of shape (2,)" in info.stdout and "test: 20 examples of shape (2,)" in info.stdout
    imported = runner.invoke(app, ["data", "import", str(tmp_path / "pts.mat"), "-o", str(tmp_path / "pts.h5")])
    assert imported.exit_code == 0 and imported.stdout.strip() == f"wrote {tmp_path / 'pts.h5'}: train: 30 examples, test: 20 examples"
    for source in ("pts.mat", "pts.h5"):
        train, test = load_dataset(str(tmp_path / source)), load_dataset(str(tmp_path / source), role="test")
        np.testing.assert_array_equal(train.X, X.T)
        np.testing.assert_array_equal(test.X, Xval.T)
    (tmp_path / "m.yaml").write_text("data: {train: pts.mat, test: pts.mat}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.5, iterations: 50}\n")
    trained = runner.invoke(app, ["train", str(tmp_path / "m.yaml"), "-q", "--no-report", "--runs-dir", str(tmp_path / "runs")])
    assert trained.exit_code == 0, trained.output
