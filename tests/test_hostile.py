"""Hostile input, class by class (issue 20): text from outside reaching a terminal or a page (A),
damaged and extreme files (B), crashes and hangs (C), silently wrong answers (D), misleading
messages (E), the memory of prediction (F). docs/hostile-input.md states the guarantees."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import invoke
from PIL import Image

# Rich markup (a closing tag that does not match raises MarkupError), an emoji code, a colour
# escape, an OSC 8 hyperlink, a carriage return, a bidi override, a C1 CSI and a clear-screen
HOSTILE = "[bold]x[/bold][/x]:smile:\x1b[31mR\x1b]8;;http://evil/\x07L\x1b]8;;\x07\rover\u202eZ\x9b2J\x1b[2J"
NAME = HOSTILE.replace("/", "|")  # as a file name
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _clean(result, *, code=0):
    """No control character, no traceback, the markup printed as typed (never interpreted)."""
    out = result.stdout + (result.stderr or "")
    assert result.exit_code == code, out
    assert "Traceback" not in out and "MarkupError" not in out
    assert not CONTROLS.search(out), repr(CONTROLS.search(out).group())
    return out


def _course(path, prefix, m, classes, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    x = rng.integers(0, 128, size=(m, 4, 4, 3)).astype(np.uint8)
    x[y == 1] += 127
    with h5py.File(path, "w") as f:
        f[f"{prefix}_set_x"] = x
        f[f"{prefix}_set_y"] = y
        f["list_classes"] = np.array([c.encode() for c in classes])
    return path


@pytest.fixture
def hostile_run(tmp_path):
    """A run trained on files and classes with hostile names, its folder renamed to one too."""
    classes = [f"dark{HOSTILE}", "bright\u202e[red]"]
    train = _course(tmp_path / f"train{NAME}.h5", "train", 12, classes)
    test = _course(tmp_path / f"test{NAME}.h5", "test", 6, classes, seed=1)
    spec = tmp_path / "h.yaml"
    spec.write_text(
        json.dumps(
            {
                "name": "h",
                "data": {"train": train.name, "test": test.name},
                "model": {"hidden": [3]},
                "train": {"learning_rate": 0.1, "iterations": 20, "seed": 3},
            }
        )
    )
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "-q")
    _clean(result)
    run = next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink() and p.is_dir())
    hostile = run.with_name(f"{run.name}{NAME}")
    run.rename(hostile)
    metrics = json.loads((hostile / "metrics.json").read_text())
    metrics["warnings"] = [f"warning {HOSTILE}"]
    (hostile / "metrics.json").write_text(json.dumps(metrics))
    return hostile, test, classes


def test_hostile_names_through_every_command_that_prints(hostile_run, tmp_path):
    run, test, classes = hostile_run
    root = tmp_path / "runs"
    out = _clean(invoke("runs", "--runs-dir", root))
    assert "\\x1b[31mR" in out and "[bold]x[/bold][/x]:smile:" in out  # shown, visibly, as typed
    _clean(invoke("runs", "show", run))
    other = shutil.copytree(run, root / "other")
    resolved = (other / "config.resolved.yaml").read_text().replace("name: h", f"name: '{HOSTILE[:12]}'")
    (other / "config.resolved.yaml").write_text(resolved)
    out = _clean(invoke("runs", "compare", run, other))
    assert "spec differences" in out
    out = _clean(invoke("evaluate", run, "--data", test))
    assert "dark[bold]x[/bold][/x]" in out
    picture = tmp_path / f"pic{NAME}.png"
    Image.new("RGB", (8, 8), (200, 10, 10)).save(picture)
    out = _clean(invoke("predict", picture, "--run", run))
    assert "pic[bold]x[|bold]" in out
    for fmt in ("--json", "--csv"):
        _clean(invoke("predict", picture, "--run", run, fmt))
    line = invoke("predict", picture, "--run", run, "--json").stdout.splitlines()[0]
    assert json.loads(line)["file"].endswith(NAME + ".png")  # JSON keeps the name exactly, escaped
    _clean(invoke("data", "info", test))
    _clean(invoke("report", run))
    _clean(invoke("train", tmp_path / f"missing{NAME}.yaml"), code=1)
    out = _clean(invoke("runs", "show", tmp_path / f"nothing{NAME}"), code=1)
    assert out.startswith("Error: ") and "\\x1b" in out


def test_hostile_trial_values_in_a_sweep_and_its_page(tmp_path, tiny_data):
    train, test = tiny_data
    other = shutil.copy(test, tmp_path / "t[bold]x[|x]:smile:\u202eZ.h5")  # YAML refuses ESC and C1 in a --grid value
    spec = tmp_path / "s.yaml"
    spec.write_text("data: {train: train.h5, test: test.h5}\nmodel: {hidden: [2]}\ntrain: {iterations: 10, learning_rate: 0.1}\n")
    result = invoke("sweep", spec, "--grid", f"data.test=test.h5,{Path(other).name}", "--jobs", "1", "--runs-dir", tmp_path / "runs")
    _clean(result)
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    html = (sweep / "report.html").read_text()
    assert not CONTROLS.search(html)


def test_report_links_and_csp(tmp_path, tiny_config):
    """A trial named javascript:... links to its own folder; the CSP allows the one script by its hash."""
    import base64
    import hashlib

    from nnctl.report.render import href

    assert href(tmp_path / "javascript:alert(1)" / "report.html", tmp_path) == "javascript%3Aalert(1)/report.html"
    assert href(tmp_path / "report.html", tmp_path / "t") == "../report.html"
    assert href(tmp_path / "a#b?c d" / "report.html", tmp_path) == "a%23b%3Fc%20d/report.html"
    result = invoke("sweep", tiny_config, "--hidden-layers", "0,1", "--width", "2", "--jobs", "1", "--runs-dir", tmp_path / "runs", "-q")
    assert result.exit_code == 0, result.output
    sweep = next((tmp_path / "runs").glob("sweep-*"))
    html = (sweep / "report.html").read_text()
    csp = re.search(r'Content-Security-Policy" content="([^"]*)"', html).group(1)
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    scripts = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    trial = (sweep / next(p.name for p in sweep.iterdir() if p.is_dir()) / "report.html").read_text()
    assert "script-src 'none'" in trial and "<script" not in trial


def test_console_boundary_drops_what_escapes_it(capsys):
    """Even a string printed without cell()/line() loses its control characters at the console."""
    from nnctl.cli.display import SafeTable, err_console, out_console, say

    out_console().print(f"a{HOSTILE}b")
    table = SafeTable(title=HOSTILE)
    table.add_column(HOSTILE)
    table.add_row(HOSTILE)
    out_console().print(table)
    say(HOSTILE, err=True)
    err_console().print(HOSTILE)
    got = capsys.readouterr()
    assert not CONTROLS.search(got.out + got.err)
    assert got.out.count("[bold]x[/bold][/x]:smile:") == 4 and got.err.count("[bold]x[/bold][/x]:smile:") == 2


# ---------------------------------------------------------------- B, C, D: files damaged or changed under a run

CHANGE_DURING_TRAINING = """
import os, shutil, sys
from nnctl.core import training
from nnctl.cli.commands import main
real = training.Trainer.backward_and_update
calls = [0]
def step(self):
    calls[0] += 1
    if calls[0] == 20:
        {action}
    return real(self)
training.Trainer.backward_and_update = step
sys.argv = ["nnctl"] + sys.argv[1:]
main()
"""


def _plain_file(path, m=4000, seed=0, compression=None):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, 8))
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=x, chunks=(500, 8) if compression else None, compression=compression)
        f.create_dataset("y", data=(x[:, 0] > 0).astype(np.int64))
    return path


@pytest.mark.slow  # a process of its own: a regression would be a SIGBUS
@pytest.mark.parametrize(
    "action, said",
    [
        ("os.truncate('data.h5', 4096)", "truncated"),  # under the mapping: SIGBUS without the size check
        ("shutil.copy('other.h5', 'new.h5'); os.replace('new.h5', 'data.h5')", "rewritten or replaced"),
    ],
)
def test_a_data_file_changed_during_a_streamed_run_stops_it(tmp_path, action, said):
    import subprocess
    import sys

    _plain_file(tmp_path / "data.h5")
    _plain_file(tmp_path / "other.h5", seed=1)
    (tmp_path / "s.yaml").write_text("data: {train: data.h5, stream: always}\nmodel: {hidden: [4]}\ntrain: {epochs: 3, batch_size: 100, learning_rate: 0.1}\n")
    done = subprocess.run(
        [sys.executable, "-c", CHANGE_DURING_TRAINING.format(action=action), "train", "s.yaml", "-q", "--runs-dir", "runs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, (done.returncode, done.stderr)  # -7 would be SIGBUS
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "data.h5: the file changed while the run was reading it" in last
    assert said in done.stderr and "Traceback" not in done.stderr


def test_a_damaged_gzip_chunk_is_one_error_line(tmp_path):
    path = _plain_file(tmp_path / "gz.h5", compression="gzip")
    with h5py.File(path, "r") as f:
        chunk = f["x"].id.get_chunk_info(3)
    data = bytearray(path.read_bytes())
    for i in range(chunk.byte_offset + 10, chunk.byte_offset + chunk.size - 4):
        data[i] ^= 0xA5
    path.write_bytes(bytes(data))
    (tmp_path / "s.yaml").write_text("data: {train: gz.h5, stream: always}\nmodel: {hidden: [4]}\ntrain: {epochs: 1, batch_size: 100, learning_rate: 0.1}\n")
    want = "the array 'x' cannot be read at rows"
    result = invoke("train", tmp_path / "s.yaml", "-q", "--runs-dir", tmp_path / "runs")  # the finite check meets it
    assert result.exit_code == 1 and want in result.stderr and "Traceback" not in result.output, result.output
    result = invoke("config", "show", tmp_path / "s.yaml")  # the spec; the line on normalisation left out
    assert result.exit_code == 0 and "# data.normalize" not in result.stdout, result.output
    result = invoke("data", "info", path)
    assert result.exit_code == 0 and "damaged" in result.stdout, result.output


@pytest.fixture
def silent_scheduler():
    """tcp://127.0.0.1:PORT of a server that accepts every connection and never says a word."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for c in held:
        c.close()
    server.close()


def test_a_silent_dask_scheduler_times_out(tiny_config, tmp_path, silent_scheduler, monkeypatch):
    pytest.importorskip("distributed")
    from nnctl.sweep.launchers import dask

    monkeypatch.setattr(dask, "DASK_CALL_SECONDS", 1)
    result = invoke(
        "sweep", tiny_config, "--grid", "train.seed=1,2", "--executor", "dask", "--address", silent_scheduler, "--runs-dir", tmp_path / "runs", "-q"
    )
    assert result.exit_code == 1, result.output
    assert (
        result.stderr == f"Error: the Dask scheduler at {silent_scheduler}: no answer within 1 s; is it a Dask scheduler, and is it running? check --address\n"
    )
    assert not (tmp_path / "runs").exists()  # nothing made before the scheduler answered


@pytest.mark.slow  # a real process and a real SIGTERM
def test_sigterm_stops_a_sweep_waiting_for_a_silent_scheduler(tiny_config, tmp_path, silent_scheduler):
    pytest.importorskip("distributed")
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nnctl",
            "sweep",
            str(tiny_config),
            "--grid",
            "train.seed=1,2",
            "--executor",
            "dask",
            "--address",
            silent_scheduler,
            "--runs-dir",
            str(tmp_path / "runs"),
            "-q",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        import time

        # the probe connects first: wait until the sweep is waiting on the scheduler's handshake
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            conns = subprocess.run(["ss", "-tn", "state", "established", "dst", silent_scheduler.split("//")[1]], capture_output=True, text=True)
            if conns.returncode != 0 or conns.stdout.count("\n") >= 2:  # no `ss`: the TERM comes a little later, still fine
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=10)[1]
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert err.strip().splitlines()[-1] == f"Interrupted: SIGTERM: stopped while waiting for the Dask scheduler at {silent_scheduler}"


@pytest.mark.parametrize("host", ["-foo", "a..b", "a" * 64, ".", "999.1.1.1", "x" * 60 + "." + "y" * 200])
def test_a_dask_address_that_is_not_a_host_name(tiny_config, tmp_path, host):
    result = invoke("sweep", tiny_config, "--grid", "train.seed=1,2", "--executor", "dask", "--address", f"tcp://{host}:8786", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith(f"Error: --address tcp://{host}:8786: ") and "is not a valid host name or IP address" in result.stderr


# ---------------------------------------------------------------- D, E: checkpoints complete and consistent, or refused

CKPT_SPEC = """\
name: moons
data: {train: "builtin:moons"}
model: {layers: [2, 5, 1], init: he}
train: {learning_rate: 0.01, epochs: 50, batch_size: 16, optimizer: adam, seed: 3, record_every: 1, checkpoint_every: 5}
"""


@pytest.fixture
def stopped_run(tmp_path):
    """An Adam run with mini-batches stopped in the middle of an epoch: its checkpoint.h5 is what resume reads."""
    from nnctl.spec.config import load_config
    from nnctl.experiment.run import train_run

    config = tmp_path / "moons.yaml"
    config.write_text(CKPT_SPEC)
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] > 123  # a step in the middle of epoch 6

    run = Path(train_run(load_config(config), runs_root=tmp_path / "runs", should_stop=stop).run_dir)
    assert (run / "checkpoint.h5").exists()
    return run


def _edit(run, arrays=None, attrs=None, drop=()):
    with h5py.File(run / "checkpoint.h5", "r+") as f:
        for key in drop:
            if key in f:
                del f[key]
            else:
                del f.attrs[key]
        for key, value in (arrays or {}).items():
            f[key][...] = value(f[key][()])
        for key, value in (attrs or {}).items():
            f.attrs[key] = json.dumps(value(json.loads(f.attrs[key])))


@pytest.mark.parametrize(
    "edit, said",
    [
        (dict(arrays={"optimizer/t": lambda t: 0}), "the optimizer's step count t is 0 but the checkpoint is at step"),
        (dict(drop=["loop/order"]), "loop/order: expected this epoch's order of the"),
        (dict(arrays={"loop/order": lambda o: np.zeros_like(o)}), "loop/order: expected this epoch's order of the"),
        (dict(drop=["batch"]), "the checkpoint is damaged (batch missing)"),
        (dict(drop=["epoch"]), "the checkpoint is damaged (epoch missing)"),
        (dict(drop=["batches"]), "the checkpoint is damaged (batches missing)"),
        (
            dict(arrays={"optimizer/s.W1": lambda s: np.where(np.arange(s.size).reshape(s.shape) == 0, np.nan, s)}),
            "optimizer/s.W1 holds values that are not finite numbers, which training never stores",
        ),
        (dict(arrays={"optimizer/s.W1": lambda s: -s - 1}), "optimizer/s.W1 holds negative values, but a second moment (a mean of squared gradients) never is"),
        (dict(attrs={"learning_rate": lambda r: 0.9}), "learning_rate is 0.9 but the run's spec gives 0.01 at epoch"),
        (
            dict(attrs={"batches": lambda b: {"bit_generator": {**b["bit_generator"], "state": {"state": -1, "inc": "x"}}}}),
            "the checkpoint does not fit the run's spec (Python integer -1 out of bounds",
        ),
    ],
)
def test_resume_refuses_an_incomplete_or_inconsistent_checkpoint(stopped_run, edit, said):
    before = (stopped_run / "checkpoint.h5").read_bytes()
    _edit(stopped_run, **edit)
    result = invoke("train", "--resume", stopped_run, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr.startswith(f"Error: {stopped_run}/checkpoint.h5: ") and said in result.stderr, result.stderr
    assert "diverged" not in result.stderr and "lower the learning rate" not in result.stderr
    assert "delete" in result.stderr and (stopped_run / "checkpoint.h5").exists() and before  # nothing removed


@pytest.mark.parametrize(
    "key, change",
    [
        ("W2", lambda w: np.full_like(w, 1e300)),  # finite: the resumed run trained on to "completed", 50%, every unit dead
        ("optimizer/v.W1", lambda v: np.full_like(v, 1e300)),
        ("optimizer/s.W2", lambda s: np.full_like(s, 1e300)),  # positive and finite: froze W2 for the rest of the run
        ("W1", lambda w: w * (1 + 1e-9)),  # any change, however small: the resume is no longer the run's
        ("loop/order", lambda o: o[::-1]),  # still a permutation
    ],
)
def test_resume_refuses_values_training_did_not_save(stopped_run, key, change):
    """A tampered checkpoint with finite but absurd values resumed and ended "completed" with garbage."""
    before = json.loads((stopped_run / "metrics.json").read_text())
    _edit(stopped_run, arrays={key: change})
    result = invoke("train", "--resume", stopped_run, "-q")
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert result.stderr == (
        f"Error: {stopped_run}/checkpoint.h5: {key} holds other values than training saved (their SHA-256 differs from the one recorded "
        f"beside them): the file was edited or damaged; delete {stopped_run}/checkpoint.h5 to restart the run from the beginning "
        f"(nnctl train --resume {stopped_run} then starts over, same spec and data)\n"
    )
    assert json.loads((stopped_run / "metrics.json").read_text()) == before  # nothing trained, nothing written


def test_json_nested_past_the_decoders_depth_is_a_damaged_file(tiny_config, tmp_path):
    """'[' * 100000 in metrics.json: the listing skips that run and shows the others; evaluate says one line."""
    runs = tmp_path / "runs"
    for _ in range(2):
        assert invoke("train", tiny_config, "--runs-dir", runs, "-q", "--no-report").exit_code == 0
    bad, good = sorted(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())[:2]
    (bad / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    listing = invoke("runs", "--runs-dir", runs)
    assert listing.exit_code == 0 and "Traceback" not in listing.output, listing.output
    assert good.name in listing.stdout and "nested too deeply" in listing.output
    result = invoke("evaluate", bad)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stderr.startswith("Error: ") and "nested too deeply" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_untouched_checkpoint_still_resumes(stopped_run):
    result = invoke("train", "--resume", stopped_run, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((stopped_run / "metrics.json").read_text())["status"] == "completed"


# ---------------------------------------------------------------- F: predict's memory is one chunk

BOUNDED = """
import resource, sys
import numpy as np
from nnctl.experiment import inference
from nnctl.cli.commands import main
inference.ROWS_PER_CHUNK = 256
a = np.ones((512, 512)); a @ a  # the BLAS's buffers, made at its first product: what any run holds before its input
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
import nnctl.cli.display, nnctl.rundir.runs, nnctl.data.images, h5py, csv  # everything predict imports, before the limit
limit = vm() + int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
sys.argv = ["nnctl"] + sys.argv[2:]
main()
"""


@pytest.mark.slow  # a fresh process under an address-space limit
def test_predict_reads_rows_in_chunks_under_an_address_space_limit(tmp_path):
    """20,000 rows of 50 features: held whole (as lists of floats and then an array) they need far more
    than the 48 MiB over its start-up that the process may have; read a chunk at a time, they fit."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 50))
    with h5py.File(tmp_path / "train.h5", "w") as f:
        f["x"], f["y"] = x, (x[:, 0] > 0).astype(np.int64)
    (tmp_path / "s.yaml").write_text("data: {train: train.h5}\nmodel: {hidden: [4]}\ntrain: {learning_rate: 0.1, iterations: 20}\n")
    assert invoke("train", tmp_path / "s.yaml", "--runs-dir", tmp_path / "runs", "-q", "--no-report").exit_code == 0
    rows = rng.normal(size=(20_000, 50))
    np.savetxt(tmp_path / "big.csv", rows, delimiter=",", fmt="%.17g", header=",".join(f"f{i}" for i in range(50)), comments="")
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED, "48", "predict", "big.csv", "--run", "runs/latest", "--csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert len(lines) == 20_001 and lines[1].startswith("big.csv:1,") and lines[-1].startswith("big.csv:20000,")
    # the same probabilities as the whole file predicted at once, in process
    from nnctl.experiment.inference import normalized, outputs
    from nnctl.rundir.runs import find_run, load_run

    run = load_run(find_run(tmp_path / "runs" / "latest"))
    P = outputs(run, normalized(run, rows.T.copy()))[0]
    got = np.array([float(line.split(",")[3]) for line in lines[1:]])
    assert np.array_equal(got, P)


# ---------------------------------------------------------------- D: table cells read the same way everywhere


def test_spaces_around_a_text_cell_are_stripped_alike_by_data_info_and_train_with_a_note(tmp_path):
    table = tmp_path / "ws.csv"
    table.write_text("x,y\n1,cat\n2,cat \n3,dog\n4,dog\n5,cat\n6,dog\n")
    info = invoke("data", "info", table)
    assert info.exit_code == 0, info.output
    row = next(r for r in info.stdout.splitlines() if "│ y " in r)
    assert "│        2 │" in row and "cat (3)" in row, info.stdout  # two classes, as training sees them
    assert "Note: column 'y': 1 text value with spaces or tabs around it, stripped" in info.output
    trained = invoke("train", "--data", table, "--target", "y", "--runs-dir", tmp_path / "runs", "-q")
    assert trained.exit_code == 0, trained.output
    assert "Note: column 'y': 1 text value with spaces or tabs around it, stripped" in trained.output


def test_control_characters_in_table_cells_and_a_status_are_shown_as_escapes_never_dropped(tmp_path):
    """Rich's Text drops BEL and \\r unseen: data info, evaluate and runs' skipped line show them escaped."""
    a, c = "a\x1b[31mR\x07b", "c\u202ed\rz"
    table = tmp_path / "hc.csv"
    table.write_text("x,y\n" + "".join(f'{i},"{a if i % 2 else c}"\n' for i in range(20)), newline="")
    shown_a, shown_c = "a\\x1b[31mR\\x07b", "c\\u202ed\\rz"
    out = _clean(invoke("data", "info", table))
    assert shown_a in out and shown_c in out, out
    _clean(invoke("train", "--data", table, "--target", "y", "--runs-dir", tmp_path / "runs", "-q"))
    run = next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink() and p.is_dir())
    out = _clean(invoke("evaluate", run, "--data", table))
    assert shown_a in out and shown_c in out, out
    metrics = json.loads((run / "metrics.json").read_text())
    metrics["status"] = "completed\r\x1b[2Kskipped nothing: all runs fine and dandy"
    (run / "metrics.json").write_text(json.dumps(metrics))
    out = _clean(invoke("runs", "--runs-dir", tmp_path / "runs"))
    assert "status 'completed\\r\\x1b[2Kskipped nothing: all runs fine and dandy' is not one nnctl writes" in out, out


# ---------------------------------------------------------------- F: evaluate's memory is one chunk


def _trained_on(tmp_path, name, x, y, model="hidden: [4]", extra=""):
    with h5py.File(tmp_path / f"{name}.h5", "w") as f:
        f["x"], f["y"] = x, y
    (tmp_path / f"{name}.yaml").write_text(f"data: {{train: {name}.h5}}\nmodel: {{{model}}}\ntrain: {{learning_rate: 0.1, iterations: 20}}\n{extra}")
    assert invoke("train", tmp_path / f"{name}.yaml", "--runs-dir", tmp_path / name, "-q", "--no-report").exit_code == 0
    from nnctl.rundir.runs import find_run, load_run

    return load_run(find_run(tmp_path / name / "latest"))


def _same(chunked: dict, whole: dict):
    assert chunked.keys() == whole.keys()
    for key in whole:  # exactly: every example goes through the same products, counts are counts
        if key in ("rmse", "mae", "r2"):  # sums tallied a chunk at a time: equal to their last bits' rounding
            assert chunked[key] == pytest.approx(whole[key], rel=1e-12), key
        else:
            assert chunked[key] == whole[key], key


@pytest.mark.parametrize("kind", ["sigmoid", "softmax", "regression"])
def test_evaluate_in_chunks_gives_the_scores_of_the_whole_file(tmp_path, kind):
    """20,000 examples, three chunks of 8192: accuracy, confusion, per-class scores, RMSE, MAE and every
    example's output equal those of the whole file scored at once."""
    from nnctl.data.dataset import load_dataset
    from nnctl.experiment.inference import evaluate, score

    rng = np.random.default_rng(1)
    x = rng.normal(size=(20_000, 6))
    y = {"sigmoid": (x[:, 0] > 0).astype(np.int64), "softmax": np.digitize(x[:, 0], [-0.5, 0.5]).astype(np.int64), "regression": x @ np.arange(6.0)}[kind]
    model = "hidden: [4], output_activation: linear" if kind == "regression" else "hidden: [4]"
    run = _trained_on(tmp_path, kind, x[:500], y[:500], model, "" if kind != "regression" else "")
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["x"], f["y"] = x, y
    chunked, data = evaluate(run, str(tmp_path / "test.h5"))
    task = "regression" if kind == "regression" else "classification"
    head = run.meta["loss"]
    whole, _ = score(
        run,
        load_dataset(str(tmp_path / "test.h5"), task, role="test", dtype=np.float64, max_classes=None if head != "binary_cross_entropy" else 2),
        str(tmp_path / "test.h5"),
    )
    assert chunked["m"] == 20_000
    _same(chunked, whole)
    from nnctl.experiment.inference import EVALUATION_LISTED

    assert data.m == 20_000 and data.Y.size == EVALUATION_LISTED  # the listed examples' labels, for the pictures


def _gappy_rows(seed: int, n: int, every: int, at: int) -> list:
    """A header and n rows a,b,colour,label (yes when a, plus 1 for red, is over 0.3); b is missing in
    every row i with i % every == at."""
    rng = np.random.default_rng(seed)
    rows = ["a,b,colour,label"]
    for i in range(n):
        a, b = rng.normal(size=2)
        colour = rng.choice(["red", "green", "blue"])
        rows.append(f"{a:.6f},{'' if i % every == at else f'{b:.6f}'},{colour},{'yes' if a + (colour == 'red') > 0.3 else 'no'}")
    return rows


def test_evaluate_of_a_table_in_chunks_gives_the_scores_of_the_whole_table(tmp_path, monkeypatch):
    """A table read 1000 rows at a time, rows with a missing value dropped (data.missing: drop): the kept rows
    are scored in the same products as the whole table's, so every number is the same."""
    from nnctl.experiment import inference
    from nnctl.experiment.inference import evaluate, score
    from nnctl.data.tables import read_table, table_dataset

    rows = _gappy_rows(seed=2, n=9000, every=97, at=5)
    (tmp_path / "t.csv").write_text("\n".join(rows[:400]) + "\n")
    (tmp_path / "big.csv").write_text("\n".join(rows) + "\n")
    trained = invoke(
        "train",
        "--data",
        tmp_path / "t.csv",
        "--target",
        "label",
        "--set",
        "data.missing=drop",
        "--set",
        "train.epochs=3",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        "--no-report",
    )
    assert trained.exit_code == 0, trained.output
    from nnctl.rundir.runs import find_run, load_run

    run = load_run(find_run(tmp_path / "runs" / "latest"))
    whole, _ = score(run, table_dataset(run.table, read_table(tmp_path / "big.csv"), np.float64), str(tmp_path / "big.csv"))
    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 1000)
    monkeypatch.setattr(inference, "ROWS_PER_CHUNK", 2048)
    chunked, _ = evaluate(run, str(tmp_path / "big.csv"))
    dropped = len(range(5, 9000, 97))
    assert chunked["m"] == 9000 - dropped
    assert chunked.pop("rows") == {"in_file": 9000, "scored": 9000 - dropped, "left_out_missing_value": dropped, "left_out_no_target": 0} and any(
        str(dropped) in note for note in chunked.pop("notes")
    )  # said, counted over every chunk
    _same(chunked, whole)


def test_predict_of_a_table_in_chunks_gives_the_predictions_of_the_whole_table(tmp_path, monkeypatch):
    """predict reads a table TABLE_ROWS_PER_CHUNK rows at a time: every row's line, class, probability and
    error (a dropped row), and the notes (an extra column, unseen categories under data.unseen: zeros), are
    those of the whole table read at once, whatever the chunk size (one chunk ends on a dropped row)."""
    from nnctl.experiment import inference
    from nnctl.rundir.runs import find_run, load_run

    rows = _gappy_rows(seed=3, n=300, every=13, at=6)
    (tmp_path / "t.csv").write_text("\n".join(rows) + "\n")
    trained = invoke(
        "train",
        "--data",
        tmp_path / "t.csv",
        "--target",
        "label",
        "--set",
        "data.missing=drop",
        "--set",
        "data.unseen=zeros",
        "--set",
        "train.epochs=3",
        "--runs-dir",
        tmp_path / "runs",
        "-q",
        "--no-report",
    )
    assert trained.exit_code == 0, trained.output
    new = ["a,colour,b,extra"] + [f"{r.split(',')[0]},{'pink' if i % 17 == 3 else r.split(',')[2]},{r.split(',')[1]},x{i}" for i, r in enumerate(rows[1:])]
    (tmp_path / "new.csv").write_text("\n".join(new) + "\n")
    run = load_run(find_run(tmp_path / "runs" / "latest"))

    def predicted(chunk):
        monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", chunk)
        notes: list = []
        chunks = list(inference.predict_rows(run, [tmp_path / "new.csv"], notes=notes))
        return [(p.file, p.label, p.error, p.probability) for c in chunks for p in c], notes, len(chunks)

    whole, notes, n = predicted(10_000)
    assert n == 1 and len(whole) == 300 and sum(e is not None for _, _, e, _ in whole) == len(range(6, 300, 13))
    assert any("'extra'" in note for note in notes) and any("18 categories not seen" in note for note in notes)
    for chunk in (7, 19, 64):  # 19 rows: line 20 (row 19, a dropped one) ends the first chunk
        again, notes_again, n = predicted(chunk)
        assert [r[:3] for r in again] == [r[:3] for r in whole] and notes_again == notes and n == -(-300 // chunk)
        kept = [i for i, r in enumerate(whole) if r[2] is None]  # a product's rounding may follow its width
        np.testing.assert_allclose([again[i][3] for i in kept], [whole[i][3] for i in kept], rtol=1e-12)


EVALUATE_BOUNDED = """
import resource, sys
import numpy as np
a = np.ones((512, 512)); a @ a  # the BLAS's buffers, made at its first product: what any run holds before its input
def vm():
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) * 1024 for l in fh if l.startswith("VmSize:"))
import matplotlib; matplotlib.use("Agg"); import matplotlib.pyplot  # everything evaluate imports, before the limit
import nnctl.cli.display, nnctl.rundir.runs, nnctl.experiment.inference, nnctl.data.stream, nnctl.util.plots, nnctl.cli.commands, h5py
limit = vm() + int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
if sys.argv[2] == "whole":  # the file read whole, as evaluate read it before
    from nnctl.data.dataset import load_dataset
    try:
        load_dataset(sys.argv[3], role="test")
    except (MemoryError, nnctl.errors.DataError) as exc:
        print("refused:", str(exc)[:200])
    sys.exit(0)
sys.argv = ["nnctl"] + sys.argv[2:]
nnctl.cli.commands.main()
"""


@pytest.mark.slow  # a fresh process under an address-space limit
def test_evaluate_reads_a_file_in_chunks_under_an_address_space_limit(tmp_path):
    """60,000 examples of 100 features (48 MB of float64, twice that once converted) cannot be held
    under a limit of 48 MiB over start-up; read and scored 8192 rows at a time they are."""
    import subprocess
    import sys

    rng = np.random.default_rng(0)
    run = _trained_on(tmp_path, "small", rng.normal(size=(400, 100)), rng.integers(0, 2, 400))
    x = rng.normal(size=(60_000, 100))
    y = (x[:, 0] > 0).astype(np.int64)
    with h5py.File(tmp_path / "big.h5", "w") as f:
        f["x"], f["y"] = x, y
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    whole = subprocess.run(
        [sys.executable, "-c", EVALUATE_BOUNDED, "48", "whole", tmp_path / "big.h5"], cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env
    )
    assert whole.returncode == 0 and whole.stdout.startswith("refused:"), (whole.stdout, whole.stderr[-2000:])
    done = subprocess.run(
        [sys.executable, "-c", EVALUATE_BOUNDED, "48", "evaluate", run.path, "--data", tmp_path / "big.h5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "big.h5 (60000 examples)" in done.stdout
    written = json.loads((run.path / "evaluation-big.json").read_text())
    # the same scores as the whole file scored at once, in this process (no limit)
    from nnctl.data.dataset import load_dataset
    from nnctl.experiment.inference import score

    expected, _ = score(run, load_dataset(str(tmp_path / "big.h5"), role="test"), str(tmp_path / "big.h5"))
    for key in ("accuracy", "confusion_matrix", "precision", "recall", "f1", "probabilities", "misclassified"):
        assert written[key] == expected[key], key
