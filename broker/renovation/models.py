"""ORM models of the renovation schedule: departments, dwellings, phases, uploads.

Only fields the catalogue classifies ``release`` or ``internal`` have a column.
There is no column for anything about a person.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from broker.db import Base, UtcDateTime

__all__ = [
    "DWELLING_REF",
    "Department",
    "Dwelling",
    "DwellingReplacement",
    "Objection",
    "Phase",
    "Upload",
    "new_dwelling_ref",
]

DWELLING_REF = r"^dw-[0-9a-f]{12}$"
"""The form of every dwelling reference ``new_dwelling_ref`` makes."""


def new_dwelling_ref() -> str:
    """Return a new opaque dwelling reference, the only way logs and the CLI name a dwelling."""
    return "dw-" + secrets.token_hex(6)


class Department(Base):
    """A housing department (afdeling) of one housing organisation."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("org", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org: Mapped[str] = mapped_column(String(40))
    code: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    dwellings: Mapped[list[Dwelling]] = relationship(back_populates="department")


class Dwelling(Base):
    """One address in a department, affected or formerly affected by the renovation."""

    __tablename__ = "dwellings"
    __table_args__ = (UniqueConstraint("department_id", "lejemaalsnr"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(16), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    lejemaalsnr: Mapped[str] = mapped_column(String(30))
    adresseid: Mapped[str | None] = mapped_column(String(36))
    vejnavn: Mapped[str] = mapped_column(String(40))
    husnr: Mapped[str] = mapped_column(String(4))
    etage: Mapped[str | None] = mapped_column(String(2))
    doer: Mapped[str | None] = mapped_column(String(4))
    postnr: Mapped[str] = mapped_column(String(4))
    postnrnavn: Mapped[str] = mapped_column(String(40))
    kommunekode: Mapped[str] = mapped_column(String(4), index=True)
    disposition: Mapped[str] = mapped_column(String(16))
    affected: Mapped[bool] = mapped_column(Boolean)
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    department: Mapped[Department] = relationship(back_populates="dwellings")
    phases: Mapped[list[Phase]] = relationship(
        back_populates="dwelling", order_by="Phase.start", passive_deletes=True
    )


class Phase(Base):
    """One renovation phase of one dwelling, with inclusive start and end dates."""

    __tablename__ = "phases"
    __table_args__ = (UniqueConstraint("dwelling_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dwelling_id: Mapped[int] = mapped_column(ForeignKey("dwellings.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    start: Mapped[dt.date] = mapped_column(Date, index=True)
    end: Mapped[dt.date] = mapped_column(Date)

    dwelling: Mapped[Dwelling] = relationship(back_populates="phases")


class DwellingReplacement(Base):
    """A link from a dwelling to one it replaces (merge, split or new build)."""

    __tablename__ = "dwelling_replacements"

    dwelling_id: Mapped[int] = mapped_column(
        ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True
    )
    replaces_id: Mapped[int] = mapped_column(
        ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True
    )


class Upload(Base):
    """One accepted schedule upload: counts and the names of the columns it dropped."""

    __tablename__ = "uploads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    source_format: Mapped[str] = mapped_column(String(8))
    departments: Mapped[list[str]] = mapped_column(JSON)
    rows: Mapped[int] = mapped_column(Integer)
    dwellings: Mapped[int] = mapped_column(Integer)
    phases: Mapped[int] = mapped_column(Integer)
    withdrawn: Mapped[int] = mapped_column(Integer)
    dropped_columns: Mapped[list[str]] = mapped_column(JSON)
    stats: Mapped[dict[str, Any]] = mapped_column(JSON)


class Objection(Base):
    """A resident's objection (GDPR Art. 21): the dwelling is left out of scheduled releases."""

    __tablename__ = "objections"

    dwelling_id: Mapped[int] = mapped_column(
        ForeignKey("dwellings.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
