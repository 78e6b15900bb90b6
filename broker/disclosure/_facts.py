"""What each disclosure-log entry is about, as the entry list filters by it.

Also the dwellings it names (``log_entry_dwellings``, migration 0017 for the entries
before): each text reference in its ``dwellings`` list, and those a release entry
commits to through its ``dwellings_root`` (``audit._references``), given with it.

The rule, applied when an entry is recorded (and by migration 0013 to the entries
before it): an entry's ``event``, ``recipient`` and ``policy_id`` when they are
text (without NUL, which PostgreSQL's text cannot hold and no entry the broker
makes has), and the UTC day of its ``time``; None for what the entry does not name.
``EntryFilter`` compares the same values (``broker.disclosure.service``), so the
database selects exactly the entries the filter's ``matches`` accepts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from audit import EntryValue, references_root
from broker.disclosure.models import EntryDwelling, EntryFacts

__all__ = ["check_named", "dwelling_count", "entry_dwellings", "entry_facts", "index_facts"]


def _text(value: EntryValue) -> str | None:
    return value if isinstance(value, str) and "\x00" not in value else None


def _day(value: EntryValue) -> dt.date | None:
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def entry_facts(fields: Mapping[str, EntryValue]) -> dict[str, object]:
    """Return the facts row (without ``seq``) of the entry with ``fields``."""
    return {
        "event": _text(fields.get("event")),
        "recipient": _text(fields.get("recipient")),
        "policy_id": _text(fields.get("policy_id")),
        "day": _day(fields.get("time")),
    }


def entry_dwellings(fields: Mapping[str, EntryValue]) -> list[str]:
    """Return the dwelling references the entry with ``fields`` names (text without NUL)."""
    named = fields.get("dwellings")
    if not isinstance(named, list):
        return []
    return sorted({r for r in named if isinstance(r, str) and "\x00" not in r})


def dwelling_count(entry: Mapping[str, object]) -> int | None:
    """How many dwellings the entry concerns: its ``dwellings_count`` or its list's length.

    None when it names none (an event about no dwelling).
    """
    count = entry.get("dwellings_count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    named = entry.get("dwellings")
    return len(named) if isinstance(named, list) else None


def check_named(fields: Mapping[str, EntryValue], references: Sequence[str]) -> None:
    """Check that ``references`` are what the entry's ``dwellings_root`` commits to.

    Raises:
        ValueError: they are not (their root or their count differs).
    """
    root, count = fields.get("dwellings_root"), fields.get("dwellings_count")
    if root is None and not references:
        return
    if root != references_root(references) or count != len(references):
        raise ValueError("the entry's dwellings_root does not commit to these references")


def index_facts(
    session: Session,
    first_seq: int,
    entries: Sequence[Mapping[str, EntryValue]],
    named: Sequence[Sequence[str]] = (),
) -> None:
    """Write the facts of the entries appended from ``first_seq``, in the session's transaction.

    ``named`` holds, per entry, the references it commits to through its root.
    """
    rows = [{"seq": first_seq + n, **entry_facts(fields)} for n, fields in enumerate(entries)]
    if rows:
        session.execute(insert(EntryFacts), rows)
    extra = list(named) + [()] * (len(entries) - len(named))
    dwellings = [
        {"reference": reference, "seq": first_seq + n}
        for n, fields in enumerate(entries)
        for reference in sorted({*entry_dwellings(fields), *extra[n]})
    ]
    if dwellings:
        session.execute(insert(EntryDwelling), dwellings)
