"""Sequencing in the writer's transaction, integration apart: on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from audit import (
    Draft,
    ProofError,
    ReceiptError,
    Signer,
    VerificationError,
    Verifier,
    append,
    integrate,
    leaf_hash,
    make_receipt,
    open_note,
    parse_checkpoint,
    read_head,
    sequence,
    sequenced_size,
    tree_root,
    verify_database,
    verify_receipt,
)

ORIGIN = "test.example/disclosure-log"
TIME = "2026-12-03T08:00:00Z"


@pytest.fixture
def signer() -> Signer:
    return Signer(ORIGIN, (Ed25519PrivateKey.generate(),))


def draft(n: int, content: bytes | None = None) -> Draft:
    return Draft({"time": TIME, "event": "release", "actor": f"test-{n}"}, content)


def count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608 - a test constant


def verify(connection: Connection, signer: Signer) -> tuple[int, int]:
    verifier = Verifier.of(ORIGIN, signer.keys[0].public_key())
    result, _, _ = verify_database(connection, ORIGIN, [verifier])
    return result.size, result.pending


def test_sequencing_stores_entries_only(database: Database, signer: Signer) -> None:
    """A writer's transaction numbers and stores its entries: no node, no checkpoint, no head."""
    with database.engine.begin() as connection:
        append(connection, [draft(0)], signer)
    with database.engine.begin() as connection:
        first = sequence(connection, [draft(1, b"released"), draft(2), draft(3)])
    assert first.first_seq == 1
    assert first.salts[0] is not None
    assert first.salts[1:] == (None, None)
    with database.engine.connect() as connection:
        assert sequenced_size(connection) == 4
        assert read_head(connection)[0] == 1
        assert count(connection, "log_checkpoints") == 1
        assert count(connection, "log_nodes") == 0
        # Whole and numbered, but not yet under a checkpoint: pending, and no receipt.
        assert verify(connection, signer) == (1, 3)
        with pytest.raises(ReceiptError):
            make_receipt(connection, 2)


def test_one_integration_covers_every_waiting_entry(database: Database, signer: Signer) -> None:
    """Three writers' entries end under one signed checkpoint; the tree is RFC 6962's."""
    for n in range(3):
        with database.engine.begin() as connection:
            sequence(connection, [draft(2 * n), draft(2 * n + 1)])
    with database.engine.begin() as connection:
        integrated = integrate(connection, signer)
    assert integrated is not None
    assert (integrated.old_size, integrated.size) == (0, 6)
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT entry FROM log_entries ORDER BY seq"))
        leaves = [leaf_hash(bytes(row.entry)) for row in rows]
        assert integrated.root == tree_root(leaves)
        assert read_head(connection) == (6, integrated.root)
        assert count(connection, "log_checkpoints") == 1
        assert verify(connection, signer) == (6, 0)
        receipt = make_receipt(connection, 4)
    verifier = Verifier.of(ORIGIN, signer.keys[0].public_key())
    body, _ = open_note(integrated.checkpoint, [verifier])
    assert parse_checkpoint(body).size == 6
    assert verify_receipt(receipt, ORIGIN, [verifier]).checkpoint.size == 6
    # Nothing waits: nothing is signed.
    with database.engine.begin() as connection:
        assert integrate(connection, signer) is None
        assert count(connection, "log_checkpoints") == 1


def test_integration_in_batches(database: Database, signer: Signer) -> None:
    """``limit`` bounds one integration; the next one goes on from where it stopped."""
    with database.engine.begin() as connection:
        sequence(connection, [draft(n) for n in range(7)])
    sizes = []
    while True:
        with database.engine.begin() as connection:
            integrated = integrate(connection, signer, limit=3)
        if integrated is None:
            break
        sizes.append(integrated.size)
    assert sizes == [3, 6, 7]
    with database.engine.connect() as connection:
        assert verify(connection, signer) == (7, 0)


def test_a_gap_beyond_the_head_is_never_signed(database: Database, signer: Signer) -> None:
    """An entry deleted before integration (triggers dropped) stops the integrator cold."""
    with database.engine.begin() as connection:
        append(connection, [draft(0)], signer)
        sequence(connection, [draft(n) for n in range(1, 5)])
    with database.engine.begin() as connection:
        if database.backend == "sqlite":
            connection.execute(text("DROP TRIGGER log_entries_no_delete"))
        else:
            connection.execute(text("DROP TRIGGER log_entries_no_change ON log_entries"))
        connection.execute(text("DELETE FROM log_entries WHERE seq = 2"))
    with database.engine.connect() as connection:
        with pytest.raises(ProofError, match="entry 2 is missing"):
            integrate(connection, signer)
        connection.rollback()
        assert count(connection, "log_checkpoints") == 1
        with pytest.raises(VerificationError) as excinfo:
            verify(connection, signer)
        assert excinfo.value.seq == 2


def test_a_pending_entry_altered_is_caught(database: Database, signer: Signer) -> None:
    """Before its checkpoint, an entry changed without its leaf hash fails verification."""
    with database.engine.begin() as connection:
        append(connection, [draft(0)], signer)
        sequence(connection, [draft(1, b"x")])
    with database.engine.begin() as connection:
        if database.backend == "sqlite":
            connection.execute(text("DROP TRIGGER log_contents_no_update"))
        else:
            connection.execute(text("DROP TRIGGER log_contents_no_change ON log_contents"))
        connection.execute(
            text("UPDATE log_contents SET content = :c WHERE seq = 1"), {"c": b"\x00"}
        )
    with database.engine.connect() as connection, pytest.raises(VerificationError) as excinfo:
        verify(connection, signer)
    assert excinfo.value.seq == 1
    assert "does not match its commitment" in str(excinfo.value)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_sequence SET size = size - 1",
        "UPDATE log_sequence SET id = 2",
        "DELETE FROM log_sequence",
    ],
)
def test_the_sequence_cannot_go_back(database: Database, statement: str) -> None:
    """The counter only grows: moving it back (to reuse numbers) fails in the database."""
    with database.engine.begin() as connection:
        sequence(connection, [draft(0), draft(1)])
    with database.engine.connect() as connection:
        with pytest.raises(DBAPIError) as excinfo:
            connection.execute(text(statement))
        assert "the disclosure log is append-only" in str(excinfo.value.orig)
        connection.rollback()
        assert sequenced_size(connection) == 2
