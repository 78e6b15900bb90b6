"""Sessions refuse to change the disclosure log before the statement reaches the database."""

from __future__ import annotations

import pytest
from databases import Database
from sqlalchemy import delete, insert, select, update
from sqlalchemy.sql.dml import Delete, Update

from audit._storage import (
    log_checkpoints,
    log_contents,
    log_cosignatures,
    log_entries,
    log_head,
    log_nodes,
)
from broker.db import LogMutationError, make_session_factory

REFUSED: list[Update | Delete] = [
    update(log_entries).values(entry=b"x"),
    delete(log_entries),
    update(log_nodes).values(hash=b"x"),
    delete(log_nodes),
    update(log_checkpoints).values(note="x"),
    delete(log_checkpoints),
    update(log_cosignatures).values(line="x"),
    delete(log_cosignatures),
    update(log_contents).values(content=b"x"),
    delete(log_head),
]


@pytest.mark.parametrize("statement", REFUSED, ids=lambda s: f"{type(s).__name__}-{s.table}")
def test_session_refuses_log_mutation(database: Database, statement: Update | Delete) -> None:
    """UPDATE and DELETE of sealed log tables raise in the session, naming the table."""
    with make_session_factory(database.engine)() as session, pytest.raises(LogMutationError):
        session.execute(statement)


def test_session_allows_what_the_log_needs(database: Database) -> None:
    """Appending, advancing the head and purging contents still go through."""
    with make_session_factory(database.engine)() as session, session.begin():
        session.execute(insert(log_contents).values(seq=0, salt=b"s" * 32, content=b"c"))
        session.execute(delete(log_contents))
        session.execute(update(log_head).where(log_head.c.id == 1).values(size=0))
        assert session.scalar(select(log_head.c.size)) == 0
