"""Releases as stored: the outbox of what was released to whom, and what each recipient holds."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from broker.db import Base, UtcDateTime

__all__ = ["Release", "ReleasePart", "ReleaseState"]


class Release(Base):
    """One release: its content waits here (the outbox) until it is delivered or fails.

    A row is written only in the transaction that appends the release's entry to the
    disclosure log (``log_seq``): nothing is delivered that is not on record. The body
    is assembled at delivery, with a receipt cut then (``broker.release.release_body``).
    """

    __tablename__ = "releases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), index=True)
    policy_hash: Mapped[str] = mapped_column(String(64))
    recipient: Mapped[str] = mapped_column(String(81), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    run_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    log_seq: Mapped[int] = mapped_column(BigInteger)
    dwellings: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    """The released content's RFC 8785 bytes: what the entry's commitment is over (sent
    whole), or what its parts are cut from (sent in parts: the commitment is over the
    ``manifest``)."""
    salt: Mapped[bytes] = mapped_column(LargeBinary(32))
    """The salt of that commitment, delivered with the content."""
    parts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    """How many parts the release is sent in (``broker.release._parts``); 1: one body."""
    parts_delivered: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """How many of its parts the recipient took, once it is delivered (each part's own
    ``taken_at`` says so while it is under way)."""
    manifest: Mapped[bytes | None] = mapped_column(LargeBinary)
    """In parts: the manifest's RFC 8785 bytes, what the entry's commitment is over then."""
    receipt: Mapped[str | None] = mapped_column(Text)
    """The receipt as delivered (cut at delivery, after the witnesses answered); null before."""
    receipt_uncosigned: Mapped[str | None] = mapped_column(String(100))
    """Why the delivered receipt carries no cosignature; null when it carries one."""
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))


class ReleasePart(Base):
    """One part of a release sent in parts: its RFC 8785 bytes, as the manifest hashes them.

    Cut once, when the release is put on record, so delivery reads one part at a time.
    """

    __tablename__ = "release_parts"

    release_id: Mapped[str] = mapped_column(String(40), ForeignKey("releases.id"), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    taken_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    """When the recipient took this part; a retry goes on from the first not taken.

    Here, not on the release's row: on SQLite an update rewrites the whole row, and a
    release's row holds its whole content."""


class ReleaseState(Base):
    """What a recipient holds about one dwelling once it applies the newest release of a policy.

    Only the newest release's state is kept (``release_id``): it is the base of the next
    ``changes`` release once that release is delivered, and of no release otherwise.
    """

    __tablename__ = "release_state"

    recipient: Mapped[str] = mapped_column(String(81), primary_key=True)
    policy_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dwelling_ref: Mapped[str] = mapped_column(String(16), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64))
    release_id: Mapped[str] = mapped_column(String(40))
