"""Dates, weeks and months as a Danish reader reads them, and back."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from babel.dates import get_month_names
from hypothesis import given
from hypothesis import strategies as st

from broker.web._periods import parse_point, period_text, point_text, short_point_text

MONTHS = {str(name): number for number, name in get_month_names("wide", locale="da").items()}
M = "(" + "|".join(MONTHS) + ")"
DAYS = st.dates(dt.date(1990, 1, 1), dt.date(2090, 12, 31))
KINDS = ("week", "month", "date")


def released(day: dt.date, kind: str) -> str:
    """Return ``day`` as a policy releases it when coarsened to ``kind``."""
    if kind == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    return day.isoformat()


def _week(week: str, year: str) -> str:
    return f"{int(year)}-W{int(week):02d}"


def _month(name: str, year: str) -> str:
    return f"{int(year)}-{MONTHS[name]:02d}"


def _date(day: str, name: str, year: str) -> str:
    return dt.date(int(year), MONTHS[name], int(day)).isoformat()


# The Danish texts, each with how to read its start and end back.
PARSERS = [
    (r"uge (\d+) (\d{4})", lambda g: (_week(g[0], g[1]), _week(g[0], g[1]))),
    (r"uge (\d+)-(\d+) (\d{4})", lambda g: (_week(g[0], g[2]), _week(g[1], g[2]))),
    (
        r"uge (\d+) (\d{4}) - uge (\d+) (\d{4})",
        lambda g: (_week(g[0], g[1]), _week(g[2], g[3])),
    ),
    (rf"{M} (\d{{4}})", lambda g: (_month(g[0], g[1]), _month(g[0], g[1]))),
    (rf"{M}-{M} (\d{{4}})", lambda g: (_month(g[0], g[2]), _month(g[1], g[2]))),
    (rf"{M} (\d{{4}}) - {M} (\d{{4}})", lambda g: (_month(g[0], g[1]), _month(g[2], g[3]))),
    (rf"(\d+)\. {M} (\d{{4}})", lambda g: (_date(*g), _date(*g))),
    (
        rf"(\d+)\.-(\d+)\. {M} (\d{{4}})",
        lambda g: (_date(g[0], g[2], g[3]), _date(g[1], g[2], g[3])),
    ),
    (
        rf"(\d+)\. {M} - (\d+)\. {M} (\d{{4}})",
        lambda g: (_date(g[0], g[1], g[4]), _date(g[2], g[3], g[4])),
    ),
    (
        rf"(\d+)\. {M} (\d{{4}}) - (\d+)\. {M} (\d{{4}})",
        lambda g: (_date(g[0], g[1], g[2]), _date(g[3], g[4], g[5])),
    ),
]


def parse_danish(text: str) -> tuple[str, str]:
    """Read a Danish period text back into the released start and end."""
    found = [
        read(match.groups())
        for pattern, read in PARSERS
        if (match := re.fullmatch(pattern, text)) is not None
    ]
    assert len(found) == 1, f"not exactly one reading of {text!r}: {found}"
    return found[0]


@pytest.mark.parametrize(
    ("start", "end", "danish", "english"),
    [
        ("2027-W09", "2027-W26", "uge 9-26 2027", "week 9-26 2027"),
        ("2027-W09", "2027-W09", "uge 9 2027", "week 9 2027"),
        ("2026-W50", "2027-W03", "uge 50 2026 - uge 3 2027", "week 50 2026 - week 3 2027"),
        ("2027-03", "2027-03", "marts 2027", "March 2027"),
        ("2027-03", "2027-06", "marts-juni 2027", "March-June 2027"),
        ("2027-03-03", "2027-03-03", "3. marts 2027", "3 March 2027"),
        ("2027-03-03", "2027-03-14", "3.-14. marts 2027", "3-14 March 2027"),
        ("2027-03-03", "2027-04-14", "3. marts - 14. april 2027", "3 March - 14 April 2027"),
    ],
)
def test_periods_read_as_a_danish_reader_reads_them(
    start: str, end: str, danish: str, english: str
) -> None:
    """The brief's examples, in Danish (the default) and in English."""
    assert period_text(start, end) == danish
    assert period_text(start, end, "en") == english


def test_short_and_lone_points() -> None:
    """A change names weeks without the year; a phase with one released end shows that one."""
    assert short_point_text("2027-W09") == "uge 9"
    assert short_point_text("2027-03-03") == "3. marts"
    assert period_text("2027-W11", None) == "uge 11 2027"
    assert period_text(None, "2027-05") == "maj 2027"
    assert period_text(None, None) == ""
    assert point_text("not a date") == "not a date"
    assert parse_point("2027-W54") is None


@given(DAYS, st.sampled_from(KINDS))
def test_every_week_month_and_date_renders_and_reads_back(day: dt.date, kind: str) -> None:
    """Every ISO week, month and date renders, and the text reads back to it."""
    value = released(day, kind)
    text = point_text(value)
    assert parse_danish(text) == (value, value)
    assert point_text(value, "en")


@given(DAYS, DAYS, st.sampled_from(KINDS))
def test_ranges_render_in_order_and_read_back(first: dt.date, second: dt.date, kind: str) -> None:
    """A period renders start before end, and reads back to the same period."""
    start, end = sorted((released(first, kind), released(second, kind)))
    text = period_text(start, end)
    assert parse_danish(text) == (start, end)
    assert text.index(point_text(start).split()[-1]) <= text.rindex(point_text(end).split()[-1])
    assert period_text(start, end, "en")
