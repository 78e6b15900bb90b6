"""disclosure log: append-only entries and the head, refused UPDATE/DELETE by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit import EMPTY_ROOT

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_MESSAGE = "the disclosure log is append-only"

_APPEND_ONLY_DDL: dict[str, tuple[str, ...]] = {
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


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    head = sa.table("log_head", sa.column("id"), sa.column("size"), sa.column("root"))
    op.bulk_insert(head, [{"id": 1, "size": 0, "root": EMPTY_ROOT}])
    for statement in _APPEND_ONLY_DDL[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    # Dropping the tables drops their triggers; the log itself cannot be downgraded away
    # by accident: this has to be run on purpose.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE log_head, log_entries")
        op.execute("DROP FUNCTION log_refuse_change()")
    else:
        op.drop_table("log_head")
        op.drop_table("log_entries")
