"""Shared fixtures: real databases (SQLite files and PostgreSQL schemas), built by migrations.

PostgreSQL comes from BROKER_TEST_POSTGRES_URL (default: the local server's `test`
database); under pytest-xdist each worker creates and drops its own database there.
When it cannot be reached its tests skip with the reason, or fail when
REQUIRE_POSTGRES=1 (as in CI).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from browsing import (  # noqa: F401 - the browser tests' option, hook and fixtures
    base_url,
    browser,
    browser_context_args,
    browser_type,
    browser_type_launch_args,
    launch_browser,
    playwright,
    pytest_addoption,
    pytest_runtest_teardown,
    screenshot,
)
from databases import (
    BACKENDS,
    Database,
    create_database,
    postgres_url,
    server_url,
    worker_database,
)
from peers import free_port
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from broker.db import make_engine


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An engine on this process's PostgreSQL test database, or a skip (a failure in CI).

    Under pytest-xdist the worker's own database is created here and dropped at the end.
    """
    server = make_engine(server_url(), pool_pre_ping=True)
    try:
        with server.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any reason to be unreachable is reported
        server.dispose()
        reason = f"PostgreSQL unreachable at {make_url(server_url()).render_as_string()}: {exc}"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    name = worker_database()
    if name is not None:
        _create_database(server, name)
    engine = make_engine(postgres_url(), pool_pre_ping=True)
    try:
        yield engine
    finally:
        engine.dispose()
        if name is not None:
            _drop_database(server, name)
        server.dispose()


def _create_database(server: Engine, name: str) -> None:
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))


def _drop_database(server: Engine, name: str) -> None:
    # FORCE: a `broker serve` a failed test left running must not keep the database.
    with server.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session", params=BACKENDS)
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per backend for the whole run; tests isolate by rollback."""
    yield from create_database(request.param, tmp_path_factory.mktemp("db"), request)


@pytest.fixture(params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A fresh migrated database for one test: for tests that commit or run the CLI."""
    yield from create_database(request.param, tmp_path, request)


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


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def iam_server_port() -> int:
    """pytest-iam's OpenID Connect provider listens on a port of this worker's own block."""
    return free_port()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the tests marked slow first, the rest in pytest's order.

    Under pytest-xdist (`make test` hands out two tests at a time) the longest tests then
    start at once on every worker, rather than one of them running alone at the end.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
