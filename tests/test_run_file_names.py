"""A run folder's file names are spelled once, in nnctl/rundir/layout.py (issue 21): code anywhere else
that builds a path to a run file, globs for one or compares a name uses layout's constants or functions.

Every string of nnctl/ outside nnctl/rundir is read with ast (docstrings left out) and split into path
components at "/"; an f-string is read with "*" for each of its holes (f"evaluation{suffix}.json" reads
"evaluation*.json"). A component is a run file's name when it is one of layout's names or patterns, or
when it is a file glob (it has a dot) with a literal start of two characters or more (not "*..." or
".*", which are patterns of another kind: a regular expression, a hidden file) that one of them matches, or a name that one of
layout's patterns matches. So `path / "costs.csv"`, `f"{run}/metrics.json"`, `glob("evaluation*.json")`,
`f"lr_find.{ext}"` and `name == "report.html"` are caught, while a sentence that mentions a file
("... (no metrics.json, config.resolved.yaml or sweep.json)") is prose, not a path, and passes.
"""

from __future__ import annotations

import ast
import fnmatch
from pathlib import Path

import pytest

from nnctl.rundir import layout

NNCTL = Path(__file__).resolve().parents[1] / "nnctl"
OWNER = NNCTL / "rundir"  # the one package that spells the names
# Packages not yet held to the rule, each with why. Removing one is a one-line change.
EXEMPT: dict[str, str] = {}


def _layout_strings() -> tuple[set, set]:
    """(names, patterns): every constant of layout.py (a string, or a tuple of them) that is a file name (it has a dot)."""
    names, patterns = set(), set()
    for key, value in vars(layout).items():
        if not key.isupper():
            continue
        for s in value if isinstance(value, tuple) else (value,):
            if isinstance(s, str) and "." in s and "/" not in s:
                (patterns if any(c in s for c in "*?[") else names).add(s)
    return names, patterns


NAMES, PATTERNS = _layout_strings()


def _is_run_file(component: str) -> bool:
    if not component or component in NAMES or component in PATTERNS:
        return bool(component)
    if any(fnmatch.fnmatchcase(component, p) for p in PATTERNS):
        return True  # evaluation-test.json, confusion-x.png
    literal = component.split("*")[0]
    if "*" in component and "." in component and len(literal) > 1 and not literal.startswith(("?", "[")):
        return any(fnmatch.fnmatchcase(n, component) for n in NAMES | PATTERNS)  # lr_find.*, evaluation*.json
    return False


def _docstrings(tree: ast.AST) -> set:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                ids.add(id(first.value))
    return ids


def _strings(tree: ast.AST):
    """(line, text) of each string of the code: constants, and f-strings with "*" for their holes."""
    skip = _docstrings(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip |= {id(v) for v in node.values}  # read once, as the whole f-string
            skip |= {id(n) for v in node.values if isinstance(v, ast.FormattedValue) for n in ast.walk(v)}
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "*" for v in node.values)
            yield node.lineno, text


def _files():
    for path in sorted(NNCTL.rglob("*.py")):
        rel = path.relative_to(NNCTL)
        if path.is_relative_to(OWNER) or rel.parts[0] in EXEMPT:
            continue
        yield path


def spelled_names(source: str) -> list:
    """(line, string) for each string of `source` that names a run file."""
    found = []
    for line, text in _strings(ast.parse(source)):
        if any(_is_run_file(part) for part in text.replace("\\", "/").split("/")):
            found.append((line, text))
    return found


def test_the_layout_names_files():
    assert {"metrics.json", "costs.csv", "sweep.json", "lr_find.json"} <= NAMES
    assert "evaluation*.json" in PATTERNS


@pytest.mark.parametrize(
    "code",
    [
        'path / "costs.csv"',
        'open(run / "metrics.json")',
        'f"{run}/params.h5"',
        'folder.glob("evaluation*.json")',
        'run / f"evaluation{suffix}.json"',
        'run / f"confusion{suffix}.png"',
        'run / f"evaluation{suffix}-boundary.png"',
        'folder / f"lr_find.{ext}"',
        'p.name == "report.html"',
        'REPORT = "report.html"',
        'any((path / n).exists() for n in ("costs.csv",))',
        'x = "sweep-1/summary.csv"',
    ],
)
def test_a_spelled_name_is_caught(code):
    assert spelled_names(code), code


@pytest.mark.parametrize(
    "code",
    [
        'raise RunError(f"{path}: not a run directory (no metrics.json, config.resolved.yaml or sweep.json)")',
        'facts.missing.append(f"{name}/{METRICS}: damaged")',
        'def f():\n    """Writes costs.csv."""',
        'glob("*.json")',
        'f"{stem}.png"',
        'result["confusion_matrix"]',
        'note = "no evaluation: the run has no readable parameters"',
    ],
)
def test_prose_and_other_strings_pass(code):
    assert not spelled_names(code), code


def test_no_run_file_name_is_spelled_outside_the_run_folder_package():
    found = []
    for path in _files():
        for line, text in spelled_names(path.read_text(encoding="utf-8")):
            found.append(f"nnctl/{path.relative_to(NNCTL)}:{line}: {text!r}")
    assert not found, "run-file names spelled outside nnctl/rundir; use nnctl.rundir.layout's constants (add one there if it is missing):\n" + "\n".join(found)
