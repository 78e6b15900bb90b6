"""``broker db``: the database schema, built by the migrations."""

from __future__ import annotations

import click

from broker.cli._common import settings_of
from broker.db import make_engine, upgrade

__all__ = ["db"]


@click.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@click.pass_context
def db_upgrade(ctx: click.Context, revision: str) -> None:
    """Apply the database migrations (creates the SQLite file if needed)."""
    settings = settings_of(ctx)
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url)
    try:
        upgrade(engine, revision)
    finally:
        engine.dispose()
    click.echo(f"database at revision {revision}")
