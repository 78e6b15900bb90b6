"""release_parts: a large release is delivered as numbered parts under one manifest

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07

``parts`` is how many parts the release is sent in (1: one body, as before);
``manifest`` the RFC 8785 bytes of the manifest its log entry commits to when it
is sent in parts (null otherwise: the entry commits to ``content``);
``parts_delivered`` how many of its parts the recipient has taken, so a retry
goes on from the next one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("parts", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(
            sa.Column("parts_delivered", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("manifest", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("manifest")
        batch.drop_column("parts_delivered")
        batch.drop_column("parts")
