"""API tokens as stored: only a hash of the secret, with role, scope and expiry."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["Token"]


class Token(Base):
    """A bearer token: its secret is shown once and stored only as a SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    label: Mapped[str] = mapped_column(String(60), server_default="")
    """What the token is for, as the operator wrote it (may be empty)."""
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    org: Mapped[str] = mapped_column(String(40))
    departments: Mapped[str] = mapped_column(Text)
    """Space-separated department codes (coordinators only)."""
    contact: Mapped[str | None] = mapped_column(String(120))
    """A coordinator's work contact, released with a contact check."""
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the API last admitted it, to the minute; None: not since this was recorded."""
