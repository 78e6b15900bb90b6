"""The weekly list as a print-ready PDF (WeasyPrint), from the template the page includes.

``lists/print.html`` lays the list out for A4 landscape: the heading row repeats on
each page, and each page names the policy, its version and hash and the release id,
so a printout traces to the disclosure log. Nothing is fetched: the fetcher allows
``data:`` URLs only (no network, no files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from broker.release import Listing
from broker.web._listing_view import ListView, list_view
from broker.web._shell import environment

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcher

__all__ = ["html_to_pdf", "local_fetcher", "render_pdf", "render_print_html"]


def _trace_line(view: ListView) -> str:
    """Return the line each page carries: policy, version, hash and release id."""
    return " · ".join(f"{label}: {value}" for label, value in view.trace[:4])


def render_print_html(listing: Listing, lang: str = "da") -> str:
    """Return the list's print HTML (what ``render_pdf`` lays out).

    Rendered by the pages' own environment of ``lang`` (templates, filters, gettext set up
    once in :func:`broker.web._shell.environment`), so the table it includes is the page's.
    """
    view = list_view(listing, lang)
    template = environment(lang).get_template("lists/print.html")
    return template.render(view=view, trace_line=_trace_line(view))


def local_fetcher() -> URLFetcher:
    """Return the URL fetcher WeasyPrint gets: ``data:`` URLs only, nothing over a network."""
    # WeasyPrint is imported when a PDF is made, not when the server starts: its import
    # (Pango through cffi, fontTools) costs about a second on every `broker serve`.
    from weasyprint.urls import URLFetcher  # noqa: PLC0415 - deferred, see above

    return URLFetcher(allowed_protocols={"data"}, allow_redirects=False)


def html_to_pdf(html: str, attachments: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """Return a print HTML document laid out as PDF bytes (nothing is fetched).

    ``attachments`` are files (name, bytes) embedded in the PDF, as a mail client
    keeps attachments: a reader can save each one and open it with other tools.
    """
    from weasyprint import HTML, Attachment  # noqa: PLC0415 - deferred, see local_fetcher

    fetcher = local_fetcher()
    files = [Attachment(string=body, name=name, url_fetcher=fetcher) for name, body in attachments]
    document = HTML(string=html, url_fetcher=fetcher, base_url=None)
    pdf: bytes = document.write_pdf(attachments=files)
    return pdf


def render_pdf(listing: Listing, lang: str = "da") -> bytes:
    """Return the list as PDF bytes, in ``lang`` (``da`` or ``en``)."""
    return html_to_pdf(render_print_html(listing, lang))
