"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from databases import Database
from sqlalchemy.exc import IntegrityError

import broker.access.models
import broker.accounts.models
import broker.contact.models
import broker.disclosure.models
import broker.policy.models
import broker.release.models
import broker.renovation.models
import broker.scheduler.models  # noqa: F401 - registers the tables
from audit._storage import metadata as audit_metadata
from broker.db import Base, make_engine, upgrade


def test_models_match_migrations(database: Database) -> None:
    """After `upgrade head` there is no difference left for a new migration to make."""
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        diff = compare_metadata(context, [Base.metadata, audit_metadata])
    assert diff == []


def test_sqlite_connections_enforce_foreign_keys(tmp_path: Path) -> None:
    """Every SQLite connection runs in WAL mode with foreign keys enforced."""
    engine = make_engine(f"sqlite:///{tmp_path / 'broker.db'}")
    upgrade(engine)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            with pytest.raises(IntegrityError):
                connection.exec_driver_sql(
                    'INSERT INTO phases (dwelling_id, kind, start, "end") '
                    "VALUES (999, 'genhusning', '2027-01-01', '2027-01-02')"
                )
    finally:
        engine.dispose()
