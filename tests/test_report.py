"""`nnctl report`, `runs show`, `config show --shapes`: the pages' contents, checked without a browser."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from nnctl.spec.config import load_config
from nnctl.experiment.run import train_run
from nnctl.report.collect import collect_run
from nnctl.rundir.runs import read_costs_columns
from nnctl.report.shapes import shape_table, table_rows
from conftest import invoke


def _train(config, runs, *extra):
    result = invoke("train", config, "--runs-dir", runs, "-q", *extra)
    assert result.exit_code == 0, result.output
    return (runs / "latest").resolve()


def _page(run) -> str:
    return (run / "report.html").read_text()


def _outside_references(html: str) -> list:
    """Every src/href/url() that would leave the file: not data:, not a #fragment, not a relative path."""
    refs = re.findall(r"""(?:src|href|xlink:href)\s*=\s*["']([^"']*)["']""", html) + re.findall(r"url\(([^)]*)\)", html)
    return [r for r in refs if not (r.startswith(("data:", "#")) or (r and "://" not in r and not r.startswith("//")))]


def _visible_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ---------------------------------------------------------------- the dimensions table


def test_shape_table_is_the_courses_dimensions():
    t = shape_table([12288, 20, 7, 5, 1], ["relu", "relu", "relu", "sigmoid"], m=209)
    rows = table_rows(t)
    assert rows[0][:7] == ["0", "12288", "input", "—", "—", "—", "(12288, 209)"]
    assert rows[1][:7] == ["1", "20", "relu", "(20, 12288)", "(20, 1)", "(20, 209)", "(20, 209)"]
    assert rows[4][:7] == ["4", "1", "sigmoid", "(1, 5)", "(1, 1)", "(1, 209)", "(1, 209)"]
    # the course's count for this network: 20*12288+20 + 7*20+7 + 5*7+5 + 1*5+1
    assert t.parameters == 245_780 + 147 + 40 + 6 == 245_973
    assert t.parameter_bytes == 245_973 * 8
    assert t.activation_bytes == (12288 + 2 * (20 + 7 + 5 + 1)) * 209 * 8
    assert shape_table([2, 4, 1], ["tanh", "sigmoid"], m=None, dtype="float32").rows[1].Z is None


def test_config_show_shapes(tiny_config):
    result = invoke("config", "show", tiny_config, "--shapes")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "layer shapes for m = 12, float64" in out and "n[l]" in out and "W[l]" in out
    assert re.search(r"1\s+3\s+relu\s+\(3, 48\)\s+\(3, 1\)\s+\(3, 12\)\s+\(3, 12\)\s+147", out)
    assert re.search(r"2\s+1\s+sigmoid\s+\(1, 3\)\s+\(1, 1\)\s+\(1, 12\)\s+\(1, 12\)\s+4", out)
    assert re.search(r"total\s+151", out)


# ---------------------------------------------------------------- a run's page


def test_train_writes_a_self_contained_page(tmp_path, tiny_config, tiny_data):
    runs = tmp_path / "runs"
    result = invoke("train", tiny_config, "--runs-dir", runs, "-q")
    assert result.exit_code == 0, result.output
    run = (runs / "latest").resolve()
    assert result.stdout.endswith(f"report: {run}/report.html\nrun: {run}\n")
    html = _page(run)
    text = _visible_text(html)
    assert "<title>tiny · nnctl run</title>" in html and 'id="status">completed<' in html
    assert "default-src 'none'" in html  # the browser refuses any request the page might make
    assert _outside_references(html) == []
    assert "<link" not in html and "@import" not in html
    # the dimensions table for m = 12 and its parameter counts
    assert "for the run's m = 12 training examples" in text
    assert re.search(
        r"<td>1</td><td>3</td><td class=\"text\">relu</td><td>\(3, 48\)</td><td>\(3, 1\)</td><td>\(3, 12\)</td><td>\(3, 12\)</td><td>147</td>", html
    )
    assert "<td>151</td>" in html
    # the spec as given and resolved, the metrics, the curve, the reproduction facts
    assert "hidden: [3]" in html and "layers: [48, 3, 1]" in html
    metrics = json.loads((run / "metrics.json").read_text())
    assert f"{metrics['train_accuracy']:.2f}%" in text and f"{metrics['test_accuracy']:.2f}%" in text
    assert html.count("<svg") >= 1 and 'id="cost-plot"' in html
    repro = json.loads((run / "reproduce.json").read_text())
    assert repro["data"]["train"]["sha256"] in html
    assert f"nnctl train {run}/config.resolved.yaml" in text
    # the confusion matrix on the test data (6 examples) and one picture per mistake
    ev = collect_run(run).evaluation
    assert ev["source"] == "computed now on the run's test data" and sum(map(sum, ev["confusion_matrix"])) == 6
    assert html.count('<img src="data:image/png;base64,') == len(ev["misclassified"])
    assert oct((run / "report.html").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_no_report_option_and_report_command_output(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    assert not (run / "report.html").exists()
    out = tmp_path / "mail" / "page.html"
    out.parent.mkdir()
    result = invoke("report", run, "-o", out)
    assert result.exit_code == 0 and result.stdout == f"report: {out}\n"
    assert "tiny · nnctl run" in out.read_text() and not (run / "report.html").exists()


def test_last_evaluate_is_used_and_gallery_shows_its_mistakes(tmp_path, tiny_config, tiny_data):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    assert invoke("evaluate", run, "--data", tiny_data[0]).exit_code == 0  # on the training file this time
    facts = collect_run(run)
    evaluation = json.loads((run / "evaluation-train.json").read_text())
    assert facts.evaluation["source"].startswith("from evaluation-train.json (the last `nnctl evaluate`")
    assert facts.evaluation["confusion_matrix"] == evaluation["confusion_matrix"]
    assert len(facts.evaluation["gallery"]) == len(evaluation["misclassified"])
    assert sum(map(sum, facts.evaluation["confusion_matrix"])) == 12


def test_runs_show(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs")
    result = invoke("runs", "show", run)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("tiny  completed\n")
    assert re.search(r"1\s+3\s+relu\s+\(3, 48\)\s+\(3, 1\)\s+\(3, 12\)\s+\(3, 12\)\s+147", out)
    assert "confusion matrix on" in out and "rerun" in out and "costs recorded  4: first" in out


def test_decision_regions_for_two_dimensional_data(tmp_path):
    (tmp_path / "f.yaml").write_text(
        "name: flower\ndata: {train: 'builtin:planar?m=60'}\nmodel: {hidden: [3], hidden_activation: tanh}\n"
        "train: {learning_rate: 1, iterations: 50, record_every: 10}\n"
    )
    run = _train(tmp_path / "f.yaml", tmp_path / "runs")
    html = _page(run)
    assert 'id="decision-plot"' in html and "decision regions (training data)" in html
    assert "the run has no test file" in html  # no test data: said, not hidden


def test_validation_costs_learning_rate_and_warnings_when_recorded(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    (run / "costs.csv").write_text("iteration,cost,validation_cost,learning_rate\n0,2.0,2.1,0.1\n10,0.2,0.3,0.05\n20,0.01,0.05,0.025\n29,0.005,,0.0125\n")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(validation_accuracy=75.0, warnings=["the cost rose at iteration 12"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    costs = read_costs_columns(run / "costs.csv")
    assert costs["validation_cost"][:3] == [2.1, 0.3, 0.05] and np.isnan(costs["validation_cost"][3])
    assert invoke("report", run).exit_code == 0
    html = _page(run)
    text = _visible_text(html)
    assert ">validation<" in html  # the second curve's legend
    assert 'id="lr-plot"' in html and "learning rate" in html
    assert "log scale" in text  # 2.0 down to 0.005 spans a factor of 400
    assert "Warning: the cost rose at iteration 12" in text
    assert "validation accuracy" in text and "75.00%" in text


def test_costs_without_a_recorded_schedule_say_so(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs")
    text = _visible_text(_page(run))
    assert "Learning rate 0.1 throughout" in text and "log scale" not in text and 'id="lr-plot"' not in _page(run)


# ---------------------------------------------------------------- unfinished, diverged, interrupted, damaged


def _top(html: str) -> str:
    """The page up to its first plot: what a reader sees first."""
    return _visible_text(html[: html.index('id="cost-plot"')])


def test_interrupted_run_says_so_at_the_top(tmp_path, tiny_config):
    summary = train_run(load_config(tiny_config), runs_root=tmp_path / "runs", should_stop=lambda: True)
    assert summary.status == "interrupted"
    run = Path(summary.run_dir)
    assert invoke("report", run).exit_code == 0
    top = _top(_page(run))
    assert "interrupted" in top
    assert f"Interrupted at iteration 1 of 30: this run is unfinished. Resume it with: nnctl train --resume {run}" in top


def test_running_and_killed_runs_say_so_at_the_top(tmp_path, tiny_config):
    from nnctl.rundir.lock import run_lock

    run = _train(tiny_config, tmp_path / "runs")
    metrics = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "running", "pid": os.getpid(), "host": platform.node()}))
    with run_lock(run):  # running: a process holds the run's lock (the truth; the pid is only shown)
        assert invoke("report", run).exit_code == 0
    assert f"Unfinished: the run is still running (pid {os.getpid()})" in _top(_page(run))
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a run whose process is gone was killed
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "running", "pid": proc.pid, "host": platform.node()}))
    assert invoke("report", run).exit_code == 0
    assert "Interrupted at iteration 30 of 30: this run is unfinished" in _top(_page(run))


def test_diverged_run_gets_its_page_from_train(tmp_path):
    x = np.linspace(-1, 1, 40).reshape(40, 1) * 100
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["x"], f["y"] = x, x.ravel()
    (tmp_path / "r.yaml").write_text(
        "data: {train: r.h5}\nmodel: {hidden: [], output_activation: linear}\ntrain: {learning_rate: 10, iterations: 1000, record_every: 1}\n"
    )
    result = invoke("train", tmp_path / "r.yaml", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 3 and "Traceback" not in result.output
    run = (tmp_path / "runs" / "latest").resolve()
    html = _page(run)
    assert 'id="status">diverged<' in html
    top = _top(html)
    assert "Diverged at iteration" in top and "smaller learning_rate" in top
    assert "notice bad" in html[: html.index('id="cost-plot"')]


def test_damaged_run_directory_gives_a_page_that_says_what_is_missing(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    (run / "metrics.json").write_text("{not json")
    (run / "costs.csv").write_text("garbage\x00\x01")
    (run / "params.h5").write_bytes(b"\x89HDF\r\n\x1a\nbroken")
    (run / "reproduce.json").unlink()
    (run / "config.resolved.yaml").write_text("model: {layers: [48, 'x'], activations: 7}\n")
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    top = _top(_page(run))
    for said in (
        "metrics.json: damaged (not valid JSON)",
        "costs.csv: damaged (no epoch,cost or iteration,cost columns)",
        "params.h5: damaged (cannot be read as HDF5)",
        "reproduce.json: missing",
    ):
        assert said in top
    assert "status is unknown" in top
    html = _page(run)
    assert "The layer sizes are unknown" in html and "No cost curve" in html
    result = invoke("runs", "show", run)
    assert result.exit_code == 0 and "metrics.json: damaged" in result.stdout


def test_hostile_values_are_escaped_and_never_a_path(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    metrics = json.loads((run / "metrics.json").read_text())
    metrics.update(message="<script>alert(1)</script>", pid=[1], warnings=["<img src=http://x/y>"])
    (run / "metrics.json").write_text(json.dumps(metrics))
    (run / "evaluation.json").write_text(json.dumps({"confusion_matrix": [[1, 2], [3]], "accuracy": "x"}))
    assert invoke("report", run).exit_code == 0
    # a status nnctl never writes is not shown at all: one line naming the file (tests/test_readback.py)
    (run / "metrics.json").write_text(json.dumps({**metrics, "status": "<script>alert(1)</script>"}))
    said = invoke("report", run)
    assert said.exit_code == 1 and "metrics.json: status '<script>alert(1)</script>' is not one nnctl writes" in said.output
    html = _page(run)
    assert "<script>alert" not in html and "<img src=http" not in html and "&lt;img src=http://x/y&gt;" in html
    assert _outside_references(html) == []


def test_names_read_back_are_shown_as_text(tmp_path, tiny_config):
    run = _train(tiny_config, tmp_path / "runs", "--no-report")
    resolved = (run / "config.resolved.yaml").read_text().replace("name: tiny", "name: '$\\frac{1}{0$ \"<b>'")
    (run / "config.resolved.yaml").write_text(resolved)
    result = invoke("report", run)
    assert result.exit_code == 0, result.output
    html = _page(run)
    assert "<title>$\\frac{1}{0$ &#34;&lt;b&gt; · nnctl run</title>" in html and '"<b>' not in html
    assert 'aria-label="$\\frac{1}{0$ &quot;&lt;b&gt;: cost"' in html


def test_report_of_what_is_not_a_run(tmp_path):
    result = invoke("report", tmp_path / "nope")
    assert result.exit_code == 1 and result.stderr == f"Error: {tmp_path / 'nope'}: no such run or sweep directory; see `nnctl runs` for the runs there are\n"
    result = invoke("report", tmp_path)
    assert result.exit_code == 1 and "not a run or sweep directory" in result.stderr and "Traceback" not in result.output


# ---------------------------------------------------------------- a sweep's page


def test_sweep_page_table_best_trial_and_links(tmp_path, tiny_config):
    result = invoke(
        "sweep",
        tiny_config,
        "--hidden-layers",
        "0,1",
        "--width",
        "2",
        "--grid",
        "train.learning_rate=0.1,0.05",
        "--jobs",
        "1",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
    )
    assert result.exit_code == 0, result.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    html = (sweep / "report.html").read_text()
    assert _outside_references(html) == []
    summary = json.loads((sweep / "summary.json").read_text())["trials"]
    best = summary[0]["trial"]
    assert f'Best trial: <strong><a href="{best}/report.html">{best}</a>' in html
    # every trial: a row, a link to its page (which exists and links back)
    links = re.findall(r'<a href="([^"]+)" title="([^"]+)">', html)
    assert sorted(t for _, t in links) == sorted(r["trial"] for r in summary)
    for href, _ in links:
        page = sweep / href
        assert page.exists() and 'href="../report.html">back to the sweep' in page.read_text()
    assert html.count('<th class="sortable') == 9  # trial, 2 swept keys, layers, train, test, cost, s, status
    assert "accuracy (%) against hidden_layers" in html and "accuracy (%) against train.learning_rate" in html
    assert "every trial&#39;s cost" in html or "every trial's cost" in html
    # the sort keys are the raw values
    costs = re.findall(r'<td data-value="([0-9.e-]+)">\d\.\d{6}</td>', html)
    assert [float(c) for c in costs] == [r["final_cost"] for r in summary]  # best first, full precision


def test_sweep_page_with_hostile_plan(tmp_path, tiny_config):
    result = invoke("sweep", tiny_config, "--grid", "train.seed=1,2", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert result.exit_code == 0
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    assert not (sweep / "report.html").exists()
    plan = json.loads((sweep / "sweep.json").read_text())
    plan["trials"].append({"index": 3, "name": "../../evil", "overrides": [], "values": {}})
    plan["trials"].append({"index": 4, "name": "03-never-ran", "overrides": [], "values": {"train.seed": 3}})
    (sweep / "sweep.json").write_text(json.dumps(plan))
    (tmp_path / "evil").mkdir()
    (tmp_path / "evil" / "metrics.json").write_text("{}")
    assert invoke("report", sweep).exit_code == 0
    html = (sweep / "report.html").read_text()
    assert not (tmp_path / "evil" / "report.html").exists()
    assert "trial name &#39;../../evil&#39; is not a folder name; skipped" in html
    assert "Not every trial completed: 1 pending of 3." in html


def test_templates_are_package_data():
    """A non-editable install carries the templates: pyproject's package-data names every one."""
    import fnmatch

    tomllib = pytest.importorskip("tomllib")
    from conftest import REPO

    from nnctl.report import render as report

    package = report.__name__.rpartition(".")[0]  # the templates are package data of the report's package
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][package]
    templates = [p.relative_to(report.TEMPLATES.parent).as_posix() for p in report.TEMPLATES.iterdir()]
    assert {"templates/base.html", "templates/run.html", "templates/sweep.html"} <= set(templates)
    assert all(any(fnmatch.fnmatch(t, pat) for pat in patterns) for t in templates)
    assert "jinja2>=3.1" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]


# ---------------------------------------------------------------- issue 20 round 7: m of table and array runs


def _table_csv(path, rows=40):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, 3))
    lines = ["a,b,c,kind"] + [f"{u:.3f},{v:.3f},{w:.3f},{'yes' if u + v > 0 else 'no'}" for u, v, w in x]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_table_run_page_has_its_m_shapes_and_memory(tmp_path):
    data = _table_csv(tmp_path / "t.csv")
    result = invoke("train", "--data", data, "--runs-dir", tmp_path / "runs", "-q", "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    run = (tmp_path / "runs" / "latest").resolve()
    assert json.loads((run / "metrics.json").read_text())["m"] == 40
    facts = collect_run(run)
    assert facts.m == 40 and facts.shapes.activation_bytes is not None
    text = _visible_text(_page(run))
    assert "for the run's m = 40 training examples" in text and "m unknown" not in text
    held = invoke("train", "--data", data, "--runs-dir", tmp_path / "runs2", "-q", "--set", "train.epochs=1", "--set", "data.validation=0.25")
    assert held.exit_code == 0, held.output
    assert collect_run((tmp_path / "runs2" / "latest").resolve()).m == 30  # the training part, not the file's 40 rows


def test_a_run_that_does_not_record_m_says_truthfully_why(tmp_path):
    """Runs written before metrics.json recorded m: a table's rows where they all trained; otherwise the reason, in words."""
    data = _table_csv(tmp_path / "t.csv")
    assert invoke("train", "--data", data, "--runs-dir", tmp_path / "runs", "-q", "--set", "train.epochs=1").exit_code == 0
    run = (tmp_path / "runs" / "latest").resolve()

    def drop_m(folder):
        metrics = json.loads((folder / "metrics.json").read_text())
        del metrics["m"]
        (folder / "metrics.json").write_text(json.dumps(metrics))

    drop_m(run)
    assert collect_run(run).m == 40  # every row of the table trained: read from it
    resolved = (run / "config.resolved.yaml").read_text()
    (run / "config.resolved.yaml").write_text(resolved.replace("validation: null", "validation: 0.25"))
    facts = collect_run(run)
    assert facts.m is None and facts.m_unknown == "the run does not record how many of the table's rows it trained on"
    data.unlink()
    assert collect_run(run).m_unknown == f"the training data {data} is no longer there"
    assert invoke("report", run, "--force").exit_code == 0
    assert f"(m unknown: the training data {data} is no longer there)" in _visible_text(_page(run))

    import nnctl

    x = np.random.default_rng(1).standard_normal((20, 2))
    model = nnctl.fit({"model": {"hidden": [3]}, "train": {"learning_rate": 0.1, "epochs": 1}}, x, (x[:, 0] > 0).astype(int))
    saved = model.save(tmp_path / "api-run")
    assert collect_run(saved).m == 20
    drop_m(saved)
    assert collect_run(saved).m_unknown == "the run was trained on arrays passed in Python, which the run folder does not keep"
