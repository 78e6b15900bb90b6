"""ORM model of the policy texts the broker has put in force, kept for the auditor."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["PolicyVersion"]


class PolicyVersion(Base):
    """The exact text of one policy version, by content hash; stored once, never changed."""

    __tablename__ = "policy_versions"

    content_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    discloser: Mapped[str | None] = mapped_column(String(40), index=True)
    """The discloser the text names (null only for a text migration 0012 could not read)."""
    recipient: Mapped[str | None] = mapped_column(String(81), index=True)
    """The recipient the text names, ``municipality/function`` (null as ``discloser``)."""
    first_seen_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
