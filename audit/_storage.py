"""Log storage: append-only tables, enforced by the database, and a compare-and-swap head.

The tables are plain SQLAlchemy Core so that ``audit`` stays independent of the
broker. Triggers (created by the broker's migrations) refuse UPDATE and DELETE
of entries, nodes, checkpoints and cosignatures on SQLite and PostgreSQL, and
TRUNCATE on PostgreSQL. A content may be deleted only by a retention purge
(``purge_contents``): its ``retention-purge`` entry, which lists the purged
entries, is appended first, and the database refuses to delete a content unless
the newest entry of the log is a retention-purge entry that lists it.
Writing is split in two, as transparency logs that take many writes do:

- **Sequencing** (``sequence``), in the writer's transaction: the entries get the
  next sequence numbers from the single ``log_sequence`` row (locked by the update
  until the transaction ends, so numbers are gapless and committed in order) and
  are stored with their leaf hashes. Nothing else: no tree node, no signature.
- **Integration** (``integrate``), in a transaction of its own, one at a time
  (PostgreSQL: the head row is locked; SQLite: one writer at a time): the stored
  tree is extended over every sequenced entry not yet in it, the head advanced
  (only from the size this integrator read, so two cannot fork the log) and one
  signed checkpoint is stored over the new head.

``append`` does both in the caller's transaction (one writer that needs its
checkpoint at once). The head (``log_head``) is the integrated tree; entries
beyond it are sequenced, waiting for the next checkpoint.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import (
    BigInteger,
    Column,
    CompoundSelect,
    Connection,
    Integer,
    LargeBinary,
    MetaData,
    Select,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)

from audit._entry import ENTRY_VERSION, EntryValue, canonical_entry, commitment, new_salt
from audit._merkle import (
    EMPTY_ROOT,
    CompactRange,
    ProofError,
    RangeHash,
    consistency_proof_of,
    inclusion_proof_of,
    leaf_hash,
    perfect_subtrees,
    root_of_subtrees,
)
from audit._note import Checkpoint, add_signature, format_checkpoint, sign_note

__all__ = [
    "Appended",
    "ConcurrentAppendError",
    "Draft",
    "Integrated",
    "Sequenced",
    "Signer",
    "StoredTree",
    "add_cosignature",
    "append",
    "best_cosigned",
    "content_seqs",
    "cosignature_lines",
    "cosigned_size",
    "integrate",
    "latest_checkpoint",
    "log_checkpoints",
    "log_contents",
    "log_cosignatures",
    "log_entries",
    "log_head",
    "log_nodes",
    "log_sequence",
    "metadata",
    "purge_contents",
    "read_entries",
    "read_head",
    "seq_ranges",
    "sequence",
    "sequenced_size",
]

metadata = MetaData()

log_entries = Table(
    "log_entries",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("entry", LargeBinary, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("level", SmallInteger, primary_key=True, autoincrement=False),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
"""Complete interior subtrees (level >= 1); level 0 is ``log_entries.leaf_hash``."""

log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

log_sequence = Table(
    "log_sequence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
)
"""The number of sequenced entries: the next entry's sequence number (one row, id 1)."""

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("note", Text, nullable=False),
)
"""One signed checkpoint per integration, as the signed note text."""

log_cosignatures = Table(
    "log_cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(256), primary_key=True),
    Column("line", Text, nullable=False),
)
"""A witness's cosignature line over the checkpoint of ``size``."""

log_contents = Table(
    "log_contents",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("salt", LargeBinary(32), nullable=False),
    Column("content", LargeBinary, nullable=False),
)
"""The released bytes and salt behind an entry's commitment: the only rows that may
be deleted (by a retention purge), never changed."""


class ConcurrentAppendError(RuntimeError):
    """Another integrator advanced the log head first; retry on a fresh head."""


@dataclass(frozen=True, slots=True)
class Draft:
    """An entry to append, before it has a sequence number.

    ``fields`` are the entry's keys except ``v`` and ``seq``; ``content`` is the
    exact released bytes, committed to in the entry and stored apart from it.
    """

    fields: Mapping[str, EntryValue]
    content: bytes | None = None


@dataclass(frozen=True, slots=True)
class Signer:
    """The log's identity: its origin (also the key name) and its Ed25519 signing keys.

    The checkpoint is signed by every key given, so a rotation can be vouched
    for by the old key and the new one together.
    """

    origin: str
    keys: tuple[Ed25519PrivateKey, ...]

    def sign(self, size: int, root: bytes) -> str:
        """Return the signed checkpoint note for ``size`` and ``root``."""
        note = sign_note(
            format_checkpoint(Checkpoint(self.origin, size, root)), self.origin, self.keys[0]
        )
        for key in self.keys[1:]:
            note = add_signature(note, self.origin, key)
        return note


@dataclass(frozen=True, slots=True)
class Sequenced:
    """What one writer sequenced: its entries' numbers and bytes, not yet under a checkpoint.

    ``salts`` holds, per entry, the fresh salt its content was committed under
    (``None`` for an entry without content).
    """

    first_seq: int
    entries: tuple[bytes, ...]
    salts: tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True)
class Integrated:
    """What one integration did: the tree grew from ``old_size`` to ``size``, signed."""

    old_size: int
    size: int
    root: bytes
    checkpoint: str


@dataclass(frozen=True, slots=True)
class Appended:
    """What one append transaction wrote: the entries and the checkpoint covering them.

    ``salts`` holds, per entry, the fresh salt its content was committed under
    (``None`` for an entry without content).
    """

    first_seq: int
    entries: tuple[bytes, ...]
    size: int
    root: bytes
    checkpoint: str
    salts: tuple[bytes | None, ...]


def read_head(connection: Connection) -> tuple[int, bytes]:
    """Return the size and root hash of the integrated log (what checkpoints cover)."""
    row = connection.execute(select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1))
    size, root = row.one()
    return int(size), bytes(root)


def sequenced_size(connection: Connection) -> int:
    """Return how many entries are sequenced (integrated or waiting for a checkpoint)."""
    query = select(log_sequence.c.size).where(log_sequence.c.id == 1)
    return int(connection.execute(query).scalar_one())


class StoredTree:
    """Read access to the stored tree: subtree hashes, and proofs built from them."""

    def __init__(self, connection: Connection) -> None:
        """Read through ``connection``; hashes are cached for the object's life."""
        self._connection = connection
        self._cache: dict[tuple[int, int], bytes] = {}
        self._entry: bytes | None = None

    def node(self, level: int, index: int) -> bytes:
        """Return the hash of the complete subtree at ``level`` and ``index``.

        Raises:
            ProofError: the subtree is not stored (beyond the tree).
        """
        key = (level, index)
        if key not in self._cache:
            if level == 0:
                query = select(log_entries.c.leaf_hash).where(log_entries.c.seq == index)
            else:
                query = select(log_nodes.c.hash).where(
                    log_nodes.c.level == level, log_nodes.c.idx == index
                )
            found = self._connection.scalar(query)
            if found is None:
                raise ProofError(f"no stored subtree at level {level}, index {index}")
            self._cache[key] = bytes(found)
        return self._cache[key]

    def subtree(self, start: int, end: int) -> bytes:
        """Return MTH of the leaves ``[start, end)`` from the stored complete subtrees."""
        hashes = [
            self.node(level, (start >> level) + index)
            for level, index in perfect_subtrees(end - start)
        ]
        return root_of_subtrees(hashes)

    def root(self, size: int) -> bytes:
        """Return the root of the tree's first ``size`` leaves."""
        return self.subtree(0, size) if size else EMPTY_ROOT

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """Return the inclusion proof of leaf ``index`` in the tree of ``size``."""
        return self.entry_and_proof(index, size, entry=False)[1]

    def entry_and_proof(
        self, index: int, size: int, *, entry: bool = True
    ) -> tuple[bytes | None, list[bytes]]:
        """Return entry ``index``'s bytes (None: not stored) and its inclusion proof.

        Read in one query: the entry comes with the nodes the proof reads.

        Raises:
            ProofError: ``index`` is not in the tree, or a node is not stored.
        """
        ranges = self._prefetch(
            lambda subtree: inclusion_proof_of(subtree, index, size), index if entry else None
        )
        # The proof is the hashes of the subtrees it read, in the order it read them.
        return self._entry, [self.subtree(start, end) for start, end in ranges]

    def consistency_proof(self, old_size: int, size: int) -> list[bytes]:
        """Return the consistency proof from ``old_size`` to ``size``."""
        self._prefetch(lambda subtree: consistency_proof_of(subtree, old_size, size))
        return consistency_proof_of(self.subtree, old_size, size)

    def _prefetch(
        self, proof: Callable[[RangeHash], object], entry: int | None = None
    ) -> list[tuple[int, int]]:
        # A dry run of the proof names the stored subtrees it reads (returned, in the
        # order read); they are then read in one query instead of one each, with entry
        # ``entry``'s bytes if asked. Bad input raises here as in the run.
        ranges: list[tuple[int, int]] = []

        def record(start: int, end: int) -> bytes:
            ranges.append((start, end))
            return b""

        proof(record)
        wanted = {
            (level, (start >> level) + index)
            for start, end in ranges
            for level, index in perfect_subtrees(end - start)
        }
        found, self._entry = _read_tree(self._connection, wanted - self._cache.keys(), entry)
        self._cache.update(found)
        return ranges


@functools.lru_cache(maxsize=256)
def _tree_query(interior: int, *, entries: bool) -> Select[Any] | CompoundSelect[Any]:
    """The query of some leaves (``seqs``) and ``interior`` nodes (``l0``/``i0`` ... bound).

    Built once per shape, so a read binds its coordinates and builds no statement. The
    nodes are an OR of primary-key lookups, which both databases answer from the key's
    index; with ``entries`` the leaves come with their entry's bytes.
    """
    no_entry = cast(null(), LargeBinary)
    leaves = select(
        literal(0, SmallInteger).label("level"),
        log_entries.c.seq.label("idx"),
        log_entries.c.leaf_hash.label("hash"),
        (log_entries.c.entry if entries else no_entry).label("entry"),
    ).where(log_entries.c.seq.in_(bindparam("seqs", expanding=True)))
    if not interior:
        return leaves
    wanted = (
        and_(log_nodes.c.level == bindparam(f"l{n}"), log_nodes.c.idx == bindparam(f"i{n}"))
        for n in range(interior)
    )
    nodes = select(
        log_nodes.c.level, log_nodes.c.idx, log_nodes.c.hash, no_entry.label("entry")
    ).where(or_(*wanted))
    return union_all(leaves, nodes)


def _read_tree(
    connection: Connection, coordinates: Collection[tuple[int, int]], entry: int | None = None
) -> tuple[dict[tuple[int, int], bytes], bytes | None]:
    """Return the stored nodes at ``coordinates``, and entry ``entry``'s bytes: one query."""
    leaves = {index for level, index in coordinates if level == 0}
    if entry is not None:
        leaves.add(entry)
    interior = [(level, index) for level, index in coordinates if level]
    if not leaves and not interior:
        return {}, None
    bound: dict[str, Any] = {"seqs": sorted(leaves)}
    for n, (level, index) in enumerate(interior):
        bound[f"l{n}"], bound[f"i{n}"] = level, index
    query = _tree_query(len(interior), entries=entry is not None)
    found: dict[tuple[int, int], bytes] = {}
    data: bytes | None = None
    for level, index, node, stored in connection.execute(query, bound):
        found[(int(level), int(index))] = bytes(node)
        if stored is not None and int(level) == 0 and int(index) == entry:
            data = bytes(stored)
    return found, data


def _stored_nodes(
    connection: Connection, coordinates: Collection[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    return _read_tree(connection, coordinates)[0]


def _frontier(connection: Connection, size: int) -> CompactRange:
    # The right edge of a tree is at most 64 subtrees.
    coordinates = perfect_subtrees(size)
    found = _stored_nodes(connection, coordinates)
    missing = [c for c in coordinates if c not in found]
    if missing:
        raise ProofError(f"no stored subtree at level {missing[0][0]}, index {missing[0][1]}")
    return CompactRange(size, [found[c] for c in coordinates])


def sequence(connection: Connection, drafts: Sequence[Draft]) -> Sequenced:
    """Sequence entries in the caller's transaction: number them and store them.

    Each entry gets the next sequence number; a draft's content is stored apart,
    under a fresh salt, and the entry carries only the commitment. The sequence
    row stays locked until the caller's transaction ends: a second writer waits
    there, so the numbers are gapless and every committed entry's predecessors
    are committed too. No tree node and no checkpoint is written (``integrate``).

    Raises:
        EntryError: a draft breaks the entry format.
    """
    if not drafts:
        raise ValueError("nothing to append")
    # 1. Take the numbers: the update locks the row (SQLite: the writer's IMMEDIATE lock).
    taken = connection.execute(
        update(log_sequence)
        .where(log_sequence.c.id == 1)
        .values(size=log_sequence.c.size + len(drafts))
        .returning(log_sequence.c.size)
    ).scalar_one()
    first = int(taken) - len(drafts)
    # 2. Number, commit to the content, and canonicalise each entry.
    entries: list[bytes] = []
    salts: list[bytes | None] = []
    contents: list[dict[str, object]] = []
    rows: list[dict[str, object]] = []
    for offset, draft in enumerate(drafts):
        seq = first + offset
        fields = {**draft.fields, "v": ENTRY_VERSION, "seq": seq}
        salt = None
        if draft.content is not None:
            salt = new_salt()
            fields["commitment"] = commitment(salt, draft.content)
            contents.append({"seq": seq, "salt": salt, "content": draft.content})
        entry = canonical_entry(fields)
        salts.append(salt)
        entries.append(entry)
        rows.append({"seq": seq, "entry": entry, "leaf_hash": leaf_hash(entry)})
    connection.execute(insert(log_entries), rows)
    if contents:
        connection.execute(insert(log_contents), contents)
    return Sequenced(first, tuple(entries), tuple(salts))


def integrate(
    connection: Connection, signer: Signer, *, limit: int | None = None
) -> Integrated | None:
    """Extend the stored tree over the sequenced entries beyond the head; sign the new head.

    In the caller's transaction; at most ``limit`` entries (None: all there are).
    Returns None when no entry waits (nothing is signed then).

    Raises:
        ConcurrentAppendError: another integrator advanced the head since it was read.
        ProofError: the stored tree or the entries beyond the head are not whole.
    """
    # 1. Read the head; on PostgreSQL lock it, so a second integrator waits here.
    query = select(log_head.c.size).where(log_head.c.id == 1)
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    size = int(connection.execute(query).scalar_one())
    leaves = (
        select(log_entries.c.seq, log_entries.c.leaf_hash)
        .where(log_entries.c.seq >= size)
        .order_by(log_entries.c.seq)
    )
    waiting = connection.execute(leaves if limit is None else leaves.limit(limit)).all()
    if not waiting:
        return None
    # 2. Extend the tree: the new leaves, and every interior node they complete.
    tree = _frontier(connection, size)
    nodes: list[dict[str, object]] = []
    for seq, leaf in waiting:
        if int(seq) != tree.size:
            raise ProofError(f"entry {tree.size} is missing before entry {seq}")
        nodes += [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in tree.append(bytes(leaf))]
    if nodes:
        connection.execute(insert(log_nodes), nodes)
    new_size, new_root = tree.size, tree.root()
    # 3. Compare-and-swap: advance the head only from the size that was read.
    result = connection.execute(
        update(log_head)
        .where(log_head.c.id == 1, log_head.c.size == size)
        .values(size=new_size, root=new_root)
    )
    if result.rowcount != 1:
        raise ConcurrentAppendError("the log head moved; retry")
    # 4. Seal the new head with a signed checkpoint, in the same transaction.
    note = signer.sign(new_size, new_root)
    connection.execute(insert(log_checkpoints).values(size=new_size, note=note))
    return Integrated(size, new_size, new_root, note)


def append(connection: Connection, drafts: Sequence[Draft], signer: Signer) -> Appended:
    """Sequence entries and integrate them at once, in the caller's transaction.

    For a writer that needs the signed checkpoint over its entries before it
    commits (the checkpoint covers every entry sequenced before them too).

    Raises:
        ConcurrentAppendError: another integrator advanced the head first.
        ProofError: the head is out of step with the entries (nothing is signed).
        EntryError: a draft breaks the entry format.
    """
    sequenced = sequence(connection, drafts)
    integrated = integrate(connection, signer)
    last = sequenced.first_seq + len(drafts)
    if integrated is None or integrated.size != last:
        raise ProofError("the log head is out of step with its entries")
    return Appended(
        sequenced.first_seq,
        sequenced.entries,
        integrated.size,
        integrated.root,
        integrated.checkpoint,
        sequenced.salts,
    )


def read_entries(
    connection: Connection,
    *,
    after: int = -1,
    among: Select[Any] | Collection[int] | None = None,
) -> Iterator[bytes]:
    """Yield the stored entries' canonical bytes in sequence order, from the one after ``after``.

    ``among`` limits which entries are read: a query of sequence numbers, or the
    numbers themselves (each then looked up by its key: a page reads only its rows).
    The rows are fetched in pages, so a long log is not held in memory.
    """
    query = select(log_entries.c.entry).where(log_entries.c.seq > after)
    if isinstance(among, Select):
        query = query.where(log_entries.c.seq.in_(among))
    elif among is not None:
        query = query.where(log_entries.c.seq.in_(sorted(set(among))))
    query = query.order_by(log_entries.c.seq).execution_options(yield_per=1000)
    with connection.execute(query) as rows:
        for (raw,) in rows:
            yield bytes(raw)


def content_seqs(connection: Connection, among: Collection[int] | None = None) -> set[int]:
    """Return the sequence numbers of the entries whose content is still stored.

    With ``among``, only those of these sequence numbers (one query, however many).
    """
    query = select(log_contents.c.seq)
    if among is not None:
        query = query.where(log_contents.c.seq.in_(sorted(set(among))))
    return {int(seq) for seq in connection.scalars(query)}


def latest_checkpoint(
    connection: Connection, *, with_cosignatures: bool = True
) -> tuple[int, str] | None:
    """Return the newest checkpoint's size and note (with its stored cosignatures), if any."""
    row = connection.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note)
        .order_by(log_checkpoints.c.size.desc())
        .limit(1)
    ).one_or_none()
    if row is None:
        return None
    if not with_cosignatures:
        return int(row.size), str(row.note)
    return int(row.size), row.note + "".join(cosignature_lines(connection, int(row.size)))


def cosigned_size(connection: Connection, witness: str) -> int:
    """Return the size of the newest checkpoint ``witness`` cosigned (0: none)."""
    query = select(func.max(log_cosignatures.c.size)).where(log_cosignatures.c.witness == witness)
    return int(connection.scalar(query) or 0)


def best_cosigned(
    connection: Connection, seq: int, witnesses: Collection[str]
) -> tuple[int, tuple[str, ...]] | None:
    """Return the checkpoint covering entry ``seq`` cosigned by most of ``witnesses``.

    Of those, the newest; returned as its size and the witnesses (sorted) that
    cosigned it. ``None``: no checkpoint covering the entry has any of their
    cosignatures.
    """
    count = func.count(log_cosignatures.c.witness)
    best = connection.execute(
        select(log_cosignatures.c.size)
        .where(log_cosignatures.c.size > seq, log_cosignatures.c.witness.in_(witnesses))
        .group_by(log_cosignatures.c.size)
        .order_by(count.desc(), log_cosignatures.c.size.desc())
        .limit(1)
    ).scalar_one_or_none()
    if best is None:
        return None
    signed = connection.scalars(
        select(log_cosignatures.c.witness)
        .where(log_cosignatures.c.size == best, log_cosignatures.c.witness.in_(witnesses))
        .order_by(log_cosignatures.c.witness)
    )
    return int(best), tuple(signed)


def cosignature_lines(connection: Connection, size: int) -> list[str]:
    """Return the stored cosignature lines over the checkpoint of ``size``."""
    return list(connection.scalars(_COSIGNATURES_OF, {"size": size}))


_COSIGNATURES_OF = (
    select(log_cosignatures.c.line)
    .where(log_cosignatures.c.size == bindparam("size"))
    .order_by(log_cosignatures.c.witness)
)


def add_cosignature(connection: Connection, size: int, witness: str, line: str) -> None:
    """Store a witness's cosignature line over the checkpoint of ``size`` (once per witness)."""
    exists = connection.scalar(
        select(log_cosignatures.c.size).where(
            log_cosignatures.c.size == size, log_cosignatures.c.witness == witness
        )
    )
    if exists is None:
        connection.execute(insert(log_cosignatures).values(size=size, witness=witness, line=line))


_CHUNK = 500


def seq_ranges(purged: Collection[int], stored: Collection[int]) -> list[str]:
    """Return ``purged`` as ascending ranges ``"a"`` or ``"a-b"`` of sequence numbers.

    A range may span entries without a stored content (none, or purged before),
    never one in ``stored`` that is not purged: a range says every entry in it
    that carries a commitment has had its content purged.
    """
    doomed = set(purged)
    ranges: list[str] = []
    run: list[int] = []
    for seq in sorted(doomed | set(stored)):
        if seq in doomed:
            run.append(seq)
            continue
        if run:
            ranges.append(_range_text(run[0], run[-1]))
            run = []
    if run:
        ranges.append(_range_text(run[0], run[-1]))
    return ranges


def _range_text(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}-{last}"


def purge_contents(
    connection: Connection,
    seqs: Collection[int],
    fields: Mapping[str, EntryValue],
    signer: Signer,
) -> Appended:
    """Delete the stored contents of entries ``seqs`` and record it, in the caller's transaction.

    The ``retention-purge`` entry (``fields`` plus ``event``, ``purged`` and
    ``purged_seqs``) is appended first, then the contents are deleted: the
    database refuses to delete a content unless the newest entry is a purge
    entry that lists it.

    Raises:
        ConcurrentAppendError: the head moved since it was read.
        ValueError: a sequence number has no stored content.
    """
    # 1. Only stored contents can be purged.
    stored = set(connection.scalars(select(log_contents.c.seq)))
    doomed = sorted(set(seqs))
    if not set(doomed) <= stored:
        raise ValueError("a sequence number to purge has no stored content")
    # 2. The entry lists what goes, so that verification can tell a purge from a deletion.
    entry = {
        **fields,
        "event": "retention-purge",
        "purged": len(doomed),
        "purged_seqs": seq_ranges(doomed, stored),
    }
    appended = append(connection, [Draft(entry)], signer)
    # 3. Then delete, while that entry is the newest (the database checks it lists each one).
    for start in range(0, len(doomed), _CHUNK):
        chunk = doomed[start : start + _CHUNK]
        connection.execute(delete(log_contents).where(log_contents.c.seq.in_(chunk)))
    return appended
