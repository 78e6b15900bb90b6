"""The weekly list as an XLSX workbook, for a visitator who filters in Excel.

Sheet ``Liste``: one row per dwelling and phase (the address repeated, so Excel's
filter works on any column), the headings frozen and filtered, a real date column
for the phase's start (the Monday of an ISO week, the 1st of a month, or the date
the policy keeps) and, where the policy keeps dates, for its end. Sheet ``Om
listen``: the policy, its version and hash, the release id, the recipient, when
it was made and its index in the disclosure log, so the file traces to the log.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from broker.release import Listing
from broker.web._listing_view import ListView, PhaseLine, list_view

__all__ = ["render_xlsx"]

_DATE_FORMAT = "dd-mm-yyyy"
_MAX_WIDTH = 60
_START_HEADING = {"week": "start-monday", "month": "start-month", "date": "start-date"}

Cell = str | dt.date | None


def _put(sheet: Worksheet, row: int, column: int, value: Cell) -> None:
    cell = sheet.cell(row=row, column=column, value=value)
    if isinstance(value, dt.date):
        cell.number_format = _DATE_FORMAT
    elif isinstance(value, str):
        cell.data_type = "s"  # never a formula, whatever the text begins with


def _kind(lines: Sequence[PhaseLine], *, end: bool) -> str | None:
    for line in lines:
        point = line.end if end else line.start
        if point is not None:
            return point.kind
    return None


def _widths(sheet: Worksheet, rows: Sequence[Sequence[Cell]]) -> None:
    for column in range(1, max((len(r) for r in rows), default=0) + 1):
        longest = max(
            (len(_shown(r[column - 1])) for r in rows if column <= len(r)),
            default=8,
        )
        sheet.column_dimensions[get_column_letter(column)].width = min(longest + 2, _MAX_WIDTH)


def _shown(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.date):
        return "00-00-0000"
    return value


@dataclass(frozen=True, slots=True)
class _Columns:
    """Which phase columns the sheet has: what the policy released decides."""

    phases: bool
    kind: bool
    start: str | None
    end_date: bool

    def heading(self, view: ListView) -> list[Cell]:
        texts = view.texts
        cells: list[Cell] = list(view.headings)
        if self.phases:
            cells += [view.phase_heading] if self.kind else []
            cells.append(texts["period"])
            cells += [texts[_START_HEADING[self.start]]] if self.start is not None else []
            cells += [texts["end-date"]] if self.end_date else []
        return [*cells, texts["change"]]

    def phase_cells(self, line: PhaseLine | None) -> list[Cell]:
        if not self.phases:
            return []
        cells: list[Cell] = [line.label if line else None] if self.kind else []
        cells.append(line.period if line else None)
        if self.start is not None:
            cells.append(line.start.day if line and line.start else None)
        if self.end_date:
            cells.append(line.end.day if line and line.end else None)
        return cells


def _table(view: ListView) -> list[list[Cell]]:
    lines = [line for row in view.rows for line in row.phases]
    columns = _Columns(
        phases=view.has_phases,
        kind=any(line.kind is not None for line in lines),
        start=_kind(lines, end=False),
        end_date=_kind(lines, end=True) == "date",
    )
    table: list[list[Cell]] = [columns.heading(view)]
    table += [
        [*row.cells, *columns.phase_cells(line), row.change or None]
        for row in view.rows
        for line in row.phases or (None,)
    ]
    return table


def render_xlsx(listing: Listing, lang: str = "da") -> bytes:
    """Return the list as an XLSX workbook's bytes (sheets ``Liste`` and ``Om listen``)."""
    view = list_view(listing, lang)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # noqa: S101 - a new workbook has its first sheet
    sheet.title = view.texts["sheet"]
    table = _table(view)
    for number, cells in enumerate(table, start=1):
        for column, value in enumerate(cells, start=1):
            _put(sheet, number, column, value)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(table[0]))}{len(table)}"
    _widths(sheet, table)
    about = workbook.create_sheet(view.texts["about-sheet"])
    facts: list[list[Cell]] = [[view.title, None]]
    facts += [[label, value] for label, value in view.trace]
    facts += [[note, None] for note in view.notes]
    for number, cells in enumerate(facts, start=1):
        for column, value in enumerate(cells, start=1):
            _put(about, number, column, value)
    _widths(about, facts)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
