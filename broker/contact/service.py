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
import json
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from audit import Draft, EntryValue, content_seqs
from broker.access import Principal, Role
from broker.contact._search import MAX_QUERY, MIN_QUERY, address_words, matches, query_words
from broker.contact.models import ContactCheck
from broker.delivery.service import DeliveryHooks
from broker.disclosure import policy_facts, record, rfc3339
from broker.errors import Conflict, InputError, NotFound, Problem
from broker.keys import KeyRing
from broker.policy import Flow, LoadedPolicy, Outcome, Policy, ReleasePlan, evaluate
from broker.policy.service import load_dwelling_facts
from broker.release import (
    Queued,
    Release,
    address_order,
    content_header,
    queue,
    recipient_key,
    released_record,
)
from broker.renovation import Department, Dwelling
from schemas import format_address, looks_personal

__all__ = [
    "CHECK_OPEN",
    "MAX_QUERY",
    "MAX_RESULTS",
    "MIN_QUERY",
    "CheckRow",
    "FoundDwelling",
    "Preview",
    "Requested",
    "Search",
    "close_unanswered",
    "contact_policy",
    "coordinator_checks",
    "describe",
    "find_dwellings",
    "municipality_checks",
    "on_delivered",
    "open_checks",
    "preview_check",
    "register_hooks",
    "reply",
    "request_check",
    "search_dwellings",
    "visible_check",
]

REQUESTED = "requested"
RECEIVED = Outcome.RECEIVED.value
CONSENT = Outcome.RESIDENT_CONSENTS_TO_CONTACT.value
CLOSED = "closed"
CHECK_OPEN = (REQUESTED, RECEIVED)
_CONSENT_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$")
MAX_RESULTS = 100
"""The most dwellings one search returns."""
_ADDRESS = (
    Dwelling.vejnavn,
    Dwelling.husnr,
    Dwelling.etage,
    Dwelling.doer,
    Dwelling.postnr,
    Dwelling.postnrnavn,
)


def _municipality(recipient: str) -> str:
    return recipient.split("/", 1)[0]


def _address(row: Any) -> str:
    """Return the canonical address of a row that holds the ``_ADDRESS`` columns."""
    return format_address(
        row.vejnavn,
        row.husnr,
        etage=row.etage,
        doer=row.doer,
        postnr=row.postnr,
        postnrnavn=row.postnrnavn,
    )


def _coordinates(caller: Principal) -> bool:
    return caller.role == Role.COORDINATOR and bool(caller.departments)


def contact_policy(active: Iterable[LoadedPolicy], org: str) -> Policy:
    """Return the contact-check policy in force with ``org`` as its discloser.

    Raises:
        InputError: no contact-check agreement is in force for the organisation.
    """
    for item in active:
        if item.policy.flow is Flow.CONTACT_CHECK and item.policy.discloser == org:
            return item.policy
    rule = "no contact-check agreement is in force for this organisation"
    raise InputError("no contact check was sent", (Problem(rule, None, "policy"),))


# -- finding a dwelling -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FoundDwelling:
    """A dwelling found by its address: its reference and canonical address, nothing else."""

    ref: str
    address: str


@dataclass(frozen=True, slots=True)
class Search:
    """The dwellings found, sorted by address; ``more``: others matched beyond the limit."""

    dwellings: tuple[FoundDwelling, ...]
    more: bool


def _check_query(query: str, limit: int) -> list[tuple[str, ...]]:
    """Return the readings of ``query``, or raise InputError (the query is never echoed)."""
    problems = []
    text = query.strip()
    words = query_words(text)
    if not MIN_QUERY <= len(text) <= MAX_QUERY or not words:
        rule = f"an address of {MIN_QUERY}-{MAX_QUERY} characters, e.g. a street and number"
        problems.append(Problem(rule, None, "q"))
    if not 1 <= limit <= MAX_RESULTS:
        problems.append(Problem(f"between 1 and {MAX_RESULTS}", None, "limit"))
    if problems:
        raise InputError("no search was made", tuple(problems))
    return words


def find_dwellings(
    session: Session,
    org: str | None,
    query: str,
    *,
    limit: int,
    departments: Iterable[str] | None = None,
) -> Search:
    """Return ``org``'s dwellings (of ``departments`` only, when given) matching ``query``.

    ``org`` None searches every organisation's dwellings (the operator's CLI).

    ``query`` is an address as typed (``Demovej 1A 2 tv``, ``demovej 1``, ``Demov``):
    partial, in any case, ``aa`` for ``å``. Sorted by street, house number, floor and
    door, as the weekly list is.

    Raises:
        InputError: the query is under 2 or over 100 characters, or holds no word;
            or ``limit`` is not 1-100. The query is never echoed.
    """
    words = _check_query(query, limit)
    statement = select(Dwelling.ref, *_ADDRESS).join(
        Department, Dwelling.department_id == Department.id
    )
    if org is not None:
        statement = statement.where(Department.org == org)
    if departments is not None:
        statement = statement.where(Department.code.in_(tuple(departments)))
    found = []
    for row in session.execute(statement):
        address = _address(row)
        if matches(words, *address_words(address, row.vejnavn)):
            fields = {"vejnavn": row.vejnavn, "husnr": row.husnr, "etage": row.etage}
            found.append((address_order({**fields, "doer": row.doer}), row.ref, address))
    found.sort()
    return Search(
        tuple(FoundDwelling(ref, address) for _, ref, address in found[:limit]),
        more=len(found) > limit,
    )


def search_dwellings(session: Session, caller: Principal, query: str, *, limit: int) -> Search:
    """Return the caller's own departments' dwellings whose address matches ``query``.

    As :func:`find_dwellings`, for a coordinator: dwellings of other departments or
    organisations are not found, exactly like unknown addresses; anyone else finds none.

    Raises:
        InputError: as :func:`find_dwellings`.
    """
    if not _coordinates(caller):
        _check_query(query, limit)
        return Search((), more=False)
    return find_dwellings(session, caller.org, query, limit=limit, departments=caller.departments)


# -- what a check would send ----------------------------------------------------------------


def _own_dwelling(session: Session, caller: Principal, dwelling_ref: str) -> tuple[str, str]:
    """Return the dwelling's department code and address if it is the coordinator's.

    Raises:
        NotFound: no such dwelling in the caller's organisation and departments.
    """
    row = session.execute(
        select(Department.code, *_ADDRESS)
        .join(Dwelling, Dwelling.department_id == Department.id)
        .where(Dwelling.ref == dwelling_ref, Department.org == caller.org)
    ).first()
    if row is None or not _coordinates(caller) or row.code not in caller.departments:
        raise NotFound("no such dwelling")
    return row.code, _address(row)


def _plan(  # noqa: PLR0913 - whose dwelling, under which policy, when
    session: Session,
    caller: Principal,
    policy: Policy,
    *,
    department: str,
    dwelling_ref: str,
    now: dt.datetime,
) -> ReleasePlan:
    """Evaluate ``policy`` on the one dwelling: affected, in scope, not objected."""
    facts = [
        f
        for f in load_dwelling_facts(session, org=caller.org, departments=(department,))
        if f.ref == dwelling_ref
    ]
    return evaluate(policy, facts, at=now.date())


def _open_check(session: Session, policy: Policy, dwelling_ref: str) -> ContactCheck | None:
    return session.scalar(
        select(ContactCheck)
        .where(
            ContactCheck.dwelling_ref == dwelling_ref,
            ContactCheck.recipient == policy.recipient,
            ContactCheck.status.in_(CHECK_OPEN),
        )
        .order_by(ContactCheck.created_at, ContactCheck.id)
        .limit(1)
    )


@dataclass(frozen=True, slots=True)
class Preview:
    """What a contact check on one dwelling would send now: nothing is sent or recorded.

    ``phases`` are the dwelling's coming phases as the policy releases them (each
    with the released phase fields, e.g. ``fase``, ``startdato`` as ``2027-W09``).
    ``sendable``: the policy would release the dwelling (affected, in its scope and
    window, not objected). ``open_check``: a check on it still open, which a new
    request would return instead of sending again.
    """

    ref: str
    address: str
    phases: tuple[Mapping[str, str | None], ...]
    sendable: bool
    open_check: ContactCheck | None


def preview_check(
    session: Session, caller: Principal, policy: Policy, dwelling_ref: str, *, now: dt.datetime
) -> Preview:
    """Return what a contact check on ``dwelling_ref`` would release under ``policy`` now.

    Runs the policy's own evaluation (the one that ``request_check`` runs).

    Raises:
        NotFound: no such dwelling in the caller's organisation and departments.
    """
    department, address = _own_dwelling(session, caller, dwelling_ref)
    plan = _plan(session, caller, policy, department=department, dwelling_ref=dwelling_ref, now=now)
    released = plan.dwellings[0] if plan.dwellings else None
    return Preview(
        ref=dwelling_ref,
        address=address,
        phases=released.phases if released is not None else (),
        sendable=released is not None,
        open_check=_open_check(session, policy, dwelling_ref),
    )


# -- requesting a check -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requested:
    """The outcome of a request: the check, and whether this request created it.

    ``created`` is False when a check on the dwelling to the same recipient was
    still open: that one is returned and nothing is sent again.
    """

    check: ContactCheck
    created: bool


def request_check(  # noqa: PLR0913 - who asks, under which policy, about what, when
    session: Session,
    ring: KeyRing,
    caller: Principal,
    policy: Policy,
    dwelling_ref: str,
    *,
    now: dt.datetime,
) -> Requested:
    """Release one dwelling to the municipality under ``policy``, or return its open check.

    Two requests racing for one dwelling both append to the disclosure log: the
    second loses with ``LogConflictError`` and, repeated, finds the first one open.

    Raises:
        NotFound: no such dwelling in the caller's organisation and departments.
        InputError: the dwelling is not currently affected within the policy's scope.
    """
    # 1. Only a dwelling of the coordinator's own departments exists for them.
    department, _ = _own_dwelling(session, caller, dwelling_ref)
    # 2. A check still open on it is the answer: nothing is sent twice.
    already = _open_check(session, policy, dwelling_ref)
    if already is not None:
        return Requested(already, created=False)
    # 3. Evaluate the policy on that one dwelling: affected, in scope, not objected.
    plan = _plan(session, caller, policy, department=department, dwelling_ref=dwelling_ref, now=now)
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
    # 4. Put it on record and queue it, through the one release path.
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
    return Requested(check, created=True)


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


@dataclass(frozen=True, slots=True)
class CheckRow:
    """A contact check as one side lists it: no read or opened marks, no update time.

    ``address`` is, for the coordinator, the dwelling's canonical address; for the
    municipality, the address as the check's release carried it (None once that
    release's content is gone with its retention). ``answerable``: the release was
    delivered and the check is open, so the visitator may record consent.
    """

    id: str
    dwelling_ref: str
    address: str | None
    requested_at: dt.datetime
    status: str
    consent_reference: str | None
    release_id: str

    @property
    def answerable(self) -> bool:
        """Whether a consent reply may be recorded now (delivered, still open)."""
        return self.status == RECEIVED


def _row(check: ContactCheck, address: str | None) -> CheckRow:
    return CheckRow(
        id=check.id,
        dwelling_ref=check.dwelling_ref,
        address=address,
        requested_at=check.created_at,
        status=check.status,
        consent_reference=check.consent_reference if check.status == CONSENT else None,
        release_id=check.release_id,
    )


def _own_addresses(session: Session, checks: Iterable[ContactCheck]) -> dict[str, str]:
    refs = {check.dwelling_ref for check in checks}
    if not refs:
        return {}
    rows = session.execute(select(Dwelling.ref, *_ADDRESS).where(Dwelling.ref.in_(refs)))
    return {row.ref: _address(row) for row in rows}


def _released_addresses(session: Session, checks: Iterable[ContactCheck]) -> dict[str, str]:
    """Return each check's address as its release carried it (by release id), if still held."""
    ids = {check.release_id for check in checks}
    if not ids:
        return {}
    releases = list(
        session.scalars(
            select(Release)
            .where(Release.id.in_(ids))
            .options(defer(Release.salt), defer(Release.receipt))
        )
    )
    held = content_seqs(session.connection(), {r.log_seq for r in releases}) if releases else set()
    found = {}
    for item in releases:
        if item.log_seq not in held or not item.content:
            continue
        address = _released_address(json.loads(item.content).get("dwelling") or {})
        if address is not None:
            found[item.id] = address
    return found


def _released_address(values: Mapping[str, Any]) -> str | None:
    """Return the one-line address of a released record, of the fields it holds."""
    if values.get("vejnavn") is None or values.get("husnr") is None:
        return None
    line = format_address(
        str(values["vejnavn"]),
        str(values["husnr"]),
        etage=values.get("etage"),
        doer=values.get("doer"),
        postnr="",
        postnrnavn="",
    ).removesuffix(",  ")
    town = " ".join(str(values[n]) for n in ("postnr", "postnrnavn") if values.get(n) is not None)
    return f"{line}, {town}" if town else line


def coordinator_checks(session: Session, caller: Principal) -> list[CheckRow]:
    """Return the checks on the coordinator's departments' dwellings, newest first.

    Each row is the same whatever the municipality did short of consenting: nothing
    records whether or when it read a check.
    """
    if not _coordinates(caller):
        return []
    checks = list(
        session.scalars(
            select(ContactCheck)
            .where(ContactCheck.org == caller.org, ContactCheck.department.in_(caller.departments))
            .order_by(ContactCheck.created_at.desc(), ContactCheck.id)
        )
    )
    addresses = _own_addresses(session, checks)
    return [_row(check, addresses.get(check.dwelling_ref)) for check in checks]


def municipality_checks(session: Session, caller: Principal) -> list[CheckRow]:
    """Return the open checks addressed to the visitator's municipality, oldest first.

    The address is the one the check's release carried: the municipality sees only
    what was released to it.
    """
    if caller.role != Role.VISITATOR:
        return []
    checks = open_checks(session, caller)
    addresses = _released_addresses(session, checks)
    return [_row(check, addresses.get(check.release_id)) for check in checks]


def describe(session: Session, caller: Principal, check: ContactCheck) -> CheckRow:
    """Return a check the caller may see as its side lists it (see ``CheckRow``)."""
    if caller.role == Role.VISITATOR:
        return _row(check, _released_addresses(session, [check]).get(check.release_id))
    return _row(check, _own_addresses(session, [check]).get(check.dwelling_ref))


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
        InputError: the reference is not a plain reference (never echoed).
        Conflict: the check's release has not been delivered yet, or it is no longer open.
    """
    check = visible_check(session, caller, check_id)
    if caller.role != "visitator":
        raise NotFound("no such contact check")
    problems = []
    if not _CONSENT_REFERENCE.match(consent_reference) or looks_personal(consent_reference):
        problems.append(
            Problem("4-40 letters, digits and -; no personal data", None, "consent_reference")
        )
    if problems:
        raise InputError("the reply was not recorded", tuple(problems))
    if check.status == REQUESTED:
        rule = "the check's release has not been delivered yet: reply once it is received"
        raise Conflict("the reply was not recorded", (Problem(rule, None, "check"),))
    if check.status not in CHECK_OPEN:
        rule = "the check is no longer open"
        raise Conflict("the reply was not recorded", (Problem(rule, None, "check"),))
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
