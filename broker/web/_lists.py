"""The visitator's lists: the newest list as a page, earlier ones by id, and their downloads.

- ``/lister``: the newest list to the visitator's municipality; ``/lister/<release id>``
  any list of it. Filterable by phase (``fase``) and street (``vej``) with a plain GET
  form; links to the list's earlier releases and to the other lists.
- ``/lister/<release id>.xlsx`` and ``.pdf``: the same list (with the same filter) as a
  workbook and as a print-ready PDF, each naming the policy, its version and hash and
  the release id.

Only for visitators, and only their own municipality's releases: another's answers
the same 404 as an unknown id (``broker.release.list_page``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import Response

from broker.access import Principal, Role
from broker.release import ListPage, list_page
from broker.web._i18n import N_, gettext_for
from broker.web._listing_view import list_view, phase_label, release_label
from broker.web._pdf import render_pdf
from broker.web._shell import (
    XLSX,
    PageReadDb,
    SignedInAs,
    download,
    language,
    page_router,
    render,
)
from broker.web._start import LINKS, StartLink
from broker.web._xlsx import render_xlsx

__all__ = ["router"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.VISITATOR}), N_("Lists of affected dwellings"), "/lister"))

Visitator = Annotated[Principal, SignedInAs(Role.VISITATOR)]
_LEFT_OFF = {
    "phase": ("fase", N_("The phase chosen is not in this list: all phases are shown.")),
    "street": ("vej", N_("The street chosen is not in this list: all streets are shown.")),
}
"""The filter form's field and message per ``Problem.column`` of ``list_page``."""


@dataclass(frozen=True, slots=True)
class _Filter:
    """The filter form's fields, as the query gives them (empty: not filtered)."""

    fase: str = ""
    vej: str = ""

    def given(self) -> dict[str, str | None]:
        """Return the filter as ``list_page`` takes it."""
        return {"phase": self.fase or None, "street": self.vej or None}


Filter = Annotated[_Filter, Depends()]


def _query(page: ListPage) -> str:
    """Return the query string of the filter applied (empty when none is)."""
    found = page.listing
    if found is None:
        return ""
    pairs = [("fase", found.phase_filter), ("vej", found.street_filter)]
    query = urlencode([(name, value) for name, value in pairs if value is not None])
    return f"?{query}" if query else ""


def _page(request: Request, page: ListPage) -> Response:
    lang = language(request)
    gettext = gettext_for(lang)
    found = page.listing
    if found is None:
        return render(request, "lists/page.html", {"page": page, "view": None})
    left_off = [_LEFT_OFF[p.column] for p in page.problems if p.column in _LEFT_OFF]
    context = {
        "page": page,
        "view": list_view(found, lang),
        "made": release_label(found.release, lang),
        "query": _query(page),
        "phase_options": [(kind, phase_label(kind, gettext)) for kind in found.phase_kinds],
        "errors": [(field, gettext(message)) for field, message in left_off],
        "history": [(r.id, release_label(r, lang)) for r in page.history],
        "others": [(r.id, r.recipient, release_label(r, lang)) for r in page.others],
    }
    return render(request, "lists/page.html", context)


@router.get("/lister")
def newest_list(
    request: Request, caller: Visitator, session: PageReadDb, shown: Filter
) -> Response:
    """The newest list to the visitator's municipality."""
    return _page(request, list_page(session, caller.org, **shown.given()))


@router.get("/lister/{release_id}.xlsx")
def list_workbook(
    request: Request, caller: Visitator, session: PageReadDb, release_id: str, shown: Filter
) -> Response:
    """The list as an XLSX workbook."""
    page = list_page(session, caller.org, release_id, **shown.given())
    assert page.listing is not None  # noqa: S101 - a release by id is found or NotFound
    body = render_xlsx(page.listing, language(request))
    return download(body, XLSX, f"liste-{page.listing.release.id}.xlsx")


@router.get("/lister/{release_id}.pdf")
def list_pdf(
    request: Request, caller: Visitator, session: PageReadDb, release_id: str, shown: Filter
) -> Response:
    """The list as a print-ready PDF."""
    page = list_page(session, caller.org, release_id, **shown.given())
    assert page.listing is not None  # noqa: S101 - a release by id is found or NotFound
    body = render_pdf(page.listing, language(request))
    return download(body, "application/pdf", f"liste-{page.listing.release.id}.pdf")


@router.get("/lister/{release_id}")
def one_list(
    request: Request, caller: Visitator, session: PageReadDb, release_id: str, shown: Filter
) -> Response:
    """One list to the visitator's municipality, by its release id."""
    return _page(request, list_page(session, caller.org, release_id, **shown.given()))
