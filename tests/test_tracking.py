"""--log mlflow and `nnctl runs log`, against a real MLflow file store read back with MlflowClient."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import yaml
from conftest import invoke, write_course_h5

from nnctl.rundir.runs import read_costs_columns
from nnctl.experiment.tracking import flatten

mlflow = pytest.importorskip("mlflow")
MlflowClient = mlflow.tracking.MlflowClient

SPEC = """\
name: tracked
data: {train: train.h5, test: test.h5, validation: 0.25}
model: {hidden: [4], hidden_activation: relu, init: he}
train: {learning_rate: 0.05, epochs: 12, batch_size: 8, optimizer: adam, decay: inverse_time, decay_rate: 0.5,
        time_interval: 2, seed: 3, record_every: 2, blas_threads: 1}
"""


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A file store in tmp_path, as MLFLOW_TRACKING_URI names it (MLflow 3 wants the file store asked for)."""
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "nnctl-tests")
    write_course_h5(tmp_path / "train.h5", "train", m=32)
    write_course_h5(tmp_path / "test.h5", "test", m=12, seed=1)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return MlflowClient(uri)


def _runs(client):
    experiment = client.get_experiment_by_name("nnctl-tests")
    return client.search_runs([experiment.experiment_id]) if experiment else []


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_run_matches_folder(client, run, folder, artifacts=()):
    """Everything MLflow holds equals the run folder's own files."""
    resolved = yaml.safe_load((folder / "config.resolved.yaml").read_text())
    assert run.data.params == flatten(resolved)
    assert run.data.params["train.learning_rate"] == "0.05" and run.data.params["model.layers"] == "[48, 4, 1]"
    costs = read_costs_columns(folder / "costs.csv")
    for column in ("cost", "train_accuracy", "validation_cost", "validation_accuracy", "learning_rate"):
        history = sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, column))
        assert history == list(zip(costs["epoch"], costs[column])), column
    # the training accuracy: one value per record (epochs 0, 2, ..., 10 and the last, 11), costs.csv's
    assert [s for s, _ in sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "train_accuracy"))] == [0, 2, 4, 6, 8, 10, 11]
    assert all(0 <= v <= 100 for v in costs["train_accuracy"])
    assert len({v for _, v in sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, "learning_rate"))}) > 1
    metrics = json.loads((folder / "metrics.json").read_text())
    for key in ("test_accuracy", "final_cost", "seconds"):
        assert run.data.metrics[key] == metrics[key]
    assert run.data.metrics["final_train_accuracy"] == metrics["train_accuracy"]  # the final parameters', once
    reproduce = json.loads((folder / "reproduce.json").read_text())
    assert run.data.tags["nnctl.data.train.sha256"] == reproduce["data"]["train"]["sha256"]
    assert run.data.tags["nnctl.run_id"] == reproduce["run_id"]
    assert run.data.tags["nnctl.version"] == metrics.get("nnctl_version", run.data.tags["nnctl.version"])
    assert run.data.tags["mlflow.runName"] == folder.name
    names = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"params.h5", "costs.csv", "costs.png", "metrics.json", "config.resolved.yaml", "reproduce.json", *artifacts} <= names
    assert "checkpoint.h5" not in names


def test_train_log_mlflow_writes_the_run_its_curves_and_files(store, tmp_path):
    result = invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "-q", "--log", "mlflow", "--log-onnx")
    assert result.exit_code == 0, result.output
    (run,) = _runs(store)
    assert run.info.status == "FINISHED"
    folder = (tmp_path / "runs" / "latest").resolve()
    assert result.stdout.splitlines()[-1] == f"mlflow: run {run.info.run_id}"
    _check_run_matches_folder(store, run, folder, artifacts=("report.html", "model.onnx"))
    local = store.download_artifacts(run.info.run_id, "model.onnx", str(tmp_path))
    ort = pytest.importorskip("onnxruntime")
    x = h5py.File(tmp_path / "test.h5")["test_set_x"][()].reshape(12, -1).astype(np.float64)  # the graph takes float64 rows
    (label,) = ort.InferenceSession(local, providers=["CPUExecutionProvider"]).run(["label"], {"X": x})
    evaluation = invoke("evaluate", folder)
    assert evaluation.exit_code == 0
    predicted = json.loads((folder / "evaluation.json").read_text())["predicted"]
    assert label.tolist() == predicted


def test_logging_never_changes_the_results(store, tmp_path):
    for flag in ([], ["--log", "mlflow"]):
        assert invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", *flag).exit_code == 0
    a, b = sorted(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink())
    with h5py.File(a / "params.h5") as fa, h5py.File(b / "params.h5") as fb:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(fa[key][()], fb[key][()])  # bit for bit
    assert (a / "costs.csv").read_text() == (b / "costs.csv").read_text()


def test_a_tracking_server_that_is_down_costs_nothing_but_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # the discard port: nothing listens
    write_course_h5(tmp_path / "train.h5", "train", m=32)
    write_course_h5(tmp_path / "test.h5", "test", m=12, seed=1)
    (tmp_path / "spec.yaml").write_text(SPEC)
    result = invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "-q", "--log", "mlflow")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning: MLflow")]
    assert len(warnings) == 1, result.stderr
    assert "http://127.0.0.1:9" in warnings[0] and "nnctl runs log RUN" in warnings[0]
    folder = (tmp_path / "runs" / "latest").resolve()
    assert json.loads((folder / "metrics.json").read_text())["status"] == "completed"
    assert (folder / "report.html").exists() and (folder / "params.h5").exists()
    assert "mlflow: run" not in result.stdout


def test_runs_log_imports_a_finished_run(store, tmp_path):
    assert invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "-q").exit_code == 0
    assert _runs(store) == []
    folder = (tmp_path / "runs" / "latest").resolve()
    result = invoke("runs", "log", folder)
    assert result.exit_code == 0, result.output
    (run,) = _runs(store)
    assert result.stdout.strip() == f"mlflow: run {run.info.run_id} (from {folder})"
    assert run.info.status == "FINISHED" and run.data.tags["nnctl.imported"] == "true"
    _check_run_matches_folder(store, run, folder, artifacts=("report.html",))


def test_sweep_is_a_parent_run_with_a_nested_run_per_trial(store, tmp_path):
    result = invoke(
        "sweep",
        tmp_path / "spec.yaml",
        "--grid",
        "model.hidden=[2],[4]",
        "--jobs",
        "1",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        "--no-report",
        "--log",
        "mlflow",
        "--log-onnx",
    )
    assert result.exit_code == 0, result.output
    runs = _runs(store)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (parent,) = parents
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.params["model.layers"] for r in trials) == ["[48, 2, 1]", "[48, 4, 1]"]
    assert all(r.info.status == "FINISHED" and len(store.get_metric_history(r.info.run_id, "cost")) == 7 for r in trials)
    assert all("model.onnx" in {a.path for a in store.list_artifacts(r.info.run_id)} for r in trials)  # each trial exported
    assert {"sweep.json", "summary.csv"} <= {a.path for a in store.list_artifacts(parent.info.run_id)}
    assert result.stdout.strip().splitlines()[-1] == f"mlflow: sweep run {parent.info.run_id} with 2 nested trial runs"
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    again = invoke("runs", "log", sweep_dir)  # the same sweep imported after the fact: the same shape
    assert again.exit_code == 0, again.output
    runs = _runs(store)
    assert len(runs) == 6 and len([r for r in runs if "mlflow.parentRunId" not in r.data.tags]) == 2


def test_a_diverged_run_is_logged_as_failed(store, tmp_path):
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = np.linspace(-100, 100, 40).reshape(40, 1), np.linspace(-100, 100, 40)
    (tmp_path / "r.yaml").write_text(
        "data: {train: r.h5, normalize: none}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 100}\n"
    )
    result = invoke("train", tmp_path / "r.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report", "--log", "mlflow")
    assert result.exit_code == 3
    (run,) = _runs(store)
    assert run.info.status == "FAILED"
    assert "params.h5" in {a.path for a in store.list_artifacts(run.info.run_id)}


def test_a_resumed_run_logs_its_whole_curve(store, tmp_path):
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    (tmp_path / "long.yaml").write_text(SPEC.replace("epochs: 12", "epochs: 40").replace("blas_threads: 1}", "blas_threads: 1, checkpoint_every: 10}"))
    calls = [0]

    def stop():  # asked after every iteration (4 a epoch here): stops in epoch 25, after the checkpoint of epoch 20
        calls[0] += 1
        return calls[0] >= 100

    summary = train_run(load_config(tmp_path / "long.yaml"), runs_root=tmp_path / "runs", should_stop=stop)
    assert summary.status == "interrupted"
    result = invoke("train", "--resume", summary.run_dir, "-q", "--no-report", "--log", "mlflow")
    assert result.exit_code == 0, result.output
    (run,) = _runs(store)
    costs = read_costs_columns(f"{summary.run_dir}/costs.csv")
    history = sorted((m.step, m.value) for m in store.get_metric_history(run.info.run_id, "cost"))
    assert history == list(zip(costs["epoch"], costs["cost"])) and len(history) == 21  # 0, 2, ..., 38 and the last, 39
    history = sorted((m.step, m.value) for m in store.get_metric_history(run.info.run_id, "train_accuracy"))
    assert history == list(zip(costs["epoch"], costs["train_accuracy"])) and len(history) == 21  # before and after the stop


@pytest.mark.slow  # a fresh interpreter: what a command imports
def test_without_log_mlflow_is_never_imported(tmp_path):
    """mlflow's import costs seconds: a training without --log (and an export) must not pay it."""
    import subprocess
    import sys

    write_course_h5(tmp_path / "train.h5", "train", m=32)
    write_course_h5(tmp_path / "test.h5", "test", m=12, seed=1)
    (tmp_path / "spec.yaml").write_text(SPEC)
    script = (
        "import sys\nfrom nnctl.cli.commands import app\n"
        "try:\n    app(['train', 'spec.yaml', '-q', '--no-report'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "try:\n    app(['export', '-o', 'm.npz'])\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'onnx')))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_a_command_refused_before_training_leaves_no_mlflow_run(store, tmp_path):
    (tmp_path / "bad.yaml").write_text(SPEC.replace("train.h5", "missing.h5"))
    result = invoke("train", tmp_path / "bad.yaml", "--runs-dir", tmp_path / "runs", "-q", "--log", "mlflow")
    assert result.exit_code == 1 and "missing.h5" in result.stderr
    assert _runs(store) == []
