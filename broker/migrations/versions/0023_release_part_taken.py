"""release_parts.taken_at: when the recipient took each part of a release in parts

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-08

Kept on the part's row, not on the release's: on SQLite an update rewrites the
whole row, and a release's row holds its whole content.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("release_parts") as batch:
        batch.add_column(sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("release_parts") as batch:
        batch.drop_column("taken_at")
