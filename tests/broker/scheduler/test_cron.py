"""Cron on local wall-clock time: DST gaps and folds, cron's day rules, and a brute-force oracle."""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import time
import zoneinfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.policy import Schedule
from broker.scheduler import LOOKBACK, fire_times, next_fire, previous_fire
from broker.scheduler._cron import _expand

CPH = zoneinfo.ZoneInfo("Europe/Copenhagen")
WEEKLY = Schedule(cron="0 6 * * 1")
NIGHTLY = Schedule(cron="30 2 * * *")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


def fires_on(schedule: Schedule, year: int, month: int, day: int) -> list[dt.datetime]:
    """Every fire during the Copenhagen date ``year-month-day``."""
    start = dt.datetime(year, month, day, tzinfo=CPH)
    end = start + dt.timedelta(days=1)  # wall-clock arithmetic: the next local midnight
    tick = dt.timedelta(microseconds=1)
    return fire_times(schedule, start - tick, end - tick)


# (spring-forward Sunday, fall-back Sunday) in Europe/Copenhagen
DST_SUNDAYS = {2026: ((3, 29), (10, 25)), 2027: ((3, 28), (10, 31))}


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        (utc(2026, 3, 22), utc(2026, 4, 1), [utc(2026, 3, 23, 5), utc(2026, 3, 30, 4)]),
        (utc(2026, 10, 18), utc(2026, 10, 28), [utc(2026, 10, 19, 4), utc(2026, 10, 26, 5)]),
        (utc(2027, 3, 21), utc(2027, 3, 31), [utc(2027, 3, 22, 5), utc(2027, 3, 29, 4)]),
        (utc(2027, 10, 24), utc(2027, 11, 3), [utc(2027, 10, 25, 4), utc(2027, 11, 1, 5)]),
    ],
)
def test_weekly_run_stays_at_six_local_across_dst(
    start: dt.datetime, end: dt.datetime, expected: list[dt.datetime]
) -> None:
    """`0 6 * * 1` fires once each Monday at 06:00 Copenhagen time, before and after DST."""
    fires = fire_times(WEEKLY, start, end)
    assert fires == expected
    assert [fire.astimezone(CPH).time() for fire in fires] == [dt.time(6)] * 2
    assert all(fire.tzinfo is dt.UTC for fire in fires)


@pytest.mark.parametrize("year", sorted(DST_SUNDAYS))
def test_time_in_spring_gap_fires_once_right_after_it(year: int) -> None:
    """02:30 does not exist on spring-forward day: it fires once, at 03:00 summer time."""
    (month, day), _ = DST_SUNDAYS[year]
    assert fires_on(NIGHTLY, year, month, day) == [utc(year, month, day, 1)]
    assert utc(year, month, day, 1).astimezone(CPH).strftime("%H:%M %Z") == "03:00 CEST"
    assert fires_on(NIGHTLY, year, month, day - 1) == [utc(year, month, day - 1, 1, 30)]
    assert fires_on(NIGHTLY, year, month, day + 1) == [utc(year, month, day + 1, 0, 30)]


@pytest.mark.parametrize("year", sorted(DST_SUNDAYS))
def test_time_in_fall_back_hour_fires_once_at_first_occurrence(year: int) -> None:
    """02:30 happens twice on fall-back day: it fires once, at the first (summer-time) one."""
    _, (month, day) = DST_SUNDAYS[year]
    assert fires_on(NIGHTLY, year, month, day) == [utc(year, month, day, 0, 30)]
    assert fire_times(NIGHTLY, utc(year, month, day, 0, 30), utc(year, month, day, 3)) == []


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("*/30 2 * * *", [utc(2027, 3, 28, 1)]),
        ("0,30 2,3 * * *", [utc(2027, 3, 28, 1), utc(2027, 3, 28, 1, 30)]),
        ("0 3 * * *", [utc(2027, 3, 28, 1)]),
        ("59 1 * * *", [utc(2027, 3, 28, 0, 59)]),
    ],
)
def test_gap_and_the_minute_after_it_fire_once(cron: str, expected: list[dt.datetime]) -> None:
    """Several skipped times, and a matching 03:00 right after the gap, make one fire."""
    assert fires_on(Schedule(cron=cron), 2027, 3, 28) == expected


def test_every_minute_on_dst_days() -> None:
    """Every minute fires 1380 times on the 23-hour day and 1440 times on the 25-hour day."""
    every_minute = Schedule(cron="* * * * *")
    assert len(fires_on(every_minute, 2027, 3, 28)) == 23 * 60
    assert len(fires_on(every_minute, 2027, 10, 31)) == 24 * 60
    assert len(fires_on(every_minute, 2027, 11, 1)) == 24 * 60


def test_day_of_month_or_day_of_week() -> None:
    """With both day fields restricted a day matching either fires; otherwise both must match."""
    either = fire_times(Schedule(cron="0 12 13 * 5"), utc(2027, 8, 1), utc(2027, 9, 1))
    assert [fire.day for fire in either] == [6, 13, 20, 27]  # Fridays, and Friday the 13th once
    either = fire_times(Schedule(cron="0 12 1 * 1"), utc(2027, 2, 1), utc(2027, 3, 1))
    assert [fire.day for fire in either] == [1, 8, 15, 22]  # 1 Feb 2027 is a Monday
    either = fire_times(Schedule(cron="0 12 10 * 2"), utc(2027, 2, 1), utc(2027, 3, 1))
    assert [fire.day for fire in either] == [2, 9, 10, 16, 23]
    only_day = fire_times(Schedule(cron="0 12 10 2 *"), utc(2027, 1, 1), utc(2028, 1, 1))
    assert only_day == [utc(2027, 2, 10, 11)]


def test_sunday_is_zero_and_seven() -> None:
    """Day-of-week 0 and 7 both mean Sunday."""
    start, end = utc(2027, 1, 1), utc(2027, 3, 1)
    sundays = fire_times(Schedule(cron="0 9 * * 0"), start, end)
    assert sundays == fire_times(Schedule(cron="0 9 * * 7"), start, end)
    assert {fire.astimezone(CPH).isoweekday() for fire in sundays} == {7}
    assert len(sundays) == 9


def test_interval_is_open_at_start_and_closed_at_end() -> None:
    """A fire exactly at ``start`` is left out and one exactly at ``end`` is included."""
    monday = utc(2027, 1, 4, 5)
    assert fire_times(WEEKLY, monday, monday + dt.timedelta(days=7)) == [
        monday + dt.timedelta(days=7)
    ]
    assert fire_times(WEEKLY, monday, monday) == []
    assert fire_times(WEEKLY, monday, monday - dt.timedelta(days=7)) == []


def test_previous_and_next_fire() -> None:
    """The latest fire at or before an instant and the first one strictly after it."""
    monday = utc(2027, 3, 29, 4)
    assert previous_fire(WEEKLY, monday) == monday
    assert previous_fire(WEEKLY, monday - dt.timedelta(seconds=1)) == utc(2027, 3, 22, 5)
    assert next_fire(WEEKLY, monday) == utc(2027, 4, 5, 4)
    assert next_fire(WEEKLY, monday - dt.timedelta(seconds=1)) == monday
    assert next_fire(NIGHTLY, utc(2027, 3, 27, 23)) == utc(2027, 3, 28, 1)
    assert previous_fire(NIGHTLY, utc(2027, 10, 31, 2)) == utc(2027, 10, 31, 0, 30)


def test_rare_and_impossible_dates() -> None:
    """29 February is found eight years ahead, or None a year back; 31 February raises."""
    leap_day = Schedule(cron="0 0 29 2 *")
    assert next_fire(leap_day, utc(2097, 1, 1)) == utc(2104, 2, 28, 23)
    assert previous_fire(leap_day, utc(2028, 3, 1)) == utc(2028, 2, 28, 23)
    assert previous_fire(leap_day, utc(2027, 6, 1)) is None
    with pytest.raises(ValueError, match="cron: names no date"):
        next_fire(Schedule(cron="0 0 31 2 *"), utc(2027, 1, 1))
    assert previous_fire(Schedule(cron="0 0 31 2 *"), utc(2027, 1, 1)) is None


def test_previous_fire_looks_back_one_year() -> None:
    """A fire less than :data:`LOOKBACK` before the instant is found; one that long ago is not."""
    leap_day = Schedule(cron="0 0 29 2 *")
    fire = utc(2024, 2, 28, 23)
    assert previous_fire(leap_day, fire + LOOKBACK - dt.timedelta(seconds=1)) == fire
    assert previous_fire(leap_day, fire + LOOKBACK) is None


def test_naive_datetimes_are_refused() -> None:
    """Naive datetimes raise ValueError naming the argument."""
    naive = dt.datetime(2027, 1, 1)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError, match="start: must be a timezone-aware"):
        fire_times(WEEKLY, naive, utc(2027, 2, 1))
    with pytest.raises(ValueError, match="at: must be"):
        previous_fire(WEEKLY, naive)
    with pytest.raises(ValueError, match="after: must be"):
        next_fire(WEEKLY, naive)


def test_local_offsets_in_other_zones() -> None:
    """Aware inputs in any zone give UTC outputs; the schedule's own zone decides the wall clock."""
    tokyo = zoneinfo.ZoneInfo("Asia/Tokyo")
    new_york = Schedule(cron="0 9 * * *", timezone="America/New_York")
    fires = fire_times(new_york, dt.datetime(2027, 3, 13, tzinfo=tokyo), utc(2027, 3, 16))
    assert fires == [utc(2027, 3, 13, 14), utc(2027, 3, 14, 13), utc(2027, 3, 15, 13)]


def test_a_year_of_runs_is_quick() -> None:
    """A year of weekly and of quarter-hourly runs, and look-ups a year back, take milliseconds."""
    begun = time.perf_counter()
    assert len(fire_times(WEEKLY, utc(2027, 1, 1), utc(2028, 1, 1))) == 52
    quarterly = fire_times(Schedule(cron="*/15 * * * *"), utc(2027, 1, 1), utc(2028, 1, 1))
    assert len(quarterly) == 365 * 96 - 4  # 02:00-02:45 on spring day fire once, with 03:00
    assert previous_fire(Schedule(cron="0 0 29 2 *"), utc(2027, 6, 1)) is None
    assert time.perf_counter() - begun < 5  # minute by minute would take far longer


# --- Properties: random cron expressions against a minute-by-minute oracle -----------------

ZONES = ("Europe/Copenhagen", "Australia/Lord_Howe", "America/Havana", "America/Santiago")
"""Copenhagen, a 30-minute DST shift, and DST changes at local midnight."""

RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def cron_field(low: int, high: int) -> st.SearchStrategy[str]:
    number = st.integers(low, high)
    items = st.one_of(
        st.just("*"),
        number.map(str),
        st.tuples(number, number).map(lambda pair: f"{min(pair)}-{max(pair)}"),
        st.integers(1, 20).map(lambda step: f"*/{step}"),
        st.tuples(number, number, st.integers(1, 9)).map(
            lambda t: f"{min(t[:2])}-{max(t[:2])}/{t[2]}"
        ),
    )
    return st.lists(items, min_size=1, max_size=3).map(",".join)


CRON_FIELDS = tuple(cron_field(low, high) for low, high in RANGES)


@st.composite
def schedules(draw: st.DrawFn, zones: tuple[str, ...] = ("Europe/Copenhagen",)) -> Schedule:
    fields = [draw(field) for field in CRON_FIELDS]
    # Half the time a usual shape: fixed minute and hour, so fires fall on DST edges.
    if draw(st.booleans()):
        fields[0] = str(draw(st.sampled_from([0, 15, 30, 59])))
        fields[1] = str(draw(st.integers(0, 4)))
    if draw(st.booleans()):
        fields[2:4] = ["*", "*"]
    return Schedule(cron=" ".join(fields), timezone=draw(st.sampled_from(zones)))


@functools.cache
def transitions(zone_name: str) -> tuple[dt.datetime, ...]:
    """The days (as UTC midnights) in 2025-2028 on which the zone's offset changes."""
    zone = zoneinfo.ZoneInfo(zone_name)
    days = [utc(2025, 1, 1) + dt.timedelta(days=n) for n in range(4 * 366)]
    return tuple(
        day
        for day, following in itertools.pairwise(days)
        if day.astimezone(zone).utcoffset() != following.astimezone(zone).utcoffset()
    )


@st.composite
def windows(draw: st.DrawFn, zone_name: str) -> tuple[dt.datetime, dt.datetime]:
    """A window of up to 30 hours, usually around a DST change."""
    if draw(st.booleans()) and transitions(zone_name):
        around = draw(st.sampled_from(transitions(zone_name)))
    else:
        around = utc(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 3 * 365)))
    start = around + dt.timedelta(
        minutes=draw(st.integers(-6 * 60, 30 * 60)), seconds=draw(st.integers(0, 59))
    )
    return start, start + dt.timedelta(minutes=draw(st.integers(1, 30 * 60)))


def matcher(schedule: Schedule) -> tuple[set[int], ...]:
    minute, hour, day, month, weekday = schedule.cron.split()
    return (
        _expand(minute, 0, 59),
        _expand(hour, 0, 23),
        _expand(day, 1, 31) if day != "*" else set(),
        _expand(month, 1, 12),
        {n % 7 for n in _expand(weekday, 0, 7)} if weekday != "*" else set(),
    )


def wall_matches(fields: tuple[set[int], ...], wall: dt.datetime) -> bool:
    """Cron's rule on a naive wall time, written out plainly (an empty set means `*`)."""
    minutes, hours, days, months, weekdays = fields
    if wall.minute not in minutes or wall.hour not in hours or wall.month not in months:
        return False
    in_month, in_week = wall.day in days, wall.isoweekday() % 7 in weekdays
    if days and weekdays:
        return in_month or in_week
    return (in_month or not days) and (in_week or not weekdays)


def oracle(schedule: Schedule, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """Walk UTC minutes: fire at a matching wall time's first occurrence, or after a gap."""
    zone = zoneinfo.ZoneInfo(schedule.timezone)
    fields = matcher(schedule)
    minute = dt.timedelta(minutes=1)
    instant = start.astimezone(dt.UTC).replace(second=0, microsecond=0)
    fires = []
    while instant <= end:
        local = instant.astimezone(zone)
        wall = local.replace(tzinfo=None, fold=0)
        previous = (instant - minute).astimezone(zone).replace(tzinfo=None, fold=0)
        skipped = []
        walk = previous + minute
        while walk < wall:  # wall times a forward transition jumped over
            skipped.append(walk)
            walk += minute
        first_time = local.fold == 0
        if instant > start and (
            (first_time and wall_matches(fields, wall))
            or any(wall_matches(fields, s) for s in skipped)
        ):
            fires.append(instant)
        instant += minute
    return fires


def skipped_before(instant: dt.datetime, zone: zoneinfo.ZoneInfo) -> list[dt.datetime]:
    """The wall-clock minutes skipped by a forward transition at ``instant``, if one is there."""
    jump = (
        instant.astimezone(zone).utcoffset()
        - (instant - dt.timedelta(seconds=1)).astimezone(zone).utcoffset()
    )
    wall = instant.astimezone(zone).replace(tzinfo=None)
    return [wall - jump + dt.timedelta(minutes=n) for n in range(int(jump.total_seconds()) // 60)]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), schedule=schedules(ZONES))
def test_fire_times_agree_with_minute_by_minute_oracle(
    data: st.DataObject, schedule: Schedule
) -> None:
    """For random cron expressions and windows around DST changes, fire_times equals the oracle."""
    start, end = data.draw(windows(schedule.timezone))
    assert fire_times(schedule, start, end) == oracle(schedule, start, end)


@settings(max_examples=150, deadline=None)
@given(data=st.data(), schedule=schedules())
def test_fire_times_properties_in_copenhagen(data: st.DataObject, schedule: Schedule) -> None:
    """Fires increase, each on its own matching local minute (or after a gap); ends agree."""
    start, end = data.draw(windows(schedule.timezone))
    fires = fire_times(schedule, start, end)
    assert all(a < b for a, b in itertools.pairwise(fires))
    walls = [fire.astimezone(CPH).replace(tzinfo=None) for fire in fires]
    assert len(set(walls)) == len(walls)
    fields = matcher(schedule)
    for fire, wall in zip(fires, walls, strict=True):
        assert wall_matches(fields, wall) or any(
            wall_matches(fields, skipped) for skipped in skipped_before(fire, CPH)
        )
    assert all(start < fire <= end for fire in fires)
    if fires:
        assert previous_fire(schedule, end) == fires[-1]
        assert next_fire(schedule, start) == fires[0]
    elif not schedule.never_fires():
        assert next_fire(schedule, start) > end
        latest = previous_fire(schedule, end)
        assert latest is None or latest <= start
