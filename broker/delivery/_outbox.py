"""The outbox as the operator reads it: each recipient's releases by delivery state.

A release is ``pending`` until its first attempt, ``retrying`` while an attempt has
failed and another is scheduled (``next_attempt_at``, the last error kept), ``failed``
once it has failed for good (the receiver's answer kept), ``delivered`` once it arrived.
A failed release is ``superseded`` when a later release of its policy to its recipient
was delivered: it may no longer be put back (``retry_failed`` refuses), and needs no one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, defer

from broker.config import Settings
from broker.release import Release

__all__ = ["QueuedRelease", "RecipientQueue", "recipient_queues"]

_DELIVERED_SHOWN = 10
"""The most recently delivered releases listed per recipient."""


@dataclass(frozen=True, slots=True)
class QueuedRelease:
    """One release in the outbox: its state, what its last attempt said, and when the next is."""

    release_id: str
    policy_id: str
    recipient: str
    state: str
    """``pending``, ``retrying``, ``failed`` or ``delivered``."""
    created_at: dt.datetime
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime | None
    """When the next attempt is due (pending and retrying only)."""
    delivered_at: dt.datetime | None
    superseded: bool = False
    """Failed, and a later release of its policy was delivered: it cannot be put back."""


@dataclass(frozen=True, slots=True)
class RecipientQueue:
    """A recipient's releases: the undelivered ones oldest first, then the newest delivered."""

    recipient: str
    configured: bool
    """Whether the configuration names this recipient (else nothing can be delivered to it)."""
    releases: tuple[QueuedRelease, ...]

    def count(self, state: str) -> int:
        """Return how many of its releases are in ``state`` (a failed one superseded aside)."""
        return sum(1 for r in self.releases if r.state == state and not r.superseded)

    @property
    def oldest_waiting(self) -> dt.datetime | None:
        """When its oldest release still waiting (pending or retrying) was made, if any."""
        waiting = [r.created_at for r in self.releases if r.state in {"pending", "retrying"}]
        return min(waiting, default=None)


def _state(release: Release) -> str:
    if release.status == "pending":
        return "retrying" if release.attempts > 0 else "pending"
    return release.status


def _superseded(session: Session, failed: Iterable[Release]) -> set[str]:
    found = set()
    for release in failed:
        later = session.scalar(
            select(Release.id)
            .where(
                Release.recipient == release.recipient,
                Release.policy_id == release.policy_id,
                Release.status == "delivered",
                Release.log_seq > release.log_seq,
            )
            .limit(1)
        )
        if later is not None:
            found.add(release.id)
    return found


def _listed() -> Select[Release]:
    """Releases without their contents, salts and receipts: what a listing needs only."""
    return select(Release).options(
        defer(Release.content), defer(Release.salt), defer(Release.receipt)
    )


def _row(release: Release, superseded: set[str]) -> QueuedRelease:
    waiting = release.status == "pending"
    return QueuedRelease(
        release_id=release.id,
        policy_id=release.policy_id,
        recipient=release.recipient,
        state=_state(release),
        created_at=release.created_at,
        attempts=release.attempts,
        last_error=release.last_error,
        next_attempt_at=release.next_attempt_at if waiting else None,
        delivered_at=release.delivered_at,
        superseded=release.id in superseded,
    )


def recipient_queues(session: Session, settings: Settings) -> list[RecipientQueue]:
    """Return every recipient's releases: configured ones, and any the outbox names, by id.

    Each lists its undelivered releases in log order, then its last few delivered ones,
    newest first. The releases' contents are not read.
    """
    undelivered = list(
        session.scalars(
            _listed()
            .where(or_(Release.status == "pending", Release.status == "failed"))
            .order_by(Release.log_seq)
        )
    )
    superseded = _superseded(session, (r for r in undelivered if r.status == "failed"))
    names = {r.id for r in settings.recipients} | {r.recipient for r in undelivered}
    names |= set(session.scalars(select(Release.recipient).distinct()))
    queues = []
    for name in sorted(names):
        delivered = session.scalars(
            _listed()
            .where(Release.recipient == name, Release.status == "delivered")
            .order_by(Release.delivered_at.desc(), Release.log_seq.desc())
            .limit(_DELIVERED_SHOWN)
        )
        rows = [_row(r, superseded) for r in undelivered if r.recipient == name]
        rows += [_row(r, superseded) for r in delivered]
        configured = any(r.id == name for r in settings.recipients)
        queues.append(RecipientQueue(name, configured, tuple(rows)))
    return queues
