"""Sign-ins under way, as stored: one row per browser gone to its provider, until it returns.

The row is found by the SHA-256 of a short-lived cookie's value (the value itself
is never stored), used once and deleted; rows older than the flow's lifetime are
deleted when the next sign-in begins.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["OidcFlow"]


class OidcFlow(Base):
    """One sign-in under way: its state (what the answer is checked against) and where to go."""

    __tablename__ = "oidc_flows"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    flow: Mapped[str] = mapped_column(Text)
    """The :class:`broker.oidc.FlowState` as JSON: state, nonce, PKCE verifier, redirect URI."""
    next_path: Mapped[str] = mapped_column(Text)
    """The local page to go on to once signed in."""
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
