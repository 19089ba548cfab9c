"""What a run records of its data and a resume compares (issue 20 round 6, part 2): a validation file's
SHA-256 and the data settings (data.normalize as resolved, data.validation) in reproduce.json; a run
recorded before them resumes as it did, saying what it cannot check. evaluate says which rows of a table
it left out and scores the rest; predict lists a row it cannot use with its error (it leaves none out).
The refusals themselves are in the catalogue (tests/error_cases.py, '# --- issue 20 round 6: data, part 2')."""

from __future__ import annotations

import hashlib
import json

from conftest import invoke
from error_cases import FRACTION_SPEC, VAL_SPEC, before_data_settings, drop_table_run, interrupted_spec_run, val_h5_rewritten


def _run(tmp_path, spec, edit=lambda run: None):
    interrupted_spec_run(spec, edit)(tmp_path / "run")
    return tmp_path / "run"


def test_reproduce_records_the_validation_file_and_the_data_settings(tmp_path):
    run = _run(tmp_path, VAL_SPEC)
    rec = json.loads((run / "reproduce.json").read_text())
    assert rec["data"]["validation"] == {"source": str(tmp_path / "val.h5"), "sha256": hashlib.sha256((tmp_path / "val.h5").read_bytes()).hexdigest()}
    assert rec["data_settings"] == {"normalize": "none", "validation": str(tmp_path / "val.h5")}  # auto on pixels: none, as resolved


def test_a_validation_fraction_is_a_setting_not_a_file(tmp_path):
    run = _run(tmp_path, FRACTION_SPEC)
    rec = json.loads((run / "reproduce.json").read_text())
    assert set(rec["data"]) == {"train"}  # the validation part is the training file's: its SHA-256 is the training one
    assert rec["data_settings"] == {"normalize": "none", "validation": 0.25}


def test_an_unchanged_run_resumes_and_completes(tmp_path):
    # a validation file, a fraction, and data.normalize: auto where it resolves as before (none on these pixels)
    auto = lambda run: (run / "config.resolved.yaml").write_text((run / "config.resolved.yaml").read_text().replace("normalize: none", "normalize: auto"))  # noqa: E731
    for name, spec, edit in (("a", VAL_SPEC, lambda run: None), ("b", FRACTION_SPEC, lambda run: None), ("c", VAL_SPEC, auto)):
        (tmp_path / name).mkdir()
        run = _run(tmp_path / name, spec, edit)
        out = invoke("train", "--resume", run, "-q")
        assert out.exit_code == 0, out.output
        assert json.loads((run / "metrics.json").read_text())["status"] == "completed"
        assert "SHA-256" not in out.output  # nothing it could not check
        assert "data_settings" in json.loads((run / "reproduce.json").read_text())  # what the next resume compares, kept


def test_normalize_auto_that_resolves_otherwise_is_refused_after_reading(tmp_path):
    # recorded as standardize (hand-edited record), the spec's auto resolves to none on these pixels
    def edit(run):
        rec = json.loads((run / "reproduce.json").read_text())
        rec["data_settings"]["normalize"] = "standardize"
        (run / "reproduce.json").write_text(json.dumps(rec))
        text = (run / "config.resolved.yaml").read_text()
        (run / "config.resolved.yaml").write_text(text.replace("normalize: none", "normalize: auto"))

    run = _run(tmp_path, VAL_SPEC, edit)
    before = (run / "checkpoint.h5").read_bytes()
    out = invoke("train", "--resume", run, "-q")
    assert out.exit_code == 1
    assert "(data.normalize: none in the spec, standardize when the run started)" in out.stderr
    assert (run / "checkpoint.h5").read_bytes() == before  # nothing trained, nothing lost


def test_a_run_recorded_before_the_validation_hash_resumes_and_says_it_cannot_check(tmp_path):
    run = _run(tmp_path, VAL_SPEC, lambda run: (before_data_settings(run), val_h5_rewritten(run)))
    out = invoke("train", "--resume", run)
    assert out.exit_code == 0, out.output
    note = (
        f"Note: {tmp_path / 'val.h5'}: the validation file's SHA-256 is not in {run / 'reproduce.json'} (the run began before nnctl "
        "recorded it), so the resume cannot tell whether it changed since; resumed with the file as it is"
    )
    assert note in out.stdout.splitlines()
    assert note[len("Note: ") :] in json.loads((run / "metrics.json").read_text())["notes"]


def test_evaluate_says_which_rows_it_left_out_and_scores_the_rest(tmp_path):
    drop_table_run(tmp_path / "run")
    # line 3: a missing value (the run drops such rows); line 5: no target; lines 2 and 4 scored
    (tmp_path / "e.csv").write_text("species,island,bill_mm\nAdelie,Dream,39.5\nGentoo,Biscoe,\nGentoo,Biscoe,48.0\n,Dream,38.0\n")
    out = invoke("evaluate", tmp_path / "run", "--data", tmp_path / "e.csv")
    assert out.exit_code == 0, out.output
    note = (
        f"{tmp_path / 'e.csv'}: 2 of its 4 rows left out: 1 with a missing value (data.missing: drop, as the run was trained), "
        "1 without a target 'species'; the scores are over the 2 rows kept"
    )
    assert out.stderr.splitlines() == [f"Note: {note}"]
    assert f"on {tmp_path / 'e.csv'} (2 of its 4 rows, 2 left out)" in out.stdout
    result = json.loads((tmp_path / "run" / "evaluation-e.json").read_text())
    assert result["notes"] == [note]
    assert result["rows"] == {"in_file": 4, "scored": 2, "left_out_missing_value": 1, "left_out_no_target": 1}
    assert result["m"] == 2 and sum(map(sum, result["confusion_matrix"])) == 2


def test_evaluate_of_every_row_says_nothing_more(tmp_path):
    drop_table_run(tmp_path / "run")
    (tmp_path / "e.csv").write_text("species,island,bill_mm\nAdelie,Dream,39.5\nGentoo,Biscoe,48.0\n")
    out = invoke("evaluate", tmp_path / "run", "--data", tmp_path / "e.csv")
    assert out.exit_code == 0, out.output
    assert "Note:" not in out.output and "(2 examples)" in out.stdout
    result = json.loads((tmp_path / "run" / "evaluation-e.json").read_text())
    assert "notes" not in result and result["rows"]["in_file"] == result["m"] == 2


def test_evaluate_with_a_chunk_of_rows_all_left_out(tmp_path, monkeypatch):
    # a chunk whose every row is left out has nothing to score; the next chunks are scored (was: a reshape error)
    import nnctl.experiment.inference as inference

    monkeypatch.setattr(inference, "TABLE_ROWS_PER_CHUNK", 1)
    drop_table_run(tmp_path / "run")
    (tmp_path / "e.csv").write_text("species,island,bill_mm\n,Dream,39.5\nGentoo,Biscoe,48.0\nAdelie,Dream,\n")
    out = invoke("evaluate", tmp_path / "run", "--data", tmp_path / "e.csv")
    assert out.exit_code == 0, out.output
    assert json.loads((tmp_path / "run" / "evaluation-e.json").read_text())["rows"] == {
        "in_file": 3,
        "scored": 1,
        "left_out_missing_value": 1,
        "left_out_no_target": 1,
    }


def test_predict_leaves_no_row_out(tmp_path):
    drop_table_run(tmp_path / "run")
    (tmp_path / "z.csv").write_text("species,island,bill_mm\nAdelie,Dream,39.5\nGentoo,Biscoe,\n")
    out = invoke("predict", "--run", tmp_path / "run", tmp_path / "z.csv", "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["file"] for r in rows] == [f"{tmp_path / 'z.csv'}:2", f"{tmp_path / 'z.csv'}:3"]  # every row, the unusable one too
    assert rows[0]["error"] is None and rows[1]["class"] is None
    assert rows[1]["error"] == f"{tmp_path / 'z.csv'}: line 3: a value is missing, so no prediction (the run was trained with data.missing: drop); fill it in"
    assert out.exit_code == 1 and "no finite output" not in out.stderr  # the cause, not a diverged run's
