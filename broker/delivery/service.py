"""Delivering queued releases: signed webhooks or directory drops, retried, each outcome logged.

Delivery is at least once; the receiver stores each release id once, so each
release is held exactly once. No network call happens inside a database
transaction: a due release is read, sent, then its outcome is recorded (with a
``delivery`` or ``delivery-failed`` entry in the disclosure log) in a new one.

An answer is classified once: 2xx arrived; any other 4xx than 408, 425 and 429
is final at once (the receiver refuses this request, and would refuse it again);
408, 425, 429, 5xx, timeouts and connection errors are tried again after a
backoff. Retries are not a sleeping loop: each attempt's outcome schedules the
next one in the database (``next_attempt_at``), so a retry survives a restart
and any replica can make it.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import secrets
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from audit import Draft, EntryValue, read_head, write_atomic
from broker.config import RecipientSettings, Settings
from broker.db import session_scope
from broker.delivery._outbox import QueuedRelease, RecipientQueue, recipient_queues
from broker.delivery._sealing import seal
from broker.delivery._signature import content_digest, key_id, sign_request
from broker.disclosure import record, rfc3339
from broker.disclosure.witnessing import CutReceipt, ReceiptCutter, WitnessClients
from broker.errors import AuditError, ConfigError, DeliveryError, InputError, NotFound, Problem
from broker.keys import KeyRing
from broker.release import PartError, Release, ReleasePart, delivered_body, is_purged

__all__ = [
    "Arrival",
    "Arrived",
    "Attempt",
    "Delivered",
    "DeliveryHooks",
    "QueuedRelease",
    "RecipientQueue",
    "deliver_due",
    "key_id",
    "recipient_queues",
    "retry_failed",
]

log = structlog.get_logger(__name__)

_MAX_JITTER = 0.25
_MAX_DELAY = 3600.0
_TRANSIENT_4XX = frozenset({408, 425, 429})
"""Request Timeout, Too Early, Too Many Requests: the one 4xx answers worth repeating."""
_RETRY_AFTER = frozenset({429, 503})


class Delivered(Protocol):
    """A hook told that a release arrived, in the transaction that records the delivery."""

    def __call__(
        self, session: Session, ring: KeyRing, release_id: str, *, now: dt.datetime
    ) -> None:
        """Act on the delivery of ``release_id`` (at ``now``) in ``session``."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """A release whose delivery is recorded and committed: what a hook after it may know."""

    release_id: str
    recipient: str
    policy_id: str
    mode: str
    delivered_at: dt.datetime


class Arrived(Protocol):
    """A hook told that a release arrived, after the transaction recording it committed.

    It runs outside any transaction, once, in the worker that recorded the delivery. It
    must not raise: the delivery stands whatever it does (an error it lets out is logged
    by delivery, and the round goes on).
    """

    def __call__(self, arrival: Arrival) -> None:
        """Act on ``arrival`` (e.g. tell someone that it is there)."""


@dataclass(slots=True)
class DeliveryHooks:
    """What other topics do when a release's delivery is settled: delivery knows no flow.

    A topic registers its hooks (``broker.contact.service.register_hooks``); the edges'
    wiring builds one set (``broker.wiring.delivery_hooks``) and passes it down.
    ``delivered`` hooks run in the transaction that records the delivery; ``arrived``
    hooks after it committed (for what must not hold a transaction open: the network).
    """

    delivered: list[Delivered] = field(default_factory=list)
    arrived: list[Arrived] = field(default_factory=list)

    def on_delivered(self, hook: Delivered) -> None:
        """Call ``hook`` for every release that arrives, in the transaction recording it."""
        self.delivered.append(hook)

    def on_arrived(self, hook: Arrived) -> None:
        """Call ``hook`` for every release that arrives, after its delivery is committed."""
        self.arrived.append(hook)

    def announce_arrived(self, arrival: Arrival) -> None:
        """Tell every ``arrived`` hook of ``arrival``; one that raises is logged and passed."""
        for hook in self.arrived:
            try:
                hook(arrival)
            except Exception:  # the delivery is committed: nothing a hook does may undo it
                log.exception("delivery.hook_failed", release_id=arrival.release_id)

    def announce_delivered(
        self, session: Session, ring: KeyRing, release_id: str, *, now: dt.datetime
    ) -> None:
        """Tell every registered hook that ``release_id`` arrived."""
        for hook in self.delivered:
            hook(session, ring, release_id, now=now)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt: the release, whether it arrived, and what happened."""

    release_id: str
    recipient: str
    delivered: bool
    final: bool
    problem: str = ""


def _sealed(recipient: RecipientSettings, body: bytes) -> bytes:
    """Return the bytes to deliver: the body, sealed when the recipient has a key."""
    if recipient.public_key is None:
        return body
    key = load_pem_public_key(recipient.public_key.read_bytes())
    if not isinstance(key, X25519PublicKey):
        raise ConfigError(f"recipient {recipient.id}: public_key is not an X25519 key")
    return seal(body, key)


@dataclass(frozen=True, slots=True)
class _Sent:
    """What one attempt came to: no problem when it arrived, else why, and whether to retry."""

    problem: str = ""
    permanent: bool = False
    retry_after: float | None = None


def _retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (delay or HTTP date), if it says."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(text)
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None  # an HTTP date is always GMT; one without a zone is not one
    return max((moment - now).total_seconds(), 0.0)


def _classify(response: httpx.Response, now: dt.datetime) -> _Sent:
    """Return what an answer means: arrived, refused for good, or worth another attempt."""
    if response.is_success:
        return _Sent()
    status = response.status_code
    problem = f"HTTP {status}"
    if 400 <= status < 500 and status not in _TRANSIENT_4XX:  # noqa: PLR2004 - the 4xx class
        return _Sent(problem, permanent=True)
    if status in _RETRY_AFTER:
        return _Sent(problem, retry_after=_retry_after(response.headers.get("retry-after"), now))
    return _Sent(problem)


def _post(  # noqa: PLR0913 - what one POST needs, all named
    client: httpx.Client,
    recipient: RecipientSettings,
    name: str,
    body: bytes,
    *,
    ring: KeyRing,
    now: dt.datetime,
) -> _Sent:
    """POST one body (``name``: the release id, or ``<id>.<part>``); say what the answer means."""
    url = str(recipient.webhook)
    body = _sealed(recipient, body)
    headers = {
        "content-type": "application/json",
        "content-digest": content_digest(body),
        "idempotency-key": name,
    }
    signing = ring.signing
    nonce = secrets.token_urlsafe(16)
    signed = sign_request(
        "POST",
        url,
        headers,
        signing,
        key_id(signing.public_key()),
        int(now.timestamp()),
        nonce=nonce,
    )
    headers.update(signed)
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        # A timeout or a broken connection: the receiver may never have seen it. Retry.
        return _Sent(f"unreachable: {type(error).__name__}")
    return _classify(response, now)


def _drop(recipient: RecipientSettings, name: str, body: bytes, ring: KeyRing) -> _Sent:
    """Write one body and its detached signature atomically into the recipient's directory."""
    directory = recipient.directory
    assert directory is not None  # noqa: S101 - RecipientSettings guarantees one target
    body = _sealed(recipient, body)
    signature = ring.signing.sign(body)
    detached = (
        f"ed25519 {key_id(ring.signing.public_key())} {base64.b64encode(signature).decode()}\n"
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_atomic(directory / f"{name}.json", body)
        write_atomic(directory / f"{name}.json.sig", detached.encode())
    except OSError as error:
        return _Sent(f"cannot write: {error.strerror}")
    return _Sent()


def _took_part(
    factory: sessionmaker[Session], release_id: str, number: int, *, now: dt.datetime
) -> None:
    """Remember that the recipient took part ``number``: a retry goes on from the next.

    On the part's row: the release's row, with its whole content, is neither read nor
    rewritten.
    """
    with session_scope(factory) as session:
        session.execute(
            update(ReleasePart)
            .where(ReleasePart.release_id == release_id, ReleasePart.part == number)
            .values(taken_at=now)
        )


def _send(  # noqa: PLR0913 - what one attempt needs, all named
    factory: sessionmaker[Session],
    client: httpx.Client,
    recipient: RecipientSettings,
    release: Release,
    receipt: CutReceipt,
    *,
    ring: KeyRing,
    clock: Callable[[], dt.datetime],
) -> _Sent:
    """Send the release's body, or its parts from the first the recipient has not taken.

    Each part goes as its own request (or file), named ``<release id>.<part>``; each
    one taken is remembered at once, outside the send, so a failed part is the first
    one sent at the next attempt.
    """
    in_parts = release.manifest is not None
    try:
        for number, body in _bodies(factory, release, receipt):
            name = f"{release.id}.{number}" if in_parts else release.id
            if recipient.webhook is not None:
                sent = _post(client, recipient, name, body, ring=ring, now=clock())
            else:
                sent = _drop(recipient, name, body, ring)
            if sent.problem:
                if in_parts:
                    problem = f"part {number} of {release.parts}: {sent.problem}"
                    return _Sent(problem, sent.permanent, sent.retry_after)
                return sent
            if in_parts and number < release.parts:
                _took_part(factory, release.id, number, now=clock())
                log.info("delivery.part", release_id=release.id, part=number, parts=release.parts)
    except PartError as error:
        return _Sent(str(error)[:150], permanent=True)
    return _Sent()


def _bodies(
    factory: sessionmaker[Session], release: Release, receipt: CutReceipt
) -> Iterator[tuple[int, bytes]]:
    """Yield the bodies to send, numbered, each read from the database when it is due.

    One body around the content; or, for a release in parts, one per part from the
    first the recipient has not taken, so only one part is held in memory at a time.

    Raises:
        PartError: a part is not stored.
    """
    if release.manifest is None:
        with session_scope(factory) as session:
            content = session.scalar(select(Release.content).where(Release.id == release.id))
        if not content:
            raise PartError(f"release {release.id}: its content is not stored (purged)")
        yield 1, delivered_body(content, release.salt, receipt.text, receipt.uncosigned)
        return
    with session_scope(factory) as session:
        taken = session.scalar(
            select(func.max(ReleasePart.part)).where(
                ReleasePart.release_id == release.id, ReleasePart.taken_at.is_not(None)
            )
        )
    for number in range((taken or 0) + 1, release.parts + 1):
        with session_scope(factory) as session:
            part = session.scalar(
                select(ReleasePart.content).where(
                    ReleasePart.release_id == release.id, ReleasePart.part == number
                )
            )
        if part is None:
            raise PartError(f"release {release.id}: part {number} is not stored")
        manifest = release.manifest
        yield (
            number,
            delivered_body(part, release.salt, receipt.text, receipt.uncosigned, manifest=manifest),
        )


def _backoff(settings: Settings, attempts: int, retry_after: float | None = None) -> dt.timedelta:
    """Exponential backoff with jitter: base x 2^(attempts-1), +-25 %, at most an hour.

    A ``Retry-After`` the receiver sent is honoured (up to the same hour) when it asks
    for longer.
    """
    delay = min(settings.delivery_backoff * 2 ** (attempts - 1), _MAX_DELAY)
    jitter = random.uniform(-_MAX_JITTER, _MAX_JITTER)  # noqa: S311 - spreads retries, not a secret
    delay *= 1 + jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, _MAX_DELAY))
    return dt.timedelta(seconds=delay)


def _record_outcome(  # noqa: PLR0913 - the outcome's facts, all named
    session: Session,
    ring: KeyRing,
    release: Release,
    problem: str,
    *,
    final: bool,
    now: dt.datetime,
    receipt: CutReceipt | None = None,
) -> None:
    fields: dict[str, EntryValue] = {
        "time": rfc3339(now),
        "actor": "broker",
        "recipient": release.recipient,
        "policy_id": release.policy_id,
        "release_id": release.id,
        "attempts": release.attempts,
    }
    if release.parts > 1:
        fields["parts"] = release.parts
    if not problem:
        if receipt is not None:
            # Which checkpoint the recipient's receipt is under, and who vouched for it.
            fields["receipt_size"] = receipt.size
            fields["receipt_cosigned_by"] = list(receipt.cosigned_by)
            if receipt.uncosigned is not None:
                fields["receipt_uncosigned"] = receipt.uncosigned
        record(session, ring, [Draft({**fields, "event": "delivery"})])
    elif final:
        # The next ``changes`` release sees this one undelivered and resends everything.
        record(session, ring, [Draft({**fields, "event": "delivery-failed", "reason": problem})])


def _cut(receipts: ReceiptCutter, release: Release) -> CutReceipt:
    try:
        return receipts.cut(release.log_seq)
    except AuditError as exc:
        raise DeliveryError(f"release {release.id}: no receipt can be cut for it") from exc


def _engine_of(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        raise TypeError("deliver_due needs a session factory bound to an engine")
    return bind


def _arrived(hooks: DeliveryHooks, release: Release, receipt: CutReceipt, now: dt.datetime) -> None:
    """Log the committed delivery of ``release`` and tell the ``arrived`` hooks."""
    log.info("delivery.delivered", release_id=release.id, recipient=release.recipient)
    if receipt.uncosigned is not None:
        log.warning(
            "delivery.receipt_uncosigned",
            release_id=release.id,
            recipient=release.recipient,
            reason=receipt.uncosigned,
        )
    hooks.announce_arrived(
        Arrival(release.id, release.recipient, release.policy_id, release.mode, now)
    )


_UNROUTABLE: set[str] = set()
"""The releases whose recipient is not configured, already logged by this process."""


def _route(
    release: Release, recipients: Mapping[str, RecipientSettings]
) -> RecipientSettings | None:
    """The release's configured recipient; None (said once per release, not every round)."""
    recipient = recipients.get(release.recipient)
    if recipient is None and release.id not in _UNROUTABLE:
        _UNROUTABLE.add(release.id)
        log.error("delivery.no_recipient", release_id=release.id, recipient=release.recipient)
    elif recipient is not None:
        _UNROUTABLE.discard(release.id)
    return recipient


def deliver_due(  # noqa: PLR0913 - the round's parts, the witnesses' clients by keyword
    factory: sessionmaker[Session],
    settings: Settings,
    ring: KeyRing,
    client: httpx.Client,
    clock: Callable[[], dt.datetime],
    *,
    witnesses: WitnessClients | None = None,
    hooks: DeliveryHooks | None = None,
) -> list[Attempt]:
    """Try every due release once, oldest first; return what happened to each.

    ``hooks`` are told of each release that arrived, in the transaction that
    records it (a contact check records its ``received`` reply so), and again after
    that transaction committed (the visitator's notification is sent so).

    A release is due only once a signed checkpoint covers its entry (the log is
    published: ``broker.disclosure.publishing``); until then it waits, and so do the
    later ones to its recipient. Each body is assembled now, around a receipt cut
    now: under the newest checkpoint that covers the entry and that the configured
    witnesses cosigned (they are asked once per call if none has), else under the
    newest one, saying why it is not.

    Raises:
        DeliveryError: no checkpoint covers a due release's entry (the round stops).
    """
    recipients = {r.id: r for r in settings.recipients}
    announced = hooks if hooks is not None else DeliveryHooks()
    started = clock()
    with session_scope(factory) as session:
        # Only a release whose entry a signed checkpoint covers: its receipt proves it.
        published, _root = read_head(session.connection())
        due = list(
            session.scalars(
                select(Release)
                .where(
                    Release.status == "pending",
                    Release.next_attempt_at <= started,
                    Release.log_seq < published,
                )
                .options(defer(Release.content))  # read when sent, one at a time
                .order_by(Release.log_seq)
            )
        )
        # A release still waiting out its backoff holds back every later one to its recipient.
        waiting_query = (
            select(Release.recipient, func.min(Release.log_seq))
            .where(Release.status == "pending", Release.next_attempt_at > started)
            .group_by(Release.recipient)
        )
        waiting = {str(row[0]): int(row[1]) for row in session.execute(waiting_query)}
    attempts: list[Attempt] = []
    blocked: set[str] = set()
    receipts = ReceiptCutter(_engine_of(factory), settings, clients=witnesses)
    for release in due:
        recipient = _route(release, recipients)
        if recipient is None:
            continue
        held_back = release.log_seq > waiting.get(release.recipient, release.log_seq)
        if release.recipient in blocked or held_back:
            continue  # keep the order: a later release waits for an earlier one
        # 1. Cut the receipt now, after the witnesses have seen the entry (asked if need be).
        receipt = _cut(receipts, release)
        # 2. Send, outside any transaction (a release in parts: part by part).
        sent = _send(factory, client, recipient, release, receipt, ring=ring, clock=clock)
        now = clock()
        problem = sent.problem
        # 3. Record the outcome (the receipt as delivered), and the entry for a delivery or a
        #    final failure.
        with session_scope(factory) as session:
            stored = session.get(
                Release, release.id, with_for_update=True, options=[defer(Release.content)]
            )
            if stored is None or stored.status != "pending":
                continue  # another worker settled it meanwhile
            stored.attempts += 1
            if not problem:
                stored.parts_delivered = stored.parts
            final = not problem or sent.permanent or stored.attempts >= settings.delivery_attempts
            if not problem:
                stored.status, stored.delivered_at, stored.last_error = "delivered", now, None
                stored.receipt, stored.receipt_uncosigned = receipt.text, receipt.uncosigned
                announced.announce_delivered(session, ring, stored.id, now=now)
            elif final:
                stored.status, stored.last_error = "failed", problem
            else:
                stored.last_error = problem
                stored.next_attempt_at = now + _backoff(settings, stored.attempts, sent.retry_after)
            _record_outcome(session, ring, stored, problem, final=final, now=now, receipt=receipt)
        attempts.append(Attempt(release.id, release.recipient, not problem, final, problem))
        if not problem:
            # 4. Only now, with the delivery committed, what may take its time or fail.
            _arrived(announced, release, receipt, now)
            continue
        # Later releases to this recipient wait for the next round: a retry is due first, and
        # one failed for good may be put back (`retry_failed`) while still in order.
        blocked.add(release.recipient)
        log.error(
            "delivery.failed" if final else "delivery.retry",
            release_id=release.id,
            recipient=release.recipient,
            problem=problem,
            permanent=sent.permanent,
        )
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
    found = session.get(Release, release_id, with_for_update=True, options=[defer(Release.content)])
    if found is None:
        raise NotFound("no release with that id")
    if found.status != "failed":
        rule = f"must be a release that failed for good; this one is {found.status}"
        raise InputError("not a failed release", (Problem(rule, column="release"),))
    if is_purged(found):
        rule = "its content was deleted at the end of its retention: it cannot be sent"
        raise InputError("purged", (Problem(rule, column="release"),))
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
