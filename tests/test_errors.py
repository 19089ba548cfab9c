"""Every row of the bad-input catalogue, provoked for real; docs/errors.md must match it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from error_cases import CASES, render
from nnctl.cli.commands import app

runner = CliRunner()


def _fill(text: str, tmp: Path, run: str = "") -> str:
    return text.replace("{tmp}", str(tmp)).replace("{run}", run)


@pytest.mark.parametrize("case", CASES, ids=[c.what for c in CASES])
def test_error_case(case, tmp_path, monkeypatch):
    for name, content in case.files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for target, value in case.patches.items():
        module, attr = target.rsplit(".", 1)
        monkeypatch.setattr(importlib.import_module(module), attr, value)
    result = runner.invoke(app, [_fill(a, tmp_path) for a in case.args])
    runs = tmp_path / "runs"
    run = next((p.name for p in runs.iterdir() if not p.is_symlink()), "") if runs.is_dir() else ""
    assert result.stderr.strip() == _fill(case.stderr, tmp_path, run)
    assert result.exit_code == case.code
    assert "Traceback" not in result.output
    if case.stdout_has:
        assert _fill(case.stdout_has, tmp_path) in result.stdout


def test_docs_errors_page_matches_catalogue():
    page = REPO / "docs" / "errors.md"
    assert page.read_text() == render(), "docs/errors.md is stale: run `python tests/error_cases.py > docs/errors.md`"
