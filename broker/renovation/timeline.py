"""A department's schedule as a timeline: which stairwell goes through which phase, when.

A stairwell (opgang) is a street and house number: the dwellings behind one front
door, who usually move out and back together. For each, the timeline gives every
phase's first start and last end over its affected dwellings, in the order the
stairwells move out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.errors import NotFound
from broker.renovation.models import Department, Dwelling, Phase
from schemas import PhaseKind

__all__ = ["Stairwell", "Timeline", "department_timeline"]

Period = tuple[dt.date, dt.date]


@dataclass(frozen=True, slots=True)
class Stairwell:
    """One street and house number: its affected dwellings and each phase's span."""

    vejnavn: str
    husnr: str
    postnr: str
    postnrnavn: str
    dwellings: int
    phases: dict[str, Period]

    @property
    def address(self) -> str:
        """``Prøvevej 12A, 2620 Albertslund``."""
        return f"{self.vejnavn} {self.husnr}, {self.postnr} {self.postnrnavn}"


@dataclass(frozen=True, slots=True)
class Timeline:
    """A department's stairwells in the order they move out, and the phase kinds it has."""

    code: str
    updated_at: dt.datetime
    kinds: tuple[str, ...]
    stairwells: tuple[Stairwell, ...]


def _widen(spans: dict[str, Period], kind: str, start: dt.date, end: dt.date) -> None:
    known = spans.get(kind)
    spans[kind] = (start, end) if known is None else (min(known[0], start), max(known[1], end))


def department_timeline(session: Session, org: str, code: str) -> Timeline:
    """Return the timeline of ``org``'s department ``code`` (affected dwellings only).

    Raises:
        NotFound: ``org`` has no such department.
    """
    department = session.scalar(
        select(Department).where(Department.org == org, Department.code == code)
    )
    if department is None:
        raise NotFound("no such department")
    rows = session.execute(
        select(
            Dwelling.id,
            Dwelling.vejnavn,
            Dwelling.husnr,
            Dwelling.postnr,
            Dwelling.postnrnavn,
            Phase.kind,
            Phase.start,
            Phase.end,
        )
        .join(Phase, Phase.dwelling_id == Dwelling.id)
        .where(Dwelling.department_id == department.id, Dwelling.affected.is_(True))
    )
    spans: dict[tuple[str, str, str, str], dict[str, Period]] = {}
    members: dict[tuple[str, str, str, str], set[int]] = {}
    for dwelling_id, vejnavn, husnr, postnr, postnrnavn, kind, start, end in rows:
        key = (vejnavn, husnr, postnr, postnrnavn)
        members.setdefault(key, set()).add(dwelling_id)
        _widen(spans.setdefault(key, {}), kind, start, end)
    order = [kind.value for kind in PhaseKind]
    kinds = tuple(kind for kind in order if any(kind in s for s in spans.values()))

    def moves(key: tuple[str, str, str, str]) -> tuple[dt.date, str, str]:
        # By the first phase of the move (rehousing if any), then by the address.
        phases = spans[key]
        first = phases.get(PhaseKind.GENHUSNING.value) or min(phases.values())
        number = "".join(ch for ch in key[1] if ch.isdigit()).zfill(4)
        return (first[0], key[0].casefold(), number + key[1])

    stairwells = tuple(
        Stairwell(*key, dwellings=len(members[key]), phases=spans[key])
        for key in sorted(spans, key=moves)
    )
    return Timeline(code, department.updated_at, kinds, stairwells)
