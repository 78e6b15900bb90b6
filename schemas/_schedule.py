"""The renovation schedule as the housing company uploads it.

One upload holds one or more departments; each department lists its affected
dwellings, each dwelling its phases. Everything here is address-level: no
model has a field for a person.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from schemas._address import (
    format_address,
    parse_adresseid,
    parse_doer,
    parse_etage,
    parse_husnr,
    parse_kommunekode,
    parse_postnr,
    parse_postnrnavn,
    parse_vejnavn,
)

__all__ = [
    "DepartmentCode",
    "DepartmentSchedule",
    "Disposition",
    "DwellingSchedule",
    "Kommunekode",
    "Lejemaalsnr",
    "Phase",
    "PhaseKind",
    "ScheduleUpload",
    "parse_department_code",
    "parse_disposition",
    "parse_lejemaalsnr",
    "parse_phase_kind",
]


class PhaseKind(enum.StrEnum):
    """What happens to a dwelling during the renovation, in the usual order."""

    VARSLING = "varsling"
    NEDPAKNING = "nedpakning"
    GENHUSNING = "genhusning"
    UDPAKNING = "udpakning"
    HJEMKOMST = "hjemkomst"
    GENETABLERING = "genetablering"
    HAANDVAERKERADGANG = "haandvaerkeradgang"
    MANGELGENNEMGANG = "mangelgennemgang"


class Disposition(enum.StrEnum):
    """What the renovation does to the dwelling as a unit."""

    RENOVERES = "renoveres"
    SAMMENLAEGGES = "sammenlaegges"
    OPDELES = "opdeles"
    NEDRIVES = "nedrives"
    NYBYGGERI = "nybyggeri"


_FOLD = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "ae", "Ø": "oe", "Å": "aa"})
_PHASES = {kind.value: kind for kind in PhaseKind}
_DISPOSITIONS = {kind.value: kind for kind in Disposition}
_DEPARTMENT = re.compile(r"^[a-z0-9æøå][a-z0-9æøå-]{0,39}$")
_LEJEMAALSNR = re.compile(r"^[0-9A-Za-z][0-9A-Za-z./-]{0,29}$")


def _fold(raw: str) -> str:
    return raw.strip().translate(_FOLD).lower().replace(" ", "")


def parse_phase_kind(raw: str) -> PhaseKind:
    """Return the phase kind for Danish text such as ``Genhusning`` or ``Håndværkeradgang``.

    Raises:
        ValueError: not one of the phase kinds.
    """
    kind = _PHASES.get(_fold(raw))
    if kind is None:
        raise ValueError("must be one of " + ", ".join(_PHASES))
    return kind


def parse_disposition(raw: str) -> Disposition:
    """Return the disposition for Danish text such as ``Sammenlægges``; blank means renoveres.

    Raises:
        ValueError: not one of the dispositions.
    """
    folded = _fold(raw)
    if not folded:
        return Disposition.RENOVERES
    kind = _DISPOSITIONS.get(folded)
    if kind is None:
        raise ValueError("must be one of " + ", ".join(_DISPOSITIONS))
    return kind


def parse_department_code(raw: str) -> str:
    """Return the department code in lower case with spaces as hyphens, e.g. ``blokland``.

    Raises:
        ValueError: empty, longer than 40 characters or holding other characters.
    """
    value = "-".join(raw.strip().lower().split())
    if not _DEPARTMENT.match(value):
        raise ValueError("must be a department code of 1-40 letters, digits or hyphens")
    return value


def parse_lejemaalsnr(raw: str) -> str:
    """Return the tenancy number as given, trimmed.

    Raises:
        ValueError: empty, longer than 30 characters or holding other characters.
    """
    value = raw.strip()
    if value.endswith(".0") and value[:-2].isdigit():  # spreadsheets turn numbers into floats
        value = value[:-2]
    if not _LEJEMAALSNR.match(value):
        raise ValueError("must be a tenancy number of 1-30 letters, digits or ./-")
    return value


DepartmentCode = Annotated[str, AfterValidator(parse_department_code)]
Lejemaalsnr = Annotated[str, AfterValidator(parse_lejemaalsnr)]
Kommunekode = Annotated[
    str,
    AfterValidator(parse_kommunekode),
    Field(pattern=r"^[0-9]{4}$", examples=["0165"]),
]
Postnr = Annotated[str, AfterValidator(parse_postnr), Field(pattern=r"^[0-9]{4}$")]
Vejnavn = Annotated[str, AfterValidator(parse_vejnavn), Field(max_length=40)]
Husnr = Annotated[str, AfterValidator(parse_husnr), Field(pattern=r"^[1-9][0-9]{0,2}[A-Z]?$")]
# The constraints sit on the string inside the optional type: on the union itself pydantic
# applies them to a blank cell's None too, and fails with a TypeError.
Etage = Annotated[
    Annotated[str, Field(pattern=r"^(st|kl|k[2-9]|[1-9][0-9]?)$")] | None,
    BeforeValidator(lambda v: parse_etage(v) if isinstance(v, str) else v),
    Field(default=None),
]
Doer = Annotated[
    Annotated[str, Field(max_length=4)] | None,
    BeforeValidator(lambda v: parse_doer(v) if isinstance(v, str) else v),
    Field(default=None),
]
Postnrnavn = Annotated[str, AfterValidator(parse_postnrnavn), Field(max_length=40)]
AdresseId = Annotated[
    str | None,
    BeforeValidator(
        lambda v: (parse_adresseid(v) if v.strip() else None) if isinstance(v, str) else v
    ),
    Field(default=None, description="DAR address UUID, when known"),
]


class Phase(BaseModel):
    """One phase of the renovation for one dwelling: its kind and its dates (inclusive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Annotated[
        PhaseKind, BeforeValidator(lambda v: parse_phase_kind(v) if isinstance(v, str) else v)
    ]
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _start_not_after_end(self) -> Self:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        return self


class DwellingSchedule(BaseModel):
    """One dwelling (one address) in a department, with its renovation phases.

    ``lejemaalsnr`` (the tenancy number) is kept only to match uploads to each
    other; the field catalogue classifies it ``internal``: it is never released.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    lejemaalsnr: Lejemaalsnr
    adresseid: AdresseId = None
    vejnavn: Vejnavn
    husnr: Husnr
    etage: Etage = None
    doer: Doer = None
    postnr: Postnr
    postnrnavn: Postnrnavn
    kommunekode: Kommunekode
    disposition: Annotated[
        Disposition,
        BeforeValidator(lambda v: parse_disposition(v) if isinstance(v, str) else v),
    ] = Disposition.RENOVERES
    erstatter: tuple[Lejemaalsnr, ...] = Field(
        default=(),
        description="tenancy numbers of the dwellings this one replaces (merge, split, new build)",
    )
    phases: tuple[Phase, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_phase_per_kind(self) -> Self:
        kinds = [phase.kind for phase in self.phases]
        if len(set(kinds)) != len(kinds):
            raise ValueError("phases: each phase kind may appear once per dwelling")
        if self.lejemaalsnr in self.erstatter:
            raise ValueError("erstatter: a dwelling cannot replace itself")
        return self

    @property
    def address(self) -> str:
        """The one-line canonical address."""
        return format_address(
            self.vejnavn,
            self.husnr,
            etage=self.etage,
            doer=self.doer,
            postnr=self.postnr,
            postnrnavn=self.postnrnavn,
        )


class DepartmentSchedule(BaseModel):
    """The complete renovation schedule of one department: it replaces the previous one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    afdeling: DepartmentCode
    dwellings: tuple[DwellingSchedule, ...]

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        numbers = [dwelling.lejemaalsnr for dwelling in self.dwellings]
        known = set(numbers)
        if len(known) != len(numbers):
            raise ValueError("dwellings: each tenancy number may appear once per department")
        for dwelling in self.dwellings:
            if not set(dwelling.erstatter) <= known:
                raise ValueError("erstatter: must name tenancy numbers in the same department")
        return self


class ScheduleUpload(BaseModel):
    """A schedule upload: every department in it replaces that department's schedule."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    departments: tuple[DepartmentSchedule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _departments_once(self) -> Self:
        codes = [department.afdeling for department in self.departments]
        if len(set(codes)) != len(codes):
            raise ValueError("departments: each department may appear once")
        return self
