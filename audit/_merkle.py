"""Merkle tree hashing and proofs: RFC 6962 hashing, RFC 9162 proof verification.

Pure functions over bytes; no storage. Leaves are hashed as
``SHA-256(0x00 || entry)`` and interior nodes as ``SHA-256(0x01 || left || right)``.
Proof generation follows the recursive definitions of RFC 6962 section 2.1.1
and 2.1.2; verification follows the iterative algorithms of RFC 9162 sections
2.1.3.2 and 2.1.4.2, so the two sides are written independently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "ProofError",
    "RangeHash",
    "consistency_proof",
    "consistency_proof_of",
    "inclusion_proof",
    "inclusion_proof_of",
    "leaf_hash",
    "node_hash",
    "perfect_subtrees",
    "root_from_inclusion",
    "root_of_subtrees",
    "tree_root",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The root of the empty tree: SHA-256 of nothing."""


class ProofError(ValueError):
    """A proof does not verify, or its arguments are out of range."""


def leaf_hash(entry: bytes) -> bytes:
    """Return the RFC 6962 leaf hash of ``entry``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def tree_root(leaves: Sequence[bytes]) -> bytes:
    """Return the Merkle tree hash (MTH) over already-hashed ``leaves``."""
    if not leaves:
        return EMPTY_ROOT
    level = list(leaves)
    # Iterative form of MTH: pair left to right; an odd last node moves up unchanged.
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


RangeHash = Callable[[int, int], bytes]
"""MTH of the leaves ``[start, end)``: a function of a tree held in memory or in storage."""


def _range_hash_of(leaves: Sequence[bytes]) -> RangeHash:
    return lambda start, end: tree_root(leaves[start:end])


def inclusion_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """Return the audit path PATH(index, leaves) of RFC 6962 section 2.1.1.

    Raises:
        ProofError: ``index`` is not a leaf of the tree.
    """
    return inclusion_proof_of(_range_hash_of(leaves), index, len(leaves))


def inclusion_proof_of(subtree: RangeHash, index: int, size: int) -> list[bytes]:
    """Return PATH(index, D[0:size]) over a tree whose subtree hashes ``subtree`` gives.

    Raises:
        ProofError: ``index`` is not a leaf of the tree.
    """
    if not 0 <= index < size:
        raise ProofError("index is outside the tree")

    def path(m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*path(m, start, k), subtree(start + k, start + n)]
        return [*path(m - k, start + k, n - k), subtree(start, start + k)]

    return path(index, 0, size)


def consistency_proof(leaves: Sequence[bytes], old_size: int) -> list[bytes]:
    """Return PROOF(old_size, leaves) of RFC 6962 section 2.1.2.

    Raises:
        ProofError: ``old_size`` is not between 1 and the tree size.
    """
    return consistency_proof_of(_range_hash_of(leaves), old_size, len(leaves))


def consistency_proof_of(subtree: RangeHash, old_size: int, size: int) -> list[bytes]:
    """Return PROOF(old_size, D[0:size]) over a tree whose subtree hashes ``subtree`` gives.

    Raises:
        ProofError: ``old_size`` is not between 1 and the tree size.
    """
    if not 0 < old_size <= size:
        raise ProofError("old size must be between 1 and the tree size")

    def subproof(m: int, start: int, n: int, complete: bool) -> list[bytes]:  # noqa: FBT001
        if m == n:
            return [] if complete else [subtree(start, start + n)]
        k = _split(n)
        if m <= k:
            return [*subproof(m, start, k, complete), subtree(start + k, start + n)]
        return [*subproof(m - k, start + k, n - k, False), subtree(start, start + k)]  # noqa: FBT003

    return subproof(old_size, 0, size, True)  # noqa: FBT003


def perfect_subtrees(size: int) -> list[tuple[int, int]]:
    """Return the (level, index) of the complete subtrees that make up a tree of ``size``.

    Left to right, largest first: a tree of 6 leaves is the subtree of 4 at
    level 2 and the subtree of 2 at level 1. A subtree at ``level`` with
    ``index`` covers leaves ``[index << level, (index + 1) << level)``.
    """
    result: list[tuple[int, int]] = []
    start = 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            result.append((level, start >> level))
            start += 1 << level
    return result


def root_of_subtrees(hashes: Sequence[bytes]) -> bytes:
    """Return the root of a tree from the hashes of its ``perfect_subtrees``, left to right."""
    if not hashes:
        return EMPTY_ROOT
    root = hashes[-1]
    for left in reversed(hashes[:-1]):
        root = node_hash(left, root)
    return root


class CompactRange:
    """The right edge of a growing tree: append leaves, get each new complete node and the root.

    This is what an appender needs to keep the stored nodes and the root
    current without reading the whole tree: O(log n) hashes.
    """

    def __init__(self, size: int, hashes: Sequence[bytes]) -> None:
        """Start from a tree of ``size`` given the hashes of its ``perfect_subtrees``."""
        coordinates = perfect_subtrees(size)
        if len(coordinates) != len(hashes):
            raise ProofError("the subtree hashes do not match the tree size")
        self.size = size
        self._stack = [
            (level, index, h) for (level, index), h in zip(coordinates, hashes, strict=True)
        ]

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add one leaf hash; return the (level, index, hash) of every node it completes."""
        completed: list[tuple[int, int, bytes]] = []
        self._stack.append((0, self.size, leaf))
        self.size += 1
        while len(self._stack) > 1 and self._stack[-1][0] == self._stack[-2][0]:
            level, _, right = self._stack.pop()
            _, index, left = self._stack.pop()
            node = (level + 1, index >> 1, node_hash(left, right))
            completed.append(node)
            self._stack.append(node)
        return completed

    def root(self) -> bytes:
        """Return the root of the tree so far."""
        return root_of_subtrees([h for _, _, h in self._stack])


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """Return the root that ``proof`` implies for ``leaf`` at ``index`` (RFC 9162 2.1.3.2).

    Raises:
        ProofError: the index, size or proof length is impossible.
    """
    # 1. The index must lie inside the tree.
    if not 0 <= index < size:
        raise ProofError("index is outside the tree")
    if len(leaf) != HASH_SIZE or any(len(node) != HASH_SIZE for node in proof):
        raise ProofError("the leaf or a proof node is not a SHA-256 hash")
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        # 2. A proof longer than the path from leaf to root is invalid.
        if sn == 0:
            raise ProofError("the inclusion proof is too long")
        # 3. Left or right sibling, decided by the index bits; skip levels where
        #    the node is the last, unpaired one.
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    # 4. The proof must reach the root exactly.
    if sn != 0:
        raise ProofError("the inclusion proof is too short")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf`` is at ``index`` in the tree of ``size`` with ``root``.

    Raises:
        ProofError: it is not.
    """
    if len(root) != HASH_SIZE or root_from_inclusion(index, size, leaf, proof) != root:
        raise ProofError("the inclusion proof does not lead to the root")


def verify_consistency(  # noqa: C901, PLR0912 - RFC 9162 2.1.4.2 as one readable procedure
    old_size: int,
    new_size: int,
    old_root: bytes,
    new_root: bytes,
    proof: Sequence[bytes],
) -> None:
    """Check that the tree of ``new_size`` extends the tree of ``old_size`` (RFC 9162 2.1.4.2).

    Raises:
        ProofError: it does not, or the proof is malformed.
    """
    if old_size < 1 or new_size < old_size:
        raise ProofError("sizes must satisfy 1 <= old size <= new size")
    if any(len(node) != HASH_SIZE for node in proof):
        raise ProofError("a proof node is not a SHA-256 hash")
    if old_size == new_size:
        # 1. Same size: the proof is empty and the roots are equal.
        if proof:
            raise ProofError("a proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("equal sizes but different roots")
        return
    if not proof:
        raise ProofError("the consistency proof is empty")
    nodes = list(proof)
    # 2. When the old tree is a complete subtree, its root starts the walk.
    if (old_size & (old_size - 1)) == 0:
        nodes.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    # 3. Skip the levels where the old tree's last node is a right child.
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = nodes[0]
    for c in nodes[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is too long")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    # 4. Both roots must be reproduced and the walk must end at the top.
    if sn != 0:
        raise ProofError("the consistency proof is too short")
    if fr != old_root:
        raise ProofError("the proof does not reproduce the old root")
    if sr != new_root:
        raise ProofError("the proof does not reproduce the new root")
