"""What the edges call: load the stored schedule as plain facts and evaluate a policy on it."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from broker.policy._evaluate import DwellingFacts, PhaseFacts, ReleasePlan, evaluate
from broker.policy._model import Policy
from broker.schedule.models import Department, Dwelling, Objection
from schemas import ADDRESS_FIELDS

__all__ = ["explain", "load_dwelling_facts"]

_VALUE_FIELDS = (*ADDRESS_FIELDS, "disposition")


def load_dwelling_facts(
    session: Session, *, org: str, departments: tuple[str, ...]
) -> list[DwellingFacts]:
    """Return the stored dwellings of ``org``'s ``departments`` as plain facts.

    A dwelling with a recorded objection (GDPR Art. 21) is marked ``objected``.
    """
    objected = set(session.scalars(select(Objection.dwelling_id)))
    rows = session.scalars(
        select(Dwelling)
        .join(Department)
        .where(Department.org == org, Department.code.in_(departments))
        .options(selectinload(Dwelling.phases), selectinload(Dwelling.department))
    )
    return [
        DwellingFacts(
            ref=dwelling.ref,
            department=dwelling.department.code,
            affected=dwelling.affected,
            objected=dwelling.id in objected,
            values={
                "afdeling": dwelling.department.code,
                **{name: getattr(dwelling, name) for name in _VALUE_FIELDS},
            },
            phases=tuple(PhaseFacts(p.kind, p.start, p.end) for p in dwelling.phases),
        )
        for dwelling in rows
    ]


def explain(session: Session, policy: Policy, *, at: dt.date) -> ReleasePlan:
    """Dry run: what ``policy`` would release on ``at``. Releases nothing, records nothing."""
    departments = policy.scope.departments if policy.scope is not None else ()
    facts = load_dwelling_facts(session, org=policy.discloser, departments=departments)
    return evaluate(policy, facts, at=at)
