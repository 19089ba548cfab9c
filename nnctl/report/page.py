"""`nnctl report`: a run or a sweep as one self-contained HTML page, written.

nnctl.report.collect gathers the facts from the folder (through nnctl.rundir), nnctl.report.render
makes the page of them; here the page is written, where -o says or as the folder's report.html, a
sweep's with a page for each of its trials.
"""

from __future__ import annotations

from pathlib import Path

from nnctl.data.dataset import prepare_output
from nnctl.errors import RunError
from nnctl.report.collect import collect_run, collect_sweep, sweep_pages
from nnctl.report.render import href, render_run, render_sweep
from nnctl.rundir.layout import REPORT, SWEEP_PLAN
from nnctl.rundir.runs import check_outputs, check_run_folder
from nnctl.rundir.tolerant import Folder, is_sweep
from nnctl.util.atomic import atomic_write, output_set
from nnctl.util.text import shell_quote, strip_controls


def _write(path: Path, html: str) -> Path:
    """Atomically, with the permissions the umask gives (not the temporary file's 0600); no control
    character (but newline and tab) is left in the page, wherever it came from."""
    html = strip_controls(html)
    try:
        atomic_write(path, html)  # with the umask's permissions (nnctl.util.atomic.file_mode)
    except OSError as exc:
        raise RunError(f"{path}: cannot write the report ({exc.strerror}); choose another place with -o") from None
    return path


def write_run_report(run_dir, output=None, back_link: str | None = None) -> Path:
    facts = collect_run(run_dir)
    out = Path(output) if output else facts.path / REPORT
    if back_link is None and Folder(facts.path.parent).has(SWEEP_PLAN):  # a sweep's trial
        back_link = href(facts.path.parent / REPORT, out.parent)
    return _write(out, render_run(facts, back_link))


def report_output(path: Path, output, force: bool = False) -> Path | None:
    """Where `-o` puts the page, checked before any work (None: the folder's own report.html): an
    .html file name; not a file of a run (params.h5, ...), even with --force; an existing file only
    with --force, as `data make`, `data import` and `export` do."""
    if output is None:
        return None
    output = Path(output)
    try:
        if output.parent.resolve() / output.name == path.resolve() / REPORT:
            return output  # the page the report writes anyway
    except (OSError, RuntimeError):
        pass
    if output.suffix.lower() not in (".html", ".htm"):
        raise RunError(f"{output}: the report is an HTML page; give a file name ending in .html with -o")
    return prepare_output(output, force, option="-o", suffix=".html")


def write_report(path, output=None, force: bool = False, final: bool = False) -> Path:
    """The page of a run or a sweep (with a page for each trial, so the links lead somewhere).

    The pages are put in place together as the last step (nnctl.util.atomic.output_set): a stop or
    an error while they are made leaves the old ones (or none), never a sweep's page beside trial
    pages of another time. `final`: they are the command's last outputs (the command line's)."""
    try:
        with output_set(final=final):
            return _write_report(path, output, force)
    except OSError as exc:  # putting the pages in place
        raise RunError(f"{exc.filename or path}: cannot write the report ({exc.strerror}); choose another place with -o") from None


def _write_report(path, output=None, force: bool = False) -> Path:
    path = check_run_folder(path)
    output = report_output(path, output, force)
    then = f"write the report again: nnctl report {shell_quote(path)}"
    if not is_sweep(path):
        check_outputs([output or path / REPORT], then)  # before the page is made (-o: report_output checked it)
        return write_run_report(path, output)
    facts = collect_sweep(path)
    out = Path(output) if output else path / REPORT
    check_outputs([out] + [path / r["trial"] / REPORT for r in facts.rows if (path / r["trial"]).is_dir()], then)  # every page, before any
    for r in facts.rows:
        trial = path / r["trial"]
        if trial.is_dir():
            write_run_report(trial, back_link=href(out, trial))
    sweep_pages(facts)  # the trials' pages just written: the table links to them
    return _write(out, render_sweep(facts, out.parent))
