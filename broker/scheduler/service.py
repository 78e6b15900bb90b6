"""Run each scheduled policy's release on its cron schedule, once in total across replicas.

Every run is a row in ``scheduler_runs`` keyed by (policy, due time): a replica
fires a run only after its insert of that row commits, so replicas on one
database need no lease and no leader election; whichever claims a run first is
its leader. The claim and the run's release share one transaction: a release
that fails rolls its claim back, and the run is tried again at a later tick
(after :data:`RETRY_FIRST`, doubling up to :data:`RETRY_MOST`) until it succeeds
or a newer run of the policy is due. A failed run is never lost in silence, and
a run that succeeded never fires again.

Which run is due, per policy:

- Only the latest fire at or before now. A run missed while every broker was
  down fires once on start, however many were missed (searching back one year).
- Never one at or before the policy's latest claimed run, so a replica whose
  clock lags does not fire a run another has already passed.
- First start: a policy with no claimed run yet fires only a run due within the
  last :data:`FIRST_RUN_WINDOW` (7 days), so a new deployment or a new policy sends
  this week's release, not one from months ago.
- Never a run due before ``since``, when the caller gives one.

A release made by hand (``broker push``) stands in for the run most recently due
(:func:`stand_in`): the scheduler does not send the same week's release again
seconds later because its own run of that week was never claimed.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import structlog
from sqlalchemy import Insert, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from broker.db import session_scope
from broker.errors import StorageError
from broker.scheduler._cron import Schedule, next_fire, previous_fire
from broker.scheduler.models import SchedulerRun

__all__ = [
    "FIRST_RUN_WINDOW",
    "RETRY_FIRST",
    "RETRY_MOST",
    "WAKE_EVERY",
    "Scheduler",
    "claim",
    "default_identity",
    "due_runs",
    "run_forever",
    "stand_in",
]

log = structlog.get_logger(__name__)

FIRST_RUN_WINDOW = dt.timedelta(days=7)
"""A policy with no claimed run yet fires only a run due within this window."""

WAKE_EVERY = 30.0
"""The longest :func:`run_forever` sleeps between ticks, in seconds."""

RETRY_FIRST = dt.timedelta(minutes=1)
"""How long after a failed run it is tried again; the wait doubles with each failure."""

RETRY_MOST = dt.timedelta(hours=1)
"""The longest wait between two tries of a failing run."""

_IDENTITY_LENGTH = 64


def default_identity() -> str:
    """Return this process's identity for ``claimed_by``: ``host:pid``, at most 64 characters."""
    pid = f":{os.getpid()}"
    return socket.gethostname()[: _IDENTITY_LENGTH - len(pid)] + pid


def claim(
    session: Session, policy_id: str, due_at: dt.datetime, *, by: str, now: dt.datetime
) -> bool:
    """Claim the run of ``policy_id`` due at ``due_at``; only flushes.

    Returns False, without raising and with the session's transaction intact, when
    another process has claimed that run. On PostgreSQL a claim by a transaction not
    yet committed is waited for: False once it commits, True if it rolls back.

    Raises:
        ValueError: ``by`` is empty or longer than 64 characters.
        StorageError: the database is neither SQLite nor PostgreSQL.
    """
    if not 0 < len(by) <= _IDENTITY_LENGTH:
        raise ValueError(f"by: must be 1 to {_IDENTITY_LENGTH} characters")
    dialect = session.get_bind().dialect.name
    statement: Insert
    if dialect == "postgresql":
        statement = postgresql.insert(SchedulerRun).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(SchedulerRun).on_conflict_do_nothing()
    else:
        raise StorageError(f"database: scheduled runs need SQLite or PostgreSQL, not {dialect}")
    inserted = session.execute(
        statement.values(
            policy_id=policy_id, due_at=due_at, claimed_at=now, claimed_by=by
        ).returning(SchedulerRun.policy_id)
    ).first()
    return inserted is not None


def stand_in(
    session: Session, policy_id: str, schedule: Schedule, *, by: str, now: dt.datetime
) -> dt.datetime | None:
    """Claim the run of ``policy_id`` most recently due at ``now`` for a release made by hand.

    Called in the transaction of that release, so the claim and the release land
    together. Returns the due time claimed, or None when no run was due yet or that
    run was claimed already (the scheduler's next run fires as usual either way).
    """
    due_at = previous_fire(schedule, now)
    if due_at is None or not claim(session, policy_id, due_at, by=by, now=now):
        return None
    return due_at


def due_runs(
    session: Session,
    schedules: Mapping[str, Schedule],
    *,
    now: dt.datetime,
    since: dt.datetime | None,
) -> list[tuple[str, dt.datetime]]:
    """Return (policy id, due time) of each policy's run due now, by policy id.

    That is each policy's latest fire at or before ``now``, if it is later than the
    policy's latest claimed run, not before ``since``, and, when the policy has no
    claimed run yet, within :data:`FIRST_RUN_WINDOW` of ``now``.
    """
    if not schedules:
        return []
    rows = session.execute(
        select(SchedulerRun.policy_id, func.max(SchedulerRun.due_at))
        .where(SchedulerRun.policy_id.in_(list(schedules)))
        .group_by(SchedulerRun.policy_id)
    )
    latest_claims = dict(rows.all())
    due: list[tuple[str, dt.datetime]] = []
    for policy_id in sorted(schedules):
        latest = previous_fire(schedules[policy_id], now)
        if latest is None or (since is not None and latest < since):
            continue
        claimed = latest_claims.get(policy_id)
        if claimed is None and latest < now - FIRST_RUN_WINDOW:
            continue
        if claimed is not None and latest <= claimed:
            continue
        due.append((policy_id, latest))
    return due


@dataclass(slots=True)
class _Failing:
    """A run whose release failed: how often, and when it may be tried again."""

    failures: int
    retry_at: dt.datetime


class Scheduler:
    """Claims due runs and releases each in the claim's transaction, once across all replicas."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        schedules: Callable[[], Mapping[str, Schedule]],
        run: Callable[[Session, str, dt.datetime], object],
        *,
        identity: str | None = None,
        since: dt.datetime | None = None,
    ) -> None:
        """Create a scheduler.

        ``schedules`` returns the scheduled policies in force at each tick (policies
        may be reloaded); ``run(session, policy_id, due_at)`` releases one run in the
        session whose transaction holds its claim; ``identity`` defaults to
        :func:`default_identity`; ``since`` as in :func:`due_runs`.
        """
        self._session_factory = session_factory
        self._schedules = schedules
        self._run = run
        self._failing: dict[tuple[str, dt.datetime], _Failing] = {}
        self.identity = identity or default_identity()
        self.since = since

    def tick(self, now: dt.datetime) -> list[tuple[str, dt.datetime]]:
        """Claim and release each run due at ``now``, one transaction each; return those done.

        A run whose release raises is logged, its claim rolled back with it, and it is
        tried again at a later tick; it does not stop the others.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed before any run was claimed.
        """
        schedules = self._schedules()
        with session_scope(self._session_factory) as session:
            due = due_runs(session, schedules, now=now, since=self.since)
        self._failing = {run: state for run, state in self._failing.items() if run in due}
        done: list[tuple[str, dt.datetime]] = []
        for run in due:
            failing = self._failing.get(run)
            if failing is not None and now < failing.retry_at:
                continue
            try:
                if self._claim_and_run(*run, now=now):
                    done.append(run)
            except Exception:  # one failing release must not stop the others
                failures, wait = self._failed(run, now)
                log.exception(
                    "scheduler.run_failed",
                    policy_id=run[0],
                    due_at=run[1].isoformat(),
                    failures=failures,
                    retry_in_seconds=int(wait.total_seconds()),
                )
        return done

    def _claim_and_run(self, policy_id: str, due_at: dt.datetime, *, now: dt.datetime) -> bool:
        with session_scope(self._session_factory) as session:
            if not claim(session, policy_id, due_at, by=self.identity, now=now):
                return False
            log.info("scheduler.run_claimed", policy_id=policy_id, due_at=due_at.isoformat())
            self._run(session, policy_id, due_at)
        self._failing.pop((policy_id, due_at), None)
        return True

    def _failed(self, run: tuple[str, dt.datetime], now: dt.datetime) -> tuple[int, dt.timedelta]:
        before = self._failing.get(run)
        failures = 1 if before is None else before.failures + 1
        wait = min(RETRY_FIRST * 2 ** min(failures - 1, 16), RETRY_MOST)
        self._failing[run] = _Failing(failures, now + wait)
        return failures, wait

    def seconds_to_next(self, now: dt.datetime) -> float:
        """Return the seconds from ``now`` to the next fire, at most :data:`WAKE_EVERY`."""
        wait = WAKE_EVERY
        for schedule in self._schedules().values():
            try:
                upcoming = next_fire(schedule, now)
            except ValueError:  # a schedule that names no real date never wakes us
                continue
            wait = min(wait, (upcoming - now).total_seconds())
        return max(wait, 0.0)


def run_forever(
    scheduler: Scheduler,
    clock: Callable[[], dt.datetime],
    sleep: Callable[[float], object],
    stop: Callable[[], bool],
) -> None:
    """Tick, then sleep until the next fire or for :data:`WAKE_EVERY` s at most, until ``stop()``.

    A database failure is logged and retried at the next wake. ``sleep`` may return
    early (e.g. ``threading.Event.wait``): ``stop`` is asked again after it.
    """
    while not stop():
        try:
            scheduler.tick(clock())
        except SQLAlchemyError:
            log.warning("scheduler.tick_failed", exc_info=True)
        if stop():
            return
        sleep(scheduler.seconds_to_next(clock()))
