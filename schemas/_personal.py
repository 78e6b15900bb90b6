"""Last line of defence: recognise text that looks like a personal identifier.

The broker never stores names, CPR numbers, e-mail addresses or phone numbers.
Ingest drops such columns by name; this module catches such a value that was
typed into a column the broker keeps, and the log processor scrubs it from
any log line. It errs on the side of matching.
"""

from __future__ import annotations

import re

__all__ = ["PERSONAL_PATTERNS", "looks_personal", "scrub_personal"]

# The lookarounds keep the patterns off pieces of UUIDs and tenancy numbers
# such as 0412-0001-017, whose digit groups are joined by hyphens.
PERSONAL_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a CPR number", re.compile(r"(?<![\w-])[0-9]{6}[ -]?[0-9]{4}(?![\w-])")),
    ("an e-mail address", re.compile(r"[^\s@<>()\[\],;:\"]+@[^\s@<>()\[\],;:\"]+\.[A-Za-z]{2,}")),
    (
        "a phone number",
        re.compile(
            r"(?<![\w+-])(?:(?:\+|00)45[ -]?)?"
            r"(?:[0-9]{8}|[0-9]{2}[ -][0-9]{2}[ -][0-9]{2}[ -][0-9]{2}|[0-9]{4}[ -][0-9]{4})"
            r"(?![\w-])"
        ),
    ),
)

_REDACTED = "[redacted]"


def looks_personal(text: str) -> str | None:
    """Return what kind of personal identifier ``text`` seems to hold, or ``None``."""
    for kind, pattern in PERSONAL_PATTERNS:
        if pattern.search(text):
            return kind
    return None


def scrub_personal(text: str) -> str:
    """Return ``text`` with anything that looks like a personal identifier redacted."""
    for _kind, pattern in PERSONAL_PATTERNS:
        text = pattern.sub(_REDACTED, text)
    return text
