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
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from broker.errors import Conflict, InputError, NotFound, Problem
from broker.ingest.models import StagedUpload
from broker.ingest.problems import ProblemGroup, group_problems
from broker.ingest.service import IngestReport, ParsedUpload, parse_upload, store_upload
from broker.renovation.models import Department
from broker.renovation.preview import UploadPreview, WithdrawGuard, preview_upload
from schemas import ScheduleUpload

__all__ = [
    "KEPT_PROBLEMS",
    "LIFETIME",
    "Staged",
    "StaleUpload",
    "confirm",
    "discard",
    "forget_expired",
    "preview",
    "stage",
    "staged",
]

LIFETIME = dt.timedelta(minutes=30)
"""How long a checked upload waits for confirmation."""
KEPT_PROBLEMS = 10_000
"""How many of a rejected upload's problems are kept for its sheet (all are counted)."""


class StaleUpload(Conflict):
    """A department of the upload was changed by another upload since it was checked.

    The upload is checked again as of now: its preview shows what it would change now,
    and a second confirmation stores that.
    """


@dataclass(frozen=True, slots=True)
class Staged:
    """A checked upload: accepted (``parsed``) or rejected (``problems``)."""

    id: str
    org: str
    created_at: dt.datetime
    expires_at: dt.datetime
    parsed: ParsedUpload | None
    problems: tuple[Problem, ...]
    """The first :data:`KEPT_PROBLEMS` problems, by row."""
    source_format: str
    rows: int
    problem_count: int = 0
    """How many problems there were in all."""
    groups: tuple[ProblemGroup, ...] = ()
    """All the problems grouped by column and rule."""


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
    forget_expired(session, now=now)
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
        problems = exc.problems or (Problem(str(exc)),)
        row.problems = {
            "count": len(problems),
            "groups": [
                {"rule": g.rule, "column": g.column, "count": g.count, "rows": list(g.rows)}
                for g in group_problems(problems)
            ],
            "kept": [
                {"rule": p.rule, "row": p.row, "column": p.column} for p in problems[:KEPT_PROBLEMS]
            ],
        }
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
    found: dict[str, Any] = row.problems or {}
    problems = tuple(
        Problem(str(p["rule"]), row=p.get("row"), column=p.get("column"))
        for p in found.get("kept", ())
    )
    groups = tuple(
        ProblemGroup(str(g["rule"]), g.get("column"), int(g["count"]), tuple(g["rows"]))
        for g in found.get("groups", ())
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
        int(found.get("count", 0)),
        groups,
    )


def forget_expired(session: Session, *, now: dt.datetime) -> int:
    """Delete every checked upload past its lifetime; return how many."""
    deleted = session.execute(delete(StagedUpload).where(StagedUpload.expires_at <= now))
    return int(getattr(deleted, "rowcount", 0) or 0)


def _changed_since(session: Session, upload: ParsedUpload, org: str, since: dt.datetime) -> bool:
    codes = [department.afdeling for department in upload.upload.departments]
    newest = session.scalar(
        select(func.max(Department.updated_at)).where(
            Department.org == org, Department.code.in_(codes)
        )
    )
    return newest is not None and newest > since


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

    The waiting row is locked first (on PostgreSQL; SQLite has one writer): a second
    confirmation of the same upload, sent at once, finds it gone.

    Raises:
        NotFound: as :func:`staged`, or the upload was rejected.
        StaleUpload: one of its departments was changed since it was checked; it is
            checked again as of now (nothing is stored; it stays waiting).
        Conflict: the guard refused it (nothing is stored; it stays waiting).
    """
    locked = session.get(StagedUpload, upload_id, with_for_update=True)
    if locked is None:
        raise NotFound("no such upload waiting for confirmation")
    upload = staged(session, upload_id, org=org, by=by, now=now)
    if upload.parsed is None:
        raise NotFound("the upload was rejected")
    if _changed_since(session, upload.parsed, org, upload.created_at):
        locked.created_at = now
        raise StaleUpload(
            "the schedule was changed since the file was checked; check the changes again",
            (Problem("changed by another upload since it was checked", column="upload"),),
        )
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
    forget_expired(session, now=now)
