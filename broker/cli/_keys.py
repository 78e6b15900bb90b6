"""``broker keys``: create, rotate and publish the disclosure log's keys."""

from __future__ import annotations

from pathlib import Path

import click

from broker.cli._common import now, open_session, publish_log, settings_of
from broker.keys import init_keys, load_keys, rotate_keys

__all__ = ["keys"]


@click.group()
def keys() -> None:
    """The disclosure log's signing keys (under BROKER_HOME/keys)."""


@keys.command("init")
@click.pass_context
def keys_init(ctx: click.Context) -> None:
    """Create the log signing key and the dwelling-reference key, if missing."""
    settings = settings_of(ctx)
    created = init_keys(settings)
    ring = load_keys(settings)
    state = "created" if created else "already present"
    click.echo(f"keys {state} under {settings.home / 'keys'}")
    click.echo(f"log key: {ring.verifier_keys()[-1]}")


@keys.command("rotate")
@click.pass_context
def keys_rotate(ctx: click.Context) -> None:
    """Make a new signing key current; the rotation is recorded in the log."""
    settings = settings_of(ctx)
    with open_session(settings) as session:
        ring = rotate_keys(settings, session, at=now())
    click.echo(f"rotated: key {ring.number} is current; earlier keys still verify")
    click.echo(f"log key: {ring.verifier_keys()[-1]}")
    publish_log(settings)


@keys.command("export-public")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="PEM file to write: every public log key, oldest first.",
)
@click.pass_context
def keys_export_public(ctx: click.Context, out: Path) -> None:
    """Write the log's public keys for auditors, witnesses and recipients."""
    ring = load_keys(settings_of(ctx))
    out.write_bytes(ring.public_pem())
    click.echo(f"wrote {len(ring.public_keys)} public key(s) to {out}")
    for vkey in ring.verifier_keys():
        click.echo(f"log key: {vkey}")
