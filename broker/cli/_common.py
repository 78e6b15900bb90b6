"""Helpers shared by the command modules: settings, sessions, errors to exit codes."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import click
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from broker.config import Settings
from broker.db import make_engine, make_session_factory, session_scope, storage_error
from broker.errors import BrokerError, ConfigError, InputError, StorageError

log = structlog.get_logger("broker.cli")

EXIT_REJECTED = 1
EXIT_USAGE = 2


def exit_code(error: BrokerError) -> int:
    if isinstance(error, ConfigError):
        return EXIT_USAGE
    return EXIT_REJECTED


@contextmanager
def errors_to_exit() -> Iterator[None]:
    """Render the broker's errors on stderr and exit with their code: the one mapping."""
    try:
        yield
    except InputError as exc:
        click.echo(f"rejected: {exc}; nothing was changed", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(exit_code(exc))
    except StorageError as exc:
        _storage_failed(exc)
    except BrokerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code(exc))
    except SQLAlchemyError as exc:
        # The driver's message can quote SQL and bound values: only the kind goes on.
        _storage_failed(storage_error(exc))


def _storage_failed(error: StorageError) -> NoReturn:
    log.error("database.error", reason=str(error))
    click.echo(f"error: {error}; is it reachable and migrated? run `broker db upgrade`", err=True)
    sys.exit(exit_code(error))


@contextmanager
def open_session(settings: Settings, *, engine: Engine | None = None) -> Iterator[Session]:
    """Open a session for one command; commit on success; errors to exit codes.

    On ``engine`` when the command holds one; otherwise on an engine of its own.
    """
    own = engine is None
    db = make_engine(settings.resolved_database_url) if engine is None else engine
    try:
        with errors_to_exit(), session_scope(make_session_factory(db)) as session:
            yield session
    finally:
        if own:
            db.dispose()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.obj
    assert isinstance(settings, Settings)  # noqa: S101 - set by the group callback
    return settings


def send_to_witnesses(settings: Settings, *, engine: Engine | None = None) -> None:
    """After an append has committed: send the newest checkpoint to the configured witnesses.

    Reads the log through ``engine`` when the command holds one.
    """
    if not settings.witnesses:
        return
    from broker.disclosure.witnessing import witness_latest  # noqa: PLC0415

    db = make_engine(settings.resolved_database_url) if engine is None else engine
    try:
        with errors_to_exit():
            for outcome in witness_latest(db, settings):
                if outcome.cosigned:
                    click.echo(f"witness {outcome.witness}: cosigned size {outcome.size}")
                else:
                    click.echo(f"WARNING: witness {outcome.witness}: {outcome.problem}", err=True)
    finally:
        if engine is None:
            db.dispose()
