"""releases: the outbox of releases, and what each recipient was last sent per dwelling

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "releases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("policy_hash", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=81), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("log_seq", sa.BigInteger(), nullable=False),
        sa.Column("dwellings", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_releases")),
    )
    with op.batch_alter_table("releases") as batch_op:
        batch_op.create_index(batch_op.f("ix_releases_policy_id"), ["policy_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_releases_recipient"), ["recipient"], unique=False)
        batch_op.create_index(batch_op.f("ix_releases_status"), ["status"], unique=False)
    op.create_table(
        "release_state",
        sa.Column("recipient", sa.String(length=81), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("dwelling_ref", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint(
            "recipient", "policy_id", "dwelling_ref", name=op.f("pk_release_state")
        ),
    )


def downgrade() -> None:
    op.drop_table("release_state")
    op.drop_table("releases")
