"""contact_checks: one dwelling, one coordinator, requested -> received -> consent or closed

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "contact_checks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("dwelling_ref", sa.String(length=16), nullable=False),
        sa.Column("org", sa.String(length=40), nullable=False),
        sa.Column("department", sa.String(length=40), nullable=False),
        sa.Column("coordinator", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=81), nullable=False),
        sa.Column("policy_id", sa.String(length=64), nullable=False),
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("consent_reference", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_checks")),
        sa.UniqueConstraint("release_id", name=op.f("uq_contact_checks_release_id")),
    )
    with op.batch_alter_table("contact_checks") as batch_op:
        batch_op.create_index(batch_op.f("ix_contact_checks_dwelling_ref"), ["dwelling_ref"])
        batch_op.create_index(batch_op.f("ix_contact_checks_recipient"), ["recipient"])
        batch_op.create_index(batch_op.f("ix_contact_checks_status"), ["status"])


def downgrade() -> None:
    op.drop_table("contact_checks")
