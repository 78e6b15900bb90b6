"""Read a housing company's export into headings and rows of text.

CSV as Danish Excel writes it (UTF-8 with or without BOM, or Windows-1252;
comma or semicolon), XLSX (first sheet), or JSON (a schedule upload document,
read by :mod:`broker.ingest._json`). Nothing here interprets a value.

A spreadsheet is untrusted input: an XLSX is a zip archive that may unpack to far
more than it weighs, and its sheet may declare or hold more rows than any export.
Both are bounded before and while reading (the ``MAX_`` limits below). A long
read can be stopped from another thread through a :class:`threading.Event`.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import threading
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from broker.errors import Cancelled, InputError, Problem

__all__ = [
    "MAX_CELLS",
    "MAX_COLUMNS",
    "MAX_RATIO",
    "MAX_ROWS",
    "MAX_UNPACKED",
    "Table",
    "check_cancel",
    "column_label",
    "detect_format",
    "read_table",
]

# Limits of one spreadsheet. A national export (every social-housing dwelling in
# Denmark, ~600,000 dwelling-phase rows of ~20 columns) is about 580 MB of sheet
# XML as openpyxl writes it (inline strings; Excel's shared strings make it smaller),
# 12 million cells, and compresses about 13:1; one housing organisation's export
# is a fraction of that.
MAX_ROWS = 1_048_576
"""The most rows a sheet may declare or hold: Excel's own limit."""
MAX_COLUMNS = 1_024
"""The most columns a sheet may declare or its heading row may use."""
MAX_CELLS = 30_000_000
"""The most cells (rows times used columns) read from one sheet or CSV file."""
MAX_UNPACKED = 1024 * 1024 * 1024
"""The most bytes the members of an XLSX archive may unpack to, together."""
MAX_RATIO = 100
"""The highest compression ratio of one member of an XLSX archive (a zip bomb's is ~1000)."""

_CANCEL_EVERY = 4096
_BOM = b"\xef\xbb\xbf"
_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".json": "json"}
# A valid multi-byte UTF-8 sequence: what a Windows-1252 file almost never holds.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
# Bytes that did not decode, kept by the "surrogateescape" handler as U+DC80-U+DCFF.
_UNDECODED = re.compile("[\udc80-\udcff]")


@dataclass(frozen=True, slots=True)
class Table:
    """A table read from a file: its headings and its data rows (spreadsheet row numbers).

    ``undecodable`` lists the (row, column position) of every data cell holding a byte
    that is invalid in the file's encoding, and ``undecodable_rule`` says which encoding.
    """

    source_format: str
    headings: tuple[str, ...]
    rows: list[tuple[int, list[str]]]
    undecodable: tuple[tuple[int, int], ...] = ()
    undecodable_rule: str = ""


def column_label(position: int, note: str = "") -> str:
    """Return a column by its number and spreadsheet letter: position 6 gives ``7 (G)``.

    With a ``note``: ``7 (G, unknown heading)``. Used wherever a heading's own text may
    not be shown (an unknown heading may be data).
    """
    letters = ""
    number = position + 1
    while number:
        number, rest = divmod(number - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return f"{position + 1} ({letters}, {note})" if note else f"{position + 1} ({letters})"


def check_cancel(cancel: threading.Event | None) -> None:
    """Raise :class:`Cancelled` if ``cancel`` is set.

    Raises:
        Cancelled: the caller asked the work to stop.
    """
    if cancel is not None and cancel.is_set():
        raise Cancelled("the upload was stopped before it finished; nothing was changed")


def detect_format(path: Path) -> str:
    """Return ``csv``, ``xlsx`` or ``json`` from the file name.

    Raises:
        InputError: the extension is none of those.
    """
    source_format = _FORMATS.get(path.suffix.lower())
    if source_format is None:
        raise InputError(
            "unsupported file type",
            (Problem("file type must be .csv, .xlsx or .json"),),
        )
    return source_format


def _encoding(data: bytes) -> tuple[str, str]:
    """Return the codec of CSV bytes and the rule a byte invalid in it breaks.

    The heading row decides: a BOM or valid UTF-8 means UTF-8, anything else
    Windows-1252. A heading row of plain ASCII says nothing, so then any UTF-8
    letter in the file means UTF-8.
    """
    if data.startswith(_BOM):
        return "utf-8-sig", "not valid UTF-8 (the file starts with a UTF-8 byte order mark)"
    end = data.find(b"\n")
    heading = data if end < 0 else data[:end]
    utf8 = "not valid UTF-8 (the file's heading row is UTF-8)"
    if not heading.isascii():
        try:
            heading.decode("utf-8")
        except UnicodeDecodeError:
            return "cp1252", "not a Windows-1252 character (the file's heading row is Windows-1252)"
        return "utf-8", utf8
    if data.isascii() or _UTF8_SEQUENCE.search(data):
        return "utf-8", "not valid UTF-8 (the file holds UTF-8 letters elsewhere)"
    return "cp1252", "not a Windows-1252 character (the file is Windows-1252)"


def _sniff_delimiter(first_line: str) -> str:
    # Danish Excel writes ";" because "," is the decimal separator.
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def _bounded(
    rows: Iterable[tuple[int, list[str]]], cancel: threading.Event | None
) -> Iterator[tuple[int, list[str]]]:
    """Yield the rows that are not blank, within the row and cell limits, until cancelled."""
    cells = 0
    for number, row in rows:
        if number % _CANCEL_EVERY == 0:
            check_cancel(cancel)
        if number > MAX_ROWS:
            raise _limit(f"the file has more than {MAX_ROWS:,} rows")
        if not row or _is_blank(row):
            continue
        cells += len(row)
        if cells > MAX_CELLS:
            raise _limit(f"the file holds more than {MAX_CELLS:,} cells")
        yield number, row


def _limit(rule: str) -> InputError:
    return InputError("file too large", (Problem(rule),))


def read_csv(data: bytes, *, cancel: threading.Event | None = None) -> Table:
    """Parse CSV bytes into a :class:`Table`.

    Raises:
        InputError: the file is empty, malformed, too large, or its heading row holds a
            byte invalid in the file's encoding.
        Cancelled: ``cancel`` was set.
    """
    encoding, rule = _encoding(data)
    try:
        text, damaged = data.decode(encoding), False
    except UnicodeDecodeError:
        text, damaged = data.decode(encoding, errors="surrogateescape"), True
    end = text.find("\n")
    first_line = text if end < 0 else text[:end]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    try:
        headings = next(reader, None)
        if headings is None or _is_blank(headings):
            raise InputError("empty file", (Problem("the file must start with a heading row"),))
        if damaged:
            bad = [column_label(p) for p, cell in enumerate(headings) if _UNDECODED.search(cell)]
            if bad:
                problems = tuple(Problem(rule, row=1, column=label) for label in bad)
                raise InputError("unreadable heading row", problems)
        rows = list(_bounded(enumerate(reader, start=2), cancel))
    except csv.Error as exc:
        raise InputError(
            "malformed CSV", (Problem(f"malformed CSV near row {reader.line_num}"),)
        ) from exc
    undecodable: tuple[tuple[int, int], ...] = ()
    if damaged:
        undecodable = tuple(
            (number, position)
            for number, cells in rows
            for position, cell in enumerate(cells)
            if _UNDECODED.search(cell)
        )
    return Table("csv", tuple(h.strip() for h in headings), rows, undecodable, rule)


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_archive(source: IO[bytes]) -> None:
    """Refuse an XLSX whose zip directory promises more than any export unpacks to.

    The standard library's zipfile never inflates a member beyond the size the
    directory declares for it, so these figures bound what openpyxl can read.
    """
    try:
        with zipfile.ZipFile(source) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError("unreadable workbook", (Problem("not a readable XLSX workbook"),)) from exc
    finally:
        source.seek(0)
    if sum(member.file_size for member in members) > MAX_UNPACKED:
        raise _limit(f"the file unpacks to more than {MAX_UNPACKED // 2**20:,} MB")
    for member in members:
        if member.file_size > MAX_RATIO * max(member.compress_size, 1024):
            raise _limit(f"a part of the file is compressed more than {MAX_RATIO}:1")


class _Cancellable(io.RawIOBase):
    """A seekable byte stream that raises :class:`Cancelled` on a read once ``cancel`` is set.

    openpyxl pulls every part of the workbook through it (the zip directory, the shared
    strings, a sheet without a declared size that it walks end to end before the first
    row is read), so a set ``cancel`` stops any of them within a few kilobytes.
    """

    def __init__(self, raw: IO[bytes], cancel: threading.Event) -> None:
        super().__init__()
        self._raw, self._cancel = raw, cancel

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def readinto(self, buffer: Any) -> int:
        check_cancel(self._cancel)
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def read_xlsx(source: Path | IO[bytes], *, cancel: threading.Event | None = None) -> Table:
    """Read the first sheet of an XLSX workbook (a file or its bytes) into a :class:`Table`.

    Raises:
        InputError: not a readable workbook, no heading row, or beyond a ``MAX_`` limit.
        Cancelled: ``cancel`` was set.
    """
    if isinstance(source, Path):
        try:
            with source.open("rb") as stream:
                return read_xlsx(stream, cancel=cancel)
        except OSError as exc:
            raise InputError("unreadable file", (Problem("the file cannot be read"),)) from exc
    _check_archive(source)
    if cancel is not None:
        source = io.BufferedReader(_Cancellable(source, cancel))
    return _read_sheet(source, cancel)


def _unreadable() -> InputError:
    return InputError("unreadable workbook", (Problem("not a readable XLSX workbook"),))


def _read_sheet(source: IO[bytes], cancel: threading.Event | None) -> Table:
    from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX uploads pay for it

    try:
        workbook = load_workbook(source, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError, SyntaxError):
        raise _unreadable() from None
    try:
        return _rows_of(workbook, cancel)
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, EOFError, SyntaxError):
        # openpyxl meets a cell it cannot convert (a number cell holding text, which it
        # quotes in its message: it may be personal data), or XML cut off: the file is
        # refused without its message, and without chaining it.
        raise _unreadable() from None
    finally:
        workbook.close()


def _rows_of(workbook: Any, cancel: threading.Event | None) -> Table:
    sheet = workbook.worksheets[0]
    declared_rows, declared_columns = sheet.max_row or 0, sheet.max_column or 0
    if declared_rows > MAX_ROWS:
        raise _limit(f"the sheet declares more than {MAX_ROWS:,} rows")
    if declared_columns > MAX_COLUMNS:
        raise _limit(f"the sheet declares more than {MAX_COLUMNS:,} columns")
    # The heading row is read as wide as it is (at most Excel's 18,278 column names, as
    # openpyxl reads cell references); every later row only as wide as the headings.
    first = next(sheet.iter_rows(max_row=1, values_only=True), None)
    headings = [_cell_text(cell).strip() for cell in first or ()]
    while headings and not headings[-1]:
        headings.pop()
    if not headings:
        raise InputError("empty file", (Problem("the sheet must start with a heading row"),))
    if len(headings) > MAX_COLUMNS:
        raise _limit(f"the heading row uses more than {MAX_COLUMNS:,} columns")
    # Cells right of the last heading belong to no column and are never read.
    values = sheet.iter_rows(min_row=2, max_col=len(headings), values_only=True)
    numbered = ((n, [_cell_text(c) for c in raw]) for n, raw in enumerate(values, start=2))
    rows = list(_bounded(numbered, cancel))
    return Table("xlsx", tuple(headings), rows)


def read_table(path: Path) -> Table:
    """Read a CSV or XLSX export into a :class:`Table`.

    Raises:
        InputError: unsupported type, empty or malformed file.
    """
    source_format = detect_format(path)
    if source_format == "xlsx":
        return read_xlsx(path)
    if source_format == "csv":
        return read_csv(path.read_bytes())
    raise InputError("not a table", (Problem("JSON uploads are read as schedule documents"),))
