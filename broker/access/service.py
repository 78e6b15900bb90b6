"""Creating, checking and revoking API tokens.

A token is ``brk_<id>_<secret>``: 256 random bits of secret, shown once. Only the
SHA-256 of the whole token is stored, so a copy of the database grants nothing.
Each token has a role and a scope: its organisation; for a coordinator, its
departments; for a visitator, its organisation is the municipality. A label says
what it is for; when the API last admitted it is written at most once a minute
(:data:`USE_RECORDED_EVERY`), so a busy token does not make every request a write.
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

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from broker.access.models import Token
from broker.errors import InputError, NotFound, Problem
from schemas import looks_personal

__all__ = [
    "CONTACT_NEEDED",
    "DEPARTMENT_NEEDED",
    "EXPIRY_RULE",
    "LABEL_PERSONAL",
    "LABEL_RULE",
    "NAME_RULE",
    "ROLE_RULE",
    "USE_RECORDED_EVERY",
    "Principal",
    "Role",
    "TokenLookup",
    "authenticate",
    "create_token",
    "list_tokens",
    "look_up_token",
    "record_use",
    "revoke_token",
    "scope_problems",
    "token_state",
]

_ORG = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
_TOKEN = re.compile(r"^brk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_CONTACT = re.compile(r"^[^\s@]{1,64}@[^\s@]{1,64}\.[a-z]{2,}$")
_LABEL = re.compile(r"^[^\x00-\x1f\x7f]{0,60}$")
USE_RECORDED_EVERY = dt.timedelta(minutes=1)
"""A token's last use is written at most this often: "last used" is exact to a minute."""


class Role(enum.StrEnum):
    """What a token may do."""

    HOUSING = "housing"
    COORDINATOR = "coordinator"
    VISITATOR = "visitator"
    AUDITOR = "auditor"
    ADMIN = "admin"


ROLE_RULE = "one of " + ", ".join(Role)
NAME_RULE = "lower-case letters, digits and -"
DEPARTMENT_NEEDED = "a coordinator needs at least one department"
CONTACT_NEEDED = "a coordinator needs a work e-mail address"
EXPIRY_RULE = "between 1 and 366"
LABEL_RULE = "at most 60 characters, none a control character"
LABEL_PERSONAL = "must not look like a CPR number, an e-mail address or a phone number"
"""The rules a token's or a user's profile can break, as ``Problem.rule`` names them."""


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
        problems.append(Problem(ROLE_RULE, None, "role"))
    if not _ORG.match(org):
        problems.append(Problem(NAME_RULE, None, "org"))
    if any(not _ORG.match(d) for d in departments):
        problems.append(Problem(NAME_RULE, None, "department"))
    if role == Role.COORDINATOR and not departments:
        problems.append(Problem(DEPARTMENT_NEEDED, None, "department"))
    if role == Role.COORDINATOR and (contact is None or not _CONTACT.match(contact)):
        problems.append(Problem(CONTACT_NEEDED, None, "contact"))
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
    label: str = "",
    now: dt.datetime,
) -> tuple[Token, str]:
    """Store a new token; return it and its secret (shown once, never stored).

    ``label`` says what the token is for (trimmed; up to 60 characters, may be empty).

    Raises:
        InputError: an unknown role, a bad organisation or department, a coordinator
            without departments or work contact, an expiry outside 1-366 days, or a
            label too long, with a control character, or looking like personal data.
    """
    label = label.strip()
    problems = scope_problems(role=role, org=org, departments=departments, contact=contact)
    if not 1 <= days <= 366:  # noqa: PLR2004 - a year at most
        problems.append(Problem(EXPIRY_RULE, None, "expires"))
    if not _LABEL.match(label):
        problems.append(Problem(LABEL_RULE, None, "label"))
    elif looks_personal(label) is not None:
        problems.append(Problem(LABEL_PERSONAL, None, "label"))
    if problems:
        raise InputError("the token was not created", tuple(problems))
    token_id = secrets.token_hex(6)
    secret = f"brk_{token_id}_{secrets.token_urlsafe(32)}"
    token = Token(
        id=token_id,
        label=label,
        secret_hash=_hash(secret),
        role=role,
        org=org,
        departments=" ".join(sorted(set(departments))),
        contact=contact if role == Role.COORDINATOR else None,
        created_at=now,
        expires_at=now + dt.timedelta(days=days),
        revoked_at=None,
        last_used_at=None,
    )
    session.add(token)
    session.flush()
    return token, secret


@dataclass(frozen=True, slots=True)
class TokenLookup:
    """A presented token's principal (None: not valid), and whether its use is to be written."""

    principal: Principal | None
    use_due: bool
    """No use of the token is on record within :data:`USE_RECORDED_EVERY`: :func:`record_use`."""


def look_up_token(session: Session, presented: str, *, now: dt.datetime) -> TokenLookup:
    """Return the principal of a valid token and whether its use is due; reads only.

    A token unknown, expired or revoked has no principal (and no use to write).
    """
    if not _TOKEN.match(presented):
        return TokenLookup(None, use_due=False)
    token = session.scalar(select(Token).where(Token.secret_hash == _hash(presented)))
    # The hash lookup finds the row; the constant-time compare keeps the check honest.
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(presented)):
        return TokenLookup(None, use_due=False)
    if token.revoked_at is not None or token.expires_at <= now:
        return TokenLookup(None, use_due=False)
    departments = tuple(token.departments.split()) if token.departments else ()
    principal = Principal(token.id, Role(token.role), token.org, departments, token.contact)
    last = token.last_used_at
    return TokenLookup(principal, use_due=last is None or now - last >= USE_RECORDED_EVERY)


def authenticate(session: Session, presented: str, *, now: dt.datetime) -> Principal | None:
    """Return the principal of a valid token, or None (unknown, expired or revoked)."""
    return look_up_token(session, presented, now=now).principal


def record_use(session: Session, token_id: str, *, now: dt.datetime) -> bool:
    """Write that ``token_id`` was used at ``now``; return False when it was not due.

    Not due: a use within :data:`USE_RECORDED_EVERY` is on record already (another
    request, perhaps on another replica, wrote it first), or there is no such token.
    """
    written = session.execute(
        update(Token)
        .where(
            Token.id == token_id,
            or_(Token.last_used_at.is_(None), Token.last_used_at <= now - USE_RECORDED_EVERY),
        )
        .values(last_used_at=now)
    )
    return bool(getattr(written, "rowcount", 0))


def token_state(token: Token, *, now: dt.datetime) -> Literal["active", "expired", "revoked"]:
    """Return whether ``token`` is ``active``, ``expired`` or ``revoked`` at ``now``."""
    if token.revoked_at is not None:
        return "revoked"
    return "expired" if token.expires_at <= now else "active"


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
