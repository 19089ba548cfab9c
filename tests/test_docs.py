"""The documentation site: generated pages are up to date, and the site builds strictly."""

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("docs_generate", REPO / "docs" / "generate.py")
generate = importlib.util.module_from_spec(spec)
spec.loader.exec_module(generate)


@pytest.mark.parametrize("page", sorted(generate.PAGES))
def test_generated_page_is_up_to_date(page):
    on_disk = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert on_disk == generate.pages()[page], f"docs/{page} is stale: run `python docs/generate.py`"


def test_spec_reference_names_every_key():
    from nnctl.spec.config import Spec

    text = generate.spec_reference()
    for section, model in Spec.model_fields.items():
        assert f"`{section}`" in text
        sub = model.annotation
        for cls in getattr(sub, "__args__", (sub,)):
            for key in getattr(cls, "model_fields", {}):
                assert f"`{section}.{key}`" in text, f"{section}.{key} missing from the spec reference"


def test_cli_reference_names_every_command():
    text = generate.cli_reference()
    for command in ("train", "predict", "evaluate", "sweep", "report", "gradcheck", "runs show", "data info"):
        assert f"## `nnctl {command}`" in text


@pytest.mark.slow  # mkdocs builds the whole site in a process of its own
def test_site_builds_strictly(tmp_path):
    if shutil.which("mkdocs") is None and importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "reference" / "spec" / "index.html").is_file()
