"""The DPO answers a resident's access request (GDPR Art. 15): pages and a letter to send.

- ``/indsigt?q=<address or dw-id>``: find the dwelling by its address as typed
  (partial, any case) among the organisation's dwellings, or go to it by its id.
- ``/indsigt/<ref>``: every disclosure about it (when, to whom, under which agreement
  with both legal bases and the retention, the values as released or when they were
  purged, the delivery state) and each entry's receipt. Reading it is on record in
  the disclosure log, as every review is.
- ``/indsigt/<ref>.pdf``: the same as a Danish letter ready to send, with an appendix
  that lets anyone verify it: the receipts and the log's public key, printed and
  attached to the PDF as files, and how to check them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from broker.access import Principal, Role
from broker.contact.service import find_dwellings
from broker.disclosure import Reader
from broker.errors import NotFound
from broker.rights import AccessAnswer, Disclosed, access_request
from broker.web._contact import search_page
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._listing_text import FIELD_LABELS
from broker.web._listing_view import phase_line
from broker.web._pdf import html_to_pdf
from broker.web._periods import moment_text
from broker.web._records import retention_text
from broker.web._shell import (
    PageDb,
    PageKeys,
    PageReadDb,
    SignedInAs,
    download,
    environment,
    language,
    page_router,
    render,
    web_now,
)
from broker.web._start import LINKS, StartLink

__all__ = ["router"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.AUDITOR}), N_("Access requests (Art. 15)"), "/indsigt"))
Auditor = Annotated[Principal, SignedInAs(Role.AUDITOR)]

_DWELLING_ID = re.compile(r"^dw-[0-9a-f]{12}$")
_SHOWN = 50
DISCLOSING = frozenset({"release", "contact-check", "contact-check-reply"})
"""The events that disclose something about the dwelling to a recipient."""
EVENTS = {
    "release": N_("Released on a list"),
    "contact-check": N_("Contact check"),
    "contact-check-reply": N_("Answer to a contact check"),
    "objection": N_("The resident's objection"),
    "audit-read": N_("Read by an auditor"),
}
DELIVERY = {
    "delivered": N_("delivered %(when)s"),
    "pending": N_("not delivered yet"),
    "failed": N_("delivery failed"),
}
OUTCOMES = {
    "received": N_("received"),
    "resident-consents-to-contact": N_("the resident consents"),
}


@dataclass(frozen=True, slots=True)
class DisclosureLine:
    """One entry about the dwelling as the page and the letter show it."""

    item: Disclosed
    when: str
    what: str
    agreement: str
    retention: str
    values: tuple[tuple[str, str], ...]
    phases: tuple[tuple[str, str], ...]
    content_note: str
    delivery: str
    outcome: str


def _value_text(value: Any) -> str:
    return "" if value is None else str(value)


def _retention(item: Disclosed, gettext: Gettext) -> str:
    if item.policy_id is None:
        return ""
    if not item.retention_known:
        return gettext(N_("not known here: the agreement's text is not stored"))
    return retention_text(item.retention, gettext)


def _line(item: Disclosed, gettext: Gettext, lang: str) -> DisclosureLine:
    values = item.values or {}
    order = {name: index for index, name in enumerate(FIELD_LABELS)}
    shown = tuple(
        (gettext(FIELD_LABELS.get(name, name)), _value_text(values[name]))
        for name in sorted(values, key=lambda n: (order.get(n, len(order)), n))
        if name != "phases"
    )
    phases = tuple(
        (line.label, line.period)
        for line in (phase_line(dict(p), gettext, lang) for p in values.get("phases") or [])
    )
    if item.purged_at is not None:
        note = gettext(N_("The values were deleted %(when)s, at the end of the retention.")) % {
            "when": moment_text(item.purged_at, lang)
        }
    elif item.withdrawn:
        note = gettext(N_("The release told the recipient the dwelling was no longer affected."))
    else:
        note = ""
    delivery = ""
    if item.delivery is not None:
        text = gettext(DELIVERY.get(item.delivery, item.delivery))
        when = moment_text(item.delivered_at, lang) if item.delivered_at else ""
        delivery = text % {"when": when} if "%(when)s" in text else text
    agreement = ""
    if item.policy_id is not None:
        agreement = gettext(N_("%(policy)s, version %(version)s")) % {
            "policy": item.policy_id,
            "version": item.policy_version,
        }
    return DisclosureLine(
        item=item,
        when=moment_text(item.time, lang),
        what=gettext(EVENTS.get(item.event, item.event)),
        agreement=agreement,
        retention=_retention(item, gettext),
        values=shown,
        phases=phases,
        content_note=note,
        delivery=delivery,
        outcome=gettext(OUTCOMES[item.outcome]) if item.outcome in OUTCOMES else "",
    )


def _answer(
    request: Request, caller: Principal, session: PageDb, ring: PageKeys, ref: str
) -> AccessAnswer:
    if not _DWELLING_ID.match(ref):
        raise NotFound("no such dwelling")
    policies = [item.policy for item in request.app.state.policies.active]
    reader = Reader(caller.actor, caller.org)
    answer = access_request(session, ring, reader, ref, policies=policies, at=web_now(request))
    if not answer.shown:
        session.commit()  # the attempt stays on record: the error rolls the request back
        raise NotFound("no disclosures on record about this dwelling")
    return answer


def _context(answer: AccessAnswer, lang: str) -> dict[str, Any]:
    gettext = gettext_for(lang)
    lines = [_line(item, gettext, lang) for item in answer.disclosures]
    return {
        "answer": answer,
        "disclosed": [line for line in lines if line.item.event in DISCLOSING],
        "other": [line for line in lines if line.item.event not in DISCLOSING],
    }


@router.get("/indsigt")
def find(request: Request, caller: Auditor, session: PageReadDb, q: str | None = None) -> Response:
    """Find the dwelling an access request is about, by address or by its id."""
    if q is not None and _DWELLING_ID.match(q.strip()):
        return RedirectResponse(f"/indsigt/{q.strip()}", status_code=303)
    return search_page(
        request,
        lambda query: find_dwellings(session, caller.org, query, limit=_SHOWN),
        q,
        action="/indsigt",
        title=N_("Access requests (Art. 15)"),
        intro=N_(
            "Find the dwelling the request is about by its address, as the resident wrote it,"
            " or by its id (dw-...). Only your organisation's dwellings are found."
        ),
        nothing_found=N_("No dwelling of your organisation has that address."),
    )


@router.get("/indsigt/{ref}.pdf")
def letter(
    request: Request, caller: Auditor, session: PageDb, ring: PageKeys, ref: str
) -> Response:
    """The answer as a Danish letter (PDF), its receipts and the log's key attached."""
    answer = _answer(request, caller, session, ring, ref)
    lang = language(request)
    controller = next(
        (c for c in request.app.state.settings.controllers if c.org == caller.org), None
    )
    context = {
        **_context(answer, lang),
        "lang": lang,
        "controller": controller,
        "org": caller.org,
        "today": moment_text(web_now(request), lang),
    }
    html = environment(lang).get_template("access/letter.html").render(context)
    files = [("log-public.pem", answer.public_key_pem.encode())]
    files += [(f"entry-{d.seq}.tlog-proof", d.receipt.encode()) for d in answer.disclosures]
    files += [
        (f"entry-{d.seq}.dwelling-proof.json", d.dwelling_proof.encode())
        for d in answer.disclosures
        if d.dwelling_proof is not None
    ]
    return download(html_to_pdf(html, files), "application/pdf", f"indsigt-{ref}.pdf")


@router.get("/indsigt/{ref}")
def dwelling(
    request: Request, caller: Auditor, session: PageDb, ring: PageKeys, ref: str
) -> Response:
    """Every disclosure about the dwelling, as the access request is answered."""
    answer = _answer(request, caller, session, ring, ref)
    return render(request, "access/answer.html", _context(answer, language(request)))
