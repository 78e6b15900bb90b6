"""The schedule as its housing organisation sees it: its departments and their dwellings.

Another organisation's department is reported as not found, so that its
existence does not show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from broker.errors import NotFound
from broker.renovation.models import Department, Dwelling, Upload

__all__ = ["DepartmentSummary", "department_dwellings", "newest_upload", "org_departments"]


@dataclass(frozen=True, slots=True)
class DepartmentSummary:
    """A department with its dwelling counts."""

    code: str
    dwellings: int
    affected: int
    updated_at: dt.datetime


def org_departments(session: Session, org: str) -> list[DepartmentSummary]:
    """Return ``org``'s departments by code, each with its dwellings and those now affected."""
    affected = func.count(Dwelling.id).filter(Dwelling.affected.is_(True))
    rows = session.execute(
        select(Department.code, func.count(Dwelling.id), affected, Department.updated_at)
        .outerjoin(Dwelling, Dwelling.department_id == Department.id)
        .where(Department.org == org)
        .group_by(Department.id, Department.code, Department.updated_at)
        .order_by(Department.code)
    )
    return [DepartmentSummary(code, total, now, updated) for code, total, now, updated in rows]


def department_dwellings(session: Session, org: str, code: str) -> list[Dwelling]:
    """Return the dwellings of ``org``'s department ``code`` with their phases, as first uploaded.

    Raises:
        NotFound: ``org`` has no department ``code`` (another organisation's is not seen).
    """
    department_id = session.scalar(
        select(Department.id).where(Department.org == org, Department.code == code)
    )
    if department_id is None:
        raise NotFound("no such department")
    return list(
        session.scalars(
            select(Dwelling)
            .where(Dwelling.department_id == department_id)
            .options(selectinload(Dwelling.phases))
            .order_by(Dwelling.id)
        )
    )


def newest_upload(session: Session, org: str) -> int | None:
    """Return the id of ``org``'s newest accepted upload, or None before its first."""
    return session.scalar(
        select(Upload.id).where(Upload.org == org).order_by(Upload.id.desc()).limit(1)
    )
