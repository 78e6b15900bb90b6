"""Read-only sessions: the database refuses their writes, and on SQLite they wait for no writer."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from databases import Database
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from broker.db import make_session_factory, session_scope
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
