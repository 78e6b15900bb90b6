"""The bostøtte contact check: one dwelling out, one of two outcomes back, nothing else.

A coordinator sends only a dwelling reference. The broker checks the dwelling is
in the coordinator's departments and currently affected, then releases it under
the ``contact-check`` policy through the one release path (with the coordinator's
work contact). The municipality's answer is ``received``, recorded for every
check identically the moment its release is delivered, or later
``resident-consents-to-contact`` with a consent reference. An unanswered check
closes after a set time, like every other. Whether the municipality knows the
resident is health data under professional secrecy: nothing else flows back,
and nothing records whether anyone opened or read a check.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import Draft, EntryValue
from broker.access import Principal
from broker.contact.models import ContactCheck
from broker.delivery.service import DeliveryHooks
from broker.disclosure import policy_facts, record, rfc3339
from broker.errors import InputError, NotFound, Problem
from broker.keys import KeyRing
from broker.policy import Outcome, Policy, evaluate
from broker.policy.service import load_dwelling_facts
from broker.release import Queued, content_header, queue, recipient_key, released_record
from broker.renovation import Department, Dwelling
from schemas import looks_personal

__all__ = [
    "CHECK_OPEN",
    "close_unanswered",
    "on_delivered",
    "open_checks",
    "register_hooks",
    "reply",
    "request_check",
    "visible_check",
]

REQUESTED = "requested"
RECEIVED = Outcome.RECEIVED.value
CONSENT = Outcome.RESIDENT_CONSENTS_TO_CONTACT.value
CLOSED = "closed"
CHECK_OPEN = (REQUESTED, RECEIVED)
_CONSENT_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$")


def _municipality(recipient: str) -> str:
    return recipient.split("/", 1)[0]


def request_check(  # noqa: PLR0913 - who asks, under which policy, about what, when
    session: Session,
    ring: KeyRing,
    caller: Principal,
    policy: Policy,
    dwelling_ref: str,
    *,
    now: dt.datetime,
) -> ContactCheck:
    """Release one dwelling to the municipality under ``policy``; return the new check.

    Raises:
        NotFound: no such dwelling in the caller's organisation and departments.
        InputError: the dwelling is not currently affected within the policy's scope.
    """
    # 1. Only a dwelling of the coordinator's own departments exists for them.
    department = session.scalar(
        select(Department.code)
        .join(Dwelling, Dwelling.department_id == Department.id)
        .where(Dwelling.ref == dwelling_ref, Department.org == caller.org)
    )
    if department is None or department not in caller.departments:
        raise NotFound("no such dwelling")
    # 2. Evaluate the policy on that one dwelling: affected, in scope, not objected.
    facts = [
        f
        for f in load_dwelling_facts(session, org=caller.org, departments=(department,))
        if f.ref == dwelling_ref
    ]
    plan = evaluate(policy, facts, at=now.date())
    if not plan.dwellings:
        raise InputError(
            "no contact check was sent",
            (
                Problem(
                    "the dwelling is not currently affected within the policy's scope",
                    None,
                    "dwelling",
                ),
            ),
        )
    # 3. Put it on record and queue it, through the one release path.
    check_id = "cc-" + secrets.token_hex(12)
    release_id = "rel-" + secrets.token_hex(12)
    key = recipient_key(ring.reference_key, policy.recipient, dwelling_ref)
    content: dict[str, Any] = {
        **content_header(release_id, policy, mode="contact-check", generated_at=now),
        "check_id": check_id,
        "dwelling": released_record(key, plan.dwellings[0]),
        "coordinator_contact": caller.contact,
        "outcomes": [o.value for o in Outcome],
    }
    fields: dict[str, EntryValue] = {
        "event": "contact-check",
        "actor": caller.actor,
        **policy_facts(policy),
        "release_id": release_id,
        "check_id": check_id,
        "mode": "contact-check",
        "fields": sorted([*plan.fields, "coordinator_contact"]),
        "dwellings": [ring.reference(dwelling_ref)],
    }
    queue(session, ring, Queued(release_id, policy, fields, content, 1), run_at=now, now=now)
    check = ContactCheck(
        id=check_id,
        dwelling_ref=dwelling_ref,
        org=caller.org,
        department=department,
        coordinator=caller.token_id,
        recipient=policy.recipient,
        policy_id=policy.id,
        release_id=release_id,
        status=REQUESTED,
        consent_reference=None,
        created_at=now,
        updated_at=now,
    )
    session.add(check)
    session.flush()
    return check


def _reply_entry(ring: KeyRing, check: ContactCheck, outcome: str, now: dt.datetime) -> Draft:
    fields: dict[str, EntryValue] = {
        "time": rfc3339(now),
        "event": "contact-check-reply",
        "actor": _municipality(check.recipient),
        "recipient": f"{check.org}/coordinator",
        "check_id": check.id,
        "outcome": outcome,
        "dwellings": [ring.reference(check.dwelling_ref)],
    }
    return Draft(fields)


def on_delivered(session: Session, ring: KeyRing, release_id: str, *, now: dt.datetime) -> None:
    """Record ``received`` for the check whose release was just delivered (if it is one)."""
    check = session.scalar(select(ContactCheck).where(ContactCheck.release_id == release_id))
    if check is None or check.status != REQUESTED:
        return
    check.status, check.updated_at = RECEIVED, now
    record(session, ring, [_reply_entry(ring, check, RECEIVED, now)])


def register_hooks(hooks: DeliveryHooks) -> None:
    """Register what contact checks do when a release is delivered: record ``received``."""
    hooks.on_delivered(on_delivered)


def visible_check(session: Session, caller: Principal, check_id: str) -> ContactCheck:
    """Return the check if the caller may see it: its departments' coordinator, or its municipality.

    Raises:
        NotFound: no such check, or not the caller's (existence does not leak).
    """
    check = session.get(ContactCheck, check_id)
    if check is None:
        raise NotFound("no such contact check")
    if (
        caller.role == "coordinator"
        and check.org == caller.org
        and check.department in caller.departments
    ):
        return check
    if caller.role == "visitator" and _municipality(check.recipient) == caller.org:
        return check
    raise NotFound("no such contact check")


def open_checks(session: Session, caller: Principal) -> list[ContactCheck]:
    """Return the open checks addressed to the visitator's municipality, oldest first."""
    rows = session.scalars(
        select(ContactCheck)
        .where(ContactCheck.status.in_(CHECK_OPEN))
        .order_by(ContactCheck.created_at, ContactCheck.id)
    )
    return [c for c in rows if _municipality(c.recipient) == caller.org]


def reply(  # noqa: PLR0913 - who answers which check with which reference, when
    session: Session,
    ring: KeyRing,
    caller: Principal,
    check_id: str,
    consent_reference: str,
    *,
    now: dt.datetime,
) -> ContactCheck:
    """Record that the resident consents to contact, with the municipality's consent reference.

    Raises:
        NotFound: not a check of the visitator's municipality.
        InputError: the check is not open, or the reference is not a plain reference.
    """
    check = visible_check(session, caller, check_id)
    if caller.role != "visitator":
        raise NotFound("no such contact check")
    problems = []
    if not _CONSENT_REFERENCE.match(consent_reference) or looks_personal(consent_reference):
        problems.append(
            Problem("4-40 letters, digits and -; no personal data", None, "consent_reference")
        )
    if check.status not in CHECK_OPEN:
        problems.append(Problem("the check is no longer open", None, "check"))
    if problems:
        raise InputError("the reply was not recorded", tuple(problems))
    check.status, check.consent_reference, check.updated_at = CONSENT, consent_reference, now
    record(session, ring, [_reply_entry(ring, check, CONSENT, now)])
    session.flush()
    return check


def close_unanswered(
    session: Session, ring: KeyRing, *, older_than: dt.timedelta, now: dt.datetime
) -> int:
    """Close every open check older than ``older_than``, all alike; return how many."""
    due = list(
        session.scalars(
            select(ContactCheck).where(
                ContactCheck.status.in_(CHECK_OPEN), ContactCheck.created_at <= now - older_than
            )
        )
    )
    for check in due:
        check.status, check.updated_at = CLOSED, now
        fields: dict[str, EntryValue] = {
            "time": rfc3339(now),
            "event": "contact-check",
            "actor": "broker",
            "check_id": check.id,
            "state": CLOSED,
            "dwellings": [ring.reference(check.dwelling_ref)],
        }
        record(session, ring, [Draft(fields)])
    session.flush()
    return len(due)
