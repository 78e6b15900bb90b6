"""Delivering queued releases: signed webhooks or directory drops, retried, each outcome logged.

Delivery is at least once; the receiver stores each release id once, so each
release is held exactly once. No network call happens inside a database
transaction: a due release is read, sent, then its outcome is recorded (with a
``delivery`` or ``delivery-failed`` entry in the disclosure log) in a new one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_pem_public_key
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from audit import Draft, EntryValue
from broker.config import RecipientSettings, Settings
from broker.contact.service import on_delivered
from broker.db import session_scope
from broker.delivery._sealing import seal
from broker.delivery._signature import content_digest, sign_request
from broker.disclosure import record, rfc3339
from broker.errors import ConfigError, InputError, NotFound, Problem
from broker.files import write_atomic
from broker.keys import KeyRing
from broker.release.models import Release

__all__ = ["Attempt", "deliver_due", "key_id", "retry_failed"]

log = structlog.get_logger(__name__)

_MAX_JITTER = 0.25


def key_id(key: Ed25519PublicKey) -> str:
    """Return the key id a receiver finds a signing key by: 16 hex of SHA-256 of the raw key."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt: the release, whether it arrived, and what happened."""

    release_id: str
    recipient: str
    delivered: bool
    final: bool
    problem: str = ""


def _body(recipient: RecipientSettings, release: Release) -> bytes:
    """Return the bytes to deliver: the payload, sealed when the recipient has a key."""
    if recipient.public_key is None:
        return release.payload
    key = load_pem_public_key(recipient.public_key.read_bytes())
    if not isinstance(key, X25519PublicKey):
        raise ConfigError(f"recipient {recipient.id}: public_key is not an X25519 key")
    return seal(release.payload, key)


def _post(
    client: httpx.Client, recipient: RecipientSettings, release: Release, ring: KeyRing, now: int
) -> str:
    """POST the release; return "" when the receiver accepted it, else a short reason."""
    url = str(recipient.webhook)
    body = _body(recipient, release)
    headers = {
        "content-type": "application/json",
        "content-digest": content_digest(body),
        "idempotency-key": release.id,
    }
    signing = ring.signing
    nonce = secrets.token_urlsafe(16)
    signed = sign_request(
        "POST", url, headers, signing, key_id(signing.public_key()), now, nonce=nonce
    )
    headers.update(signed)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        return f"unreachable: {type(error).__name__}"
    if response.is_success:
        return ""
    return f"HTTP {response.status_code}"


def _drop(recipient: RecipientSettings, release: Release, ring: KeyRing) -> str:
    """Write the release and its detached signature atomically into the recipient's directory."""
    directory = recipient.directory
    assert directory is not None  # noqa: S101 - RecipientSettings guarantees one target
    body = _body(recipient, release)
    signature = ring.signing.sign(body)
    detached = (
        f"ed25519 {key_id(ring.signing.public_key())} {base64.b64encode(signature).decode()}\n"
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / f"{release.id}.json", body)
        write_atomic(directory / f"{release.id}.json.sig", detached.encode())
    except OSError as error:
        return f"cannot write: {error.strerror}"
    return ""


def _backoff(settings: Settings, attempts: int) -> dt.timedelta:
    """Exponential backoff with jitter: base x 2^(attempts-1), +-25 %, at most an hour."""
    delay = min(settings.delivery_backoff * 2 ** (attempts - 1), 3600.0)
    jitter = random.uniform(-_MAX_JITTER, _MAX_JITTER)  # noqa: S311 - spreads retries, not a secret
    return dt.timedelta(seconds=delay * (1 + jitter))


def _record_outcome(  # noqa: PLR0913 - the outcome's facts, all named
    session: Session,
    ring: KeyRing,
    release: Release,
    problem: str,
    *,
    final: bool,
    now: dt.datetime,
) -> None:
    fields: dict[str, EntryValue] = {
        "time": rfc3339(now),
        "actor": "broker",
        "recipient": release.recipient,
        "policy_id": release.policy_id,
        "release_id": release.id,
        "attempts": release.attempts,
    }
    if not problem:
        record(session, ring, [Draft({**fields, "event": "delivery"})])
    elif final:
        # The next ``changes`` release sees this one undelivered and resends everything.
        record(session, ring, [Draft({**fields, "event": "delivery-failed", "reason": problem})])


def deliver_due(
    factory: sessionmaker[Session],
    settings: Settings,
    ring: KeyRing,
    client: httpx.Client,
    clock: Callable[[], dt.datetime],
) -> list[Attempt]:
    """Try every due release once, oldest first; return what happened to each."""
    recipients = {r.id: r for r in settings.recipients}
    with session_scope(factory) as session:
        due = list(
            session.scalars(
                select(Release)
                .where(Release.status == "pending", Release.next_attempt_at <= clock())
                .order_by(Release.log_seq)
            )
        )
    attempts: list[Attempt] = []
    blocked: set[str] = set()
    for release in due:
        recipient = recipients.get(release.recipient)
        if recipient is None:
            log.error("delivery.no_recipient", release_id=release.id, recipient=release.recipient)
            continue
        if release.recipient in blocked:
            continue  # keep the order: a later release waits for an earlier one
        # 1. Send, outside any transaction.
        now = clock()
        if recipient.webhook is not None:
            problem = _post(client, recipient, release, ring, int(now.timestamp()))
        else:
            problem = _drop(recipient, release, ring)
        # 2. Record the outcome, and the entry for a delivery or a final failure.
        with session_scope(factory) as session:
            stored = session.get(Release, release.id, with_for_update=True)
            if stored is None or stored.status != "pending":
                continue  # another worker settled it meanwhile
            stored.attempts += 1
            final = not problem or stored.attempts >= settings.delivery_attempts
            if not problem:
                stored.status, stored.delivered_at, stored.last_error = "delivered", now, None
                on_delivered(session, ring, stored.id, now=now)
            elif final:
                stored.status, stored.last_error = "failed", problem
            else:
                stored.last_error = problem
                stored.next_attempt_at = now + _backoff(settings, stored.attempts)
            _record_outcome(session, ring, stored, problem, final=final, now=now)
        attempts.append(Attempt(release.id, release.recipient, not problem, final, problem))
        if problem:
            blocked.add(release.recipient)
            event = "delivery.failed" if final else "delivery.retry"
            log.error(event, release_id=release.id, recipient=release.recipient, problem=problem)
        else:
            log.info("delivery.delivered", release_id=release.id, recipient=release.recipient)
    return attempts


def retry_failed(session: Session, release_id: str, *, now: dt.datetime) -> Release:
    """Put a release that failed for good back in the queue, due now, with its attempts reset.

    Only while no later release of its policy to its recipient was delivered: then the
    recipient still holds what this release was made against (a ``changes`` release is
    only ever made right after the delivered release it is relative to), and any later
    release still to come is a resync, which replaces whatever this one leaves.

    Raises:
        NotFound: no release with that id.
        InputError: the release has not failed, or a later release of its policy to its
            recipient was delivered (this one would arrive out of order).
    """
    found = session.get(Release, release_id, with_for_update=True)
    if found is None:
        raise NotFound("no release with that id")
    if found.status != "failed":
        rule = f"must be a release that failed for good; this one is {found.status}"
        raise InputError("not a failed release", (Problem(rule, column="release"),))
    later = session.scalar(
        select(Release.id).where(
            Release.recipient == found.recipient,
            Release.policy_id == found.policy_id,
            Release.status == "delivered",
            Release.log_seq > found.log_seq,
        )
    )
    if later is not None:
        rule = f"a later release, {later}, was delivered: this one would arrive out of order"
        raise InputError("out of order", (Problem(rule, column="release"),))
    found.status, found.attempts, found.next_attempt_at = "pending", 0, now
    log.info("delivery.requeued", release_id=found.id, recipient=found.recipient)
    return found
