"""releases: keep the content and salt, cut the receipt at delivery (after the witnesses)

The outbox held the whole body with a receipt cut at commit, before any witness
had seen the entry. It now holds the content's canonical bytes and the salt; the
receipt is cut at delivery and kept as delivered, with why it carries no
cosignature when it does not. Rows already delivered keep the receipt they went
out with; pending and failed ones get a fresh receipt when they are delivered.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

from audit import canonical_json, make_receipt

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_releases = sa.table(
    "releases",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("log_seq", sa.BigInteger),
    sa.column("payload", sa.LargeBinary),
    sa.column("content", sa.LargeBinary),
    sa.column("salt", sa.LargeBinary),
    sa.column("receipt", sa.Text),
)


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch_op:
        batch_op.add_column(sa.Column("content", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("salt", sa.LargeBinary(length=32), nullable=True))
        batch_op.add_column(sa.Column("receipt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("receipt_uncosigned", sa.String(length=100), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(sa.select(_releases.c.id, _releases.c.status, _releases.c.payload))
    for release_id, status, payload in list(rows):
        # The body was {"release": CONTENT, "salt": HEX, "receipt": TEXT}; the entry commits
        # to CONTENT's RFC 8785 bytes, which is what the receiver re-derives.
        document = json.loads(bytes(payload))
        connection.execute(
            _releases.update()
            .where(_releases.c.id == release_id)
            .values(
                content=canonical_json(document["release"]),
                salt=bytes.fromhex(document["salt"]),
                receipt=document["receipt"] if status == "delivered" else None,
            )
        )
    with op.batch_alter_table("releases") as batch_op:
        batch_op.alter_column("content", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("salt", existing_type=sa.LargeBinary(length=32), nullable=False)
        batch_op.drop_column("payload")


def downgrade() -> None:
    with op.batch_alter_table("releases") as batch_op:
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    columns = (_releases.c.id, _releases.c.log_seq, _releases.c.content, _releases.c.salt)
    rows = connection.execute(sa.select(*columns, _releases.c.receipt))
    for release_id, seq, content, salt, receipt in list(rows):
        # The old format holds a receipt: one not yet delivered gets one cut now.
        document = {
            "release": json.loads(bytes(content)),
            "salt": bytes(salt).hex(),
            "receipt": receipt or make_receipt(connection, int(seq)),
        }
        payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
        connection.execute(
            _releases.update().where(_releases.c.id == release_id).values(payload=payload)
        )
    with op.batch_alter_table("releases") as batch_op:
        batch_op.alter_column("payload", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.drop_column("receipt_uncosigned")
        batch_op.drop_column("receipt")
        batch_op.drop_column("salt")
        batch_op.drop_column("content")
