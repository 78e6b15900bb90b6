"""disclosure log: a stored content may be deleted only by the retention purge that lists it

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01

A DELETE on ``log_contents`` is refused unless the newest entry of the log is a
``retention-purge`` entry whose ``purged_seqs`` ranges (``"a"`` or ``"a-b"``)
hold the content's sequence number. The purge path (``audit.purge_contents``)
appends that entry and then deletes, in one transaction; the append holds the
head (PostgreSQL locks the row, SQLite has one writer), and a purge deletes all
it lists, so no later transaction finds anything left to delete under it.
TRUNCATE of the contents is refused on PostgreSQL.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_PURGE_ONLY = "a stored content may be deleted only by a retention purge"

_SQLITE_DDL = (
    "CREATE TRIGGER log_contents_no_delete BEFORE DELETE ON log_contents "
    "WHEN NOT EXISTS ("
    " SELECT 1 FROM log_head AS h"
    " JOIN log_entries AS e ON h.id = 1 AND e.seq = h.size - 1"
    " JOIN json_each(CAST(e.entry AS TEXT), '$.purged_seqs') AS r"
    " WHERE json_extract(CAST(e.entry AS TEXT), '$.event') = 'retention-purge'"
    # CAST takes the leading integer of 'a-b'; without '-', substr(v, 1) is v itself.
    " AND OLD.seq BETWEEN CAST(r.value AS INTEGER)"
    " AND CAST(substr(r.value, instr(r.value, '-') + 1) AS INTEGER)"
    f") BEGIN SELECT RAISE(ABORT, '{_PURGE_ONLY}'); END",
)

_POSTGRES_DDL = (
    "CREATE FUNCTION log_contents_purge_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
    "BEGIN IF NOT EXISTS ("
    " SELECT 1 FROM log_head AS h"
    " JOIN log_entries AS e ON h.id = 1 AND e.seq = h.size - 1"
    " CROSS JOIN LATERAL (SELECT convert_from(e.entry, 'UTF8')::jsonb AS doc) AS d"
    " CROSS JOIN LATERAL jsonb_array_elements_text(d.doc -> 'purged_seqs') AS r(v)"
    " WHERE d.doc ->> 'event' = 'retention-purge'"
    " AND OLD.seq BETWEEN split_part(r.v, '-', 1)::bigint"
    " AND COALESCE(NULLIF(split_part(r.v, '-', 2), ''), r.v)::bigint"
    f") THEN RAISE EXCEPTION '{_PURGE_ONLY}'; END IF; RETURN OLD; END $$",
    (
        "CREATE TRIGGER log_contents_no_delete BEFORE DELETE ON log_contents "
        "FOR EACH ROW EXECUTE FUNCTION log_contents_purge_only()"
    ),
    # log_refuse_change() comes from migration 0004.
    (
        "CREATE TRIGGER log_contents_no_truncate BEFORE TRUNCATE ON log_contents "
        "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()"
    ),
    # ENABLE ALWAYS: the triggers fire even under session_replication_role = replica.
    "ALTER TABLE log_contents ENABLE ALWAYS TRIGGER log_contents_no_delete",
    "ALTER TABLE log_contents ENABLE ALWAYS TRIGGER log_contents_no_truncate",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for statement in _SQLITE_DDL if dialect == "sqlite" else _POSTGRES_DDL:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER log_contents_no_truncate ON log_contents")
        op.execute("DROP TRIGGER log_contents_no_delete ON log_contents")
        op.execute("DROP FUNCTION log_contents_purge_only()")
    else:
        op.execute("DROP TRIGGER log_contents_no_delete")
