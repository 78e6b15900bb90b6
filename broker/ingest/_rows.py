"""Turn export rows (one per dwelling and phase) into a validated schedule upload.

Every problem is collected with its row and column, and the whole upload is
rejected if there is any. Values are parsed by the data contract's own rules
(:mod:`schemas`); rows of one dwelling repeat its address, so parsed values
are cached by their raw text.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from pydantic import ValidationError

from broker.errors import InputError, Problem
from broker.ingest._json import validation_problems
from broker.ingest._mapping import ResolvedColumns
from broker.ingest._read import Table, check_cancel
from schemas import (
    ADDRESS_FIELDS,
    ScheduleUpload,
    looks_personal,
    parse_adresseid,
    parse_department_code,
    parse_disposition,
    parse_doer,
    parse_etage,
    parse_etage_doer,
    parse_husnr,
    parse_kommunekode,
    parse_lejemaalsnr,
    parse_phase_kind,
    parse_postnr,
    parse_postnrnavn,
    parse_vejnavn,
)

__all__ = ["Progress", "parse_date", "parse_rows"]

Progress = Callable[[int, int], None]
"""Called with (rows done, rows in all) while a long upload is parsed."""

_PROGRESS_EVERY = 20_000
_CANCEL_EVERY = 4096
_DMY = re.compile(r"^([0-9]{1,2})[-.]([0-9]{1,2})[-.]([0-9]{4})$")
_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")
_LIST_SPLIT = re.compile(r"[\s,;]+")

_DWELLING_PARSERS: dict[str, Callable[[str], Any]] = {
    "adresseid": lambda raw: parse_adresseid(raw) if raw.strip() else None,
    "vejnavn": parse_vejnavn,
    "husnr": parse_husnr,
    "postnr": parse_postnr,
    "postnrnavn": parse_postnrnavn,
    "kommunekode": parse_kommunekode,
    "disposition": lambda raw: parse_disposition(raw).value,
}
_DWELLING_FIELDS = ("afdeling", "lejemaalsnr", *ADDRESS_FIELDS, "disposition", "erstatter")
_DWELLING_COUNT = len(_DWELLING_FIELDS)
_ROW_FIELDS = (*_DWELLING_FIELDS, "fase", "startdato", "slutdato")


def parse_date(raw: str) -> dt.date:
    """Return the date written as ``dd-mm-yyyy``, ``dd.mm.yyyy`` or ISO ``yyyy-mm-dd``.

    Raises:
        ValueError: none of those forms, or no such day.
    """
    value = raw.strip()
    match = _DMY.match(value)
    try:
        if match is not None:
            return dt.date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
        match = _ISO.match(value)
        if match is not None:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        raise ValueError("must be a real calendar date") from None
    raise ValueError("must be a date as dd-mm-yyyy, dd.mm.yyyy or yyyy-mm-dd")


@dataclass(slots=True)
class _Dwelling:
    row: int
    values: dict[str, Any]
    phases: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)


class _RowParser:
    """Parses rows into dwellings, caching values and collecting problems."""

    def __init__(self, columns: ResolvedColumns) -> None:
        self.columns = columns
        self.problems: list[Problem] = []
        self.departments: dict[str, dict[str, _Dwelling]] = {}
        self._personal: dict[str, str | None] = {}
        self._dwelling_cache: dict[tuple[str, ...], tuple[dict[str, Any], list[Problem]]] = {}
        self._kind_cache: dict[str, str | Problem] = {}
        self._date_cache: dict[str, dt.date | str] = {}
        # Every field a row is read for, picked in one step: a field without a column
        # reads the blank cell appended past the row's end.
        positions = [columns.index.get(name) for name in _ROW_FIELDS]
        self._width = max((p for p in positions if p is not None), default=-1) + 1
        self._pick = itemgetter(*(self._width if p is None else p for p in positions))
        self._blank = [""] * (self._width + 1)

    def cells_of(self, cells: list[str]) -> tuple[str, ...]:
        """Return the row's cells of ``_ROW_FIELDS``, in that order ("" where none is)."""
        # Cut to the mapped width, then padded to one past it: the cell at ``_width`` is
        # always blank, never an unmapped column's (a dropped personal value, say).
        kept = cells[: self._width]
        picked: tuple[str, ...] = self._pick(kept + self._blank[len(kept) :])
        return picked

    def personal(self, raw: str) -> str | None:
        if raw not in self._personal:
            self._personal[raw] = looks_personal(raw) if raw else None
        return self._personal[raw]

    def problem(self, rule: str, row: int, name: str) -> Problem:
        return Problem(rule, row=row, column=self.columns.heading.get(name, name))

    def _dwelling_values(self, raw: tuple[str, ...]) -> tuple[dict[str, Any], list[Problem]]:
        cached = self._dwelling_cache.get(raw)
        if cached is not None:
            return cached
        values: dict[str, Any] = {}
        problems: list[Problem] = []
        cells = dict(zip(_DWELLING_FIELDS, raw, strict=True))

        def attempt(name: str, parse: Callable[[str], Any]) -> Any:
            kind = self.personal(cells[name])
            if kind is not None:
                problems.append(self.problem(f"looks like {kind}: remove personal data", 0, name))
                return None
            try:
                return parse(cells[name])
            except ValueError as exc:
                problems.append(self.problem(str(exc), 0, name))
                return None

        values["afdeling"] = attempt("afdeling", parse_department_code)
        values["lejemaalsnr"] = attempt("lejemaalsnr", parse_lejemaalsnr)
        for name, parse in _DWELLING_PARSERS.items():
            values[name] = attempt(name, parse)
        doer_raw = cells["doer"]
        if doer_raw.strip() or "etage" not in self.columns.index:
            values["etage"] = attempt("etage", parse_etage)
            values["doer"] = attempt("doer", parse_doer)
        else:
            # Exports often carry floor and door in one column: "1.tv", "sttv".
            both = attempt("etage", parse_etage_doer)
            values["etage"], values["doer"] = both if both is not None else (None, None)
        values["erstatter"] = attempt(
            "erstatter",
            lambda raw: tuple(parse_lejemaalsnr(n) for n in _LIST_SPLIT.split(raw.strip()) if n),
        )
        result = (values, problems)
        self._dwelling_cache[raw] = result
        return result

    def _kind(self, raw: str, row: int) -> str | None:
        cached = self._kind_cache.get(raw)
        if cached is None:
            kind = self.personal(raw)
            if kind is not None:
                cached = self.problem(f"looks like {kind}: remove personal data", 0, "fase")
            else:
                try:
                    cached = parse_phase_kind(raw).value
                except ValueError as exc:
                    cached = self.problem(str(exc), 0, "fase")
            self._kind_cache[raw] = cached
        if isinstance(cached, Problem):
            self.problems.append(Problem(cached.rule, row=row, column=cached.column))
            return None
        return cached

    def _date(self, raw: str, row: int, name: str) -> dt.date | None:
        cached = self._date_cache.get(raw)
        if cached is None:
            kind = self.personal(raw)
            if kind is not None:
                cached = f"looks like {kind}: remove personal data"
            else:
                try:
                    cached = parse_date(raw)
                except ValueError as exc:
                    cached = str(exc)
            self._date_cache[raw] = cached
        if isinstance(cached, str):
            self.problems.append(self.problem(cached, row, name))
            return None
        return cached

    def add(self, row: int, cells: list[str]) -> None:
        picked = self.cells_of(cells)
        raw = picked[:_DWELLING_COUNT]
        values, problems = self._dwelling_values(raw)
        if problems:
            self.problems.extend(Problem(p.rule, row=row, column=p.column) for p in problems)
        fase, startdato, slutdato = picked[_DWELLING_COUNT:]
        kind = self._kind(fase, row)
        start = self._date(startdato, row, "startdato")
        end = self._date(slutdato, row, "slutdato")
        if start is not None and end is not None and end < start:
            self.problems.append(self.problem("must not be before Startdato", row, "slutdato"))
        if problems or values["afdeling"] is None or values["lejemaalsnr"] is None:
            return
        department = self.departments.setdefault(values["afdeling"], {})
        dwelling = department.get(values["lejemaalsnr"])
        if dwelling is None:
            dwelling = department[values["lejemaalsnr"]] = _Dwelling(row, values)
        elif dwelling.values is not values:
            for name in _DWELLING_FIELDS:
                if dwelling.values[name] != values[name]:
                    self.problems.append(
                        self.problem(
                            f"differs from row {dwelling.row} of the same Lejemålsnr", row, name
                        )
                    )
        if kind is None or start is None or end is None:
            return
        first = dwelling.phases.get(kind)
        if first is not None:
            self.problems.append(
                self.problem(
                    f"duplicate phase for this dwelling (first at row {first[0]})", row, "fase"
                )
            )
            return
        dwelling.phases[kind] = (row, {"kind": kind, "start": start, "end": end})

    def check_replacements(self) -> None:
        for department in self.departments.values():
            for number, dwelling in department.items():
                for replaced in dwelling.values["erstatter"] or ():
                    if replaced == number:
                        rule = "a dwelling cannot replace itself"
                    elif replaced not in department:
                        rule = "names a tenancy number that is not in this department's upload"
                    else:
                        continue
                    self.problems.append(self.problem(rule, dwelling.row, "erstatter"))

    def upload(self) -> ScheduleUpload:
        document = {
            "departments": [
                {
                    "afdeling": code,
                    "dwellings": [
                        {
                            **{k: v for k, v in d.values.items() if k != "afdeling"},
                            "phases": [phase for _row, phase in d.phases.values()],
                        }
                        for d in dwellings.values()
                    ],
                }
                for code, dwellings in self.departments.items()
            ]
        }
        try:
            return ScheduleUpload.model_validate(document)
        except ValidationError as exc:
            problems = validation_problems(exc)
            raise InputError(f"upload rejected: {len(problems)} problem(s)", problems) from None


def parse_rows(
    table: Table,
    columns: ResolvedColumns,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> ScheduleUpload:
    """Validate every row and return the upload they describe.

    Raises:
        InputError: any row breaks a rule; every problem is listed by row and column.
        Cancelled: ``cancel`` was set.
    """
    if not table.rows:
        raise InputError("empty upload", (Problem("the file has no data rows"),))
    parser = _RowParser(columns)
    # A byte the file's encoding does not allow, in a column that is kept; the values of
    # dropped columns are never looked at.
    kept = {position: name for name, position in columns.index.items()}
    undecodable = [
        parser.problem(table.undecodable_rule, row, kept[position])
        for row, position in table.undecodable
        if position in kept
    ]
    total = len(table.rows)
    for done, (row, cells) in enumerate(table.rows, start=1):
        parser.add(row, cells)
        if done % _CANCEL_EVERY == 0:
            check_cancel(cancel)
        if progress is not None and done % _PROGRESS_EVERY == 0:
            progress(done, total)
    if progress is not None:
        progress(total, total)
    parser.check_replacements()
    if undecodable:
        # The bytes are the problem: what a field rule says about their decoding is noise.
        damaged = {(p.row, p.column) for p in undecodable}
        kept_problems = [p for p in parser.problems if (p.row, p.column) not in damaged]
        parser.problems = kept_problems + undecodable
    if parser.problems:
        problems = sorted(set(parser.problems), key=lambda p: (p.row or 0, p.column or ""))
        raise InputError(f"upload rejected: {len(problems)} problem(s)", tuple(problems))
    return parser.upload()
