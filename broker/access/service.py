"""Creating, checking and revoking API tokens.

A token is ``brk_<id>_<secret>``: 256 random bits of secret, shown once. Only the
SHA-256 of the whole token is stored, so a copy of the database grants nothing.
Each token has a role and a scope: its organisation; for a coordinator, its
departments; for a visitator, its organisation is the municipality.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.access.models import Token
from broker.errors import InputError, NotFound, Problem

__all__ = [
    "Principal",
    "Role",
    "authenticate",
    "create_token",
    "list_tokens",
    "revoke_token",
    "scope_problems",
]

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_TOKEN = re.compile(r"^brk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_CONTACT = re.compile(r"^[^\s@]{1,64}@[^\s@]{1,64}\.[a-z]{2,}$")


class Role(enum.StrEnum):
    """What a token may do."""

    HOUSING = "housing"
    COORDINATOR = "coordinator"
    VISITATOR = "visitator"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the token's (or signed-in user's) id, role and scope.

    A bearer token and a user signed in to the pages are the same principal to every
    service: the same role and scope checks. ``kind`` says which one acted, for the record.
    """

    token_id: str
    """The token's id, or the user's id when ``kind`` is ``user``."""
    role: Role
    org: str
    departments: tuple[str, ...]
    contact: str | None
    kind: Literal["token", "user"] = "token"

    @property
    def actor(self) -> str:
        """Who acted, as the disclosure log records it: ``token:<id>`` or ``user:<id>``."""
        return f"{self.kind}:{self.token_id}"


def scope_problems(
    *, role: str, org: str, departments: tuple[str, ...], contact: str | None
) -> list[Problem]:
    """Return what is wrong with a role and scope (a token's or a user's); empty when valid."""
    problems: list[Problem] = []
    if role not in Role.__members__.values():
        problems.append(Problem("one of " + ", ".join(Role), None, "role"))
    if not _ORG.match(org):
        problems.append(Problem("lower-case letters, digits and -", None, "org"))
    if any(not _ORG.match(d) for d in departments):
        problems.append(Problem("lower-case letters, digits and -", None, "department"))
    if role == Role.COORDINATOR and not departments:
        problems.append(Problem("a coordinator needs at least one department", None, "department"))
    if role == Role.COORDINATOR and (contact is None or not _CONTACT.match(contact)):
        problems.append(Problem("a coordinator needs a work e-mail address", None, "contact"))
    return problems


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(  # noqa: PLR0913 - a token's whole profile, all named
    session: Session,
    *,
    role: str,
    org: str,
    departments: tuple[str, ...] = (),
    contact: str | None = None,
    days: int = 90,
    now: dt.datetime,
) -> tuple[Token, str]:
    """Store a new token; return it and its secret (shown once, never stored).

    Raises:
        InputError: an unknown role, a bad organisation or department, a coordinator
            without departments or work contact, or an expiry outside 1-366 days.
    """
    problems = scope_problems(role=role, org=org, departments=departments, contact=contact)
    if not 1 <= days <= 366:  # noqa: PLR2004 - a year at most
        problems.append(Problem("between 1 and 366", None, "expires"))
    if problems:
        raise InputError("the token was not created", tuple(problems))
    token_id = secrets.token_hex(6)
    secret = f"brk_{token_id}_{secrets.token_urlsafe(32)}"
    token = Token(
        id=token_id,
        secret_hash=_hash(secret),
        role=role,
        org=org,
        departments=" ".join(sorted(set(departments))),
        contact=contact if role == Role.COORDINATOR else None,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
        revoked_at=None,
    )
    session.add(token)
    session.flush()
    return token, secret


def authenticate(session: Session, presented: str, *, now: dt.datetime) -> Principal | None:
    """Return the principal of a valid token, or None (unknown, expired or revoked)."""
    if not _TOKEN.match(presented):
        return None
    token = session.scalar(select(Token).where(Token.secret_hash == _hash(presented)))
    # The hash lookup finds the row; the constant-time compare keeps the check honest.
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(presented)):
        return None
    if token.revoked_at is not None or token.expires_at <= now:
        return None
    departments = tuple(token.departments.split()) if token.departments else ()
    return Principal(token.id, Role(token.role), token.org, departments, token.contact)


def list_tokens(session: Session) -> list[Token]:
    """Return every token, newest first (never a secret: none is stored)."""
    return list(session.scalars(select(Token).order_by(Token.created_at.desc(), Token.id)))


def revoke_token(session: Session, token_id: str, *, now: dt.datetime) -> bool:
    """Revoke a token; return False when it was already revoked.

    Raises:
        NotFound: no token with that id.
    """
    token = session.get(Token, token_id)
    if token is None:
        raise NotFound("no token with that id")
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    session.flush()
    return True
