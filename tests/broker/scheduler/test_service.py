"""The scheduler on SQLite and PostgreSQL, with a frozen clock: DST weeks, missed runs, replicas."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
import zoneinfo
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from databases import Database
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session
from structlog.testing import capture_logs

from broker.db import make_engine, make_session_factory, session_scope
from broker.policy import Schedule
from broker.scheduler import (
    FIRST_RUN_WINDOW,
    WAKE_EVERY,
    Scheduler,
    SchedulerRun,
    claim,
    default_identity,
    due_runs,
    run_forever,
    stand_in,
)

CPH = zoneinfo.ZoneInfo("Europe/Copenhagen")
WEEKLY = Schedule(cron="0 6 * * 1")
NIGHTLY = Schedule(cron="30 2 * * *")
Run = tuple[str, dt.datetime]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


class Recorder:
    """The release callback of the tests: records each run it is handed."""

    def __init__(self) -> None:
        """Start with no runs."""
        self.runs: list[Run] = []

    def __call__(self, _session: Session, policy_id: str, due_at: dt.datetime) -> None:
        """Record one run."""
        self.runs.append((policy_id, due_at))


def scheduler(
    database: Database,
    schedules: Mapping[str, Schedule],
    run: Callable[[Session, str, dt.datetime], object],
    *,
    since: dt.datetime | None = None,
    identity: str = "test-host:1",
) -> Scheduler:
    factory = make_session_factory(database.engine)
    return Scheduler(factory, lambda: schedules, run, identity=identity, since=since)


def claims(database: Database) -> list[tuple[str, dt.datetime, str]]:
    factory = make_session_factory(database.engine)
    with session_scope(factory) as session:
        rows = session.execute(
            select(SchedulerRun.policy_id, SchedulerRun.due_at, SchedulerRun.claimed_by).order_by(
                SchedulerRun.due_at, SchedulerRun.policy_id
            )
        )
        return [(policy_id, due_at, by) for policy_id, due_at, by in rows]


def seed_claim(database: Database, policy_id: str, due_at: dt.datetime) -> None:
    with session_scope(make_session_factory(database.engine)) as session:
        assert claim(session, policy_id, due_at, by="earlier:1", now=due_at)


# Weekly `0 6 * * 1` and nightly `30 2 * * *` (UTC) from a Sunday to the Tuesday after next,
# across each DST change of 2026 and 2027 in Europe/Copenhagen.
DST_WEEKS = {
    "2026-spring": (
        utc(2026, 3, 22),
        utc(2026, 3, 31),
        [utc(2026, 3, 23, 5), utc(2026, 3, 30, 4)],
        [utc(2026, 3, d, 1, 30) for d in range(22, 29)]
        + [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30)],
    ),
    "2026-autumn": (
        utc(2026, 10, 18),
        utc(2026, 10, 27),
        [utc(2026, 10, 19, 4), utc(2026, 10, 26, 5)],
        [utc(2026, 10, d, 0, 30) for d in range(18, 26)] + [utc(2026, 10, 26, 1, 30)],
    ),
    "2027-spring": (
        utc(2027, 3, 21),
        utc(2027, 3, 30),
        [utc(2027, 3, 22, 5), utc(2027, 3, 29, 4)],
        [utc(2027, 3, d, 1, 30) for d in range(21, 28)]
        + [utc(2027, 3, 28, 1), utc(2027, 3, 29, 0, 30)],
    ),
    "2027-autumn": (
        utc(2027, 10, 24),
        utc(2027, 11, 2),
        [utc(2027, 10, 25, 4), utc(2027, 11, 1, 5)],
        [utc(2027, 10, d, 0, 30) for d in range(24, 32)] + [utc(2027, 11, 1, 1, 30)],
    ),
}
STEP = dt.timedelta(minutes=23)  # not a divisor of an hour: ticks land before, on and after fires


@pytest.mark.parametrize("week", sorted(DST_WEEKS))
def test_dst_weeks_fire_each_run_once_at_local_time(database: Database, week: str) -> None:
    """Ticking every 23 minutes across a DST change fires each run once, within one tick of due."""
    start, end, weekly, nightly = DST_WEEKS[week]
    recorder = Recorder()
    ticker = scheduler(database, {"weekly": WEEKLY, "nightly": NIGHTLY}, recorder, since=start)
    fired_at: dict[Run, dt.datetime] = {}
    now = start
    while now <= end:
        for run in ticker.tick(now):
            fired_at[run] = now
        now += STEP
    expected = sorted([("nightly", due) for due in nightly] + [("weekly", due) for due in weekly])
    assert sorted(recorder.runs) == expected
    assert len(set(recorder.runs)) == len(recorder.runs)
    assert all(due <= fired_at[(p, due)] < due + STEP for p, due in recorder.runs)
    assert {due.astimezone(CPH).time() for p, due in recorder.runs if p == "weekly"} == {dt.time(6)}
    nightly_times = {
        due.astimezone(CPH).strftime("%H:%M") for p, due in recorder.runs if p != "weekly"
    }
    assert nightly_times == ({"02:30", "03:00"} if "spring" in week else {"02:30"})
    assert [(p, d) for p, d, _ in claims(database)] == sorted(expected, key=lambda r: (r[1], r[0]))


def test_fall_back_night_fires_once(database: Database) -> None:
    """On fall-back night `30 2 * * *` fires at the first 02:30 and not at the second."""
    recorder = Recorder()
    ticker = scheduler(database, {"nightly": NIGHTLY}, recorder, since=utc(2027, 10, 30, 12))
    first, second = utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30)
    assert first.astimezone(CPH).strftime("%H:%M") == second.astimezone(CPH).strftime("%H:%M")
    assert ticker.tick(first) == [("nightly", first)]
    assert ticker.tick(second) == []
    assert ticker.tick(second + dt.timedelta(minutes=1)) == []
    assert recorder.runs == [("nightly", first)]


def test_missed_run_fires_once_on_start(database: Database) -> None:
    """After three weeks down, the broker fires the latest missed run once, then on schedule."""
    seed_claim(database, "weekly", utc(2027, 1, 4, 5))  # the last run before the outage
    recorder = Recorder()
    ticker = scheduler(database, {"weekly": WEEKLY}, recorder)
    back = utc(2027, 1, 27, 9)  # a Wednesday, three weeks and two days later
    assert ticker.tick(back) == [("weekly", utc(2027, 1, 25, 5))]
    assert ticker.tick(back + dt.timedelta(hours=1)) == []
    assert ticker.tick(utc(2027, 2, 1, 4, 59)) == []
    assert ticker.tick(utc(2027, 2, 1, 5)) == [("weekly", utc(2027, 2, 1, 5))]
    assert recorder.runs == [("weekly", utc(2027, 1, 25, 5)), ("weekly", utc(2027, 2, 1, 5))]


def test_first_start_fires_only_a_run_from_the_last_seven_days(database: Database) -> None:
    """With no claim yet, a run due within the last 7 days fires; an older one never does."""
    monthly = Schedule(cron="0 6 1 * *")
    recorder = Recorder()
    ticker = scheduler(database, {"weekly": WEEKLY, "monthly": monthly}, recorder)
    now = utc(2027, 1, 13, 12)  # Wednesday 13 January: Monday was 2 days ago, the 1st 12
    assert ticker.tick(now) == [("weekly", utc(2027, 1, 11, 5))]
    assert ticker.tick(utc(2027, 2, 1, 5)) == [
        ("monthly", utc(2027, 2, 1, 5)),
        ("weekly", utc(2027, 2, 1, 5)),
    ]


def test_first_start_window_edge(database: Database) -> None:
    """A first run due exactly 7 days ago still fires; one a second older does not."""
    due = utc(2027, 2, 1, 5)
    schedules = {"monthly": Schedule(cron="0 6 1 * *")}
    with session_scope(make_session_factory(database.engine)) as session:
        edge = due + FIRST_RUN_WINDOW
        assert due_runs(session, schedules, now=edge, since=None) == [("monthly", due)]
        late = edge + dt.timedelta(seconds=1)
        assert due_runs(session, schedules, now=late, since=None) == []


def test_since_is_a_floor_for_every_policy(database: Database) -> None:
    """No run due before ``since`` fires, claimed before or not."""
    seed_claim(database, "weekly", utc(2027, 1, 4, 5))
    now = utc(2027, 1, 13, 12)
    with session_scope(make_session_factory(database.engine)) as session:
        schedules = {"weekly": WEEKLY, "other": WEEKLY}
        assert due_runs(session, schedules, now=now, since=utc(2027, 1, 12)) == []
        assert due_runs(session, schedules, now=now, since=utc(2027, 1, 11, 5)) == [
            ("other", utc(2027, 1, 11, 5)),
            ("weekly", utc(2027, 1, 11, 5)),
        ]


def test_claiming_twice_returns_false_and_keeps_the_transaction(database: Database) -> None:
    """A second claim of one run returns False; the session goes on and commits what else it did."""
    due = utc(2027, 1, 11, 5)
    with session_scope(make_session_factory(database.engine)) as session:
        assert claim(session, "weekly", due, by="a:1", now=due) is True
        assert claim(session, "weekly", due, by="b:2", now=due) is False
        assert session.scalar(select(func.count()).select_from(SchedulerRun)) == 1
        assert claim(session, "nightly", due, by="b:2", now=due) is True
    with session_scope(make_session_factory(database.engine)) as session:
        assert claim(session, "weekly", due, by="c:3", now=due) is False
        assert claim(session, "weekly", due + dt.timedelta(days=7), by="c:3", now=due) is True
    assert claims(database) == [
        ("nightly", due, "b:2"),
        ("weekly", due, "a:1"),
        ("weekly", due + dt.timedelta(days=7), "c:3"),
    ]


def wait_until_blocked(database: Database, thread: threading.Thread) -> None:
    """Return once ``thread`` waits for a lock (on PostgreSQL, as the server reports it)."""
    deadline = time.monotonic() + 10
    if database.backend == "postgresql":
        waiting = text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%scheduler_runs%'"
        )
        with database.engine.connect() as connection:
            while not connection.execute(waiting).scalar():
                connection.rollback()  # the activity view is a snapshot per transaction
                assert time.monotonic() < deadline, "the second claim never waited"
                time.sleep(0.01)
    thread.join(timeout=0.2)  # a claim takes milliseconds: still alive means it waits
    assert thread.is_alive()


@pytest.mark.parametrize("first_commits", [True, False], ids=["commit", "rollback"])
def test_concurrent_claim_waits_for_the_first(database: Database, first_commits: bool) -> None:
    """A claim racing an uncommitted one waits: False if that commits, True if it rolls back."""
    due = utc(2027, 1, 11, 5)
    factory = make_session_factory(database.engine)
    outcome: list[bool] = []

    def second() -> None:
        with session_scope(factory) as session:
            outcome.append(claim(session, "weekly", due, by="b:2", now=due))

    with factory() as first:
        with first.begin():
            assert claim(first, "weekly", due, by="a:1", now=due)
            thread = threading.Thread(target=second)
            thread.start()
            wait_until_blocked(database, thread)
            if not first_commits:
                first.rollback()
        thread.join(timeout=60)
    assert outcome == [not first_commits]
    assert [by for _, _, by in claims(database)] == ["a:1" if first_commits else "b:2"]


def test_claim_refuses_a_bad_identity(database: Database) -> None:
    """``by`` must be 1 to 64 characters; the default is host:pid."""
    due = utc(2027, 1, 11, 5)
    with session_scope(make_session_factory(database.engine)) as session:
        with pytest.raises(ValueError, match="by: must be 1 to 64"):
            claim(session, "weekly", due, by="x" * 65, now=due)
        assert claim(session, "weekly", due, by=default_identity(), now=due)
    identity = default_identity()
    assert identity.endswith(f":{os.getpid()}")
    assert len(identity) <= 64


def test_two_schedulers_on_two_engines_fire_once(database: Database) -> None:
    """Two replicas, each with its own engine, ticking at the same instant fire a run once."""
    other = make_engine(database.url)
    try:
        schedules = {"weekly": WEEKLY, "nightly": NIGHTLY}
        first, second = Recorder(), Recorder()
        one = scheduler(database, schedules, first, identity="replica:1")
        two = Scheduler(
            make_session_factory(other), lambda: schedules, second, identity="replica:2"
        )
        for now in (utc(2027, 3, 29, 4), utc(2027, 3, 29, 4, 1), utc(2027, 3, 30, 0, 30)):
            two.tick(now)
            one.tick(now)
        assert first.runs == []
        assert sorted(second.runs) == [
            ("nightly", utc(2027, 3, 29, 0, 30)),
            ("nightly", utc(2027, 3, 30, 0, 30)),
            ("weekly", utc(2027, 3, 29, 4)),
        ]
        # A replica whose clock lags does not fire a run another has already passed.
        lagging = Recorder()
        three = scheduler(database, schedules, lagging, identity="replica:3")
        assert three.tick(utc(2027, 3, 29, 3, 59)) == []
    finally:
        other.dispose()


def test_a_failing_release_is_rolled_back_with_its_claim_and_tried_again(
    database: Database,
) -> None:
    """A run whose release raises is logged, left unclaimed and retried with a doubling wait.

    The others go on; the failing run fires once when its release succeeds, and never again.
    """
    recorder = Recorder()
    broken = {"on": True}

    def run(session: Session, policy_id: str, due_at: dt.datetime) -> None:
        # What the release wrote before it failed must go with the claim.
        session.add(
            SchedulerRun(policy_id="written", due_at=due_at, claimed_at=due_at, claimed_by="x")
        )
        session.flush()
        if policy_id == "broken" and broken["on"]:
            raise RuntimeError("no log keys")
        session.delete(session.get(SchedulerRun, ("written", due_at)))
        recorder(session, policy_id, due_at)

    ticker = scheduler(database, {"broken": WEEKLY, "weekly": WEEKLY}, run)
    monday = utc(2027, 1, 11, 5)
    minute = dt.timedelta(minutes=1)
    with capture_logs() as logs:
        assert ticker.tick(monday) == [("weekly", monday)]
        assert ticker.tick(monday + 0.5 * minute) == []  # not before the first wait
        assert ticker.tick(monday + minute) == []  # the second failure: now 2 minutes
        assert ticker.tick(monday + 2.5 * minute) == []
    assert recorder.runs == [("weekly", monday)]
    assert claims(database) == [("weekly", monday, "test-host:1")]
    failed = [entry for entry in logs if entry["event"] == "scheduler.run_failed"]
    assert [(e["policy_id"], e["failures"], e["retry_in_seconds"]) for e in failed] == [
        ("broken", 1, 60),
        ("broken", 2, 120),
    ]
    assert all(entry["exc_info"] for entry in failed)

    broken["on"] = False
    assert ticker.tick(monday + 3 * minute) == [("broken", monday)]
    assert ticker.tick(monday + 10 * minute) == []
    assert recorder.runs == [("weekly", monday), ("broken", monday)]
    assert sorted(claims(database)) == [
        ("broken", monday, "test-host:1"),
        ("weekly", monday, "test-host:1"),
    ]


def test_a_run_that_keeps_failing_waits_at_most_an_hour_and_gives_way_to_the_next(
    database: Database,
) -> None:
    """The wait between tries stops doubling at an hour; a newer run replaces the failing one."""

    def run(_session: Session, _policy_id: str, due_at: dt.datetime) -> None:
        if due_at == utc(2027, 1, 11, 5):
            raise RuntimeError("no log keys")

    ticker = scheduler(database, {"weekly": WEEKLY}, run)
    now = utc(2027, 1, 11, 5)
    with capture_logs() as logs:
        while now < utc(2027, 1, 18, 5):
            ticker.tick(now)
            now += dt.timedelta(minutes=10)
        assert ticker.tick(utc(2027, 1, 18, 5)) == [("weekly", utc(2027, 1, 18, 5))]
    waits = [
        entry["retry_in_seconds"] for entry in logs if entry["event"] == "scheduler.run_failed"
    ]
    assert waits[:8] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert set(waits[6:]) == {3600}
    assert claims(database) == [("weekly", utc(2027, 1, 18, 5), "test-host:1")]


class FrozenClock:
    """A clock that moves only when slept on."""

    def __init__(self, now: dt.datetime) -> None:
        """Stop the clock at ``now``."""
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> dt.datetime:
        """Return the frozen time."""
        return self.now

    def sleep(self, seconds: float) -> None:
        """Record the sleep and move the clock on by it, at once."""
        self.sleeps.append(seconds)
        self.now += dt.timedelta(seconds=seconds)


def test_run_forever_wakes_on_time_and_every_30_seconds(database: Database) -> None:
    """The loop sleeps at most 30 s, wakes exactly at a fire, and fires it once."""
    clock = FrozenClock(
        utc(2027, 3, 29, 3, 57) + dt.timedelta(seconds=10)
    )  # 05:57:10 on a Monday, summer time
    fired: list[tuple[Run, dt.datetime]] = []
    ticker = scheduler(
        database,
        {"weekly": WEEKLY},
        lambda _session, p, due: fired.append(((p, due), clock())),
        since=clock(),
    )
    run_forever(ticker, clock, clock.sleep, lambda: clock.now >= utc(2027, 3, 29, 4, 10))
    assert fired == [(("weekly", utc(2027, 3, 29, 4)), utc(2027, 3, 29, 4))]
    assert all(0 < seconds <= WAKE_EVERY for seconds in clock.sleeps)
    # 170 s to the fire: five full wakes and the 20 s left; then 30 s wakes until the stop.
    assert clock.sleeps == [WAKE_EVERY] * 5 + [20.0] + [WAKE_EVERY] * 20


def test_run_forever_survives_the_database_being_down(tmp_path: Path) -> None:
    """While the database cannot be reached, each wake logs the failure and the loop goes on."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing' / 'broker.db'}")
    clock = FrozenClock(utc(2027, 1, 11, 5))
    ticker = Scheduler(make_session_factory(engine), lambda: {"weekly": WEEKLY}, Recorder())
    try:
        with capture_logs() as logs:
            run_forever(ticker, clock, clock.sleep, lambda: len(clock.sleeps) >= 3)
    finally:
        engine.dispose()
    assert [entry["event"] for entry in logs] == ["scheduler.tick_failed"] * 3
    assert clock.sleeps == [WAKE_EVERY] * 3


def test_no_schedules_means_nothing_due(database: Database) -> None:
    """Without scheduled policies a tick claims nothing and the loop sleeps 30 s."""
    ticker = scheduler(database, {}, Recorder())
    assert ticker.tick(utc(2027, 1, 11, 5)) == []
    assert ticker.seconds_to_next(utc(2027, 1, 11, 5)) == WAKE_EVERY
    never = scheduler(database, {"never": Schedule(cron="0 0 31 2 *")}, Recorder())
    assert never.seconds_to_next(utc(2027, 1, 11, 5)) == WAKE_EVERY


def test_a_release_by_hand_stands_in_for_the_run_due(database: Database) -> None:
    """`stand_in` claims the run most recently due, once; the scheduler then skips it only."""
    monday = utc(2026, 11, 30, 5)  # 06:00 in Copenhagen
    pushed_at = monday + dt.timedelta(hours=3)
    with session_scope(make_session_factory(database.engine)) as session:
        assert stand_in(session, "weekly", WEEKLY, by="push:1", now=pushed_at) == monday
        assert stand_in(session, "weekly", WEEKLY, by="push:2", now=pushed_at) is None
    recorder = Recorder()
    runs = scheduler(database, {"weekly": WEEKLY}, recorder)
    assert runs.tick(pushed_at + dt.timedelta(seconds=5)) == []  # not the same week again
    next_monday = monday + dt.timedelta(days=7)
    assert runs.tick(next_monday) == [("weekly", next_monday)]
    assert recorder.runs == [("weekly", next_monday)]
    assert claims(database) == [
        ("weekly", monday, "push:1"),
        ("weekly", next_monday, "test-host:1"),
    ]


def test_stand_in_before_the_first_fire_claims_nothing(database: Database) -> None:
    """A schedule that has not fired yet in the lookback has no run for a push to stand in for."""
    never = Schedule(cron="0 6 30 2 *")  # 30 February
    with session_scope(make_session_factory(database.engine)) as session:
        assert stand_in(session, "never", never, by="push:1", now=utc(2026, 11, 30)) is None
    assert claims(database) == []
