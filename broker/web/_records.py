"""The record of processing (GDPR Art. 30(1)) as the DPO reads it: a page, XLSX, PDF, text.

- ``/fortegnelse``: the record of the signed-in user's organisation, one section per
  letter of Art. 30(1), each row naming its agreement, whose hash and
  ``policy-registered`` log entry are listed under *Aftalerne*.
- ``/fortegnelse.xlsx`` and ``/fortegnelse.pdf``: the same record as a workbook
  (one row per agreement, fideslang's keys beside the Danish texts) and for print.

:func:`record_view` turns a :class:`broker.records.Record` into texts in one language;
the page, the downloads and ``broker records`` all read it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from fastapi import Request
from fastapi.responses import Response
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from broker.access import Principal, Role
from broker.records import Record, record_of_processing
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._listing_text import FIELD_LABELS
from broker.web._pdf import html_to_pdf
from broker.web._periods import moment_text
from broker.web._shell import (
    XLSX,
    PageReadDb,
    SignedInAs,
    download,
    environment,
    language,
    page_router,
    render,
    web_now,
)
from broker.web._start import LINKS, StartLink, serves

__all__ = [
    "RecordView",
    "record_text",
    "record_view",
    "render_record_pdf",
    "render_record_xlsx",
    "router",
]

router = page_router()
LINKS.append(
    StartLink(
        frozenset({Role.AUDITOR, Role.ADMIN}), N_("Record of processing (Art. 30)"), "/fortegnelse"
    )
)
Reader = Annotated[Principal, SignedInAs(Role.AUDITOR, Role.ADMIN)]

_ENTRY_PAGE = "/logbog/{seq}"
"""The DPO's page of one log entry: linked from the record when the app serves it."""
_DURATION = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?$")
_UNITS = (
    (N_("1 year"), N_("%(count)s years")),
    (N_("1 month"), N_("%(count)s months")),
    (N_("1 week"), N_("%(count)s weeks")),
    (N_("1 day"), N_("%(count)s days")),
)
SUBJECTS: Mapping[str, str] = {
    "customer": N_("residents of the affected dwellings"),
    "employee": N_("the requesting coordinator (staff)"),
}
DATA_LABELS: Mapping[str, str] = {
    **FIELD_LABELS,
    "coordinator_contact": N_("Coordinator's work e-mail"),
    "outcome": N_("Answer (received, or the resident consents)"),
    "consent_reference": N_("Consent reference"),
}
MEASURES: Mapping[str, str] = {
    "allow-list": N_(
        "Only the fields an agreement names leave the broker; every other field is withheld."
    ),
    "dropped-at-ingest": N_(
        "%(fields)s kinds of personal and case data (such as names, CPR numbers, phone numbers,"
        " notes and special needs) are dropped when a schedule is loaded: never stored."
    ),
    "keyed-references": N_(
        "Each recipient sees a dwelling under a keyed reference of its own, never its tenancy"
        " number."
    ),
    "signed-delivery": N_(
        "Every release is signed (HTTP Message Signatures, Ed25519) with a digest of its content"
        " that the recipient checks."
    ),
    "sealed-delivery": N_(
        "%(sealed)s of %(recipients)s recipients receive their releases sealed to their own key"
        " (HPKE)."
    ),
    "tamper-evident-log": N_(
        "Every release, delivery and reply is an entry in an append-only, tamper-evident"
        " disclosure log (a Merkle tree with signed checkpoints); %(witnesses)s witnesses"
        " cosign its checkpoints."
    ),
    "retention": N_(
        "Released contents are deleted at the end of each agreement's retention by the purge"
        " the operator schedules; the entries stay, so the log still verifies."
    ),
    "access-control": N_(
        "Access by role and scope: each user sees only their own organisation's data; a session"
        " ends after %(idle_minutes)s minutes unused; after %(failures)s failed sign-ins within"
        " %(window_minutes)s minutes, further attempts are refused."
    ),
}
"""Each measure's text, with its figures from the configuration."""
HEADINGS: Mapping[str, str] = {
    "a": N_("a) The controller and the data protection officer"),
    "b": N_("b) The purposes of the processing"),
    "c": N_("c) The categories of data subjects and of personal data"),
    "d": N_("d) The recipients"),
    "e": N_("e) Transfers to third countries or international organisations"),
    "f": N_("f) Time limits for erasure"),
    "g": N_("g) Technical and organisational security measures"),
    "agreements": N_("The agreements"),
}
"""Each section's heading: the letter of Art. 30(1) it answers."""
_NO_TRANSFERS = N_("None. The broker sends data only to the recipients named above.")
_NOT_CONFIGURED = N_("Not configured: set controllers in the broker's configuration.")
_NOT_REGISTERED = N_("not on record yet")
_NO_RETENTION = N_("not set in the agreement")


@dataclass(frozen=True, slots=True)
class AgreementRow:
    """One agreement as every section names it, with its texts."""

    anchor: str
    name: str
    version: int
    content_hash: str
    registered_seq: int | None
    registered: str
    purpose: str
    legal_basis_gdpr: str
    legal_basis_national: str
    recipient: str
    subjects: tuple[str, ...]
    data: tuple[tuple[str, str], ...]
    """Each datum's label and fideslang key."""
    retention: str


@dataclass(frozen=True, slots=True)
class RecordView:
    """The record of processing in one language."""

    lang: str
    org: str
    made: str
    headings: Mapping[str, str]
    transfers: str
    controller: tuple[tuple[str, str], ...]
    agreements: tuple[AgreementRow, ...]
    measures: tuple[str, ...]


def retention_text(duration: str | None, gettext: Gettext) -> str:
    """Return an ISO 8601 duration as a reader reads it (``P3M``: ``3 måneder``)."""
    if duration is None:
        return gettext(_NO_RETENTION)
    found = _DURATION.match(duration)
    if found is None or not any(found.groups()):
        return duration
    parts = []
    for value, (one, many) in zip(found.groups(), _UNITS, strict=True):
        if value is None:
            continue
        count = int(value)
        parts.append(gettext(one) if count == 1 else gettext(many) % {"count": count})
    return ", ".join(parts)


def record_view(record: Record, lang: str = "da") -> RecordView:
    """Return ``record`` as texts in ``lang`` (``da`` or ``en``)."""
    gettext = gettext_for(lang)
    controller = record.controller
    if controller is None:
        people: tuple[tuple[str, str], ...] = (
            (gettext(N_("Controller")), gettext(_NOT_CONFIGURED)),
        )
    else:
        people = (
            (gettext(N_("Controller")), controller.name),
            (gettext(N_("Contact")), controller.contact),
            (gettext(N_("Data protection officer")), controller.dpo or gettext(_NOT_CONFIGURED)),
        )
    rows = tuple(
        AgreementRow(
            anchor=f"aftale-{activity.policy_id}",
            name=activity.policy_id,
            version=activity.version,
            content_hash=activity.content_hash,
            registered_seq=activity.registered_seq,
            registered=(
                gettext(_NOT_REGISTERED)
                if activity.registered_seq is None
                else f"#{activity.registered_seq}"
            ),
            purpose=activity.purpose,
            legal_basis_gdpr=activity.legal_basis_gdpr,
            legal_basis_national=activity.legal_basis_national,
            recipient=activity.recipient,
            subjects=tuple(gettext(SUBJECTS[s]) for s in activity.data_subjects),
            data=tuple(
                (gettext(DATA_LABELS.get(d.name, d.name)), d.fides_key) for d in activity.data
            ),
            retention=retention_text(activity.retention, gettext),
        )
        for activity in record.activities
    )
    measures = tuple(gettext(MEASURES[m.key]) % dict(m.facts) for m in record.measures)
    made = moment_text(record.made_at, lang)
    headings = {key: gettext(text) for key, text in HEADINGS.items()}
    transfers = gettext(_NO_TRANSFERS)
    return RecordView(lang, record.org, made, headings, transfers, people, rows, measures)


def record_text(view: RecordView) -> str:
    """Return the record as plain text, section by section (what ``broker records`` prints)."""
    gettext = gettext_for(view.lang)
    title = gettext(N_("Record of processing activities (GDPR Art. 30)"))
    lines = [f"{title}: {view.org} ({view.made})", ""]
    lines += [view.headings["a"], *(f"  {label}: {value}" for label, value in view.controller)]
    lines += ["", view.headings["b"]]
    for row in view.agreements:
        lines += [
            f"  {row.name}: {row.purpose}",
            f"    {gettext(N_('Legal basis (GDPR)'))}: {row.legal_basis_gdpr}",
            f"    {gettext(N_('Legal basis (national)'))}: {row.legal_basis_national}",
        ]
    lines += ["", view.headings["c"]]
    for row in view.agreements:
        lines.append(f"  {row.name}: {', '.join(row.subjects)}")
        lines += [f"    {label} ({key})" for label, key in row.data]
    lines += ["", view.headings["d"], *(f"  {r.name}: {r.recipient}" for r in view.agreements)]
    lines += ["", view.headings["e"], f"  {view.transfers}"]
    lines += ["", view.headings["f"], *(f"  {r.name}: {r.retention}" for r in view.agreements)]
    lines += ["", view.headings["g"], *(f"  - {text}" for text in view.measures)]
    lines += ["", view.headings["agreements"]]
    lines += [
        f"  {r.name} v{r.version} sha256:{r.content_hash} {gettext(N_('Log entry'))} {r.registered}"
        for r in view.agreements
    ]
    return "\n".join(lines) + "\n"


def _record(request: Request, caller: Principal, session: PageReadDb) -> Record:
    active = [item.policy for item in request.app.state.policies.active]
    settings = request.app.state.settings
    return record_of_processing(session, active, settings, caller.org, now=web_now(request))


@router.get("/fortegnelse")
def record_page(request: Request, caller: Reader, session: PageReadDb) -> Response:
    """The record of processing of the signed-in user's organisation."""
    view = record_view(_record(request, caller, session), language(request))
    # The entry page is the auditor's (as the API's log): an administrator gets no link.
    linked = caller.role == Role.AUDITOR and serves(request, _ENTRY_PAGE)
    context = {"view": view, "link_entries": linked}
    return render(request, "records/page.html", context)


def render_record_pdf(view: RecordView) -> bytes:
    """Return the record laid out for print (A4) as PDF bytes."""
    template = environment(view.lang).get_template("records/print.html")
    return html_to_pdf(template.render(view=view, link_entries=False))


@router.get("/fortegnelse.pdf")
def record_pdf(request: Request, caller: Reader, session: PageReadDb) -> Response:
    """The record of processing as a print-ready PDF."""
    view = record_view(_record(request, caller, session), language(request))
    return download(render_record_pdf(view), "application/pdf", f"fortegnelse-{view.org}.pdf")


def render_record_xlsx(view: RecordView) -> bytes:
    """Return the record as a workbook: one row per agreement, then the controller and measures."""
    gettext = gettext_for(view.lang)
    book = Workbook()
    sheet = book.active
    assert sheet is not None  # noqa: S101 - a new workbook has its sheet
    sheet.title = gettext(N_("Record"))
    headings = [
        gettext(N_("Agreement")),
        gettext(N_("Version")),
        gettext(N_("Hash (SHA-256)")),
        gettext(N_("Log entry")),
        gettext(N_("Purpose")),
        gettext(N_("Legal basis (GDPR)")),
        gettext(N_("Legal basis (national)")),
        gettext(N_("Data subjects")),
        gettext(N_("Personal data")),
        "data_categories (fideslang)",
        gettext(N_("Recipient")),
        gettext(N_("Transfers to third countries")),
        gettext(N_("Erasure")),
    ]
    sheet.append(headings)
    for row in view.agreements:
        sheet.append(
            [
                row.name,
                row.version,
                row.content_hash,
                row.registered_seq,
                row.purpose,
                row.legal_basis_gdpr,
                row.legal_basis_national,
                ", ".join(row.subjects),
                ", ".join(label for label, _ in row.data),
                ", ".join(sorted({key for _, key in row.data})),
                row.recipient,
                gettext(N_("None")),
                row.retention,
            ]
        )
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    about = book.create_sheet(gettext(N_("Controller")))
    for label, value in view.controller:
        about.append([label, value])
    about.append([gettext(N_("Made")), view.made])
    measures = book.create_sheet(gettext(N_("Security measures")))
    for text in view.measures:
        measures.append([text])
    body = io.BytesIO()
    book.save(body)
    return body.getvalue()


@router.get("/fortegnelse.xlsx")
def record_workbook(request: Request, caller: Reader, session: PageReadDb) -> Response:
    """The record of processing as an XLSX workbook."""
    view = record_view(_record(request, caller, session), language(request))
    return download(render_record_xlsx(view), XLSX, f"fortegnelse-{view.org}.xlsx")
