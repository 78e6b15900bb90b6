"""``broker token``: create, list and revoke API tokens."""

from __future__ import annotations

import datetime as dt

import click

from broker.access import Role, create_token, list_tokens, revoke_token, token_state
from broker.cli._common import now, open_session, settings_of

__all__ = ["token"]


def _minute(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


@click.group()
def token() -> None:
    """API bearer tokens: each with a role, a scope and an expiry."""


@token.command("create")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--org", required=True, help="Organisation (a municipality for a visitator).")
@click.option("--department", "departments", multiple=True, help="A coordinator's department.")
@click.option("--contact", default=None, help="A coordinator's work e-mail address.")
@click.option("--expires", "days", type=int, default=90, show_default=True, help="Days valid.")
@click.option("--label", default="", help="What the token is for, e.g. 'ERP export'.")
@click.pass_context
def token_create(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    ctx: click.Context,
    role: str,
    org: str,
    departments: tuple[str, ...],
    contact: str | None,
    days: int,
    label: str,
) -> None:
    """Create a token; its secret is shown once, here, and never again."""
    with open_session(settings_of(ctx)) as session:
        created, secret = create_token(
            session,
            role=role,
            org=org,
            departments=departments,
            contact=contact,
            days=days,
            label=label,
            now=now(),
        )
        expires = created.expires_at.date().isoformat()
    click.echo(f"token {created.id} ({role}, {org}) valid until {expires}")
    click.echo(secret)


@token.command("list")
@click.pass_context
def token_list(ctx: click.Context) -> None:
    """List tokens (ids, roles, scopes, expiry, last use, label; never a secret)."""
    moment = now()
    with open_session(settings_of(ctx)) as session:
        for item in list_tokens(session):
            state = token_state(item, now=moment)
            scope = f"{item.org} {item.departments}".strip()
            expires = item.expires_at.date().isoformat()
            used = _minute(item.last_used_at) if item.last_used_at else "never used"
            click.echo(
                f"{item.id}  {item.role:<11}  {scope:<30}  {state:<7}  until {expires}"
                f"  {used:<16}  {item.label}".rstrip()
            )


@token.command("revoke")
@click.argument("token_id")
@click.pass_context
def token_revoke(ctx: click.Context, token_id: str) -> None:
    """Revoke a token at once."""
    with open_session(settings_of(ctx)) as session:
        changed = revoke_token(session, token_id, now=now())
    click.echo(f"token {token_id} {'revoked' if changed else 'was already revoked'}")
