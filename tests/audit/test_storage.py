"""Log storage on SQLite and PostgreSQL: appends, stored nodes, checkpoints, triggers."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from databases import Database
from sqlalchemy import literal, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from audit import (
    Draft,
    ProofError,
    Signer,
    StoredTree,
    Verifier,
    add_cosignature,
    append,
    best_cosigned,
    consistency_proof,
    content_seqs,
    cosigned_size,
    inclusion_proof,
    latest_checkpoint,
    leaf_hash,
    open_note,
    parse_checkpoint,
    purge_contents,
    read_entries,
    read_head,
    seq_ranges,
    tree_root,
    verify_commitment,
)

ORIGIN = "test.example/disclosure-log"
TIME = "2026-11-25T08:00:00Z"


@pytest.fixture
def signer() -> Signer:
    return Signer(ORIGIN, (Ed25519PrivateKey.generate(),))


def draft(n: int, content: bytes | None = None) -> Draft:
    return Draft({"time": TIME, "event": "release", "actor": f"test-{n}"}, content)


def stored_leaves(database: Database) -> list[bytes]:
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT entry FROM log_entries ORDER BY seq"))
        return [leaf_hash(bytes(row.entry)) for row in rows]


def test_appends_number_entries_and_sign_each_head(database: Database, signer: Signer) -> None:
    """Gapless sequence numbers; each transaction ends with a checkpoint of the RFC 6962 root."""
    with database.engine.begin() as connection:
        first = append(connection, [draft(0), draft(1)], signer)
    with database.engine.begin() as connection:
        second = append(connection, [draft(2)], signer)
    assert (first.first_seq, first.size, second.first_seq, second.size) == (0, 2, 2, 3)
    assert b'"seq":2' in second.entries[0]
    leaves = stored_leaves(database)
    assert second.root == tree_root(leaves)
    with database.engine.connect() as connection:
        assert read_head(connection) == (3, second.root)
        notes = list(connection.execute(text("SELECT size, note FROM log_checkpoints")))
    assert sorted(size for size, _ in notes) == [2, 3]
    verifier = Verifier.of(ORIGIN, signer.keys[0].public_key())
    for size, note in notes:
        body, names = open_note(note, [verifier])
        assert names == (ORIGIN,)
        checkpoint = parse_checkpoint(body)
        assert (checkpoint.size, checkpoint.root) == (size, tree_root(leaves[:size]))


def test_stored_nodes_give_the_same_proofs_as_the_whole_tree(
    database: Database, signer: Signer
) -> None:
    """Proofs built from stored subtrees equal proofs over all leaves, at every size."""
    batches = [1, 3, 1, 7, 2, 9, 1, 4]  # 28 leaves, appended unevenly
    n = 0
    for batch in batches:
        with database.engine.begin() as connection:
            append(connection, [draft(n + i) for i in range(batch)], signer)
        n += batch
    leaves = stored_leaves(database)
    with database.engine.connect() as connection:
        tree = StoredTree(connection)
        for size in range(1, n + 1):
            assert tree.root(size) == tree_root(leaves[:size])
            for index in range(size):
                assert tree.inclusion_proof(index, size) == inclusion_proof(leaves[:size], index)
            assert tree.consistency_proof(max(1, size // 3), size) == consistency_proof(
                leaves[:size], max(1, size // 3)
            )


def test_content_is_stored_apart_behind_a_salted_commitment(
    database: Database, signer: Signer
) -> None:
    """The entry holds only the commitment; salt and bytes sit in log_contents."""
    released = b'{"adresseid":"0a3f50a0-73bf-32b8-e044-0003ba298018"}'
    with database.engine.begin() as connection:
        appended = append(connection, [draft(0, released)], signer)
    entry = appended.entries[0]
    assert released not in entry
    assert b"0a3f50a0" not in entry
    with database.engine.connect() as connection:
        salt, content = connection.execute(text("SELECT salt, content FROM log_contents")).one()
    stated = entry.split(b'"commitment":"')[1].split(b'"')[0].decode()
    assert verify_commitment(stated, bytes(salt), bytes(content))
    assert not verify_commitment(stated, bytes(salt), released + b" ")


def test_append_returns_each_entrys_salt(database: Database, signer: Signer) -> None:
    """The salts an append returns are those stored beside the contents; none without content."""
    with database.engine.begin() as connection:
        appended = append(connection, [draft(0, b"one"), draft(1), draft(2, b"two")], signer)
    with database.engine.connect() as connection:
        rows = connection.execute(text("SELECT seq, salt FROM log_contents ORDER BY seq"))
        stored = {int(seq): bytes(salt) for seq, salt in rows}
        assert content_seqs(connection) == {0, 2}
    assert appended.salts == (stored[0], None, stored[2])
    assert stored[0] != stored[2]


def test_public_reads_page_entries_and_name_checkpoints(database: Database, signer: Signer) -> None:
    """Entries read after a seq and among a set; newest checkpoint; best cosigned checkpoint."""
    with database.engine.begin() as connection:
        append(connection, [draft(0), draft(1)], signer)
        second = append(connection, [draft(2)], signer)
        add_cosignature(connection, 2, "w1", "— w1 x\n")
        add_cosignature(connection, 3, "w2", "— w2 y\n")
        add_cosignature(connection, 3, "w3", "— w3 z\n")
    with database.engine.connect() as connection:
        everything = list(read_entries(connection))
        assert [json.loads(e)["seq"] for e in everything] == [0, 1, 2]
        assert list(read_entries(connection, after=0)) == everything[1:]
        among = select(literal(2).label("seq"))
        assert list(read_entries(connection, among=among)) == everything[2:]
        assert latest_checkpoint(connection, with_cosignatures=False) == (3, second.checkpoint)
        assert latest_checkpoint(connection) == (3, second.checkpoint + "— w2 y\n— w3 z\n")
        assert (cosigned_size(connection, "w1"), cosigned_size(connection, "w9")) == (2, 0)
        assert best_cosigned(connection, 1, ["w1", "w2", "w3"]) == (3, ("w2", "w3"))
        assert best_cosigned(connection, 1, ["w1"]) == (2, ("w1",))
        assert best_cosigned(connection, 2, ["w1"]) is None


REFUSED = [
    "UPDATE log_entries SET entry = X'00' WHERE seq = 0",
    "DELETE FROM log_entries WHERE seq = 0",
    "UPDATE log_nodes SET hash = X'00'",
    "DELETE FROM log_nodes",
    "UPDATE log_checkpoints SET note = 'x'",
    "DELETE FROM log_checkpoints",
    "UPDATE log_cosignatures SET line = 'x'",
    "DELETE FROM log_cosignatures",
    "UPDATE log_contents SET content = X'00'",
    "DELETE FROM log_head",
]


@pytest.mark.parametrize("statement", REFUSED)
def test_database_refuses_change(database: Database, signer: Signer, statement: str) -> None:
    """UPDATE and DELETE of log rows fail in the database itself, with a clear message."""
    with database.engine.begin() as connection:
        append(connection, [draft(0, b"x"), draft(1)], signer)
        connection.execute(
            text("INSERT INTO log_cosignatures (size, witness, line) VALUES (2, 'w', 'l')")
        )
    if database.backend == "postgresql":
        statement = statement.replace("X'00'", "'\\x00'::bytea")
    with database.engine.connect() as connection, pytest.raises(DBAPIError) as excinfo:
        connection.execute(text(statement))
    assert "the disclosure log is append-only" in str(excinfo.value.orig)
    with database.engine.connect() as connection:
        assert read_head(connection)[0] == 2


PURGE_FIELDS = {"time": TIME, "actor": "broker"}


def stored_contents(database: Database) -> list[int]:
    with database.engine.connect() as connection:
        return list(connection.scalars(text("SELECT seq FROM log_contents ORDER BY seq")))


@pytest.mark.parametrize(
    "statement", ["DELETE FROM log_contents WHERE seq = 0", "DELETE FROM log_contents"]
)
def test_a_content_cannot_be_deleted_outside_a_purge(
    database: Database, signer: Signer, statement: str
) -> None:
    """As the application role, deleting a stored content without a purge entry is refused."""
    with database.engine.begin() as connection:
        append(connection, [draft(0, b"x"), draft(1)], signer)
    with database.engine.connect() as connection, pytest.raises(DBAPIError) as excinfo:
        connection.execute(text(statement))
    assert "a stored content may be deleted only by a retention purge" in str(excinfo.value.orig)
    assert stored_contents(database) == [0]


def _delete(database: Database, seq: int) -> None:
    with database.engine.begin() as connection:
        connection.execute(text("DELETE FROM log_contents WHERE seq = :s"), {"s": seq})


def test_the_purge_deletes_only_what_its_entry_lists(database: Database, signer: Signer) -> None:
    """The purge entry comes first and lists what goes; no other content can be deleted under it."""
    with database.engine.begin() as connection:
        append(connection, [draft(0, b"a"), draft(1), draft(2, b"b"), draft(3, b"c")], signer)
    with database.engine.begin() as connection:
        purged = purge_contents(connection, [0, 3], PURGE_FIELDS, signer)
    entry = json.loads(purged.entries[0])
    assert (entry["seq"], entry["event"], entry["purged"]) == (4, "retention-purge", 2)
    assert entry["purged_seqs"] == ["0", "3"]
    assert stored_contents(database) == [2]
    # The purge entry is still the newest, but it does not list entry 2.
    with pytest.raises(DBAPIError):
        _delete(database, 2)
    # An entry of another kind permits nothing, even one that states purged_seqs.
    with database.engine.begin() as connection:
        append(connection, [Draft({**draft(5).fields, "purged_seqs": ["2"]})], signer)
    with pytest.raises(DBAPIError):
        _delete(database, 2)
    assert stored_contents(database) == [2]
    assert len(stored_leaves(database)) == 6


def test_a_range_covers_every_entry_in_it(database: Database, signer: Signer) -> None:
    """A purge of neighbouring contents is one range 'a-b', and the database permits each."""
    with database.engine.begin() as connection:
        append(connection, [draft(n, b"x" if n % 2 else None) for n in range(8)], signer)
    with database.engine.begin() as connection:
        purged = purge_contents(connection, [1, 3, 5], PURGE_FIELDS, signer)
    assert json.loads(purged.entries[0])["purged_seqs"] == ["1-5"]
    assert stored_contents(database) == [7]


@pytest.mark.parametrize(
    ("purged", "stored", "ranges"),
    [
        ([], [1, 2], []),
        ([3], [3], ["3"]),
        ([1, 2, 3, 7], [1, 2, 3, 5, 7], ["1-3", "7"]),
        ([1, 4, 9], [1, 4, 9, 12], ["1-9"]),  # the gaps hold no stored content
        ([2, 6], [1, 2, 4, 6, 8], ["2", "6"]),
    ],
)
def test_seq_ranges(purged: list[int], stored: list[int], ranges: list[str]) -> None:
    """Ranges of purged entries never span a content that stays."""
    assert seq_ranges(purged, stored) == ranges


POSTGRES_ONLY = [pytest.param("postgresql", marks=pytest.mark.postgres)]
"""TRUNCATE and replication roles exist on PostgreSQL only."""
SEALED = [
    "log_entries",
    "log_nodes",
    "log_checkpoints",
    "log_cosignatures",
    "log_head",
    "log_contents",
]


@pytest.mark.parametrize("database", POSTGRES_ONLY, indirect=True)
@pytest.mark.parametrize("table", SEALED)
def test_postgres_refuses_truncate_even_as_replica(
    database: Database, signer: Signer, table: str
) -> None:
    """TRUNCATE fails, also with session_replication_role = replica (triggers ENABLE ALWAYS)."""
    with database.engine.begin() as connection:
        append(connection, [draft(0, b"x"), draft(1)], signer)
        connection.execute(
            text("INSERT INTO log_cosignatures (size, witness, line) VALUES (2, 'w', 'l')")
        )
    for setup in ("SELECT 1", "SET session_replication_role = replica"):
        with database.engine.connect() as connection:
            connection.execute(text(setup))
            with pytest.raises(DBAPIError) as excinfo:
                connection.execute(text(f"TRUNCATE {table} CASCADE"))
        assert "the disclosure log is append-only" in str(excinfo.value.orig)
    with database.engine.connect() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        with pytest.raises(DBAPIError):
            connection.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - a test constant


@pytest.mark.parametrize("shift", [1, -1])
def test_a_head_out_of_step_cannot_fork_the_log(
    database: Database, signer: Signer, shift: int
) -> None:
    """A head that disagrees with the stored entries (a racing or forged writer) is refused."""
    with database.engine.begin() as connection:
        append(connection, [draft(0), draft(1)], signer)
    with database.engine.begin() as connection:
        connection.execute(
            text("UPDATE log_head SET size = size + :shift WHERE id = 1"), {"shift": shift}
        )
    with (
        database.engine.connect() as connection,
        pytest.raises((ProofError, IntegrityError)),
    ):
        append(connection, [draft(2)], signer)
    assert len(stored_leaves(database)) == 2
