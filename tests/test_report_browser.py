"""The report pages in a real browser: headless Chromium (Debian's `chromium`), one for the session.

Checked: no console error, no request outside the file, every image decodes, the sweep table sorts
when a header is clicked, and at 1280×800 and 390×844 a screenshot is not blank and shows the title
and the cost plot. Set NNCTL_SCREENSHOTS=DIR to keep the screenshots.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageStat
from typer.testing import CliRunner

from browser import Browser, find_chromium
from conftest import TINY_SPEC, write_course_h5
from nnctl.cli.commands import app
from nnctl.spec.config import load_config
from nnctl.experiment.run import train_run

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,  # a real browser (test_report.py reads the same pages in process)
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="browser tests skipped: no Chromium at /usr/bin/chromium (install Debian's package: apt-get install chromium)",
    ),
]
VIEWPORTS = {"laptop": (1280, 800, False), "phone": (390, 844, True)}
runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="session")
def browser():
    b = Browser(CHROMIUM)
    yield b
    b.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A finished run (with mistakes to show), an interrupted run, and a sweep, each with its page."""
    tmp = tmp_path_factory.mktemp("pages")
    write_course_h5(tmp / "train.h5", "train")
    write_course_h5(tmp / "test.h5", "test", m=6, seed=1)
    (tmp / "tiny.yaml").write_text(TINY_SPEC)
    runs = tmp / "runs"
    invoke("train", tmp / "tiny.yaml", "--runs-dir", runs, "-q")
    run = (runs / "latest").resolve()
    stopped = Path(train_run(load_config(tmp / "tiny.yaml"), runs_root=tmp / "stopped", should_stop=lambda: True).run_dir)
    invoke("report", stopped)
    invoke(
        "sweep",
        tmp / "tiny.yaml",
        "--grid",
        "train.learning_rate=0.2,0.05",
        "--grid",
        "model.hidden=[2],[3]",
        "--jobs",
        "1",
        "--runs-dir",
        tmp / "sweeps",
        "-q",
    )
    sweep = next((tmp / "sweeps").glob("sweep-*"))
    return {"run": run / "report.html", "interrupted": stopped / "report.html", "sweep": sweep / "report.html"}


def _outside(page, url) -> list:
    return [u for u in page.requests() if u != url and not u.startswith("data:")]


DECODE_ALL = """(async () => {
  const out = [];
  for (const img of Array.from(document.images)) {
    try { await img.decode(); out.push(img.naturalWidth > 0 && img.naturalHeight > 0); } catch (e) { out.push(false); }
  }
  for (const el of Array.from(document.querySelectorAll("svg image"))) {
    const img = new Image();
    img.src = el.getAttribute("href") || el.getAttribute("xlink:href");
    try { await img.decode(); out.push(img.naturalWidth > 0); } catch (e) { out.push(false); }
  }
  const svgs = Array.from(document.querySelectorAll("figure.plot svg")).map(s => {
    const r = s.getBoundingClientRect(); return r.width > 100 && r.height > 60 && s.querySelectorAll("path, use, text").length > 10;
  });
  return {images: out, svgs: svgs};
})()"""


@pytest.mark.parametrize("name", ["run", "interrupted", "sweep"])
def test_page_loads_clean_and_every_image_decodes(browser, pages, name):
    url = pages[name].as_uri()
    page = browser.open(url)
    try:
        assert page.console_errors() == []
        assert _outside(page, url) == []
        shown = page.eval(DECODE_ALL, await_promise=True)
        assert shown["svgs"] and all(shown["svgs"])
        assert all(shown["images"])
        if name == "run":  # the gallery of mistakes: one picture per mistake
            mistakes = int(page.eval("document.getElementById('mistakes').textContent"))
            assert page.eval("document.querySelectorAll('#gallery img').length") == min(mistakes, 24) > 0
            assert len(shown["images"]) == min(mistakes, 24)
    finally:
        page.close()


def _in_view(page, selector: str) -> dict:
    return page.eval(
        f"""(() => {{ const r = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
        return {{top: r.top, bottom: r.bottom, left: r.left, right: r.right}}; }})()"""
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("name", ["run", "interrupted", "sweep"])
def test_screenshot_shows_title_and_cost_plot(browser, pages, name, viewport):
    width, height, mobile = VIEWPORTS[viewport]
    page = browser.open(pages[name].as_uri(), width, height, mobile)
    try:
        png = page.screenshot()
        keep = os.environ.get("NNCTL_SCREENSHOTS")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            Path(keep, f"{name}-{viewport}.png").write_bytes(png)
        shot = Image.open(io.BytesIO(png)).convert("RGB")
        assert shot.size == (width, height)
        # not blank: many colours, and not one flat tone
        assert len(shot.getcolors(maxcolors=1 << 20)) > 50
        assert max(ImageStat.Stat(shot).stddev) > 20
        # the page fits the width; wide tables scroll inside their own box
        assert page.eval("document.documentElement.scrollWidth") <= width
        title = _in_view(page, "#title")
        plot = _in_view(page, "#cost-plot svg")
        for box in (title, plot):
            assert 0 <= box["top"] and box["bottom"] <= height and 0 <= box["left"] and box["right"] <= width
        assert plot["bottom"] - plot["top"] > 150
        # the plot is drawn where it is: its part of the screenshot holds the curve's ink
        crop = shot.crop((int(plot["left"]), int(plot["top"]), int(plot["right"]), int(plot["bottom"])))
        dark = int((np.asarray(crop, dtype=int).sum(axis=2) < 300).sum())
        assert dark > 500
        if name == "interrupted":
            notice = _in_view(page, ".notice")
            assert 0 <= notice["top"] < plot["top"]
            assert "Interrupted at iteration 1 of 30" in page.eval("document.querySelector('.notice').textContent")
    finally:
        page.close()


def _column(page, index: int) -> list:
    return page.eval(f"Array.from(document.querySelectorAll('#summary tbody tr')).map(r => r.cells[{index}].getAttribute('data-value'))")


def test_sweep_table_sorts_when_a_header_is_clicked(browser, pages):
    page = browser.open(pages["sweep"].as_uri())
    try:
        headers = page.eval("Array.from(document.querySelectorAll('#summary thead th')).map(th => th.textContent.trim())")
        for label, numeric in (("final cost", True), ("learning rate", True), ("trial", False)):
            col = headers.index(label)
            box = page.eval(
                f"""(() => {{ const th = document.querySelectorAll('#summary thead th')[{col}];
                th.scrollIntoView(); const r = th.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; }})()"""
            )
            before = _column(page, 0)
            page.click(*box)
            values = _column(page, col)
            key = float if numeric else str.lower
            assert [key(v) for v in values] == sorted(key(v) for v in values)
            assert page.eval(f"document.querySelectorAll('#summary thead th')[{col}].getAttribute('aria-sort')") == "ascending"
            page.click(*box)
            again = _column(page, col)
            assert [key(v) for v in again] == sorted((key(v) for v in values), reverse=True)
            assert sorted(_column(page, 0)) == sorted(before)  # rows move whole
        assert page.console_errors() == []
    finally:
        page.close()


def test_the_checks_can_fail(browser, tmp_path):
    """A page with a script error and a request outside the file is caught by the same checks."""
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!DOCTYPE html><title>bad</title><h1 id=title>bad</h1>"
        "<img src='http://127.0.0.1:9/x.png' alt=x><script>console.error('boom'); missing_function();</script>"
    )
    page = browser.open(bad.as_uri())
    try:
        errors = page.console_errors()
        assert any("boom" in e for e in errors) and any("missing_function" in e for e in errors)
        assert _outside(page, bad.as_uri()) == ["http://127.0.0.1:9/x.png"]
        assert page.eval(DECODE_ALL, await_promise=True)["images"] == [False]
    finally:
        page.close()
