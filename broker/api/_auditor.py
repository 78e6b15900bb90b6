"""Auditor routes: the disclosure log, read page by page; every read is itself recorded.

An auditor token sees what concerns its own organisation, as discloser or as
recipient (``broker.disclosure._orgs`` has the rule), and the log-wide entries;
everything else answers as if it did not exist. The log as a whole (its
checkpoint, its verification, the export's leaf hashes) is for the parties of
this broker's disclosures only.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, BeforeValidator, Field

from broker import disclosure
from broker.access import Principal
from broker.api._auth import (
    Auditor,
    AuditorOrVisitator,
    DbSession,
    KeysDep,
    ReadSession,
    SettingsDep,
)
from broker.api._routing import BoundedJsonRoute
from broker.disclosure import (
    EntryFilter,
    Reader,
    checkpoint_note,
    export_log,
    review_dwelling,
    review_entries,
)
from broker.errors import LogVerificationError, NotFound
from broker.policy import Policy
from broker.policy.service import party_version
from broker.renovation import DWELLING_REF

__all__ = ["router"]

router = APIRouter(prefix="/v1/log", tags=["auditor"], route_class=BoundedJsonRoute)
_MAX_PAGE = 1000
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_NO_DISCLOSURES = "no disclosures on record about this dwelling"


def _iso_date(value: object) -> object:
    # pydantic would also read a number as a Unix time: `from=1e9` is not a date.
    if isinstance(value, str) and not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


_Since = Annotated[dt.date | None, BeforeValidator(_iso_date), Query(alias="from")]
_Until = Annotated[dt.date | None, BeforeValidator(_iso_date), Query(alias="to")]


class EntryPage(BaseModel):
    """One page of entries, oldest first, and the cursor for the next page (or null)."""

    entries: list[dict[str, Any]]
    next_after: int | None = Field(description="pass as `after` for the next page")


class VerifyResult(BaseModel):
    """The outcome of verifying the whole log."""

    ok: bool
    size: int | None = None
    root: str | None = None
    checkpoints: int | None = None
    cosignatures: int | None = None
    contents: int | None = None
    failed_at: int | None = None
    reason: str | None = None


class PolicyText(BaseModel):
    """The exact text of one policy version, by content hash."""

    hash: str
    policy_id: str
    version: int
    text: str


class DwellingDisclosure(BaseModel):
    """One entry that concerned a dwelling, with its receipt (C2SP tlog-proof)."""

    entry: dict[str, Any]
    receipt: str


class _JsonLines(Response):
    """A body of JSON lines: the media type the export's OpenAPI entry documents."""

    media_type = "application/jsonl"


def _reader(caller: Principal) -> Reader:
    return Reader(actor=caller.actor, org=caller.org)


def _policies(request: Request) -> list[Policy]:
    return [item.policy for item in request.app.state.policies.active]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@router.get("/entries", response_model=EntryPage)
def list_entries(  # noqa: PLR0913, PLR0917 - one query parameter each
    caller: Auditor,
    session: DbSession,
    ring: KeysDep,
    event: str | None = None,
    recipient: str | None = None,
    policy: str | None = None,
    since: _Since = None,
    until: _Until = None,
    after: Annotated[int, Query(ge=-1, description="the last sequence number seen")] = -1,
    limit: Annotated[int, Query(ge=1, le=_MAX_PAGE)] = 100,
) -> EntryPage:
    """The caller's organisation's entries matching the filters, after the cursor; recorded."""
    where = EntryFilter(event, recipient, policy, since, until)
    page = review_entries(
        session, ring, _reader(caller), where, at=_now(), after=after, limit=limit
    )
    return EntryPage(entries=page.entries, next_after=page.next_after)


@router.get("/checkpoint", response_class=PlainTextResponse)
def checkpoint(request: Request, caller: AuditorOrVisitator, session: ReadSession) -> str:
    """The newest signed checkpoint, with the witnesses' cosignatures (a C2SP signed note).

    Only for a party of this broker's disclosures: a discloser or recipient of a
    policy in force or of a release on record.
    """
    return checkpoint_note(session, _reader(caller), _policies(request))


@router.get("/verify", response_model=VerifyResult)
def verify_log(
    request: Request, caller: Auditor, session: DbSession, ring: KeysDep, settings: SettingsDep
) -> VerifyResult:
    """Recompute every leaf and root; check every signature, cosignature and content.

    The whole log, for a party of this broker's disclosures: a tree verifies only
    whole, and the answer (size, root, counts) is what every checkpoint publishes.
    """
    try:
        result, cosignatures, contents = disclosure.verify_log(
            session,
            ring,
            settings,
            _reader(caller),
            at=_now(),
            policies=_policies(request),
        )
    except LogVerificationError as error:
        return VerifyResult(ok=False, failed_at=error.seq, reason=error.reason)
    return VerifyResult(
        ok=True,
        size=result.size,
        root=base64.b64encode(result.root).decode(),
        checkpoints=result.checkpoints,
        cosignatures=cosignatures,
        contents=contents,
    )


@router.get("/dwellings/{reference}", response_model=list[DwellingDisclosure])
def dwelling(
    reference: Annotated[str, Path(pattern=DWELLING_REF, description="the dwelling's dw-... id")],
    caller: Auditor,
    session: DbSession,
    ring: KeysDep,
) -> list[DwellingDisclosure]:
    """Every disclosure about one dwelling (its dw-... id) the caller may see, with receipts.

    404 when there is none and the dwelling is not the caller's organisation's,
    the same answer as for a dwelling that does not exist.
    """
    review = review_dwelling(session, ring, _reader(caller), reference, at=_now())
    if not review.shown:
        session.commit()  # the attempt stays on record: the error rolls the request back
        raise NotFound(_NO_DISCLOSURES)
    return [DwellingDisclosure(entry=d.entry, receipt=d.receipt) for d in review.disclosures]


@router.get("/export", response_class=_JsonLines)
def export(  # noqa: PLR0913, PLR0917 - one dependency or query parameter each
    request: Request,
    caller: Auditor,
    session: DbSession,
    ring: KeysDep,
    settings: SettingsDep,
    since: _Since = None,
    until: _Until = None,
) -> Response:
    """The log as a verifiable bundle (JSON lines), for `python -m audit.verify`.

    Entries the caller may not see are written as leaf hashes only, as those
    outside the period are: the bundle still verifies as a whole.
    """
    out = io.StringIO()
    export_log(
        session,
        ring,
        settings,
        _reader(caller),
        out,
        at=_now(),
        since=since,
        until=until,
        policies=_policies(request),
    )
    headers = {"Content-Disposition": 'attachment; filename="disclosure-log.jsonl"'}
    return _JsonLines(out.getvalue(), headers=headers)


@router.get("/policy-versions/{content_hash}", response_model=PolicyText)
def policy_version(content_hash: str, caller: Auditor, session: ReadSession) -> PolicyText:
    """The exact text of the policy version with this content hash, if the caller is a party."""
    stored, _ = party_version(session, caller.org, content_hash)
    return PolicyText(
        hash=stored.content_hash,
        policy_id=stored.policy_id,
        version=stored.version,
        text=stored.text,
    )
