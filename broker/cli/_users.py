"""``broker user``: local accounts for the pages: create, list, disable, reset."""

from __future__ import annotations

import click

from broker.access import Role
from broker.accounts import (
    create_user,
    disable_user,
    find_user,
    list_users,
    reset_password,
    user_state,
)
from broker.cli._common import now, open_session, settings_of
from broker.config import Settings

__all__ = ["user"]


def _link(settings: Settings, token: str) -> str:
    return f"{str(settings.public_url).rstrip('/')}/adgangskode/{token}"


@click.group()
def user() -> None:
    """Local accounts for the pages: each with a role and a scope, as a token has."""


@user.command("create")
@click.argument("org")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--department", "departments", multiple=True, help="A coordinator's department.")
@click.option("--contact", default=None, help="A coordinator's work e-mail address.")
@click.pass_context
def user_create(  # noqa: PLR0913, PLR0917 - click passes one argument per option
    ctx: click.Context,
    org: str,
    username: str,
    role: str,
    departments: tuple[str, ...],
    contact: str | None,
) -> None:
    """Create USERNAME of organisation ORG; print its one-time set-password link."""
    settings = settings_of(ctx)
    with open_session(settings) as session:
        created, token = create_user(
            session,
            org=org,
            username=username,
            role=role,
            departments=departments,
            contact=contact,
            now=now(),
        )
        name = created.username
    click.echo(f"user {name} ({role}, {org}) created; to set the password, open within 24 hours:")
    click.echo(_link(settings, token))


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List users (organisation, username, role, scope, state, last sign-in; never a password)."""
    states = {"no password": "no password yet", "external": "signs in elsewhere"}
    with open_session(settings_of(ctx)) as session:
        for item in list_users(session):
            state = user_state(item)
            scope = f"{item.org} {item.departments}".strip()
            signed_in = item.last_signed_in_at
            last = f"signed in {signed_in:%Y-%m-%d %H:%M}" if signed_in else "not signed in"
            click.echo(
                f"{item.org:<20}  {item.username:<24}  {item.role:<11}  {scope:<30}"
                f"  {states.get(state, state):<15}  {last}"
            )


@user.command("disable")
@click.argument("org")
@click.argument("username")
@click.pass_context
def user_disable(ctx: click.Context, org: str, username: str) -> None:
    """Disable USERNAME of ORG at once: its sessions end, it cannot sign in."""
    with open_session(settings_of(ctx)) as session:
        changed = disable_user(session, org, username, now=now())
    click.echo(f"user {username} ({org}) {'disabled' if changed else 'was already disabled'}")


@user.command("reset")
@click.argument("org")
@click.argument("username")
@click.pass_context
def user_reset(ctx: click.Context, org: str, username: str) -> None:
    """Void USERNAME's password and sessions; print a new one-time set-password link."""
    settings = settings_of(ctx)
    with open_session(settings) as session:
        token = reset_password(session, org, username, now=now())
    click.echo(f"user {username} ({org}): password voided; to set a new one, open within 24 hours:")
    click.echo(_link(settings, token))


def _demo_users(org: str, municipality: str, department: str) -> list[dict[str, object]]:
    return [
        {"org": municipality, "username": "visitator", "role": Role.VISITATOR},
        {
            "org": org,
            "username": "koordinator",
            "role": Role.COORDINATOR,
            "departments": (department,),
            "contact": f"koordinator@{org}.example",
        },
        {"org": org, "username": "revisor", "role": Role.AUDITOR},
        {"org": org, "username": "renovering", "role": Role.HOUSING},
        {"org": org, "username": "admin", "role": Role.ADMIN},
    ]


@user.command("demo")
@click.option("--org", default="bo-vest", show_default=True, help="The housing organisation.")
@click.option("--municipality", default="albertslund", show_default=True)
@click.option("--department", default="blokland", show_default=True)
@click.pass_context
def user_demo(ctx: click.Context, org: str, municipality: str, department: str) -> None:
    """Create one demo user per role (once) and print how each sets its password.

    A user that exists is kept as it is; one that has not set its password yet gets
    a fresh link (the earlier one is void).
    """
    settings = settings_of(ctx)
    lines = []
    with open_session(settings) as session:
        for profile in _demo_users(org, municipality, department):
            role = profile.pop("role")
            assert isinstance(role, Role)  # noqa: S101 - the table above
            found = find_user(session, str(profile["org"]), str(profile["username"]))
            where = f"{profile['username']} ({role.value}, {profile['org']})"
            if found is None:
                _, token = create_user(session, role=role.value, now=now(), **profile)  # type: ignore[arg-type]
                lines.append(f"  {where}: {_link(settings, token)}")
            elif found.password_hash is None and found.disabled_at is None:
                token = reset_password(session, found.org, found.username, now=now())
                lines.append(f"  {where}: {_link(settings, token)}")
            else:
                lines.append(f"  {where}: has its password (kept)")
    click.echo("demo users; open a link to choose the password (each works once, for 24 hours):")
    for line in lines:
        click.echo(line)
    click.echo(f"then sign in at {str(settings.public_url).rstrip('/')}/log-ind")
