"""Dates, weeks and months as a Danish reader reads them (English through the catalogue).

A released phase date is an ISO week (``2027-W09``), a month (``2027-03``) or a date
(``2027-03-03``), as the policy coarsened it. Month names come from Babel (CLDR), the
word for week from the message catalogue:

- weeks: ``uge 9 2027``, ``uge 9-26 2027``, ``uge 50 2026 - uge 3 2027``;
- months: ``marts 2027``, ``marts-juni 2027``, ``november 2026 - marts 2027``;
- dates: ``3. marts 2027``, ``3.-14. marts 2027``, ``3. marts - 14. april 2027``,
  ``3. marts 2026 - 14. april 2027``.

Two ends of different kinds are each written in full, joined by `` - ``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

from broker.web._listing_text import PERIOD_TEXTS, gettext_for

__all__ = [
    "Point",
    "day_text",
    "moment_text",
    "parse_point",
    "period_text",
    "point_text",
    "short_point_text",
]

_WEEK = re.compile(r"^([0-9]{4})-W([0-9]{2})$")
_MONTH = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_PATTERNS = {
    "da": {"day": "d.", "day-month": "d. MMMM", "full": "d. MMMM y"},
    "en": {"day": "d", "day-month": "d MMMM", "full": "d MMMM y"},
}


@dataclass(frozen=True, slots=True)
class Point:
    """One released date as what it stands for: a week, a month or a day."""

    kind: Literal["week", "month", "date"]
    year: int
    number: int
    """The ISO week or the month (1-12); for a date, the month."""
    day: dt.date
    """The first day it covers: the Monday of the week, the 1st of the month, the date."""


def parse_point(value: str) -> Point | None:
    """Return the released date ``value`` as a point; None if it is none of the three forms."""
    try:
        if week := _WEEK.match(value):
            year, number = int(week.group(1)), int(week.group(2))
            return Point("week", year, number, dt.date.fromisocalendar(year, number, 1))
        if month := _MONTH.match(value):
            year, number = int(month.group(1)), int(month.group(2))
            return Point("month", year, number, dt.date(year, number, 1))
        if _DATE.match(value):
            day = dt.date.fromisoformat(value)
            return Point("date", day.year, day.month, day)
    except ValueError:
        return None
    return None


def _locale(lang: str) -> str:
    return "en" if lang == "en" else "da"


def _month(point: Point, lang: str, *, year: bool) -> str:
    return format_date(point.day, "MMMM y" if year else "MMMM", locale=_locale(lang))


def _date(day: dt.date, lang: str, pattern: str) -> str:
    return format_date(day, _PATTERNS[_locale(lang)][pattern], locale=_locale(lang))


def point_text(value: str, lang: str = "da") -> str:
    """Return one released date as text (``uge 9 2027``, ``marts 2027``, ``3. marts 2027``).

    A value in none of the three forms is returned as it is.
    """
    point = parse_point(value)
    if point is None:
        return value
    if point.kind == "week":
        template = gettext_for(lang)(PERIOD_TEXTS["week"])
        return template % {"week": point.number, "year": point.year}
    if point.kind == "month":
        return _month(point, lang, year=True)
    return _date(point.day, lang, "full")


def short_point_text(value: str, lang: str = "da") -> str:
    """Return one released date without its year (``uge 9``, ``marts``, ``3. marts``)."""
    point = parse_point(value)
    if point is None:
        return value
    if point.kind == "week":
        return gettext_for(lang)(PERIOD_TEXTS["week-short"]) % {"week": point.number}
    if point.kind == "month":
        return _month(point, lang, year=False)
    return _date(point.day, lang, "day-month")


def _weeks(first: Point, last: Point, lang: str) -> str:
    gettext = gettext_for(lang)
    if first.year == last.year and first.number == last.number:
        return gettext(PERIOD_TEXTS["week"]) % {"week": first.number, "year": first.year}
    if first.year == last.year:
        values = {"first": first.number, "last": last.number, "year": first.year}
        return gettext(PERIOD_TEXTS["weeks"]) % values
    values = {
        "first": first.number,
        "first_year": first.year,
        "last": last.number,
        "last_year": last.year,
    }
    return gettext(PERIOD_TEXTS["weeks-years"]) % values


def _months(first: Point, last: Point, lang: str) -> str:
    if first.year == last.year and first.number == last.number:
        return _month(first, lang, year=True)
    if first.year == last.year:
        return f"{_month(first, lang, year=False)}-{_month(last, lang, year=True)}"
    return f"{_month(first, lang, year=True)} - {_month(last, lang, year=True)}"


def _dates(first: dt.date, last: dt.date, lang: str) -> str:
    if first == last:
        return _date(first, lang, "full")
    if first.year == last.year and first.month == last.month:
        return f"{_date(first, lang, 'day')}-{_date(last, lang, 'full')}"
    if first.year == last.year:
        return f"{_date(first, lang, 'day-month')} - {_date(last, lang, 'full')}"
    return f"{_date(first, lang, 'full')} - {_date(last, lang, 'full')}"


def _range(first: Point, last: Point, lang: str) -> str | None:
    """Return the text of a range of two points of one kind; None when the kinds differ."""
    if first.kind != last.kind:
        return None
    if first.kind == "week":
        return _weeks(first, last, lang)
    if first.kind == "month":
        return _months(first, last, lang)
    return _dates(first.day, last.day, lang)


def period_text(start: str | None, end: str | None, lang: str = "da") -> str:
    """Return a phase's period (its released start and end) as a reader reads it.

    Either end may be absent (the policy did not release it): the other is written alone.
    """
    if start is None or end is None:
        present = start if start is not None else end
        return "" if present is None else point_text(present, lang)
    first, last = parse_point(start), parse_point(end)
    joined = None if first is None or last is None else _range(first, last, lang)
    if joined is not None:
        return joined
    return f"{point_text(start, lang)} - {point_text(end, lang)}"


_DANISH_TIME = ZoneInfo("Europe/Copenhagen")
_MOMENT = {"da": "d. MMMM y 'kl.' HH.mm", "en": "d MMMM y, HH:mm"}
_DAY = {"da": "d. MMMM y", "en": "d MMMM y"}


def moment_text(moment: dt.datetime, lang: str = "da") -> str:
    """Return a moment in Danish time as a reader reads it: ``22. februar 2027 kl. 06.00``."""
    chosen = _locale(lang)
    return format_datetime(moment, _MOMENT[chosen], tzinfo=_DANISH_TIME, locale=chosen)


def day_text(moment: dt.datetime, lang: str = "da") -> str:
    """Return the day of a moment in Danish time: ``2. december 2026``."""
    chosen = _locale(lang)
    return format_date(moment.astimezone(_DANISH_TIME).date(), _DAY[chosen], locale=chosen)
