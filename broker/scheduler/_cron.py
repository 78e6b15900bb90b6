"""A schedule and when it fires: cron on local wall-clock time, as UTC instants. Pure.

No I/O, no clock. :class:`Schedule` checks the cron syntax (five fields, each in its
range) and the time zone when a policy file is parsed.

A schedule's five cron fields are matched against the wall clock of its time zone,
day by day, then hour by hour and minute by minute; each matching wall-clock time
becomes one UTC instant:

- A time that occurs twice (the autumn fall-back hour) fires once, at its first
  occurrence (``fold=0``, still on summer time).
- A time that does not exist (the spring-forward gap, e.g. 02:30 on the last Sunday
  of March in Europe/Copenhagen) fires once, at the first instant after the gap
  (03:00 summer time), as Vixie cron and cronie do: a daily run is moved, never
  skipped. Several times in one gap, and a matching time right after it, fire once.

Day-of-month and day-of-week follow cron: when both are restricted (neither is
exactly ``*``), a day matching either fires; day-of-week 0 and 7 are Sunday. A field
counts as restricted unless it is exactly ``*`` (as :meth:`Schedule.never_fires`
reads it; Vixie cron also treats ``*/2`` as unrestricted).
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = ["LOOKBACK", "Schedule", "fire_times", "next_fire", "previous_fire"]

LOOKBACK = dt.timedelta(days=366)
"""How far :func:`previous_fire` searches back."""

_HORIZON_DAYS = 9 * 366
"""How far :func:`next_fire` searches ahead: 29 February can be eight years away."""

_DAY = dt.timedelta(days=1)
_SECOND = dt.timedelta(seconds=1)

_CRON_ITEM = r"(\*|[0-9]{1,2}(-[0-9]{1,2})?)(/[0-9]{1,2})?"
_CRON_FIELD = re.compile(rf"^{_CRON_ITEM}(,{_CRON_ITEM})*$")
_CRON_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


class Schedule(BaseModel):
    """When a scheduled release runs: a five-field cron expression in a time zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str
    timezone: str = "Europe/Copenhagen"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        parts = value.split()
        if len(parts) != len(_CRON_RANGES):
            raise ValueError("must have five fields: minute hour day-of-month month day-of-week")
        for part, (low, high) in zip(parts, _CRON_RANGES, strict=True):
            if not _CRON_FIELD.match(part):
                raise ValueError("each field must be *, a number, a range, a step or a list")
            numbers = [int(n) for n in re.findall(r"(?<![/0-9])[0-9]+", part)]
            if any(not low <= n <= high for n in numbers):
                raise ValueError(f"a field is outside its range {low}-{high}")
        return value

    def never_fires(self) -> bool:
        """Whether the day-of-month and month fields name no real date (e.g. 30 February).

        When a day of week is also restricted, cron fires on either, so it always fires.
        """
        _minute, _hour, days, months, weekdays = self.cron.split()
        if days == "*" or weekdays != "*":
            return False
        day_set = _expand(days, 1, 31)
        month_set = _expand(months, 1, 12)
        # 2024 is a leap year: 29 February counts as a real date.
        return not any(
            day <= calendar.monthrange(2024, month)[1] for month in month_set for day in day_set
        )

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Copenhagen") from None
        return value


def _expand(field: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in field.split(","):
        body, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if body == "*":
            first, last = low, high
        elif "-" in body:
            first, last = (int(part) for part in body.split("-"))
        else:
            first = last = int(body)
        values.update(range(first, last + 1, max(step, 1)))
    return values


@dataclass(frozen=True, slots=True)
class _Cron:
    """A parsed schedule: the matching values of each field and the zone."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool
    zone: zoneinfo.ZoneInfo

    def matches(self, day: dt.date) -> bool:
        """Whether cron fires on the local date ``day``."""
        if day.month not in self.months:
            return False
        in_month = day.day in self.days
        in_week = day.isoweekday() % 7 in self.weekdays
        return in_month or in_week if self.either_day else in_month and in_week

    def day_fires(self, day: dt.date) -> list[dt.datetime]:
        """Return the UTC instants at which cron fires on ``day``, increasing, each once."""
        fires: list[dt.datetime] = []
        for hour in self.hours:
            for minute in self.minutes:
                instant = _instant(dt.datetime.combine(day, dt.time(hour, minute)), self.zone)
                if not fires or instant > fires[-1]:
                    fires.append(instant)
        return fires


@functools.cache
def _compile(cron: str, timezone: str) -> _Cron:
    minute, hour, day, month, weekday = cron.split()
    return _Cron(
        minutes=tuple(sorted(_expand(minute, 0, 59))),
        hours=tuple(sorted(_expand(hour, 0, 23))),
        days=frozenset(_expand(day, 1, 31)),
        months=frozenset(_expand(month, 1, 12)),
        weekdays=frozenset(value % 7 for value in _expand(weekday, 0, 7)),
        either_day=day != "*" and weekday != "*",
        zone=zoneinfo.ZoneInfo(timezone),
    )


def _parse(schedule: Schedule) -> _Cron:
    return _compile(schedule.cron, schedule.timezone)


def _instant(wall: dt.datetime, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    """Return the UTC instant of the naive local ``wall`` time in ``zone``.

    An ambiguous time resolves to its first occurrence; a time in a gap to the
    first instant after the gap.
    """
    local = wall.replace(tzinfo=zone)  # fold=0: the first of two occurrences
    instant = local.astimezone(dt.UTC)
    if instant.astimezone(zone).replace(tzinfo=None) == wall:
        return instant
    # 1. The wall time was skipped. Read with the offset after the transition
    #    (fold=1) it lies before the gap; with the offset before it (fold=0), after.
    before = local.replace(fold=1).astimezone(dt.UTC)
    after = instant
    offset = after.astimezone(zone).utcoffset()
    # 2. Bisect to the transition itself, to the second: the first instant after the gap.
    while after - before > _SECOND:
        middle = before + (after - before) // 2
        middle -= dt.timedelta(microseconds=middle.microsecond)
        if middle.astimezone(zone).utcoffset() == offset:
            after = middle
        else:
            before = middle
    return after


def _require_aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be a timezone-aware datetime")


def _days(first: dt.date, last: dt.date) -> Iterator[dt.date]:
    day = first
    while day <= last:
        yield day
        day += _DAY


def fire_times(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Return every fire in (``start``, ``end``] as increasing aware UTC datetimes.

    Raises:
        ValueError: ``start`` or ``end`` is naive.
    """
    _require_aware(start, "start")
    _require_aware(end, "end")
    cron = _parse(schedule)
    fires: list[dt.datetime] = []
    if end <= start:
        return fires
    # A gap that crosses midnight moves a fire to the next local date: one day of margin.
    first = start.astimezone(cron.zone).date() - _DAY
    last = end.astimezone(cron.zone).date()
    for day in _days(first, last):
        if not cron.matches(day):
            continue
        for instant in cron.day_fires(day):
            if start < instant <= end and (not fires or instant > fires[-1]):
                fires.append(instant)
    return fires


def previous_fire(schedule: Schedule, at: dt.datetime) -> dt.datetime | None:
    """Return the latest fire at or before ``at``, or None if none in the :data:`LOOKBACK`.

    Raises:
        ValueError: ``at`` is naive.
    """
    _require_aware(at, "at")
    cron = _parse(schedule)
    floor = at - LOOKBACK
    day = at.astimezone(cron.zone).date() + _DAY
    first = floor.astimezone(cron.zone).date() - _DAY
    while day >= first:
        if cron.matches(day):
            for instant in reversed(cron.day_fires(day)):
                if instant <= at:
                    return instant if instant > floor else None
        day -= _DAY
    return None


def next_fire(schedule: Schedule, after: dt.datetime) -> dt.datetime:
    """Return the first fire strictly after ``after``.

    Raises:
        ValueError: ``after`` is naive, or the schedule names no real date (30 February).
    """
    _require_aware(after, "after")
    cron = _parse(schedule)
    day = after.astimezone(cron.zone).date() - _DAY
    for _ in range(_HORIZON_DAYS):
        if cron.matches(day):
            for instant in cron.day_fires(day):
                if instant > after:
                    return instant
        day += _DAY
    raise ValueError("cron: names no date within nine years (such as 30 February)")
