"""The rehousing team's pages (role ``housing``): an upload checked before it is stored.

- ``/genhusning``: the organisation's departments (each with its timeline) and the
  upload form for an export (CSV or XLSX).
- ``POST /genhusning/upload``: the file is checked as ``broker ingest`` checks it and
  kept for the officer (``broker.ingest.staging``); nothing of the schedule changes.
- ``/genhusning/upload/<id>``: what it would change, dwelling by dwelling (new; changed,
  with the old and new dates of each phase; no longer affected) and the columns dropped,
  by name; or, when rejected, its problems grouped by rule with the first rows and a
  sheet of every problem (``.../problemer.xlsx``). A POST there stores it; an upload
  that would withdraw more than a share of a department needs the count confirmed.
  ``.../annuller`` discards it.
- ``/genhusning/afdeling/<code>``: the department's schedule as a timeline: which
  stairwell goes through which phase, which weeks.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy.orm import Session

from broker.access import Principal, Role
from broker.errors import Conflict, InputError, NotFound
from broker.ingest import check_org
from broker.ingest.staging import (
    Staged,
    StaleUpload,
    confirm,
    discard,
    preview,
    stage,
    staged,
)
from broker.policy import housing_orgs
from broker.renovation.preview import (
    Change,
    FieldChange,
    PhaseChange,
    UploadPreview,
    WithdrawGuard,
)
from broker.renovation.repository import org_departments
from broker.renovation.timeline import department_timeline
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._listing_text import FIELD_LABELS
from broker.web._listing_view import phase_label
from broker.web._periods import day_text, moment_text, period_text
from broker.web._rules import rule_text
from broker.web._shell import (
    XLSX,
    PageDb,
    PageReadDb,
    SignedInAs,
    download,
    language,
    page_router,
    render,
    web_now,
)
from broker.web._start import LINKS, StartLink

__all__ = ["router"]

router = page_router()
LINKS.append(
    StartLink(frozenset({Role.HOUSING}), N_("Upload the renovation schedule"), "/genhusning")
)
Officer = Annotated[Principal, SignedInAs(Role.HOUSING)]
_FORMATS = {".csv", ".xlsx", ".json"}
CHANGE_LABELS = {
    Change.NEW: N_("new"),
    Change.CHANGED: N_("changed"),
    Change.WITHDRAWN: N_("no longer affected"),
}
_NOTES = {
    "gemt": N_("The schedule is stored. The next release to the municipality carries it."),
    "annulleret": N_("The upload is discarded: nothing was stored."),
}
_NO_FILE = N_("Choose an export file (CSV or XLSX) to upload.")
_BAD_TYPE = N_("The file must be a CSV or XLSX export (or the broker's JSON).")
_STALE = N_(
    "The schedule was changed by another upload since this file was checked. The changes"
    " below are what the file changes now: check them, and store again."
)
_FIRST_ONLY = N_("The first %(kept)s of %(count)s problems, by row.")
_UNKNOWN_ORG = N_(
    "No agreement names your organisation (%(org)s) as one that shares its schedule: ask the"
    " operator."
)
_CONFIRM = N_(
    "Tick the box to confirm that %(count)s dwellings are no longer affected, or discard the"
    " upload."
)


def _week(day: dt.date) -> str:
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}"


def _dates(period: tuple[dt.date, dt.date] | None, lang: str, gettext: Gettext) -> str:
    if period is None:
        return gettext("none")
    return period_text(period[0].isoformat(), period[1].isoformat(), lang)


_FIELDS = {
    "adresse": N_("Address"),
    "disposition": FIELD_LABELS["disposition"],
    "kommunekode": FIELD_LABELS["kommunekode"],
    "adresseid": FIELD_LABELS["adresseid"],
    "erstatter": N_("Replaces"),
}


def _field_text(change: FieldChange, gettext: Gettext) -> str:
    before = change.old if change.old is not None else gettext("none")
    after = change.new if change.new is not None else gettext("none")
    return f"{gettext(_FIELDS[change.name])}: {before} → {after}"


def _phase_text(change: PhaseChange, lang: str, gettext: Gettext) -> str:
    label = phase_label(change.kind, gettext)
    before, after = _dates(change.old, lang, gettext), _dates(change.new, lang, gettext)
    if change.old is None:
        return f"{label}: {after}"
    return f"{label}: {before} → {after}"


@dataclass(frozen=True, slots=True)
class _Row:
    address: str
    change: str
    kind: str
    details: tuple[str, ...]


def _preview_context(found: UploadPreview, guard: WithdrawGuard, lang: str) -> dict[str, Any]:
    gettext = gettext_for(lang)
    departments = [
        (
            department,
            [
                _Row(
                    item.address,
                    gettext(CHANGE_LABELS[item.change]),
                    item.change.value,
                    (
                        *(_field_text(f, gettext) for f in item.fields),
                        *(_phase_text(p, lang, gettext) for p in item.phases),
                    ),
                )
                for item in department.changes
            ],
        )
        for department in found.departments
    ]
    over = guard.over(found)
    return {
        "departments": departments,
        "over": over,
        "withdrawn": found.withdrawn,
        "needs_confirmation": bool(over) and found.withdrawn > 0,
        "share": round(guard.share * 100),
        "Change": Change,
    }


def _upload_page(
    request: Request,
    session: Session,
    upload: Staged,
    *,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    gettext = gettext_for(lang)
    settings = request.app.state.settings
    context: dict[str, Any] = {
        "upload": upload,
        "expires": moment_text(upload.expires_at, lang),
        "errors": errors or [],
    }
    if upload.parsed is None:
        context["groups"] = [(group, rule_text(group.rule, gettext)) for group in upload.groups]
        context["problem_count"] = upload.problem_count
        context["kept"] = len(upload.problems)
        return render(request, "rehousing/rejected.html", context, status=status)
    guard = WithdrawGuard(settings.withdraw_guard_share)
    context.update(_preview_context(preview(session, upload), guard, lang))
    context["dropped"] = ", ".join(upload.parsed.dropped_columns) or gettext("none")
    return render(request, "rehousing/preview.html", context, status=status)


def _front(
    request: Request,
    caller: Principal,
    session: Session,
    *,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    gettext = gettext_for(lang)
    note = request.query_params.get("besked", "")
    departments = [(d, day_text(d.updated_at, lang)) for d in org_departments(session, caller.org)]
    context = {
        "departments": departments,
        "errors": errors or [],
        "note": gettext(_NOTES[note]) if note in _NOTES else None,
        "share": round(request.app.state.settings.withdraw_guard_share * 100),
    }
    return render(request, "rehousing/front.html", context, status=status)


@router.get("/genhusning")
def front(request: Request, caller: Officer, session: PageReadDb) -> Response:
    """The departments and the upload form."""
    return _front(request, caller, session)


def _configured(request: Request, caller: Principal) -> str:
    policies = [item.policy for item in request.app.state.policies.active]
    return check_org(caller.org, housing_orgs(policies))


@router.post("/genhusning/upload")
def upload(
    request: Request,
    caller: Officer,
    session: PageDb,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Check the export and keep it for the officer; then its preview (nothing stored yet)."""
    gettext = gettext_for(language(request))
    # A plain function: FastAPI runs it on a worker thread, so checking a large file never
    # holds up the server's other requests.
    data = b"" if file is None else file.file.read()
    # Only the extension is kept: a file name can carry a person's name.
    suffix = PurePath(file.filename or "").suffix.lower() if file is not None else ""
    if not data:
        errors = [("file", gettext(_NO_FILE))]
        return _front(request, caller, session, errors=errors, status=422)
    if suffix not in _FORMATS:
        errors = [("file", gettext(_BAD_TYPE))]
        return _front(request, caller, session, errors=errors, status=422)
    try:
        org = _configured(request, caller)
    except InputError:
        errors = [("file", gettext(_UNKNOWN_ORG) % {"org": caller.org})]
        return _front(request, caller, session, errors=errors, status=422)
    upload_id = stage(
        session, data, name="upload" + suffix, org=org, by=caller.actor, now=web_now(request)
    )
    return RedirectResponse(f"/genhusning/upload/{upload_id}", status_code=303)


def _staged(request: Request, caller: Principal, session: Session, upload_id: str) -> Staged:
    return staged(session, upload_id, org=caller.org, by=caller.actor, now=web_now(request))


@router.get("/genhusning/upload/{upload_id}")
def upload_preview(
    request: Request, caller: Officer, session: PageReadDb, upload_id: str
) -> Response:
    """What the checked upload would change, or why it was rejected."""
    return _upload_page(request, session, _staged(request, caller, session, upload_id))


@router.post("/genhusning/upload/{upload_id}")
def upload_confirm(
    request: Request,
    caller: Officer,
    session: PageDb,
    upload_id: str,
    allow_withdraw: Annotated[int, Form(ge=0)] = 0,
) -> Response:
    """Store the checked upload (the withdrawals confirmed when the guard asks for it)."""
    settings = request.app.state.settings
    guard = WithdrawGuard(settings.withdraw_guard_share, allow_withdraw)
    now = web_now(request)
    try:
        confirm(session, upload_id, org=caller.org, by=caller.actor, now=now, guard=guard)
    except StaleUpload:
        waiting = _staged(request, caller, session, upload_id)
        errors = [("", gettext_for(language(request))(_STALE))]
        return _upload_page(request, session, waiting, errors=errors, status=409)
    except Conflict:
        waiting = _staged(request, caller, session, upload_id)
        count = preview(session, waiting).withdrawn
        gettext = gettext_for(language(request))
        errors = [("allow_withdraw", gettext(_CONFIRM) % {"count": count})]
        return _upload_page(request, session, waiting, errors=errors, status=409)
    return RedirectResponse("/genhusning?besked=gemt", status_code=303)


@router.post("/genhusning/upload/{upload_id}/annuller")
def upload_discard(request: Request, caller: Officer, session: PageDb, upload_id: str) -> Response:
    """Forget the checked upload; nothing is stored."""
    discard(session, upload_id, org=caller.org, by=caller.actor, now=web_now(request))
    return RedirectResponse("/genhusning?besked=annulleret", status_code=303)


def _problem_sheet(upload: Staged, gettext: Gettext) -> bytes:
    problems = upload.problems
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # noqa: S101 - a new workbook has its sheet
    sheet.title = gettext("Problems")
    sheet.append([gettext("Row"), gettext("Column"), gettext("Rule")])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for problem in sorted(problems, key=lambda p: (p.row or 0, p.column or "")):
        sheet.append([problem.row, problem.column or "", rule_text(problem.rule, gettext)])
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    if upload.problem_count > len(problems):
        shown = {"kept": f"{len(problems):,}", "count": f"{upload.problem_count:,}"}
        sheet.append([])
        sheet.append(["", "", gettext(_FIRST_ONLY) % shown])
    for letter, width in (("A", 8), ("B", 28), ("C", 90)):
        sheet.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@router.get("/genhusning/upload/{upload_id}/problemer.xlsx")
def problem_sheet(
    request: Request, caller: Officer, session: PageReadDb, upload_id: str
) -> Response:
    """Every problem of a rejected upload by row and column, as a spreadsheet."""
    waiting = _staged(request, caller, session, upload_id)
    if waiting.parsed is not None:
        raise NotFound("the upload has no problems")
    body = _problem_sheet(waiting, gettext_for(language(request)))
    return download(body, XLSX, "problemer.xlsx")


@router.get("/genhusning/afdeling/{code}")
def timeline(request: Request, caller: Officer, session: PageReadDb, code: str) -> Response:
    """The department's stairwells in the order they move out, each phase's weeks."""
    lang = language(request)
    gettext = gettext_for(lang)
    found = department_timeline(session, caller.org, code)
    rows = [
        (
            stairwell,
            [
                period_text(_week(span[0]), _week(span[1]), lang)
                if (span := stairwell.phases.get(kind)) is not None
                else ""
                for kind in found.kinds
            ],
        )
        for stairwell in found.stairwells
    ]
    context = {
        "timeline": found,
        "headings": [phase_label(kind, gettext) for kind in found.kinds],
        "rows": rows,
        "updated": day_text(found.updated_at, lang),
    }
    return render(request, "rehousing/timeline.html", context)
