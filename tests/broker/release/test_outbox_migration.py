"""Migration 0011: outbox bodies become content and salt; a delivered receipt is kept as sent."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from alembic import command
from databases import Database
from sqlalchemy import select, text

from audit import (
    Draft,
    append,
    canonical_json,
    make_receipt,
    verify_commitment,
    verify_receipt,
)
from audit._storage import log_contents, log_entries
from broker.config import Settings
from broker.db import alembic_config, make_session_factory, session_scope, upgrade
from broker.disclosure import rfc3339
from broker.keys import init_keys, load_keys
from broker.release import Release

AT = dt.datetime(2027, 2, 22, 5, 0, tzinfo=dt.UTC)
CONTENT = {"release_id": "", "recipient": "albertslund/visitation", "vejnavn": "Prøvevej"}


def _downgrade(database: Database, revision: str) -> None:
    config = alembic_config()
    with database.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def _old_entry(database: Database, ring_home: Path, release_id: str) -> tuple[int, str, str]:
    """Put a release's entry on the log; return its index, salt (hex) and receipt.

    The log is written as it is now, before the downgrade: the entries and checkpoints
    kept their form since revision 0010 (its sequence counter and the organisations'
    index came later and are dropped and rebuilt by the migrations).
    """
    ring = load_keys(Settings(home=ring_home))
    content = {**CONTENT, "release_id": release_id}
    fields = {"time": rfc3339(AT), "event": "release", "release_id": release_id}
    with session_scope(make_session_factory(database.engine)) as session:
        connection = session.connection()
        appended = append(connection, [Draft(fields, canonical_json(content))], ring.signer())
        seq = appended.first_seq
        salt_query = select(log_contents.c.salt).where(log_contents.c.seq == seq)
        salt = connection.execute(salt_query).scalar_one()
        return seq, bytes(salt).hex(), make_receipt(connection, seq)


def _old_row(database: Database, release_id: str, status: str, entry: tuple[int, str, str]) -> str:
    """Put an outbox row in the old format (revision 0010) for ``entry``; return its receipt."""
    seq, salt, receipt = entry
    content = {**CONTENT, "release_id": release_id}
    # The old body: the content in insertion order, as json.dumps wrote it.
    document = {"release": content, "salt": salt, "receipt": receipt}
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO releases (id, policy_id, policy_hash, recipient, mode, run_at,"
                " created_at, log_seq, dwellings, withdrawn, payload, status, attempts,"
                " next_attempt_at) VALUES (:id, 'p', 'h', 'albertslund/visitation', 'snapshot',"
                " :at, :at, :seq, 6, 0, :payload, :status, 1, :at)"
            ),
            {"id": release_id, "at": AT, "seq": seq, "payload": payload, "status": status},
        )
    return receipt


def test_old_bodies_split_into_content_and_salt_and_back(
    database: Database, tmp_path: Path
) -> None:
    """Up: content bytes on record, salt, the delivered receipt kept; down: bodies again."""
    init_keys(Settings(home=tmp_path))
    ring = load_keys(Settings(home=tmp_path))
    entries = {
        name: _old_entry(database, tmp_path, name) for name in ("rel-delivered", "rel-pending")
    }
    _downgrade(database, "0010")
    sent = _old_row(database, "rel-delivered", "delivered", entries["rel-delivered"])
    _old_row(database, "rel-pending", "pending", entries["rel-pending"])
    upgrade(database.engine)

    with database.engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(select(Release)).all()}
        commitments = {
            json.loads(bytes(entry))["release_id"]: json.loads(bytes(entry))["commitment"]
            for entry in connection.scalars(select(log_entries.c.entry))
        }
    for release_id, row in rows.items():
        assert verify_commitment(commitments[release_id], row.salt, row.content)
        assert json.loads(row.content)["vejnavn"] == "Prøvevej"
    assert rows["rel-delivered"].receipt == sent
    assert rows["rel-pending"].receipt is None  # cut when it is delivered

    _downgrade(database, "0010")
    with database.engine.connect() as connection:
        found = connection.execute(text("SELECT id, payload FROM releases ORDER BY id")).all()
    bodies = {release_id: json.loads(bytes(payload)) for release_id, payload in found}
    assert bodies["rel-delivered"]["receipt"] == sent
    pending = verify_receipt(bodies["rel-pending"]["receipt"], ring.origin, ring.verifiers())
    assert json.loads(pending.entry)["release_id"] == "rel-pending"
    assert canonical_json(bodies["rel-pending"]["release"]) == rows["rel-pending"].content
    upgrade(database.engine)
