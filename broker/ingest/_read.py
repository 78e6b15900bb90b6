"""Read a housing company's export into headings and rows of text.

CSV as Danish Excel writes it (UTF-8 with or without BOM, or Windows-1252;
comma or semicolon), XLSX (first sheet), or JSON (a schedule upload document,
read by :mod:`broker.ingest._json`). Nothing here interprets a value.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from broker.errors import InputError, Problem

__all__ = ["Table", "decode_csv", "detect_format", "read_table"]

_BOM = b"\xef\xbb\xbf"
_FORMATS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".json": "json"}


@dataclass(frozen=True, slots=True)
class Table:
    """A table read from a file: its headings and its data rows (spreadsheet row numbers)."""

    source_format: str
    headings: tuple[str, ...]
    rows: list[tuple[int, list[str]]]


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


def decode_csv(data: bytes) -> str:
    """Return the text of CSV bytes: UTF-8 (BOM or not), else Windows-1252."""
    if data.startswith(_BOM):
        return data[len(_BOM) :].decode("utf-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _sniff_delimiter(first_line: str) -> str:
    # Danish Excel writes ";" because "," is the decimal separator.
    return ";" if first_line.count(";") > first_line.count(",") else ","


def _is_blank(cells: list[str]) -> bool:
    return not any(cell.strip() for cell in cells)


def read_csv(data: bytes) -> Table:
    """Parse CSV bytes into a :class:`Table`.

    Raises:
        InputError: the file is empty or malformed.
    """
    text = decode_csv(data)
    first_line = text.split("\n", 1)[0]
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(first_line))
    try:
        headings = next(reader, None)
        if headings is None or _is_blank(headings):
            raise InputError("empty file", (Problem("the file must start with a heading row"),))
        rows = [
            (number, cells)
            for number, cells in enumerate(reader, start=2)
            if cells and not _is_blank(cells)
        ]
    except csv.Error as exc:
        raise InputError(
            "malformed CSV", (Problem(f"malformed CSV near row {reader.line_num}"),)
        ) from exc
    return Table("csv", tuple(h.strip() for h in headings), rows)


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


def read_xlsx(path: Path | IO[bytes]) -> Table:
    """Read the first sheet of an XLSX workbook (a file or its bytes) into a :class:`Table`.

    Raises:
        InputError: the file is not a readable workbook or has no heading row.
    """
    from openpyxl import load_workbook  # noqa: PLC0415 - only XLSX uploads pay for it

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise InputError("unreadable workbook", (Problem("not a readable XLSX workbook"),)) from exc
    try:
        sheet = workbook.worksheets[0]
        values = sheet.iter_rows(values_only=True)
        first = next(values, None)
        if first is None or all(cell is None for cell in first):
            raise InputError("empty file", (Problem("the sheet must start with a heading row"),))
        headings = tuple(_cell_text(cell).strip() for cell in first)
        rows = []
        for number, raw in enumerate(values, start=2):
            cells = [_cell_text(cell) for cell in raw]
            if not _is_blank(cells):
                rows.append((number, cells))
    finally:
        workbook.close()
    return Table("xlsx", headings, rows)


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
