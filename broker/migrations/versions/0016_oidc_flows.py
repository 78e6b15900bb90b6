"""oidc_flows: sign-ins under way through an organisation's identity provider

Revision ID: 0016
Revises: 0014
Create Date: 2026-12-02

One row per browser sent to its provider, found again by the hash of a short-lived
cookie when it comes back, used once and deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oidc_flows",
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("flow", sa.Text(), nullable=False),
        sa.Column("next_path", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name=op.f("pk_oidc_flows")),
    )
    op.create_index(op.f("ix_oidc_flows_started_at"), "oidc_flows", ["started_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_oidc_flows_started_at"), table_name="oidc_flows")
    op.drop_table("oidc_flows")
