"""Shared fixtures: real databases (SQLite files and PostgreSQL schemas), built by migrations.

PostgreSQL comes from BROKER_TEST_POSTGRES_URL (default: the local server's `test`
database). When it cannot be reached its tests skip with the reason, or fail
when REQUIRE_POSTGRES=1 (as in CI).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from broker.db import make_engine, upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    return os.environ.get("BROKER_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on the PostgreSQL test database, or a skip (a failure in CI) with the reason."""
    engine = make_engine(postgres_url(), pool_pre_ping=True)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any reason to be unreachable is reported
        engine.dispose()
        reason = f"PostgreSQL unreachable at {make_url(postgres_url()).render_as_string()}: {exc}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    yield engine
    engine.dispose()


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


def _create_database(
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


@pytest.fixture(scope="session", params=BACKENDS)
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per backend for the whole run; tests isolate by rollback."""
    yield from _create_database(request.param, tmp_path_factory.mktemp("db"), request)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database for one test: for tests that commit or run the CLI."""
    yield from _create_database(request.param, tmp_path, request)


@pytest.fixture
def session(shared_database: Database) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    connection = shared_database.engine.connect()
    outer = connection.begin()
    db_session = Session(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()
