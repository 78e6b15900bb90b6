"""Contact-check routes: a coordinator asks about one dwelling; a visitator answers consent only."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from broker.access import Principal, Role
from broker.api._auth import Coordinator, DbSession, KeysDep, ReadSession, Visitator, requires
from broker.api._problems import BODY_PROBLEMS
from broker.api._routing import BoundedJsonRoute
from broker.contact.models import ContactCheck
from broker.contact.service import CONSENT, open_checks, reply, request_check, visible_check
from broker.errors import InputError, Problem
from broker.policy import Flow, LoadedPolicy, Policy
from broker.renovation import DWELLING_REF

__all__ = ["router"]

router = APIRouter(
    prefix="/v1/contact-checks", tags=["contact checks"], route_class=BoundedJsonRoute
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
    requested_at: dt.datetime
    status: Literal["requested", "received", "resident-consents-to-contact", "closed"]
    consent_reference: str | None = None
    release_id: str | None = Field(default=None, description="visitators: the release to fetch")


def _view(check: ContactCheck, caller: Principal) -> CheckView:
    return CheckView(
        id=check.id,
        dwelling=check.dwelling_ref,
        requested_at=check.created_at,
        status=check.status,  # type: ignore[arg-type]
        consent_reference=check.consent_reference if check.status == CONSENT else None,
        release_id=check.release_id if caller.role == Role.VISITATOR else None,
    )


def _policy(request: Request, caller: Principal) -> Policy:
    active: tuple[LoadedPolicy, ...] = request.app.state.policies.active
    for item in active:
        if item.policy.flow is Flow.CONTACT_CHECK and item.policy.discloser == caller.org:
            return item.policy
    rule = "no contact-check agreement is in force for this organisation"
    raise InputError("no contact check was sent", (Problem(rule, None, "policy"),))


@router.post("", response_model=CheckView, status_code=201, responses=BODY_PROBLEMS)
def create(
    request: Request, body: CheckRequest, caller: Coordinator, session: DbSession, ring: KeysDep
) -> CheckView:
    """Ask the municipality to check contact with one dwelling of the caller's departments."""
    check = request_check(
        session,
        ring,
        caller,
        _policy(request, caller),
        body.dwelling,
        now=dt.datetime.now(dt.UTC),
    )
    return _view(check, caller)


@router.get("", response_model=list[CheckView])
def list_checks(caller: _EITHER, session: ReadSession) -> list[CheckView]:
    """Visitators: the open checks for their municipality. Coordinators: their departments'."""
    if caller.role == Role.VISITATOR:
        return [_view(c, caller) for c in open_checks(session, caller)]
    rows = session.scalars(
        select(ContactCheck)
        .where(ContactCheck.org == caller.org, ContactCheck.department.in_(caller.departments))
        .order_by(ContactCheck.created_at.desc(), ContactCheck.id)
    )
    return [_view(c, caller) for c in rows]


@router.get("/{check_id}", response_model=CheckView)
def get_check(check_id: str, caller: _EITHER, session: ReadSession) -> CheckView:
    """One check, if it is the caller's (404 otherwise)."""
    return _view(visible_check(session, caller, check_id), caller)


@router.post("/{check_id}/reply", response_model=CheckView, responses=BODY_PROBLEMS)
def answer(
    check_id: str, body: ConsentReply, caller: Visitator, session: DbSession, ring: KeysDep
) -> CheckView:
    """Record that the resident consents to be contacted by the coordinator."""
    check = reply(
        session, ring, caller, check_id, body.consent_reference, now=dt.datetime.now(dt.UTC)
    )
    return _view(check, caller)
