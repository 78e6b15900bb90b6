"""Local accounts as stored: users, one-time set-password links and sign-in sessions.

Secrets are never stored: a set-password link and a session cookie are kept only as
SHA-256 hashes, a password only as an argon2id hash.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["PasswordLink", "SignInFailure", "User", "WebSession"]


class User(Base):
    """A person who signs in to the pages, with the same role and scope as an API token."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("org", "username"),)

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    org: Mapped[str] = mapped_column(String(40))
    username: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    departments: Mapped[str] = mapped_column(Text)
    """Space-separated department codes (coordinators only)."""
    contact: Mapped[str | None] = mapped_column(String(120))
    """A coordinator's work contact, released with a contact check."""
    password_hash: Mapped[str | None] = mapped_column(Text)
    """argon2id; None until the user sets a password (or signs in another way only)."""
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_signed_in_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When a session was last opened for it; None: not since this was recorded."""


class PasswordLink(Base):
    """A one-time link to set a password: only the hash of its token, until it expires."""

    __tablename__ = "password_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)


class WebSession(Base):
    """A signed-in browser: the cookie's hash, whose it is, its age and its CSRF secret."""

    __tablename__ = "web_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    csrf_secret: Mapped[str] = mapped_column(String(64))


class SignInFailure(Base):
    """A failed sign-in, under the hash of what it is counted by (an account or an address).

    Kept for the rate limit's window only; the hash keeps what was typed (perhaps not a
    username at all) and the client's address out of the table.
    """

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_key_at", "key", "at"),)

    id: Mapped[str] = mapped_column(String(24), primary_key=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
