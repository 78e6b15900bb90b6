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

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from audit import Draft, EntryValue
from audit._storage import log_contents
from broker.disclosure import policy_facts, record, rfc3339
from broker.keys import KeyRing
from broker.policy import Mode, Policy, ReleasePlan
from broker.policy.service import explain
from broker.release import _payload
from broker.release.models import Release, ReleaseState

__all__ = ["Outcome", "Queued", "queue", "release"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a release run did: the release made, or why none was."""

    plan: ReleasePlan
    release: Release | None
    reason: str | None = None


def _changes(
    session: Session, policy: Policy, records: dict[str, dict[str, Any]]
) -> tuple[list[str], list[str], dict[str, str]]:
    """Return the dwellings new or changed, those withdrawn, and every record's digest."""
    held = {
        row.dwelling_ref: row.digest
        for row in session.scalars(
            select(ReleaseState).where(
                ReleaseState.recipient == policy.recipient, ReleaseState.policy_id == policy.id
            )
        )
    }
    digests = {ref: _payload.digest(item) for ref, item in records.items()}
    if policy.mode is Mode.SNAPSHOT:
        return sorted(records), [], digests
    changed = sorted(ref for ref in records if held.get(ref) != digests[ref])
    withdrawn = sorted(ref for ref in held if ref not in records)
    return changed, withdrawn, digests


def _entry(
    policy: Policy, plan: ReleasePlan, release_id: str, refs: list[str], **counts: int
) -> dict[str, EntryValue]:
    return {
        "event": "release",
        "actor": "broker",
        **policy_facts(policy),
        "release_id": release_id,
        "mode": policy.mode.value,
        "fields": sorted(plan.fields),
        "dwellings": refs,
        "in_scope": plan.in_scope,
        "left_out": plan.left_out,
        **counts,
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


def queue(
    session: Session, ring: KeyRing, item: Queued, *, run_at: dt.datetime, now: dt.datetime
) -> Release:
    """Append the entry (committing to the content's exact bytes) and write the outbox row.

    The one way anything reaches the outbox: both land in the caller's transaction.
    """
    content = _payload.canonical(item.content)
    appended = record(session, ring, [Draft({"time": rfc3339(now), **item.fields}, content)])
    salt_query = select(log_contents.c.salt).where(log_contents.c.seq == appended.first_seq)
    salt = bytes(session.connection().execute(salt_query).scalar_one())
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
    return outbox


def release(
    session: Session, ring: KeyRing, policy: Policy, *, run_at: dt.datetime, now: dt.datetime
) -> Outcome:
    """Evaluate ``policy`` for ``run_at`` and, if it releases anything, record and queue it.

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
    # 2. Snapshot: everything in the window; changes: only what differs from what was sent.
    changed, withdrawn, digests = _changes(session, policy, records)
    if not changed and not withdrawn:
        return Outcome(plan, None, "nothing changed since the last release to this recipient")
    generated = rfc3339(now)
    content: dict[str, Any] = {
        "release_id": release_id,
        "policy_id": policy.id,
        "policy_version": policy.version,
        "policy_hash": policy.content_hash,
        "recipient": policy.recipient,
        "mode": policy.mode.value,
        "generated_at": generated,
        "window": [d.isoformat() for d in plan.window] if plan.window else None,
        "in_scope": plan.in_scope,
        "left_out": plan.left_out,
        "dwellings": _payload.sorted_records([records[ref] for ref in changed]),
        "withdrawn": sorted(key(ref) for ref in withdrawn),
    }
    # 3. One transaction: the log entry (committing to the exact bytes) and the outbox row.
    concerned = sorted(ring.reference(ref) for ref in [*changed, *withdrawn])
    counts = {"dwellings_released": len(changed), "withdrawn": len(withdrawn)}
    fields = _entry(policy, plan, release_id, concerned, **counts)
    outbox = queue(
        session,
        ring,
        Queued(release_id, policy, fields, content, len(changed), len(withdrawn)),
        run_at=run_at,
        now=now,
    )
    # 4. Remember what this recipient now holds, for the next ``changes`` release.
    session.execute(
        delete(ReleaseState).where(
            ReleaseState.recipient == policy.recipient, ReleaseState.policy_id == policy.id
        )
    )
    session.add_all(
        ReleaseState(
            recipient=policy.recipient,
            policy_id=policy.id,
            dwelling_ref=ref,
            digest=digest,
            release_id=release_id,
        )
        for ref, digest in digests.items()
    )
    session.flush()
    return Outcome(plan, outbox)
