"""The weekly list's words: English msgids, Danish in the pages' one message catalogue.

# TRANSLATORS: every msgid below is the English text; its Danish is in
# ``locale/da/LC_MESSAGES/messages.po``. The ``%(name)s`` placeholders are filled
# in by the code and must stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping

from broker.web._i18n import LANGUAGES, N_, Gettext, gettext_for

__all__ = [
    "CHANGE_TEXTS",
    "FIELD_LABELS",
    "LANGUAGES",
    "MAIL_TEXTS",
    "N_",
    "PERIOD_TEXTS",
    "PHASE_LABELS",
    "TEXTS",
    "Gettext",
    "gettext_for",
]

PHASE_LABELS: Mapping[str, str] = {
    "varsling": N_("notice"),
    "nedpakning": N_("packing"),
    "genhusning": N_("rehousing"),
    "udpakning": N_("unpacking"),
    "hjemkomst": N_("return home"),
    "genetablering": N_("re-establishing the home"),
    "haandvaerkeradgang": N_("craftsmen's access"),
    "mangelgennemgang": N_("defect inspection"),
}
"""A readable label per phase kind (``schemas.PhaseKind``)."""

FIELD_LABELS: Mapping[str, str] = {
    "afdeling": N_("Department"),
    "adresseid": N_("Address id (DAR)"),
    "vejnavn": N_("Street"),
    "husnr": N_("No."),
    "etage": N_("Floor"),
    "doer": N_("Door"),
    "postnr": N_("Postcode"),
    "postnrnavn": N_("Town"),
    "kommunekode": N_("Municipality code"),
    "disposition": N_("Disposition"),
    "fase": N_("Phase"),
    "startdato": N_("Start"),
    "slutdato": N_("End"),
}
"""Column headings per released field (``schemas.CATALOGUE``)."""

PERIOD_TEXTS: Mapping[str, str] = {
    "week": N_("week %(week)s %(year)s"),
    "weeks": N_("week %(first)s-%(last)s %(year)s"),
    "weeks-years": N_("week %(first)s %(first_year)s - week %(last)s %(last_year)s"),
    "week-short": N_("week %(week)s"),
}
"""How ISO weeks are written (months and dates are written by Babel)."""

CHANGE_TEXTS: Mapping[str, str] = {
    "new": N_("new"),
    "withdrawn": N_("withdrawn"),
    "changed": N_("changed: %(changes)s"),
    "phase-moved": N_("%(phase)s moved from %(before)s to %(after)s"),
    "phase-end-moved": N_("%(phase)s end moved from %(before)s to %(after)s"),
    "phase-added": N_("%(phase)s added (%(period)s)"),
    "phase-removed": N_("%(phase)s removed"),
    "field-changed": N_("%(field)s changed from %(before)s to %(after)s"),
}
"""What the change column says."""

TEXTS: Mapping[str, str] = {
    "sheet": N_("List"),
    "about-sheet": N_("About the list"),
    "title": N_("Dwellings affected by the renovation"),
    "period": N_("Period"),
    "change": N_("Change since the previous list"),
    "start-monday": N_("Start week (Monday)"),
    "start-month": N_("Start month (1st day)"),
    "start-date": N_("Start date"),
    "end-date": N_("End date"),
    "policy": N_("Policy"),
    "policy-version": N_("Policy version"),
    "policy-hash": N_("Policy hash (SHA-256)"),
    "release": N_("Release id"),
    "recipient": N_("Recipient"),
    "created": N_("Created"),
    "log-index": N_("Disclosure log index"),
    "first-list": N_("First list: nothing to compare with."),
    "previous": N_("Compared with release %(release)s."),
    "previous-purged": N_("The previous list was deleted (retention): nothing to compare with."),
    "purged": N_("This list was deleted at the end of its retention period."),
    "no-rows": N_("No dwellings on this list."),
    "page": N_("Page"),
    "of": N_("of"),
    "left-out": N_("Left out (the resident objected): %(count)s"),
}
"""The list's other words: headings, notes, the trace to the disclosure log."""

MAIL_TEXTS: Mapping[str, str] = {
    "subject": N_("A new list of dwellings affected by the renovation"),
    "ready": N_("A new list of the dwellings affected by the renovation is ready for you."),
    "open": N_("Open it here (you will be asked to sign in):\n%(link)s"),
    "only": N_(
        "This e-mail only says that a list is ready. The list itself is shown only to "
        "those who sign in."
    ),
    "automatic": N_("This e-mail was sent automatically. Please do not reply to it."),
}
"""The notification e-mail's words (``broker/web/_notify.py``): never the list's content."""
