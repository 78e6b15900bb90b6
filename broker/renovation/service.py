"""Store a validated schedule upload: each department's schedule is replaced whole.

Runs inside the caller's transaction and only flushes: the edge commits, so an
upload lands completely or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from broker.db import Base
from broker.disclosure import objection_changed, record
from broker.errors import NotFound
from broker.keys import KeyRing
from broker.renovation.models import (
    Department,
    Dwelling,
    DwellingReplacement,
    Objection,
    Phase,
    Upload,
    new_dwelling_ref,
)
from schemas import ADDRESS_FIELDS, DepartmentSchedule, ScheduleUpload, format_address

__all__ = [
    "ReplaceStats",
    "add_objection",
    "dwelling_org",
    "find_dwelling",
    "remove_objection",
    "replace_schedule",
]


@dataclass(frozen=True, slots=True)
class ReplaceStats:
    """What one upload changed: counts only."""

    departments: int
    dwellings: int
    added: int
    updated: int
    withdrawn: int
    phases: int

    def __add__(self, other: ReplaceStats) -> ReplaceStats:
        """Sum two departments' counts."""
        return ReplaceStats(
            self.departments + other.departments,
            self.dwellings + other.dwellings,
            self.added + other.added,
            self.updated + other.updated,
            self.withdrawn + other.withdrawn,
            self.phases + other.phases,
        )


def _department(session: Session, org: str, code: str, now: dt.datetime) -> Department:
    department = session.scalar(
        select(Department).where(Department.org == org, Department.code == code)
    )
    if department is None:
        department = Department(org=org, code=code, created_at=now, updated_at=now)
        session.add(department)
        session.flush()
    else:
        department.updated_at = now
    return department


def _insert_phases(session: Session, rows: list[tuple[int, str, dt.date, dt.date]]) -> None:
    """Insert the phase rows through the driver's ``executemany``, as plain tuples.

    The bulk of an upload (several phases per dwelling): SQLAlchemy's per-row
    parameter processing cost more than the insert itself. SQLite stores a date as
    its ISO text, as SQLAlchemy's ``Date`` does; psycopg adapts ``date`` itself.
    """
    if not rows:
        return
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        marks = "?, ?, ?, ?"
        params: list[tuple[Any, ...]] = [
            (dwelling, kind, start.isoformat(), end.isoformat())
            for dwelling, kind, start, end in rows
        ]
    else:
        marks, params = "%s, %s, %s, %s", list(rows)
    statement = f'INSERT INTO phases (dwelling_id, kind, start, "end") VALUES ({marks})'  # noqa: S608 - constant text
    connection.exec_driver_sql(statement, params)


def _replace_department(
    session: Session, org: str, schedule: DepartmentSchedule, now: dt.datetime
) -> ReplaceStats:
    department = _department(session, org, schedule.afdeling, now)
    existing = dict(
        session.execute(
            select(Dwelling.lejemaalsnr, Dwelling.id).where(Dwelling.department_id == department.id)
        ).all()
    )
    if existing:
        ids = select(Dwelling.id).where(Dwelling.department_id == department.id)
        session.execute(delete(Phase).where(Phase.dwelling_id.in_(ids)))
        session.execute(delete(DwellingReplacement).where(DwellingReplacement.dwelling_id.in_(ids)))

    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    for dwelling in schedule.dwellings:
        row: dict[str, Any] = {name: getattr(dwelling, name) for name in ADDRESS_FIELDS}
        row.update(
            disposition=dwelling.disposition.value,
            affected=True,
            withdrawn_at=None,
            updated_at=now,
        )
        known_id = existing.get(dwelling.lejemaalsnr)
        if known_id is None:
            row.update(
                ref=new_dwelling_ref(),
                department_id=department.id,
                lejemaalsnr=dwelling.lejemaalsnr,
            )
            inserts.append(row)
        else:
            row["id"] = known_id
            updates.append(row)
    if updates:
        session.execute(update(Dwelling), updates)
    uploaded = {dwelling.lejemaalsnr for dwelling in schedule.dwellings}
    ids_by_number = {number: known for number, known in existing.items() if number in uploaded}
    if inserts:
        # A Core insert with NULLs rendered batches every row into few statements;
        # the returned tenancy numbers make the order of the ids irrelevant.
        returned = session.execute(
            insert(Base.metadata.tables[Dwelling.__tablename__])
            .returning(Dwelling.lejemaalsnr, Dwelling.id)
            .execution_options(render_nulls=True),
            inserts,
        )
        ids_by_number.update(returned.all())

    gone = [known_id for number, known_id in existing.items() if number not in ids_by_number]
    if gone:
        session.execute(
            update(Dwelling)
            .where(Dwelling.id.in_(gone), Dwelling.affected.is_(True))
            .values(affected=False, withdrawn_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )

    phases = [
        (ids_by_number[dwelling.lejemaalsnr], phase.kind.value, phase.start, phase.end)
        for dwelling in schedule.dwellings
        for phase in dwelling.phases
    ]
    _insert_phases(session, phases)
    links = [
        {"dwelling_id": ids_by_number[dwelling.lejemaalsnr], "replaces_id": ids_by_number[old]}
        for dwelling in schedule.dwellings
        for old in dwelling.erstatter
    ]
    if links:
        session.execute(insert(DwellingReplacement), links)
    return ReplaceStats(
        departments=1,
        dwellings=len(schedule.dwellings),
        added=len(inserts),
        updated=len(updates),
        withdrawn=len(gone),
        phases=len(phases),
    )


def replace_schedule(  # noqa: PLR0913 - the upload's facts are recorded with it
    session: Session,
    *,
    org: str,
    upload: ScheduleUpload,
    now: dt.datetime,
    source_format: str,
    rows: int,
    dropped_columns: tuple[str, ...],
) -> ReplaceStats:
    """Replace each uploaded department's schedule and record the upload.

    A dwelling of a department that is missing from the upload is kept, marked
    no longer affected, and loses its phases.
    """
    stats = ReplaceStats(0, 0, 0, 0, 0, 0)
    for schedule in upload.departments:
        stats += _replace_department(session, org, schedule, now)
    session.add(
        Upload(
            org=org,
            created_at=now,
            source_format=source_format,
            departments=[schedule.afdeling for schedule in upload.departments],
            rows=rows,
            dwellings=stats.dwellings,
            phases=stats.phases,
            withdrawn=stats.withdrawn,
            dropped_columns=list(dropped_columns),
            stats={"added": stats.added, "updated": stats.updated},
        )
    )
    session.flush()
    return stats


def _dwelling_id(session: Session, ref: str) -> int:
    dwelling_id = session.scalar(select(Dwelling.id).where(Dwelling.ref == ref))
    if dwelling_id is None:
        raise NotFound("no dwelling with that reference")
    return dwelling_id


def dwelling_org(session: Session, ref: str) -> str:
    """Return the housing organisation whose department holds the dwelling ``ref``.

    Raises:
        NotFound: no dwelling has that reference.
    """
    query = select(Department.org).join(Dwelling).where(Dwelling.ref == ref)
    org = session.scalar(query)
    if org is None:
        raise NotFound("no dwelling with that reference")
    return org


def _normalised(address: str) -> str:
    return " ".join(address.replace(",", " ").casefold().split())


def find_dwelling(session: Session, text: str) -> str:
    """Return the reference (dw-...) of the dwelling named by reference or by its address.

    An address matches the one-line form ``Vejnavn 12A, 1. tv, 2620 Albertslund``
    ignoring case, commas and spacing.

    Raises:
        NotFound: no dwelling, or more than one, matches (the text is not echoed).
    """
    text = text.strip()
    if text.startswith("dw-"):
        if session.scalar(select(Dwelling.ref).where(Dwelling.ref == text)) is None:
            raise NotFound("no dwelling with that reference")
        return text
    wanted = _normalised(text)
    rows = session.execute(
        select(
            Dwelling.ref,
            Dwelling.vejnavn,
            Dwelling.husnr,
            Dwelling.etage,
            Dwelling.doer,
            Dwelling.postnr,
            Dwelling.postnrnavn,
        )
    )
    found: list[str] = [
        str(row.ref)
        for row in rows
        if _normalised(
            format_address(
                row.vejnavn,
                row.husnr,
                etage=row.etage,
                doer=row.doer,
                postnr=row.postnr,
                postnrnavn=row.postnrnavn,
            )
        )
        == wanted
    ]
    if len(found) != 1:
        raise NotFound(
            "no dwelling with that address" if not found else "that address is ambiguous"
        )
    return found[0]


def add_objection(session: Session, ring: KeyRing, ref: str, *, now: dt.datetime) -> bool:
    """Record a resident's objection for the dwelling ``ref``, and its log entry.

    Returns False, recording nothing, if it was already recorded.

    Raises:
        NotFound: no dwelling has that reference.
    """
    dwelling_id = _dwelling_id(session, ref)
    if session.get(Objection, dwelling_id) is not None:
        return False
    session.add(Objection(dwelling_id=dwelling_id, created_at=now))
    session.flush()
    _record_objection(session, ring, ref, added=True, now=now)
    return True


def remove_objection(session: Session, ring: KeyRing, ref: str, *, now: dt.datetime) -> bool:
    """Withdraw the objection for the dwelling ``ref``, and record it in the log.

    Returns False, recording nothing, if there was none.

    Raises:
        NotFound: no dwelling has that reference.
    """
    dwelling_id = _dwelling_id(session, ref)
    deleted = session.execute(delete(Objection).where(Objection.dwelling_id == dwelling_id))
    session.flush()
    if not getattr(deleted, "rowcount", 0):
        return False
    _record_objection(session, ring, ref, added=False, now=now)
    return True


def _record_objection(
    session: Session, ring: KeyRing, ref: str, *, added: bool, now: dt.datetime
) -> None:
    discloser = dwelling_org(session, ref)
    entry = objection_changed(ring.reference(ref), discloser=discloser, added=added, at=now)
    record(session, ring, [entry])
