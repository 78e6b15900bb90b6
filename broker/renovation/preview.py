"""What an upload would change, before it changes anything; and the guard on withdrawals.

A department's upload replaces its whole schedule, so a cut-off export (ten rows of
a department of 306) would mark every dwelling it leaves out as no longer affected.
:func:`preview_upload` compares an upload with the stored schedule, dwelling by
dwelling, reading only; :class:`WithdrawGuard` refuses an upload that withdraws more
than a share of a department unless the caller names the count it accepts.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from broker.errors import Conflict, Problem
from broker.release.listing import address_order
from broker.renovation.models import Department, Dwelling, DwellingReplacement, Phase
from schemas import DepartmentSchedule, ScheduleUpload, format_address

__all__ = [
    "Change",
    "DepartmentPreview",
    "DwellingChange",
    "FieldChange",
    "PhaseChange",
    "UploadPreview",
    "WithdrawGuard",
    "preview_upload",
]

Period = tuple[dt.date, dt.date]


class Change(enum.StrEnum):
    """What an upload does to one dwelling."""

    NEW = "new"
    CHANGED = "changed"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class PhaseChange:
    """One phase kind of a dwelling whose dates differ: before and after (None: none)."""

    kind: str
    old: Period | None
    new: Period | None


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One stored fact of a dwelling other than its phases, before and after.

    ``name`` is the field (``disposition``, ``kommunekode``, ``adresseid``, ``erstatter``,
    or ``adresse`` when the address itself changes); ``erstatter`` is the tenancy numbers
    the dwelling replaces, sorted and joined.
    """

    name: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class DwellingChange:
    """One dwelling the upload adds, changes or leaves out, by its address."""

    address: str
    change: Change
    phases: tuple[PhaseChange, ...] = ()
    sort_key: tuple[Any, ...] = ()
    fields: tuple[FieldChange, ...] = ()


@dataclass(frozen=True, slots=True)
class DepartmentPreview:
    """One department of the upload: its counts and each dwelling that changes."""

    code: str
    affected_before: int
    dwellings: int
    unchanged: int
    changes: tuple[DwellingChange, ...]

    def count(self, change: Change) -> int:
        """How many dwellings the upload adds, changes or withdraws here."""
        return sum(1 for item in self.changes if item.change is change)

    @property
    def withdrawn(self) -> int:
        """Dwellings affected now that the upload leaves out."""
        return self.count(Change.WITHDRAWN)

    @property
    def withdrawn_share(self) -> float:
        """The withdrawn dwellings as a share of those affected now (0 for a new department)."""
        return self.withdrawn / self.affected_before if self.affected_before else 0.0


@dataclass(frozen=True, slots=True)
class UploadPreview:
    """Every department of an upload, compared with what is stored."""

    org: str
    departments: tuple[DepartmentPreview, ...]

    def count(self, change: Change) -> int:
        """The departments' sum of :meth:`DepartmentPreview.count`."""
        return sum(department.count(change) for department in self.departments)

    @property
    def withdrawn(self) -> int:
        """Dwellings affected now that the upload leaves out, in every department."""
        return self.count(Change.WITHDRAWN)


@dataclass(frozen=True, slots=True)
class _Stored:
    address: str
    sort_key: tuple[Any, ...]
    affected: bool
    phases: dict[str, Period]
    facts: dict[str, str | None]


def _facts(
    disposition: str, kommunekode: str, adresseid: str | None, erstatter: Iterable[str]
) -> dict[str, str | None]:
    replaced = " ".join(sorted(erstatter)) or None
    return {
        "disposition": disposition,
        "kommunekode": kommunekode,
        "adresseid": adresseid,
        "erstatter": replaced,
    }


def _sort_key(vejnavn: str, husnr: str, etage: str | None, doer: str | None) -> tuple[Any, ...]:
    return address_order({"vejnavn": vejnavn, "husnr": husnr, "etage": etage, "doer": doer})


def _stored(session: Session, org: str, code: str) -> dict[str, _Stored]:
    department_id = session.scalar(
        select(Department.id).where(Department.org == org, Department.code == code)
    )
    if department_id is None:
        return {}
    stored: dict[str, _Stored] = {}
    by_id: dict[int, str] = {}
    for dwelling in session.scalars(
        select(Dwelling).where(Dwelling.department_id == department_id)
    ):
        by_id[dwelling.id] = dwelling.lejemaalsnr
        stored[dwelling.lejemaalsnr] = _Stored(
            format_address(
                dwelling.vejnavn,
                dwelling.husnr,
                etage=dwelling.etage,
                doer=dwelling.doer,
                postnr=dwelling.postnr,
                postnrnavn=dwelling.postnrnavn,
            ),
            _sort_key(dwelling.vejnavn, dwelling.husnr, dwelling.etage, dwelling.doer),
            dwelling.affected,
            {},
            _facts(dwelling.disposition, dwelling.kommunekode, dwelling.adresseid, ()),
        )
    phases = (
        select(Phase.dwelling_id, Phase.kind, Phase.start, Phase.end)
        .join(Dwelling)
        .where(Dwelling.department_id == department_id)
    )
    for dwelling_id, kind, start, end in session.execute(phases):
        stored[by_id[dwelling_id]].phases[kind] = (start, end)
    links = (
        select(DwellingReplacement.dwelling_id, DwellingReplacement.replaces_id)
        .join(Dwelling, Dwelling.id == DwellingReplacement.dwelling_id)
        .where(Dwelling.department_id == department_id)
    )
    replaced: dict[int, list[str]] = {}
    for dwelling_id, replaces_id in session.execute(links):
        replaced.setdefault(dwelling_id, []).append(by_id.get(replaces_id, ""))
    for dwelling_id, numbers in replaced.items():
        facts = stored[by_id[dwelling_id]].facts
        facts["erstatter"] = " ".join(sorted(numbers)) or None
    return stored


def _phase_changes(old: dict[str, Period], new: dict[str, Period]) -> tuple[PhaseChange, ...]:
    kinds = sorted(set(old) | set(new), key=lambda kind: (new.get(kind) or old[kind])[0])
    return tuple(
        PhaseChange(kind, old.get(kind), new.get(kind))
        for kind in kinds
        if old.get(kind) != new.get(kind)
    )


def _department(session: Session, org: str, schedule: DepartmentSchedule) -> DepartmentPreview:
    stored = _stored(session, org, schedule.afdeling)
    changes: list[DwellingChange] = []
    unchanged = 0
    for dwelling in schedule.dwellings:
        key = _sort_key(dwelling.vejnavn, dwelling.husnr, dwelling.etage, dwelling.doer)
        new = {phase.kind.value: (phase.start, phase.end) for phase in dwelling.phases}
        before = stored.get(dwelling.lejemaalsnr)
        if before is None or not before.affected:
            changes.append(
                DwellingChange(dwelling.address, Change.NEW, _phase_changes({}, new), key)
            )
            continue
        phases = _phase_changes(before.phases, new)
        after = _facts(
            dwelling.disposition.value,
            dwelling.kommunekode,
            dwelling.adresseid,
            dwelling.erstatter,
        )
        fields = [
            FieldChange(name, before.facts[name], value)
            for name, value in after.items()
            if before.facts[name] != value
        ]
        if before.address != dwelling.address:
            fields.insert(0, FieldChange("adresse", before.address, dwelling.address))
        if phases or fields:
            changes.append(
                DwellingChange(dwelling.address, Change.CHANGED, phases, key, tuple(fields))
            )
        else:
            unchanged += 1
    uploaded = {dwelling.lejemaalsnr for dwelling in schedule.dwellings}
    changes += [
        DwellingChange(item.address, Change.WITHDRAWN, (), item.sort_key)
        for number, item in stored.items()
        if item.affected and number not in uploaded
    ]
    changes.sort(key=lambda item: item.sort_key)
    return DepartmentPreview(
        code=schedule.afdeling,
        affected_before=sum(1 for item in stored.values() if item.affected),
        dwellings=len(schedule.dwellings),
        unchanged=unchanged,
        changes=tuple(changes),
    )


def preview_upload(session: Session, upload: ScheduleUpload, *, org: str) -> UploadPreview:
    """Compare ``upload`` with the stored schedules of ``org``; read only, nothing changes.

    A dwelling is matched by its tenancy number, as storing the upload matches it. One
    that was no longer affected and comes back counts as new.
    """
    return UploadPreview(
        org, tuple(_department(session, org, schedule) for schedule in upload.departments)
    )


@dataclass(frozen=True, slots=True)
class WithdrawGuard:
    """Refuse an upload that withdraws more than ``share`` of a department's dwellings.

    ``allowed`` is the number of withdrawals the caller has confirmed (the count the
    refusal named): an upload that withdraws more than that is still refused.
    """

    share: float = 0.2
    allowed: int = 0

    def over(self, preview: UploadPreview) -> tuple[DepartmentPreview, ...]:
        """The departments whose withdrawals are over the share."""
        return tuple(d for d in preview.departments if d.withdrawn_share > self.share)

    def check(self, preview: UploadPreview) -> None:
        """Pass, or raise when a department is over the share and the count is not confirmed.

        Raises:
            Conflict: names each department over the share, its count and how to confirm.
        """
        over = self.over(preview)
        if not over or preview.withdrawn <= self.allowed:
            return
        problems = tuple(
            Problem(
                f"{d.withdrawn} of {d.affected_before} affected dwellings would be no longer"
                f" affected (more than {self.share:.0%}); is the export cut off?",
                column=f"department {d.code}",
            )
            for d in over
        )
        raise Conflict(
            f"the upload would mark {preview.withdrawn} dwellings as no longer affected;"
            f" if that is right, confirm the count {preview.withdrawn}",
            problems,
        )
