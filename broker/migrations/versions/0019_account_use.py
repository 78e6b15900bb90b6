"""account_use: when each API token was last used and each user last signed in; a token's label

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03

The operator's pages (/drift/noegler, /drift/brugere) show them. Both times are new:
rows from before have none (shown as not recorded), and a token's label is empty.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "tokens", sa.Column("label", sa.String(length=60), server_default="", nullable=False)
    )
    op.add_column("tokens", sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "users", sa.Column("last_signed_in_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("last_signed_in_at")
    with op.batch_alter_table("tokens") as batch_op:
        batch_op.drop_column("last_used_at")
        batch_op.drop_column("label")
