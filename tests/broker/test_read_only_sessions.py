"""Read-only sessions: the database refuses their writes, and on SQLite they wait for no writer."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from databases import Database
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from broker.db import make_engine, make_session_factory, session_scope
from broker.renovation import Department

NOW = dt.datetime(2027, 1, 11, 5, tzinfo=dt.UTC)


def _department(code: str) -> Department:
    return Department(org="bo-vest", code=code, created_at=NOW, updated_at=NOW)


def test_the_database_refuses_a_read_only_sessions_write(database: Database) -> None:
    """An insert in a read-only session fails in the database and leaves nothing behind."""
    reader = make_session_factory(database.engine, read_only=True)
    with session_scope(reader) as session:
        session.add(_department("blokland"))
        with pytest.raises(DBAPIError, match=r"(?i)read.only|readonly"):
            session.flush()
        session.rollback()
    # The same connection, back in the pool, writes again for a writing session.
    with session_scope(make_session_factory(database.engine)) as session:
        session.add(_department("andenblok"))
    with session_scope(reader) as session:
        assert list(session.scalars(select(Department.code))) == ["andenblok"]


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_a_sqlite_reader_does_not_wait_for_the_writer(database: Database) -> None:
    """While a writer holds SQLite's write lock, a reader reads the last commit at once."""
    with session_scope(make_session_factory(database.engine)) as session:
        session.add(_department("blokland"))
    writer = make_session_factory(database.engine)()
    try:
        writer.begin()
        writer.add(_department("andenblok"))
        writer.flush()  # BEGIN IMMEDIATE: the write lock is held until the commit
        started = time.monotonic()
        with session_scope(make_session_factory(database.engine, read_only=True)) as reader:
            seen = list(reader.scalars(select(Department.code)))
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert seen == ["blokland"]
    assert waited < 1.0  # a writing session would wait busy_timeout (30 s), then fail


def _busy_timeout(session: Session) -> int:
    return int(session.connection().exec_driver_sql("PRAGMA busy_timeout").scalar_one())


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)
def test_an_impatient_writer_gives_up_and_leaves_the_connection_patient(
    database: Database,
) -> None:
    """Another holds the lock: an impatient write fails in 100 ms; the pool is patient again."""
    engine = make_engine(database.url, pool_size=1, max_overflow=0)
    impatient = make_session_factory(engine, patient=False)
    writer = make_session_factory(database.engine)()
    try:
        writer.begin()
        writer.add(_department("blokland"))
        writer.flush()  # BEGIN IMMEDIATE: the write lock is held until the rollback
        started = time.monotonic()
        with impatient() as session:
            session.add(_department("andenblok"))
            with pytest.raises(OperationalError):
                session.flush()
        waited = time.monotonic() - started
    finally:
        writer.rollback()
        writer.close()
    assert waited < 2.0
    # The pool's one connection: impatient while so used, patient for the next session.
    with session_scope(impatient) as session:
        assert _busy_timeout(session) == 100
        session.add(_department("andenblok"))
    with session_scope(make_session_factory(engine)) as session:
        assert _busy_timeout(session) == 30_000
    with session_scope(make_session_factory(engine, read_only=True)) as session:
        assert list(session.scalars(select(Department.code))) == ["andenblok"]
    engine.dispose()


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
def test_an_impatient_writer_waits_briefly_for_a_row_on_postgresql(database: Database) -> None:
    """A row another transaction holds: the impatient update fails after its lock timeout."""
    with session_scope(make_session_factory(database.engine)) as session:
        session.add(_department("blokland"))
    holder = make_session_factory(database.engine)()
    try:
        holder.begin()
        holder.execute(update(Department).values(updated_at=NOW + dt.timedelta(hours=1)))
        started = time.monotonic()
        with make_session_factory(database.engine, patient=False)() as session:
            change = update(Department).values(updated_at=NOW + dt.timedelta(hours=2))
            with pytest.raises(OperationalError):
                session.execute(change)
        waited = time.monotonic() - started
    finally:
        holder.rollback()
        holder.close()
    assert waited < 2.0
