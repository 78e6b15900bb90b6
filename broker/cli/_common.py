"""Helpers shared by the command modules: settings, sessions, and the one exit-code table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import click
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from broker.config import Settings
from broker.db import make_engine, make_session_factory, session_scope, storage_error
from broker.errors import BrokerError, ConfigError, Conflict, InputError, StorageError
from broker.ingest.problems import group_problems

log = structlog.get_logger("broker.cli")

EXIT_REJECTED = 1
EXIT_USAGE = 2
PID_FILE = "broker.pid"
"""Where `broker serve` writes its process id (in the home directory) for `policy reload`."""


class CommandFailed(Exception):  # noqa: N818 - what happened, as the exit code says
    """A command failed after it said why; the CLI exits with ``EXIT_REJECTED``.

    ``message``, when given, goes to stderr as it is.
    """

    def __init__(self, message: str = "") -> None:
        """Carry the line to print, if the command has not printed it already."""
        super().__init__(message)
        self.message = message


EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (ConfigError, EXIT_USAGE),
    (BrokerError, EXIT_REJECTED),
    (SQLAlchemyError, EXIT_REJECTED),
    (CommandFailed, EXIT_REJECTED),
)
"""The one table of exit codes: the first kind that matches decides (0 is success)."""

HANDLED: tuple[type[Exception], ...] = tuple(kind for kind, _code in EXIT_CODES)
"""The errors the entry point renders and exits with; anything else is a bug."""


def exit_code(error: Exception) -> int:
    """Return the exit code of ``error`` by the one table."""
    return next(code for kind, code in EXIT_CODES if isinstance(error, kind))


def report(error: Exception) -> int:
    """Render ``error`` on stderr (never a value from the input) and return its exit code."""
    if isinstance(error, SQLAlchemyError):
        # The driver's message can quote SQL and bound values: only the kind goes on.
        error = storage_error(error)
    if isinstance(error, CommandFailed):
        if error.message:
            click.echo(error.message, err=True)
    elif isinstance(error, InputError | Conflict):
        click.echo(f"rejected: {error}; nothing was changed", err=True)
        for group in group_problems(error.problems):
            click.echo(f"  {group}", err=True)
    elif isinstance(error, StorageError):
        log.error("database.error", reason=str(error))
        click.echo(
            f"error: {error}; is it reachable and migrated? run `broker db upgrade`", err=True
        )
    else:
        click.echo(f"error: {error}", err=True)
    return exit_code(error)


@contextmanager
def open_session(settings: Settings, *, engine: Engine | None = None) -> Iterator[Session]:
    """Open a session for one command; commit on success, else roll back.

    On ``engine`` when the command holds one; otherwise on an engine of its own.
    """
    own = engine is None
    db = make_engine(settings.resolved_database_url) if engine is None else engine
    try:
        with session_scope(make_session_factory(db)) as session:
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


def publish_log(
    settings: Settings, *, engine: Engine | None = None, witness_anyway: bool = False
) -> None:
    """After an append has committed: put the waiting entries under a new signed checkpoint.

    Then send it to the configured witnesses, each one's answer printed. Every command
    that appends calls this before it exits, so it leaves a signed, verifiable log.
    With ``witness_anyway`` the newest checkpoint goes to the witnesses even when no
    entry was waiting. Reads the log through ``engine`` when the command holds one.
    """
    from broker.disclosure.publishing import publish  # noqa: PLC0415
    from broker.disclosure.witnessing import witness_latest  # noqa: PLC0415
    from broker.keys import load_keys  # noqa: PLC0415

    db = make_engine(settings.resolved_database_url) if engine is None else engine
    try:
        published = publish(db, settings, load_keys(settings))
        if published is not None:
            outcomes = list(published.witnesses)
        else:
            outcomes = witness_latest(db, settings) if witness_anyway else []
    finally:
        if engine is None:
            db.dispose()
    for outcome in outcomes:
        if outcome.cosigned:
            click.echo(f"witness {outcome.witness}: cosigned size {outcome.size}")
        else:
            click.echo(f"WARNING: witness {outcome.witness}: {outcome.problem}", err=True)
