"""disclosure log: stored tree nodes, signed checkpoints, cosignatures, purgeable contents

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MESSAGE = "the disclosure log is append-only"
_SEALED = ("log_nodes", "log_checkpoints", "log_cosignatures")


def _sqlite_ddl() -> list[str]:
    guarded = [(table, verb) for table in _SEALED for verb in ("UPDATE", "DELETE")]
    guarded.append(("log_contents", "UPDATE"))
    return [
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
        for table, verb in guarded
    ]


def _postgres_ddl() -> list[str]:
    # The function log_refuse_change() comes from migration 0004.
    statements: list[str] = []
    guarded = [(table, "UPDATE OR DELETE") for table in _SEALED]
    guarded.append(("log_contents", "UPDATE"))
    for table, verbs in guarded:
        statements += [
            f"CREATE TRIGGER {table}_no_change BEFORE {verbs} ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION log_refuse_change()",
            f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
        ]
        if table != "log_contents":  # contents may be deleted by a retention purge
            statements += [
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION log_refuse_change()",
                f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
            ]
    return statements


def upgrade() -> None:
    op.create_table(
        "log_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size"),
    )
    op.create_table(
        "log_cosignatures",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("witness", sa.String(length=256), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size", "witness"),
    )
    op.create_table(
        "log_contents",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("salt", sa.LargeBinary(length=32), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    dialect = op.get_bind().dialect.name
    for statement in _sqlite_ddl() if dialect == "sqlite" else _postgres_ddl():
        op.execute(statement)


def downgrade() -> None:
    for table in ("log_contents", "log_cosignatures", "log_checkpoints", "log_nodes"):
        op.drop_table(table)
