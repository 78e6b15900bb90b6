"""Export bundles: the log as JSON lines that an auditor verifies with no database.

One JSON object per line, in this order: a ``header`` (format and origin), the
log's public ``key`` and ``witness`` verifier keys (for information: the auditor
trusts only the keys given to the verifier), every ``checkpoint`` with its
cosignatures, then one ``entry`` (the parsed entry) or ``leaf`` (only its hash,
for an entry outside the exported period or the reader's scope) per sequence
number, and a
``trailer`` with counts. A bundle without its trailer, or whose counts disagree,
is refused: an empty or cut-off export never verifies.

An entry line with a commitment says whether its content is still stored
(``content_stored``), and retention-purge entries are always exported whole, so
that the offline check too reports a content deleted outside a purge. Bundles
of the first format (v1) did not say; they verify without that check.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import rfc8785
from sqlalchemy import Connection, Select, select, true

from audit._canonical import canonical_json, parse
from audit._cosignature import Cosigner, verify_cosignatures
from audit._note import NoteError, Verifier
from audit._storage import (
    log_checkpoints,
    log_contents,
    log_cosignatures,
    log_entries,
    read_head,
)
from audit._verify import LogVerifier, VerificationError, Verified

__all__ = ["FORMAT", "BundleResult", "verify_bundle", "write_bundle", "write_csv"]

FORMAT = "renovation-broker/disclosure-log-bundle/v2"
_FORMAT_V1 = "renovation-broker/disclosure-log-bundle/v1"
CSV_COLUMNS = (
    "seq",
    "time",
    "event",
    "actor",
    "recipient",
    "policy_id",
    "policy_hash",
    "purpose",
    "legal_basis_gdpr",
    "legal_basis_national",
    "dwellings",
    "fields",
    "commitment",
    "other",
)
_BATCH = 2000


@dataclass(frozen=True, slots=True)
class BundleResult:
    """A verified bundle: the log result and what the bundle held."""

    verified: Verified
    entries: int
    leaves: int
    cosignatures: int


def _in_period(entry: dict[str, Any], since: str | None, until: str | None) -> bool:
    day = str(entry.get("time", ""))[:10]
    return (since is None or day >= since) and (until is None or day <= until)


def _entries(
    connection: Connection, size: int, readable: Select[int] | None = None
) -> Iterator[tuple[int, bytes, bytes, bool, bool]]:
    """Yield each entry below ``size``: seq, entry, leaf hash, content stored, visible.

    The database says which entries the reader may see: one pass, no list in memory.
    """
    clear = true() if readable is None else log_entries.c.seq.in_(readable)
    query = (
        select(
            log_entries.c.seq,
            log_entries.c.entry,
            log_entries.c.leaf_hash,
            log_contents.c.seq.is_not(None).label("stored"),
            clear.label("visible"),
        )
        .outerjoin(log_contents, log_contents.c.seq == log_entries.c.seq)
        .where(log_entries.c.seq < size)
        .order_by(log_entries.c.seq)
    )
    with connection.execute(query.execution_options(yield_per=_BATCH)) as rows:
        for row in rows:
            yield (
                int(row.seq),
                bytes(row.entry),
                bytes(row.leaf_hash),
                bool(row.stored),
                bool(row.visible),
            )


def write_bundle(  # noqa: PLR0913 - the export's inputs, all named
    connection: Connection,
    out: IO[str],
    *,
    origin: str,
    log_keys: Sequence[str],
    witness_keys: Sequence[str] = (),
    since: str | None = None,
    until: str | None = None,
    readable: Select[int] | None = None,
    scope: str | None = None,
) -> dict[str, int]:
    """Write the log up to its head as a bundle; ``since``/``until`` are ISO dates.

    Entries outside the period, or not selected by ``readable`` (a query of the
    sequence numbers the reader may see; ``scope`` names that reader in the
    header), are written as leaf hashes only, so the bundle still verifies as a
    whole; retention-purge entries are always written whole. Returns the
    trailer's counts.
    """
    size, _root = read_head(connection)

    def line(document: dict[str, Any]) -> None:
        out.write(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n")

    header = {"type": "header", "format": FORMAT, "origin": origin, "since": since, "until": until}
    line(header if scope is None else {**header, "scope": scope})
    for vkey in log_keys:
        line({"type": "key", "vkey": vkey})
    for vkey in witness_keys:
        line({"type": "witness", "vkey": vkey})
    checkpoints = connection.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note)
        .where(log_checkpoints.c.size <= size)
        .order_by(log_checkpoints.c.size)
    ).all()
    cosignatures: dict[int, list[str]] = {}
    query = select(log_cosignatures.c.size, log_cosignatures.c.line).order_by(
        log_cosignatures.c.size, log_cosignatures.c.witness
    )
    for cp_size, cosignature in connection.execute(query):
        cosignatures.setdefault(int(cp_size), []).append(cosignature)
    for cp_size, note in checkpoints:
        full = note + "".join(cosignatures.get(int(cp_size), []))
        line({"type": "checkpoint", "size": int(cp_size), "note": full})
    counts = {"entries": 0, "leaves": 0, "checkpoints": len(checkpoints), "size": size}
    for seq, entry, leaf, stored, visible in _entries(connection, size, readable):
        document = json.loads(entry)
        purge = document.get("event") == "retention-purge"
        if purge or (visible and _in_period(document, since, until)):
            item: dict[str, Any] = {"type": "entry", "seq": seq, "entry": document}
            if "commitment" in document:
                item["content_stored"] = stored
            line(item)
            counts["entries"] += 1
        else:
            line({"type": "leaf", "seq": seq, "hash": leaf.hex()})
            counts["leaves"] += 1
    line({"type": "trailer", **counts})
    return counts


def _csv_cell(value: object) -> str:
    text = " ".join(value) if isinstance(value, list) else "" if value is None else str(value)
    # A spreadsheet would run a cell that starts like a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def write_csv(
    connection: Connection, out: IO[str], *, since: str | None = None, until: str | None = None
) -> int:
    """Write the entries in the period as a table for a spreadsheet; return the row count.

    As Danish Excel opens a CSV file by double-click: UTF-8 with a byte order mark,
    ``;`` between cells (``,`` is the decimal mark), both legal bases in their own columns.
    """
    size, _root = read_head(connection)
    out.write("\ufeff")
    writer = csv.writer(out, delimiter=";")
    writer.writerow(CSV_COLUMNS)
    rows = 0
    for _seq, entry, _leaf, _stored, _visible in _entries(connection, size):
        document = json.loads(entry)
        if not _in_period(document, since, until):
            continue
        other = {k: v for k, v in document.items() if k not in CSV_COLUMNS and k != "v"}
        cells = [document.get(column) for column in CSV_COLUMNS[:-1]]
        other_text = " ".join(f"{k}={_csv_cell(v)}" for k, v in sorted(other.items()))
        writer.writerow([*(_csv_cell(c) for c in cells), _csv_cell(other_text)])
        rows += 1
    return rows


class _Reader:
    """Reads a bundle line by line, in the order the format fixes."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(enumerate(lines, start=1))
        self.peeked: tuple[int, dict[str, Any]] | None = None
        self.plain = False
        """Whether the line read last is plain JSON (``audit._canonical.parse``)."""

    def next(self) -> tuple[int, dict[str, Any]] | None:
        if self.peeked is not None:
            item, self.peeked = self.peeked, None
            return item
        for number, text in self._lines:
            if not text.strip():
                continue
            try:
                document, self.plain = parse(text)
            except ValueError:
                raise VerificationError(f"bundle line {number} is not JSON") from None
            if not isinstance(document, dict) or not isinstance(document.get("type"), str):
                raise VerificationError(f"bundle line {number} has no type")
            return number, document
        return None

    def take(self, kind: str) -> Iterator[dict[str, Any]]:
        while (item := self.next()) is not None:
            if item[1]["type"] != kind:
                self.peeked = item
                return
            yield item[1]


def verify_bundle(
    lines: Iterable[str],
    log_keys: Sequence[Verifier],
    cosigners: Sequence[Cosigner] = (),
    origin: str | None = None,
) -> BundleResult:
    """Verify an exported bundle against trusted keys; refuse an empty or cut-off one.

    Raises:
        VerificationError: the first problem, naming the entry where it can.
    """
    reader = _Reader(lines)
    # 1. The header names the format and the log.
    first = reader.next()
    if first is None:
        raise VerificationError("the bundle is empty")
    header = first[1]
    if header.get("type") != "header" or header.get("format") not in (FORMAT, _FORMAT_V1):
        raise VerificationError(f"not a bundle of format {FORMAT}")
    states_contents = header["format"] == FORMAT
    log_origin = origin or str(header.get("origin", ""))
    list(reader.take("key"))  # informational: trust comes from the verifier's keys
    list(reader.take("witness"))
    # 2. Checkpoints: each signed by a log key; cosignatures by trusted witnesses.
    checkpoints, cosigned = _read_checkpoints(reader, cosigners)
    verifier = LogVerifier(log_origin, log_keys, checkpoints)
    # 3. Entries and leaf hashes, in sequence.
    counts = {"entries": 0, "leaves": 0}
    while (item := reader.next()) is not None and item[1]["type"] in ("entry", "leaf"):
        _replay(verifier, item[1], counts, states_contents=states_contents, plain=reader.plain)
    # 4. The trailer must close the bundle and agree with what was read.
    if item is None or item[1]["type"] != "trailer":
        raise VerificationError("the bundle has no trailer: it is cut off", verifier.size)
    trailer = item[1]
    expected = {**counts, "checkpoints": len(checkpoints), "size": verifier.size}
    if any(trailer.get(key) != value for key, value in expected.items()):
        raise VerificationError("the trailer's counts do not match the bundle: it was edited")
    if reader.next() is not None:
        raise VerificationError("lines follow the trailer")
    return BundleResult(verifier.finish(), counts["entries"], counts["leaves"], cosigned)


def _read_checkpoints(
    reader: _Reader, cosigners: Sequence[Cosigner]
) -> tuple[list[tuple[int, str]], int]:
    checkpoints: list[tuple[int, str]] = []
    cosigned = 0
    for document in reader.take("checkpoint"):
        size, note = document.get("size"), document.get("note")
        if not isinstance(size, int) or not isinstance(note, str):
            raise VerificationError("a checkpoint line lacks its size or note")
        checkpoints.append((size, note))
        if cosigners:
            try:
                cosigned += len(verify_cosignatures(note, cosigners))
            except NoteError as error:
                raise VerificationError(f"checkpoint of size {size}: {error}") from None
    return checkpoints, cosigned


def _replay(
    verifier: LogVerifier,
    document: dict[str, Any],
    counts: dict[str, int],
    *,
    states_contents: bool,
    plain: bool = False,
) -> None:
    seq = document.get("seq")
    if not isinstance(seq, int):
        raise VerificationError("an entry line lacks its sequence number", verifier.size)
    if document["type"] == "entry":
        entry = document.get("entry")
        if not isinstance(entry, dict):
            raise VerificationError("the entry is not an object", seq)
        try:
            data = canonical_json(entry, plain=plain or None)
        except (rfc8785.CanonicalizationError, TypeError, ValueError):
            raise VerificationError("the entry cannot be canonicalised", seq) from None
        stored = document.get("content_stored")
        if states_contents and "commitment" in entry and not isinstance(stored, bool):
            raise VerificationError("the entry line does not say if its content is stored", seq)
        content_stored = stored if states_contents else None
        verifier.add_entry(seq, data, content_stored=content_stored, document=entry)
        counts["entries"] += 1
        return
    try:
        leaf = bytes.fromhex(str(document.get("hash")))
    except ValueError:
        raise VerificationError("the leaf hash is not hex", seq) from None
    if len(leaf) != 32:  # noqa: PLR2004 - SHA-256
        raise VerificationError("the leaf hash is not a SHA-256 hash", seq)
    verifier.add_leaf(seq, leaf)
    counts["leaves"] += 1
