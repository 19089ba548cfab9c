"""Text from outside (file, folder and class names, spec names, CSV headers, values read back from
run files and sweep plans) made harmless before a terminal or a page shows it.

`visible(s)` writes every control character as its Python escape (`\\x1b`, `\\r`, `\\u202e`,
`\\U000e0041`), so a name keeps all its information but can neither move the cursor, open an OSC 8
link, colour the terminal, overwrite a line with `\\r`, reorder the text around it (bidi overrides)
nor hide part of itself (a zero-width space, a soft hyphen, tag characters: Unicode's format
characters, category Cf, are control characters here). A backslash
that could be read as the start of such an escape (before x, u, U, N, n, r, t, another backslash or
a control character) is doubled, so a class literally named `\\x1b` (four characters) shows as
`\\\\x1b` and one holding a real ESC as `\\x1b`: the two never look alike. A byte of a file name
that is not UTF-8 (os.fsdecode's surrogate U+DC80..U+DCFF) shows as `\\xNN`. The console
(nnctl.cli.display) and the report's template filter (nnctl.report.render) both call it; nothing else formats
text from outside.
"""

from __future__ import annotations

import os
import re
import shlex

# C0 controls (ESC, CR, BEL, ...), DEL, C1 controls (0x9b is a one-byte CSI on some terminals),
# the Unicode line separators, lone surrogates (a file name's bytes that are not UTF-8, as os.fsdecode
# keeps them; no terminal can print one), and every format character (Unicode category Cf, as of
# Unicode 15): the bidirectional overrides, embeddings, isolates and marks, the invisible ones (zero
# width space, joiners, word joiner, byte-order mark, soft hyphen, Mongolian vowel separator, the
# invisible operators), the tag characters U+E0000..U+E007F (which spell hidden text) and the rest;
# with them the Hangul fillers (letters a font draws as nothing, used to make look-alike names).
# Private-use characters (Co) are left as they are: they are drawn (an icon font's glyphs), and hide
# or reorder nothing. tests/test_hostile_issue20.py checks this list against unicodedata's Cf.
FORMAT = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f"
    "\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
FILLERS = "\u115f\u1160\u3164\uffa0"
_OTHERS = "\u2028\u2029\ud800-\udfff" + FORMAT + FILLERS
CONTROL = re.compile(f"[\x00-\x1f\x7f-\x9f{_OTHERS}]")
CONTROL_BUT_NEWLINE = re.compile(f"[\x00-\x09\x0b-\x1f\x7f-\x9f{_OTHERS}]")
# what visible() rewrites: a control character, or a backslash that would read as the start of an
# escape (before one of visible()'s escape letters, another backslash, or a control character)
_SHOWN = re.compile(f"\\\\(?=[\\\\xuUNnrt\x00-\x1f\x7f-\x9f{_OTHERS}])|[\x00-\x1f\x7f-\x9f{_OTHERS}]")
_SHOWN_BUT_NEWLINE = re.compile(f"\\\\(?=[\\\\xuUNnrt\x00-\x09\x0b-\x1f\x7f-\x9f{_OTHERS}])|[\x00-\x09\x0b-\x1f\x7f-\x9f{_OTHERS}]")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    found = match.group()
    if found == "\\":
        return "\\\\"
    if found in _NAMED:
        return _NAMED[found]
    c = ord(found)
    if 0xDC80 <= c <= 0xDCFF:  # a byte that is not UTF-8, kept by os.fsdecode as a surrogate
        return f"\\x{c - 0xDC00:02x}"
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" if c < 0x10000 else f"\\U{c:08x}"


class Escaped(str):
    """Text visible() made already: visible() returns it as it is (escaping it again would double
    its backslashes). Any new string made from it (a slice, an f-string) is plain text again."""

    __slots__ = ()


def visible(text, keep_newlines: bool = False) -> Escaped:
    """`text` (anything; str() of it) with each control character written as its escape, and each
    backslash that could be taken for the start of one doubled; text visible() returned is kept.

    A newline and a carriage return are escaped (\\n, \\r) as a tab (\\t) is: the terminal's
    messages, table cells and progress labels are one line each. `keep_newlines` keeps a newline
    only where text is laid out in lines already (a figure's title, the report's HTML)."""
    if isinstance(text, Escaped):
        return text
    text = text if isinstance(text, str) else str(text)
    return Escaped((_SHOWN_BUT_NEWLINE if keep_newlines else _SHOWN).sub(_escape, text))


_STRIP = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_OTHERS}]")


def strip_controls(text: str) -> str:
    """`text` without control characters but newline and tab (for output already laid out, where an
    escape would change the widths: a terminal shows every one of these as nothing)."""
    return _STRIP.sub("", text)


def figure_text(fig) -> None:
    """Every text of a matplotlib figure (titles, labels, legends, annotations) as text: control
    characters visible, no mathtext ("$x$" stays as typed). Called just before a figure is saved."""
    from matplotlib.text import (  # start-up: ~0.45 s with pyplot; only what draws a picture loads it
        Text,  # only where a figure exists: matplotlib is imported already
    )
    from matplotlib.ticker import FixedFormatter, FuncFormatter  # start-up: ~0.45 s with pyplot; only what draws a picture loads it

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


def quoted(value) -> str:
    """A value quoted for a message, as repr() would, but with the text itself between the quotes:
    its control characters and backslashes are left for visible() to show, once, where the message
    is printed (repr() would escape them here and visible() a second time, so a real ESC and the four
    characters \\x1b would look alike again). Lists and dicts quote their items; numbers are repr()."""
    if isinstance(value, str):
        # a newline too is left to visible(): every one-line context (a message, a table cell, a
        # progress label) shows it as \\n; a message of several lines is printed line by line
        return "'" + value + "'"
    if isinstance(value, (list, tuple)):
        inner = ", ".join(quoted(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{quoted(k)}: {quoted(v)}" for k, v in value.items()) + "}"
    return repr(value)


def shell_quote(arg) -> Escaped:
    """`arg` as one word of a command to paste into bash (or zsh, ksh): shlex.quote's single quotes
    for ordinary text; for text holding a control character (ESC, a newline, a byte that is not
    UTF-8, a format character) or a backslash, bash's ANSI-C quoting `$'...'`, each such character
    (and a backslash or a quote) written as the octal escape of its bytes (`$'a\\033b.csv'`), so the
    pasted command names the very same file. shlex.quote would put the control character itself
    between the quotes, which visible() then shows as `\\x1b`: pasted, that is four other characters.

    The result holds no control character, and its only backslashes stand before octal digits,
    which visible() leaves as they are: printed through it, it is still the command to paste."""
    text = arg if isinstance(arg, str) else str(arg)
    if not CONTROL.search(text) and "\\" not in text:
        return Escaped(shlex.quote(text))
    out = []
    for ch in text:
        if CONTROL.match(ch) or ch in "\\'":
            try:
                raw = os.fsencode(ch)  # a byte that is not UTF-8 (os.fsdecode's U+DC80..U+DCFF) is that byte again
            except UnicodeEncodeError:  # another lone surrogate: as Python would write it
                raw = ch.encode("utf-8", "surrogatepass")
            out.append("".join(f"\\{b:03o}" for b in raw))
        else:
            out.append(ch)
    return Escaped("$'" + "".join(out) + "'")


def shell_join(args) -> Escaped:
    """A command line whose every word is shell_quote'd: pasted into bash, it runs with these very arguments."""
    return Escaped(" ".join(shell_quote(a) for a in args))
