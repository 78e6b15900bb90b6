"""release_parts: each part of a release in parts, as its RFC 8785 bytes

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08

Cut once, when the release is put on record: delivery reads one part at a time
instead of cutting the whole content again in memory.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "release_parts",
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("part", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("release_id", "part"),
    )


def downgrade() -> None:
    op.drop_table("release_parts")
