"""Housing routes: the caller organisation's departments and dwellings, and schedule uploads."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, computed_field

from broker.api._auth import DbSession, Housing, ReadSession, SettingsDep
from broker.api._problems import UPLOAD_PROBLEMS
from broker.api._routing import BoundedJsonRoute
from broker.api._uploads import Upload, run_cancellable
from broker.ingest import IngestReport, ingest_bytes
from broker.renovation.preview import WithdrawGuard
from broker.renovation.repository import department_dwellings, org_departments
from schemas import format_address

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["housing"], route_class=BoundedJsonRoute)


class DepartmentOut(BaseModel):
    """A department of the caller's organisation and its dwelling counts."""

    model_config = ConfigDict(from_attributes=True)

    code: str
    dwellings: int = Field(description="every dwelling ever uploaded for the department")
    affected: int = Field(description="dwellings in the latest upload")
    updated_at: dt.datetime


class PhaseOut(BaseModel):
    """One phase of a dwelling, with inclusive dates."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    start: dt.date
    end: dt.date


class DwellingOut(BaseModel):
    """One dwelling: its opaque reference, address, whether it is affected, and its phases."""

    model_config = ConfigDict(from_attributes=True)

    ref: str
    adresseid: str | None
    vejnavn: str
    husnr: str
    etage: str | None
    doer: str | None
    postnr: str
    postnrnavn: str
    kommunekode: str
    disposition: str
    affected: bool = Field(description="false once a later upload left the dwelling out")
    phases: list[PhaseOut]

    @computed_field  # type: ignore[prop-decorator]
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


class UploadSummary(BaseModel):
    """What an accepted upload did: the counts `broker ingest` prints, and dropped column names."""

    org: str
    source_format: str
    rows: int
    departments: list[str]
    dwellings: int
    added: int = Field(description="dwellings new to the broker")
    known: int = Field(description="dwellings already known")
    no_longer_affected: int = Field(description="dwellings left out of this upload")
    phases: int
    dropped_columns: list[str] = Field(
        description="columns (or keys) dropped, never stored: by the catalogue's heading, or"
        " by position (`column 7 (G, unknown heading)`) when the catalogue does not know it"
    )

    @classmethod
    def of(cls, report: IngestReport) -> UploadSummary:
        """Summarise an ingest report."""
        stats = report.stats
        return cls(
            org=report.org,
            source_format=report.source_format,
            rows=report.rows,
            departments=list(report.departments),
            dwellings=stats.dwellings,
            added=stats.added,
            known=stats.updated,
            no_longer_affected=stats.withdrawn,
            phases=stats.phases,
            dropped_columns=list(report.dropped_columns),
        )


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "a schedule upload (schemas/json/schedule-upload.schema.json)",
                },
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "a CSV, XLSX or JSON export, as `broker ingest` reads",
                        }
                    },
                },
            },
        },
    }
}


@router.get("/departments", response_model=list[DepartmentOut])
def departments(caller: Housing, session: ReadSession) -> list[DepartmentOut]:
    """The caller organisation's departments, with dwelling counts."""
    return [DepartmentOut.model_validate(d) for d in org_departments(session, caller.org)]


@router.get("/departments/{code}/dwellings", response_model=list[DwellingOut])
def dwellings(code: str, caller: Housing, session: ReadSession) -> list[DwellingOut]:
    """The dwellings of one of the caller organisation's departments, with their phases."""
    return [DwellingOut.model_validate(d) for d in department_dwellings(session, caller.org, code)]


@router.post(
    "/schedules",
    status_code=201,
    response_model=UploadSummary,
    responses=UPLOAD_PROBLEMS,
    openapi_extra=_UPLOAD_BODY,
)
async def upload_schedule(  # noqa: PLR0913, PLR0917 - the route's parts, all named
    caller: Housing,
    upload: Upload,
    session: DbSession,
    settings: SettingsDep,
    request: Request,
    allow_withdraw: Annotated[
        int,
        Query(
            ge=0,
            description="confirm that up to this many dwellings become no longer affected,"
            " as `broker ingest --allow-withdraw N`",
        ),
    ] = 0,
) -> UploadSummary:
    """Replace the schedules of the departments in the upload, for the caller's organisation.

    A JSON schedule document, or a CSV, XLSX or JSON export in the multipart field `file`;
    the same rules as `broker ingest`. A bad row rejects the whole upload and changes nothing.
    An upload that would mark more than a share of a department's affected dwellings as no
    longer affected (a cut-off export) is refused (409, naming the count) unless
    `allow_withdraw` confirms that count. The work stops if the client leaves or the server
    shuts down (503, nothing changed).
    """
    now = dt.datetime.now(dt.UTC)
    guard = WithdrawGuard(settings.withdraw_guard_share, allow_withdraw)
    report = await run_cancellable(
        request,
        lambda cancel: ingest_bytes(
            session,
            upload.data,
            name=upload.name,
            org=caller.org,
            now=now,
            cancel=cancel,
            guard=guard,
        ),
    )
    return UploadSummary.of(report)
