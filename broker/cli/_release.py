"""``broker push`` and ``broker receiver``: release now, and the municipality's reference peer."""

from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path

import click
import httpx
from sqlalchemy import Engine

from audit import Witness
from broker.cli._common import CommandFailed, now, open_session, publish_log, settings_of
from broker.config import Settings
from broker.db import make_engine, make_session_factory
from broker.delivery.service import deliver_due, retry_failed
from broker.disclosure.publishing import Publisher
from broker.keys import KeyRing, KeyStore, load_keys, read_opening_key, read_public_keys
from broker.policy import Flow, PolicyRegistry, load_policies
from broker.receiver import MAX_BODY, Receiver, make_receiver_server
from broker.release import release
from broker.runner import Runner, version_recorder
from broker.scheduler import default_identity, stand_in
from broker.wiring import delivery_hooks, round_watchers

__all__ = ["deliver", "push", "receiver", "scheduler"]


def _deliver(settings: Settings, engine: Engine, ring: KeyRing | None = None) -> bool:
    """Try every due release once; print each outcome; return whether all arrived."""
    if ring is None:
        ring = load_keys(settings)
    publish_log(settings, engine=engine)  # a release is delivered once a checkpoint covers it
    with httpx.Client(timeout=settings.delivery_timeout) as client:
        factory = make_session_factory(engine)
        attempts = deliver_due(factory, settings, ring, client, now, hooks=delivery_hooks(settings))
    for attempt in attempts:
        if attempt.delivered:
            click.echo(f"delivered {attempt.release_id} to {attempt.recipient}")
        else:
            state = "FAILED for good" if attempt.final else "will retry"
            click.echo(
                f"{state}: {attempt.release_id} to {attempt.recipient}: {attempt.problem}",
                err=True,
            )
    publish_log(settings, engine=engine)
    return all(a.delivered for a in attempts)


@click.command()
@click.argument("policy_id")
@click.pass_context
def push(ctx: click.Context, policy_id: str) -> None:
    """Release POLICY_ID now and deliver it (and anything else due)."""
    settings = settings_of(ctx)
    loaded, problems = load_policies([settings.policies_dir])
    if problems:
        click.echo("error: the policies do not check; run `broker policy check`", err=True)
        raise CommandFailed
    policy = next((p.policy for p in loaded if p.policy.id == policy_id), None)
    if policy is None or policy.flow is not Flow.AFFECTED_DWELLINGS:
        click.echo("error: no affected-dwellings policy with that id", err=True)
        raise CommandFailed
    if policy.recipient not in {recipient.id for recipient in settings.recipients}:
        # Refused before anything is on record: a release nobody can deliver would only
        # fail, again and again, in the server's log.
        click.echo(
            f"error: the policy's recipient {policy.recipient} is not configured"
            " (BROKER_RECIPIENTS); nothing was released",
            err=True,
        )
        raise CommandFailed
    ring = load_keys(settings)
    moment = now()
    # One engine for the whole command: the release, its delivery, the witnesses.
    engine = make_engine(settings.resolved_database_url)
    try:
        # The agreements' exact versions go on record before anything is released under them.
        version_recorder(engine, settings)(tuple(loaded))
        with open_session(settings, engine=engine) as session:
            outcome = release(
                session,
                ring,
                policy,
                run_at=moment,
                now=moment,
                part_dwellings=settings.release_part_dwellings,
            )
            # The scheduler must not send this week's release again once it starts.
            if outcome.release is not None and policy.schedule is not None:
                by = f"push:{default_identity()}"[:64]
                stand_in(session, policy.id, policy.schedule, by=by, now=moment)
        if outcome.release is None:
            click.echo(f"nothing released: {outcome.reason}")
            return
        made = outcome.release
        click.echo(
            f"released {made.id}: {made.dwellings} dwellings, {made.withdrawn} withdrawn "
            f"({outcome.plan.in_scope} in scope, {outcome.plan.left_out} left out); "
            f"disclosure-log entry {made.log_seq}"
        )
        delivered = _deliver(settings, engine, ring)
    finally:
        engine.dispose()
    if not delivered:
        raise CommandFailed


@click.command()
@click.option(
    "--retry",
    "retry",
    metavar="RELEASE-ID",
    default=None,
    help="First put this release, which failed for good, back in the queue.",
)
@click.pass_context
def deliver(ctx: click.Context, retry: str | None) -> None:
    """Deliver every release that is due now (retries included)."""
    settings = settings_of(ctx)
    engine = make_engine(settings.resolved_database_url)
    try:
        if retry is not None:
            with open_session(settings, engine=engine) as session:
                retry_failed(session, retry, now=now())
            click.echo(f"queued again: {retry}")
        delivered = _deliver(settings, engine)
    finally:
        engine.dispose()
    if not delivered:
        raise CommandFailed


@click.command()
@click.option("--port", type=int, default=7390, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option(
    "--public-key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM file of the broker's public keys (broker keys export-public).",
)
@click.option(
    "--store",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the releases and receipts received.",
)
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="This receiver's X25519 private key (PEM), to open sealed releases.",
)
@click.option("--witness", "as_witness", is_flag=True, help="Also witness the disclosure log.")
@click.option("--public-url", default="", help="Scheme and host the broker posts to, if proxied.")
@click.option(
    "--max-body-mib",
    type=click.IntRange(1, 4096),
    default=MAX_BODY // 2**20,
    show_default=True,
    help="Largest release accepted, in MiB (about 100,000 dwellings per 64 MiB).",
)
def receiver(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    port: int,
    host: str,
    public_key: Path,
    store: Path,
    private_key: Path | None,
    as_witness: bool,
    public_url: str,
    max_body_mib: int,
) -> None:
    """Receive releases: verify signature, digest and receipt; store each once."""
    keys = read_public_keys(public_key)
    opener = read_opening_key(private_key) if private_key is not None else None
    store.mkdir(parents=True, exist_ok=True)
    witness = None
    if as_witness:
        witness = Witness(store / "witness", f"{host}:{port}/witness", keys)
        click.echo(f"witness key: {witness.verifier_key}")
    server = make_receiver_server(
        Receiver(store, keys, private_key=opener),
        host,
        port,
        witness=witness,
        public_url=public_url,
        max_body=max_body_mib * 2**20,
    )
    click.echo(f"listening on http://{host}:{port}/releases")
    with contextlib.suppress(KeyboardInterrupt), server:
        server.serve_forever()


@click.command()
@click.pass_context
def scheduler(ctx: click.Context) -> None:
    """Run scheduled releases and deliveries without the HTTP server (SIGHUP reloads policies)."""
    settings = settings_of(ctx)
    engine = make_engine(settings.resolved_database_url)
    keys = KeyStore(settings)  # loaded once; again only after a rotation
    recorder = version_recorder(engine, settings, keys)
    registry = PolicyRegistry(settings.policies_dir, on_loaded=recorder)
    registry.reload()
    stop = threading.Event()
    signal.signal(signal.SIGHUP, lambda _signum, _frame: registry.reload())
    for stopping in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stopping, lambda _signum, _frame: stop.set())
    click.echo(f"scheduler running with {len(registry.active)} policies; stop with Ctrl-C")
    try:
        runner = Runner(
            settings,
            engine,
            lambda: registry.active,
            keys=keys,
            hooks=delivery_hooks(settings),
            watchers=round_watchers(settings),
        )
        halt = Publisher(settings, engine, keys).start()
        try:
            runner.run(stop)
        finally:
            halt()
    finally:
        engine.dispose()
