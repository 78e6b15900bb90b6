"""disclosure log: append-only entries and the head, refused UPDATE/DELETE by triggers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from audit._merkle import EMPTY_ROOT
from audit._storage import APPEND_ONLY_DDL

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


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
    for statement in APPEND_ONLY_DDL[op.get_bind().dialect.name]:
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
