"""The disclosure log as the DPO reads it: a table with filters, and one entry at a time.

- ``/logbog``: the entries the organisation may read, newest first, 25 a page, with a
  plain GET form: event, recipient, agreement, period (from/to) and dwelling (its
  ``dw-...`` id, or its address as typed, partial and in any case, among the
  organisation's own dwellings: one match filters by it, several are listed to choose
  from; matched by its keyed reference in the log). The database selects and
  pages (a cursor: ``?foer=<seq>`` for older, ``?efter=<seq>`` for newer), as the API's
  ``/v1/log/entries`` does.
- ``/logbog/<seq>``: one entry in Danish (what, when, to whom, under which agreement),
  its leaf hash, its receipt (the inclusion proof) and its exact canonical JSON.

Each is a read of the log, on record (``audit-read``), through ``broker.disclosure``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from broker.access import Principal, Role
from broker.contact.service import FoundDwelling, find_dwellings
from broker.disclosure import (
    EntryFilter,
    Reader,
    dwelling_count,
    review_entries,
    review_entry,
    review_newest,
)
from broker.errors import InputError, NotFound
from broker.keys import KeyRing
from broker.policy.service import party_versions
from broker.renovation import DWELLING_REF
from broker.web._contact import NOT_PERSONAL, SEARCH_RULE
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._periods import moment_text
from broker.web._shell import (
    PageDb,
    PageKeys,
    PageRefused,
    SignedInAs,
    language,
    page_router,
    render,
    web_now,
)
from broker.web._start import LINKS, StartLink
from schemas import looks_personal

__all__ = ["EVENT_LABELS", "LogRow", "entry_row", "router"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.AUDITOR}), N_("The disclosure log"), "/logbog"))
Auditor = Annotated[Principal, SignedInAs(Role.AUDITOR)]

PAGE = 25
_SEQ = re.compile(r"^[0-9]{1,18}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TEXT_LIMIT = 200
_DWELLING = re.compile(DWELLING_REF)
_MATCHES = 10
"""How many dwellings an address that fits several lists to choose from."""
_NO_ADDRESS = N_("No dwelling of your organisation has that address.")
_SEVERAL = N_("Several dwellings have that address: choose one below.")
EVENT_LABELS: Mapping[str, str] = {
    "release": N_("Released on a list"),
    "contact-check": N_("Contact check"),
    "contact-check-reply": N_("Answer to a contact check"),
    "delivery": N_("Delivered to the recipient"),
    "delivery-failed": N_("Delivery failed for good"),
    "policy-registered": N_("Agreement version put on record"),
    "objection": N_("The resident's objection"),
    "retention-purge": N_("Values deleted at the end of the retention"),
    "key-rotated": N_("The log's signing key replaced"),
    "audit-read": N_("Read by an auditor"),
}
"""Each event the broker records, as the DPO reads it; the filter lists them in this order."""
_VARIANTS: Mapping[tuple[str, str, str], str] = {
    ("contact-check", "state", "closed"): N_("Contact check closed unanswered"),
    ("objection", "action", "added"): N_("The resident objected"),
    ("objection", "action", "withdrawn"): N_("The resident withdrew the objection"),
}
_ACTORS: Mapping[str, str] = {
    "broker": N_("the broker"),
    "cli": N_("the operator (command line)"),
}
_OUTCOMES: Mapping[str, str] = {
    "received": N_("received"),
    "resident-consents-to-contact": N_("the resident consents"),
}
_NOT_FOUND = (N_("No such log entry"), N_("There is no log entry with that number for you."))


@dataclass(frozen=True, slots=True)
class LogRow:
    """One entry as the list and the entry page show it, in the reader's language."""

    seq: int
    when: str
    what: str
    event: str
    recipient: str
    agreement: str
    policy_hash: str
    dwellings: int | None


def _when(entry: Mapping[str, Any], lang: str) -> str:
    try:
        moment = dt.datetime.fromisoformat(str(entry.get("time", "")))
    except ValueError:
        return str(entry.get("time", ""))
    return moment_text(moment, lang)


def _what(entry: Mapping[str, Any], gettext: Gettext) -> str:
    event = str(entry.get("event", ""))
    for (name, key, value), label in _VARIANTS.items():
        if name == event and entry.get(key) == value:
            return gettext(label)
    return gettext(EVENT_LABELS[event]) if event in EVENT_LABELS else event


def entry_row(entry: Mapping[str, Any], gettext: Gettext, lang: str) -> LogRow:
    """Return ``entry`` as a row: when (Danish time), what, to whom, under which agreement."""
    version = entry.get("policy_version")
    policy = entry.get("policy_id")
    agreement = ""
    if policy is not None:
        agreement = str(policy)
        if version is not None:
            agreement += ", " + gettext(N_("version %(version)s")) % {"version": version}
    return LogRow(
        seq=int(entry["seq"]),
        when=_when(entry, lang),
        what=_what(entry, gettext),
        event=str(entry.get("event", "")),
        recipient=str(entry.get("recipient") or ""),
        agreement=agreement,
        policy_hash=str(entry.get("policy_hash") or ""),
        dwellings=dwelling_count(entry),
    )


@dataclass(frozen=True, slots=True)
class _Asked:
    """The filter form as typed, the filter it makes, and what was refused."""

    values: dict[str, str]
    where: EntryFilter
    errors: list[tuple[str, str]]
    matches: tuple[FoundDwelling, ...] = ()
    """The dwellings an address matched, when more than one (the reader picks one)."""


def _day(
    values: dict[str, str], name: str, errors: list[tuple[str, str]], gettext: Gettext
) -> dt.date | None:
    typed = values[name]
    if not typed:
        return None
    try:
        day = dt.date.fromisoformat(typed) if _DATE.match(typed) else None
    except ValueError:
        day = None
    if day is None:
        errors.append((name, gettext(N_("Write the date as YYYY-MM-DD, e.g. 2027-03-01."))))
    return day


def _dwelling(
    session: Session,
    caller: Principal,
    typed: str,
    errors: list[tuple[str, str]],
    gettext: Gettext,
) -> tuple[str | None, tuple[FoundDwelling, ...]]:
    """The dwelling typed as its id or its address (the organisation's own, partial, any case).

    Returns its ``dw-`` id (None when not one), and the matches when an address fits several.
    """
    if not typed or _DWELLING.fullmatch(typed):
        return typed or None, ()
    problem: str | None = None
    found: tuple[FoundDwelling, ...] = ()
    if looks_personal(typed):
        problem = NOT_PERSONAL
    else:
        try:
            found = tuple(find_dwellings(session, caller.org, typed, limit=_MATCHES).dwellings)
        except InputError:
            problem = SEARCH_RULE
    if problem is None and len(found) == 1:
        return found[0].ref, ()
    if problem is None:
        problem = _SEVERAL if found else _NO_ADDRESS
    errors.append(("bolig", gettext(problem)))
    return None, found


def _asked(
    request: Request, session: Session, caller: Principal, ring: KeyRing, gettext: Gettext
) -> _Asked:
    params = request.query_params
    values = {
        name: params.get(name, "").strip()[:_TEXT_LIMIT]
        for name in ("haendelse", "modtager", "aftale", "fra", "til", "bolig")
    }
    errors: list[tuple[str, str]] = []
    since = _day(values, "fra", errors, gettext)
    until = _day(values, "til", errors, gettext)
    if since is not None and until is not None and since > until:
        errors.append(("til", gettext(N_("The end of the period is before its start."))))
        since = until = None
    dwelling, matches = _dwelling(session, caller, values["bolig"], errors, gettext)
    # What looks like personal data typed into a field is not shown again, nor linked.
    values = {name: "" if looks_personal(value) else value for name, value in values.items()}
    if dwelling is not None:
        dwelling = ring.reference(dwelling)
    where = EntryFilter(
        event=values["haendelse"] or None,
        recipient=values["modtager"] or None,
        policy_id=values["aftale"] or None,
        since=since,
        until=until,
        dwelling_ref=dwelling,
    )
    return _Asked(values, where, errors, matches)


def _cursor(request: Request, name: str) -> int | None:
    typed = request.query_params.get(name, "")
    return int(typed) if _SEQ.match(typed) else None


def _reader(caller: Principal) -> Reader:
    return Reader(caller.actor, caller.org)


def _link(values: Mapping[str, str], **cursor: int) -> str:
    query = [(k, v) for k, v in values.items() if v] + [(k, str(v)) for k, v in cursor.items()]
    return "/logbog" + ("?" + urlencode(query) if query else "")


@router.get("/logbog")
def log_list(request: Request, caller: Auditor, session: PageDb, ring: PageKeys) -> Response:
    """The entries the organisation may read, newest first, a page at a time (on record)."""
    lang = language(request)
    gettext = gettext_for(lang)
    asked = _asked(request, session, caller, ring, gettext)
    newer_than = _cursor(request, "efter")
    older_than = _cursor(request, "foer")
    reader, now = _reader(caller), web_now(request)
    newer = older = None
    if newer_than is not None:
        # Newer entries: the page after the cursor, oldest first, shown newest first.
        ahead = review_entries(
            session, ring, reader, asked.where, at=now, after=newer_than, limit=PAGE
        )
        found = list(reversed(ahead.entries))
        if ahead.next_after is not None and found:
            newer = _link(asked.values, efter=int(found[0]["seq"]))
        if found:
            older = _link(asked.values, foer=int(found[-1]["seq"]))
    else:
        page = review_newest(
            session, ring, reader, asked.where, at=now, before=older_than, limit=PAGE
        )
        found = page.entries
        if page.next_before is not None:
            older = _link(asked.values, foer=page.next_before)
        if older_than is not None and found:
            newer = _link(asked.values, efter=int(found[0]["seq"]))
    versions = party_versions(session, caller.org)
    context = {
        "rows": [entry_row(entry, gettext, lang) for entry in found],
        "values": asked.values,
        "errors": asked.errors,
        "field_errors": dict(asked.errors),
        "events": [(name, gettext(label)) for name, label in EVENT_LABELS.items()],
        "recipients": sorted({v.recipient for v in versions if v.recipient}),
        "policies": sorted({v.policy_id for v in versions}),
        "filtered": any(asked.values.values()),
        "matches": [
            (found, _link({**asked.values, "bolig": found.ref})) for found in asked.matches
        ],
        "newer": newer,
        "older": older,
        "newest": _link(asked.values) if (newer_than, older_than) != (None, None) else None,
    }
    return render(request, "log/list.html", context)


def _facts(entry: Mapping[str, Any], row: LogRow, gettext: Gettext) -> list[tuple[str, str]]:
    actor = str(entry.get("actor") or "")
    facts = [
        (gettext(N_("Entry")), str(row.seq)),
        (gettext(N_("When")), row.when),
        (gettext(N_("What")), row.what),
        (gettext(N_("Done by")), gettext(_ACTORS[actor]) if actor in _ACTORS else actor),
    ]
    named = (
        ("recipient", N_("To whom")),
        ("discloser", N_("Discloser")),
        ("purpose", N_("Purpose")),
        ("legal_basis_gdpr", N_("Legal basis (GDPR)")),
        ("legal_basis_national", N_("Legal basis (national)")),
        ("release_id", N_("Release id")),
        ("check_id", N_("Check id")),
    )
    facts += [(gettext(label), str(entry[key])) for key, label in named if entry.get(key)]
    if isinstance(entry.get("fields"), list):
        facts.append((gettext(N_("Fields")), ", ".join(str(f) for f in entry["fields"])))
    if row.dwellings is not None:
        facts.append((gettext(N_("Dwellings")), str(row.dwellings)))
    outcome = entry.get("outcome")
    if isinstance(outcome, str):
        shown = gettext(_OUTCOMES[outcome]) if outcome in _OUTCOMES else outcome
        facts.append((gettext(N_("Answer")), shown))
    if entry.get("reason"):
        facts.append((gettext(N_("Why it failed")), str(entry["reason"])))
    return facts


@router.get("/logbog/{seq}")
def log_entry(
    request: Request, seq: str, caller: Auditor, session: PageDb, ring: PageKeys
) -> Response:
    """One entry: the readable facts, its leaf hash, receipt and canonical JSON (on record)."""
    if not _SEQ.match(seq):
        raise PageRefused(404, *_NOT_FOUND)
    lang = language(request)
    gettext = gettext_for(lang)
    try:
        stored = review_entry(session, ring, _reader(caller), int(seq), at=web_now(request))
    except NotFound:
        raise PageRefused(404, *_NOT_FOUND) from None
    row = entry_row(stored.entry, gettext, lang)
    context = {
        "row": row,
        "facts": _facts(stored.entry, row, gettext),
        "canonical": stored.canonical.decode(),
        "leaf_hash": stored.leaf_hash.hex(),
        "receipt": stored.receipt,
    }
    return render(request, "log/entry.html", context)
