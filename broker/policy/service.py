"""What the edges call: load the stored schedule as plain facts and evaluate a policy on it."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from broker.errors import NotFound
from broker.policy._agreement import Policy
from broker.policy._evaluate import DwellingFacts, PhaseFacts, ReleasePlan, evaluate
from broker.policy._load import LoadedPolicy
from broker.policy.models import PolicyVersion
from broker.renovation.models import Department, Dwelling, Objection, Phase
from schemas import ADDRESS_FIELDS

__all__ = [
    "explain",
    "load_dwelling_facts",
    "party_version",
    "party_versions",
    "policy_text",
    "record_versions",
]

_VALUE_FIELDS = (*ADDRESS_FIELDS, "disposition")


def load_dwelling_facts(
    session: Session, *, org: str, departments: tuple[str, ...]
) -> list[DwellingFacts]:
    """Return the stored dwellings of ``org``'s ``departments`` as plain facts.

    A dwelling with a recorded objection (GDPR Art. 21) is marked ``objected``.
    """
    in_scope = (
        select(Dwelling.id)
        .join(Department)
        .where(Department.org == org, Department.code.in_(departments))
    )
    objected = set(
        session.scalars(select(Objection.dwelling_id).where(Objection.dwelling_id.in_(in_scope)))
    )
    # Plain rows, not ORM objects: a national release reads 600,000 dwellings, and
    # objects would stay in the session's identity map until its commit.
    phases: dict[int, list[PhaseFacts]] = defaultdict(list)
    for dwelling_id, kind, start, end in session.execute(
        select(Phase.dwelling_id, Phase.kind, Phase.start, Phase.end)
        .where(Phase.dwelling_id.in_(in_scope))
        .order_by(Phase.dwelling_id, Phase.start, Phase.id)
    ):
        phases[dwelling_id].append(PhaseFacts(kind, start, end))
    rows = session.execute(
        select(
            Dwelling.id,
            Dwelling.ref,
            Dwelling.affected,
            Department.code,
            *(getattr(Dwelling, name) for name in _VALUE_FIELDS),
        )
        .join(Department)
        .where(Department.org == org, Department.code.in_(departments))
        .order_by(Dwelling.id)
    )
    return [
        DwellingFacts(
            ref=ref,
            department=code,
            affected=affected,
            objected=dwelling_id in objected,
            values={"afdeling": code, **dict(zip(_VALUE_FIELDS, values, strict=True))},
            phases=tuple(phases.get(dwelling_id, ())),
        )
        for dwelling_id, ref, affected, code, *values in rows
    ]


def explain(session: Session, policy: Policy, *, at: dt.date) -> ReleasePlan:
    """Dry run: what ``policy`` would release on ``at``. Releases nothing, records nothing."""
    departments = policy.scope.departments if policy.scope is not None else ()
    facts = load_dwelling_facts(session, org=policy.discloser, departments=departments)
    return evaluate(policy, facts, at=at)


def record_versions(
    session: Session, loaded: tuple[LoadedPolicy, ...], *, now: dt.datetime
) -> list[str]:
    """Store the exact text of each policy version not stored before; return their hashes.

    The text is kept by content hash, so an auditor can read what authorised a
    past release after the file has changed.
    """
    known = set(session.scalars(select(PolicyVersion.content_hash)))
    added = []
    for item in loaded:
        content_hash = item.policy.content_hash
        if content_hash in known:
            continue
        session.add(
            PolicyVersion(
                content_hash=content_hash,
                policy_id=item.policy.id,
                version=item.policy.version,
                text=item.text,
                discloser=item.policy.discloser,
                recipient=item.policy.recipient,
                first_seen_at=now,
            )
        )
        known.add(content_hash)
        added.append(content_hash)
    session.flush()
    return added


def _party(org: str) -> ColumnElement[bool]:
    """Whether a stored version names ``org`` as its discloser or its recipient's municipality."""
    return or_(
        PolicyVersion.discloser == org,
        PolicyVersion.recipient.startswith(f"{org}/", autoescape=True),
    )


def party_versions(session: Session, org: str) -> list[PolicyVersion]:
    """Return every stored agreement version ``org`` is a party to, by id, then oldest first."""
    query = (
        select(PolicyVersion)
        .where(_party(org))
        .order_by(PolicyVersion.policy_id, PolicyVersion.first_seen_at, PolicyVersion.version)
    )
    return list(session.scalars(query))


def party_version(
    session: Session, org: str, content_hash: str
) -> tuple[PolicyVersion, PolicyVersion | None]:
    """Return the version with ``content_hash`` and the one before it, if ``org`` is a party.

    The one before is the same agreement's version first put in force just before it.

    Raises:
        NotFound: no such version, or ``org`` is not a party to it (the same answer).
    """
    found = session.scalar(
        select(PolicyVersion).where(PolicyVersion.content_hash == content_hash, _party(org))
    )
    if found is None:
        raise NotFound("no such policy version")
    earlier = session.scalar(
        select(PolicyVersion)
        .where(
            PolicyVersion.policy_id == found.policy_id,
            PolicyVersion.first_seen_at < found.first_seen_at,
            _party(org),
        )
        .order_by(PolicyVersion.first_seen_at.desc())
        .limit(1)
    )
    return found, earlier


def policy_text(session: Session, content_hash: str) -> PolicyVersion:
    """Return the stored version with ``content_hash`` (the operator's, any party's).

    Raises:
        NotFound: no version with that hash was ever put in force here.
    """
    found = session.get(PolicyVersion, content_hash)
    if found is None:
        raise NotFound("no such policy version")
    return found
