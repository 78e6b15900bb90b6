"""Sessions refuse to change the disclosure log before the statement reaches the database."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from sqlalchemy import delete, select, update
from sqlalchemy.sql.dml import Delete, Update

from audit import Draft, Signer, append, purge_contents
from audit._storage import (
    log_checkpoints,
    log_contents,
    log_cosignatures,
    log_entries,
    log_head,
    log_nodes,
)
from broker.db import LogMutationError, make_session_factory
from broker.disclosure.models import EntryFacts, EntryOrg

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
    update(EntryOrg).values(org="x"),
    delete(EntryOrg),
    update(EntryFacts).values(event="x"),
    delete(EntryFacts),
]


@pytest.mark.parametrize("statement", REFUSED, ids=lambda s: f"{type(s).__name__}-{s.table}")
def test_session_refuses_log_mutation(database: Database, statement: Update | Delete) -> None:
    """UPDATE and DELETE of sealed log tables and indexes raise in the session, naming the table."""
    with make_session_factory(database.engine)() as session, pytest.raises(LogMutationError):
        session.execute(statement)


def test_session_allows_what_the_log_needs(database: Database) -> None:
    """Appending, advancing the head and purging contents (the purge path) still go through."""
    signer = Signer("test.example/log", (Ed25519PrivateKey.generate(),))
    fields = {"time": "2026-11-25T08:00:00Z", "event": "release"}
    with make_session_factory(database.engine)() as session, session.begin():
        append(session.connection(), [Draft(fields, b"content")], signer)
        purge_contents(session.connection(), [0], {"time": "2026-11-26T08:00:00Z"}, signer)
        assert session.scalar(select(log_contents.c.seq)) is None
        session.execute(update(log_head).where(log_head.c.id == 1).values(size=2))
        assert session.scalar(select(log_head.c.size)) == 2
