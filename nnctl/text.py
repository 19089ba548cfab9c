"""Text from outside (file, folder and class names, spec names, CSV headers, values read back from
run files and sweep plans) made harmless before a terminal or a page shows it.

`visible(s)` writes every control character as its Python escape (`\\x1b`, `\\r`, `\\u202e`), so a
name keeps all its information but can neither move the cursor, open an OSC 8 link, colour the
terminal, overwrite a line with `\\r`, nor reorder the text around it (bidi overrides). The console
(nnctl.display) and the report's template filter (nnctl.report) both call it; nothing else formats
text from outside.
"""

from __future__ import annotations

import re

# C0 controls (ESC, CR, BEL, ...), DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
# the bidirectional overrides, embeddings, isolates and marks, and the Unicode line separators
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
CONTROL_BUT_NEWLINE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    c = ord(match.group())
    if match.group() in _NAMED:
        return _NAMED[match.group()]
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def visible(text, keep_newlines: bool = False) -> str:
    """`text` (anything; str() of it) with each control character written as its escape."""
    text = text if isinstance(text, str) else str(text)
    return (CONTROL_BUT_NEWLINE if keep_newlines else CONTROL).sub(_escape, text)


_STRIP = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """`text` without control characters but newline and tab (for output already laid out, where an
    escape would change the widths: a terminal shows every one of these as nothing)."""
    return _STRIP.sub("", text)


def has_controls(text: str) -> bool:
    return bool(CONTROL.search(text))


def figure_text(fig) -> None:
    """Every text of a matplotlib figure (titles, labels, legends, annotations) as text: control
    characters visible, no mathtext ("$x$" stays as typed). Called just before a figure is saved."""
    from matplotlib.text import (
        Text,  # only where a figure exists: matplotlib is imported already
    )
    from matplotlib.ticker import FixedFormatter, FuncFormatter

    for ax in fig.axes:  # tick labels given as text (class names) are made when the figure is drawn
        for axis in (ax.xaxis, ax.yaxis):
            formatter = axis.get_major_formatter()
            if isinstance(formatter, FixedFormatter):
                formatter.seq = [visible(t, keep_newlines=True) for t in formatter.seq]
            elif isinstance(formatter, FuncFormatter):  # set_xticks(ticks, labels) makes one
                formatter.func = lambda x, pos=None, func=formatter.func: visible(func(x, pos), keep_newlines=True)  # type: ignore[misc]  # mypy infers no lambda with a default-bound argument
    for artist in fig.findobj(Text):
        artist.set_parse_math(False)
        shown = visible(artist.get_text(), keep_newlines=True)
        if shown != artist.get_text():
            artist.set_text(shown)
