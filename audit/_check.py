"""Verification of a log held in the database: every row the log keeps is checked.

Recomputes each leaf from its entry and compares it with the stored leaf hash,
rebuilds every interior node and compares it with the stored one, checks each
signed checkpoint and each stored cosignature, each stored content against its
entry's commitment, that every absent content is listed by a retention-purge
entry, and the head. Entries sequenced beyond the head (waiting for the next
checkpoint) are checked as far as they can be: numbered without a gap, each leaf
hash and content matching its entry; the result counts them as ``pending``.
Checkpoints held elsewhere (receipts, a witness, an earlier export) catch a log
that was cut short or rewritten.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Row, func, select

from audit._cosignature import Cosigner, verify_cosignatures
from audit._entry import verify_commitment
from audit._merkle import EMPTY_ROOT, leaf_hash
from audit._note import NoteError, Verifier
from audit._storage import (
    log_checkpoints,
    log_contents,
    log_cosignatures,
    log_entries,
    log_nodes,
    read_head,
    sequenced_size,
)
from audit._verify import LogVerifier, VerificationError, Verified, parse_entry

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


def _contents(connection: Connection, first: int, last: int) -> dict[int, tuple[bytes, bytes]]:
    return {
        int(seq): (bytes(salt), bytes(content))
        for seq, salt, content in connection.execute(
            select(log_contents.c.seq, log_contents.c.salt, log_contents.c.content).where(
                log_contents.c.seq.between(first, last)
            )
        )
    }


def _check_content(
    seq: int, document: dict[str, object], contents: dict[int, tuple[bytes, bytes]]
) -> bool:
    """Check entry ``seq``'s stored content, if any, against its commitment (and forget it)."""
    if seq not in contents:
        return False
    stated = document.get("commitment")
    salt, content = contents.pop(seq)
    if not isinstance(stated, str) or not verify_commitment(stated, salt, content):
        raise VerificationError("its stored content does not match its commitment", seq)
    return True


def _replay_page(
    connection: Connection, verifier: LogVerifier, page: Sequence[Row[Any, Any, Any]]
) -> tuple[int, int]:
    """Replay one page of entries with their contents and nodes; return how many of each."""
    contents = _contents(connection, int(page[0].seq), int(page[-1].seq))
    checked = 0
    replayed = []
    for number, data, stored_leaf in page:
        seq, entry = int(number), bytes(data)
        leaf = leaf_hash(entry)
        if bytes(stored_leaf) != leaf:
            raise VerificationError("its stored leaf hash does not match the entry", seq)
        document = verifier.add_entry(seq, entry, content_stored=seq in contents, leaf=leaf)
        replayed.append((seq, verifier.completed))
        checked += _check_content(seq, document, contents)
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


def _check_pending(connection: Connection, head: int) -> tuple[int, int]:
    """Check the entries sequenced beyond the head; return how many, and contents checked."""
    expected, checked = head, 0
    query = select(log_entries.c.seq, log_entries.c.entry, log_entries.c.leaf_hash)
    while page := connection.execute(
        query.where(log_entries.c.seq >= expected).order_by(log_entries.c.seq).limit(_BATCH)
    ).all():
        contents = _contents(connection, int(page[0].seq), int(page[-1].seq))
        for row in page:
            seq, entry = int(row.seq), bytes(row.entry)
            if seq != expected:
                raise VerificationError(f"missing (the next one present is {seq})", expected)
            if bytes(row.leaf_hash) != leaf_hash(entry):
                raise VerificationError("its stored leaf hash does not match the entry", seq)
            document = parse_entry(seq, entry)
            if isinstance(document.get("commitment"), str) and seq not in contents:
                # A purge is integrated with its entry: no pending entry lost its content so.
                raise VerificationError("its committed content is missing", seq)
            checked += _check_content(seq, document, contents)
            expected += 1
        if contents:
            raise VerificationError(
                "content is stored for an entry that does not exist", min(contents)
            )
    return expected - head, checked


def verify_database(
    connection: Connection,
    origin: str,
    log_keys: Sequence[Verifier],
    cosigners: Sequence[Cosigner] = (),
    held: Iterable[tuple[str, str]] = (),
) -> tuple[Verified, int, int]:
    """Verify the stored log; return the result, the cosignatures and the contents checked.

    The entries are read a page of ``_BATCH`` at a time, with the stored nodes they
    complete and their contents: the memory used does not grow with the log. Those
    beyond the head (sequenced, not yet integrated) are counted in ``pending``.

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
    head_size, head_root = read_head(connection)
    checked_contents = checked_nodes = 0
    page_query = select(log_entries.c.seq, log_entries.c.entry, log_entries.c.leaf_hash).where(
        log_entries.c.seq < head_size
    )
    while page := connection.execute(
        page_query.where(log_entries.c.seq >= verifier.size)
        .order_by(log_entries.c.seq)
        .limit(_BATCH)
    ).all():
        contents, nodes = _replay_page(connection, verifier, page)
        checked_contents += contents
        checked_nodes += nodes
    if head_size == 0 and not checkpoints and sequenced_size(connection) > 0:
        # Every entry waits for the log's first checkpoint: nothing is signed yet, but
        # what is stored must still be whole.
        result = Verified(0, EMPTY_ROOT, 0)
    else:
        result = verifier.finish()
    # 3. The head must agree, and no node be stored beyond it.
    if (head_size, head_root) != (result.size, result.root):
        raise VerificationError("the head does not match the entries", result.size)
    if (connection.scalar(select(func.count()).select_from(log_nodes)) or 0) != checked_nodes:
        raise VerificationError("tree nodes are stored beyond the log", result.size)
    # 4. The entries waiting for a checkpoint: whole, and as many as were sequenced.
    pending, contents = _check_pending(connection, result.size)
    checked_contents += contents
    counted, stored = sequenced_size(connection), result.size + pending
    if stored > counted:
        raise VerificationError(
            f"stored beyond the sequence counter ({counted} entries): inserted, not appended",
            counted,
        )
    if stored < counted:
        raise VerificationError(f"missing (the sequence counter says {counted} entries)", stored)
    result = dataclasses.replace(result, pending=pending)
    return result, _check_cosignatures(connection, cosigners), checked_contents
