"""Database access: the declarative base, engines, sessions and migrations.

SQLite runs in WAL mode with foreign keys on; PostgreSQL through psycopg 3.
Sessions are opened and committed at the edge (CLI command, HTTP request, job);
services only ``flush()``. The schema is built by Alembic migrations, never by
``create_all``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, Engine, MetaData, TypeDecorator, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, ORMExecuteState, Session, sessionmaker

from broker.errors import DatabaseUnavailable, LogMutationError, StorageError

__all__ = [
    "Base",
    "LogMutationError",
    "UtcDateTime",
    "make_engine",
    "make_session_factory",
    "read_only_engine",
    "session_scope",
    "storage_error",
    "upgrade",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base of every ORM model, with a naming convention for constraints."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every database (SQLite stores it naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:  # noqa: ARG002
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("datetimes must be timezone-aware")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:  # noqa: ARG002
        """Return an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, dt.datetime)  # noqa: S101 - the column type guarantees it
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs;
    # take it over so that transactions and savepoints behave as on PostgreSQL.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={_PATIENT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # Deleted content (a purge) is overwritten, not left in free pages, whatever the
        # build's default.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A writer's IMMEDIATE takes the write lock up front: two writers queue on
        # busy_timeout instead of failing halfway with SQLITE_BUSY. A reader takes
        # no lock (in WAL it reads beside the writer) and SQLite refuses its writes.
        options = connection.get_execution_options()
        read_only = bool(options.get(_READ_ONLY))
        # An impatient session's connection waits briefly; the pooled connection is set
        # back for the next session only when it was changed (no statement otherwise).
        impatient = bool(options.get(_IMPATIENT))
        info = connection.connection.info
        if info.get(_IMPATIENT, False) != impatient:
            wait = _IMPATIENT_MS if impatient else _PATIENT_MS
            connection.exec_driver_sql(f"PRAGMA busy_timeout={wait}")
            info[_IMPATIENT] = impatient
        connection.exec_driver_sql(f"PRAGMA query_only={'ON' if read_only else 'OFF'}")
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(_READ_ONLY):
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
        if options.get(_IMPATIENT):
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = {_IMPATIENT_MS}")


_READ_ONLY = "broker_read_only"
"""The execution option of a read-only session's engine (``make_session_factory``)."""
_IMPATIENT = "broker_impatient"
"""The execution option of an impatient session's engine (``make_session_factory``)."""
_PATIENT_MS = 30_000
_IMPATIENT_MS = 100
"""How long a write waits for another's lock (ms): a session's, an impatient one's."""


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Return an engine for ``url`` configured for the broker.

    A pooled connection is tested before each use (``pool_pre_ping``) and replaced when the
    server has closed it (a restart, a failover, an idle timeout), so the first request after
    that does not fail.
    """
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    elif engine.dialect.name == "postgresql":
        _configure_postgresql(engine)
    return engine


def storage_error(exc: SQLAlchemyError) -> StorageError:
    """Return the broker's error for a database error: its kind only, never its message.

    The driver's message can quote SQL and bound values (personal data, perhaps).
    ``DatabaseUnavailable`` when the database could not be reached or dropped the
    connection (a retry may succeed); ``StorageError`` when it refused the operation.
    """
    kind = type(exc).__name__
    lost = isinstance(exc, DBAPIError) and exc.connection_invalidated
    if not lost and _schema_missing(exc):
        return StorageError(f"the database refused the operation ({kind})")
    if lost or isinstance(exc, (OperationalError, InterfaceError)):
        return DatabaseUnavailable(f"the database is unavailable ({kind})")
    return StorageError(f"the database refused the operation ({kind})")


def _schema_missing(exc: SQLAlchemyError) -> bool:
    # SQLite reports a missing table as an OperationalError, as it does a lost file: an
    # unmigrated database is reachable, so it is refused, not unavailable. Only the
    # driver's message tells them apart; it is read here and never passed on.
    original = getattr(exc, "orig", None)
    return isinstance(original, sqlite3.OperationalError) and str(original).startswith("no such ")


_SEALED = frozenset(
    {
        "log_entries",
        "log_nodes",
        "log_checkpoints",
        "log_cosignatures",
        "log_entry_orgs",
        "log_entry_facts",
        "log_entry_dwellings",
    }
)
"""Disclosure-log tables and their indexes no session may update or delete from (the
database refuses too)."""


def _refuse_log_mutation(state: ORMExecuteState) -> None:
    # 1. Only UPDATE and DELETE statements matter; inserts append.
    if not (state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    # 2. The head may only be advanced; contents may only be deleted (a purge).
    refused = name in _SEALED
    refused |= name == "log_head" and state.is_delete
    refused |= name == "log_contents" and state.is_update
    if refused:
        raise LogMutationError(f"the disclosure log is append-only: {name} cannot be changed")


def read_only_engine(engine: Engine) -> Engine:
    """Return ``engine`` for reads only: the database refuses writes; SQLite takes no lock."""
    return engine.execution_options(**{_READ_ONLY: True})


def make_session_factory(
    engine: Engine, *, read_only: bool = False, patient: bool = True
) -> sessionmaker[Session]:
    """Return the session factory used by the edges; its sessions refuse to mutate the log.

    With ``read_only`` the database refuses every write of its sessions (SQLite's
    ``query_only``, PostgreSQL's read-only transactions); on SQLite such a session
    also takes no lock, so reads run beside the one writer instead of queueing.
    With ``patient=False`` a session waits 100 ms, not 30 s, for a lock another writer
    holds (SQLite's write lock, a PostgreSQL row's), then fails with ``OperationalError``:
    for a write that may be skipped and done later rather than hold up a read.
    """
    bind = read_only_engine(engine) if read_only else engine
    if not patient:
        bind = bind.execution_options(**{_IMPATIENT: True})
    factory = sessionmaker(bind=bind, expire_on_commit=False)
    event.listen(factory, "do_orm_execute", _refuse_log_mutation)
    return factory


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit when the block succeeds, roll back when it raises."""
    with factory() as session, session.begin():
        yield session


def alembic_config() -> Config:
    """Return the Alembic configuration of the broker's migrations."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` on ``engine``'s database."""
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
