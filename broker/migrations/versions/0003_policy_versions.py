"""policy_versions: the exact text of every policy version put in force

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("content_hash", name=op.f("pk_policy_versions")),
    )
    with op.batch_alter_table("policy_versions") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_policy_versions_policy_id"), ["policy_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("policy_versions")
