"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from databases import Database

import broker.schedule.models  # noqa: F401 - registers the tables
from broker.db import Base


def test_models_match_migrations(database: Database) -> None:
    """After `upgrade head` there is no difference left for a new migration to make."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, Base.metadata)
    assert diff == []
