"""Uploads checked first and stored on confirmation: the rehousing team's pages.

:func:`stage` checks an export as `broker ingest` does and keeps the result for
the officer who sent it: the validated schedule (personal columns already
dropped), or the problems of a rejected one. :func:`preview` compares it with the
stored schedule; :func:`confirm` stores it under the withdrawal guard; :func:`discard`
forgets it. Nothing of the schedule changes before :func:`confirm`, and what is
kept expires after :data:`LIFETIME`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from sqlalchemy import delete
from sqlalchemy.orm import Session

from broker.errors import InputError, NotFound, Problem
from broker.ingest.models import StagedUpload
from broker.ingest.service import IngestReport, ParsedUpload, parse_upload, store_upload
from broker.renovation.preview import UploadPreview, WithdrawGuard, preview_upload
from schemas import ScheduleUpload

__all__ = ["LIFETIME", "Staged", "confirm", "discard", "preview", "stage", "staged"]

LIFETIME = dt.timedelta(minutes=30)
"""How long a checked upload waits for confirmation."""


@dataclass(frozen=True, slots=True)
class Staged:
    """A checked upload: accepted (``parsed``) or rejected (``problems``)."""

    id: str
    org: str
    created_at: dt.datetime
    expires_at: dt.datetime
    parsed: ParsedUpload | None
    problems: tuple[Problem, ...]
    source_format: str
    rows: int


def stage(  # noqa: PLR0913 - the upload and who sends it, all named
    session: Session,
    data: bytes,
    *,
    name: str,
    org: str,
    by: str,
    now: dt.datetime,
) -> str:
    """Check an export received as bytes and keep the result for ``by``; return its id.

    A rejected upload is kept too, with its problems only. Uploads past their
    lifetime are deleted on the way.
    """
    session.execute(delete(StagedUpload).where(StagedUpload.expires_at <= now))
    row = StagedUpload(
        id=secrets.token_hex(16),
        org=org,
        staged_by=by,
        created_at=now,
        expires_at=now + LIFETIME,
        source_format="",
        rows=0,
        dropped_columns=[],
    )
    try:
        parsed = parse_upload(data, name=name)
    except InputError as exc:
        row.source_format = name.rsplit(".", 1)[-1].lower()[:8] if "." in name else ""
        row.problems = [
            {"rule": p.rule, "row": p.row, "column": p.column} for p in exc.problems
        ] or [{"rule": str(exc), "row": None, "column": None}]
    else:
        row.source_format, row.rows = parsed.source_format, parsed.rows
        row.dropped_columns = list(parsed.dropped_columns)
        row.schedule = parsed.upload.model_dump(mode="json")
    session.add(row)
    session.flush()
    return row.id


def staged(session: Session, upload_id: str, *, org: str, by: str, now: dt.datetime) -> Staged:
    """Return the checked upload ``upload_id`` of ``by`` in ``org``.

    Raises:
        NotFound: no such upload, another's, or expired.
    """
    row = session.get(StagedUpload, upload_id)
    if row is None or row.org != org or row.staged_by != by or row.expires_at <= now:
        raise NotFound("no such upload waiting for confirmation")
    parsed = None
    if row.schedule is not None:
        upload = ScheduleUpload.model_validate(row.schedule)
        parsed = ParsedUpload(upload, row.source_format, row.rows, tuple(row.dropped_columns))
    problems = tuple(
        Problem(str(p["rule"]), row=p.get("row"), column=p.get("column"))
        for p in row.problems or ()
    )
    return Staged(
        row.id,
        row.org,
        row.created_at,
        row.expires_at,
        parsed,
        problems,
        row.source_format,
        row.rows,
    )


def preview(session: Session, upload: Staged) -> UploadPreview:
    """What the accepted upload would change (read only).

    Raises:
        NotFound: the upload was rejected: there is nothing to compare.
    """
    if upload.parsed is None:
        raise NotFound("the upload was rejected")
    return preview_upload(session, upload.parsed.upload, org=upload.org)


def confirm(  # noqa: PLR0913 - the upload, who confirms it and the guard, all named
    session: Session,
    upload_id: str,
    *,
    org: str,
    by: str,
    now: dt.datetime,
    guard: WithdrawGuard,
) -> IngestReport:
    """Store the checked upload ``upload_id`` under ``guard``, in the caller's transaction.

    Raises:
        NotFound: as :func:`staged`, or the upload was rejected.
        Conflict: the guard refused it (nothing is stored; it stays waiting).
    """
    upload = staged(session, upload_id, org=org, by=by, now=now)
    if upload.parsed is None:
        raise NotFound("the upload was rejected")
    report = store_upload(session, upload.parsed, org=org, now=now, guard=guard)
    session.execute(delete(StagedUpload).where(StagedUpload.id == upload_id))
    return report


def discard(session: Session, upload_id: str, *, org: str, by: str, now: dt.datetime) -> None:
    """Forget the checked upload ``upload_id``; nothing is stored.

    Raises:
        NotFound: as :func:`staged`.
    """
    staged(session, upload_id, org=org, by=by, now=now)
    session.execute(delete(StagedUpload).where(StagedUpload.id == upload_id))
