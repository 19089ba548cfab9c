"""Sweeps and the runs listing: the grid, parallel = serial, resume, failures, Ctrl-C, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import invoke, run_nnctl, TINY_SPEC
from nnctl.spec.config import load_config, read_config_text, spec_from_text
from nnctl.errors import ConfigError
from nnctl.experiment.run import train_run
from nnctl.rundir.runs import compare_runs, list_runs, load_params
from nnctl.sweep.plan import parse_grid, plan_sweep
from nnctl.sweep.run import run_sweep
from nnctl.sweep.sampler import split_values
from nnctl.sweep.store import load_plan


def test_split_values_keeps_brackets():
    assert split_values("0.1,0.01, 1e-3") == [0.1, 0.01, 0.001]
    assert split_values("[1],[2, 3],[]") == [[1], [2, 3], []]
    assert parse_grid(["model.hidden=[4],[5]", "train.seed=1,2"]) == {"model.hidden": [[4], [5]], "train.seed": [1, 2]}
    with pytest.raises(ConfigError, match="expected key.path=v1,v2"):
        parse_grid(["train.seed"])


def _plan(config, **kw):
    text = read_config_text(config)
    return plan_sweep(spec_from_text(text, config), text, config, **kw)


def test_plan_product_names_and_overrides(tiny_config):
    plan = _plan(tiny_config, hidden_layers=[0, 2], width=3, grid={"train.learning_rate": [0.1, 0.05]})
    assert [t.name for t in plan.trials] == [
        "01-hidden_layers=0_learning_rate=0.1",
        "02-hidden_layers=0_learning_rate=0.05",
        "03-hidden_layers=2_learning_rate=0.1",
        "04-hidden_layers=2_learning_rate=0.05",
    ]
    assert plan.trials[2].overrides == ["model.layers=null", "model.hidden=[3, 3]", "train.learning_rate=0.1"]
    assert plan.dimensions == ["hidden_layers", "train.learning_rate"]


def test_plan_needs_explicit_width(tiny_config):
    with pytest.raises(ConfigError) as info:
        _plan(tiny_config, hidden_layers=[1, 2])
    assert str(info.value).startswith("--hidden-layers needs the width of each hidden layer: give --width N")


def test_plan_checks_every_variant_first(tiny_config):
    with pytest.raises(ConfigError) as info:
        _plan(tiny_config, grid={"train.learning_rate": [0.1, -1]})
    assert str(info.value) == (f"{tiny_config} (with --set train.learning_rate=-1): train.learning_rate: must be greater than 0 (got -1)")


def test_sweep_block_in_spec(tiny_config):
    tiny_config.write_text(TINY_SPEC + "sweep:\n  hidden: [[2], [2, 2]]\n  grid:\n    train.seed: [1, 2]\n")
    plan = _plan(tiny_config)
    assert [t.values for t in plan.trials] == [
        {"model.hidden": [2], "train.seed": 1},
        {"model.hidden": [2], "train.seed": 2},
        {"model.hidden": [2, 2], "train.seed": 1},
        {"model.hidden": [2, 2], "train.seed": 2},
    ]


def _rows(sweep_dir):
    rows = json.loads((sweep_dir / "summary.json").read_text())["trials"]
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_parallel_equals_serial_equals_alone(tmp_path, tiny_config):
    # OpenBLAS rounds some products differently with 1 and 2 threads, so the thread count is pinned
    base = ["train.blas_threads=1"]
    text = read_config_text(tiny_config)
    plan = plan_sweep(
        spec_from_text(text, tiny_config, base),
        text,
        tiny_config,
        grid={"model.hidden": [[2], [3]], "train.learning_rate": [0.1, 0.05]},
        base_overrides=base,
    )
    serial, _, _ = run_sweep(plan, runs_root=tmp_path / "serial", jobs=1)
    parallel, _, _ = run_sweep(plan, runs_root=tmp_path / "parallel", jobs=2)
    assert _rows(serial) == _rows(parallel)
    assert all(r["status"] == "completed" for r in _rows(serial))
    assert plan.trials[3].overrides[0] == "train.blas_threads=1"
    alone = train_run(load_config(tiny_config, plan.trials[3].overrides), runs_root=tmp_path / "alone")
    a, _ = load_params(f"{alone.run_dir}/params.h5")
    for root in (serial, parallel):
        b, _ = load_params(root / plan.trials[3].name / "params.h5")
        assert all(a[k].tobytes() == b[k].tobytes() for k in a)
    for name in ("summary.csv", "summary.json", "costs.png", "accuracy.png", "sweep.json"):
        assert (serial / name).exists()
    assert sorted(p.name for p in (serial / plan.trials[0].name).iterdir()) == [
        "config.resolved.yaml",
        "costs.csv",
        "costs.png",
        "metrics.json",
        "params.h5",
        "reproduce.json",
        "spec.yaml",
    ]


def test_failing_trial_does_not_stop_others_and_resume_reruns_only_missing(tmp_path, tiny_config):
    result = invoke(
        "sweep",
        tiny_config,
        "--grid",
        "data.train=train.h5,missing.h5",
        "--grid",
        "model.hidden=[2],[3]",
        "--jobs",
        "2",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
    )
    assert result.exit_code == 1
    sweep_dir = next((tmp_path / "runs").glob("sweep-*"))
    assert "03-train=missing.h5_hidden=2: failed: " in result.stderr and "missing.h5: no such data file" in result.stderr
    statuses = {r["trial"]: r["status"] for r in _rows(sweep_dir)}
    assert statuses == {
        "01-train=train.h5_hidden=2": "completed",
        "02-train=train.h5_hidden=3": "completed",
        "03-train=missing.h5_hidden=2": "failed",
        "04-train=missing.h5_hidden=3": "failed",
    }
    finished = sweep_dir / "01-train=train.h5_hidden=2" / "metrics.json"
    stamp = finished.stat().st_mtime_ns
    (tmp_path / "missing.h5").write_bytes((tmp_path / "train.h5").read_bytes())  # the user fixes the data
    result = invoke("sweep", "--resume", sweep_dir, "--jobs", "1", "-q")
    assert result.exit_code == 0, result.output
    assert all(r["status"] == "completed" for r in _rows(sweep_dir))
    assert finished.stat().st_mtime_ns == stamp  # finished trials were not run again


def test_diverged_trial_is_reported_and_sweep_goes_on(tmp_path):
    import h5py

    x = np.linspace(-1, 1, 40).reshape(40, 1) * 100
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = x, x.ravel()
    cfg = tmp_path / "r.yaml"
    cfg.write_text("data: {train: r.h5}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 1, iterations: 200}\n")
    result = invoke("sweep", cfg, "--grid", "train.learning_rate=0.00001,10", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    assert "02-learning_rate=10: diverged: training diverged at iteration" in result.stderr
    rows = {r["trial"]: r["status"] for r in _rows(next((tmp_path / "runs").glob("sweep-*")))}
    assert rows == {"01-learning_rate=1e-05": "completed", "02-learning_rate=10": "diverged"}


def test_a_diverged_trial_names_its_own_folder_not_the_temporary_one_it_trained_in(tmp_path):
    """'Run kept at /tmp/nnctl-trial-abc/02-learning_rate=10': that folder is deleted once the trial returns."""
    import h5py

    x = np.linspace(-1, 1, 40).reshape(40, 1) * 100
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = x, x.ravel()
    cfg = tmp_path / "r.yaml"
    cfg.write_text("data: {train: r.h5}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 1, iterations: 200}\n")
    result = invoke("sweep", cfg, "--grid", "train.learning_rate=0.00001,10", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    trial = next((tmp_path / "runs").glob("sweep-*")) / "02-learning_rate=10"
    said = f"Run kept at {trial} (status: diverged)"
    assert "02-learning_rate=10: diverged: training diverged at iteration" in result.stderr and said in result.stderr, result.stderr
    assert json.loads((trial / "metrics.json").read_text())["message"].endswith(said)
    row = next(r for r in _rows(trial.parent) if r["trial"] == trial.name)
    assert row["message"].endswith(said)
    assert not any("nnctl-trial-" in p.read_text(errors="replace") for p in trial.parent.rglob("*") if p.is_file() and p.suffix != ".png")


@pytest.mark.slow  # a real process and a real signal (test_search's stopped search: the same stop in this process)
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_keeps_finished_trials_then_resume(tmp_path, tiny_config, sig, code):
    tiny_config.write_text(TINY_SPEC.replace("iterations: 30", "iterations: 20000"))
    cmd = [
        sys.executable,
        "-m",
        "nnctl",
        "sweep",
        str(tiny_config),
        "--grid",
        "train.iterations=5,6,20000,20001",
        "--jobs",
        "1",
        "--runs-dir",
        str(tmp_path / "runs"),
        "-q",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 600  # ten times a loaded machine's time: only a hang fails
    sweep_dir = None
    while time.time() < deadline:  # wait until the two short trials are stored
        dirs = list((tmp_path / "runs").glob("sweep-*"))
        if dirs and len([p for p in dirs[0].glob("0*") if (p / "metrics.json").exists()]) >= 2:
            sweep_dir = dirs[0]
            break
        time.sleep(0.05)
    assert sweep_dir is not None
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code
    assert err.startswith(f"Interrupted: {sig.name}: sweep interrupted: ")
    assert f"resume with: nnctl sweep --resume {sweep_dir}" in err and "Traceback" not in err
    kept = {r["trial"]: r["status"] for r in _rows(sweep_dir)}
    assert kept["01-iterations=5"] == "completed" and kept["02-iterations=6"] == "completed"
    assert kept["04-iterations=20001"] == "pending"
    plan = load_plan(sweep_dir)
    assert len(plan.trials) == 4
    result = invoke("sweep", "--resume", sweep_dir, "-q", "--set", "train.iterations=1")
    assert result.exit_code == 1 and "--resume runs the plan kept in the sweep directory" in result.stderr


@pytest.mark.slow  # a Dask cluster of worker processes
def test_dask_executor_same_summary_as_local(tmp_path, tiny_config):
    distributed = pytest.importorskip("distributed")
    # local workers get cores/jobs BLAS threads, Dask workers 1: pin it, or other CPUs round differently
    base = ["train.blas_threads=1"]
    text = read_config_text(tiny_config)
    plan = plan_sweep(spec_from_text(text, tiny_config, base), text, tiny_config, grid={"model.hidden": [[2], [3]]}, base_overrides=base)
    local, _, _ = run_sweep(plan, runs_root=tmp_path / "local", jobs=2)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote, _, _ = run_sweep(plan, runs_root=tmp_path / "dask", executor="dask", address=cluster.scheduler_address)
    assert _rows(local) == _rows(remote)
    a, _ = load_params(local / plan.trials[1].name / "params.h5")
    b, _ = load_params(remote / plan.trials[1].name / "params.h5")
    assert all(a[k].tobytes() == b[k].tobytes() for k in a)


@pytest.mark.slow  # a Dask cluster of worker processes
def test_dask_without_address_starts_a_local_cluster_with_the_same_summary(tmp_path, tiny_config):
    pytest.importorskip("distributed")
    args = ("sweep", tiny_config, "--grid", "model.hidden=[2],[3]", "--grid", "train.seed=1,2", "--jobs", "2", "-q")
    local = invoke(*args, "--runs-dir", tmp_path / "local")
    dask = invoke(*args, "--executor", "dask", "--runs-dir", tmp_path / "dask")
    assert local.exit_code == 0 and dask.exit_code == 0, dask.output
    assert "a local Dask cluster of 2 processes)" in dask.stdout
    a_dir, b_dir = next((tmp_path / "local").glob("sweep-*")), next((tmp_path / "dask").glob("sweep-*"))
    assert _rows(a_dir) == _rows(b_dir) and all(r["status"] == "completed" for r in _rows(a_dir))
    for t in load_plan(a_dir).trials:
        a, _ = load_params(a_dir / t.name / "params.h5")
        b, _ = load_params(b_dir / t.name / "params.h5")
        assert all(a[k].tobytes() == b[k].tobytes() for k in a)


def test_dask_unreachable_scheduler(tiny_config, tmp_path, monkeypatch):
    """It waited 20 s, then left a sweep folder holding only sweep.json. The closed port is found by
    the probe alone: Dask's Client (which waits its connect timeout) is never asked."""
    distributed = pytest.importorskip("distributed")

    def no_client(*args, **kwargs):
        raise AssertionError("the Dask client was asked to connect to a closed port")

    monkeypatch.setattr(distributed, "Client", no_client)
    result = invoke("sweep", tiny_config, "--grid", "train.seed=1,2", "--executor", "dask", "--address", "tcp://127.0.0.1:1", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1 and result.stderr == (
        "Error: cannot reach the Dask scheduler at tcp://127.0.0.1:1 (Connection refused); start it (dask scheduler) or check --address\n"
    )
    assert not (tmp_path / "runs").exists()


def test_dask_address_of_another_server(tiny_config, tmp_path):
    """A port that answers, but not as Dask, gave a traceback (MemoryError reading its 'frame size')."""
    pytest.importorskip("distributed")
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def answer():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n" + b"x" * 64)

    threading.Thread(target=answer, daemon=True).start()
    try:
        result = invoke(
            "sweep", tiny_config, "--grid", "train.seed=1,2", "--executor", "dask", "--address", f"tcp://127.0.0.1:{port}", "--runs-dir", tmp_path / "runs"
        )
    finally:
        server.close()
    assert result.exit_code == 1 and result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"Error: cannot talk to a Dask scheduler at tcp://127.0.0.1:{port} (")
    assert result.stderr.endswith("); is it a Dask scheduler? check --address\n")
    assert not (tmp_path / "runs").exists()


def _table_lines(text):
    return [line for line in text.splitlines() if line.strip()[:2].isdigit()]


def test_sweep_table_reads_well_at_80_columns_and_uses_more(tmp_path, tiny_config):
    """Two swept keys made a table of 84-93 columns; a narrow terminal wrapped it."""
    narrow = run_nnctl(
        "sweep",
        tiny_config,
        "--grid",
        "train.learning_rate=0.1,0.05",
        "--grid",
        "model.hidden=[3],[20,7]",
        "--grid",
        "model.hidden_activation=relu,tanh",
        "--jobs",
        "2",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        env={"COLUMNS": "80"},
    )
    assert narrow.returncode == 0, narrow.stderr
    table = [line for line in narrow.stdout.splitlines() if not line.startswith(("sweep: ", "report: "))]  # the path lines are paths
    assert max(len(line) for line in table) <= 80
    rows = _table_lines(narrow.stdout)
    assert len(rows) == 8 and all(r.split()[-1] == "completed" for r in rows)  # one line per trial, nothing cut
    assert all("48-20-7-1" in r or "48-3-1" in r for r in rows)  # the stacks, once, in `layers`
    assert all(r.split()[3] in ("relu", "tanh") or r.split()[2] in ("relu", "tanh") for r in rows)
    from nnctl.cli.display import Console, sweep_table

    summary = json.loads((next((tmp_path / "runs").glob("sweep-*")) / "summary.json").read_text())
    wide = Console(width=140, highlight=False, record=True, file=open(os.devnull, "w"))
    wide.print(sweep_table(summary["trials"], summary["dimensions"], "t", width=140))
    text = wide.export_text()
    header = next(line for line in text.splitlines() if line.startswith("#"))
    assert header.split() == ["#", "learning", "rate", "hidden", "hidden", "activation", "layers", "train", "test", "cost", "s", "status"]
    assert max(len(line) for line in text.splitlines()) <= 140


def test_runs_listing_and_compare(tmp_path, tiny_config):
    runs = tmp_path / "runs"
    for lr in ("0.1", "0.05"):
        assert invoke("train", tiny_config, "--runs-dir", runs, "-q", "--set", f"train.learning_rate={lr}").exit_code == 0
    # a run whose process died: metrics say running, the pid is gone
    dead = runs / "20000101-000000-dead"
    dead.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    import platform

    (dead / "metrics.json").write_text(json.dumps({"status": "running", "pid": proc.pid, "host": platform.node(), "started": "2000-01-01"}))
    rows = list_runs(runs)
    assert [r["status"] for r in rows] == ["interrupted", "completed", "completed"]
    assert rows[1]["layers"] == [48, 3, 1]
    result = invoke("runs", "--runs-dir", runs)
    assert result.exit_code == 0 and "3 runs in" in result.stdout and "interrupted" in result.stdout
    a, b = sorted(p for p in runs.iterdir() if p.name.endswith("-tiny") or p.name.endswith("-tiny-2"))
    diff = compare_runs(a, b)
    assert diff["spec"] == {"train.learning_rate": (0.1, 0.05)}
    assert set(diff["metrics"]) >= {"train_accuracy", "final_cost", "status"}
    result = invoke("runs", "compare", a, b)
    assert result.exit_code == 0 and "train.learning_rate" in result.stdout


def test_runs_listing_reads_only_metrics(tmp_path):
    for i in range(300):
        run = tmp_path / f"20260101-0000{i:03d}-r"
        run.mkdir()
        (run / "metrics.json").write_text(json.dumps({"status": "completed", "started": f"2026-01-01T00:{i:03d}", "layers": [2, 1]}))
        (run / "params.h5").write_bytes(b"not read")
    rows = list_runs(tmp_path)
    assert len(rows) == 300 and rows[0]["run"] == "20260101-0000000-r"
