"""objections: residents' objections to disclosure (GDPR Art. 21)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("dwelling_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dwelling_id"],
            ["dwellings.id"],
            name=op.f("fk_objections_dwelling_id_dwellings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dwelling_id", name=op.f("pk_objections")),
    )


def downgrade() -> None:
    op.drop_table("objections")
