"""Contact-check routes: a coordinator finds a dwelling and asks about it; a visitator answers.

The coordinator's routes: find a dwelling of their departments by address, see what a
check would send, request one. The visitator's: the open checks, and consent only.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from broker.access import Principal, Role
from broker.api._auth import Coordinator, DbSession, KeysDep, ReadSession, Visitator, requires
from broker.api._problems import BODY_PROBLEMS
from broker.api._routing import BoundedJsonRoute
from broker.contact.service import (
    MAX_QUERY,
    MAX_RESULTS,
    MIN_QUERY,
    CheckRow,
    contact_policy,
    coordinator_checks,
    describe,
    municipality_checks,
    preview_check,
    reply,
    request_check,
    search_dwellings,
    visible_check,
)
from broker.policy import Policy
from broker.renovation import DWELLING_REF

__all__ = ["dwellings_router", "router"]

router = APIRouter(
    prefix="/v1/contact-checks", tags=["contact checks"], route_class=BoundedJsonRoute
)
dwellings_router = APIRouter(
    prefix="/v1/dwellings", tags=["contact checks"], route_class=BoundedJsonRoute
)
_EITHER = Annotated[Principal, Depends(requires(Role.COORDINATOR, Role.VISITATOR))]


class CheckRequest(BaseModel):
    """A contact check names one dwelling and nothing else: there is no free-text field."""

    model_config = ConfigDict(extra="forbid")

    dwelling: str = Field(pattern=DWELLING_REF, description="the dwelling's dw-... id")


class ConsentReply(BaseModel):
    """The only answer a visitator sends: the resident consents, with a consent reference."""

    model_config = ConfigDict(extra="forbid")

    outcome: Literal["resident-consents-to-contact"]
    consent_reference: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{3,39}$")


class CheckView(BaseModel):
    """A contact check as either side sees it: no read or opened marks, no update times."""

    id: str
    dwelling: str
    address: str | None = Field(
        description="coordinators: the dwelling's address; visitators: the address as released"
        " (null once the release's content is gone with its retention)"
    )
    requested_at: dt.datetime
    status: Literal["requested", "received", "resident-consents-to-contact", "closed"]
    consent_reference: str | None = None
    release_id: str | None = Field(default=None, description="visitators: the release to fetch")


class FoundView(BaseModel):
    """A dwelling found by its address: its id and canonical address, nothing else."""

    dwelling: str = Field(description="the dwelling's dw-... id")
    address: str


class SearchView(BaseModel):
    """The dwellings found, sorted by street, house number, floor and door."""

    dwellings: list[FoundView]
    more: bool = Field(description="more dwellings matched than the limit: type more of it")


class PreviewView(BaseModel):
    """What a contact check on the dwelling would send now (nothing is sent or recorded)."""

    dwelling: str
    address: str
    sendable: bool = Field(
        description="the policy would release the dwelling now (affected, in its scope and"
        " window, not objected); otherwise a request is refused with 422"
    )
    phases: list[dict[str, str | None]] = Field(
        description="the coming phases as the policy releases them: the released phase fields"
        " (e.g. fase, startdato, slutdato as ISO weeks)"
    )
    open_check: CheckView | None = Field(
        description="a check on the dwelling still open: a new request answers it (200)"
    )


def _view(row: CheckRow, caller: Principal) -> CheckView:
    return CheckView(
        id=row.id,
        dwelling=row.dwelling_ref,
        address=row.address,
        requested_at=row.requested_at,
        status=row.status,  # type: ignore[arg-type]
        consent_reference=row.consent_reference,
        release_id=row.release_id if caller.role == Role.VISITATOR else None,
    )


def _policy(request: Request, caller: Principal) -> Policy:
    return contact_policy(request.app.state.policies.active, caller.org)


_OPEN: dict[int | str, dict[str, Any]] = {
    200: {
        "model": CheckView,
        "description": "a check on the dwelling is still open: that one; nothing is sent again",
    }
}


@router.post("", response_model=CheckView, status_code=201, responses={**_OPEN, **BODY_PROBLEMS})
def create(  # noqa: PLR0913 - FastAPI's dependencies are parameters
    request: Request,
    response: Response,
    *,
    body: CheckRequest,
    caller: Coordinator,
    session: DbSession,
    ring: KeysDep,
) -> CheckView:
    """Ask the municipality to check contact with one dwelling of the caller's departments.

    201 with the new check; 200 with the open one when a check on the dwelling is still open.
    """
    requested = request_check(
        session,
        ring,
        caller,
        _policy(request, caller),
        body.dwelling,
        now=dt.datetime.now(dt.UTC),
    )
    if not requested.created:
        response.status_code = 200
    return _view(describe(session, caller, requested.check), caller)


@router.get("", response_model=list[CheckView])
def list_checks(caller: _EITHER, session: ReadSession) -> list[CheckView]:
    """Visitators: the open checks for their municipality. Coordinators: their departments'."""
    if caller.role == Role.VISITATOR:
        return [_view(c, caller) for c in municipality_checks(session, caller)]
    return [_view(c, caller) for c in coordinator_checks(session, caller)]


@router.get("/{check_id}", response_model=CheckView)
def get_check(check_id: str, caller: _EITHER, session: ReadSession) -> CheckView:
    """One check, if it is the caller's (404 otherwise)."""
    return _view(describe(session, caller, visible_check(session, caller, check_id)), caller)


@router.post("/{check_id}/reply", response_model=CheckView, responses=BODY_PROBLEMS)
def answer(
    check_id: str, body: ConsentReply, caller: Visitator, session: DbSession, ring: KeysDep
) -> CheckView:
    """Record that the resident consents to be contacted by the coordinator.

    409 until the check's release has been delivered (``received``), and once it is closed.
    """
    check = reply(
        session, ring, caller, check_id, body.consent_reference, now=dt.datetime.now(dt.UTC)
    )
    return _view(describe(session, caller, check), caller)


@dwellings_router.get("", response_model=SearchView)
def find_dwellings(
    caller: Coordinator,
    session: ReadSession,
    q: Annotated[
        str,
        Query(
            min_length=MIN_QUERY,
            max_length=MAX_QUERY,
            description="an address as typed: `Demovej 1A 2 tv`, `demovej 1`, `Demov`"
            " (any case; `aa` for `å`); it must hold a word",
        ),
    ],
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
) -> SearchView:
    """Find dwellings of the caller's departments by address; others are never found."""
    found = search_dwellings(session, caller, q, limit=limit)
    return SearchView(
        dwellings=[FoundView(dwelling=d.ref, address=d.address) for d in found.dwellings],
        more=found.more,
    )


@dwellings_router.get("/{reference}/contact-preview", response_model=PreviewView)
def contact_preview(
    request: Request,
    reference: Annotated[str, Path(description="the dwelling's dw-... id")],
    caller: Coordinator,
    session: ReadSession,
) -> PreviewView:
    """What a contact check on the dwelling would send now, as the contact-check policy says."""
    preview = preview_check(
        session, caller, _policy(request, caller), reference, now=dt.datetime.now(dt.UTC)
    )
    open_check = preview.open_check
    return PreviewView(
        dwelling=preview.ref,
        address=preview.address,
        sendable=preview.sendable,
        phases=[dict(phase) for phase in preview.phases],
        open_check=(
            _view(describe(session, caller, open_check), caller) if open_check is not None else None
        ),
    )
