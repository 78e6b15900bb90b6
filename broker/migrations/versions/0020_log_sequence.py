"""log_sequence: entries are sequenced in the writer's transaction, integrated apart

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03

The one row counts the sequenced entries (the next entry's number). A writer only
advances it and stores its entries; the integrator extends the tree and signs the
head (``log_head``) later. The row starts at the head's size: every entry before
this migration is integrated. It may not be deleted, truncated or moved back.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_MESSAGE = "the disclosure log is append-only"

_DDL: dict[str, tuple[str, ...]] = {
    "sqlite": (
        (
            "CREATE TRIGGER log_sequence_no_delete BEFORE DELETE ON log_sequence "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        ),
        (
            "CREATE TRIGGER log_sequence_no_rewind BEFORE UPDATE ON log_sequence "
            f"WHEN NEW.size < OLD.size OR NEW.id != OLD.id "
            f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        ),
    ),
    "postgresql": (
        (
            "CREATE FUNCTION log_sequence_refuse_rewind() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF NEW.size < OLD.size OR NEW.id <> OLD.id THEN "
            f"RAISE EXCEPTION '{_MESSAGE}'; END IF; RETURN NEW; END $$"
        ),
        (
            "CREATE TRIGGER log_sequence_no_rewind BEFORE UPDATE ON log_sequence "
            "FOR EACH ROW EXECUTE FUNCTION log_sequence_refuse_rewind()"
        ),
        # log_refuse_change() comes from migration 0004.
        (
            "CREATE TRIGGER log_sequence_no_delete BEFORE DELETE ON log_sequence "
            "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()"
        ),
        (
            "CREATE TRIGGER log_sequence_no_truncate BEFORE TRUNCATE ON log_sequence "
            "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()"
        ),
        "ALTER TABLE log_sequence ENABLE ALWAYS TRIGGER log_sequence_no_rewind",
        "ALTER TABLE log_sequence ENABLE ALWAYS TRIGGER log_sequence_no_delete",
        "ALTER TABLE log_sequence ENABLE ALWAYS TRIGGER log_sequence_no_truncate",
    ),
}


def upgrade() -> None:
    op.create_table(
        "log_sequence",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute("INSERT INTO log_sequence (id, size) SELECT id, size FROM log_head WHERE id = 1")
    for statement in _DDL[op.get_bind().dialect.name]:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE log_sequence")
        op.execute("DROP FUNCTION log_sequence_refuse_rewind()")
    else:
        op.drop_table("log_sequence")
