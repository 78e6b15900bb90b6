"""Reviews of the log are one service call each: paged by the database, each read recorded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from audit import Draft, EntryValue
from audit._storage import log_entries
from broker.config import Settings
from broker.disclosure import (
    EntryFilter,
    Reader,
    record,
    review_entries,
    review_entry,
    review_newest,
)
from broker.errors import NotFound
from broker.keys import KeyRing, init_keys, load_keys

NOW = dt.datetime(2026, 11, 30, 9, tzinfo=dt.UTC)
ORG = "bo-vest"
CPR, EMAIL, NAME = "3201901234", "jens.hansen@example.dk", "Jens Hansen"


def _ring(home: Path) -> KeyRing:
    settings = Settings(home=home)
    init_keys(settings)
    return load_keys(settings)


def _grow(session: Session, ring: KeyRing, count: int) -> None:
    """Append ``count`` entries, every third one another organisation's, in one batch."""
    drafts = []
    for n in range(count):
        fields: dict[str, EntryValue] = {
            "time": "2026-11-25T08:00:00Z",
            "event": "release" if n % 2 else "delivery",
            "actor": "broker",
            "discloser": "bo-oest" if n % 3 == 0 else ORG,
        }
        drafts.append(Draft(fields))
    record(session, ring, drafts)


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


def _page_cost(session: Session, ring: KeyRing, *, after: int) -> tuple[int, list[int]]:
    """Return the statements one page ran and the page's sequence numbers."""
    with _statements(session) as seen:
        page = review_entries(
            session, ring, Reader("token:t1", ORG), EntryFilter(), at=NOW, after=after, limit=20
        )
    assert page.next_after is not None
    # One SELECT reads the page; the rest append the read's own entry.
    assert len([s for s in seen if s.startswith("SELECT log_entries.entry")]) == 1
    return len(seen), [int(e["seq"]) for e in page.entries]


def test_a_page_costs_the_same_statements_whatever_the_log_size(
    session: Session, tmp_path: Path
) -> None:
    """50 or 5,000 entries: one page of the auditor's list runs as many SQL statements.

    Both reads append their own entry at an even size, where the tree's append
    writes the same rows: what differs could only be the paging.
    """
    ring = _ring(tmp_path)
    _grow(session, ring, 50)
    small, first = _page_cost(session, ring, after=10)
    _grow(session, ring, 4949)  # with the first read's entry: 5,000
    large, later = _page_cost(session, ring, after=4000)
    assert small == large
    assert len(first) == len(later) == 20
    assert all(seq % 3 for seq in later)  # only the caller's organisation's
    assert later[0] > 4000


def test_a_read_records_no_filter_value(session: Session, tmp_path: Path) -> None:
    """The audit-read entry names the query and period, never a value typed into a filter."""
    ring = _ring(tmp_path)
    _grow(session, ring, 5)
    where = EntryFilter(event=NAME, recipient=CPR, policy_id=EMAIL)
    page = review_entries(session, ring, Reader("cli"), where, at=NOW)
    assert page.entries == []
    newest = session.scalar(select(log_entries.c.entry).order_by(log_entries.c.seq.desc()))
    text = bytes(newest).decode()
    assert '"audit-read"' in text
    assert all(value not in text for value in (CPR, EMAIL, NAME))


def _newest_cost(session: Session, ring: KeyRing, *, before: int | None) -> tuple[int, list[int]]:
    """Return the statements one newest-first page ran and the page's sequence numbers."""
    with _statements(session) as seen:
        page = review_newest(
            session, ring, Reader("user:u1", ORG), EntryFilter(), at=NOW, before=before, limit=25
        )
    assert page.next_before is not None
    assert len([s for s in seen if s.startswith("SELECT log_entries.entry")]) == 1
    return len(seen), [int(e["seq"]) for e in page.entries]


def test_a_newest_first_page_costs_the_same_whatever_the_log_size(
    session: Session, tmp_path: Path
) -> None:
    """The pages' newest-first list: as many statements at 50 or 5,000 entries, newest first."""
    ring = _ring(tmp_path)
    _grow(session, ring, 50)
    small, first = _newest_cost(session, ring, before=None)
    _grow(session, ring, 4949)
    large, later = _newest_cost(session, ring, before=3000)
    assert small == large
    assert len(first) == len(later) == 25
    assert first == sorted(first, reverse=True)
    assert later == sorted(later, reverse=True)
    assert later[0] < 3000
    assert all(seq % 3 for seq in later)


def test_one_entry_is_the_readers_or_not_found(session: Session, tmp_path: Path) -> None:
    """An entry of the reader's organisation reads with its bytes; another's is NotFound."""
    ring = _ring(tmp_path)
    _grow(session, ring, 6)
    found = review_entry(session, ring, Reader("user:u1", ORG), 1, at=NOW)
    assert found.entry["seq"] == 1
    assert found.canonical.startswith(b"{")
    assert len(found.leaf_hash) == 32
    with pytest.raises(NotFound):
        review_entry(session, ring, Reader("user:u1", ORG), 3, at=NOW)  # bo-oest's
    with pytest.raises(NotFound):
        review_entry(session, ring, Reader("user:u1", ORG), 10_000, at=NOW)
