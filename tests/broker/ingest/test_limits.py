"""Spreadsheets are bounded: zip bombs, oversized sheets and long work that is asked to stop."""

from __future__ import annotations

import threading
import time

import pytest
from factories import csv_bytes, dwelling_rows, export_row, sheet_row, sheet_workbook, xlsx_bytes
from openpyxl.utils import get_column_letter

from broker.errors import Cancelled, InputError
from broker.ingest import _read as read_module
from broker.ingest import parse_upload


def _heading_row() -> str:
    return sheet_row(export_row())


def _data_row(number: int | None = None, **values: str) -> str:
    return sheet_row(export_row(**values).values(), number)


def _refused(data: bytes, name: str = "export.xlsx") -> list[str]:
    with pytest.raises(InputError) as excinfo:
        parse_upload(data, name=name)
    return [str(problem) for problem in excinfo.value.problems]


def test_a_well_formed_streamed_workbook_is_read() -> None:
    """The workbook builder makes sheets openpyxl reads: the limits, not the file, refuse."""
    parsed = parse_upload(sheet_workbook([_heading_row(), _data_row()]), name="export.xlsx")
    assert parsed.rows == 1


def test_zip_bomb_refused_from_the_zip_directory() -> None:
    """A small XLSX that unpacks to a hundredfold and more is refused before it is read."""
    rows = (_data_row() for _ in range(200_000))  # ~110 MB of one row repeated
    data = sheet_workbook([_heading_row(), *rows])
    assert len(data) < 2_000_000
    started = time.monotonic()
    assert _refused(data) == ["a part of the file is compressed more than 100:1"]
    assert time.monotonic() - started < 2


def test_unpacked_size_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The members' declared sizes together are held to the limit, named in the error."""
    monkeypatch.setattr(read_module, "MAX_UNPACKED", 2**20)
    rows = (_data_row(Lejemålsnr=f"0412-0001-{n:04d}") for n in range(4_000))
    assert _refused(sheet_workbook([_heading_row(), *rows])) == [
        "the file unpacks to more than 1 MB"
    ]


def test_declared_dimension_bounded() -> None:
    """A sheet declaring more rows than Excel allows is refused before a row is read."""
    data = sheet_workbook([_heading_row(), _data_row()], dimension="A1:M2000000")
    assert _refused(data) == ["the sheet declares more than 1,048,576 rows"]


def test_rows_counted_while_reading() -> None:
    """Without a declared size, the rows are counted as they are read (gaps count too)."""
    data = sheet_workbook([_heading_row(), _data_row(2), _data_row(1_048_580, Lejemålsnr="2")])
    assert _refused(data) == ["the file has more than 1,048,576 rows"]


def test_heading_row_width_bounded() -> None:
    """A heading row reaching beyond the column limit is refused, not padded to its width."""
    far = f'<c r="{get_column_letter(1_100)}1" t="inlineStr"><is><t>x</t></is></c>'
    data = sheet_workbook([_heading_row().replace("</row>", far + "</row>"), _data_row()])
    assert _refused(data) == ["the heading row uses more than 1,024 columns"]


def test_cells_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells read from a file are counted against the limit (CSV and XLSX alike)."""
    monkeypatch.setattr(read_module, "MAX_CELLS", 100)
    assert _refused(csv_bytes(dwelling_rows(5)), "export.csv") == [
        "the file holds more than 100 cells"
    ]


@pytest.mark.parametrize("name", ["export.csv", "export.xlsx"])
def test_cancel_stops_the_work_promptly(name: str) -> None:
    """Setting the event from another thread stops a long parse within moments."""
    rows = dwelling_rows(20_000 if name.endswith(".csv") else 4_000)
    data = csv_bytes(rows) if name.endswith(".csv") else xlsx_bytes(list(rows))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        parse_upload(data, name=name, cancel=cancel)
    cancel.clear()
    started = time.monotonic()
    threading.Timer(0.2, cancel.set).start()
    with pytest.raises(Cancelled):
        parse_upload(data, name=name, cancel=cancel)
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("kind", ["n", "b", "d"])
def test_a_cell_openpyxl_cannot_convert_is_refused_without_its_value(kind: str) -> None:
    """A number, boolean or date cell holding text (a name in a dropped column): refused, unquoted.

    openpyxl quotes the text in its error; it used to escape as a 500 with the value in
    the server's log.
    """
    name = "PLANTED-Navn-Qzxv"
    cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in export_row().values())
    row = f'<row>{cells}<c t="{kind}"><v>{name}</v></c></row>'
    heading = sheet_row([*export_row(), "Lejer navn"])
    with pytest.raises(InputError) as refused:
        parse_upload(sheet_workbook([heading, row]), name="export.xlsx")
    assert [str(p) for p in refused.value.problems] == ["not a readable XLSX workbook"]
    assert refused.value.__cause__ is None
    assert refused.value.__suppress_context__
    assert name not in repr(refused.value)


def test_a_sheet_cut_off_mid_cell_is_refused() -> None:
    """XML that ends inside a row is a refusal, not a 500."""
    data = sheet_workbook([_heading_row(), "<row><c"])
    assert _refused(data) == ["not a readable XLSX workbook"]


def test_a_json_upload_with_a_number_of_5000_digits_is_refused() -> None:
    assert _refused(b'{"departments": [' + b"1" * 5000 + b"]}", name="x.json") == [
        "the file must be UTF-8 JSON"
    ]
