"""The broker's side of the disclosure log: record events, review, verify, export, purge.

Every entry is sequenced in the caller's session, so it commits with the change
it records or not at all; it is put under a signed checkpoint by publishing
(``broker.disclosure.publishing``). Entries name dwellings only by their keyed reference.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, exists, false, select
from sqlalchemy.orm import Session

from audit import (
    ConcurrentAppendError,
    Cosigner,
    Draft,
    EntryValue,
    ReceiptError,
    Sequenced,
    Signer,
    VerificationError,
    Verified,
    content_seqs,
    integrate,
    leaf_hash,
    make_receipt,
    parse_cosigner_key,
    proof_document,
    purge_contents,
    read_entries,
    read_head,
    reference_proof,
    sequence,
    verify_database,
)
from broker.config import Settings
from broker.disclosure._facts import check_named, index_facts
from broker.disclosure._orgs import audience, index_orgs
from broker.disclosure.models import EntryDwelling, EntryFacts, EntryOrg
from broker.errors import (
    AuditError,
    InputError,
    LogConflictError,
    LogVerificationError,
    NotFound,
    Problem,
)
from broker.keys import KeyRing
from broker.policy import Policy

__all__ = [
    "Disclosure",
    "EntryFilter",
    "StoredEntry",
    "audit_read",
    "dwelling_disclosures",
    "entries",
    "objection_changed",
    "policy_facts",
    "policy_registered",
    "purge",
    "readable_seqs",
    "receipt",
    "record",
    "registered_seq",
    "rfc3339",
    "stored_entry",
    "verify",
    "witness_cosigners",
]


def rfc3339(moment: dt.datetime) -> str:
    """Return ``moment`` as RFC 3339 UTC with whole seconds, as entries state time."""
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def record(  # noqa: PLR0913 - the drafts, and how they are signed and indexed, by keyword
    session: Session,
    ring: KeyRing,
    drafts: Sequence[Draft],
    *,
    signer: Signer | None = None,
    publish: bool = False,
    named: Sequence[Sequence[str]] = (),
) -> Sequenced:
    """Sequence ``drafts`` in the session's transaction and index them.

    The entries wait for the next checkpoint (``broker.disclosure.publishing``).
    With ``publish`` (or a ``signer``), every waiting entry is integrated under a
    new checkpoint in this same transaction: for a writer whose answer must hold
    its own entry under a checkpoint (an export), or a key rotation, whose
    checkpoint ``signer`` signs with the new key and the old one.

    Each entry is indexed, in the same transaction, under the organisations it
    concerns (``broker.disclosure._orgs``): what an auditor token of one may read;
    and by the facts the entry list filters by (``broker.disclosure._facts``).
    ``named`` holds, per draft, the dwellings' keyed references it commits to
    through its ``dwellings_root`` (not listed in it): they are indexed with it.

    Raises:
        LogConflictError: another integrator advanced the log head first (the
            transaction rolls back).
        ValueError: a draft's ``dwellings_root`` is not the root of its ``named``.
    """
    for n, draft in enumerate(drafts):
        check_named(draft.fields, named[n] if n < len(named) else ())
    connection = session.connection()
    sequenced = sequence(connection, drafts)
    if publish or signer is not None:
        try:
            integrate(connection, signer or ring.signer())
        except ConcurrentAppendError as exc:
            raise LogConflictError(
                "another writer appended to the disclosure log first; retry"
            ) from exc
    fields = [draft.fields for draft in drafts]
    index_orgs(session, sequenced.first_seq, fields)
    index_facts(session, sequenced.first_seq, fields, named)
    return sequenced


def _indexed_references(connection: Connection, seq: int) -> list[str]:
    """Return the references the per-dwelling index holds for entry ``seq``, sorted."""
    return list(
        connection.scalars(
            select(EntryDwelling.reference)
            .where(EntryDwelling.seq == seq)
            .order_by(EntryDwelling.reference)
        )
    )


def dwelling_proof(
    connection: Connection, seq: int, reference: str, entry: Mapping[str, object]
) -> str | None:
    """Return the proof that ``reference`` is under entry ``seq``'s ``dwellings_root``.

    None for an entry that lists its dwellings instead (the list is the proof). The
    references are the per-dwelling index's rows of the entry.

    Raises:
        AuditError: the index does not hold the references the entry commits to.
    """
    root = entry.get("dwellings_root")
    if not isinstance(root, str):
        return None
    references = _indexed_references(connection, seq)
    try:
        check_named(entry, references)  # type: ignore[arg-type]
        proof = reference_proof(references, reference)
    except ValueError as exc:
        raise AuditError(f"entry {seq}: {exc}") from exc
    return proof_document(seq, reference, root, proof)


def policy_facts(policy: Policy) -> dict[str, EntryValue]:
    """Return what every entry made under ``policy`` states about it: who, why, on what basis."""
    return {
        "discloser": policy.discloser,
        "recipient": policy.recipient,
        "policy_id": policy.id,
        "policy_version": policy.version,
        "policy_hash": policy.content_hash,
        "purpose": " ".join(policy.purpose.split()),
        "legal_basis_gdpr": policy.legal_basis.gdpr,
        "legal_basis_national": policy.legal_basis.national,
    }


def policy_registered(policy: Policy, *, at: dt.datetime, actor: str = "broker") -> Draft:
    """Return the entry that puts a policy version on record (its identity is its hash)."""
    fields: dict[str, EntryValue] = {
        "time": rfc3339(at),
        "event": "policy-registered",
        "actor": actor,
        **policy_facts(policy),
        "fields": sorted(policy.fields),
    }
    return Draft(fields)


def registered_seq(session: Session, policy: Policy) -> int | None:
    """Return the seq of the first ``policy-registered`` entry of this exact version (or None)."""
    where = EntryFilter(event="policy-registered", policy_id=policy.id)
    for entry in entries(session.connection(), where):
        if entry.get("policy_hash") == policy.content_hash:
            return int(entry["seq"])
    return None


def audit_read(  # noqa: PLR0913 - what was read, all named
    query: str,
    *,
    at: dt.datetime,
    actor: str = "cli",
    since: dt.date | None = None,
    until: dt.date | None = None,
    dwellings: Sequence[str] = (),
) -> Draft:
    """Return the entry recording that someone read the log: who, what, when."""
    fields: dict[str, EntryValue] = {
        "time": rfc3339(at),
        "event": "audit-read",
        "actor": actor,
        "query": query,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
    }
    if dwellings:
        fields["dwellings"] = list(dwellings)
    return Draft(fields)


def objection_changed(reference: str, *, discloser: str, added: bool, at: dt.datetime) -> Draft:
    """Return the entry recording that a resident's objection was added or withdrawn.

    ``discloser`` is the housing organisation of the dwelling: its auditor sees the entry.
    """
    fields: dict[str, EntryValue] = {
        "time": rfc3339(at),
        "event": "objection",
        "actor": "cli",
        "discloser": discloser,
        "action": "added" if added else "withdrawn",
        "dwellings": [reference],
    }
    return Draft(fields)


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """What ``broker audit list`` narrows by; unset parts match everything.

    The database applies every part (``clauses``, on the facts and the dwellings
    written with each entry); ``matches`` states the same rule on a parsed entry.
    """

    event: str | None = None
    recipient: str | None = None
    policy_id: str | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    dwelling_ref: str | None = None

    def matches(self, entry: dict[str, Any]) -> bool:
        """Return whether ``entry`` passes every set part of the filter."""
        day = dt.date.fromisoformat(str(entry["time"])[:10])
        dwellings = entry.get("dwellings") or []
        return (
            (self.event is None or entry.get("event") == self.event)
            and (self.recipient is None or entry.get("recipient") == self.recipient)
            and (self.policy_id is None or entry.get("policy_id") == self.policy_id)
            and (self.since is None or day >= self.since)
            and (self.until is None or day <= self.until)
            and (self.dwelling_ref is None or self.dwelling_ref in dwellings)
        )

    def clauses(self) -> list[ColumnElement[bool]]:
        """Return the filter's parts as conditions on ``EntryFacts`` (and ``EntryDwelling``)."""
        named = (
            (EntryFacts.event, self.event),
            (EntryFacts.recipient, self.recipient),
            (EntryFacts.policy_id, self.policy_id),
        )
        # No fact holds a NUL (PostgreSQL's text cannot): such a value matches nothing.
        found = [
            column == value if "\x00" not in value else false()
            for column, value in named
            if value is not None
        ]
        if self.since is not None:
            found.append(EntryFacts.day >= self.since)
        if self.until is not None:
            found.append(EntryFacts.day <= self.until)
        if self.dwelling_ref is not None:
            ref = self.dwelling_ref
            about = exists().where(
                EntryDwelling.seq == EntryFacts.seq, EntryDwelling.reference == ref
            )
            found.append(about if "\x00" not in ref else false())
        return found


def _selection(  # noqa: PLR0913 - the page's bounds, all named
    where: EntryFilter,
    *,
    org: str | None,
    after: int,
    limit: int | None,
    before: int | None = None,
    newest_first: bool = False,
) -> Select[int] | None:
    """Return the query of the matching entries' sequence numbers (None: every entry)."""
    clauses = where.clauses()
    if before is not None:
        clauses.append(EntryFacts.seq < before)
    if org is None and not clauses and limit is None:
        return None
    query = select(EntryFacts.seq).where(EntryFacts.seq > after, *clauses)
    if org is not None:
        readable = EntryOrg.seq == EntryFacts.seq, EntryOrg.org.in_(audience(org))
        query = query.where(exists().where(*readable))
    if limit is not None:
        order = EntryFacts.seq.desc() if newest_first else EntryFacts.seq
        query = query.order_by(order).limit(limit)
    return query


def entries(  # noqa: PLR0913 - the page's bounds, all named
    connection: Connection,
    where: EntryFilter,
    *,
    org: str | None = None,
    after: int = -1,
    limit: int | None = None,
    before: int | None = None,
    newest_first: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield the parsed entries that match, oldest first, from the one after ``after``.

    The database selects them, and at most ``limit``: by the facts written with
    each entry and, with ``org``, by the organisations' index (only the entries an
    auditor of that organisation may read). ``before`` stops before that entry;
    ``newest_first`` (a page: with ``limit``) yields the newest ``limit`` that
    match, newest first.

    Raises:
        ValueError: ``newest_first`` without ``limit``.
    """
    if newest_first and limit is None:
        raise ValueError("newest first is a page: it needs a limit")
    selection = _selection(
        where, org=org, after=after, limit=limit, before=before, newest_first=newest_first
    )
    among: Select[int] | list[int] | None = selection
    if selection is not None and limit is not None:
        # A page: its sequence numbers first, then its entries by key. As one statement,
        # PostgreSQL may merge the subquery with a scan of every entry before the page.
        among = list(connection.scalars(selection))
        if not among:
            return
    found = (json.loads(raw) for raw in read_entries(connection, after=after, among=among))
    if newest_first:
        yield from reversed(list(found))
        return
    yield from itertools.islice(found, limit)


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One entry as stored: its canonical bytes, parsed, its leaf hash and receipt (if any)."""

    entry: dict[str, Any]
    canonical: bytes
    leaf_hash: bytes
    receipt: str | None
    """Its inclusion proof under the newest checkpoint; None while no checkpoint covers it."""


def stored_entry(connection: Connection, seq: int, *, org: str | None = None) -> StoredEntry:
    """Return entry ``seq`` with its canonical bytes; with ``org``, only if its auditor may read it.

    Raises:
        NotFound: no such entry, or not one ``org``'s auditor may read (the same answer).
    """
    selection = select(EntryFacts.seq).where(EntryFacts.seq == seq)
    if org is not None:
        readable = EntryOrg.seq == EntryFacts.seq, EntryOrg.org.in_(audience(org))
        selection = selection.where(exists().where(*readable))
    raw = next(read_entries(connection, after=seq - 1, among=selection), None)
    if raw is None:
        raise NotFound("no such log entry")
    try:
        proof: str | None = receipt(connection, seq)
    except AuditError:
        proof = None
    return StoredEntry(json.loads(raw), raw, leaf_hash(raw), proof)


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One entry that concerned a dwelling, with its receipt proving it is in the log."""

    entry: dict[str, Any]
    receipt: str


def readable_seqs(org: str) -> Select[int]:
    """Return the query of the sequence numbers an auditor of ``org`` may read in the clear."""
    return select(EntryOrg.seq).where(EntryOrg.org.in_(audience(org)))


def dwelling_disclosures(
    connection: Connection, reference: str, *, org: str | None = None
) -> list[Disclosure]:
    """Return every published entry naming the dwelling ``reference``, each with a receipt.

    With ``org``, only the entries an auditor of that organisation may read. An entry
    still waiting for its checkpoint (at most a checkpoint interval) is listed once it
    is published: nothing is released before then (delivery waits for publication).
    """
    published, _root = read_head(connection)
    where = EntryFilter(dwelling_ref=reference)
    found = list(entries(connection, where, org=org, before=published))
    return [Disclosure(entry, receipt(connection, int(entry["seq"]))) for entry in found]


def receipt(connection: Connection, seq: int, size: int | None = None) -> str:
    """Return entry ``seq``'s receipt (C2SP tlog-proof) under the checkpoint of ``size``.

    ``size`` None is the newest checkpoint.

    Raises:
        AuditError: no stored checkpoint of that size covers the entry.
    """
    try:
        return make_receipt(connection, seq, size)
    except ReceiptError as exc:
        raise AuditError(f"entry {seq}: no receipt ({exc})") from exc


def witness_cosigners(settings: Settings) -> list[Cosigner]:
    """Return the configured witnesses' cosignature keys."""
    return [parse_cosigner_key(w.key) for w in settings.witnesses]


def verify(
    connection: Connection,
    ring: KeyRing,
    settings: Settings,
    held: Iterable[tuple[str, str]] = (),
) -> tuple[Verified, int, int]:
    """Verify the stored log against every log key and configured witness key.

    Also that the per-dwelling index holds, for every entry that commits to its
    dwellings through a ``dwellings_root``, exactly the references under that root:
    an access request finds a dwelling's disclosures by the index.

    Raises:
        LogVerificationError: the log does not verify (where, and why).
    """
    try:
        verified = verify_database(
            connection, ring.origin, ring.verifiers(), witness_cosigners(settings), held
        )
    except VerificationError as exc:
        raise LogVerificationError(exc.reason, exc.seq) from exc
    _check_dwelling_index(connection)
    return verified


def _check_dwelling_index(connection: Connection) -> None:
    releases = select(EntryFacts.seq).where(EntryFacts.event == "release")
    for raw in read_entries(connection, among=releases):
        if b'"dwellings_root"' not in raw:
            continue  # an entry that lists its dwellings: the list is indexed as it is
        entry = json.loads(raw)
        seq = int(entry["seq"])
        references = _indexed_references(connection, seq)
        try:
            check_named(entry, references)
        except ValueError:
            raise LogVerificationError(
                "the dwelling index does not hold the references its dwellings_root commits to",
                seq,
            ) from None


def purge(
    session: Session,
    ring: KeyRing,
    *,
    at: dt.datetime,
    before: dt.date | None = None,
    retention_days: Mapping[str, int] | None = None,
) -> int:
    """Delete stored contents and salts that are due; record the purge as an entry.

    Due means: recorded before ``before``, or older than its policy's retention
    (``retention_days`` maps policy id to days). The entries, and so the log,
    stay and still verify; only the bytes behind their commitments go. The
    ``retention-purge`` entry lists the entries whose contents went, in the same
    transaction as the delete (the database refuses any other delete).
    Returns how many contents were deleted.

    Raises:
        InputError: ``before`` is in the future.
        LogConflictError: another writer advanced the log first.
    """
    if before is not None and before > at.date():
        raise InputError(
            "the purge date is in the future", (Problem("a date not after today", None, "before"),)
        )
    retention = retention_days or {}
    connection = session.connection()

    def due(entry: dict[str, Any]) -> bool:
        day = dt.date.fromisoformat(str(entry["time"])[:10])
        days = retention.get(str(entry.get("policy_id")))
        expired = days is not None and day + dt.timedelta(days=days) < at.date()
        return expired or (before is not None and day < before)

    stored = content_seqs(connection)
    doomed = [
        int(entry["seq"])
        for entry in entries(connection, EntryFilter())
        if int(entry["seq"]) in stored and due(entry)
    ]
    fields: dict[str, EntryValue] = {
        "time": rfc3339(at),
        "actor": "broker",
        "before": before.isoformat() if before else None,
        "by_policy_retention": bool(retention),
    }
    try:
        appended = purge_contents(connection, doomed, fields, ring.signer())
    except ConcurrentAppendError as exc:
        raise LogConflictError(
            "another writer appended to the disclosure log first; retry"
        ) from exc
    recorded = [{**fields, "event": "retention-purge"}]
    index_orgs(session, appended.first_seq, recorded)
    index_facts(session, appended.first_seq, recorded)
    return len(doomed)
