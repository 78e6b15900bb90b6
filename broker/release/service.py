"""The one release path: evaluate the policy, put the release on record, queue it.

``release`` evaluates the policy (pure), builds the content, and in the caller's
transaction appends the ``release`` entry to the disclosure log and writes the
outbox row. Nothing reaches the outbox any other way, so nothing can be
delivered that has no committed entry.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from audit import Draft, EntryValue, references_root
from broker.disclosure import policy_facts, record, rfc3339
from broker.keys import KeyRing
from broker.policy import Mode, Policy, ReleasePlan
from broker.policy.service import explain
from broker.release import _parts, _payload
from broker.release.models import Release, ReleasePart, ReleaseState

__all__ = ["Outcome", "Queued", "queue", "release"]

_STATE_BATCH = 10_000
"""Rows of what the recipient holds, inserted per statement."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a release run did: the release made, or why none was."""

    plan: ReleasePlan
    release: Release | None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class _Delta:
    """What to send: the dwellings in it, those withdrawn, and what the recipient then holds.

    ``base`` is the release the delta is relative to (``mode: changes``); ``None`` means
    the whole window, which replaces the recipient's set (``mode: snapshot``). ``resync``
    marks such a full set sent under a ``changes`` policy because the recipient's set is
    not known.
    """

    changed: list[str]
    withdrawn: list[str]
    digests: dict[str, str]
    base: str | None = None
    resync: bool = False

    @property
    def mode(self) -> Mode:
        """Return how the recipient applies it: replace its set, or upsert and remove."""
        return Mode.SNAPSHOT if self.base is None else Mode.CHANGES


def _changes(session: Session, policy: Policy, records: dict[str, dict[str, Any]]) -> _Delta | None:
    """Return what to send against what the recipient is known to hold; None: nothing new.

    The recipient is known to hold the state of the newest release of this policy to it
    only once that release was delivered: a delta is computed against it alone. When the
    newest release is still pending or failed for good, or none was made, the recipient's
    set is unknown and the whole window goes out as a resync.
    """
    digests = {ref: _payload.digest(item) for ref, item in records.items()}
    if policy.mode is Mode.SNAPSHOT:
        return _Delta(sorted(records), [], digests)
    everything = _Delta(sorted(records), [], digests, resync=True)
    newest = session.scalar(
        select(Release)
        .where(Release.recipient == policy.recipient, Release.policy_id == policy.id)
        .order_by(Release.log_seq.desc())
        .limit(1)
    )
    if newest is None or newest.status == "failed":
        return everything
    # ``release_state`` holds the newest release's state only. A release never has
    # fewer than ``min_dwellings``, so no rows means that state is not known.
    held = {
        row.dwelling_ref: row.digest
        for row in session.scalars(
            select(ReleaseState).where(
                ReleaseState.recipient == policy.recipient,
                ReleaseState.policy_id == policy.id,
                ReleaseState.release_id == newest.id,
            )
        )
    }
    if not held:
        return everything
    if newest.status != "delivered":
        # Still on its way: once delivered it brings the recipient to ``held``.
        return None if held == digests else everything
    changed = sorted(ref for ref in records if held.get(ref) != digests[ref])
    withdrawn = sorted(ref for ref in held if ref not in records)
    if not changed and not withdrawn:
        return None
    return _Delta(changed, withdrawn, digests, base=newest.id)


def _entry(
    policy: Policy, plan: ReleasePlan, release_id: str, delta: _Delta, refs: list[str]
) -> dict[str, EntryValue]:
    return {
        "event": "release",
        "actor": "broker",
        **policy_facts(policy),
        "release_id": release_id,
        "mode": delta.mode.value,
        "resync": delta.resync,
        "base_release": delta.base,
        "fields": sorted(plan.fields),
        # The dwellings by their keyed references, through one root: an entry of
        # bounded size however many there are (the index keeps the references).
        "dwellings_root": references_root(refs),
        "dwellings_count": len(refs),
        "in_scope": plan.in_scope,
        "left_out": plan.left_out,
        "dwellings_released": len(delta.changed),
        "withdrawn": len(delta.withdrawn),
    }


@dataclass(frozen=True, slots=True)
class Queued:
    """What to put on record and queue: the entry's fields and the released content."""

    release_id: str
    policy: Policy
    fields: dict[str, EntryValue]
    content: dict[str, Any]
    dwellings: int
    withdrawn: int = 0
    named: tuple[str, ...] = ()
    """The keyed references the entry commits to through its ``dwellings_root``."""
    part_dwellings: int | None = None
    """Send in parts of this many records and keys when there are more (None: whole)."""


def queue(
    session: Session, ring: KeyRing, item: Queued, *, run_at: dt.datetime, now: dt.datetime
) -> Release:
    """Append the entry (committing to the content's exact bytes) and write the outbox row.

    The one way anything reaches the outbox: both land in the caller's transaction. A
    release of more than ``item.part_dwellings`` records and keys is sent in parts: its
    entry then commits to the parts' manifest (``broker.release._parts``).
    """
    content = _payload.canonical(item.content)
    parts = (
        _parts.split(item.content, item.part_dwellings)
        if item.part_dwellings is not None and item.dwellings + item.withdrawn > item.part_dwellings
        else []
    )
    fields = dict(item.fields)
    manifest: bytes | None = None
    cut: list[bytes] = []
    if len(parts) > 1:
        assert item.part_dwellings is not None  # noqa: S101 - parts are cut only with a size
        cut = [_payload.canonical(part) for part in parts]
        listed = _parts.manifest(item.release_id, parts, item.part_dwellings, cut)
        manifest = _payload.canonical(listed)
        fields["parts"] = len(parts)
    committed = content if manifest is None else manifest
    draft = Draft({"time": rfc3339(now), **fields}, committed)
    appended = record(session, ring, [draft], named=[item.named])
    salt = appended.salts[0]
    if salt is None:  # pragma: no cover - a draft with content always gets a salt
        raise AssertionError("the release entry was appended without its content")
    # The receipt is cut at delivery, once the witnesses have seen the entry.
    outbox = Release(
        id=item.release_id,
        policy_id=item.policy.id,
        policy_hash=item.policy.content_hash,
        recipient=item.policy.recipient,
        mode=str(item.fields.get("mode", item.policy.mode.value)),
        run_at=run_at,
        created_at=now,
        log_seq=appended.first_seq,
        dwellings=item.dwellings,
        withdrawn=item.withdrawn,
        content=content,
        salt=salt,
        parts=len(parts) if manifest is not None else 1,
        parts_delivered=0,
        manifest=manifest,
        receipt=None,
        receipt_uncosigned=None,
        status="pending",
        attempts=0,
        next_attempt_at=now,
        delivered_at=None,
        last_error=None,
    )
    session.add(outbox)
    session.flush()
    if manifest is not None:
        # Cut once, here: delivery reads one part at a time.
        for number, data in enumerate(cut, start=1):
            session.execute(
                insert(ReleasePart),
                [{"release_id": item.release_id, "part": number, "content": data}],
            )
    return outbox


def release(  # noqa: PLR0913 - the run's facts, all named
    session: Session,
    ring: KeyRing,
    policy: Policy,
    *,
    run_at: dt.datetime,
    now: dt.datetime,
    part_dwellings: int | None = None,
) -> Outcome:
    """Evaluate ``policy`` for ``run_at`` and, if it releases anything, record and queue it.

    A release of more than ``part_dwellings`` dwellings and withdrawn keys is sent in
    numbered parts of that many (``BROKER_RELEASE_PART_DWELLINGS``; None: whole).

    Raises:
        ConcurrentAppendError: another writer advanced the log (the transaction rolls back).
    """
    # 1. Evaluate: pure, deny by default, refuses below min_dwellings.
    plan = explain(session, policy, at=run_at.date())
    if plan.refused is not None:
        return Outcome(plan, None, plan.refused)
    release_id = "rel-" + secrets.token_hex(12)

    def key(ref: str) -> str:
        return _payload.recipient_key(ring.reference_key, policy.recipient, ref)

    records = {d.ref: _payload.record(key(d.ref), d) for d in plan.dwellings}
    # 2. Snapshot: everything in the window; changes: only what differs from what the
    #    recipient holds, or everything again (a resync) when that is not known.
    delta = _changes(session, policy, records)
    if delta is None:
        return Outcome(plan, None, "nothing changed since the last release to this recipient")
    changed, withdrawn = delta.changed, delta.withdrawn
    content: dict[str, Any] = {
        **_payload.content_header(release_id, policy, mode=delta.mode.value, generated_at=now),
        "resync": delta.resync,
        "base_release": delta.base,
        "window": [d.isoformat() for d in plan.window] if plan.window else None,
        "in_scope": plan.in_scope,
        "left_out": plan.left_out,
        "dwellings": _payload.sorted_records([records[ref] for ref in changed]),
        "withdrawn": sorted(key(ref) for ref in withdrawn),
    }
    # 3. One transaction: the log entry (committing to the exact bytes) and the outbox row.
    concerned = sorted({ring.reference(ref) for ref in [*changed, *withdrawn]})
    fields = _entry(policy, plan, release_id, delta, concerned)
    queued = Queued(
        release_id,
        policy,
        fields,
        content,
        len(changed),
        len(withdrawn),
        tuple(concerned),
        part_dwellings,
    )
    outbox = queue(
        session,
        ring,
        queued,
        run_at=run_at,
        now=now,
    )
    # 4. Remember what this recipient holds once it has applied this release: the base
    #    of the next ``changes`` release, when this one is delivered.
    session.execute(
        delete(ReleaseState).where(
            ReleaseState.recipient == policy.recipient, ReleaseState.policy_id == policy.id
        )
    )
    # Rows, not ORM objects: a national release holds 600,000 of them.
    held = [
        {
            "recipient": policy.recipient,
            "policy_id": policy.id,
            "dwelling_ref": ref,
            "digest": digest,
            "release_id": release_id,
        }
        for ref, digest in delta.digests.items()
    ]
    for start in range(0, len(held), _STATE_BATCH):
        session.execute(insert(ReleaseState), held[start : start + _STATE_BATCH])
    return Outcome(plan, outbox)
