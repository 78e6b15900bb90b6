"""A data-sharing agreement as a frozen model: what may be released, to whom, why and how.

The hard limits that no policy can lift are validators here: a policy that
names an ``internal`` or ``drop`` field, or an unknown one, is invalid; scope
selects only by department, phase kind and time window; a scheduled release
covers at least five dwellings; a reply carries only the closed set of outcomes.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Iterable
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from audit import canonical_json
from broker.scheduler import Schedule
from schemas import CATALOGUE, DepartmentCode, FieldClass, PhaseKind

__all__ = [
    "DATE_FIELDS",
    "MIN_DWELLINGS",
    "PHASE_FIELDS",
    "Flow",
    "LegalBasis",
    "Mode",
    "Outcome",
    "Policy",
    "Schedule",
    "Scope",
    "Transform",
    "Window",
    "housing_orgs",
]

MIN_DWELLINGS = 5
"""The usual statistical cell-suppression threshold: no scheduled release covers fewer."""

DATE_FIELDS = frozenset({"startdato", "slutdato"})
PHASE_FIELDS = frozenset({"fase", "startdato", "slutdato"})

_SLUG = r"^[a-z0-9][a-z0-9-]{1,63}$"
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")


class Flow(enum.StrEnum):
    """Which exchange a policy governs."""

    AFFECTED_DWELLINGS = "affected-dwellings"
    CONTACT_CHECK = "contact-check"
    CONTACT_CHECK_REPLY = "contact-check-reply"


class Transform(enum.StrEnum):
    """How a released field leaves the broker."""

    KEEP = "keep"
    ISO_WEEK = "iso-week"
    MONTH = "month"


class Mode(enum.StrEnum):
    """Whether a scheduled release sends the whole window or only what changed."""

    SNAPSHOT = "snapshot"
    CHANGES = "changes"


class Outcome(enum.StrEnum):
    """The only answers a municipality may send back to a contact check."""

    RECEIVED = "received"
    RESIDENT_CONSENTS_TO_CONTACT = "resident-consents-to-contact"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LegalBasis(_Frozen):
    """The GDPR article and the national provision, both required."""

    gdpr: str = Field(min_length=6, max_length=200, pattern=r"(?i)\bart")
    national: str = Field(min_length=3, max_length=200)


class Window(_Frozen):
    """Phases overlapping [run date - days_before, run date + days_after] are in scope."""

    days_before: int = Field(ge=0, le=366)
    days_after: int = Field(ge=0, le=731)

    def bounds(self, at: dt.date) -> tuple[dt.date, dt.date]:
        """Return the first and last day of the window for a run on ``at``."""
        return at - dt.timedelta(days=self.days_before), at + dt.timedelta(days=self.days_after)


class Scope(_Frozen):
    """Which dwellings: by department, phase kind and time window only, never one by one."""

    departments: tuple[DepartmentCode, ...] = Field(min_length=1)
    phases: tuple[PhaseKind, ...] = Field(min_length=1)
    window: Window


def duration_days(value: str) -> int:
    """Return an ISO 8601 duration (years, months, weeks, days) as an upper bound in days.

    Raises:
        ValueError: not such a duration.
    """
    match = _DURATION.match(value)
    if match is None or value == "P":
        raise ValueError("must be an ISO 8601 duration such as P1Y, P6M or P90D")
    years, months, weeks, days = (int(g or 0) for g in match.groups())
    return years * 366 + months * 31 + weeks * 7 + days


FieldName = Annotated[str, Field(pattern=r"^[a-z_]+$")]


class Policy(_Frozen):
    """One data-sharing agreement, parsed once from its file. The engine never sees a dict."""

    id: str = Field(pattern=_SLUG)
    version: int = Field(ge=1)
    description: str = Field(min_length=1, max_length=2000)
    discloser: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$")
    recipient: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}/[a-z0-9][a-z0-9-]{1,39}$")
    flow: Flow
    purpose: str = Field(min_length=10, max_length=500)
    legal_basis: LegalBasis
    scope: Scope | None = None
    fields: dict[FieldName, Transform | None] = Field(default_factory=dict)
    outcomes: tuple[Outcome, ...] = ()
    schedule: Schedule | None = None
    mode: Mode = Mode.SNAPSHOT
    min_dwellings: int = MIN_DWELLINGS
    retention: str | None = None

    @field_validator("fields")
    @classmethod
    def _fields_releasable(cls, value: dict[str, Transform | None]) -> dict[str, Transform | None]:
        for name, transform in value.items():
            field = CATALOGUE.get(name)
            if field is None:
                raise ValueError(f"{name}: not a field of the catalogue")
            if field.classification is FieldClass.INTERNAL:
                raise ValueError(f"{name}: classified internal in the catalogue: never released")
            if field.classification is FieldClass.DROP:
                raise ValueError(f"{name}: personal data (drop in the catalogue): never released")
            if transform in {Transform.ISO_WEEK, Transform.MONTH} and name not in DATE_FIELDS:
                raise ValueError(f"{name}: {transform} applies to dates only")
        return value

    @field_validator("min_dwellings")
    @classmethod
    def _min_dwellings(cls, value: int) -> int:
        if value < MIN_DWELLINGS:
            raise ValueError(f"must be at least {MIN_DWELLINGS}")
        return value

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None:
            duration_days(value)
        return value

    @model_validator(mode="after")
    def _flow_rules(self) -> Self:
        if self.flow is Flow.CONTACT_CHECK_REPLY:
            if self.fields:
                raise ValueError("fields: a contact-check-reply releases no dwelling fields")
            if Outcome.RECEIVED not in self.outcomes:
                raise ValueError("outcomes: must include the automatic `received`")
            if self.scope is not None or self.schedule is not None:
                raise ValueError("a contact-check-reply has no scope and no schedule")
            return self
        if self.outcomes:
            raise ValueError("outcomes: only a contact-check-reply names outcomes")
        if not self.fields:
            raise ValueError("fields: must name at least one field (nothing else is released)")
        if self.scope is None:
            raise ValueError("scope: required for this flow")
        if self.flow is Flow.AFFECTED_DWELLINGS and self.schedule is None:
            raise ValueError("schedule: required for affected-dwellings")
        if self.flow is Flow.CONTACT_CHECK and self.schedule is not None:
            raise ValueError("schedule: a contact check is requested, never scheduled")
        return self

    def transform(self, name: str) -> Transform:
        """Return the transform for a named field: dates default to ISO weeks."""
        chosen = self.fields[name]
        if chosen is not None:
            return chosen
        return Transform.ISO_WEEK if name in DATE_FIELDS else Transform.KEEP

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex) of the policy's RFC 8785 canonical JSON: its identity in the log."""
        document = self.model_dump(mode="json", exclude_none=True)
        return hashlib.sha256(canonical_json(document)).hexdigest()


def housing_orgs(policies: Iterable[Policy]) -> frozenset[str]:
    """The organisations ``policies`` name as disclosers of dwellings: those that upload.

    A municipality that discloses only its replies to contact checks is not one.
    """
    return frozenset(p.discloser for p in policies if p.flow is not Flow.CONTACT_CHECK_REPLY)
