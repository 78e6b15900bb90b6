"""Verification of a log held in the database: every row the log keeps is checked.

Recomputes each leaf from its entry and compares it with the stored leaf hash,
rebuilds every interior node and compares it with the stored one, checks each
signed checkpoint and each stored cosignature, each stored content against its
entry's commitment, that every absent content is listed by a retention-purge
entry, and the head.
Checkpoints held elsewhere (receipts, a witness, an earlier export) catch a log
that was cut short or rewritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, select

from audit._cosignature import Cosigner, verify_cosignatures
from audit._entry import verify_commitment
from audit._merkle import CompactRange, leaf_hash
from audit._note import NoteError, Verifier
from audit._storage import (
    log_checkpoints,
    log_contents,
    log_cosignatures,
    log_entries,
    log_nodes,
    read_head,
)
from audit._verify import LogVerifier, VerificationError, Verified

__all__ = ["verify_database"]

_BATCH = 2000


def _check_cosignatures(connection: Connection, cosigners: Sequence[Cosigner]) -> int:
    notes = dict(connection.execute(select(log_checkpoints.c.size, log_checkpoints.c.note)).all())
    trusted = {c.name: c for c in cosigners}
    checked = 0
    rows = connection.execute(
        select(log_cosignatures.c.size, log_cosignatures.c.witness, log_cosignatures.c.line)
    )
    for size, witness, line in rows:
        cosigner = trusted.get(witness)
        if cosigner is None:
            continue  # a witness no longer configured: its lines are kept, not trusted
        where = f"cosignature by {witness} on the checkpoint of size {size}"
        if size not in notes:
            raise VerificationError(f"{where}: no such checkpoint")
        try:
            verified = verify_cosignatures(notes[size] + line, [cosigner])
        except NoteError as error:
            raise VerificationError(f"{where}: {error}") from None
        if witness not in verified:
            raise VerificationError(f"{where}: does not verify")
        checked += 1
    return checked


def _stored_nodes(
    connection: Connection, completed: Sequence[tuple[int, int, bytes]]
) -> dict[tuple[int, int], bytes]:
    """The stored nodes at the coordinates of ``completed``: one range query per level."""
    spans: dict[int, tuple[int, int]] = {}
    for level, index, _ in completed:
        low, high = spans.get(level, (index, index))
        spans[level] = (min(low, index), max(high, index))
    found: dict[tuple[int, int], bytes] = {}
    for level, (low, high) in spans.items():
        rows = connection.execute(
            select(log_nodes.c.idx, log_nodes.c.hash).where(
                log_nodes.c.level == level, log_nodes.c.idx.between(low, high)
            )
        )
        found.update({(level, int(index)): bytes(node) for index, node in rows})
    return found


def _replay_page(
    connection: Connection,
    verifier: LogVerifier,
    tree: CompactRange,
    page: Sequence[Row[Any, Any, Any]],
) -> tuple[int, int]:
    """Replay one page of entries with their contents and nodes; return how many of each."""
    first, last = int(page[0].seq), int(page[-1].seq)
    contents = {
        int(seq): (bytes(salt), bytes(content))
        for seq, salt, content in connection.execute(
            select(log_contents.c.seq, log_contents.c.salt, log_contents.c.content).where(
                log_contents.c.seq.between(first, last)
            )
        )
    }
    checked = 0
    replayed = []
    for row in page:
        seq, entry, stored_leaf = int(row.seq), bytes(row.entry), bytes(row.leaf_hash)
        leaf = leaf_hash(entry)
        if stored_leaf != leaf:
            raise VerificationError("its stored leaf hash does not match the entry", seq)
        document = verifier.add_entry(seq, entry, content_stored=seq in contents)
        replayed.append((seq, tree.append(leaf)))
        if seq in contents:
            stated = document.get("commitment")
            salt, content = contents.pop(seq)
            if not isinstance(stated, str) or not verify_commitment(stated, salt, content):
                raise VerificationError("its stored content does not match its commitment", seq)
            checked += 1
    if contents:
        raise VerificationError("content is stored for an entry that does not exist", min(contents))
    completed = [node for _, nodes in replayed for node in nodes]
    stored = _stored_nodes(connection, completed)
    for seq, nodes in replayed:
        for level, index, node in nodes:
            if stored.get((level, index)) != node:
                raise VerificationError(
                    f"stored tree node {level}/{index} is wrong or missing", seq
                )
    return checked, len(completed)


def verify_database(
    connection: Connection,
    origin: str,
    log_keys: Sequence[Verifier],
    cosigners: Sequence[Cosigner] = (),
    held: Iterable[tuple[str, str]] = (),
) -> tuple[Verified, int, int]:
    """Verify the stored log; return the result, the cosignatures and the contents checked.

    The entries are read a page of ``_BATCH`` at a time, with the stored nodes they
    complete and their contents: the memory used does not grow with the log.

    Raises:
        VerificationError: the first problem found, naming the entry where it can.
    """
    # 1. Every checkpoint must be signed by a log key (checked before any entry).
    checkpoints = connection.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note).order_by(log_checkpoints.c.size)
    ).all()
    verifier = LogVerifier(origin, log_keys, [(int(s), n) for s, n in checkpoints], held)
    # 2. Replay the entries in order, a page at a time: leaf, content, interior nodes,
    #    checkpoints.
    tree = CompactRange(0, [])
    checked_contents = checked_nodes = 0
    page_query = select(log_entries.c.seq, log_entries.c.entry, log_entries.c.leaf_hash)
    while page := connection.execute(
        page_query.where(log_entries.c.seq >= tree.size).order_by(log_entries.c.seq).limit(_BATCH)
    ).all():
        contents, nodes = _replay_page(connection, verifier, tree, page)
        checked_contents += contents
        checked_nodes += nodes
    result = verifier.finish()
    # 3. Nothing may be stored beyond the replayed log, and the head must agree.
    beyond = connection.scalar(
        select(func.min(log_contents.c.seq)).where(log_contents.c.seq >= result.size)
    )
    if beyond is not None:
        raise VerificationError("content is stored for an entry that does not exist", int(beyond))
    if (connection.scalar(select(func.count()).select_from(log_nodes)) or 0) != checked_nodes:
        raise VerificationError("tree nodes are stored beyond the log", result.size)
    if read_head(connection) != (result.size, result.root):
        raise VerificationError("the head does not match the entries", result.size)
    return result, _check_cosignatures(connection, cosigners), checked_contents
