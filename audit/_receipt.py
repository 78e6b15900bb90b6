"""Receipts: C2SP tlog-proof documents proving that one entry is in the signed log.

A receipt is ``c2sp.org/tlog-proof@v1``, an ``extra`` line holding the entry's
canonical bytes (base64), the entry's index, its inclusion proof (one base64
hash per line), a blank line and the signed checkpoint with its cosignatures.
The extra data is not trusted: the verifier hashes it as the leaf, so it is
proven by the inclusion proof, not by being present.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, bindparam, func, select

from audit._cosignature import Cosigner, verify_cosignatures
from audit._merkle import HASH_SIZE, ProofError, leaf_hash, verify_inclusion
from audit._note import Checkpoint, NoteError, Verifier, open_note, parse_checkpoint
from audit._storage import StoredTree, log_checkpoints, log_cosignatures

__all__ = ["HEADER", "Receipt", "ReceiptError", "make_receipt", "verify_receipt"]

HEADER = "c2sp.org/tlog-proof@v1"
_MAX_PROOF = 64
_CHECKPOINTS = (
    select(log_checkpoints.c.size, log_checkpoints.c.note, log_cosignatures.c.line)
    .select_from(
        log_checkpoints.outerjoin(
            log_cosignatures, log_cosignatures.c.size == log_checkpoints.c.size
        )
    )
    .order_by(log_cosignatures.c.witness)
)
_NEWEST_CHECKPOINT = _CHECKPOINTS.where(
    log_checkpoints.c.size == select(func.max(log_checkpoints.c.size)).scalar_subquery()
)
_CHECKPOINT_OF_SIZE = _CHECKPOINTS.where(log_checkpoints.c.size == bindparam("size"))
"""Built once: a receipt binds its numbers and builds no statement."""


class ReceiptError(ValueError):
    """A receipt is malformed or does not prove what it claims."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """A verified receipt: the entry, where it is, and who vouched for the checkpoint."""

    index: int
    entry: bytes
    checkpoint: Checkpoint
    note: str
    cosigned_by: tuple[str, ...]


def make_receipt(
    connection: Connection, seq: int, size: int | None = None, tree: StoredTree | None = None
) -> str:
    """Return the receipt of entry ``seq`` under the checkpoint of ``size`` (default: newest).

    Pass one ``tree`` to make many receipts: each stored node is then read once.

    Raises:
        ReceiptError: the entry or a checkpoint covering it does not exist.
    """
    if size is None:
        rows = connection.execute(_NEWEST_CHECKPOINT).all()
    else:
        rows = connection.execute(_CHECKPOINT_OF_SIZE, {"size": size}).all()
    if not rows or not 0 <= seq < rows[0].size:
        raise ReceiptError(f"no checkpoint covers entry {seq}")
    covering = int(rows[0].size)
    entry, proof = (tree or StoredTree(connection)).entry_and_proof(seq, covering)
    if entry is None:
        raise ReceiptError(f"no checkpoint covers entry {seq}")
    # The checkpoint comes with its cosignature lines (one row each), in one query.
    note = str(rows[0].note) + "".join(row.line for row in rows if row.line is not None)
    lines = [
        HEADER,
        "extra " + base64.b64encode(bytes(entry)).decode(),
        f"index {seq}",
        *(base64.b64encode(h).decode() for h in proof),
    ]
    return "\n".join(lines) + "\n\n" + note


def _parse(text: str) -> tuple[bytes, int, list[bytes], str]:
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or lines[0] != HEADER:
        raise ReceiptError(f"a receipt starts with {HEADER} and holds a checkpoint")
    if len(lines) < 3 or not lines[1].startswith("extra "):  # noqa: PLR2004 - header, extra, index
        raise ReceiptError("this receipt carries no entry (the extra line)")
    index_text = lines[2].removeprefix("index ")
    if not lines[2].startswith("index ") or not (index_text.isascii() and index_text.isdigit()):
        raise ReceiptError("the index line is 'index' and a decimal number")
    if len(index_text) > 1 and index_text.startswith("0"):
        raise ReceiptError("the index has leading zeros")
    if len(lines) - 3 > _MAX_PROOF:
        raise ReceiptError("the inclusion proof is too long")
    try:
        entry = base64.b64decode(lines[1].removeprefix("extra "), validate=True)
        proof = [base64.b64decode(line, validate=True) for line in lines[3:]]
    except binascii.Error:
        raise ReceiptError("the entry or a proof line is not base64") from None
    if any(len(h) != HASH_SIZE for h in proof):
        raise ReceiptError("a proof line is not a SHA-256 hash")
    return entry, int(index_text), proof, note


def verify_receipt(
    text: str,
    origin: str,
    log_keys: Sequence[Verifier],
    cosigners: Sequence[Cosigner] = (),
    min_cosignatures: int = 0,
) -> Receipt:
    """Check a receipt offline against the log's keys and, optionally, its witnesses.

    Raises:
        ReceiptError: malformed, not signed by a log key, too few cosignatures,
            or the entry is not in the checkpointed tree.
    """
    entry, index, proof, note = _parse(text)
    # 1. The checkpoint is signed by the log, and names it.
    try:
        body, _names = open_note(note, [k for k in log_keys if k.name == origin])
        checkpoint = parse_checkpoint(body)
        cosigned = verify_cosignatures(note, cosigners) if cosigners else {}
    except NoteError as error:
        raise ReceiptError(f"the checkpoint: {error}") from None
    if checkpoint.origin != origin:
        raise ReceiptError(f"the checkpoint is of another log, {checkpoint.origin!r}")
    # 2. Enough trusted witnesses saw the same checkpoint.
    if len(cosigned) < min_cosignatures:
        raise ReceiptError(
            f"{len(cosigned)} trusted cosignatures, at least {min_cosignatures} required"
        )
    # 3. The entry is at its index in the checkpointed tree.
    try:
        verify_inclusion(index, checkpoint.size, leaf_hash(entry), proof, checkpoint.root)
    except ProofError as error:
        raise ReceiptError(f"the entry is not proven in the log: {error}") from None
    return Receipt(index, entry, checkpoint, note, tuple(sorted(cosigned)))
