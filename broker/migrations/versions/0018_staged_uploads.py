"""staged_uploads: uploads checked on the pages, waiting for the officer's confirmation

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03

One row per upload previewed in the browser: the validated schedule (personal
columns already dropped) or, when rejected, its problems by row, column and rule;
deleted when confirmed, discarded or expired.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staged_uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("org", sa.String(length=40), nullable=False),
        sa.Column("staged_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_format", sa.String(length=8), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("dropped_columns", sa.JSON(), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=True),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staged_uploads")),
    )
    op.create_index(op.f("ix_staged_uploads_expires_at"), "staged_uploads", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_staged_uploads_expires_at"), table_name="staged_uploads")
    op.drop_table("staged_uploads")
