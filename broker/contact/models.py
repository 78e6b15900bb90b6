"""Contact checks as stored: one dwelling, one coordinator, one of four states."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["ContactCheck"]


class ContactCheck(Base):
    """A coordinator's request that the municipality check contact with one dwelling.

    ``status`` is ``requested``, then ``received`` the moment the release is
    delivered (the same for every check), ``resident-consents-to-contact`` when
    the visitator sends a consent reference, or ``closed`` when it went
    unanswered for the configured time. Nothing records whether or when the
    municipality opened or read it.
    """

    __tablename__ = "contact_checks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dwelling_ref: Mapped[str] = mapped_column(String(16), index=True)
    org: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(40))
    coordinator: Mapped[str] = mapped_column(String(16))
    """The requesting token's id."""
    recipient: Mapped[str] = mapped_column(String(81), index=True)
    policy_id: Mapped[str] = mapped_column(String(64))
    release_id: Mapped[str] = mapped_column(String(40), unique=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    consent_reference: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
