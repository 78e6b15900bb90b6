"""``broker witness``: run a witness of someone's disclosure log."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import click

from audit import Witness, serve
from broker.keys import read_public_keys

__all__ = ["witness"]


@click.command()
@click.option("--port", type=int, default=7380, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--log-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the log's public keys (broker keys export-public).",
)
@click.option(
    "--store",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the witness's key and what it has seen.",
)
@click.option("--name", default=None, help="The witness's key name (default: HOST/witness).")
@click.option(
    "--origin",
    "origins",
    multiple=True,
    help="A log origin to witness; repeatable. Without it: the first origin cosigned.",
)
def witness(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    port: int, host: str, log_key: Path, store: Path, name: str | None, origins: tuple[str, ...]
) -> None:
    """Cosign a log's checkpoints only while each one extends the last (tlog-witness)."""
    log_keys = read_public_keys(log_key)
    store.mkdir(parents=True, exist_ok=True)
    witness_name = name or f"{socket.gethostname()}/witness"
    server = Witness(store, witness_name, log_keys, origins=set(origins) or None)
    click.echo(f"witness key: {server.verifier_key}")
    click.echo(f"listening on http://{host}:{port}/add-checkpoint")
    click.echo(f"monitors read http://{host}:{port}/<sha256 hex of the origin>/checkpoint")
    with contextlib.suppress(KeyboardInterrupt):
        serve(server, host, port)
