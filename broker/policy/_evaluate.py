"""Policy evaluation: a pure function from a policy and dwellings to a release plan.

No I/O, no clock, no logging. Deny by default: a field reaches a record only
when the policy names it; every other catalogue field is listed as withheld,
with the reason.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.policy._agreement import PHASE_FIELDS, Flow, Policy, Transform
from schemas import CATALOGUE, FieldClass

__all__ = ["DwellingFacts", "PhaseFacts", "ReleasePlan", "ReleasedDwelling", "Withheld", "evaluate"]

Value = str | None


@dataclass(frozen=True, slots=True)
class PhaseFacts:
    """One phase as stored: kind and inclusive dates."""

    kind: str
    start: dt.date
    end: dt.date


@dataclass(frozen=True, slots=True)
class DwellingFacts:
    """A dwelling as the engine sees it: plain data, already loaded.

    ``values`` holds the dwelling-level catalogue fields (address, department,
    disposition); ``objected`` says whether the resident objected (GDPR Art. 21).
    """

    ref: str
    department: str
    affected: bool
    objected: bool
    values: Mapping[str, Value]
    phases: tuple[PhaseFacts, ...]


@dataclass(frozen=True, slots=True)
class ReleasedDwelling:
    """One dwelling's record as it would leave: named fields, transformed; its phases."""

    ref: str
    values: Mapping[str, Value]
    phases: tuple[Mapping[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Withheld:
    """A catalogue field that is not released, and why."""

    field: str
    reason: str


@dataclass(frozen=True, slots=True)
class ReleasePlan:
    """What a release under ``policy`` at ``at`` would contain, or why it releases nothing."""

    policy_id: str
    policy_hash: str
    at: dt.date
    window: tuple[dt.date, dt.date] | None
    in_scope: int
    left_out: int
    dwellings: tuple[ReleasedDwelling, ...]
    fields: Mapping[str, Transform]
    withheld: tuple[Withheld, ...]
    refused: str | None

    @property
    def releases(self) -> bool:
        """Whether anything would be released."""
        return self.refused is None and bool(self.dwellings)


@functools.lru_cache(maxsize=8192)
def _transform(value: dt.date, transform: Transform) -> str:
    if transform is Transform.ISO_WEEK:
        year, week, _ = value.isocalendar()
        return f"{year}-W{week:02d}"
    if transform is Transform.MONTH:
        return f"{value.year}-{value.month:02d}"
    return value.isoformat()


def _withheld(policy: Policy) -> tuple[Withheld, ...]:
    reasons = {
        FieldClass.INTERNAL: "internal: kept for matching uploads, never released",
        FieldClass.DROP: "personal data: dropped at ingest, never stored",
        FieldClass.RELEASE: "not named by the policy (deny by default)",
    }
    return tuple(
        Withheld(field.name, reasons[field.classification])
        for field in CATALOGUE.fields
        if field.name not in policy.fields
    )


def _overlaps(phase: PhaseFacts, first: dt.date, last: dt.date) -> bool:
    return phase.start <= last and phase.end >= first


def _record(
    dwelling: DwellingFacts, phases: Iterable[PhaseFacts], fields: Mapping[str, Transform]
) -> ReleasedDwelling:
    values = {name: dwelling.values.get(name) for name in fields if name not in PHASE_FIELDS}
    phase_fields = [name for name in fields if name in PHASE_FIELDS]
    released_phases: tuple[Mapping[str, Value], ...] = ()
    if phase_fields:
        released_phases = tuple(
            {
                name: (
                    phase.kind
                    if name == "fase"
                    else _transform(phase.start if name == "startdato" else phase.end, fields[name])
                )
                for name in phase_fields
            }
            for phase in sorted(phases, key=lambda p: (p.start, p.kind))
        )
    return ReleasedDwelling(dwelling.ref, values, released_phases)


def evaluate(policy: Policy, dwellings: Iterable[DwellingFacts], *, at: dt.date) -> ReleasePlan:
    """Return what ``policy`` would release from ``dwellings`` on the day ``at``.

    A dwelling is in scope when it is affected, in one of the scope's departments
    and has a phase of a scope kind overlapping the window. Dwellings whose
    residents objected are left out and only counted. An ``affected-dwellings``
    plan covering fewer than ``min_dwellings`` releases nothing.
    """
    fields = {name: policy.transform(name) for name in policy.fields}
    withheld = _withheld(policy)
    policy_hash = policy.content_hash
    if policy.scope is None:
        return ReleasePlan(
            policy.id,
            policy_hash,
            at,
            None,
            0,
            0,
            (),
            fields,
            withheld,
            "this flow releases no dwellings",
        )
    first, last = policy.scope.window.bounds(at)
    departments = set(policy.scope.departments)
    kinds = {kind.value for kind in policy.scope.phases}
    in_scope = 0
    left_out = 0
    records: list[ReleasedDwelling] = []
    for dwelling in dwellings:
        if not dwelling.affected or dwelling.department not in departments:
            continue
        phases = [p for p in dwelling.phases if p.kind in kinds and _overlaps(p, first, last)]
        if not phases:
            continue
        in_scope += 1
        if dwelling.objected:
            left_out += 1
            continue
        records.append(_record(dwelling, phases, fields))
    refused = None
    if policy.flow is Flow.AFFECTED_DWELLINGS and len(records) < policy.min_dwellings:
        refused = (
            f"{len(records)} dwelling(s) would be released; the policy needs at least "
            f"{policy.min_dwellings} (min_dwellings), so nothing is released"
        )
        records = []
    return ReleasePlan(
        policy.id,
        policy_hash,
        at,
        (first, last),
        in_scope,
        left_out,
        tuple(sorted(records, key=lambda r: r.ref)),
        fields,
        withheld,
        refused,
    )
