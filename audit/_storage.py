"""Log storage: append-only tables, enforced by the database, and a compare-and-swap head.

The tables are plain SQLAlchemy Core so that ``audit`` stays independent of the
broker. Triggers (created by the broker's migration from the DDL below) refuse
UPDATE and DELETE of entries on SQLite and PostgreSQL, and TRUNCATE on
PostgreSQL. The single head row is advanced only when it still holds the size
this writer read, so two processes cannot fork the log.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    insert,
    select,
    update,
)

from audit._merkle import leaf_hash, tree_root

__all__ = [
    "APPEND_ONLY_DDL",
    "ConcurrentAppendError",
    "append_entries",
    "log_entries",
    "log_head",
    "metadata",
    "read_head",
]

metadata = MetaData()

log_entries = Table(
    "log_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

_MESSAGE = "the disclosure log is append-only"

APPEND_ONLY_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        (
            f"CREATE TRIGGER log_entries_no_update BEFORE UPDATE ON log_entries "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        ),
        (
            f"CREATE TRIGGER log_entries_no_delete BEFORE DELETE ON log_entries "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        ),
        (
            f"CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        ),
    ),
    "postgresql": (
        (
            f"CREATE FUNCTION log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN RAISE EXCEPTION '{_MESSAGE}'; END $$"
        ),
        (
            "CREATE TRIGGER log_entries_no_change BEFORE UPDATE OR DELETE ON log_entries "
            "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()"
        ),
        (
            "CREATE TRIGGER log_entries_no_truncate BEFORE TRUNCATE ON log_entries "
            "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()"
        ),
        (
            "CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head "
            "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()"
        ),
        (
            "CREATE TRIGGER log_head_no_truncate BEFORE TRUNCATE ON log_head "
            "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()"
        ),
        # ENABLE ALWAYS: the triggers fire even under session_replication_role = replica.
        "ALTER TABLE log_entries ENABLE ALWAYS TRIGGER log_entries_no_change",
        "ALTER TABLE log_entries ENABLE ALWAYS TRIGGER log_entries_no_truncate",
        "ALTER TABLE log_head ENABLE ALWAYS TRIGGER log_head_no_delete",
        "ALTER TABLE log_head ENABLE ALWAYS TRIGGER log_head_no_truncate",
    ),
}
"""The statements that make the log tables append-only, per SQL dialect."""


class ConcurrentAppendError(RuntimeError):
    """Another writer advanced the log head first; retry the append on a fresh head."""


def read_head(connection: Connection) -> tuple[int, bytes]:
    """Return the log's current size and root hash."""
    row = connection.execute(select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1))
    size, root = row.one()
    return int(size), bytes(root)


def append_entries(connection: Connection, entries: Sequence[bytes]) -> tuple[int, bytes]:
    """Append canonical entries in the caller's transaction; return the new size and root.

    Raises:
        ConcurrentAppendError: the head moved since it was read (nothing is appended
            once the caller's transaction rolls back).
    """
    # 1. Read the head; on PostgreSQL lock it, so concurrent writers queue here.
    query = select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    size, _root = connection.execute(query).one()
    size = int(size)
    # 2. Recompute the root over every stored leaf plus the new ones.
    stored = [
        bytes(h)
        for h in connection.scalars(select(log_entries.c.leaf_hash).order_by(log_entries.c.seq))
    ]
    if len(stored) != size:
        raise ConcurrentAppendError("the stored entries do not match the head size")
    leaves = [leaf_hash(entry) for entry in entries]
    if leaves:
        connection.execute(
            insert(log_entries),
            [
                {"seq": size + i, "entry": entry, "leaf_hash": leaf}
                for i, (entry, leaf) in enumerate(zip(entries, leaves, strict=True))
            ],
        )
    new_size = size + len(leaves)
    new_root = tree_root(stored + leaves)
    # 3. Compare-and-swap: advance the head only from the size that was read.
    result = connection.execute(
        update(log_head)
        .where(log_head.c.id == 1, log_head.c.size == size)
        .values(size=new_size, root=new_root)
    )
    if result.rowcount != 1:
        raise ConcurrentAppendError("the log head moved; retry")
    return new_size, new_root
