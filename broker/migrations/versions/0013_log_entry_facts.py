"""log_entry_facts: what each log entry is about; the log's indexes are append-only

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

The entry list filters by event, recipient, policy and day in the database, on
a row of facts written with each entry from now on; this migration fills it for
the entries before, by the rule of ``broker.disclosure._facts`` (copied here, as
a migration must not change when that module does). Both indexes of the log,
``log_entry_orgs`` and ``log_entry_facts``, are then refused UPDATE and DELETE
(and TRUNCATE on PostgreSQL) as the log's own tables are (0004, 0005).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_MESSAGE = "the disclosure log is append-only"
_GUARDED = ("log_entry_orgs", "log_entry_facts")
_BATCH = 1000

_entries = sa.table("log_entries", sa.column("seq", sa.BigInteger), sa.column("entry"))
_facts = sa.table(
    "log_entry_facts",
    sa.column("seq", sa.BigInteger),
    sa.column("event", sa.String),
    sa.column("recipient", sa.String),
    sa.column("policy_id", sa.String),
    sa.column("day", sa.Date),
)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and "\x00" not in value else None


def _day(value: object) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def _stored_facts(bind: sa.Connection) -> Iterator[dict[str, Any]]:
    # Page by sequence number: the log may hold millions.
    last = -1
    while True:
        page = bind.execute(
            sa.select(_entries.c.seq, _entries.c.entry)
            .where(_entries.c.seq > last)
            .order_by(_entries.c.seq)
            .limit(_BATCH)
        ).all()
        if not page:
            return
        for seq, raw in page:
            entry = json.loads(bytes(raw))
            yield {
                "seq": int(seq),
                "event": _text(entry.get("event")),
                "recipient": _text(entry.get("recipient")),
                "policy_id": _text(entry.get("policy_id")),
                "day": _day(entry.get("time")),
            }
        last = int(page[-1][0])


def _sqlite_ddl() -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        for table in _GUARDED
        for verb in ("UPDATE", "DELETE")
    ]


def _postgres_ddl() -> list[str]:
    # The function log_refuse_change() comes from migration 0004.
    statements: list[str] = []
    for table in _GUARDED:
        statements += [
            f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()",
            # ENABLE ALWAYS: the triggers fire even under session_replication_role = replica.
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
        ]
    return statements


def upgrade() -> None:
    op.create_table(
        "log_entry_facts",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event", sa.String(), nullable=True),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("policy_id", sa.String(), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_log_entry_facts")),
    )
    for column in ("event", "recipient", "policy_id", "day"):
        op.create_index(f"ix_log_entry_facts_{column}_seq", "log_entry_facts", [column, "seq"])
    bind = op.get_bind()
    batch: list[dict[str, Any]] = []
    for row in _stored_facts(bind):
        batch.append(row)
        if len(batch) == _BATCH:
            bind.execute(sa.insert(_facts), batch)
            batch = []
    if batch:
        bind.execute(sa.insert(_facts), batch)
    for statement in _sqlite_ddl() if bind.dialect.name == "sqlite" else _postgres_ddl():
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER log_entry_orgs_no_truncate ON log_entry_orgs")
        op.execute("DROP TRIGGER log_entry_orgs_no_change ON log_entry_orgs")
    else:
        op.execute("DROP TRIGGER log_entry_orgs_no_delete")
        op.execute("DROP TRIGGER log_entry_orgs_no_update")
    # Dropping the table drops its triggers.
    op.drop_table("log_entry_facts")
