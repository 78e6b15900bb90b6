"""Visitator routes: the releases addressed to the caller's municipality, and their bodies."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from broker.api._auth import ReadSession, SettingsDep, Visitator
from broker.api._routing import BoundedJsonRoute
from broker.release.repository import municipality_release, municipality_releases, release_body

__all__ = ["router"]

router = APIRouter(prefix="/v1/releases", tags=["visitator"], route_class=BoundedJsonRoute)
_MAX_PAGE = 200


class ReleaseSummary(BaseModel):
    """One release: what was sent under which policy, when, and whether it was delivered."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    policy_id: str
    mode: str = Field(description="snapshot, changes or contact-check")
    created_at: dt.datetime
    status: str = Field(description="pending, delivered or failed")
    dwellings: int = Field(description="dwellings released")
    withdrawn: int = Field(description="dwellings withdrawn since the previous release")


class ReleasePage(BaseModel):
    """One page of releases, newest first, and the cursor for the next page (or null)."""

    releases: list[ReleaseSummary]
    next_after: str | None = Field(description="pass as `after` for the next page")


@router.get("", response_model=ReleasePage)
def list_releases(
    caller: Visitator,
    session: ReadSession,
    after: Annotated[str | None, Query(max_length=40, description="the last id seen")] = None,
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 50,
) -> ReleasePage:
    """The releases addressed to the caller's municipality, newest first."""
    found, more = municipality_releases(session, caller.org, after=after, limit=limit)
    page = [ReleaseSummary.model_validate(item) for item in found]
    return ReleasePage(releases=page, next_after=page[-1].id if more else None)


@router.get(
    "/{release_id}",
    response_class=Response,
    responses={
        200: {
            "content": {"application/json": {}},
            "description": "the body as delivered, or as it would be delivered now",
        }
    },
)
def get_release(
    release_id: str, caller: Visitator, session: ReadSession, settings: SettingsDep
) -> Response:
    """The release's JSON body, byte for byte as delivered: content, salt and receipt.

    A release not delivered yet is answered as it would be delivered now.
    """
    found = municipality_release(session, caller.org, release_id)
    body = release_body(session, settings, found)
    return Response(body, media_type="application/json")
