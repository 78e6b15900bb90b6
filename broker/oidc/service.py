"""What the pages call around a sign-in: keep its flow server-side, take it back, find the user.

- :func:`keep_flow` stores a flow under the hash of a fresh secret, which the edge
  puts in a short-lived cookie; :func:`take_flow` finds it by that secret once and
  deletes it, so an answer cannot be replayed.
- :func:`provision_user` finds the broker's user for a completed sign-in (created
  on the first, ``broker.accounts.external_user``), its role and scope as the
  provider's claims give them today: each sign-in updates them. A user an
  administrator disabled (``broker user disable``) stays out.

Services flush and never commit: the edge's request commits.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

import structlog
from sqlalchemy import delete
from sqlalchemy.orm import Session

from broker.accounts import User, external_user
from broker.errors import InputError
from broker.oidc._errors import RefusalReason, SignInRefused
from broker.oidc._flow import FLOW_LIFETIME, FlowState, SignIn
from broker.oidc.models import OidcFlow

__all__ = ["keep_flow", "provision_user", "take_flow", "username_of"]

log = structlog.get_logger(__name__)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def keep_flow(session: Session, flow: FlowState, next_path: str, *, now: dt.datetime) -> str:
    """Store ``flow`` and where to go afterwards; return the secret that finds it (for a cookie).

    Flows older than their lifetime are deleted first.
    """
    session.execute(delete(OidcFlow).where(OidcFlow.started_at < now - FLOW_LIFETIME))
    secret = secrets.token_urlsafe(32)
    session.add(
        OidcFlow(
            id_hash=_digest(secret),
            provider=flow.provider,
            flow=flow.model_dump_json(),
            next_path=next_path,
            started_at=flow.started_at,
        )
    )
    session.flush()
    return secret


def take_flow(
    session: Session, provider: str, secret: str, *, now: dt.datetime
) -> tuple[FlowState, str]:
    """Return the flow ``secret`` finds and its next page, and delete it (it serves once).

    Raises:
        SignInRefused: ``state_mismatch`` (no such flow, or another provider's: the browser
            did not start this sign-in) or ``flow_expired``.
    """
    row = session.get(OidcFlow, _digest(secret)) if secret else None
    if row is None or row.provider != provider:
        log.warning("oidc.sign_in.refused", provider=provider, reason=RefusalReason.STATE_MISMATCH)
        raise SignInRefused(RefusalReason.STATE_MISMATCH, provider)
    session.delete(row)
    session.flush()
    if row.started_at + FLOW_LIFETIME < now:
        log.warning("oidc.sign_in.refused", provider=provider, reason=RefusalReason.FLOW_EXPIRED)
        raise SignInRefused(RefusalReason.FLOW_EXPIRED, provider)
    return FlowState.model_validate_json(row.flow), row.next_path


def username_of(signed_in: SignIn) -> str:
    """Return the username the broker gives a provider's user: opaque, never a claim's value.

    ``oidc-<provider>:<reference>``: what ``broker user list`` shows and ``broker user
    disable`` takes.
    """
    return f"{_source(signed_in)}:{signed_in.principal.token_id}"


def _source(signed_in: SignIn) -> str:
    return f"oidc-{signed_in.provider}"


def provision_user(session: Session, signed_in: SignIn, *, now: dt.datetime) -> User:
    """Return the broker's user for ``signed_in``, created or updated to its role and scope.

    Raises:
        SignInRefused: ``disabled`` (an administrator has disabled the user) or
            ``incomplete_scope`` (a scope a token could not have either).
    """
    try:
        user = external_user(session, signed_in.principal, source=_source(signed_in), now=now)
    except InputError as exc:
        log.warning(
            "oidc.sign_in.refused",
            provider=signed_in.provider,
            reason=RefusalReason.INCOMPLETE_SCOPE,
            rules=[problem.rule for problem in exc.problems],
        )
        raise SignInRefused(RefusalReason.INCOMPLETE_SCOPE, signed_in.provider) from exc
    if user.disabled_at is not None:
        log.warning(
            "oidc.sign_in.refused", provider=signed_in.provider, reason=RefusalReason.DISABLED
        )
        raise SignInRefused(RefusalReason.DISABLED, signed_in.provider)
    return user
