"""Tables as data: a CSV, TSV or Parquet file read into columns, and a fitted `Preprocessor` that
turns its raw rows into X (n_x, m) and Y (1, m) the way the training split taught it.

    table = read_table("penguins.csv")                    # columns of text, as in the file
    prep = Preprocessor.fit(table, target="species", missing="mean")
    x, y, kept = prep.transform(table)                      # x (m, n_x) rows; X = x.T

The preprocessor holds every choice that must be repeated on new rows: the target column and the
task, the class names (label order), which columns are numbers and which are categories (with their
categories, one-hot encoded), and the values that fill missing cells. It is plain data
(`to_dict`/`from_dict`, validated when read back), stored in the run as table.json and applied by
predict and evaluate (and by the Python API) to tables with the same columns.

Cells are held as text, one numpy array (m, n) per table; parsing numbers, filling, one-hot encoding
and label encoding are vectorised over the rows. Deciding each column's kind looks at each column
once (a loop over columns, never over rows).

Each function that hands cells to NumPy's text machinery (str -> float64, np.char) runs inside
nnctl.core.stopping.signals_deferred: NumPy lost a Ctrl-C raised in there (the command went on as if
none came, or died of a TypeError), so a signal is handled as that pass over the cells ends.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import io
import itertools
import math
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnctl.util import memory
from nnctl.core.stopping import signals_deferred
from nnctl.data.dataset import Dataset, check_data_file, check_unchanged, file_identity, file_sha256, target_size_problem, too_large_targets
from nnctl.errors import DataError
from nnctl.util.text import quoted
from nnctl.data.dataset import split_indices

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet")
DELIMITERS = (",", ";", "\t")
MISSING_TOKENS = ("", "na", "n/a", "nan", "null", "none", "?")  # compared lower-cased, stripped
MISSING_POLICIES = ("error", "mean", "median", "most_frequent", "drop")
UNSEEN_POLICIES = ("error", "zeros")
TASKS = ("auto", "classification", "regression")
MAX_CLASS_VALUES = 20  # auto: a whole-number target with at most this many values is a set of classes
MANY_CATEGORIES = 50  # a text column with more categories than this gets a note (an id? free text?)
SNIFF_LINES = 50
KEY_SEP = "\x1f"  # joins a column's number and a category into one sortable key


def is_table(source) -> bool:
    """A source read as a table: by its suffix (.csv, .tsv, .parquet)."""
    return isinstance(source, (str, Path)) and Path(str(source)).suffix.lower() in TABLE_SUFFIXES


@dataclass
class Table:
    """Cells as text: `cells` (m, n) str, `columns` the n header names, `lines` (m,) the file line
    of each row (for messages), `source` the path and `sha256` of the file."""

    source: str
    columns: list
    cells: np.ndarray
    lines: np.ndarray
    sha256: str = ""
    header: bool = True
    first_row: tuple = ()  # the first line's fields when it was read as data (header False), for messages
    header_setting: object = "auto"  # data.header as given: auto (detected), True or False (forced)

    @property
    def m(self) -> int:
        return self.cells.shape[0]

    def rows(self, index) -> Table:
        return Table(self.source, self.columns, self.cells[index], self.lines[index], self.sha256, self.header, self.first_row, self.header_setting)

    def read_as_data(self, name: str) -> str:
        """'; its first line (...) was read as data, ...' when `name` is one of the fields of a first line
        read as data, not as the header (for a 'no column' message); '' otherwise."""
        if self.header or name not in self.first_row:
            return ""
        shown = ",".join(self.first_row)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        if self.header_setting is False:
            return (
                f"; the file's first line ({quoted(shown)}) was read as data, as data.header: false says; "
                "set data.header: true to read it as the header, or name the column as read (column1, column2, ...)"
            )
        return (
            f"; the file's first line ({quoted(shown)}) was read as data, not as a header, as its names look like the data below; "
            "set data.header: true to read it as the header, or name the column as read (column1, column2, ...)"
        )

    def column(self, name: str) -> np.ndarray:
        return self.cells[:, self.columns.index(name)]

    def where(self, row: int, name: str) -> str:
        """'file: line 12, column 'age'' for messages."""
        return f"{self.source}: line {int(self.lines[row])}, column {quoted(name)}"


# ---------------------------------------------------------------- reading


def read_table(path, header="auto") -> Table:
    """A CSV/TSV (UTF-8, with or without a byte-order mark; `,`, `;` or tab; quoted fields; a header
    line detected, or, with `header` True or False (data.header), taken as one or as data) or a Parquet
    file (the `parquet` extra: pyarrow; its columns are named, so `header` does not apply) as a Table of text cells."""
    path = Path(path)
    check_data_file(path)
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path)
    before = file_identity(path)
    data = path.read_bytes()
    check_unchanged(path, before)  # a file written while it was read: no one version of it was read
    need = 6 * len(data)  # the text, the rows as lists, the cells as a fixed-width array
    if need > memory.available_memory():
        raise DataError(
            f"{path}: reading this {memory.format_bytes(len(data))} table takes about {memory.format_bytes(need)} of memory but only "
            f"{memory.format_bytes(memory.available_memory())} is available; use fewer rows"
        )
    try:
        text = data.decode("utf-8-sig")  # a byte-order mark is dropped
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{path}: line {line}: byte {data[exc.start]:#04x} is not UTF-8 text; save the table as UTF-8 (a spreadsheet's 'CSV UTF-8' format)"
        ) from None
    if "\x00" in text:
        raise DataError(f"{path}: holds NUL bytes, so it is not a text table; give a CSV or TSV file")
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(text)
    rows, lines = _parse(text, delimiter, path)
    return _as_table(path, rows, lines, hashlib.sha256(data).hexdigest(), header)  # the SHA-256 of exactly the bytes parsed


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same number (> 1) of fields, the most
    fields winning; ',' when none does (a one-column table)."""
    head = "\n".join(text.splitlines()[:SNIFF_LINES])
    best, best_fields = ",", 1
    for d in DELIMITERS:
        try:
            counts = {len(r) for r in csv.reader(io.StringIO(head), delimiter=d) if r}
        except csv.Error:
            continue
        if len(counts) == 1 and (n := counts.pop()) > best_fields:
            best, best_fields = d, n
    return best


def quoting_problem(path, exc: Exception, start: int, line: int) -> DataError:
    """The message for a csv.Error in the row that begins on line `start` (the reader at `line`): a
    quote never closed runs on over the lines below (to the field size limit or the end of the
    file), so it is named at the line where it opened, not where the reader gave up."""
    said = str(exc)
    if "field larger than field limit" in said or "unexpected end of data" in said or "EOF" in said:
        upto = "to the end of the file" if "field limit" not in said else f"past line {line}"
        return DataError(
            f"{path}: line {start}: a quoted field opened on this line is never closed (the text runs on {upto} as one field); "
            'close the quote on that line, or write a quote inside a quoted field as two ("")'
        )
    return DataError(f"{path}: line {line}: {exc}; check the quoting of that line")


def _parse(text: str, delimiter: str, path) -> tuple:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows, lines, start = [], [], 1
    try:
        for row in reader:
            start = reader.line_num + 1  # where the next row begins
            if row and any(c.strip() for c in row):
                rows.append(row)
                lines.append(reader.line_num)
    except csv.Error as exc:
        raise quoting_problem(path, exc, start, reader.line_num) from None
    if not rows:
        raise DataError(f"{path}: holds no rows; a table needs a header line and at least one row")
    width = len(rows[0])
    ragged = next((k for k, r in enumerate(rows) if len(r) != width), None)
    if ragged is not None:
        shown = {",": "','", ";": "';'", "\t": "tab"}[delimiter]
        raise DataError(
            f"{path}: line {lines[ragged]} has {len(rows[ragged])} fields but line {lines[0]} has {width} (fields split at {shown}); "
            "give every row the same columns (quote a field that holds the delimiter)"
        )
    return rows, lines


# A number in a cell: ASCII digits, an optional sign, point and exponent, inf/infinity/nan in any
# case, ASCII spaces around. Python's float() (and numpy's str -> float64, which calls it) also takes
# '5_0' (50), Arabic-Indic and other Unicode digits ('\u0665' is 5) and non-ASCII spaces (U+00A0):
# no CSV writer means those as numbers, so a cell is a number only where this matches.
NUMBER = re.compile(r"[ \t\n\r\f\v]*[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)[ \t\n\r\f\v]*", re.IGNORECASE | re.ASCII)
# the characters NUMBER is made of: a block of cells holding no other is a block of numbers exactly
# where numpy's conversion succeeds (float()'s grammar restricted to them is NUMBER's)
_NUMBER_CHARS = np.zeros(129, dtype=bool)  # by code point; 128 stands for every one above
_NUMBER_CHARS[[ord(c) for c in "0123456789+-.eE \t\n\r\f\vinfatyINFATY"]] = True
_NUMBER_CHARS[0] = True  # numpy's padding of a shorter cell (a table holds no NUL: reading refuses one)


def _is_number(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None


def _odd_cells(cells: np.ndarray) -> np.ndarray:
    """True where a text cell holds a character NUMBER never holds: vectorised over the code points,
    a block of about 4 million of them at a time (a byte each: never a copy of the whole table)."""
    cells = np.asarray(cells, dtype=str)
    width = cells.dtype.itemsize // 4
    flat = np.ascontiguousarray(cells.reshape(-1))
    out = np.zeros(flat.size, dtype=bool)
    if width == 0 or flat.size == 0:
        return out.reshape(cells.shape)
    codes = flat.view(np.uint32).reshape(flat.size, width)
    step = max(1, (1 << 22) // width)
    for start in range(0, flat.size, step):  # blocks of cells, never one cell at a time
        out[start : start + step] = ~np.take(_NUMBER_CHARS, codes[start : start + step], mode="clip").all(axis=1)
    return out.reshape(cells.shape)


def is_lookalike(text: str) -> bool:
    """A cell Python's float() reads but NUMBER does not ('5_0', '\u0665', '5\u00a0')."""
    try:
        float(text)
    except ValueError:
        return False
    return not _is_number(text)


def lookalike_problem(where: str, text: str) -> DataError:
    """The message for a cell that reads as a number only to Python: what the odd character is, and the fix."""
    odd = next((c for c in text if not (c.isascii() and _NUMBER_CHARS[ord(c)])), "_")
    code = f"U+{ord(odd):04X}"
    name = unicodedata.name(odd, "")
    kind = (
        "a '_' digit separator"
        if odd == "_"
        else f"the digit {code} {name}"
        if odd.isdigit() or unicodedata.category(odd) == "Nd"
        else f"the space {code} {name}"
        if odd.isspace()
        else f"the character {code} {name}".rstrip()
    )
    return DataError(
        f"{where}: {quoted(text)} holds {kind}, so it is not a plain number; write it with the ASCII digits 0-9 "
        "(a sign, '.', an exponent and ASCII spaces allowed), or give the column text that is not a number"
    )


@signals_deferred()
def refuse_lookalikes(table: Table, block: np.ndarray, names: list, rows=None) -> None:
    """A DataError for the first column of `block` (text cells, columns `names`) whose cells that are
    not missing are all numbers to Python's float() but one or more not NUMBER ('5_0', '\u0665'):
    such a column is neither plain numbers nor meant as text. A column holding real text ('cat')
    keeps any such cell as text. `rows` maps block rows to table rows (default the same)."""
    refuse_comma_numbers(table, block, names, rows)
    odd = _odd_cells(block)
    if not odd.any():
        return  # every cell NUMBER's characters: float() and NUMBER agree on each
    present = ~missing_mask(block)
    for j in np.flatnonzero(odd.any(axis=0)):  # only columns holding an odd character
        plain = block[present[:, j] & ~odd[:, j], j]
        try:
            plain.astype(np.float64)  # NUMBER's characters only: a number exactly where float() reads one
        except ValueError:
            continue  # real text ('nine'): a text column
        first = None
        for i in np.flatnonzero(present[:, j] & odd[:, j]):  # the odd cells only; stops at the first real text
            if not is_lookalike(str(block[i, j])):
                first = None
                break
            first = int(i) if first is None else first
        if first is not None:
            row = first if rows is None else int(rows[first])
            raise lookalike_problem(table.where(row, names[int(j)]), str(block[first, j]))


# numbers as a spreadsheet in another locale writes them: digit grouping ('1,120', '-12,345.5') and a
# decimal comma ('0,13', '-3,5'); a column of these and plain numbers would otherwise be text categories
GROUPED = re.compile(r"[ ]*[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?[ ]*", re.ASCII)
DECIMAL_COMMA = re.compile(r"[ ]*[+-]?[0-9]*,[0-9]+(?:[eE][+-]?[0-9]+)?[ ]*", re.ASCII)


def comma_number(text: str) -> str | None:
    """The plain number a cell written with digit grouping or a decimal comma means ('1,120' -> '1120',
    '0,13' -> '0.13'; grouping first, as '1,120' reads as grouped), else None."""
    if GROUPED.fullmatch(text):
        return text.strip().replace(",", "")
    if DECIMAL_COMMA.fullmatch(text):
        return text.strip().replace(",", ".")
    return None


@signals_deferred()
def refuse_comma_numbers(table: Table, block: np.ndarray, names: list, rows=None) -> None:
    """A DataError for the first column of `block` whose cells that are not missing are all numbers,
    one or more written with a comma (digit grouping '1,120' or a decimal comma '0,13'): read as they
    are, they would be text categories, one feature per distinct value. Only columns holding a comma
    are looked at, each distinct value once."""
    block = np.asarray(block, dtype=str)
    if block.size == 0:
        return
    commas = np.char.find(block, ",") >= 0
    for j in np.flatnonzero(commas.any(axis=0)):
        column = block[:, j]
        values = np.unique(column[~missing_mask(column)])
        example = None
        for v in values:
            text = str(v)
            if _is_number(text):
                continue
            if comma_number(text) is None:
                example = None
                break  # real text: a text column
            example = text if example is None else example
        if example is not None:
            first = int(np.flatnonzero(column == example)[0])
            row = first if rows is None else int(rows[first])
            plain = comma_number(example)
            if GROUPED.fullmatch(example) and DECIMAL_COMMA.fullmatch(example):  # '1,120': grouping, or 1.12
                plain = f"{plain}, or {example.strip().replace(',', '.')} if the comma is a decimal comma"
            raise DataError(
                f"{table.where(row, names[int(j)])}: {quoted(example)} is a number written with a comma (digit grouping or a decimal comma), "
                f"so column {quoted(names[int(j)])} would be read as text; write plain numbers (here {plain}): no grouping, a decimal point"
            )


def _has_header(rows: list) -> bool:
    """Whether the first row is a header, i.e. unlike the rows below it (docs/tables.md, "The header line"):

    1. a field is text (not a number, not missing) over a column of numbers;
    2. every field is text and none reappears below in its column;
    3. the fields are all distinct, every number among them is its column's number (0, 1, 2, ... or
       1, 2, 3, ..., as pandas writes unnamed columns) and every text field is new to its column
       below, a column of categories (values that repeat); when no field is text, a column below must also hold a number that is not whole
       ('0,1,2' over '5.1,3.5,1.4').

    Otherwise the first row is data: a first row of numbers over columns of numbers is read as data."""
    first, rest = rows[0], rows[1:]
    if not rest:
        return True
    body = np.array(rest, dtype=str)
    numeric = _numeric_columns(body)
    # a first-row field that reads as a number only to Python ('5_0') is no name: the row is data, refused later
    text = [not _is_number(c) and not is_lookalike(c) and not _missing(c) for c in first]
    if any(t and n for t, n in zip(text, numeric)):
        return True
    new = ~(np.char.strip(body) == np.char.strip(np.array(first, dtype=str))[None, :]).any(axis=0)
    if all(text):
        return bool(new.all())
    fields = [c.strip() for c in first]
    if len(set(fields)) < len(fields) or any(_missing(c) for c in fields):
        return False
    numbers = [j for j, t in enumerate(text) if not t]
    if any(not re.fullmatch(r"[0-9]+", fields[j]) or not numeric[j] for j in numbers):
        return False
    if not any(all(int(fields[j]) == j + base for j in numbers) for base in (0, 1)):
        return False
    if any(t and (not new[j] or len(set(np.char.strip(body[:, j]).tolist())) == len(body)) for j, t in enumerate(text)):
        return False  # a text field seen below, or over a column whose values do not repeat (no categories to be unlike)
    if any(text):
        return True
    values = np.where(missing_mask(body), "0", np.char.strip(body)).astype(np.float64)
    return bool(((values % 1 != 0) & np.isfinite(values)).any())


def _missing(text: str) -> bool:
    return text.strip().lower() in MISSING_TOKENS


@signals_deferred()
def missing_mask(cells: np.ndarray) -> np.ndarray:
    """True where a cell is empty, NA, N/A, NaN, null, None or ? (any case, spaces around)."""
    return np.isin(np.char.lower(np.char.strip(cells)), MISSING_TOKENS)


@signals_deferred()
def _numeric_columns(cells: np.ndarray) -> list:
    """For each column of `cells` (m, n): whether every cell that is not missing is a number (NUMBER)."""
    missing = missing_mask(cells)
    filled = np.where(missing, "nan", cells)
    odd = np.asarray(_odd_cells(filled).any(axis=0), dtype=bool)  # a character no number holds ('_', '\u0665', U+00A0, a letter)
    if not odd.any():
        try:
            filled.astype(np.float64)  # the common case, a table of numbers: one conversion
            return [True] * cells.shape[1]
        except ValueError:
            pass
    out = []
    for j in range(cells.shape[1]):  # one column at a time, only for tables that hold text
        if odd[j]:
            out.append(False)
            continue
        try:
            filled[:, j].astype(np.float64)
            out.append(True)
        except ValueError:
            out.append(False)
    return out


def _as_table(path, rows: list, lines: list, digest: str, setting="auto") -> Table:
    header = _has_header(rows) if setting == "auto" else bool(setting)
    if header:
        names, rows, lines = [c.strip() for c in rows[0]], rows[1:], lines[1:]
    else:
        names = [f"column{j + 1}" for j in range(len(rows[0]))]
    names = [n or f"column{j + 1}" for j, n in enumerate(names)]
    seen: dict[str, int] = {}
    for j, n in enumerate(names):
        if n in seen:
            raise DataError(f"{path}: columns {seen[n] + 1} and {j + 1} are both named {quoted(n)}; give each column its own name")
        seen[n] = j
    if not rows:
        forced = (
            "; data.header: true made its one line the header: set data.header: false (data info: --header no) to read it as a row" if setting is True else ""
        )
        raise DataError(f"{path}: holds a header line but no rows of data{forced}")
    first_row = () if header else tuple(c.strip() for c in rows[0])
    return Table(str(path), names, np.array(rows, dtype=str), np.array(lines, dtype=np.int64), digest, header, first_row, setting)


def _read_parquet(path: Path) -> Table:
    try:
        import pyarrow as pa  # optional: the parquet extra (pyarrow)
        import pyarrow.parquet as pq  # optional: the parquet extra (pyarrow)
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow; install it with: pip install 'nnctl[parquet]'") from None
    before = file_identity(path)
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError, ValueError) as exc:  # ArrowInvalid and the like for a damaged file
        raise DataError(f"{path}: cannot be read as Parquet ({str(exc).splitlines()[0][:200]}); write the file again") from None
    names = [str(n) for n in table.column_names]
    if table.num_rows == 0 or not names:
        raise DataError(f"{path}: holds no rows; a table needs at least one row")
    cols = [
        np.array(["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in table.column(n).to_pylist()], dtype=str) for n in names
    ]  # one column at a time: Parquet stores columns
    cells = np.stack(cols, axis=1)
    digest = file_sha256(path)
    check_unchanged(path, before)  # the rows read and the SHA-256 recorded are of one version of the file
    return Table(str(path), names, cells, np.arange(1, table.num_rows + 1), digest, True)


def table_chunks(path, rows: int, header="auto"):
    """The rows of `read_table(path, header)` as Tables of at most `rows` rows (the same columns, source and SHA-256),
    read as a stream: memory is one chunk, whatever the file's size (`nnctl evaluate`).

    The same text checks and messages as `read_table`, line numbers included (UTF-8, NUL bytes, the
    delimiter sniffed from the first lines, quoting, ragged rows, the header, duplicate names); only
    whether the first line is a header is decided from the first chunk's rows, not from all of them
    (with `header` auto; True or False decides it, as data.header does).
    """
    path = Path(path)
    check_data_file(path)
    before = file_identity(path)  # checked before each chunk is given and at the end: a file written while it is read is refused
    digest = file_sha256(path)
    scored = 0  # the last line of the chunks given

    def unchanged() -> None:
        done = f"nothing after line {scored} was scored" if scored else "no line was scored"
        check_unchanged(path, before, f"{done}; run again on a file that is not being written")

    try:
        for table in _parquet_chunks(path, rows, digest) if path.suffix.lower() == ".parquet" else _text_chunks(path, rows, header, digest):
            unchanged()  # the chunk is of the file as it was opened (a truncated file's last line is no row of it)
            yield table
            scored = int(table.lines[-1]) if table.m else scored
    except DataError:
        unchanged()  # a file cut short mid-line is named as changed, not by the broken line it leaves
        raise
    unchanged()


def _text_chunks(path: Path, rows: int, header, digest: str):
    """table_chunks of a CSV/TSV file."""
    with open(path, "rb") as fh:
        lines = _text_lines(fh, path)
        head = []
        for line in lines:
            head.append(line)
            if len(head) == SNIFF_LINES:
                break
        delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter("".join(head))
        reader = csv.reader(itertools.chain(head, lines), delimiter=delimiter, strict=True)
        chunk, numbers, columns, width, first_line, start = [], [], None, None, None, 1
        try:
            for row in reader:
                start = reader.line_num + 1  # where the next row begins
                if not (row and any(c.strip() for c in row)):
                    continue
                if width is None:
                    width, first_line = len(row), reader.line_num
                elif len(row) != width:
                    shown = {",": "','", ";": "';'", "\t": "tab"}[delimiter]
                    raise DataError(
                        f"{path}: line {reader.line_num} has {len(row)} fields but line {first_line} has {width} (fields split at {shown}); "
                        "give every row the same columns (quote a field that holds the delimiter)"
                    )
                chunk.append(row)
                numbers.append(reader.line_num)
                if len(chunk) == rows + (columns is None):
                    columns, table = _chunk_table(path, chunk, numbers, digest, columns, header)
                    yield table
                    chunk, numbers = [], []
        except csv.Error as exc:
            raise quoting_problem(path, exc, start, reader.line_num) from None
    if columns is None and not chunk:
        raise DataError(f"{path}: holds no rows; a table needs a header line and at least one row")
    if chunk or columns is None:
        yield _chunk_table(path, chunk, numbers, digest, columns, header)[1]


def _text_lines(fh, path):
    """A binary file's lines as text, split as StringIO(newline="") splits them (\\n, \\r\\n, \\r), with
    read_table's messages for bytes that are not UTF-8 and for NUL bytes; a byte-order mark is dropped."""
    number = 0
    for raw in fh:
        number += 1
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}: line {number}: byte {raw[exc.start]:#04x} is not UTF-8 text; save the table as UTF-8 (a spreadsheet's 'CSV UTF-8' format)"
            ) from None
        if "\x00" in text:
            raise DataError(f"{path}: holds NUL bytes, so it is not a text table; give a CSV or TSV file")
        if "\r" in text.rstrip("\r\n"):  # a lone \r ends a line too (bytes split only at \n, \r\n and \r)
            yield from (part.decode("utf-8") for part in raw.splitlines(keepends=True))
        else:
            yield text


def _chunk_table(path, rows: list, lines: list, digest: str, columns, header="auto") -> tuple:
    """(columns, Table) of a chunk: the first one decides the header as read_table does, the others have its columns."""
    if columns is None:
        table = _as_table(path, rows, lines, digest, header)
        return table.columns, table
    return columns, Table(str(path), columns, np.array(rows, dtype=str), np.array(lines, dtype=np.int64), digest, True, (), header)


def _parquet_chunks(path: Path, rows: int, digest: str):
    """A Parquet file's rows as Tables of at most `rows` rows, cells as `_read_parquet` makes them."""
    try:
        import pyarrow as pa  # optional: the parquet extra (pyarrow)
        import pyarrow.parquet as pq  # optional: the parquet extra (pyarrow)
    except ImportError:
        raise DataError(f"{path}: reading Parquet needs pyarrow; install it with: pip install 'nnctl[parquet]'") from None
    done = 0
    try:
        parquet = pq.ParquetFile(path)
        names = [str(n) for n in parquet.schema_arrow.names]
        for batch in parquet.iter_batches(batch_size=rows):
            if batch.num_rows == 0:
                continue
            cols = [
                np.array(["" if v is None else repr(v) if isinstance(v, float) else str(v) for v in batch.column(j).to_pylist()], dtype=str)
                for j in range(len(names))
            ]
            yield Table(str(path), names, np.stack(cols, axis=1), np.arange(done + 1, done + batch.num_rows + 1), digest, True)
            done += batch.num_rows
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot be read as Parquet ({str(exc).splitlines()[0][:200]}); write the file again") from None
    if done == 0 or not names:
        raise DataError(f"{path}: holds no rows; a table needs at least one row")


# ---------------------------------------------------------------- describing (nnctl data info)


@signals_deferred()
def stripped_note(name: str, cells: np.ndarray) -> str | None:
    """A note when text cells of column `name` had spaces around them, which reading strips."""
    n = int((np.char.strip(cells) != cells).sum())
    return (
        None
        if not n
        else (
            f"column {quoted(name)}: {n} text value{'s' if n > 1 else ''} with spaces or tabs around {'them' if n > 1 else 'it'}, "
            "stripped ('cat ' is the class or category 'cat')"
        )
    )


@signals_deferred()
def describe(table: Table) -> list:
    """One dict per column: name, kind (number or text), missing count, range or categories. A column
    of numbers but for cells only Python reads as numbers ('5_0') is refused, as training refuses it."""
    refuse_lookalikes(table, table.cells, table.columns)
    numeric = _numeric_columns(table.cells)
    missing = missing_mask(table.cells)
    out = []
    for j, name in enumerate(table.columns):  # one entry per column
        present = table.cells[~missing[:, j], j]
        row = {"column": name, "kind": "number" if numeric[j] else "text", "missing": int(missing[:, j].sum())}
        if numeric[j] and present.size:
            v = present.astype(np.float64)
            row.update(min=float(v.min()), max=float(v.max()), mean=column_mean(v), distinct=int(np.unique(v).size), whole=bool(np.all(v == np.floor(v))))
        else:
            text = np.char.strip(present)  # as training reads a category or class: 'cat ' is 'cat'
            values, counts = np.unique(text, return_counts=True)
            order = np.argsort(-counts, kind="stable")
            row.update(distinct=int(values.size), top=[[str(values[i]), int(counts[i])] for i in order[:5]], stripped=int((text != present).sum()))
        out.append(row)
    return out


# ---------------------------------------------------------------- the preprocessor


@dataclass
class Preprocessor:
    """What turns a table's rows into X: fitted on the training split, stored in the run."""

    target: str
    task: str  # classification | regression
    classes: list = field(default_factory=list)  # classification: the class names, label 0 first
    class_values: list | None = None  # classes that are numbers: their values (a target of 1.0 is class "1")
    numeric: list = field(default_factory=list)  # numeric feature columns, in file order
    fill: list = field(default_factory=list)  # per numeric column: the value a missing cell gets (None: none fitted)
    categorical: list = field(default_factory=list)  # text feature columns, in file order
    categories: list = field(default_factory=list)  # per text column: its categories, sorted
    category_fill: list = field(default_factory=list)  # per text column: the category a missing cell gets
    missing: str = "error"
    unseen: str = "error"
    header: object = "auto"  # data.header: how every table of the run is read (auto: detected; True, False: forced)
    notes: list = field(default_factory=list)  # what was chosen and why (not stored)

    @property
    def feature_names(self) -> list:
        """The n_x rows of X: the numeric columns, then one per category (`island=Biscoe`)."""
        return list(self.numeric) + [f"{c}={v}" for c, cats in zip(self.categorical, self.categories) for v in cats]

    @property
    def n_x(self) -> int:
        return len(self.numeric) + sum(len(c) for c in self.categories)

    @property
    def columns(self) -> list:
        return list(self.numeric) + list(self.categorical)

    # ------------------------------------------------------------ fitting

    @classmethod
    def choose_target(cls, table: Table, target: str | None, notes: list) -> str:
        if target is None:
            target = table.columns[-1]
            notes.append(f"data.target not given: the last column, {quoted(target)}, is the target (set data.target to choose another)")
        elif target not in table.columns:
            raise DataError(f"{table.source}: data.target: no column {quoted(target)}{table.read_as_data(target) or _did_you_mean(target, table.columns)}")
        return target

    @classmethod
    def fit(
        cls,
        table: Table,
        target: str | None = None,
        features=None,
        drop=(),
        missing: str = "error",
        unseen: str = "error",
        task: str = "auto",
        train_rows=None,
        header="auto",
    ) -> Preprocessor:
        """Fitted on `table` (the class names on all its rows; everything else on `train_rows`, the
        training split, default all). Returns it with `notes` saying what was chosen and why."""
        notes: list = []
        target = cls.choose_target(table, target, notes)
        features = cls._features(table, target, features, drop)
        prep = cls(target=target, task="classification", missing=missing, unseen=unseen, header=header, notes=notes)
        prep._fit_target(table, task)
        present = np.flatnonzero(~missing_mask(table.column(target)))
        rows = present if train_rows is None else np.intersect1d(train_rows, present)
        prep._fit_features(table.rows(rows), features)
        for name in prep.categorical:  # counted over the whole file, as `nnctl info` counts them: reading strips every part
            cells = table.column(name)
            note = stripped_note(name, cells[~missing_mask(cells)])
            if note:
                prep.notes.append(note)
        return prep

    @classmethod
    def peek_task(cls, table: Table, target: str | None) -> str | None:
        """The task `model.task: auto` would choose for `target` (None: the last column) without
        fitting anything: classification, regression, or None where fitting would refuse the target."""
        try:
            prep = cls(target=cls.choose_target(table, target, []), task="classification", missing="drop", unseen="error", notes=[])
            prep._fit_target(table, "auto")
        except DataError:
            return None
        return prep.task

    def target_rows(self, table: Table) -> tuple:
        """(labels or values, row indices) of the rows whose target is given."""
        kept = np.flatnonzero(~missing_mask(table.column(self.target)))
        return self._labels(table, kept), kept

    @staticmethod
    def _features(table: Table, target: str, features, drop) -> list:
        for key, names in (("data.features", features or ()), ("data.drop", drop or ())):
            for name in names:
                if name not in table.columns:
                    raise DataError(f"{table.source}: {key}: no column {quoted(name)}{table.read_as_data(name) or _did_you_mean(name, table.columns)}")
        if features and target in features:
            raise DataError(f"{table.source}: data.features: {quoted(target)} is the target; leave it out of the features")
        if features:
            return [c for c in table.columns if c in set(features)]
        out = [c for c in table.columns if c != target and c not in set(drop or ())]
        if not out:
            raise DataError(f"{table.source}: no feature columns left besides the target {quoted(target)}; a table needs at least one")
        return out

    @signals_deferred()
    def _fit_target(self, table: Table, task: str) -> None:
        y = table.column(self.target)
        refuse_lookalikes(table, y[:, None], [self.target])
        absent = missing_mask(y)
        numeric = _numeric_columns(y[~absent, None])[0] if (~absent).any() else False
        if not (~absent).any():
            raise DataError(f"{table.source}: data.target: column {quoted(self.target)} holds no values")
        values = y[~absent]
        if absent.any():
            first = int(np.flatnonzero(absent)[0])
            if self.missing == "error":
                raise DataError(
                    f"{table.where(first, self.target)}: the target is missing ({int(absent.sum())} rows without one); "
                    "remove those rows, or set data.missing (any policy drops rows without a target)"
                )
            self.notes.append(f"{int(absent.sum())} rows of {table.source} without a target {quoted(self.target)} left out")
        if numeric:
            present = np.flatnonzero(~absent)
            finite = np.isfinite(values.astype(np.float64))
            if not finite.all():
                bad = int(present[np.flatnonzero(~finite)[0]])
                raise DataError(f"{table.where(bad, self.target)}: the target is not finite; replace it with a number (or remove the row)")
        if task == "auto":
            if not numeric:
                task, why = "classification", "it holds text"
            else:
                v = values.astype(np.float64)
                distinct = np.unique(v)
                if np.all(v == np.floor(v)) and distinct.size <= MAX_CLASS_VALUES:
                    task, why = "classification", f"it holds {distinct.size} whole-number values"
                else:
                    task, why = "regression", f"it holds {distinct.size} distinct numbers" + ("" if np.all(v == np.floor(v)) else ", not all whole")
            other = "regression" if task == "classification" else "classification"
            # advice that works when followed: a text target cannot be a regression's
            override = f"set model.task: {other} to override" if numeric else "a regression needs a target column of plain numbers"
            self.notes.append(f"target {quoted(self.target)}: {task}, as {why} ({override})")
        if task == "regression" and not numeric:
            bad = int(np.flatnonzero(~absent & ~_number_mask(y))[0])
            raise DataError(
                f"{table.where(bad, self.target)}: {quoted(str(y[bad]))} is not a number, and a regression needs numbers; "
                "use model.task: classification (or auto) for a target of classes"
            )
        self.task = task
        if task == "regression":
            return
        if numeric:
            distinct = np.unique(values.astype(np.float64))
            self.class_values = distinct.tolist()
            self.classes = [_number_name(v) for v in distinct]
        else:
            self.classes = np.unique(np.char.strip(values)).tolist()
            note = stripped_note(self.target, values)
            if note:
                self.notes.append(note)
        if len(self.classes) < 2:
            raise DataError(
                f"{table.source}: data.target: column {quoted(self.target)} holds one class only ({quoted(self.classes[0])}); a classifier needs two or more"
            )

    @signals_deferred()
    def _fit_features(self, table: Table, features: list) -> None:
        idx = [table.columns.index(c) for c in features]
        block = table.cells[:, idx]
        refuse_lookalikes(table, block, features)
        numeric = _numeric_columns(block)
        absent = missing_mask(block)
        self.numeric = [c for c, n in zip(features, numeric) if n]
        self.categorical = [c for c, n in zip(features, numeric) if not n]
        if table.m and (empty := absent.all(axis=0)).any():  # a column of no values: no data.missing policy can fill it
            j = int(np.flatnonzero(empty)[0])
            name = features[j]
            trailing = (  # a separator ending every line: an unnamed, wholly blank last column
                name == table.columns[-1] == f"column{len(table.columns)}" and bool((np.char.strip(block[:, j]) == "").all())
            )
            raise DataError(
                f"{table.source}: column {quoted(name)} is empty on every line"
                + (" (every line ends with a separator, which makes an empty last column)" if trailing else "")
                + f"; leave it out with data.drop: [{name}]"
                + (", or remove the separator at the end of each line" if trailing else "")
            )
        if absent.any() and self.missing == "error":
            i, j = np.argwhere(absent)[0]
            raise DataError(
                f"{table.where(int(i), features[int(j)])}: the value is missing ({int(absent.sum())} missing in all); "
                "set data.missing: mean, median, most_frequent or drop"
            )
        keep = ~absent.any(axis=1) if self.missing == "drop" else np.ones(table.m, dtype=bool)
        if not keep.any():
            raise DataError(f"{table.source}: data.missing: drop leaves no rows (every row misses a value); use mean, median or most_frequent")
        num = np.array(numeric, dtype=bool)
        x = np.where(absent[:, num], "nan", block[:, num])[keep].astype(np.float64)  # (m, numeric columns)
        empty = np.isnan(x).all(axis=0) if x.size else np.zeros(0, dtype=bool)
        if empty.any():
            name = self.numeric[int(np.flatnonzero(empty)[0])]
            raise DataError(f"{table.source}: column {quoted(name)} has no values in the training rows; drop it with data.drop: [{name}]")
        if not np.isfinite(np.nan_to_num(x, nan=0.0)).all():
            i, j = np.argwhere(~np.isfinite(np.nan_to_num(x, nan=0.0)))[0]
            rows = np.flatnonzero(keep)
            raise DataError(f"{table.where(int(rows[i]), self.numeric[int(j)])}: the value is infinite; replace it with a finite number")
        self.fill = _fill_values(x, self.missing).tolist() if self.numeric else []
        text = np.char.strip(block[:, ~num])[keep]
        text_absent = absent[:, ~num][keep]
        self.categories, self.category_fill = [], []
        for j, name in enumerate(self.categorical):  # one column at a time: each has its own categories
            values, counts = np.unique(text[~text_absent[:, j], j], return_counts=True)
            self.categories.append(values.tolist())
            self.category_fill.append(str(values[np.argmax(counts)]) if values.size else None)
            if values.size > MANY_CATEGORIES:
                self.notes.append(
                    f"column {quoted(name)} holds text with {values.size} categories in the rows trained on, one feature each; "
                    "if it is an id or free text, "
                    f"leave it out with data.drop: [{name}]"
                )
        if self.categorical:
            self.notes.append(
                f"{len(self.categorical)} text columns one-hot encoded ({', '.join(self.categorical[:5])}"
                f"{', ...' if len(self.categorical) > 5 else ''}): {self.n_x} features in all"
            )

    # ------------------------------------------------------------ applying

    @signals_deferred()
    def transform(self, table: Table, need_target: bool = True) -> tuple:
        """(x (m, n_x) float64, y (m,) labels or values or None, kept: the row indices used).

        Columns are found by name: others are ignored (`ignored_columns` names them), a missing
        feature column is an error, the target column only where `need_target`. Rows missing a value
        are filled or dropped as fitted (data.missing); with `error`, the first one is named."""
        absent_cols = [c for c in self.columns if c not in table.columns]
        if absent_cols:
            raise DataError(
                f"{table.source}: no column {quoted(absent_cols[0])}{' (and ' + str(len(absent_cols) - 1) + ' more)' if len(absent_cols) > 1 else ''}, "
                f"which the model was trained on; give a table with the training columns ({', '.join(self.columns[:8])}"
                f"{', ...' if len(self.columns) > 8 else ''})"
            )
        has_target = self.target in table.columns
        if need_target and not has_target:
            raise DataError(f"{table.source}: no target column {quoted(self.target)}; evaluation needs the true values")
        num_idx = [table.columns.index(c) for c in self.numeric]
        cat_idx = [table.columns.index(c) for c in self.categorical]
        block = table.cells[:, num_idx + cat_idx]
        absent = missing_mask(block)
        target_absent = missing_mask(table.column(self.target)) if has_target and need_target else np.zeros(table.m, dtype=bool)
        if absent.any() and self.missing == "error":
            i, j = np.argwhere(absent)[0]
            raise DataError(
                f"{table.where(int(i), self.columns[int(j)])}: the value is missing; the run was trained with data.missing: error, "
                "so fill it in (or train with data.missing: mean, median, most_frequent or drop)"
            )
        keep = ~target_absent & (~absent.any(axis=1) if self.missing == "drop" else True)
        kept = np.flatnonzero(keep)
        n_num = len(num_idx)
        raw = np.where(absent[:, :n_num], "nan", block[:, :n_num])
        bad = ~_number_mask(raw) & ~absent[:, :n_num]
        if bad.any():
            i, j = np.argwhere(bad)[0]
            if is_lookalike(str(block[i, j])):
                raise lookalike_problem(table.where(int(i), self.numeric[int(j)]), str(block[i, j]))
            raise DataError(f"{table.where(int(i), self.numeric[int(j)])}: {quoted(str(block[i, j]))} is not a number; the column held numbers in training")
        x_num = raw.astype(np.float64)
        if n_num:
            x_num = np.where(np.isnan(x_num), np.asarray(self.fill, dtype=np.float64)[None, :], x_num)
        x_cat = self._one_hot(table, np.char.strip(block[:, n_num:]), absent[:, n_num:])
        x = np.concatenate([x_num, x_cat], axis=1)[kept]
        if not np.isfinite(x).all():
            i, j = np.argwhere(~np.isfinite(x))[0]
            raise DataError(f"{table.where(int(kept[i]), self.feature_names[int(j)])}: the value is not finite; replace it with a number")
        y = self._labels(table, kept) if has_target and need_target else None
        return x, y, kept

    def _one_hot(self, table: Table, text: np.ndarray, absent: np.ndarray) -> np.ndarray:
        """(m, categories in all): 1 where a row holds a column's category; the fitted fill for a missing cell."""
        width = sum(len(c) for c in self.categories)
        out = np.zeros((table.m, width), dtype=np.float64)
        if not self.categorical:
            return out
        fills = np.array([f if f is not None else "" for f in self.category_fill], dtype=object).astype(str)
        text = np.where(absent, fills[None, :], text)
        prefixes = np.array([f"{j:06d}{KEY_SEP}" for j in range(len(self.categorical))], dtype=str)
        vocab = np.array([f"{j:06d}{KEY_SEP}{v}" for j, cats in enumerate(self.categories) for v in cats], dtype=str)  # sorted
        keys = np.char.add(prefixes[None, :], text)  # (m, text columns)
        pos = np.searchsorted(vocab, keys).clip(0, max(vocab.size - 1, 0))
        found = vocab[pos] == keys if vocab.size else np.zeros(keys.shape, dtype=bool)
        if not found.all() and self.unseen == "error":
            i, j = np.argwhere(~found)[0]
            cats = self.categories[int(j)]
            raise DataError(
                f"{table.where(int(i), self.categorical[int(j)])}: category {quoted(str(text[i, j]))} was not in the training data "
                f"({', '.join(map(quoted, cats[:6]))}{', ...' if len(cats) > 6 else ''}); fix the value, or train with "
                "data.unseen: zeros to encode unseen categories as all zeros"
            )
        rows = np.broadcast_to(np.arange(table.m)[:, None], keys.shape)
        out[rows[found], pos[found]] = 1.0
        return out

    @signals_deferred()
    def filled_counts(self, table: Table) -> dict:
        """{column: cells of `table` missing in that training column}, the cells transform fills as fitted
        (data.missing: mean, median or most_frequent; {} under another policy). Columns found by name."""
        if self.missing not in FILLED_WITH:
            return {}
        names = [c for c in self.columns if c in table.columns]
        if not names:
            return {}
        absent = missing_mask(table.cells[:, [table.columns.index(c) for c in names]])
        return {c: int(n) for c, n in zip(names, absent.sum(axis=0)) if n}

    @signals_deferred()
    def unseen_count(self, table: Table) -> int:
        """Cells of `table` holding a category the training data did not (encoded as zeros)."""
        if not self.categorical:
            return 0
        text = np.char.strip(table.cells[:, [table.columns.index(c) for c in self.categorical]])
        known = np.array([np.isin(text[:, j], cats) for j, cats in enumerate(self.categories)]).T  # one column at a time
        return int((~known & ~missing_mask(text)).sum())

    @signals_deferred()
    def _labels(self, table: Table, kept) -> np.ndarray:
        raw = table.column(self.target)[kept]  # checked as written: strip() would drop a U+00A0 around a number too
        y = np.char.strip(raw)
        if self.task == "regression":
            bad = ~_number_mask(raw)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                if is_lookalike(str(raw[i])):
                    raise lookalike_problem(table.where(int(kept[i]), self.target), str(raw[i]))
                raise DataError(f"{table.where(int(kept[i]), self.target)}: {quoted(str(y[i]))} is not a number; a regression's target is numbers")
            values = y.astype(np.float64)
            big = too_large_targets(values)  # training's cost, evaluation's errors: never an overflow blamed on the run
            if big.size:
                i = int(big[0])
                raise DataError(f"{table.where(int(kept[i]), self.target)}: {target_size_problem(float(values[i]))}")
            return values
        if self.class_values is not None:
            bad = ~_number_mask(raw)
            values = np.where(bad, "nan", y).astype(np.float64)
            known = np.asarray(self.class_values, dtype=np.float64)
            pos = np.searchsorted(known, values).clip(0, known.size - 1)
            ok = ~bad & (known[pos] == values)
        else:
            known = np.asarray(self.classes, dtype=str)
            pos = np.searchsorted(known, y).clip(0, known.size - 1)
            ok = known[pos] == y
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            if self.class_values is not None and is_lookalike(str(raw[i])):
                raise lookalike_problem(table.where(int(kept[i]), self.target), str(raw[i]))
            raise DataError(
                f"{table.where(int(kept[i]), self.target)}: class {quoted(str(y[i]))} is not one the run was trained on "
                f"({', '.join(map(quoted, self.classes[:8]))}{', ...' if len(self.classes) > 8 else ''}); "
                "evaluate with rows of the run's classes"
            )
        return pos.astype(np.int64)

    # ------------------------------------------------------------ stored in the run

    def to_dict(self) -> dict:
        return {
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "class_values": self.class_values,
            "numeric": self.numeric,
            "fill": self.fill,
            "categorical": self.categorical,
            "categories": self.categories,
            "category_fill": self.category_fill,
            "missing": self.missing,
            "unseen": self.unseen,
            **({} if self.header == "auto" else {"header": self.header}),  # absent: auto (a run of before data.header reads so)
        }

    @classmethod
    def from_dict(cls, d, where: str, error=DataError) -> Preprocessor:
        """The preprocessor read back from a run: every field checked, one line naming the key."""

        def bad(key, want):
            return error(f"{where}: {key}: expected {want}; the file is damaged or was edited, so train the run again")

        def strings(v):
            return isinstance(v, list) and all(isinstance(s, str) for s in v)

        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not isinstance(d, dict):
            raise bad("(top)", "an object")
        for key in ("target",):
            if not isinstance(d.get(key), str):
                raise bad(key, "a column name")
        if d.get("task") not in ("classification", "regression"):
            raise bad("task", "classification or regression")
        for key in ("classes", "numeric", "categorical"):
            if not strings(d.get(key)):
                raise bad(key, "a list of names")
        if d["task"] == "classification" and len(d["classes"]) < 2:
            raise bad("classes", "two or more class names")
        cv = d.get("class_values")
        if cv is not None and not (isinstance(cv, list) and len(cv) == len(d["classes"]) and all(map(number, cv)) and cv == sorted(set(cv))):
            raise bad("class_values", "one increasing number per class")
        if d["task"] == "classification" and cv is None and d["classes"] != sorted(set(d["classes"])):
            raise bad("classes", "class names in sorted order, each once")
        fill = d.get("fill")
        if not (isinstance(fill, list) and len(fill) == len(d["numeric"]) and all(number(v) for v in fill)):
            raise bad("fill", f"{len(d['numeric'])} finite numbers, one per numeric column")
        cats = d.get("categories")
        if not (isinstance(cats, list) and len(cats) == len(d["categorical"]) and all(strings(c) and c == sorted(set(c)) for c in cats)):
            raise bad("categories", "one sorted list of categories per text column")
        cfill = d.get("category_fill")
        if not (isinstance(cfill, list) and len(cfill) == len(cats) and all(f is None or (isinstance(f, str) and f in c) for f, c in zip(cfill, cats))):
            raise bad("category_fill", "one of its column's categories per text column")
        if d.get("missing") not in MISSING_POLICIES:
            raise bad("missing", " | ".join(MISSING_POLICIES))
        if d.get("unseen") not in UNSEEN_POLICIES:
            raise bad("unseen", " | ".join(UNSEEN_POLICIES))
        header = d.get("header", "auto")
        if not (header is True or header is False or header == "auto"):
            raise bad("header", "auto, true or false")
        names = [d["target"], *d["numeric"], *d["categorical"]]
        if len(set(names)) != len(names):
            raise bad("numeric", "column names each used once")
        return cls(
            **{
                k: d[k]
                for k in ("target", "task", "classes", "class_values", "numeric", "fill", "categorical", "categories", "category_fill", "missing", "unseen")
            },
            header=header,
        )


def _fill_values(x: np.ndarray, missing: str) -> np.ndarray:
    """Per column of x (m, n) with NaN for missing: the value a missing cell gets, always finite.

    A column whose plain mean or median overflows (values near float64's largest, 1e308 + 1.7e308)
    is computed again divided by its largest |x| first and scaled back: the same numbers wherever
    the plain way does not overflow."""
    with np.errstate(all="ignore"):
        if missing == "most_frequent":
            return _column_modes(x)
        stat = np.nanmedian if missing == "median" else np.nanmean  # mean: also what error and drop record (never used to fill)
        out = stat(x, axis=0) if x.size else np.zeros(x.shape[1])
        over = ~np.isfinite(out)
        if over.any():
            scale = np.nanmax(np.abs(x[:, over]), axis=0)
            out[over] = stat(x[:, over] / scale, axis=0) * scale
        return out


def column_mean(v: np.ndarray) -> float:
    """The mean of finite numbers v, finite whatever their size (scaled by the largest |v| where the
    plain mean overflows), and no numpy warning."""
    with np.errstate(all="ignore"):
        mean = float(v.mean())
        if not math.isfinite(mean) and v.size:
            scale = float(np.max(np.abs(v)))
            mean = float((v / scale).mean()) * scale
    return mean


def _column_modes(x: np.ndarray) -> np.ndarray:
    """The most frequent value of each column of x (m, n), NaN ignored, the smallest on ties; vectorised:
    sort each column, count runs of equal values."""
    s = np.sort(x, axis=0)  # NaN last
    m, n = s.shape
    new_run = np.ones_like(s, dtype=bool)
    new_run[1:] = s[1:] != s[:-1]
    run_id = np.cumsum(new_run, axis=0) - 1  # (m, n) the run each cell belongs to
    counts = np.zeros((m, n), dtype=np.int64)
    np.add.at(counts, (run_id, np.broadcast_to(np.arange(n), (m, n))), (~np.isnan(s)).astype(np.int64))
    best = counts.argmax(axis=0)  # the first (smallest) run of the most cells
    first = np.argmax(run_id == best[None, :], axis=0)
    return s[first, np.arange(n)]


@signals_deferred()
def _number_mask(cells: np.ndarray) -> np.ndarray:
    """True where a cell is a number (NUMBER): one vectorised conversion where every cell holds only
    NUMBER's characters, else NUMBER matched cell by cell."""
    flat = cells.ravel()
    if not _odd_cells(flat).any():
        try:
            flat.astype(np.float64)
            return np.ones(cells.shape, dtype=bool)
        except ValueError:
            pass
    ok = np.frompyfunc(_is_number, 1, 1)(flat).astype(bool)  # only where something is not a number
    return ok.reshape(cells.shape)


def _number_name(v: float) -> str:
    """A numeric class's name: 3 for 3.0, 2.5 for 2.5."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _did_you_mean(name: str, columns: list) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    listed = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
    return (f"; did you mean {quoted(close[0])}?" if close else "") + f" (columns: {listed})"


def table_rows(n: int, seed: int, fraction: float, labels=None) -> tuple:
    """(train, held) row indices for a validation `fraction` of n rows, drawn as data.split_validation
    does (per class when `labels` are given), so a table and an HDF5 file split alike."""
    return split_indices(n, fraction, seed, labels)


FILLED_WITH = {"mean": "mean", "median": "median", "most_frequent": "most frequent value"}


class Warned(str):
    """A note that is a warning: the terminal shows it as `Warning:` (the text is the same in JSON)."""


def filled_notes(prep: Preprocessor, file: str, filled: dict, rows: int) -> list:
    """What predict and evaluate say of the cells they filled (data.missing: mean, median, most_frequent):
    a note counting them (per column, where few columns), and a Warned line for each column empty in
    every row, whose filled value is the same for all rows: the predictions do not use that feature."""
    if not filled or rows == 0:
        return []
    text = set(prep.categorical)

    def how(column) -> str:
        return "most frequent category" if column in text else FILLED_WITH.get(prep.missing, prep.missing)

    out: list = []
    for c in [c for c, n in filled.items() if n >= rows]:
        out.append(
            Warned(
                f"{file}: column {quoted(c)} is empty in {'its one row' if rows == 1 else f'all {rows} rows'}: every value was filled with the training data's "
                f"{how(c)} (data.missing: {prep.missing}), so the predictions ignore this feature; give the column's values"
            )
        )
    partial = {c: n for c, n in filled.items() if n < rows}
    if partial:
        cells = sum(partial.values())
        per = ", ".join(f"{n} in {quoted(c)}" for c, n in list(partial.items())[:6]) + (", ..." if len(partial) > 6 else "")
        kinds = sorted({how(c) for c in partial})
        out.append(
            f"{file}: {cells} missing value{'s' if cells != 1 else ''} filled with the training data's {' or '.join(kinds)} "
            f"(data.missing: {prep.missing}, as the run was trained; a text column's: its most frequent category): {per}"
        )
    return out


def missing_note(prep: Preprocessor, file: str, parts: list, over: str, role: str = "") -> str | None:
    """The one note of data.missing for one file, None where it has no gap: how many values it filled
    (or rows it dropped), counted in each of `parts` ((name, Table) of the rows used: a training file's
    training and validation parts, or ("", the whole file)), and what fills them: statistics `over`
    the rows training fitted them on ("its training part", "the training file"); `role` names the file's
    ("the test file")."""
    counts = []
    for name, part in parts:
        block = part.cells[:, [part.columns.index(c) for c in prep.columns if c in part.columns]]
        if prep.target in part.columns:
            block = block[~missing_mask(part.column(prep.target))]  # rows without a target are left out anyway
        absent = missing_mask(block)
        counts.append((name, block.shape[0], int(absent.sum()), int(absent.any(axis=1).sum()) if absent.size else 0))
    cells, rows = sum(c[2] for c in counts), sum(c[3] for c in counts)
    if not cells or prep.missing == "error":
        return None
    if prep.missing == "drop":
        if len(counts) == 1:
            return f"data.missing: drop: {rows} of the {counts[0][1]} rows of {file}{f' ({role})' if role else ''} left out, each for a missing value"
        said = ", ".join(f"{r} of the {name}'s {m}" for name, m, _, r in counts)
        return f"data.missing: drop: {rows} rows of {file} left out, each for a missing value: {said}"
    how = f"each column's {FILLED_WITH[prep.missing]} over {over} (a text column's: its most frequent category)"
    if len(counts) == 1:
        return f"data.missing: {cells} missing values in {file} ({f'{role}, ' if role else ''}{counts[0][1]} rows) filled with {how}"
    said = ", ".join(f"{c} in the {name} ({m} rows)" for name, m, c, _ in counts)
    return f"data.missing: {cells} missing values in {file} filled with {how}: {said}"


def table_dataset(prep: Preprocessor, table: Table, dtype=np.float64, need_target: bool = True) -> Dataset:
    """A table's rows through the fitted preprocessor: X (n_x, m) in `dtype`, Y (1, m) labels or values
    (zeros where the target is not needed)."""
    x, y, kept = prep.transform(table, need_target)
    m = kept.size
    if m == 0:
        raise DataError(f"{table.source}: no rows left to use (every row misses a value); fill them in or use data.missing: mean")
    Y = (y if y is not None else np.zeros(m)).reshape(1, m)
    return Dataset(
        X=np.ascontiguousarray(x.T, dtype=dtype),
        Y=Y,
        classes=list(prep.classes),
        preprocessing=table_preprocessing(prep.n_x),
        source=table.source,
        sha256=table.sha256,
        kept=kept,
    )


def table_preprocessing(n_x: int) -> dict:
    """The record params.h5 keeps of a table's inputs, as for HDF5 data: n_x features, used as they are."""
    return {"flatten": "table", "input_shape": [n_x], "x_dtype": "float64", "scale": 1.0}
