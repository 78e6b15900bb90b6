"""The ``broker`` command line: the root group, the wiring of the command modules, ``main``.

Each command group is a module (``_db``, ``_ingest``, ``_policy``, ...): parse,
call one service, render. Exit codes: 0 success; 1 rejected input or a failed
operation; 2 usage errors (bad options, missing files) and configuration errors,
mapped in one table (``broker.cli._common.EXIT_CODES``) by ``main`` alone.
"""

from __future__ import annotations

import sys

import click
import structlog
from pydantic import ValidationError

from broker.cli._audit import audit
from broker.cli._common import HANDLED, report
from broker.cli._db import db
from broker.cli._demo import demo_data
from broker.cli._ingest import ingest
from broker.cli._keys import keys
from broker.cli._objections import objection
from broker.cli._policy import policy
from broker.cli._records import records
from broker.cli._release import deliver, push, receiver, scheduler
from broker.cli._serve import serve
from broker.cli._tokens import token
from broker.cli._users import user
from broker.cli._witness import witness
from broker.config import load_settings
from broker.errors import ConfigError
from broker.logging import configure_logging, new_run_id

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="renovation-broker", prog_name="broker")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """The renovation data-sharing broker."""
    try:
        settings = load_settings()
    except ValidationError as exc:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
        message = f"invalid settings ({fields}); see README, Configuration"
        raise ConfigError(message) from None
    configure_logging(log_format=settings.log_format, level=settings.log_level)
    structlog.contextvars.bind_contextvars(run_id=new_run_id())
    ctx.obj = settings


# The command groups, one module each (`broker --help` lists them by name).
for command in (
    db,
    ingest,
    policy,
    objection,
    demo_data,
    serve,
    keys,
    audit,
    witness,
    push,
    deliver,
    receiver,
    scheduler,
    token,
    user,
    records,
):
    cli.add_command(command)


def main() -> None:
    """Run the command line; each error the broker raises exits with its code (one table)."""
    try:
        cli()
    except HANDLED as error:
        sys.exit(report(error))
