"""Log storage on SQLite and PostgreSQL: appends, compare-and-swap, triggers refusing change."""

from __future__ import annotations

import pytest
from databases import Database
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from audit._merkle import leaf_hash, tree_root
from audit._storage import ConcurrentAppendError, append_entries, read_head

ENTRIES = [f'{{"seq":{i},"v":1}}'.encode() for i in range(5)]


def test_appends_advance_head_to_the_merkle_root(database: Database) -> None:
    """Appended entries get gapless sequence numbers; the head holds size and RFC 6962 root."""
    with database.engine.begin() as connection:
        assert read_head(connection)[0] == 0
        append_entries(connection, ENTRIES[:2])
    with database.engine.begin() as connection:
        size, root = append_entries(connection, ENTRIES[2:])
    assert size == 5
    assert root == tree_root([leaf_hash(e) for e in ENTRIES])
    with database.engine.connect() as connection:
        assert read_head(connection) == (size, root)
        seqs = list(connection.scalars(text("SELECT seq FROM log_entries ORDER BY seq")))
    assert seqs == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE log_entries SET entry = X'00' WHERE seq = 0",
        "DELETE FROM log_entries WHERE seq = 0",
        "DELETE FROM log_head",
    ],
)
def test_database_refuses_change(database: Database, statement: str) -> None:
    """UPDATE and DELETE of log rows fail in the database itself, with a clear message."""
    with database.engine.begin() as connection:
        append_entries(connection, ENTRIES[:1])
    if database.backend == "postgresql":
        statement = statement.replace("X'00'", "'\\x00'::bytea")
    with database.engine.connect() as connection, pytest.raises(DBAPIError) as excinfo:
        connection.execute(text(statement))
    assert "the disclosure log is append-only" in str(excinfo.value.orig)
    with database.engine.connect() as connection:
        assert read_head(connection)[0] == 1


@pytest.mark.postgres
def test_postgres_refuses_truncate_even_as_replica(database: Database) -> None:
    """TRUNCATE fails, also with session_replication_role = replica (triggers ENABLE ALWAYS)."""
    if database.backend != "postgresql":
        pytest.skip("TRUNCATE and replication roles exist on PostgreSQL only")
    with database.engine.begin() as connection:
        append_entries(connection, ENTRIES[:1])
    for setup in ("SELECT 1", "SET session_replication_role = replica"):
        with database.engine.connect() as connection:
            connection.execute(text(setup))
            with pytest.raises(DBAPIError) as excinfo:
                connection.execute(text("TRUNCATE log_entries"))
        assert "the disclosure log is append-only" in str(excinfo.value.orig)
    with database.engine.connect() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        with pytest.raises(DBAPIError):
            connection.execute(text("DELETE FROM log_entries"))


def test_stale_head_cannot_fork_the_log(database: Database) -> None:
    """A writer whose head moved underneath it is refused; the log keeps one history."""
    with database.engine.begin() as connection:
        append_entries(connection, ENTRIES[:1])
    with database.engine.begin() as connection:
        # Another writer advanced the head without the entries (as a fork would).
        connection.execute(text("UPDATE log_head SET size = size + 1 WHERE id = 1"))
    with database.engine.connect() as connection, pytest.raises(ConcurrentAppendError):
        append_entries(connection, ENTRIES[1:2])
