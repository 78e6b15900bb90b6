"""The operator's view of the running broker, and the failures a person must act on.

- :func:`overview`: the agreements in force (id, version, flow, recipient, content
  hash, the log entry that put the version on record), each recipient's releases by
  delivery state, and each witness's newest cosignature.
- :func:`deliveries`: each recipient's releases as :mod:`broker.delivery` holds them.
- :func:`alerts`: what needs a person until it is resolved. A release failed for good
  (and not superseded by a later delivery), a recipient whose oldest release still
  waiting is older than :data:`STALLED_AFTER`, and the newest delivery's receipt going
  out without the configured witnesses' cosignature (a witness down or refusing; the
  refusals themselves are logged, not stored).

Everything here reads; nothing is changed or logged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.config import Settings
from broker.delivery.service import RecipientQueue, recipient_queues
from broker.disclosure import registered_seq
from broker.disclosure.witnessing import NOT_WITNESSED, WitnessState, witness_states
from broker.policy import Policy
from broker.release import Release

__all__ = [
    "STALLED_AFTER",
    "Agreement",
    "Alert",
    "Deliveries",
    "Overview",
    "alerts",
    "deliveries",
    "overview",
]

STALLED_AFTER = dt.timedelta(days=1)
"""A recipient whose oldest waiting release is older than this is unreachable: a person acts."""


@dataclass(frozen=True, slots=True)
class Agreement:
    """An agreement in force: its identity, flow and parties, and its entry in the log."""

    policy_id: str
    version: int
    flow: str
    discloser: str
    recipient: str
    content_hash: str
    registered_seq: int | None
    """The ``policy-registered`` entry of this version; None: not on record yet."""


@dataclass(frozen=True, slots=True)
class Alert:
    """A failure a person must act on: its kind, and what it is about.

    ``kind`` is ``failed`` (``release_id`` failed for good, ``problem`` the answer),
    ``unreachable`` (``recipient`` has waited since ``since``; ``problem`` the last error)
    or ``uncosigned`` (the newest delivery, ``release_id``, went out without a witness's
    cosignature, at ``since``).
    """

    kind: str
    recipient: str | None
    release_id: str | None
    since: dt.datetime
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Deliveries:
    """Each recipient's releases by delivery state, and what needs a person."""

    queues: tuple[RecipientQueue, ...]
    alerts: tuple[Alert, ...]


@dataclass(frozen=True, slots=True)
class Overview:
    """The operator's start: agreements, recipients' queues, witnesses and the alerts."""

    agreements: tuple[Agreement, ...]
    queues: tuple[RecipientQueue, ...]
    witnesses: tuple[WitnessState, ...]
    alerts: tuple[Alert, ...]


def _queue_alerts(queues: Iterable[RecipientQueue], now: dt.datetime) -> list[Alert]:
    found = []
    for queue in queues:
        found += [
            Alert("failed", queue.recipient, r.release_id, r.created_at, r.last_error)
            for r in queue.releases
            if r.state == "failed" and not r.superseded
        ]
        oldest = queue.oldest_waiting
        if oldest is not None and oldest <= now - STALLED_AFTER:
            last = next(
                (r.last_error for r in queue.releases if r.state == "retrying" and r.last_error),
                None,
            )
            found.append(Alert("unreachable", queue.recipient, None, oldest, last))
    return found


def _witness_alert(session: Session, settings: Settings) -> Alert | None:
    if not settings.witnesses:
        return None
    newest = session.execute(
        select(Release.id, Release.recipient, Release.delivered_at, Release.receipt_uncosigned)
        .where(Release.status == "delivered")
        .order_by(Release.delivered_at.desc(), Release.log_seq.desc())
        .limit(1)
    ).first()
    if newest is None or newest.receipt_uncosigned != NOT_WITNESSED:
        return None
    return Alert("uncosigned", newest.recipient, newest.id, newest.delivered_at, NOT_WITNESSED)


def _alerts(
    session: Session, settings: Settings, queues: Iterable[RecipientQueue], now: dt.datetime
) -> tuple[Alert, ...]:
    found = _queue_alerts(queues, now)
    witness = _witness_alert(session, settings)
    if witness is not None:
        found.append(witness)
    return tuple(found)


def alerts(session: Session, settings: Settings, *, now: dt.datetime) -> tuple[Alert, ...]:
    """Return the failures that need a person now (empty when none)."""
    return _alerts(session, settings, recipient_queues(session, settings), now)


def deliveries(session: Session, settings: Settings, *, now: dt.datetime) -> Deliveries:
    """Return each recipient's releases by delivery state, with the alerts."""
    queues = tuple(recipient_queues(session, settings))
    return Deliveries(queues, _alerts(session, settings, queues, now))


def overview(
    session: Session, settings: Settings, policies: Iterable[Policy], *, now: dt.datetime
) -> Overview:
    """Return the agreements in force, the recipients' queues, the witnesses and the alerts."""
    agreements = tuple(
        Agreement(
            policy.id,
            policy.version,
            policy.flow.value,
            policy.discloser,
            policy.recipient,
            policy.content_hash,
            registered_seq(session, policy),
        )
        for policy in sorted(policies, key=lambda p: (p.id, p.version))
    )
    queues = tuple(recipient_queues(session, settings))
    witnesses = tuple(witness_states(session.connection(), settings))
    return Overview(agreements, queues, witnesses, _alerts(session, settings, queues, now))
