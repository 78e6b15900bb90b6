"""The entry list's filters run in the database, on the facts written with each entry.

A page of a sparse filter reads about a page of rows, whatever the log's size;
the database selects exactly the entries ``EntryFilter.matches`` accepts; the
facts (and the organisations' index) are append-only, as the log is.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from databases import Database
from sqlalchemy import Connection, event, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit import Draft, EntryValue
from broker.config import Settings
from broker.db import make_session_factory, session_scope
from broker.disclosure import EntryFilter, Reader, entries, record, review_entries
from broker.disclosure.models import EntryFacts
from broker.keys import KeyRing, init_keys, load_keys

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
ORG = "bo-vest"
SPARSE = "contact-check"
"""One entry in 20 is a contact check: the sparse filter."""
CPR, NAME, PHONE = "3201901234", "Jens Hansen", "+45 20 30 40 50"
PAGE = 10


def _ring(home: Path) -> KeyRing:
    settings = Settings(home=home)
    init_keys(settings)
    return load_keys(settings)


def _fields(n: int) -> dict[str, EntryValue]:
    """Entry ``n`` of a varied log: four recipients, three policies, a day in five."""
    fields: dict[str, EntryValue] = {
        "time": f"2026-11-{20 + n % 5:02d}T08:00:00Z",
        "event": SPARSE if n % 20 == 7 else ("release" if n % 2 else "delivery"),
        "actor": "broker",
        "discloser": "bo-oest" if n % 3 == 0 else ORG,
        "recipient": f"albertslund/r{n % 4}",
        "policy_id": f"policy-{n % 3}",
        "dwellings": [f"ref-{n % 7}"],
    }
    if n % 11 == 0:  # an entry naming no recipient and no policy
        del fields["recipient"], fields["policy_id"]
    return fields


def _grow(session: Session, ring: KeyRing, start: int, count: int) -> None:
    record(session, ring, [Draft(_fields(n)) for n in range(start, start + count)])
    if session.get_bind().dialect.name == "postgresql":
        # Fresh statistics, as autovacuum gathers after a bulk write: without them the
        # planner guesses a fresh table's size and may hash the whole index instead.
        session.execute(text("ANALYZE"))


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = session.get_bind().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)


_PG_ROWS = text(
    "SELECT COALESCE(SUM(pg_stat_get_xact_tuples_returned(c.oid)"
    " + pg_stat_get_xact_tuples_fetched(c.oid)), 0)"
    " FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace"
    " WHERE n.nspname = current_schema()"
)
"""Rows and index entries read so far in this transaction, over the schema's relations."""


@contextmanager
def _work(connection: Connection) -> Iterator[list[int]]:
    """Measure the database's work in the block: rows read (PostgreSQL), VM steps (SQLite).

    PostgreSQL counts the tuples its scans return and fetch in the transaction;
    SQLite calls a progress handler every 100 virtual-machine instructions.
    """
    measured: list[int] = []
    if connection.dialect.name == "postgresql":
        before = int(connection.scalar(_PG_ROWS) or 0)
        yield measured
        measured.append(int(connection.scalar(_PG_ROWS) or 0) - before)
        return
    raw = connection.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    steps = [0]

    def step() -> int:
        steps[0] += 1
        return 0

    raw.set_progress_handler(step, 100)
    try:
        yield measured
    finally:
        raw.set_progress_handler(None, 100)
    measured.append(steps[0])


def _page_work(session: Session, where: EntryFilter, *, org: str | None) -> tuple[int, int]:
    """Return the database's work for one page of ``where``, and how many entries it held."""
    with _work(session.connection()) as measured:
        page = list(entries(session.connection(), where, org=org, limit=PAGE + 1))
    return measured[0], len(page)


def _review_statements(session: Session, ring: KeyRing, where: EntryFilter) -> int:
    reader = Reader("token:t1", ORG)
    with _statements(session) as seen:
        review_entries(session, ring, reader, where, at=NOW, limit=PAGE)
    # One SELECT reads the page; the rest append the read's own entry.
    assert len([s for s in seen if s.startswith("SELECT log_entries.entry")]) == 1
    return len(seen)


def test_a_sparse_filter_reads_a_page_whatever_the_log_size(
    session: Session, tmp_path: Path
) -> None:
    """1 entry in 20, or none at all: 600 or 6,000 entries, the page reads about a page.

    The read runs as many statements at both sizes (its own entry lands at an even
    size both times, where the tree's append writes the same rows), and what the
    database counts it read stays about a page. Before the filters ran in the
    database, a page of the sparse filter read twenty pages of entries, and a
    filter matching none the whole log.
    """
    ring = _ring(tmp_path)
    sparse, none = EntryFilter(event=SPARSE), EntryFilter(recipient="no-such/recipient")
    _grow(session, ring, 0, 600)
    small = {
        name: _page_work(session, f, org=ORG) for name, f in [("sparse", sparse), ("none", none)]
    }
    small_statements = _review_statements(session, ring, sparse)
    _grow(session, ring, 600, 5399)  # with the first read's entry: 6,000
    large = {
        name: _page_work(session, f, org=ORG) for name, f in [("sparse", sparse), ("none", none)]
    }
    large_statements = _review_statements(session, ring, sparse)

    assert small_statements == large_statements
    assert small["sparse"][1] == large["sparse"][1] == PAGE + 1
    assert small["none"][1] == large["none"][1] == 0
    if session.get_bind().dialect.name == "postgresql":
        # About a page: index entries and rows of the page's facts, organisations, entries.
        # (At 600 entries the planner may find hashing the small organisations' index
        # cheaper than looking a page up in it: the small log is not held to a page.)
        assert large["sparse"][0] <= 10 * (PAGE + 1), large
        assert large["none"][0] <= 10, large
    else:
        for name in ("sparse", "none"):
            assert large[name][0] <= small[name][0] * 1.2 + 5, (name, small, large)
    print(f"page work, 600 then 6,000 entries: {small} {large}")  # noqa: T201 - the figures


FILTERS = [
    EntryFilter(),
    EntryFilter(event=SPARSE),
    EntryFilter(event="release", recipient="albertslund/r1"),
    EntryFilter(recipient="albertslund/r2", policy_id="policy-1"),
    EntryFilter(policy_id="policy-0", since=dt.date(2026, 11, 22)),
    EntryFilter(since=dt.date(2026, 11, 21), until=dt.date(2026, 11, 23)),
    EntryFilter(until=dt.date(2026, 11, 20)),
    EntryFilter(event="delivery", dwelling_ref="ref-3"),
    EntryFilter(event=NAME, recipient=CPR, policy_id=PHONE),
    EntryFilter(event="release\x00", recipient="albertslund/r1\x00"),  # no text holds NUL
]


@pytest.mark.parametrize("org", [None, ORG, "bo-oest"])
@pytest.mark.parametrize("where", FILTERS, ids=repr)
def test_the_database_selects_what_the_filter_matches(
    session: Session, tmp_path: Path, where: EntryFilter, org: str | None
) -> None:
    """Every filter, page by page too: exactly the entries ``matches`` accepts, in order."""
    ring = _ring(tmp_path)
    _grow(session, ring, 0, 120)
    everything = list(entries(session.connection(), EntryFilter(), org=org))
    expected = [int(e["seq"]) for e in everything if where.matches(e)]
    assert list(entries(session.connection(), where, org=org)) == [
        e for e in everything if where.matches(e)
    ]
    paged: list[int] = []
    while page := list(
        entries(session.connection(), where, org=org, after=(paged or [-1])[-1], limit=7)
    ):
        assert len(page) == 7 or len(paged) + len(page) == len(expected)
        paged += [int(e["seq"]) for e in page]
    assert paged == expected


def test_the_facts_hold_no_personal_data(session: Session, tmp_path: Path) -> None:
    """An entry naming a person (a planted CPR number, name, phone) leaves none in its facts."""
    ring = _ring(tmp_path)
    fields: dict[str, EntryValue] = {
        "time": "2026-11-25T08:00:00Z",
        "event": "release",
        "actor": "broker",
        "recipient": "albertslund/visitation",
        "policy_id": "albertslund-visitation-weekly",
        "dwellings": [CPR],
        "note": f"{NAME} {PHONE}",
    }
    appended = record(session, ring, [Draft(fields)])
    row = session.execute(select(EntryFacts).where(EntryFacts.seq == appended.first_seq)).one()
    facts = row[0]
    stored = (facts.event, facts.recipient, facts.policy_id, facts.day)
    assert stored == (
        "release",
        "albertslund/visitation",
        "albertslund-visitation-weekly",
        dt.date(2026, 11, 25),
    )
    assert all(value not in str(stored) for value in (CPR, NAME, PHONE))


INDEXES = ["log_entry_orgs", "log_entry_facts"]


@pytest.mark.parametrize("table", INDEXES)
@pytest.mark.parametrize("verb", ["UPDATE", "DELETE"])
def test_the_database_refuses_to_change_an_index(
    database: Database, tmp_path: Path, table: str, verb: str
) -> None:
    """UPDATE and DELETE of the log's indexes fail in the database itself (SQLite, PostgreSQL)."""
    ring = _ring(tmp_path)
    with session_scope(make_session_factory(database.engine)) as session:
        _grow(session, ring, 0, 3)
    count_rows = text(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - a test constant
    with database.engine.connect() as connection:
        count = connection.scalar(count_rows)
    assert count
    change = f"UPDATE {table} SET seq = seq + 9" if verb == "UPDATE" else f"DELETE FROM {table}"  # noqa: S608
    with database.engine.connect() as connection, pytest.raises(DBAPIError) as excinfo:
        connection.execute(text(change))
    assert "the disclosure log is append-only" in str(excinfo.value.orig)
    with database.engine.connect() as connection:
        assert connection.scalar(count_rows) == count


@pytest.mark.parametrize(
    "database", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
@pytest.mark.parametrize("table", INDEXES)
def test_postgres_refuses_to_truncate_an_index_even_as_replica(
    database: Database, tmp_path: Path, table: str
) -> None:
    """TRUNCATE fails too, also with session_replication_role = replica (ENABLE ALWAYS)."""
    ring = _ring(tmp_path)
    with session_scope(make_session_factory(database.engine)) as session:
        _grow(session, ring, 0, 3)
    for setup in ("SELECT 1", "SET session_replication_role = replica"):
        for statement in (f"TRUNCATE {table}", f"DELETE FROM {table}"):  # noqa: S608
            with database.engine.connect() as connection:
                connection.execute(text(setup))
                with pytest.raises(DBAPIError) as excinfo:
                    connection.execute(text(statement))
            assert "the disclosure log is append-only" in str(excinfo.value.orig)
