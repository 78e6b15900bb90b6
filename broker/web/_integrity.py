"""The disclosure log's integrity and exports, for the DPO.

- ``/integritet``: the witnesses and when each last cosigned; **Efterprøv nu** (a POST)
  verifies the whole log there and then and shows the verified size and root, or the
  first entry that does not hold; the exports.
- ``/integritet/udleveringslog.jsonl``: the log as a verifiable bundle for
  ``python -m audit.verify`` (entries the organisation may not read as leaf hashes).
- ``/integritet/udleveringslog.xlsx``: the entries the organisation may read as a
  spreadsheet, both legal bases in their own columns.

Verifying and exporting are reads of the log: each is on record (``audit-read``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Font

from broker.access import Principal, Role
from broker.disclosure import (
    EntryFilter,
    Reader,
    dwelling_count,
    export_log,
    review_entries,
    verify_log,
)
from broker.disclosure.witnessing import witness_states
from broker.errors import LogVerificationError
from broker.web._i18n import N_, gettext_for
from broker.web._shell import (
    XLSX,
    PageDb,
    PageKeys,
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
    StartLink(frozenset({Role.AUDITOR}), N_("The log's integrity and exports"), "/integritet")
)
Auditor = Annotated[Principal, SignedInAs(Role.AUDITOR)]
COLUMNS = (
    ("seq", N_("Entry")),
    ("time", N_("Time (UTC)")),
    ("event", N_("Event")),
    ("actor", N_("Actor")),
    ("recipient", N_("Recipient")),
    ("policy_id", N_("Agreement")),
    ("policy_version", N_("Version")),
    ("policy_hash", N_("Hash (SHA-256)")),
    ("purpose", N_("Purpose")),
    ("legal_basis_gdpr", N_("Legal basis (GDPR)")),
    ("legal_basis_national", N_("Legal basis (national)")),
    ("fields", N_("Fields")),
    ("dwellings", N_("Dwellings")),
)
"""The spreadsheet's columns: the entry's field and its heading. Dwellings are counted."""


def _reader(caller: Principal) -> Reader:
    return Reader(caller.actor, caller.org)


def _policies(request: Request) -> list[Any]:
    return [item.policy for item in request.app.state.policies.active]


def _page(
    request: Request, session: PageReadDb, result: dict[str, Any] | None, status: int = 200
) -> Response:
    settings = request.app.state.settings
    witnesses = witness_states(session.connection(), settings)
    return render(
        request, "integrity/page.html", {"witnesses": witnesses, "result": result}, status=status
    )


@router.get("/integritet")
def integrity(request: Request, caller: Auditor, session: PageReadDb) -> Response:
    """The witnesses, the verify button and the exports."""
    del caller  # the role is the check
    return _page(request, session, None)


@router.post("/integritet")
def verify_now(request: Request, caller: Auditor, session: PageDb, ring: PageKeys) -> Response:
    """Verify the whole log now and show the outcome (the check is on record)."""
    settings = request.app.state.settings
    try:
        verified, cosignatures, contents = verify_log(
            session,
            ring,
            settings,
            _reader(caller),
            at=web_now(request),
            policies=_policies(request),
        )
    except LogVerificationError as failed:
        return _page(request, session, {"ok": False, "seq": failed.seq, "reason": failed.reason})
    result = {
        "ok": True,
        "size": verified.size,
        "root": base64.b64encode(verified.root).decode(),
        "checkpoints": verified.checkpoints,
        "cosignatures": cosignatures,
        "contents": contents,
    }
    return _page(request, session, result)


@router.get("/integritet/udleveringslog.jsonl")
def bundle(request: Request, caller: Auditor, session: PageDb, ring: PageKeys) -> Response:
    """The log as a verifiable bundle (JSON lines) for ``python -m audit.verify``."""
    out = io.StringIO()
    settings = request.app.state.settings
    export_log(
        session,
        ring,
        settings,
        _reader(caller),
        out,
        at=web_now(request),
        policies=_policies(request),
    )
    return download(out.getvalue().encode(), "application/jsonl", "udleveringslog.jsonl")


def _cell(name: str, entry: Mapping[str, Any]) -> Any:
    if name == "dwellings":
        return dwelling_count(entry)
    value = entry.get(name)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    text = value if isinstance(value, int) or value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula.
    return "'" + text if isinstance(text, str) and text[:1] in ("=", "+", "-", "@") else text


@router.get("/integritet/udleveringslog.xlsx")
def spreadsheet(request: Request, caller: Auditor, session: PageDb, ring: PageKeys) -> Response:
    """The entries the organisation may read as a workbook (the read is on record)."""
    gettext = gettext_for(language(request))
    page = review_entries(
        session, ring, _reader(caller), EntryFilter(), at=web_now(request), query="export"
    )
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook has its sheet
    sheet.title = gettext(N_("Disclosure log"))
    sheet.append([gettext(heading) for _, heading in COLUMNS])
    for entry in page.entries:
        sheet.append([_cell(name, entry) for name, _ in COLUMNS])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    body = io.BytesIO()
    book.save(body)
    return download(body.getvalue(), XLSX, "udleveringslog.xlsx")
