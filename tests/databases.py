"""Test databases: migrated SQLite files and isolated PostgreSQL schemas."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from broker.db import make_engine, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    return os.environ.get("BROKER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _schema_url(schema: str) -> str:
    url = make_url(postgres_url())
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


class Database:
    """A migrated, isolated database: a SQLite file or a PostgreSQL schema."""

    def __init__(self, backend: str, url: str, schema: str | None, path: Path | None) -> None:
        """Record where the database is and open an engine on it."""
        self.backend = backend
        self.url = url
        self.schema = schema
        self.path = path
        self.engine = make_engine(url)

    def dispose(self) -> None:
        """Close the engine's connections."""
        self.engine.dispose()


def create_database(
    backend: str, directory: Path, request: pytest.FixtureRequest
) -> Iterator[Database]:
    if backend == "sqlite":
        path = directory / "broker.db"
        database = Database("sqlite", f"sqlite:///{path}", None, path)
        upgrade(database.engine)
        yield database
        database.dispose()
        return
    admin: Engine = request.getfixturevalue("postgres_admin")
    schema = "test_" + secrets.token_hex(6)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database("postgresql", _schema_url(schema), schema, None)
    try:
        upgrade(database.engine)
        yield database
    finally:
        database.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
