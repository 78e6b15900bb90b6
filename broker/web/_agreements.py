"""The agreements' exact texts as they were in force, for the DPO: readable, and what changed.

- ``/aftaler``: every stored version of the agreements the organisation is a party to,
  by agreement, with when it was first put in force and its hash; those in force now
  are marked.
- ``/aftaler/<hash>``: one version: its terms in Danish, its exact text, and the lines
  that differ from the version before it.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from fastapi import Request
from fastapi.responses import Response

from broker.access import Principal, Role
from broker.policy.models import PolicyVersion
from broker.policy.service import party_version, party_versions
from broker.web._i18n import N_, Gettext, gettext_for
from broker.web._periods import moment_text
from broker.web._shell import PageReadDb, SignedInAs, language, page_router, render
from broker.web._start import LINKS, StartLink

__all__ = ["router"]

router = page_router()
LINKS.append(StartLink(frozenset({Role.AUDITOR}), N_("The agreements' texts"), "/aftaler"))
Auditor = Annotated[Principal, SignedInAs(Role.AUDITOR)]

TERMS: Mapping[str, str] = {
    "id": N_("Agreement"),
    "version": N_("Version"),
    "description": N_("Description"),
    "discloser": N_("Discloser"),
    "recipient": N_("Recipient"),
    "flow": N_("Exchange"),
    "purpose": N_("Purpose"),
    "legal_basis": N_("Legal basis"),
    "scope": N_("Scope"),
    "fields": N_("Fields released"),
    "outcomes": N_("Answers"),
    "schedule": N_("Schedule"),
    "mode": N_("Mode"),
    "min_dwellings": N_("Fewest dwellings in a release"),
    "retention": N_("Kept by the recipient for"),
}
"""The Danish label of each term of an agreement file; other keys are shown by name."""


@dataclass(frozen=True, slots=True)
class VersionRow:
    """One stored version as the list shows it."""

    policy_id: str
    version: int
    content_hash: str
    first_seen: str
    in_force: bool


@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of the difference to the previous version: ``+``, ``-`` or `` `` (context)."""

    mark: str
    text: str


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(item) for item in value)
    return "" if value is None else " ".join(str(value).split())


def _lines(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """Flatten a term's value to (sub-term, text) lines: ``window.days_after: 120``."""
    if not isinstance(value, dict):
        return [(prefix, _text(value))]
    found: list[tuple[str, str]] = []
    for key, inner in value.items():
        found += _lines(inner, f"{prefix}.{key}" if prefix else str(key))
    return found


def terms(text: str, gettext: Gettext) -> list[tuple[str, list[tuple[str, str]]]]:
    """Return an agreement file's terms in order: each label and its (sub-term, text) lines."""
    parsed = yaml.safe_load(text)
    if not isinstance(parsed, dict):
        return []
    return [
        (gettext(TERMS[key]) if key in TERMS else str(key), _lines(value))
        for key, value in parsed.items()
    ]


def diff(previous: PolicyVersion | None, current: PolicyVersion) -> list[DiffLine]:
    """Return the lines that differ from the previous version, with three lines of context."""
    if previous is None:
        return []
    lines = difflib.unified_diff(
        previous.text.splitlines(), current.text.splitlines(), lineterm="", n=3
    )
    return [
        DiffLine(line[0], line[1:])
        for line in lines
        if not line.startswith(("---", "+++", "@@")) and line[:1] in {"+", "-", " "}
    ]


def _in_force(request: Request) -> set[str]:
    return {item.policy.content_hash for item in request.app.state.policies.active}


@router.get("/aftaler")
def agreements(request: Request, caller: Auditor, session: PageReadDb) -> Response:
    """Every version of the agreements the organisation is a party to."""
    lang = language(request)
    active = _in_force(request)
    rows = [
        VersionRow(
            v.policy_id,
            v.version,
            v.content_hash,
            moment_text(v.first_seen_at, lang),
            v.content_hash in active,
        )
        for v in party_versions(session, caller.org)
    ]
    return render(request, "agreements/list.html", {"rows": rows})


@router.get("/aftaler/{content_hash}")
def agreement(
    request: Request, caller: Auditor, session: PageReadDb, content_hash: str
) -> Response:
    """One agreement version: its terms, its exact text, and what changed from the one before."""
    lang = language(request)
    found, previous = party_version(session, caller.org, content_hash)
    context = {
        "found": found,
        "previous": previous,
        "first_seen": moment_text(found.first_seen_at, lang),
        "in_force": found.content_hash in _in_force(request),
        "terms": terms(found.text, gettext_for(lang)),
        "changes": diff(previous, found),
    }
    return render(request, "agreements/version.html", context)
