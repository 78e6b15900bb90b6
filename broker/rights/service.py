"""A resident's right of access (GDPR Art. 15): what was disclosed about one dwelling.

:func:`access_request` answers for one dwelling: every disclosure about it the
reader may see (the reading itself goes on record, as every review of the log
does), each with when and to whom, the agreement (id, version, hash, purpose, both
legal bases, retention), the dwelling's values exactly as they were released while
the content is still held (after its purge: that it was purged, and when), whether
the release was delivered, and the receipt that proves the entry is in the log.
The log's public key comes with it, so anyone can check the receipts offline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from audit import content_seqs
from broker.disclosure import (
    Disclosure,
    EntryFilter,
    Reader,
    dwelling_count,
    dwelling_proof,
    entries,
    review_dwelling,
)
from broker.keys import KeyRing
from broker.policy import Policy
from broker.policy.models import PolicyVersion
from broker.release import Release, recipient_key, released_about
from broker.renovation import Department, Dwelling
from schemas import format_address

__all__ = ["AccessAnswer", "Disclosed", "access_request"]


@dataclass(frozen=True, slots=True)
class Disclosed:
    """One log entry about the dwelling, with what it released and its proof."""

    seq: int
    time: dt.datetime
    event: str
    recipient: str | None
    policy_id: str | None
    policy_version: int | None
    policy_hash: str | None
    purpose: str | None
    legal_basis_gdpr: str | None
    legal_basis_national: str | None
    retention: str | None
    """The agreement's retention (ISO 8601 duration; None: the agreement sets none)."""
    retention_known: bool
    """The agreement's text is known here (in force, or stored when it was loaded)."""
    release_id: str | None
    values: Mapping[str, Any] | None
    """The dwelling's fields as released (None: not held, or the entry released none)."""
    withdrawn: bool
    """The release told the recipient the dwelling was no longer on its list."""
    purged_at: dt.datetime | None
    """When the released content was deleted at the end of its retention."""
    delivery: str | None
    """The release's delivery state (``delivered``, ``pending``, ``failed``), if it has one."""
    delivered_at: dt.datetime | None
    outcome: str | None
    """A contact check's answer (``received``, ``resident-consents-to-contact``)."""
    dwellings: int
    """How many dwellings the entry names (this one among them)."""
    fields: tuple[str, ...]
    """The fields the entry says were released."""
    receipt: str
    dwelling_proof: str | None = None
    """For an entry that commits to its dwellings through a root: the proof (JSON) that
    this dwelling's reference is among them (``python -m audit.verify --dwelling-proof``)."""


@dataclass(frozen=True, slots=True)
class AccessAnswer:
    """The answer to an access request about one dwelling.

    ``shown`` False: the reader may not know of the dwelling (answered as unknown).
    """

    ref: str
    reference: str
    address: str | None
    disclosures: tuple[Disclosed, ...]
    public_key_pem: str
    shown: bool


def _time(value: object) -> dt.datetime:
    return dt.datetime.fromisoformat(str(value))


def _address(session: Session, ref: str, org: str | None) -> str | None:
    query = (
        select(Dwelling)
        .join(Department, Dwelling.department_id == Department.id)
        .where(Dwelling.ref == ref)
    )
    if org is not None:
        query = query.where(Department.org == org)
    found = session.scalar(query)
    if found is None:
        return None
    return format_address(
        found.vejnavn,
        found.husnr,
        etage=found.etage,
        doer=found.doer,
        postnr=found.postnr,
        postnrnavn=found.postnrnavn,
    )


def _purges(session: Session) -> list[tuple[dt.datetime, list[tuple[int, int]]]]:
    """Every purge entry's time and the ranges of sequence numbers it purged."""
    found = []
    for entry in entries(session.connection(), EntryFilter(event="retention-purge")):
        ranges = []
        for text in entry.get("purged_seqs") or []:
            first, _, last = str(text).partition("-")
            ranges.append((int(first), int(last or first)))
        found.append((_time(entry["time"]), ranges))
    return found


def _purged_at(
    seq: int, purges: Iterable[tuple[dt.datetime, list[tuple[int, int]]]]
) -> dt.datetime | None:
    for at, ranges in purges:
        if any(first <= seq <= last for first, last in ranges):
            return at
    return None


def _released_values(content: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any] | None, bool]:
    """Return the dwelling's record in a release's content, and whether it was withdrawn."""
    single = content.get("dwelling")
    records = [single] if isinstance(single, dict) else list(content.get("dwellings") or [])
    for item in records:
        if isinstance(item, dict) and item.get("key") == key:
            return {k: v for k, v in item.items() if k != "key"}, False
    return None, key in (content.get("withdrawn") or [])


def _retention(
    session: Session, policies: Iterable[Policy], hashes: set[str]
) -> dict[str, str | None]:
    """Each agreement version's retention by hash: in force, else from its stored text."""
    known: dict[str, str | None] = {
        p.content_hash: p.retention for p in policies if p.content_hash in hashes
    }
    missing = hashes - set(known)
    if missing:
        stored = session.scalars(
            select(PolicyVersion).where(PolicyVersion.content_hash.in_(missing))
        )
        for version in stored:
            parsed = yaml.safe_load(version.text)
            value = parsed.get("retention") if isinstance(parsed, dict) else None
            known[version.content_hash] = None if value is None else str(value)
    return known


def _disclosed(  # noqa: PLR0913 - one entry, and what is looked up about it
    session: Session,
    disclosure: Disclosure,
    release: Release | None,
    *,
    ref: str,
    ring: KeyRing,
    held: set[int],
    purges: list[tuple[dt.datetime, list[tuple[int, int]]]],
    retention: Mapping[str, str | None],
    proof: str | None,
) -> Disclosed:
    entry = disclosure.entry
    seq = int(entry["seq"])
    values, withdrawn = None, False
    if release is not None and release.log_seq in held:
        key = recipient_key(ring.reference_key, release.recipient, ref)
        values, withdrawn = _released_values(released_about(session, release, key), key)
    carried = release is not None and release.log_seq == seq
    policy_hash = entry.get("policy_hash")
    return Disclosed(
        seq=seq,
        time=_time(entry["time"]),
        event=str(entry["event"]),
        recipient=entry.get("recipient"),
        policy_id=entry.get("policy_id"),
        policy_version=entry.get("policy_version"),
        policy_hash=policy_hash,
        purpose=entry.get("purpose"),
        legal_basis_gdpr=entry.get("legal_basis_gdpr"),
        legal_basis_national=entry.get("legal_basis_national"),
        retention=retention.get(str(policy_hash)),
        retention_known=str(policy_hash) in retention,
        release_id=entry.get("release_id"),
        values=values,
        withdrawn=withdrawn,
        purged_at=_purged_at(seq, purges) if carried and seq not in held else None,
        delivery=release.status if carried and release is not None else None,
        delivered_at=release.delivered_at if carried and release is not None else None,
        outcome=entry.get("outcome"),
        dwellings=dwelling_count(entry) or 0,
        fields=tuple(str(name) for name in entry.get("fields") or []),
        receipt=disclosure.receipt,
        dwelling_proof=proof,
    )


def access_request(  # noqa: PLR0913 - who asks about which dwelling, and what is known
    session: Session,
    ring: KeyRing,
    reader: Reader,
    ref: str,
    *,
    policies: Iterable[Policy],
    at: dt.datetime,
) -> AccessAnswer:
    """Return every disclosure about dwelling ``ref`` the reader may see, with its proofs.

    The read is recorded in the disclosure log (an ``audit-read`` entry), as every
    review is. ``policies`` are the agreement versions known (in force), for their
    retention; a version no longer in force is named by its hash without it.
    """
    review = review_dwelling(session, ring, reader, ref, at=at)
    pem = ring.public_pem().decode()
    if not review.shown:
        return AccessAnswer(ref, review.reference, None, (), pem, shown=False)
    ids = {str(d.entry["release_id"]) for d in review.disclosures if d.entry.get("release_id")}
    releases = (
        {
            row.id: row
            for row in session.scalars(
                select(Release).where(Release.id.in_(ids)).options(defer(Release.content))
            )
        }
        if ids
        else {}
    )
    held = content_seqs(session.connection(), {r.log_seq for r in releases.values()})
    purges = _purges(session) if releases else []
    hashes = {str(d.entry["policy_hash"]) for d in review.disclosures if d.entry.get("policy_hash")}
    retention = _retention(session, policies, hashes)
    found = tuple(
        _disclosed(
            session,
            d,
            releases.get(str(d.entry.get("release_id"))),
            ref=ref,
            ring=ring,
            held=held,
            purges=purges,
            retention=retention,
            proof=dwelling_proof(
                session.connection(), int(d.entry["seq"]), review.reference, d.entry
            ),
        )
        for d in review.disclosures
    )
    address = _address(session, ref, reader.org)
    return AccessAnswer(ref, review.reference, address, found, pem, shown=True)
