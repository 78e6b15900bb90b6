"""An upload's rules in the reader's language: the ingest names them in English, once.

The ingest's problems carry their rule as English text (the CLI, the API and the logs
print it so); a page shows it through the catalogue. A rule with a number or a list in
it is matched by its pattern and translated with the parts kept. A rule this module
does not know is shown as it is.
"""

from __future__ import annotations

import re

from broker.web._i18n import N_, Gettext

__all__ = ["rule_text"]

_RULES = (
    N_("must be a real calendar date"),
    N_("must be a date as dd-mm-yyyy, dd.mm.yyyy or yyyy-mm-dd"),
    N_("must not be before Startdato"),
    N_("a dwelling cannot replace itself"),
    N_("names a tenancy number that is not in this department's upload"),
    N_("required column is missing"),
    N_("must be a DAR address UUID"),
    N_("must be a street name of 1-40 letters, digits, spaces or .,'/-"),
    N_("must be a number 1-999 with an optional letter"),
    N_("must be st, kl, k2-k9 or a floor number 1-99"),
    N_("must be tv, th, mf or a door number of up to 4 characters"),
    N_("must be a floor optionally followed by a door, e.g. 1. tv or st th"),
    N_("must be a postcode of 4 digits"),
    N_("must be a municipality code of 4 digits"),
    N_("must be a postal district name of 1-40 letters"),
    N_("must be a department code of 1-40 letters, digits or hyphens"),
    N_("must be a tenancy number of 1-30 letters, digits or ./-"),
    N_("the file must start with a heading row"),
    N_("the sheet must start with a heading row"),
    N_("the file has no data rows"),
    N_("not a readable XLSX workbook"),
    N_("the file cannot be read"),
    N_("file type must be .csv, .xlsx or .json"),
    N_("the file must be UTF-8 JSON"),
)
"""The rules without a variable part: each its own msgid."""

_KINDS = {
    "a CPR number": N_("a CPR number"),
    "an e-mail address": N_("an e-mail address"),
    "a phone number": N_("a phone number"),
}
_PATTERNS = (
    (
        re.compile(r"looks like (?P<kind>.+): remove personal data"),
        N_("looks like %(kind)s: remove personal data"),
    ),
    (
        re.compile(r"differs from row (?P<row>\d+) of the same Lejemålsnr"),
        N_("differs from row %(row)s of the same Lejemålsnr"),
    ),
    (
        re.compile(r"duplicate phase for this dwelling \(first at row (?P<row>\d+)\)"),
        N_("duplicate phase for this dwelling (first at row %(row)s)"),
    ),
    (re.compile(r"must be one of (?P<values>.+)"), N_("must be one of %(values)s")),
    (
        re.compile(r"carries the same field as column (?P<column>.+)"),
        N_("carries the same field as column %(column)s"),
    ),
    (
        re.compile(r"malformed CSV near row (?P<row>\d+)"),
        N_("malformed CSV near row %(row)s"),
    ),
)


def rule_text(rule: str, gettext: Gettext) -> str:
    """Return ``rule`` in the reader's language (as it is when not known here)."""
    if rule in _RULES:
        return gettext(rule)
    for pattern, message in _PATTERNS:
        match = pattern.fullmatch(rule)
        if match is not None:
            parts = match.groupdict()
            if "kind" in parts:
                kind = parts["kind"]
                parts["kind"] = gettext(_KINDS[kind]) if kind in _KINDS else kind
            return gettext(message) % parts
    return rule
