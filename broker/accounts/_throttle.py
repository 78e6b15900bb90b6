"""Failed sign-ins, rate-limited per account and per client address in a sliding window.

The failures are rows in the database, so the limit holds across worker processes
and replicas. A failure is counted under the SHA-256 of what it is about: the
organisation and the username typed (which may not be a username at all), and the
client's address. While either is at its limit, sign-in is refused without the
password being checked; a success clears the account's failures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from broker.accounts.models import SignInFailure

__all__ = ["Attempt", "Throttle", "clear_failures", "record_failure", "sign_in_wait"]


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-in attempt: the organisation and username typed, and the client's address."""

    org: str
    username: str
    address: str


@dataclass(frozen=True, slots=True)
class Throttle:
    """The limits: failures allowed per account and per address within ``window``."""

    per_account: int
    per_address: int
    window: dt.timedelta


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\x00{value}".encode()).hexdigest()


def _account(org: str, username: str) -> str:
    return _key("account", f"{org}\x00{username.strip().lower()}")


def _keys(attempt: Attempt, throttle: Throttle) -> list[tuple[str, int, str]]:
    return [
        ("account", throttle.per_account, _account(attempt.org, attempt.username)),
        ("address", throttle.per_address, _key("address", attempt.address)),
    ]


def _wait(
    session: Session, key: str, limit: int, *, now: dt.datetime, window: dt.timedelta
) -> dt.timedelta | None:
    recent = list(
        session.scalars(
            select(SignInFailure.at)
            .where(SignInFailure.key == key, SignInFailure.at > now - window)
            .order_by(SignInFailure.at)
        )
    )
    if len(recent) < limit:
        return None
    # Allowed again when enough of the failures have left the window.
    return recent[len(recent) - limit] + window - now


def sign_in_wait(
    session: Session, attempt: Attempt, *, now: dt.datetime, throttle: Throttle
) -> tuple[str, dt.timedelta] | None:
    """Return what is at its limit (``account`` or ``address``) and how long to wait, or None."""
    for kind, limit, key in _keys(attempt, throttle):
        wait = _wait(session, key, limit, now=now, window=throttle.window)
        if wait is not None:
            return kind, wait
    return None


def record_failure(
    session: Session, attempt: Attempt, *, now: dt.datetime, throttle: Throttle
) -> list[str]:
    """Count one failed sign-in; return what it brought to its limit (for one log line)."""
    reached = []
    for kind, limit, key in _keys(attempt, throttle):
        session.execute(
            delete(SignInFailure).where(
                SignInFailure.key == key, SignInFailure.at <= now - throttle.window
            )
        )
        session.add(SignInFailure(id=secrets.token_hex(12), key=key, at=now))
        session.flush()
        count = session.scalar(
            select(func.count()).select_from(SignInFailure).where(SignInFailure.key == key)
        )
        if count == limit:
            reached.append(kind)
    return reached


def clear_failures(session: Session, org: str, username: str) -> None:
    """Forget an account's failures (it signed in); its address's stay counted."""
    session.execute(delete(SignInFailure).where(SignInFailure.key == _account(org, username)))
