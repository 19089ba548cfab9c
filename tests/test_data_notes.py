"""Notes a table's training prints: each said once, saying which part of the data it counts
(issue 20 round 6): data.missing over the training and validation parts of a split file, a test
file's own gaps, and notes that are the same in the terminal and in metrics.json."""

from __future__ import annotations

import json

from conftest import invoke

# 12 rows, 4 gaps: bill_mm on lines 2, 5 and 8 (rows 1, 4, 7), island on line 11 (row 10)
ROWS = [
    ("Adelie", "Dream", ""),
    ("Adelie", "Dream", "39.5"),
    ("Gentoo", "Biscoe", "46.1"),
    ("Gentoo", "Biscoe", ""),
    ("Adelie", "Torgersen", "38.0"),
    ("Gentoo", "Biscoe", "49.0"),
    ("Adelie", "Dream", ""),
    ("Gentoo", "Biscoe", "50.0"),
    ("Adelie", "Torgersen", "37.5"),
    ("Gentoo", "", "47.5"),
    ("Adelie", " Dream ", "40.0"),
    ("Gentoo", "Biscoe", "48.0"),
]


def _csv(path, rows=ROWS):
    path.write_text("species,island,bill_mm\n" + "".join(",".join(r) + "\n" for r in rows))
    return path


def _train(tmp_path, *sets):
    _csv(tmp_path / "p.csv")
    args = ["train", "--data", tmp_path / "p.csv", "--target", "species", "--runs-dir", tmp_path / "runs", "--no-report"]
    for s in ("train.epochs=2", *sets):
        args += ["--set", s]
    out = invoke(*args)
    assert out.exit_code == 0, out.output
    said = [line[len("Note: ") :] for line in out.stdout.splitlines() if line.startswith("Note: ")]
    run = next(p for p in (tmp_path / "runs").iterdir() if not p.is_symlink())
    return said, json.loads((run / "metrics.json").read_text()).get("notes", [])


def _one(notes, start):
    found = [n for n in notes if n.startswith(start)]
    assert len(found) == 1, notes  # said once, not once per fit
    return found[0]


def test_missing_with_a_validation_split_is_one_note_counting_each_part(tmp_path):
    said, recorded = _train(tmp_path, "data.missing=mean", "data.validation=0.25")
    note = _one(said, "data.missing:")
    assert note.startswith(f"data.missing: 4 missing values in {tmp_path}/p.csv filled with each column's mean over its training part")
    # the two parts' counts add up to the file's 4 gaps, and each part names its rows: 8 + 4 = 12 (a stratified split: 2 of each class's 6 held out)
    parts = note.split(": ")[-1]
    assert "in the training part (8 rows)" in parts and "in the validation part (4 rows)" in parts
    counts = [int(p.split(" in the ")[0]) for p in parts.split(", ")]
    assert sum(counts) == 4 and len(counts) == 2
    assert said == recorded  # the run's record says what the terminal said


def test_missing_without_a_split_names_the_file_and_its_rows(tmp_path):
    said, recorded = _train(tmp_path, "data.missing=median")
    assert _one(said, "data.missing:") == (
        f"data.missing: 4 missing values in {tmp_path}/p.csv (12 rows) filled with each column's median over the training file "
        "(a text column's: its most frequent category)"
    )
    assert said == recorded


def test_dropped_rows_are_counted_per_part_and_in_the_test_file(tmp_path):
    _csv(tmp_path / "t.csv", ROWS[:4])
    said, recorded = _train(tmp_path, "data.missing=drop", "data.validation=0.25", f"data.test={tmp_path / 't.csv'}")
    note = _one([n for n in said if "t.csv" not in n], "data.missing:")
    assert note.startswith(f"data.missing: drop: 4 rows of {tmp_path}/p.csv left out, each for a missing value: ")
    assert "of the training part's 8" in note and "of the validation part's 4" in note
    assert _one([n for n in said if "t.csv" in n], "data.missing:") == (
        f"data.missing: drop: 2 of the 4 rows of {tmp_path}/t.csv (the test file) left out, each for a missing value"
    )
    assert said == recorded


def test_stripped_text_is_one_note_counted_over_the_whole_file(tmp_path):
    # ' Dream ' is in the one row: with or without a split (wherever the row falls) it is said once, for the file
    for sets in ((), ("data.validation=0.25",)):
        said, _ = _train(tmp_path, "data.missing=mean", *sets)
        assert _one(said, "column 'island':") == "column 'island': 1 text value with spaces or tabs around it, stripped ('cat ' is the class or category 'cat')"
        assert len(said) == len(set(said))
        for p in (tmp_path / "runs").iterdir():
            if p.is_dir() and not p.is_symlink():
                import shutil

                shutil.rmtree(p)
        (tmp_path / "runs" / "latest").unlink(missing_ok=True)
