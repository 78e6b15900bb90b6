"""Contact checks in the pages: the coordinator finds a dwelling and asks, the visitator answers.

- ``/opslag?q=<address>``: a coordinator finds a dwelling of their own departments by
  its address as typed (``Demovej 1A 2 tv``, partial, any case).
- ``/opslag/<ref>``: the dwelling: its coming phases as the contact-check policy would
  release them, what a check sends, and one button (a POST to the same path) that asks
  the municipality for a contact check; a check still open on it is shown instead.
- ``/kontakttjek``: the coordinator's checks (address, date, status), or the open
  checks to the visitator's municipality (the address as released to it).
- ``/kontakttjek/<id>``: one check; for the visitator, the consent form (a consent
  reference only), refused until the check's release has been delivered.

The handlers call the services the API calls (``broker.contact.service``); nothing here
records whether anyone opened or read a check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Form, Request
from fastapi.responses import RedirectResponse, Response

from broker.access import Principal, Role
from broker.contact.service import (
    MAX_RESULTS,
    CheckRow,
    Search,
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
from broker.errors import Conflict, InputError
from broker.policy import Policy
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._listing_text import FIELD_LABELS
from broker.web._listing_view import phase_line
from broker.web._periods import day_text
from broker.web._shell import (
    PageDb,
    PageKeys,
    PageReadDb,
    SignedInAs,
    language,
    page_router,
    render,
    web_now,
)
from broker.web._start import LINKS, StartLink
from schemas import looks_personal

__all__ = ["NOT_PERSONAL", "SEARCH_RULE", "STATUS_LABELS", "router", "search_page"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.COORDINATOR}), N_("Find a dwelling"), "/opslag"))
LINKS.append(
    StartLink(frozenset({Role.COORDINATOR, Role.VISITATOR}), N_("Contact checks"), "/kontakttjek")
)

Coordinator = Annotated[Principal, SignedInAs(Role.COORDINATOR)]
Visitator = Annotated[Principal, SignedInAs(Role.VISITATOR)]
Either = Annotated[Principal, SignedInAs(Role.COORDINATOR, Role.VISITATOR)]

_SHOWN = 50
"""The most dwellings one search shows: type more of the address to narrow it."""
STATUS_LABELS = {
    "requested": N_("requested"),
    "received": N_("received"),
    "resident-consents-to-contact": N_("the resident consents"),
    "closed": N_("closed"),
}
"""Each status of a check as the pages say it."""
SEARCH_RULE = N_("Type an address of 2-100 characters, e.g. a street and a number.")
NOT_PERSONAL = N_("Search by the address only: never by a name, CPR number or phone number.")
_REFERENCE_RULE = N_(
    "The consent reference is 4-40 letters, digits and hyphens, and holds no personal data."
)
_CONFLICTS = {
    "requested": N_(
        "The check has not reached the municipality yet: the consent can be recorded once it"
        " is received."
    ),
    "closed": N_("The check is no longer open: nothing was recorded."),
}
_NO_AGREEMENT = N_(
    "No contact-check agreement is in force for your organisation, so no check can be sent."
)
_NOTES = {
    "sendt": N_("The contact check was sent to the municipality."),
    "aaben": N_(
        "A check on this dwelling is still open: it is shown here, nothing was sent again."
    ),
    "besvaret": N_("The resident's consent is recorded. The coordinator can see it now."),
}
"""The notice a redirect after a form names with ``?besked=``."""


@dataclass(frozen=True, slots=True)
class _CheckLine:
    """One check as a row of a page: the service's row with its texts."""

    row: CheckRow
    requested: str
    status: str


def _line(row: CheckRow, gettext: Gettext, lang: str) -> _CheckLine:
    return _CheckLine(row, day_text(row.requested_at, lang), gettext(STATUS_LABELS[row.status]))


def _policy(request: Request, caller: Principal) -> Policy | None:
    try:
        return contact_policy(request.app.state.policies.active, caller.org)
    except InputError:
        return None


def _note(request: Request, gettext: Gettext) -> str | None:
    chosen = request.query_params.get("besked", "")
    return gettext(_NOTES[chosen]) if chosen in _NOTES else None


# -- the coordinator: finding a dwelling and asking -------------------------------------------


def search_page(  # noqa: PLR0913 - the search's page and its texts
    request: Request,
    search: Callable[[str], Search],
    q: str | None,
    *,
    action: str,
    title: str,
    intro: str,
    nothing_found: str,
) -> Response:
    """Render a dwelling search by address at ``action`` (``search``: the service's call).

    A query that looks like personal data is refused and not repeated (422), as is one
    the service refuses.
    """
    gettext = gettext_for(language(request))
    context: dict[str, object] = {
        "q": "",
        "errors": [],
        "found": None,
        "more": False,
        "action": action,
        "title": gettext(title),
        "intro": gettext(intro),
        "nothing_found": gettext(nothing_found),
    }
    if q is None:
        return render(request, "dwelling_search.html", context)
    if looks_personal(q):
        context["errors"] = [("q", gettext(NOT_PERSONAL))]
        return render(request, "dwelling_search.html", context, status=422)
    context["q"] = q
    try:
        found = search(q)
    except InputError:
        context["errors"] = [("q", gettext(SEARCH_RULE))]
        return render(request, "dwelling_search.html", context, status=422)
    context["found"], context["more"] = found.dwellings, found.more
    return render(request, "dwelling_search.html", context)


@router.get("/opslag")
def find_dwelling(
    request: Request, caller: Coordinator, session: PageReadDb, q: str | None = None
) -> Response:
    """Find a dwelling of the coordinator's departments by its address as typed."""
    return search_page(
        request,
        lambda query: search_dwellings(session, caller, query, limit=min(_SHOWN, MAX_RESULTS)),
        q,
        action="/opslag",
        title=N_("Find a dwelling"),
        intro=N_("Only the dwellings of your own departments are found."),
        nothing_found=N_("No dwelling of your departments has that address."),
    )


def _dwelling_page(request: Request, caller: Principal, session: PageReadDb, ref: str) -> Response:
    lang = language(request)
    gettext = gettext_for(lang)
    policy = _policy(request, caller)
    if policy is None:
        return render(
            request, "contact/dwelling.html", {"preview": None, "note": gettext(_NO_AGREEMENT)}
        )
    preview = preview_check(session, caller, policy, ref, now=web_now(request))
    open_check = preview.open_check
    context = {
        "preview": preview,
        "phases": [
            (line.label, line.period)
            for line in (phase_line(dict(phase), gettext, lang) for phase in preview.phases)
        ],
        "fields": [gettext(FIELD_LABELS.get(name, name)) for name in policy.fields],
        "open_check": (
            None
            if open_check is None
            else _line(describe(session, caller, open_check), gettext, lang)
        ),
        "note": _note(request, gettext),
        "contact": caller.contact,
    }
    return render(request, "contact/dwelling.html", context)


@router.get("/opslag/{ref}")
def dwelling(request: Request, caller: Coordinator, session: PageReadDb, ref: str) -> Response:
    """One dwelling: its coming phases as a check would send them, and the request button."""
    return _dwelling_page(request, caller, session, ref)


@router.post("/opslag/{ref}")
def ask_for_check(
    request: Request, caller: Coordinator, session: PageDb, ring: PageKeys, ref: str
) -> Response:
    """Ask the municipality for a contact check on the dwelling (or show the open one)."""
    policy = _policy(request, caller)
    if policy is None:
        return _dwelling_page(request, caller, session, ref)
    try:
        requested = request_check(session, ring, caller, policy, ref, now=web_now(request))
    except InputError:
        # Not affected within the agreement now: the dwelling's page says so, unchanged.
        response = _dwelling_page(request, caller, session, ref)
        response.status_code = 422
        return response
    note = "sendt" if requested.created else "aaben"
    target = f"/kontakttjek/{requested.check.id}?{urlencode({'besked': note})}"
    return RedirectResponse(target, status_code=303)


# -- both sides: the checks ------------------------------------------------------------------


@router.get("/kontakttjek")
def checks(request: Request, caller: Either, session: PageReadDb) -> Response:
    """The coordinator's checks, newest first; or the open ones to the visitator's municipality."""
    lang = language(request)
    gettext = gettext_for(lang)
    rows = (
        municipality_checks(session, caller)
        if caller.role == Role.VISITATOR
        else coordinator_checks(session, caller)
    )
    lines = [_line(row, gettext, lang) for row in rows]
    return render(
        request, "contact/checks.html", {"lines": lines, "visitator": caller.role == Role.VISITATOR}
    )


def _check_page(  # noqa: PLR0913 - the check, and the form's state when it is shown again
    request: Request,
    caller: Principal,
    session: PageReadDb,
    check_id: str,
    *,
    errors: list[tuple[str, str]] | None = None,
    status: int = 200,
) -> Response:
    lang = language(request)
    gettext = gettext_for(lang)
    line = _line(describe(session, caller, visible_check(session, caller, check_id)), gettext, lang)
    context = {
        "line": line,
        "visitator": caller.role == Role.VISITATOR,
        "errors": errors or [],
        "note": _note(request, gettext),
    }
    return render(request, "contact/check.html", context, status=status)


@router.get("/kontakttjek/{check_id}")
def one_check(request: Request, caller: Either, session: PageReadDb, check_id: str) -> Response:
    """One check as the caller's side sees it; for a visitator, the consent form."""
    return _check_page(request, caller, session, check_id)


@router.post("/kontakttjek/{check_id}")
def record_consent(  # noqa: PLR0913, PLR0917 - FastAPI's dependencies are parameters
    request: Request,
    caller: Visitator,
    session: PageDb,
    ring: PageKeys,
    check_id: str,
    reference: Annotated[str, Form(alias="samtykkereference")] = "",
) -> Response:
    """Record that the resident consents to contact, with the municipality's consent reference."""
    gettext = gettext_for(language(request))
    try:
        reply(session, ring, caller, check_id, reference.strip(), now=web_now(request))
    except InputError:
        errors = [("samtykkereference", gettext(_REFERENCE_RULE))]
        return _check_page(request, caller, session, check_id, errors=errors, status=422)
    except Conflict:
        state = visible_check(session, caller, check_id).status
        message = _CONFLICTS["requested" if state == "requested" else "closed"]
        errors = [("", gettext(message))]
        return _check_page(request, caller, session, check_id, errors=errors, status=409)
    return RedirectResponse(f"/kontakttjek/{check_id}?besked=besvaret", status_code=303)
