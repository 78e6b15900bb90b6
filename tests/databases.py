"""Test databases: migrated SQLite files and isolated PostgreSQL schemas.

A serial run puts its schemas in the database BROKER_TEST_POSTGRES_URL names; under
pytest-xdist each worker creates its own database on that server (`test_gw0_<run>`)
at its start and drops it at its end, and puts its schemas there.
"""

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


def server_url() -> str:
    """Return the PostgreSQL database the run was given (BROKER_TEST_POSTGRES_URL)."""
    return os.environ.get("BROKER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def worker_database() -> str | None:
    """Return this pytest-xdist worker's own database name, or None in a serial run.

    The name holds the run's id too, so two runs on one server (two engineers, or CI
    beside a developer) never share or drop each other's databases.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return None
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")[:8]
    base = make_url(server_url()).database or "test"
    return f"{base}_{worker}_{run}" if run else f"{base}_{worker}"


def postgres_url() -> str:
    """Return the database this process's tests use: the given one, or the worker's own."""
    name = worker_database()
    if name is None:
        return server_url()
    return make_url(server_url()).set(database=name).render_as_string(hide_password=False)


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
