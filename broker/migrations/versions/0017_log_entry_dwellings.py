"""log_entry_dwellings: which dwellings each log entry names, for the list's dwelling filter

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03

The entry list and the access request find the entries about one dwelling in the
database, on a row per (keyed reference, entry) written with each entry from now
on; this migration fills it for the entries before, by the rule of
``broker.disclosure._facts`` (copied here: every text without NUL in the entry's
``dwellings`` list). Like the log's other indexes it is refused UPDATE and DELETE
(and TRUNCATE on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

_MESSAGE = "the disclosure log is append-only"
_TABLE = "log_entry_dwellings"
_BATCH = 1000

_entries = sa.table("log_entries", sa.column("seq", sa.BigInteger), sa.column("entry"))
_dwellings = sa.table(
    _TABLE, sa.column("reference", sa.String), sa.column("seq", sa.BigInteger)
)


def _stored_rows(bind: sa.Connection) -> Iterator[dict[str, Any]]:
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
            named = json.loads(bytes(raw)).get("dwellings")
            if isinstance(named, list):
                texts = {r for r in named if isinstance(r, str) and "\x00" not in r}
                for reference in sorted(texts):
                    yield {"reference": reference, "seq": int(seq)}
        last = int(page[-1][0])


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("reference", sa.String(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("reference", "seq", name=op.f("pk_log_entry_dwellings")),
    )
    bind = op.get_bind()
    batch: list[dict[str, Any]] = []
    for row in _stored_rows(bind):
        batch.append(row)
        if len(batch) == _BATCH:
            bind.execute(sa.insert(_dwellings), batch)
            batch = []
    if batch:
        bind.execute(sa.insert(_dwellings), batch)
    if bind.dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_TABLE}_no_{verb.lower()} BEFORE {verb} ON {_TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )
        return
    # The function log_refuse_change() comes from migration 0004.
    for statement in (
        f"CREATE TRIGGER {_TABLE}_no_change BEFORE UPDATE OR DELETE ON {_TABLE} "
        "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()",
        f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
        "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()",
        f"ALTER TABLE {_TABLE} ENABLE ALWAYS TRIGGER {_TABLE}_no_change",
        f"ALTER TABLE {_TABLE} ENABLE ALWAYS TRIGGER {_TABLE}_no_truncate",
    ):
        op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its triggers.
    op.drop_table(_TABLE)
