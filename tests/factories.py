"""Factories for schedule exports: rows as an ERP writes them, and files in each format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from openpyxl import Workbook

HEADINGS = (
    "Afdeling",
    "Lejemålsnr",
    "AdresseID",
    "Vejnavn",
    "Husnr",
    "Etage",
    "Dør",
    "Postnr",
    "By",
    "Kommunekode",
    "Fase",
    "Startdato",
    "Slutdato",
)
PERSONAL_HEADINGS = (
    "Lejer navn",
    "CPR",
    "Telefon",
    "E-mail",
    "Bemærkning",
    "Særlige behov",
    "Genhusningsadresse",
)
DOORS = ("tv", "mf", "th")


def export_row(**values: str) -> dict[str, str]:
    """One export row for dwelling 1 of `blokland`, with `values` (by heading) overriding."""
    row = {
        "Afdeling": "Blokland",
        "Lejemålsnr": "0412-0001-001",
        "AdresseID": "",
        "Vejnavn": "Prøvevej",
        "Husnr": "12",
        "Etage": "1",
        "Dør": "tv",
        "Postnr": "2620",
        "By": "Albertslund",
        "Kommunekode": "0165",
        "Fase": "genhusning",
        "Startdato": "01-03-2027",
        "Slutdato": "30-06-2027",
    }
    row.update(values)
    return row


def dwelling_rows(
    count: int,
    *,
    department: str = "Blokland",
    phases: Sequence[tuple[str, dt.date, dt.date]] = (
        ("varsling", dt.date(2026, 11, 2), dt.date(2026, 11, 2)),
        ("genhusning", dt.date(2027, 3, 1), dt.date(2027, 6, 30)),
    ),
    first: int = 1,
) -> list[dict[str, str]]:
    """Rows for `count` dwellings (three per floor), each with every phase in `phases`."""
    rows = []
    for number in range(first, first + count):
        floor, door = divmod(number - 1, len(DOORS))
        for kind, start, end in phases:
            rows.append(
                export_row(
                    Afdeling=department,
                    Lejemålsnr=f"0412-{number // 1000:04d}-{number % 1000:03d}",
                    Husnr=str(1 + floor // 10),
                    Etage="st" if floor % 10 == 0 else str(floor % 10),
                    Dør=DOORS[door],
                    Fase=kind,
                    Startdato=start.strftime("%d-%m-%Y"),
                    Slutdato=end.strftime("%d-%m-%Y"),
                )
            )
    return rows


def with_personal(rows: Iterable[dict[str, str]], values: dict[str, str]) -> list[dict[str, str]]:
    """Return the rows with personal columns (by heading) filled with `values`."""
    return [{**row, **values} for row in rows]


def csv_bytes(
    rows: Sequence[dict[str, str]],
    *,
    headings: Sequence[str] | None = None,
    delimiter: str = ";",
    encoding: str = "utf-8-sig",
) -> bytes:
    """Rows as a CSV file, written as Danish Excel does by default."""
    names = list(headings) if headings is not None else list(HEADINGS)
    if headings is None and rows:
        names = list(dict.fromkeys(name for row in rows for name in row))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter)
    writer.writerow(names)
    for row in rows:
        writer.writerow([row.get(name, "") for name in names])
    return buffer.getvalue().encode(encoding)


def write_csv(path: Path, rows: Sequence[dict[str, str]], **options: Any) -> Path:
    """Write rows as CSV to `path` and return it."""
    path.write_bytes(csv_bytes(rows, **options))
    return path


def xlsx_bytes(
    rows: Sequence[dict[str, str | dt.date]], *, sheet_title: str | None = None
) -> bytes:
    """Rows as the first sheet (titled ``sheet_title``) of a real XLSX workbook."""
    workbook = Workbook()
    sheet = workbook.active
    if sheet_title is not None:
        sheet.title = sheet_title
    names = list(rows[0])
    sheet.append(names)
    for row in rows:
        sheet.append([row.get(name, "") for name in names])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_xlsx(
    path: Path, rows: Sequence[dict[str, str | dt.date]], *, sheet_title: str | None = None
) -> Path:
    """Write rows as the first sheet of a real XLSX workbook."""
    path.write_bytes(xlsx_bytes(rows, sheet_title=sheet_title))
    return path


_SHEET = "xl/worksheets/sheet1.xml"
_SHEET_HEAD = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'


def sheet_row(values: Iterable[str], number: int | None = None) -> str:
    """One ``<row>`` of sheet XML with inline-string cells; ``number`` sets its ``r``."""
    at = f' r="{number}"' if number is not None else ""
    cells = "".join(f'<c t="inlineStr"><is><t>{value}</t></is></c>' for value in values)
    return f"<row{at}>{cells}</row>"


def sheet_workbook(rows: Iterable[str], *, dimension: str | None = None) -> bytes:
    """A real workbook whose first sheet is the given ``<row>`` XML, written as a stream.

    For sheets no spreadsheet program would write: huge, repetitive, oddly sized.
    """
    template = zipfile.ZipFile(io.BytesIO(xlsx_bytes([export_row()])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for member in template.infolist():
            if member.filename != _SHEET:
                out.writestr(member, template.read(member))
                continue
            with out.open(_SHEET, "w") as sheet:
                declared = f'<dimension ref="{dimension}"/>' if dimension else ""
                sheet.write(f"{_SHEET_HEAD}{declared}<sheetData>".encode())
                chunk: list[str] = []
                for row in rows:
                    chunk.append(row)
                    if len(chunk) == 10_000:
                        sheet.write("".join(chunk).encode())
                        chunk = []
                sheet.write("".join(chunk).encode() + b"</sheetData></worksheet>")
    return buffer.getvalue()


def slow_workbook(rows: int = 100_000) -> bytes:
    """A valid-looking XLSX of ``rows`` distinct rows, within every limit, with no declared size.

    openpyxl takes tens of seconds over it: the long work an upload must be able to stop.
    """
    lines = (sheet_row(row.values()) for row in dwelling_rows(rows // 2))
    return sheet_workbook([sheet_row(export_row()), *lines])


def upload_document(count: int = 3, **extra: Any) -> dict[str, Any]:
    """A JSON schedule upload for `count` dwellings of `blokland`; `extra` keys on each."""
    return {
        "departments": [
            {
                "afdeling": "blokland",
                "dwellings": [
                    {
                        "lejemaalsnr": f"0412-0001-{n:03d}",
                        "vejnavn": "Prøvevej",
                        "husnr": "12",
                        "etage": str(n),
                        "doer": "tv",
                        "postnr": "2620",
                        "postnrnavn": "Albertslund",
                        "kommunekode": "0165",
                        "phases": [
                            {"kind": "genhusning", "start": "2027-03-01", "end": "2027-06-30"}
                        ],
                        **extra,
                    }
                    for n in range(1, count + 1)
                ],
            }
        ]
    }


def write_json(path: Path, document: dict[str, Any]) -> Path:
    """Write a JSON document to `path` and return it."""
    path.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    return path
