"""params.h5 and table.json tied to what training wrote (their digests), and every run file read back
no longer than nnctl writes it: issue 20's attacks, provoked for real, and the legitimate paths beside
them (a params.h5 of an earlier nnctl, without digests, still loads). The one-line refusals of each
command are in tests/error_cases.py (`params.h5 whose ...`, `... of 20 GiB (sparse) ...`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import invoke, run_nnctl
from nnctl.errors import RunError

FIX = "the file was edited or damaged; train the run again"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("integrity")
    rng = np.random.default_rng(0)
    for name, prefix in (("train.h5", "train"), ("test.h5", "test")):
        with h5py.File(root / name, "w") as f:
            f[f"{prefix}_set_x"] = rng.integers(0, 255, (8, 4, 4, 3), dtype=np.uint8)
            f[f"{prefix}_set_y"] = np.arange(8) % 2
            f["list_classes"] = np.array([b"non-cat", b"cat"])
    (root / "c.yaml").write_text("data: {train: train.h5, test: test.h5}\nmodel: {hidden: [3]}\ntrain: {learning_rate: 0.1, iterations: 5}\n")
    r = invoke("train", root / "c.yaml", "--runs-dir", root / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    return (root / "runs" / "latest").resolve()


def copy(run: Path, dest: Path) -> Path:
    out = dest / "runs" / run.name
    shutil.copytree(run, out)
    return out


def test_params_h5_records_its_digests_and_reproduce_json_says_so(trained):
    from nnctl.rundir.runs import INTEGRITY, PARAMS_DIGESTS, load_params

    with h5py.File(trained / "params.h5", "r") as f:
        digests = json.loads(f.attrs[INTEGRITY])
    assert set(digests["arrays"]) == {"W1", "b1", "W2", "b2"}
    assert {"activations", "layer_dims", "preprocessing", "nnctl_version", "run_id"} <= set(digests["attributes"])
    assert json.loads((trained / "reproduce.json").read_text())[PARAMS_DIGESTS] is True
    params, meta = load_params(trained / "params.h5")
    assert meta["run_id"] == json.loads((trained / "reproduce.json").read_text())["run_id"]


@pytest.mark.parametrize(
    "edit, what",
    [
        (lambda f: f.attrs.__setitem__("activations", json.dumps(["tanh", "sigmoid"])), "attribute activations"),
        (lambda f: f["W2"].__setitem__(Ellipsis, 1e300), "W2"),
        (lambda f: f["b1"].__setitem__(Ellipsis, 0.5), "b1"),
    ],
)
def test_every_reader_refuses_an_edited_params_h5(trained, tmp_path, edit, what):
    import nnctl
    from nnctl.report.collect import collect_run

    run = copy(trained, tmp_path)
    with h5py.File(run / "params.h5", "r+") as f:
        edit(f)
    line = f"Error: {run / 'params.h5'}: {what} does not match what training wrote (digest); {FIX}"
    for args in (["predict", trained.parent.parent / "test.h5", "--run", run], ["evaluate", run], ["export", "--run", run, "-o", tmp_path / "m.npz"]):
        r = run_nnctl(*args)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert r.stderr.strip().startswith(line) and len(r.stderr.strip().splitlines()) == 1, r.stderr
    with pytest.raises(RunError, match="does not match what training wrote"):
        nnctl.load(run)
    facts = collect_run(run, evaluate=False)  # the report and `runs show` name it, and still show the run
    assert any(m.startswith("params.h5: damaged (") and "does not match what training wrote" in m for m in facts.missing), facts.missing
    shown = run_nnctl("runs", "show", run)
    assert shown.returncode == 0 and "does not match" in shown.stdout + shown.stderr


def test_a_params_h5_of_an_earlier_nnctl_without_digests_still_loads(trained, tmp_path):
    """As nnctl wrote it before digests: no integrity attribute, no run_id, reproduce.json without params_digests."""
    import nnctl

    run = copy(trained, tmp_path)
    with h5py.File(run / "params.h5", "r+") as f:
        del f.attrs["integrity"], f.attrs["run_id"]
    rec = json.loads((run / "reproduce.json").read_text())
    del rec["params_digests"]
    (run / "reproduce.json").write_text(json.dumps(rec))
    r = run_nnctl("evaluate", run)
    assert r.returncode == 0, r.stderr
    assert run_nnctl("runs", "show", run).returncode == 0
    assert nnctl.load(run).layer_dims == [48, 3, 1]
    # ... and its values are still checked: a NaN is damage, not an input "too large after normalisation"
    with h5py.File(run / "params.h5", "r+") as f:
        f["W1"][0, 0] = np.nan
    r = run_nnctl("predict", trained.parent.parent / "test.h5", "--run", run)
    assert r.returncode == 1 and "W1: holds values that are not finite (NaN or inf)" in r.stderr and "normalisation" not in r.stderr


def test_params_h5_of_another_run_is_refused(trained, tmp_path):
    run = copy(trained, tmp_path)
    rec = json.loads((run / "reproduce.json").read_text())
    (run / "reproduce.json").write_text(json.dumps({**rec, "run_id": "0" * 32}))
    r = run_nnctl("evaluate", run)
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: {run / 'params.h5'}: belongs to another run (its run_id is not the one in {run / 'reproduce.json'})")


def test_a_huge_sparse_run_file_is_listed_as_damaged_and_refused(trained, tmp_path):
    run = copy(trained, tmp_path)
    for name in ("costs.csv", "reproduce.json", "evaluation.json"):
        with open(run / name, "wb") as fh:
            fh.truncate(20 << 30)
    shown = run_nnctl("runs", "show", run)  # shows what it can, naming each file
    assert shown.returncode == 0, shown.stderr
    assert "is 20 GiB long" in shown.stdout + shown.stderr
    other = copy(trained, tmp_path / "b")
    with open(other / "metrics.json", "wb") as fh:
        fh.truncate(20 << 30)
    listing = run_nnctl("runs", "--runs-dir", other.parent)
    assert listing.returncode == 0, listing.stderr
    assert f"skipped {other}: is 20 GiB long, over the 16 MiB nnctl reads back" in listing.stderr
    r = run_nnctl("report", other)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr and "MemoryError" not in r.stderr


def test_read_text_capped_reads_no_more_than_its_limit(tmp_path):
    from nnctl.rundir.runs import read_text_capped

    (tmp_path / "metrics.json").write_text("x" * 100)
    assert read_text_capped(tmp_path / "metrics.json", 100) == "x" * 100
    with pytest.raises(RunError, match=r"metrics.json: is 101 bytes long, over the 100 bytes nnctl reads back"):
        read_text_capped(tmp_path / "metrics.json", 100) if (tmp_path / "metrics.json").write_text("x" * 101) else None
    (tmp_path / "metrics.json").write_bytes(b"\xff\xfe")
    with pytest.raises(RunError, match="is not UTF-8 text"):
        read_text_capped(tmp_path / "metrics.json")


@pytest.fixture
def iris_run(tmp_path):
    datasets = pytest.importorskip("sklearn.datasets")
    d = datasets.load_iris()
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v:g}" for v in x) + f",{t}" for x, t in zip(d.data, d.target)]  # classes that are numbers: class_values
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    r = invoke("train", "--data", tmp_path / "iris.csv", "--target", "species", "--set", "train.epochs=3", "--runs-dir", tmp_path / "runs", "-q", "--no-report")
    assert r.exit_code == 0, r.output
    return (tmp_path / "runs" / "latest").resolve(), tmp_path / "iris.csv"


def test_table_json_is_tied_to_params_h5(iris_run):
    run, data = iris_run
    ok = run_nnctl("evaluate", run, "--data", data)
    assert ok.returncode == 0, ok.stderr
    table = json.loads((run / "table.json").read_text())
    original = (run / "table.json").read_text()
    assert table["class_values"] == [0, 1, 2]
    line = f"Error: {run / 'table.json'}: does not match what training wrote (digest, recorded in params.h5); {FIX}"
    # the columns reordered: evaluate would encode petal_width as sepal_length (a wrong accuracy, silently)
    swapped = {**table, "numeric": table["numeric"][::-1], "fill": table["fill"][::-1]}
    # the classes relabelled: predict would call class 0 "2"
    relabelled = {**table, "class_values": [10, 11, 12]}
    for edited in (swapped, relabelled):
        (run / "table.json").write_text(json.dumps(edited, indent=2))
        for args in (["evaluate", run, "--data", data], ["predict", data, "--run", run]):
            r = run_nnctl(*args)
            assert r.returncode == 1, (args, r.stdout)
            assert r.stderr.startswith(line), r.stderr
            assert len(r.stderr.strip().splitlines()) == 1
    (run / "table.json").write_text(json.dumps(json.loads(original)))  # the same content, indented otherwise: still its own
    assert run_nnctl("predict", data, "--run", run).returncode == 0


# ---------------------------------------------------------------- an unfinished run's checkpoint, read by predict


@pytest.fixture(scope="module")
def unfinished(tmp_path_factory):
    """A run stopped mid-way whose params.h5 is gone (as after kill -9): predict and evaluate use its checkpoint."""
    from nnctl.experiment.run import train_run
    from nnctl.spec.config import load_config

    root = tmp_path_factory.mktemp("unfinished")
    (root / "c.yaml").write_text(
        "data: {train: 'builtin:moons?m=200', test: 'builtin:moons?m=50&seed=2'}\n"
        "model: {hidden: [4]}\ntrain: {epochs: 50, batch_size: 20, checkpoint_every: 1, seed: 1}\n"
    )
    calls = [0]

    def stop():
        calls[0] += 1
        return calls[0] >= 25

    summary = train_run(load_config(root / "c.yaml"), runs_root=root / "runs", should_stop=stop, pictures=False)
    assert summary.status == "interrupted"
    run = Path(summary.run_dir)
    (run / "params.h5").unlink()
    (root / "rows.csv").write_text("x1,x2\n0.5,0.2\n1.0,-0.3\n")
    return run


@pytest.mark.parametrize("edit, what", [(lambda f: f["W2"].__setitem__((0, 0), 50.0), "W2"), (lambda f: f["b1"].__setitem__(Ellipsis, 0.5), "b1")])
def test_predict_and_evaluate_refuse_an_edited_checkpoint(unfinished, tmp_path, edit, what):
    """resume refused an edited checkpoint (its digests); predict, evaluate and export used it without a word."""
    run = copy(unfinished, tmp_path)
    rows = unfinished.parent.parent / "rows.csv"
    assert invoke("predict", rows, "--run", run).exit_code == 0  # as written: it predicts, with the note
    with h5py.File(run / "checkpoint.h5", "r+") as f:
        edit(f)
    line = f"Error: {run / 'checkpoint.h5'}: {what} holds other values than training saved"
    for args in (("predict", rows, "--run", run), ("evaluate", run), ("export", "--run", run, "-o", tmp_path / "m.npz")):
        result = invoke(*args)
        assert result.exit_code != 0, (args, result.output)
        assert line in result.output and "restore it from a copy" in result.output, (args, result.output)
    assert not (tmp_path / "m.npz").exists()


def test_a_run_folder_given_as_what_to_predict_is_named(trained, unfinished):
    """`nnctl predict RUN FILE` (the run where the files go): a picture model would have walked the run's
    own plots as photos and predicted them; the run is named with the fix."""
    for run in (trained, unfinished):
        result = invoke("predict", run, "--run", run)
        assert result.exit_code == 1
        assert f"Error: {run}: is a run folder, not pictures or rows to predict; name the run with --run" in result.output
