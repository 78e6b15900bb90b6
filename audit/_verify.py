"""Verification of a whole log: recompute every leaf and root, check every signed checkpoint.

One streaming core serves the database check (``broker audit verify``) and the
offline check of an exported bundle (``python -m audit.verify``). Entries are
fed in order; at the size of each signed checkpoint the recomputed root must
equal the signed one. The first failure stops the walk and names the entry.

When the caller says whether each entry's committed content is stored, an
absent content must be listed by a later ``retention-purge`` entry: a content
deleted outside a purge is reported, naming its entry.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import rfc8785

from audit._canonical import canonical_json, parse
from audit._entry import ENTRY_VERSION
from audit._merkle import CompactRange, leaf_hash
from audit._note import Checkpoint, NoteError, Verifier, open_note, parse_checkpoint

__all__ = ["LogVerifier", "VerificationError", "Verified"]

_RANGE = re.compile(r"(0|[1-9][0-9]{0,18})(?:-(0|[1-9][0-9]{0,18}))?")
_LISTED = 10


class VerificationError(Exception):
    """The log does not verify; ``seq`` is the first bad entry when one can be named."""

    def __init__(self, reason: str, seq: int | None = None) -> None:
        """Record the reason and the first bad sequence number."""
        super().__init__(reason if seq is None else f"entry {seq}: {reason}")
        self.reason = reason
        self.seq = seq


@dataclass(frozen=True, slots=True)
class Verified:
    """A log that verified: its size, its root, and how many checkpoints vouched for it."""

    size: int
    root: bytes
    checkpoints: int
    pending: int = 0
    """Entries sequenced beyond ``size``, waiting for the next checkpoint (a database only)."""


def parse_entry(seq: int, entry: bytes) -> dict[str, object]:
    """Return entry ``seq`` parsed, checked to be the plain canonical form of itself.

    Raises:
        VerificationError: it is not.
    """
    try:
        document, plain = parse(entry)
    except ValueError:
        raise VerificationError("not JSON", seq) from None
    if not isinstance(document, dict):
        raise VerificationError("not a JSON object", seq)
    try:
        canonical: bytes | None = canonical_json(document, plain=plain)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        canonical = None  # no canonical form at all
    if canonical != entry:
        raise VerificationError("not in RFC 8785 canonical form", seq)
    return _check_entry(seq, document)


def _check_entry(seq: int, document: dict[str, object]) -> dict[str, object]:
    if document.get("v") != ENTRY_VERSION:
        raise VerificationError(f"format version is not {ENTRY_VERSION}", seq)
    if document.get("seq") != seq:
        raise VerificationError(
            f"it states sequence number {document.get('seq')!r}: moved, swapped or inserted", seq
        )
    return document


def _ranges(seq: int, listed: object) -> list[tuple[int, int]]:
    """Parse a purge entry's ``purged_seqs``: ascending, disjoint ranges of earlier entries."""
    where = "its purged_seqs are not ascending ranges 'a' or 'a-b' of earlier entries"
    if not isinstance(listed, list):
        raise VerificationError(where, seq)
    ranges: list[tuple[int, int]] = []
    for item in listed:
        match = _RANGE.fullmatch(item) if isinstance(item, str) else None
        if match is None:
            raise VerificationError(where, seq)
        first = int(match[1])
        last = int(match[2]) if match[2] is not None else first
        if not first <= last < seq or (ranges and first <= ranges[-1][1]):
            raise VerificationError(where, seq)
        ranges.append((first, last))
    return ranges


class LogVerifier:
    """Replays a log from its first entry, checking each signed checkpoint on the way.

    ``checkpoints`` are the log's own signed notes, each with the size it is
    stored under; ``held`` are checkpoints kept elsewhere (receipts, a witness,
    an earlier export), each with a label that names where it came from. Every
    note must be signed by one of ``log_keys`` under the log's ``origin``.
    """

    def __init__(
        self,
        origin: str,
        log_keys: Sequence[Verifier],
        checkpoints: Iterable[tuple[int, str]],
        held: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Check every checkpoint's signature now; entries follow through ``add_entry``."""
        self.origin = origin
        self._keys = [k for k in log_keys if k.name == origin]
        self._roots: dict[int, list[tuple[bytes, str]]] = {}
        self.checkpoints = 0
        for size, note in checkpoints:
            checkpoint = self._open(f"checkpoint of size {size}", note)
            if checkpoint.size != size:
                raise VerificationError(f"checkpoint of size {size}: states size {checkpoint.size}")
            self._roots.setdefault(size, []).append((checkpoint.root, "signed checkpoint"))
            self.checkpoints += 1
        for label, note in held:
            checkpoint = self._open(label, note)
            self._roots.setdefault(checkpoint.size, []).append((checkpoint.root, label))
        self._tree = CompactRange(0, [])
        self.completed: list[tuple[int, int, bytes]] = []
        """The (level, index, hash) of the tree nodes the last entry completed."""
        self._last_checked = 0
        # Entries with a commitment, by whether their content is stored (ascending).
        self._stored: list[int] = []
        self._missing: list[int] = []

    def _open(self, where: str, note: str) -> Checkpoint:
        try:
            body, _names = open_note(note, self._keys)
            checkpoint = parse_checkpoint(body)
        except NoteError as error:
            raise VerificationError(f"{where}: {error}") from None
        if checkpoint.origin != self.origin:
            raise VerificationError(f"{where}: names another log, {checkpoint.origin!r}")
        return checkpoint

    @property
    def size(self) -> int:
        """The number of leaves replayed so far."""
        return self._tree.size

    def add_entry(
        self,
        seq: int,
        entry: bytes,
        *,
        content_stored: bool | None = None,
        document: dict[str, object] | None = None,
        leaf: bytes | None = None,
    ) -> dict[str, object]:
        """Replay one entry; return it parsed.

        ``content_stored`` says whether the content behind the entry's commitment
        is still stored (None: not known, nothing is checked). ``document`` is the
        entry already parsed, when ``entry`` was made from it as its canonical bytes
        (a bundle's entry): it is not parsed and canonicalised again. ``leaf`` is the
        entry's leaf hash when the caller has just computed it from ``entry``. The
        tree nodes the entry completes are then in ``completed``.

        Raises:
            VerificationError: out of order, malformed, a checkpoint disagrees, or
                a retention-purge entry lists a content that is still stored.
        """
        self._expect(seq)
        document = parse_entry(seq, entry) if document is None else _check_entry(seq, document)
        self._add(leaf_hash(entry) if leaf is None else leaf)
        if content_stored is not None and isinstance(document.get("commitment"), str):
            (self._stored if content_stored else self._missing).append(seq)
        if document.get("event") == "retention-purge":
            self._purge(seq, document)
        return document

    def _purge(self, seq: int, document: dict[str, object]) -> None:
        listed = document.get("purged_seqs")
        if listed is None:
            # An entry from before purges listed their entries: it covers at most
            # as many absent contents as it counted.
            count = document.get("purged")
            del self._missing[: count if isinstance(count, int) and count > 0 else 0]
            return
        ranges = _ranges(seq, listed)
        for first, last in ranges:
            # 1. Every committed entry in a range has had its content purged.
            start = bisect.bisect_left(self._stored, first)
            if start < len(self._stored) and self._stored[start] <= last:
                raise VerificationError(
                    f"its content is stored, yet retention-purge entry {seq} lists it as purged",
                    self._stored[start],
                )
            # 2. The absent contents in the range are accounted for.
            low = bisect.bisect_left(self._missing, first)
            high = bisect.bisect_right(self._missing, last)
            del self._missing[low:high]

    def add_leaf(self, seq: int, leaf: bytes) -> None:
        """Replay one entry known only by its leaf hash (left out of a partial export)."""
        self._expect(seq)
        self._add(leaf)

    def _expect(self, seq: int) -> None:
        if seq != self._tree.size:
            missing = self._tree.size
            raise VerificationError(f"missing (the next one present is {seq})", missing)

    def _add(self, leaf: bytes) -> None:
        self.completed = self._tree.append(leaf)
        size = self._tree.size
        signed = self._roots.get(size)
        if signed is not None:
            root = self._tree.root()
            for expected, label in signed:
                if root != expected:
                    # Checkpoints follow every append transaction, so the first bad
                    # entry lies after the last checkpoint that still matched.
                    raise VerificationError(
                        f"entries {self._last_checked} to {size - 1} do not match the "
                        f"{label} of size {size}: changed, swapped, inserted, deleted, "
                        "or the history was rewritten",
                        self._last_checked,
                    )
            self._last_checked = size

    def finish(self) -> Verified:
        """Return the result once every entry is replayed.

        Raises:
            VerificationError: no entries, no checkpoint covers the last entry, or a
                checkpoint is larger than the log (truncated, or an old backup).
        """
        size = self._tree.size
        if size == 0:
            raise VerificationError("the log is empty: there is nothing to verify")
        beyond = [(s, label) for s, held in self._roots.items() if s > size for _, label in held]
        if beyond:
            largest, label = max(beyond)
            raise VerificationError(
                f"a {label} of size {largest} was signed but the log holds only "
                f"{size} entries: truncated, or restored from an old backup",
                size,
            )
        if size not in self._roots:
            raise VerificationError(
                f"no signed checkpoint covers the last entries (log size {size})",
                self._last_checked,
            )
        if self._missing:
            more = self._missing[1 : 1 + _LISTED]
            also = ", ".join(map(str, more)) + (", ..." if len(self._missing) > 1 + _LISTED else "")
            raise VerificationError(
                "its committed content is missing and no retention-purge entry lists it"
                + (f" (nor those of entries {also})" if more else ""),
                self._missing[0],
            )
        return Verified(size, self._tree.root(), self.checkpoints)
