"""Local accounts: users, their passwords, one-time set-password links, sign-in sessions.

A user has the same role and scope as an API token (``broker.access``): signed in,
it is the same :class:`~broker.access.Principal` to every service, of kind ``user``.

- Passwords are hashed with argon2id (``argon2-cffi``'s defaults); a hash made with
  older parameters is replaced at the next successful sign-in.
- A set-password link carries 256 random bits; only their SHA-256 is stored. It
  expires after :data:`LINK_LIFETIME` and works once. A new link (a reset) voids the
  earlier ones.
- A session is a random cookie value, stored as its SHA-256, with a CSRF secret of its
  own. It ends after ``idle`` without a request, after ``lifetime`` in any case, at
  sign-out, and when its user is disabled or reset. Opening one is the user's last
  sign-in (``User.last_signed_in_at``).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from broker.access import Principal, Role, scope_problems
from broker.accounts.models import PasswordLink, User, WebSession
from broker.errors import InputError, NotFound, Problem

__all__ = [
    "LINK_LIFETIME",
    "MIN_PASSWORD",
    "PASSWORD_MISMATCH",
    "PASSWORD_TOO_LONG",
    "PASSWORD_TOO_SHORT",
    "USERNAME_RULE",
    "USERNAME_TAKEN",
    "Lookup",
    "SignedIn",
    "check_password",
    "create_user",
    "disable_user",
    "end_session",
    "external_user",
    "find_user",
    "link_user",
    "list_users",
    "look_up_session",
    "normal_username",
    "principal_of",
    "reset_password",
    "resume_session",
    "set_password",
    "start_session",
    "user_state",
]

LINK_LIFETIME = dt.timedelta(hours=24)
"""How long a set-password link works (once)."""
MIN_PASSWORD = 12
"""The shortest password accepted, in characters."""
_MAX_PASSWORD = 1024
_TOUCH_EVERY = dt.timedelta(minutes=1)
"""A session's last-seen time is written at most this often (a write per page is waste)."""

PASSWORD_TOO_SHORT = f"at least {MIN_PASSWORD} characters"
PASSWORD_TOO_LONG = f"at most {_MAX_PASSWORD} characters"
PASSWORD_MISMATCH = "the two passwords differ"  # noqa: S105 - a rule, not a password
"""The rules a new password can break, as ``Problem.rule`` names them (the pages translate)."""
USERNAME_RULE = "1-64 lower-case letters, digits, '.', '_' and '-'"
USERNAME_TAKEN = "already taken in this organisation"
"""The rules a new username can break (with ``broker.access.scope_problems``' for the rest)."""

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_HASHER = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user is unknown, so that a wrong username costs as much
    # time as a wrong password: the answer's timing does not tell which was wrong.
    return _HASHER.hash(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normal_username(raw: str) -> str:
    """Return a username as stored: trimmed and lower-case."""
    return raw.strip().lower()


def principal_of(user: User) -> Principal:
    """Return the principal a signed-in ``user`` acts as (its role and scope)."""
    departments = tuple(user.departments.split()) if user.departments else ()
    return Principal(user.id, Role(user.role), user.org, departments, user.contact, kind="user")


def _new_link(session: Session, user: User, *, now: dt.datetime) -> str:
    # A new link voids every earlier one of the user.
    session.execute(delete(PasswordLink).where(PasswordLink.user_id == user.id))
    token = secrets.token_urlsafe(32)
    session.add(
        PasswordLink(
            token_hash=_digest(token),
            user_id=user.id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
            used_at=None,
        )
    )
    session.flush()
    return token


def create_user(  # noqa: PLR0913 - a user's whole profile, all named
    session: Session,
    *,
    org: str,
    username: str,
    role: str,
    departments: tuple[str, ...] = (),
    contact: str | None = None,
    now: dt.datetime,
) -> tuple[User, str]:
    """Store a new user without a password; return it and its set-password link token.

    Raises:
        InputError: a bad username, role or scope (as for a token), or the username is
            taken in the organisation.
    """
    username = normal_username(username)
    problems = scope_problems(role=role, org=org, departments=departments, contact=contact)
    if not _USERNAME.match(username):
        problems.append(Problem(USERNAME_RULE, None, "username"))
    elif find_user(session, org, username) is not None:
        problems.append(Problem(USERNAME_TAKEN, None, "username"))
    if problems:
        raise InputError("the user was not created", tuple(problems))
    user = User(
        id=secrets.token_hex(6),
        org=org,
        username=username,
        role=role,
        departments=" ".join(sorted(set(departments))),
        contact=contact if role == Role.COORDINATOR else None,
        password_hash=None,
        disabled_at=None,
        created_at=now,
        last_signed_in_at=None,
    )
    session.add(user)
    session.flush()
    return user, _new_link(session, user, now=now)


def external_user(session: Session, principal: Principal, *, source: str, now: dt.datetime) -> User:
    """Return the user row of someone signed in another way (OpenID Connect), kept current.

    ``principal.token_id`` is the other way's opaque reference to the person (16
    characters at most); ``source`` names the way (a provider's id). The row has no
    password and takes its role and scope from ``principal`` at each sign-in; its
    username is ``<source>:<reference>``, which no local username can be, so the two
    never meet. A disabled row stays disabled.

    Raises:
        InputError: the principal's scope breaks the rules a token's keeps.
    """
    problems = scope_problems(
        role=principal.role.value,
        org=principal.org,
        departments=principal.departments,
        contact=principal.contact,
    )
    if problems:
        raise InputError("the user was not signed in", tuple(problems))
    departments = " ".join(sorted(set(principal.departments)))
    contact = principal.contact if principal.role == Role.COORDINATOR else None
    user = session.get(User, principal.token_id)
    if user is None:
        user = User(
            id=principal.token_id,
            org=principal.org,
            username=f"{source}:{principal.token_id}"[:64],
            role=principal.role.value,
            departments=departments,
            contact=contact,
            password_hash=None,
            disabled_at=None,
            created_at=now,
        )
        session.add(user)
    else:
        user.org, user.role = principal.org, principal.role.value
        user.departments, user.contact = departments, contact
    session.flush()
    return user


def find_user(session: Session, org: str, username: str) -> User | None:
    """Return the user ``username`` of ``org``, or None."""
    return session.scalar(
        select(User).where(User.org == org, User.username == normal_username(username))
    )


def _existing(session: Session, org: str, username: str) -> User:
    user = find_user(session, org, username)
    if user is None:
        raise NotFound("no such user in that organisation")
    return user


def list_users(session: Session) -> list[User]:
    """Return every user by organisation and username (never a password or link)."""
    return list(session.scalars(select(User).order_by(User.org, User.username)))


def user_state(user: User) -> Literal["active", "disabled", "no password", "external"]:
    """Return ``user``'s state: disabled, active, no password yet, or signing in elsewhere.

    ``active``: it has a password; ``no password``: its link is not used yet;
    ``external``: it signs in another way, through its organisation's identity provider
    (:func:`external_user`'s ``<source>:`` username).
    """
    if user.disabled_at is not None:
        return "disabled"
    if user.password_hash is not None:
        return "active"
    return "external" if ":" in user.username else "no password"


def _end_all(session: Session, user: User) -> None:
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.execute(delete(PasswordLink).where(PasswordLink.user_id == user.id))


def disable_user(session: Session, org: str, username: str, *, now: dt.datetime) -> bool:
    """Disable a user at once (its sessions and links end); False if it already was.

    Raises:
        NotFound: no such user.
    """
    user = _existing(session, org, username)
    _end_all(session, user)
    if user.disabled_at is not None:
        session.flush()
        return False
    user.disabled_at = now
    session.flush()
    return True


def reset_password(session: Session, org: str, username: str, *, now: dt.datetime) -> str:
    """Void a user's password, sessions and links; return a new set-password link token.

    Raises:
        NotFound: no such user.
        InputError: the user is disabled.
    """
    user = _existing(session, org, username)
    if user.disabled_at is not None:
        raise InputError("the user is disabled", (Problem("disabled", None, "username"),))
    _end_all(session, user)
    user.password_hash = None
    return _new_link(session, user, now=now)


def link_user(session: Session, token: str, *, now: dt.datetime) -> User | None:
    """Return the user a set-password link is for, or None (unknown, used, expired, disabled)."""
    link = session.get(PasswordLink, _digest(token))
    if link is None or link.used_at is not None or link.expires_at <= now:
        return None
    user = session.get(User, link.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return user


def set_password(
    session: Session, token: str, password: str, repeated: str, *, now: dt.datetime
) -> User:
    """Set the password of the link's user and spend the link; return the user.

    Raises:
        NotFound: the link is unknown, used, expired, or its user disabled.
        InputError: the password breaks a rule (``PASSWORD_*``); the link stays valid.
    """
    user = link_user(session, token, now=now)
    if user is None:
        raise NotFound("the link is unknown, used or expired")
    problems: list[Problem] = []
    if len(password) < MIN_PASSWORD:
        problems.append(Problem(PASSWORD_TOO_SHORT, None, "password"))
    elif len(password) > _MAX_PASSWORD:
        problems.append(Problem(PASSWORD_TOO_LONG, None, "password"))
    if password != repeated:
        problems.append(Problem(PASSWORD_MISMATCH, None, "repeated"))
    if problems:
        raise InputError("the password was not set", tuple(problems))
    link = session.get(PasswordLink, _digest(token))
    assert link is not None  # noqa: S101 - link_user found it in this transaction
    link.used_at = now
    user.password_hash = _HASHER.hash(password)
    # A new password ends the sessions opened with the old one.
    session.execute(delete(WebSession).where(WebSession.user_id == user.id))
    session.flush()
    return user


def check_password(session: Session, org: str, username: str, password: str) -> User | None:
    """Return the active user whose password this is, or None (nothing says which part failed).

    A hash made with older argon2 parameters is replaced by one with the current ones.
    """
    user = find_user(session, org, username) if _USERNAME.match(normal_username(username)) else None
    stored = user.password_hash if user is not None else None
    try:
        # 1. Always verify something, so that an unknown user takes as long as a known one.
        _HASHER.verify(stored or _dummy_hash(), password[:_MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return None
    # 2. The dummy hash's password is never known; a user without a password never matches.
    if user is None or stored is None or user.disabled_at is not None:
        return None
    if _HASHER.check_needs_rehash(stored):
        user.password_hash = _HASHER.hash(password)
        session.flush()
    return user


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A resumed session: who is signed in (as a principal), and the session's CSRF secret."""

    principal: Principal
    username: str
    csrf: str
    started_at: dt.datetime


def start_session(
    session: Session,
    user: User,
    *,
    now: dt.datetime,
    idle: dt.timedelta,
    lifetime: dt.timedelta,
) -> str:
    """Open a session for ``user``; return the cookie value (shown once, stored as a hash).

    ``now`` is the user's last sign-in from here on. Sessions of anyone that have
    expired (``idle``, ``lifetime``) are deleted on the way.
    """
    session.execute(
        delete(WebSession).where(
            or_(WebSession.last_seen_at <= now - idle, WebSession.created_at <= now - lifetime)
        )
    )
    secret = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            id_hash=_digest(secret),
            user_id=user.id,
            created_at=now,
            last_seen_at=now,
            csrf_secret=secrets.token_urlsafe(32),
        )
    )
    user.last_signed_in_at = now
    session.flush()
    return secret


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a session cookie signs in (or None), and whether a write is due for it."""

    signed_in: SignedIn | None
    write_due: bool
    """The session has expired (its row is to go) or its last-seen time is to be written."""


def look_up_session(
    session: Session,
    secret: str,
    *,
    now: dt.datetime,
    idle: dt.timedelta,
    lifetime: dt.timedelta,
) -> Lookup:
    """Return who a session cookie signs in, reading only (a read-only session will do).

    When ``write_due``, :func:`resume_session` in a writing session does the rest.
    """
    # 1. The cookie's hash finds the row; the compare is constant-time.
    row = session.get(WebSession, _digest(secret))
    if row is None or not hmac.compare_digest(row.id_hash, _digest(secret)):
        return Lookup(None, write_due=False)
    # 2. Idle too long, older than the lifetime, or its user disabled: it ends.
    user = session.get(User, row.user_id)
    expired = row.last_seen_at <= now - idle or row.created_at <= now - lifetime
    if expired or user is None or user.disabled_at is not None:
        return Lookup(None, write_due=True)
    signed_in = SignedIn(principal_of(user), user.username, row.csrf_secret, row.created_at)
    # 3. Seen now: written at most once a minute, so the idle time is exact to a minute.
    return Lookup(signed_in, write_due=now - row.last_seen_at >= _TOUCH_EVERY)


def resume_session(
    session: Session,
    secret: str,
    *,
    now: dt.datetime,
    idle: dt.timedelta,
    lifetime: dt.timedelta,
) -> SignedIn | None:
    """Return who a session cookie signs in, or None; end an expired session, mark it seen."""
    lookup = look_up_session(session, secret, now=now, idle=idle, lifetime=lifetime)
    row = session.get(WebSession, _digest(secret))
    if row is None:
        return None
    if lookup.signed_in is None:
        session.delete(row)
    elif lookup.write_due:
        row.last_seen_at = now
    session.flush()
    return lookup.signed_in


def end_session(session: Session, secret: str) -> bool:
    """Delete the session of a cookie (sign-out); False when there was none."""
    row = session.get(WebSession, _digest(secret))
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True
