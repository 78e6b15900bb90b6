"""``broker objection``: residents' objections (GDPR Art. 21), each on record."""

from __future__ import annotations

import click

from broker.cli._common import now, open_session, publish_log, settings_of

__all__ = ["objection"]


@click.group()
def objection() -> None:
    """Residents' objections (GDPR Art. 21): the dwelling is left out of scheduled releases."""


def _objection(ctx: click.Context, ref: str, *, add: bool) -> bool:
    from broker.keys import load_keys  # noqa: PLC0415
    from broker.renovation.service import add_objection, remove_objection  # noqa: PLC0415

    settings = settings_of(ctx)
    ring = load_keys(settings)
    change = add_objection if add else remove_objection
    with open_session(settings) as session:
        changed = change(session, ring, ref, now=now())
    if changed:
        publish_log(settings)
    return changed


@objection.command("add")
@click.argument("dwelling")
@click.pass_context
def objection_add(ctx: click.Context, dwelling: str) -> None:
    """Record that the resident of DWELLING (its dw-... reference) objected."""
    changed = _objection(ctx, dwelling, add=True)
    click.echo(f"objection {'recorded' if changed else 'already recorded'} for {dwelling}")


@objection.command("remove")
@click.argument("dwelling")
@click.pass_context
def objection_remove(ctx: click.Context, dwelling: str) -> None:
    """Withdraw the objection recorded for DWELLING."""
    changed = _objection(ctx, dwelling, add=False)
    click.echo(f"objection {'withdrawn' if changed else 'was not recorded'} for {dwelling}")
