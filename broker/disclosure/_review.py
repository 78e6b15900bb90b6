"""Reviews of the disclosure log: one call per job, each recording its own ``audit-read``.

Every edge (the API, the CLI, the pages) reviews the log through these calls, so
a read is on record the same way whoever asks. A ``Reader`` is who reads: the
actor the entry names and, for an auditor token, the organisation whose entries
it may see (``broker.disclosure._orgs`` has the rule); the operator's CLI reads
every entry. The reads run in the caller's session: their entries commit with it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Literal

from audit import Verified, latest_checkpoint, write_bundle, write_csv
from broker.disclosure._orgs import is_party
from broker.disclosure.service import (
    Disclosure,
    EntryFilter,
    StoredEntry,
    audit_read,
    dwelling_disclosures,
    entries,
    readable_seqs,
    record,
    stored_entry,
    verify,
)
from broker.errors import InputError, NotFound, Problem

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sqlalchemy.orm import Session

    from broker.config import Settings
    from broker.keys import KeyRing
    from broker.policy import Policy

__all__ = [
    "DwellingReview",
    "EntryPage",
    "NewestPage",
    "Reader",
    "checkpoint_note",
    "export_log",
    "review_dwelling",
    "review_entries",
    "review_entry",
    "review_newest",
    "verify_log",
]


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads the log: the actor on record, and the organisation it reads for.

    ``org`` None is the operator (the CLI): every entry, and no party check.
    """

    actor: str
    org: str | None = None


@dataclass(frozen=True, slots=True)
class EntryPage:
    """One page of entries, oldest first, and the cursor of the next page (None: the last)."""

    entries: list[dict[str, Any]]
    next_after: int | None


@dataclass(frozen=True, slots=True)
class NewestPage:
    """One page of entries, newest first, and the cursor of the older page (None: the last)."""

    entries: list[dict[str, Any]]
    next_before: int | None


@dataclass(frozen=True, slots=True)
class DwellingReview:
    """Every disclosure about one dwelling the reader may see, and its reference in the log.

    ``shown`` is False when the reader may not know of the dwelling: none of its
    disclosures is the reader's and it is not the reader's organisation's.
    """

    reference: str
    disclosures: list[Disclosure]
    shown: bool = True


_NOT_A_PARTY = "nothing on record for the caller's organisation"


def _require_party(session: Session, reader: Reader, policies: Iterable[Policy]) -> None:
    """Raise NotFound unless the reader is the operator or its organisation is a party."""
    if reader.org is not None and not is_party(session, reader.org, policies):
        raise NotFound(_NOT_A_PARTY)


def _read(  # noqa: PLR0913 - what was read, all named
    session: Session,
    ring: KeyRing,
    reader: Reader,
    query: str,
    *,
    at: dt.datetime,
    since: dt.date | None = None,
    until: dt.date | None = None,
    dwellings: Iterable[str] = (),
    publish: bool = False,
) -> None:
    draft = audit_read(
        query, at=at, actor=reader.actor, since=since, until=until, dwellings=list(dwellings)
    )
    record(session, ring, [draft], publish=publish)


def review_entries(  # noqa: PLR0913 - the page's bounds, all named
    session: Session,
    ring: KeyRing,
    reader: Reader,
    where: EntryFilter,
    *,
    at: dt.datetime,
    after: int = -1,
    limit: int | None = None,
    query: str = "entries",
) -> EntryPage:
    """Return the entries matching ``where`` after the cursor (at most ``limit``); recorded.

    The database selects and filters the page: the entries after ``after`` that
    match and the reader may read, oldest first, read only up to the one after the
    page. ``query`` names the review in its ``audit-read`` entry.
    """
    # One entry beyond the page tells whether there is a next one.
    beyond = None if limit is None else limit + 1
    page = list(entries(session.connection(), where, org=reader.org, after=after, limit=beyond))
    more = limit is not None and len(page) > limit
    page = page[:limit]
    _read(session, ring, reader, query, at=at, since=where.since, until=where.until)
    return EntryPage(page, int(page[-1]["seq"]) if more and page else None)


def review_newest(  # noqa: PLR0913 - the page's bounds, all named
    session: Session,
    ring: KeyRing,
    reader: Reader,
    where: EntryFilter,
    *,
    at: dt.datetime,
    limit: int,
    before: int | None = None,
    query: str = "entries",
) -> NewestPage:
    """Return the newest ``limit`` entries matching ``where`` before the cursor; recorded.

    As :func:`review_entries`, newest first: the database selects the page (and
    one entry beyond it, to tell whether there is an older page).
    """
    found = entries(
        session.connection(),
        where,
        org=reader.org,
        before=before,
        limit=limit + 1,
        newest_first=True,
    )
    page = list(found)
    more = len(page) > limit
    page = page[:limit]
    _read(session, ring, reader, query, at=at, since=where.since, until=where.until)
    return NewestPage(page, int(page[-1]["seq"]) if more and page else None)


def review_entry(
    session: Session, ring: KeyRing, reader: Reader, seq: int, *, at: dt.datetime
) -> StoredEntry:
    """Return entry ``seq`` as stored, if the reader may read it; the read is recorded.

    Raises:
        NotFound: no such entry, or not the reader's (the same answer; nothing recorded).
    """
    found = stored_entry(session.connection(), seq, org=reader.org)
    _read(session, ring, reader, "entry", at=at)
    return found


def _holds(session: Session, ref: str, org: str) -> bool:
    # schedule's objections record through this package, so it is imported late.
    from broker.renovation.service import dwelling_org  # noqa: PLC0415

    try:
        return dwelling_org(session, ref) == org
    except NotFound:
        return False


def review_dwelling(
    session: Session, ring: KeyRing, reader: Reader, ref: str, *, at: dt.datetime
) -> DwellingReview:
    """Return every disclosure about the dwelling ``ref`` (dw-...) the reader may see; recorded.

    For a reader of an organisation, not ``shown`` when there is none and the
    dwelling is not its organisation's (to be answered as for a dwelling that does
    not exist): the read is on record then too, without the dwelling's reference.
    """
    reference = ring.reference(ref)
    found = dwelling_disclosures(session.connection(), reference, org=reader.org)
    if reader.org is not None and not found and not _holds(session, ref, reader.org):
        _read(session, ring, reader, "dwelling", at=at)
        return DwellingReview(reference, [], shown=False)
    _read(session, ring, reader, "dwelling", at=at, dwellings=[reference])
    return DwellingReview(reference, found)


def export_log(  # noqa: PLR0913 - the export's inputs, all named
    session: Session,
    ring: KeyRing,
    settings: Settings,
    reader: Reader,
    out: IO[str],
    *,
    at: dt.datetime,
    since: dt.date | None = None,
    until: dt.date | None = None,
    fmt: Literal["jsonl", "csv"] = "jsonl",
    policies: Iterable[Policy] = (),
) -> dict[str, int]:
    """Record the export, then write the log (or a period of it) to ``out``; return counts.

    ``jsonl`` writes a verifiable bundle (for ``python -m audit.verify``): the
    entries a reader of an organisation may not see go as leaf hashes only, as
    those outside the period do. ``csv`` (the operator's only) writes a table:
    its count is ``entries``. The export's own ``audit-read`` entry is in it.
    The log as a whole is for the operator and the parties of this broker's
    disclosures (of ``policies`` in force, or of a release on record) only.

    Raises:
        NotFound: the reader's organisation is no party (nothing is recorded).
        InputError: ``csv`` for a reader of an organisation (it would hold every entry).
    """
    if fmt == "csv" and reader.org is not None:
        rule = "the table export holds every entry: the operator's only"
        raise InputError("nothing was exported", (Problem(rule, None, "format"),))
    _require_party(session, reader, policies)
    # Published at once: the bundle ends at the newest checkpoint, and holds this read.
    _read(session, ring, reader, "export", at=at, since=since, until=until, publish=True)
    connection = session.connection()
    start, end = (day.isoformat() if day else None for day in (since, until))
    if fmt == "csv":
        return {"entries": write_csv(connection, out, since=start, until=end)}
    return write_bundle(
        connection,
        out,
        origin=ring.origin,
        log_keys=ring.verifier_keys(),
        witness_keys=[w.key for w in settings.witnesses],
        since=start,
        until=end,
        readable=readable_seqs(reader.org) if reader.org is not None else None,
        scope=reader.org,
    )


def verify_log(  # noqa: PLR0913 - who verifies against what, all named
    session: Session,
    ring: KeyRing,
    settings: Settings,
    reader: Reader | None,
    *,
    at: dt.datetime,
    held: Iterable[tuple[str, str]] = (),
    policies: Iterable[Policy] = (),
) -> tuple[Verified, int, int]:
    """Verify the whole log; on success record the read (unless ``reader`` is None).

    ``held`` are checkpoints kept outside the database the log must extend.
    Returns what verified, the cosignatures and the stored contents checked.
    The operator's own check (``broker audit verify``) is not put on record.
    As the export, for the operator and the parties of ``policies`` only.

    Raises:
        NotFound: the reader's organisation is no party (nothing is recorded).
        LogVerificationError: the log does not verify (nothing is recorded).
    """
    if reader is not None:
        _require_party(session, reader, policies)
    result = verify(session.connection(), ring, settings, held)
    if reader is not None:
        _read(session, ring, reader, "verify", at=at)
    return result


def checkpoint_note(session: Session, reader: Reader, policies: Iterable[Policy] = ()) -> str:
    """Return the newest signed checkpoint with its cosignatures (a C2SP signed note).

    For the operator and the parties of ``policies`` only; not a read of entries,
    so not recorded.

    Raises:
        NotFound: the reader's organisation is no party, or there is no checkpoint yet.
    """
    _require_party(session, reader, policies)
    latest = latest_checkpoint(session.connection())
    if latest is None:
        raise NotFound("no checkpoint yet")
    return latest[1]
